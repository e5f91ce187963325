/* awscred — AWS credentials from env, a store value or IMDSv2; see awscred.h. */
#include "awscred.h"

#include "http.h"
#include "jsonr.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMDS_DEFAULT "http://169.254.169.254"
#define IMDS_ROLE_PATH "/latest/meta-data/iam/security-credentials/"

static int copy_part(char *dst, size_t cap, const char *s, size_t n)
{
    if (n == 0 || n >= cap)
        return -EINVAL;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

int wm_awscred_set(struct wm_awscred *c, const char *akid, const char *secret, const char *token,
                   char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    if (!akid || !secret || copy_part(c->akid, sizeof(c->akid), akid, strlen(akid)) < 0 ||
        copy_part(c->secret, sizeof(c->secret), secret, strlen(secret)) < 0 ||
        (token && *token && copy_part(c->token, sizeof(c->token), token, strlen(token)) < 0)) {
        wm_awscred_clear(c);
        snprintf(err, errlen,
                 "aws credentials: access key id, secret (and token) must be "
                 "non-empty and of sane length");
        return -EINVAL;
    }
    wm_log_register_secret(c->secret);
    if (c->token[0])
        wm_log_register_secret(c->token);
    snprintf(c->source, sizeof(c->source), "config");
    return 0;
}

int wm_awscred_from_env(struct wm_awscred *c, char *err, size_t errlen)
{
    const char *akid = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
    if (!akid || !*akid) {
        snprintf(err, errlen, "AWS_ACCESS_KEY_ID is not set");
        return -ENOENT;
    }
    if (!sk || !*sk) {
        snprintf(err, errlen, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
        return -EINVAL;
    }
    int rc = wm_awscred_set(c, akid, sk, getenv("AWS_SESSION_TOKEN"), err, errlen);
    if (rc == 0)
        snprintf(c->source, sizeof(c->source), "env");
    return rc;
}

/* Next part of "A:B[:C]" with surrounding blanks skipped; *p advances past
 * the ':' that ends it. */
static void next_part(const char **p, const char *end, const char **s, size_t *n)
{
    while (*p < end && isspace((unsigned char)**p))
        (*p)++;
    *s = *p;
    while (*p < end && **p != ':')
        (*p)++;
    const char *e = *p;
    while (e > *s && isspace((unsigned char)e[-1]))
        e--;
    *n = (size_t)(e - *s);
    if (*p < end)
        (*p)++;
}

int wm_awscred_parse(const char *value, size_t len, struct wm_awscred *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    const char *p = value, *end = value + len, *s[3];
    size_t n[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++)
        next_part(&p, end, &s[i], &n[i]);
    if (p != end || copy_part(c->akid, sizeof(c->akid), s[0], n[0]) < 0 ||
        copy_part(c->secret, sizeof(c->secret), s[1], n[1]) < 0 ||
        (n[2] && copy_part(c->token, sizeof(c->token), s[2], n[2]) < 0)) {
        wm_awscred_clear(c);
        snprintf(err, errlen,
                 "aws credentials must be \"ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]\"");
        return -EINVAL;
    }
    wm_log_register_secret(c->secret);
    if (c->token[0])
        wm_log_register_secret(c->token);
    snprintf(c->source, sizeof(c->source), "store");
    return 0;
}

/* --- IMDSv2 --- */

static int imds_call(const char *base, const char *method, const char *path, const char *hdr,
                     long timeout_ms, struct wm_http_response *r, char *err, size_t errlen)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", base, path);
    const char *h[1] = {hdr};
    struct wm_http_request req = {method, url, h, 1, "", 0, timeout_ms, timeout_ms, 64 * 1024};
    int rc = wm_http_do(&req, r, err, errlen);
    if (rc < 0)
        return rc;
    if (r->status == 404) {
        snprintf(err, errlen, "IMDS %s: no instance role (HTTP 404)", path);
        return -ENOENT;
    }
    if (r->status != 200 || !r->body) {
        snprintf(err, errlen, "IMDS %s %s: HTTP %ld", method, path, r->status);
        return -EIO;
    }
    return 0;
}

static time_t parse_expiration(const char *s)
{
    struct tm tm = {0};
    if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return timegm(&tm);
}

static int imds_role_creds(const char *body, size_t len, struct wm_awscred *c, char *err,
                           size_t errlen)
{
    char jerr[160];
    struct wm_jsonr *d = wm_jsonr_parse(body, len, NULL, NULL, jerr, sizeof(jerr));
    if (!d) {
        snprintf(err, errlen, "IMDS role credentials: %s", jerr);
        return -EINVAL;
    }
    const struct wm_jsonr_val *root = wm_jsonr_root(d);
    const char *code = wm_jsonr_str(wm_jsonr_get(root, "Code"));
    int rc = -EINVAL;
    if (code && strcmp(code, "Success") != 0)
        snprintf(err, errlen, "IMDS role credentials: Code %s", code);
    else
        rc = wm_awscred_set(c, wm_jsonr_str(wm_jsonr_get(root, "AccessKeyId")),
                            wm_jsonr_str(wm_jsonr_get(root, "SecretAccessKey")),
                            wm_jsonr_str(wm_jsonr_get(root, "Token")), err, errlen);
    if (rc == 0) {
        c->expires = parse_expiration(wm_jsonr_str(wm_jsonr_get(root, "Expiration")));
        snprintf(c->source, sizeof(c->source), "imds");
    }
    wm_jsonr_free(d);
    return rc;
}

int wm_awscred_imds(const char *endpoint, long timeout_ms, struct wm_awscred *c, char *err,
                    size_t errlen)
{
    const char *env = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    const char *base = endpoint ? endpoint : env && *env ? env : IMDS_DEFAULT;
    char b[256], path[384], hdr[WM_AWSCRED_TOKEN_MAX];
    snprintf(b, sizeof(b), "%s", base);
    for (size_t n = strlen(b); n > 0 && b[n - 1] == '/'; n--)
        b[n - 1] = '\0';
    timeout_ms = timeout_ms > 0 ? timeout_ms : 2000;
    struct wm_http_response r;
    int rc = imds_call(b, "PUT", "/latest/api/token", "X-aws-ec2-metadata-token-ttl-seconds: 21600",
                       timeout_ms, &r, err, errlen);
    if (rc == 0) {
        snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %.*s", (int)strcspn(r.body, "\r\n"),
                 r.body);
        wm_log_register_secret(hdr + strlen("X-aws-ec2-metadata-token: "));
    }
    wm_http_response_free(&r);
    if (rc == 0)
        rc = imds_call(b, "GET", IMDS_ROLE_PATH, hdr, timeout_ms, &r, err, errlen);
    if (rc == 0) {
        size_t n = strcspn(r.body, "\r\n");
        if (n == 0 || n > 128)
            rc = -ENOENT, snprintf(err, errlen, "IMDS: no instance role attached");
        else
            snprintf(path, sizeof(path), "%s%.*s", IMDS_ROLE_PATH, (int)n, r.body);
        wm_http_response_free(&r);
    }
    if (rc == 0) {
        rc = imds_call(b, "GET", path, hdr, timeout_ms, &r, err, errlen);
        if (rc == 0)
            rc = imds_role_creds(r.body, r.body_len, c, err, errlen);
        wm_http_response_free(&r);
    }
    memset(hdr, 0, sizeof(hdr));
    return rc;
}

int wm_awscred_resolve(struct wm_awscred *c, char *err, size_t errlen)
{
    int rc = wm_awscred_from_env(c, err, errlen);
    if (rc != -ENOENT)
        return rc;
    rc = wm_awscred_imds(NULL, 0, c, err, errlen);
    if (rc < 0) {
        char why[256];
        snprintf(why, sizeof(why), "%s", err);
        snprintf(err, errlen, "no AWS credentials: no AWS_ACCESS_KEY_ID and no instance role (%s)",
                 why);
    }
    return rc;
}

long wm_awscred_ttl(const struct wm_awscred *c, time_t now)
{
    return c->expires ? (long)(c->expires - now) : 1L << 30;
}

void wm_awscred_clear(struct wm_awscred *c)
{
    memset(c->secret, 0, sizeof(c->secret));
    memset(c->token, 0, sizeof(c->token));
}
