/* ebs_api — signed EBS direct API calls and EC2 DescribeSnapshots; see ebs_api.h. */
#include "ebs_api.h"

#include "json.h"
#include "jsonr.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "http://127.0.0.1:5000/x" -> "127.0.0.1:5000" */
static int host_of(const char *url, char *out, size_t outlen)
{
    const char *p = strstr(url, "://");
    if (!p || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)))
        return -EINVAL;
    p += 3;
    size_t n = strcspn(p, "/?#");
    if (n == 0 || n >= outlen)
        return -EINVAL;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

static int set_endpoint(char *dst, size_t cap, char *host, size_t hostcap, const char *given,
                        const char *service, const char *region)
{
    if (given && *given)
        snprintf(dst, cap, "%s", given);
    else
        snprintf(dst, cap, "https://%s.%s.amazonaws.com", service, region);
    for (size_t n = strlen(dst); n > 0 && dst[n - 1] == '/'; n--)
        dst[n - 1] = '\0';
    return host_of(dst, host, hostcap);
}

int ebs_api_init(struct ebs_api *a, const struct ebs_api_cfg *cfg, const struct wm_awscred *cred,
                 char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    snprintf(a->region, sizeof(a->region), "%s", cfg->region ? cfg->region : "us-east-1");
    if (set_endpoint(a->endpoint, sizeof(a->endpoint), a->host, sizeof(a->host), cfg->endpoint,
                     "ebs", a->region) < 0 ||
        set_endpoint(a->ec2_endpoint, sizeof(a->ec2_endpoint), a->ec2_host, sizeof(a->ec2_host),
                     cfg->ec2_endpoint, "ec2", a->region) < 0) {
        snprintf(err, errlen, "ebs: endpoints must be http(s)://HOST[:PORT]");
        return -EINVAL;
    }
    a->cred = *cred;
    a->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 60000;
    a->backoff = cfg->backoff;
    if (a->backoff.max_attempts <= 0)
        a->backoff = (struct wm_http_backoff){8, 200, 20000, NULL, NULL};
    return 0;
}

void ebs_api_clear(struct ebs_api *a)
{
    wm_awscred_clear(&a->cred);
}

/* --- signing --- */

void ebs_signed_free(struct ebs_signed *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->lines[i]);
    s->n = 0;
}

static int add_line(struct ebs_signed *s, const char *name, const char *value)
{
    if (s->n >= EBS_SIGNED_MAX || asprintf(&s->lines[s->n], "%s: %s", name, value) < 0)
        return -ENOMEM;
    s->n++;
    return 0;
}

int ebs_api_sign(const struct ebs_api *a, bool ec2, const char *method, const char *path,
                 const char *query, const struct wm_sigv4_header *extra, size_t nextra,
                 const void *body, size_t body_len, struct ebs_signed *out, char *err,
                 size_t errlen)
{
    memset(out, 0, sizeof(*out));
    char date[WM_SIGV4_DATE_LEN + 1], authz[1024];
    wm_sigv4_amz_date(time(NULL), date);
    struct wm_sigv4_header h[EBS_SIGNED_MAX];
    size_t n = 0;
    h[n++] = (struct wm_sigv4_header){"Host", ec2 ? a->ec2_host : a->host};
    h[n++] = (struct wm_sigv4_header){"X-Amz-Date", date};
    if (a->cred.token[0])
        h[n++] = (struct wm_sigv4_header){"X-Amz-Security-Token", a->cred.token};
    for (size_t i = 0; i < nextra && n < EBS_SIGNED_MAX - 1; i++)
        h[n++] = extra[i];
    struct wm_sigv4_request req = {method, path, query, h, n, body, body_len};
    struct wm_sigv4_credentials c = {a->cred.akid, a->cred.secret};
    struct wm_sigv4_scope scope = {date, a->region, ec2 ? "ec2" : "ebs"};
    int rc = wm_sigv4_authorization(&c, &scope, &req, authz, sizeof(authz));
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = add_line(out, h[i].name, h[i].value);
    if (rc == 0)
        rc = add_line(out, "Authorization", authz);
    if (rc < 0) {
        ebs_signed_free(out);
        snprintf(err, errlen, "ebs %s %s: cannot sign (%s)", method, path, strerror(-rc));
    }
    return rc;
}

/* --- answers --- */

/* The AWS error code of a body: XML <Code>, JSON "__type"/"code"/"Reason". */
static void error_code(const char *body, size_t len, char *code, size_t cap)
{
    code[0] = '\0';
    if (!body || !len)
        return;
    static const char *const starts[] = {"<Code>", "\"__type\":\"", "\"code\":\"", "\"Code\":\""};
    for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
        const char *p = memmem(body, len, starts[i], strlen(starts[i]));
        if (!p)
            continue;
        p += strlen(starts[i]);
        size_t n = strcspn(p, "<\"#:");
        snprintf(code, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
        return;
    }
}

static void error_message(const char *body, size_t len, char *msg, size_t cap)
{
    msg[0] = '\0';
    static const char *const starts[] = {"<Message>", "\"message\":\"", "\"Message\":\""};
    for (size_t i = 0; body && i < sizeof(starts) / sizeof(starts[0]); i++) {
        const char *p = memmem(body, len, starts[i], strlen(starts[i]));
        if (!p)
            continue;
        p += strlen(starts[i]);
        size_t n = strcspn(p, "<\"");
        snprintf(msg, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
        return;
    }
}

bool ebs_api_retryable(long status, const char *body, size_t len)
{
    char code[128];
    error_code(body, len, code, sizeof(code));
    return status >= 400 && wm_http_aws_retryable(status, code);
}

int ebs_api_error(long status, const char *body, size_t len, char *out, size_t outlen)
{
    char code[128], msg[512], raw[800];
    error_code(body, len, code, sizeof(code));
    error_message(body, len, msg, sizeof(msg));
    snprintf(raw, sizeof(raw), "%s: %s (HTTP %ld)", code[0] ? code : "error",
             msg[0] ? msg : "no message", status);
    wm_redact(raw, out, outlen);
    if (wm_http_aws_retryable(status, code))
        return -EAGAIN;
    if (status == 404 || strstr(code, "NotFound"))
        return -ENOENT;
    return -EIO;
}

void ebs_base64(const uint8_t *in, size_t len, char *out, size_t outlen)
{
    if (outlen < 4 * ((len + 2) / 3) + 1) {
        if (outlen)
            out[0] = '\0';
        return;
    }
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

/* --- single calls --- */

static bool retry_classifier(int rc, const struct wm_http_response *resp, void *arg)
{
    (void)arg;
    if (rc < 0)
        return rc == -ETIMEDOUT || rc == -ECONNREFUSED || rc == -EIO;
    return ebs_api_retryable(resp->status, resp->body, resp->body_len);
}

/* One signed call with retries; on 2xx 0 and resp holds the answer. */
static int call(struct ebs_api *a, bool ec2, const char *method, const char *path,
                const struct wm_sigv4_header *extra, size_t nextra, const char *body,
                size_t body_len, struct wm_http_response *resp, char *err, size_t errlen)
{
    memset(resp, 0, sizeof(*resp));
    struct ebs_signed s;
    int rc =
        ebs_api_sign(a, ec2, method, path, NULL, extra, nextra, body, body_len, &s, err, errlen);
    if (rc < 0)
        return rc;
    char url[600];
    snprintf(url, sizeof(url), "%s%s", ec2 ? a->ec2_endpoint : a->endpoint, path);
    struct wm_http_request req = {
        method, url, (const char *const *)s.lines, s.n, body, body_len, a->timeout_ms, 5000, 0};
    struct wm_http_retry_stats st;
    rc = wm_http_do_retry(&req, &a->backoff, retry_classifier, NULL, resp, &st, err, errlen);
    ebs_signed_free(&s);
    if (st.attempts > 1)
        wm_info("ebs.retried", "path=%s attempts=%d status=%ld", path, st.attempts, resp->status);
    if (rc < 0)
        return rc;
    if (resp->status >= 200 && resp->status <= 299)
        return 0;
    char why[800];
    rc = ebs_api_error(resp->status, resp->body, resp->body_len, why, sizeof(why));
    snprintf(err, errlen, "%s %s: %s", method, path, why);
    wm_http_response_free(resp);
    return rc;
}

static char *start_body(const struct ebs_start *s)
{
    struct wm_json *j = wm_json_new();
    if (!j)
        return NULL;
    wm_json_obj_begin(j);
    wm_json_kint(j, "VolumeSize", (int64_t)s->volume_size_gib);
    if (s->parent && *s->parent)
        wm_json_kstr(j, "ParentSnapshotId", s->parent);
    wm_json_kstr(j, "ClientToken", s->client_token);
    if (s->description)
        wm_json_kstr(j, "Description", s->description);
    wm_json_kint(j, "Timeout", s->timeout_min > 0 ? s->timeout_min : 1440);
    wm_json_key(j, "Tags");
    wm_json_arr_begin(j);
    for (size_t i = 0; i < s->ntags; i++) {
        wm_json_obj_begin(j);
        wm_json_kstr(j, "Key", s->tag_keys[i]);
        wm_json_kstr(j, "Value", s->tag_values[i]);
        wm_json_obj_end(j);
    }
    wm_json_arr_end(j);
    wm_json_obj_end(j);
    char *out = wm_json_error(j) ? NULL : strdup(wm_json_text(j));
    wm_json_free(j);
    return out;
}

int ebs_api_start_snapshot(struct ebs_api *a, const struct ebs_start *s, char id[EBS_ID_MAX],
                           char *err, size_t errlen)
{
    char *body = start_body(s);
    if (!body) {
        snprintf(err, errlen, "StartSnapshot: out of memory");
        return -ENOMEM;
    }
    struct wm_sigv4_header ct = {"Content-Type", "application/json"};
    struct wm_http_response r;
    int rc = call(a, false, "POST", "/snapshots", &ct, 1, body, strlen(body), &r, err, errlen);
    free(body);
    if (rc < 0)
        return rc;
    char jerr[160];
    struct wm_jsonr *d = wm_jsonr_parse(r.body, r.body_len, NULL, NULL, jerr, sizeof(jerr));
    const char *sid = wm_jsonr_str(wm_jsonr_get(wm_jsonr_root(d), "SnapshotId"));
    if (!sid || strlen(sid) >= EBS_ID_MAX || strncmp(sid, "snap-", 5) != 0) {
        snprintf(err, errlen, "StartSnapshot: no SnapshotId in the answer (%s)",
                 d ? "missing" : jerr);
        rc = -EBADMSG;
    } else {
        snprintf(id, EBS_ID_MAX, "%s", sid);
    }
    wm_jsonr_free(d);
    wm_http_response_free(&r);
    return rc;
}

int ebs_api_block_headers(const struct ebs_api *a, const char *id, uint64_t index,
                          const uint8_t *data, const uint8_t sha256[32], struct ebs_signed *out,
                          char *url, size_t urllen, char *err, size_t errlen)
{
    char path[160], b64[64], len[16];
    snprintf(path, sizeof(path), "/snapshots/%s/blocks/%" PRIu64, id, index);
    snprintf(len, sizeof(len), "%u", EBS_BLOCK_SIZE);
    ebs_base64(sha256, 32, b64, sizeof(b64));
    struct wm_sigv4_header h[4] = {{"Content-Type", "application/octet-stream"},
                                   {"x-amz-Data-Length", len},
                                   {"x-amz-Checksum", b64},
                                   {"x-amz-Checksum-Algorithm", "SHA256"}};
    snprintf(url, urllen, "%s%s", a->endpoint, path);
    return ebs_api_sign(a, false, "PUT", path, NULL, h, 4, data, EBS_BLOCK_SIZE, out, err, errlen);
}

int ebs_api_complete(struct ebs_api *a, const char *id, uint64_t changed_blocks,
                     const uint8_t aggregate[32], char status[32], char *err, size_t errlen)
{
    char path[160], b64[64], count[24];
    snprintf(path, sizeof(path), "/snapshots/completion/%s", id);
    snprintf(count, sizeof(count), "%" PRIu64, changed_blocks);
    ebs_base64(aggregate, 32, b64, sizeof(b64));
    struct wm_sigv4_header h[4] = {{"x-amz-ChangedBlocksCount", count},
                                   {"x-amz-Checksum", b64},
                                   {"x-amz-Checksum-Algorithm", "SHA256"},
                                   {"x-amz-Checksum-Aggregation-Method", "LINEAR"}};
    struct wm_http_response r;
    int rc = call(a, false, "POST", path, h, 4, NULL, 0, &r, err, errlen);
    if (rc < 0)
        return rc;
    char jerr[160];
    struct wm_jsonr *d = wm_jsonr_parse(r.body, r.body_len, NULL, NULL, jerr, sizeof(jerr));
    const char *st = wm_jsonr_str(wm_jsonr_get(wm_jsonr_root(d), "Status"));
    snprintf(status, 32, "%s", st ? st : "pending");
    wm_jsonr_free(d);
    wm_http_response_free(&r);
    return 0;
}

int ebs_api_snapshot_state(struct ebs_api *a, const char *id, char state[32], char *err,
                           size_t errlen)
{
    char body[256];
    int n = snprintf(body, sizeof(body),
                     "Action=DescribeSnapshots&Version=2016-11-15&SnapshotId.1=%s", id);
    struct wm_sigv4_header ct = {"Content-Type",
                                 "application/x-www-form-urlencoded; charset=utf-8"};
    struct wm_http_response r;
    int rc = call(a, true, "POST", "/", &ct, 1, body, (size_t)n, &r, err, errlen);
    if (rc < 0)
        return rc;
    const char *p = r.body ? strstr(r.body, "<status>") : NULL;
    if (!p) {
        snprintf(err, errlen, "DescribeSnapshots %s: snapshot not listed", id);
        rc = -ENOENT;
    } else {
        p += strlen("<status>");
        snprintf(state, 32, "%.*s", (int)strcspn(p, "<"), p);
    }
    wm_http_response_free(&r);
    return rc;
}
