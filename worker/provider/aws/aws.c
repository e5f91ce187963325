/* aws — signed, retried requests to AWS APIs; see aws.h. */
#include "provider/aws/aws.h"

#include "provider/aws/aws_xml.h"
#include "awscred.h"
#include "config.h"
#include "sigv4.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FORM_MAX (256 * 1024)

struct aws_client {
    char *endpoint, *host, *region, *service, *akid, *secret, *token;
    long timeout_ms;
    struct wm_http_backoff backoff;
    struct wm_http_retry_stats stats;
};

/* "http://127.0.0.1:5000/x" -> "127.0.0.1:5000" (the Host header curl sends) */
static char *host_of(const char *url)
{
    const char *p = strstr(url, "://");
    if (!p)
        return NULL;
    p += 3;
    size_t n = strcspn(p, "/?#");
    return n ? strndup(p, n) : NULL;
}

struct aws_client *aws_client_new(const struct aws_config *cfg, const char *service, char *err,
                                  size_t errlen)
{
    if (!cfg->endpoint || !cfg->region || !cfg->access_key_id || !cfg->secret_access_key ||
        !service ||
        (strncmp(cfg->endpoint, "http://", 7) && strncmp(cfg->endpoint, "https://", 8))) {
        snprintf(err, errlen, "aws: endpoint (http(s)://…), region and credentials are required");
        return NULL;
    }
    struct aws_client *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->endpoint = strdup(cfg->endpoint);
    size_t n = strlen(c->endpoint ? c->endpoint : "");
    while (n > 0 && c->endpoint[n - 1] == '/') /* paths are added with their own '/' */
        c->endpoint[--n] = '\0';
    c->host = host_of(cfg->endpoint);
    c->region = strdup(cfg->region);
    c->service = strdup(service);
    c->akid = strdup(cfg->access_key_id);
    c->secret = strdup(cfg->secret_access_key);
    wm_log_register_secret(cfg->secret_access_key);
    c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000;
    c->backoff = cfg->backoff;
    if (c->backoff.max_attempts <= 0)
        c->backoff = (struct wm_http_backoff){6, 200, 10000, NULL, NULL};
    if (!c->endpoint || !c->host || !c->region || !c->service || !c->akid || !c->secret) {
        aws_client_free(c);
        snprintf(err, errlen, "aws: bad endpoint or out of memory");
        return NULL;
    }
    return c;
}

void aws_client_free(struct aws_client *c)
{
    if (!c)
        return;
    if (c->secret)
        memset(c->secret, 0, strlen(c->secret));
    if (c->token)
        memset(c->token, 0, strlen(c->token));
    free(c->token);
    free(c->endpoint);
    free(c->host);
    free(c->region);
    free(c->service);
    free(c->akid);
    free(c->secret);
    free(c);
}

int aws_client_set_token(struct aws_client *c, const char *token)
{
    if (c->token)
        memset(c->token, 0, strlen(c->token));
    free(c->token);
    c->token = NULL;
    if (!token || !*token)
        return 0;
    wm_log_register_secret(token);
    return (c->token = strdup(token)) ? 0 : -ENOMEM;
}

const struct wm_http_retry_stats *aws_client_last_stats(const struct aws_client *c)
{
    return &c->stats;
}

/* --- errors --- */

/* AWS error code of a response body ("" if none): EC2 <Response><Errors>,
 * Route 53 <ErrorResponse><Error>, both with <Code>. */
static void error_code(const struct wm_http_response *r, char *code, size_t len)
{
    code[0] = '\0';
    if (r && r->body)
        aws_xml_text(aws_xml_span(r->body, r->body_len), "Code", code, len);
}

static bool retry_classifier(int rc, const struct wm_http_response *resp, void *arg)
{
    (void)arg;
    if (rc < 0) /* no answer: a restarting endpoint or a dropped connection */
        return rc == -ETIMEDOUT || rc == -ECONNREFUSED || rc == -EIO;
    char code[128];
    error_code(resp, code, sizeof(code));
    return resp->status >= 400 && wm_http_aws_retryable(resp->status, code);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int aws_errno(long status, const char *code)
{
    if (wm_http_aws_retryable(status, code))
        return -EAGAIN;
    if (ends_with(code, "NotFound") || strncmp(code, "NoSuch", 6) == 0)
        return -ENOENT;
    if (ends_with(code, "Duplicate") || ends_with(code, "AlreadyExists"))
        return -EEXIST;
    return -EIO;
}

/* "Code: Message" of a failed answer into err; returns the errno. */
static int report_error(struct aws_client *c, const struct wm_http_response *r, char *err,
                        size_t errlen)
{
    char code[128], msg[600], raw[AWS_ERR_MAX];
    error_code(r, code, sizeof(code));
    msg[0] = '\0';
    aws_xml_text(aws_xml_span(r->body, r->body_len), "Message", msg, sizeof(msg));
    int e = aws_errno(r->status, code);
    snprintf(raw, sizeof(raw), "%s: %s (HTTP %ld%s)", code[0] ? code : "error",
             msg[0] ? msg : "no message", r->status,
             e == -EAGAIN ? ", still failing after retries" : "");
    if (e == -EAGAIN && c->stats.attempts > 1) {
        char tail[64];
        snprintf(tail, sizeof(tail), " [%d attempts]", c->stats.attempts);
        strncat(raw, tail, sizeof(raw) - strlen(raw) - 1);
    }
    wm_redact(raw, err, errlen); /* AWS echoes request values; keep secrets out */
    return e;
}

/* --- the call --- */

struct signed_headers {
    char date[WM_SIGV4_DATE_LEN + 1];
    char host[300], xdate[64], ctype[160], authz[900];
    char *token; /* "X-Amz-Security-Token: …" (owned) or NULL */
    const char *lines[5];
    size_t n;
};

static int sign(struct aws_client *c, const char *method, const char *path, const char *query,
                const char *ctype, const char *body, size_t body_len, struct signed_headers *h)
{
    h->token = NULL;
    wm_sigv4_amz_date(time(NULL), h->date);
    struct wm_sigv4_header sh[4] = {{"host", c->host}, {"x-amz-date", h->date}, {0}, {0}};
    size_t nsh = 2;
    if (ctype)
        sh[nsh++] = (struct wm_sigv4_header){"content-type", ctype};
    if (c->token)
        sh[nsh++] = (struct wm_sigv4_header){"x-amz-security-token", c->token};
    struct wm_sigv4_request req = {method, path, query, sh, nsh, body, body_len};
    struct wm_sigv4_credentials cred = {c->akid, c->secret};
    struct wm_sigv4_scope scope = {h->date, c->region, c->service};
    char authz[800];
    int rc = wm_sigv4_authorization(&cred, &scope, &req, authz, sizeof(authz));
    if (rc < 0)
        return rc;
    snprintf(h->host, sizeof(h->host), "Host: %s", c->host);
    snprintf(h->xdate, sizeof(h->xdate), "X-Amz-Date: %s", h->date);
    snprintf(h->authz, sizeof(h->authz), "Authorization: %s", authz);
    h->n = 0;
    h->lines[h->n++] = h->host;
    h->lines[h->n++] = h->xdate;
    h->lines[h->n++] = h->authz;
    if (ctype) {
        snprintf(h->ctype, sizeof(h->ctype), "Content-Type: %s", ctype);
        h->lines[h->n++] = h->ctype;
    }
    if (c->token) {
        if (asprintf(&h->token, "X-Amz-Security-Token: %s", c->token) < 0)
            return -ENOMEM;
        h->lines[h->n++] = h->token;
    }
    return 0;
}

int aws_client_call(struct aws_client *c, const char *method, const char *path, const char *query,
                    const char *content_type, const char *body, size_t body_len,
                    struct wm_http_response *resp, char *err, size_t errlen)
{
    memset(resp, 0, sizeof(*resp));
    memset(&c->stats, 0, sizeof(c->stats));
    struct signed_headers h;
    /* signed once: retries happen within minutes, well inside AWS's 15-minute clock window */
    int rc = sign(c, method, path, query, content_type, body, body_len, &h);
    if (rc < 0) {
        snprintf(err, errlen, "%s %s: cannot sign the request (%s)", c->service, path,
                 strerror(-rc));
        return rc;
    }
    size_t ulen = strlen(c->endpoint) + strlen(path) + (query ? strlen(query) + 1 : 0) + 1;
    char *url = malloc(ulen);
    if (!url) {
        free(h.token);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    snprintf(url, ulen, "%s%s%s%s", c->endpoint, path, query && *query ? "?" : "",
             query ? query : "");
    struct wm_http_request req = {method,        url,  h.lines, h.n, body, body ? body_len : 0,
                                  c->timeout_ms, 5000, 0};
    rc = wm_http_do_retry(&req, &c->backoff, retry_classifier, NULL, resp, &c->stats, err, errlen);
    free(url);
    free(h.token);
    if (c->stats.attempts > 1)
        wm_info("aws.retried", "service=%s path=%s attempts=%d status=%ld", c->service, path,
                c->stats.attempts, resp->status);
    if (rc < 0)
        return rc;
    if (resp->status >= 200 && resp->status <= 299)
        return 0;
    rc = report_error(c, resp, err, errlen);
    wm_http_response_free(resp);
    return rc;
}

/* --- credentials --- */

int aws_credentials_parse(const wm_secret *cred, char *akid, size_t akidlen, char *secret,
                          size_t secretlen, char *err, size_t errlen)
{
    size_t len;
    const char *v = wm_secret_reveal(cred, &len);
    const char *p = v, *end = v + len;
    while (p < end && isspace((unsigned char)*p))
        p++;
    size_t n1 = strcspn(p, ": \t\r\n");
    const char *q = p + n1;
    while (q < end && (*q == ':' || isspace((unsigned char)*q)))
        q++;
    size_t n2 = strcspn(q, " \t\r\n");
    const char *rest = q + n2;
    while (rest < end && isspace((unsigned char)*rest))
        rest++;
    if (n1 == 0 || n2 == 0 || rest != end || n1 >= akidlen || n2 >= secretlen) {
        snprintf(err, errlen, "aws credentials must be \"ACCESS_KEY_ID:SECRET_ACCESS_KEY\"");
        return -EINVAL;
    }
    memcpy(akid, p, n1);
    akid[n1] = '\0';
    memcpy(secret, q, n2);
    secret[n2] = '\0';
    wm_log_register_secret(secret);
    return 0;
}

/* --- configuration --- */

static const struct wm_config_key aws_keys[] = {
    {"aws.endpoint", WM_CFG_STRING, NULL, 0, 0, false,
     "EC2 API endpoint (https://ec2.REGION.amazonaws.com, or a moto server http://127.0.0.1:PORT)"},
    {"aws.route53_endpoint", WM_CFG_STRING, NULL, 0, 0, false,
     "Route 53 endpoint; unset = aws.endpoint (a moto server serves both)"},
    {"aws.region", WM_CFG_STRING, "us-east-1", 0, 0, false, "region requests are signed for"},
    {"aws.credential", WM_CFG_STRING, NULL, 0, 0, false,
     "name of the credential (wavemill secret set) holding ACCESS_KEY_ID:SECRET_ACCESS_KEY"},
    {"aws.access_key_id", WM_CFG_STRING, NULL, 0, 0, false,
     "access key id when no aws.credential is used"},
    {"aws.secret_access_key", WM_CFG_SECRET, NULL, 0, 0, false,
     "secret access key when no aws.credential is used"},
    {"aws.timeout", WM_CFG_DURATION, "30s", 100, 600000, false, "per request attempt"},
    {"aws.attempts", WM_CFG_INT, "6", 1, WM_HTTP_MAX_ATTEMPTS, false,
     "attempts of a throttled (429/5xx/Throttling…) call"},
    {"aws.backoff_base", WM_CFG_DURATION, "200ms", 1, 60000, false,
     "jitter ceiling of the first retry; doubles each retry"},
    {"aws.backoff_cap", WM_CFG_DURATION, "10s", 1, 600000, false, "largest jitter ceiling"},
};

int aws_declare(struct wm_config *cfg, char *err, size_t errlen)
{
    return wm_config_declare(cfg, aws_keys, sizeof(aws_keys) / sizeof(aws_keys[0]), err, errlen);
}

int aws_config_from(const struct wm_config *cfg, const char *service, struct aws_config *out,
                    const char **credential_name)
{
    memset(out, 0, sizeof(*out));
    out->endpoint = wm_config_str(cfg, "aws.endpoint");
    out->region = wm_config_str(cfg, "aws.region");
    if (strcmp(service, "route53") == 0) {
        const char *r53 = wm_config_str(cfg, "aws.route53_endpoint");
        if (r53 && *r53)
            out->endpoint = r53;
        out->region = "us-east-1";
    }
    out->access_key_id = wm_config_str(cfg, "aws.access_key_id");
    out->secret_access_key = wm_config_str(cfg, "aws.secret_access_key");
    out->timeout_ms = (long)wm_config_int(cfg, "aws.timeout");
    out->backoff.max_attempts = (int)wm_config_int(cfg, "aws.attempts");
    out->backoff.base_ms = (long)wm_config_int(cfg, "aws.backoff_base");
    out->backoff.cap_ms = (long)wm_config_int(cfg, "aws.backoff_cap");
    if (credential_name) {
        const char *n = wm_config_str(cfg, "aws.credential");
        *credential_name = n && *n ? n : NULL;
    }
    return out->endpoint && *out->endpoint ? 0 : -ENOENT;
}

struct aws_client *aws_client_with(const struct aws_config *cfg, const wm_secret *cred,
                                   const char *service, char *err, size_t errlen)
{
    if (!cred)
        return aws_client_new(cfg, service, err, errlen);
    size_t len;
    const char *v = wm_secret_reveal(cred, &len);
    struct wm_awscred ac;
    if (memchr(v, ':', len) && wm_awscred_parse(v, len, &ac, err, errlen) == 0) {
        struct aws_config with = *cfg;
        with.access_key_id = ac.akid;
        with.secret_access_key = ac.secret;
        struct aws_client *c = aws_client_new(&with, service, err, errlen);
        if (c && aws_client_set_token(c, ac.token) < 0) {
            aws_client_free(c);
            c = NULL;
            snprintf(err, errlen, "out of memory");
        }
        wm_awscred_clear(&ac);
        return c;
    }
    char akid[128], secret[256];
    if (aws_credentials_parse(cred, akid, sizeof(akid), secret, sizeof(secret), err, errlen) < 0)
        return NULL;
    struct aws_config with = *cfg;
    with.access_key_id = akid;
    with.secret_access_key = secret;
    struct aws_client *c = aws_client_new(&with, service, err, errlen);
    memset(secret, 0, sizeof(secret));
    return c;
}

/* --- form bodies --- */

struct aws_form {
    char *buf;
    size_t len, cap;
    bool failed;
};

static void form_put(struct aws_form *f, const char *s, size_t n, bool encode)
{
    size_t need = f->len + (encode ? 3 * n : n) + 2;
    if (f->failed || need > FORM_MAX) {
        f->failed = true;
        return;
    }
    if (need > f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 1024;
        while (cap < need)
            cap *= 2;
        char *nb = realloc(f->buf, cap);
        if (!nb) {
            f->failed = true;
            return;
        }
        f->buf = nb;
        f->cap = cap;
    }
    if (encode) {
        wm_sigv4_uri_encode(s, n, 0, f->buf + f->len, f->cap - f->len);
    } else {
        memcpy(f->buf + f->len, s, n);
        f->buf[f->len + n] = '\0';
    }
    f->len += strlen(f->buf + f->len);
}

struct aws_form *aws_form_new(const char *action, const char *version)
{
    struct aws_form *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    form_put(f, "Action=", 7, false);
    form_put(f, action, strlen(action), true);
    form_put(f, "&Version=", 9, false);
    form_put(f, version, strlen(version), true);
    return f;
}

void aws_form_free(struct aws_form *f)
{
    if (!f)
        return;
    free(f->buf);
    free(f);
}

void aws_form_add(struct aws_form *f, const char *value, const char *keyfmt, ...)
{
    char key[256];
    va_list ap;
    va_start(ap, keyfmt);
    int n = vsnprintf(key, sizeof(key), keyfmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(key)) {
        f->failed = true;
        return;
    }
    form_put(f, "&", 1, false);
    form_put(f, key, (size_t)n, true);
    form_put(f, "=", 1, false);
    form_put(f, value ? value : "", value ? strlen(value) : 0, true);
}

const char *aws_form_body(const struct aws_form *f, size_t *len)
{
    if (!f || f->failed)
        return NULL;
    *len = f->len;
    return f->buf;
}
