/* cmdb — the configured CMDB REST call (see cmdb.h).
 *
 * The request and the retry policy (full-jitter backoff) are common/http's;
 * this file builds the URL, body and auth header and judges the outcome.
 * The auth header line is the only copy of the secret made here, wiped
 * before it is freed. */
#include "cmdb/cmdb.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "http.h"
#include "json.h"
#include "jsonr.h"

#define CMDB_RESPONSE_MAX (1024 * 1024)
#define CMDB_EXCERPT 200

/* ------------------------------------------------------------ templates */

struct sbuf {
    char *s;
    size_t len, cap, max;
    bool overflow;
};

static void sb_put(struct sbuf *b, const char *p, size_t n)
{
    if (b->overflow || b->len + n + 1 > b->max) {
        b->overflow = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->overflow = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void put_url_encoded(struct sbuf *b, const char *v)
{
    char hex[4];

    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            sb_put(b, (const char *)p, 1);
        } else {
            snprintf(hex, sizeof(hex), "%%%02X", c);
            sb_put(b, hex, 3);
        }
    }
}

static void put_json_escaped(struct sbuf *b, const char *v)
{
    char esc[8];

    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            sb_put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, (const char *)p, 1);
        }
    }
}

/* Value of placeholder name (n bytes), NULL when unknown. */
static const char *var_value(const struct cmdb_vars *v, const char *name, size_t n)
{
    const char *names[] = {"server", "fqdn", "wave", "instance_id", "status"};
    const char *vals[] = {v->server, v->fqdn, v->wave, v->instance_id,
                          v->status ? v->status : "migrated"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == n && memcmp(names[i], name, n) == 0)
            return vals[i] ? vals[i] : "";
    return NULL;
}

/* Length of a placeholder name at p ("abc}" → 3), 0 if p does not start one. */
static size_t placeholder_len(const char *p)
{
    size_t n = 0;
    while ((p[n] >= 'a' && p[n] <= 'z') || p[n] == '_')
        n++;
    return n && p[n] == '}' ? n : 0;
}

char *cmdb_expand(const char *tmpl, const struct cmdb_vars *v, int url_mode, char *err,
                  size_t errlen)
{
    struct sbuf b = {.max = url_mode ? CMDB_MAX_URL : CMDB_MAX_BODY};
    static const struct cmdb_vars none = {0};

    v = v ? v : &none;
    sb_put(&b, "", 0);
    for (const char *p = tmpl ? tmpl : ""; *p && !b.overflow;) {
        size_t n = *p == '{' ? placeholder_len(p + 1) : 0;
        if (!n) {
            sb_put(&b, p++, 1);
            continue;
        }
        const char *val = var_value(v, p + 1, n);
        if (!val) {
            snprintf(err, errlen, "cmdb: unknown placeholder {%.*s} in the %s template", (int)n,
                     p + 1, url_mode ? "URL" : "body");
            free(b.s);
            return NULL;
        }
        if (url_mode)
            put_url_encoded(&b, val);
        else
            put_json_escaped(&b, val);
        p += n + 2;
    }
    if (b.overflow) {
        snprintf(err, errlen, "cmdb: the expanded %s is longer than %d bytes",
                 url_mode ? "URL" : "body", url_mode ? CMDB_MAX_URL : CMDB_MAX_BODY);
        free(b.s);
        return NULL;
    }
    return b.s;
}

static char *default_body(const struct cmdb_vars *v)
{
    struct wm_json *j = wm_json_new();
    char *out = NULL;

    wm_json_obj_begin(j);
    wm_json_kstr(j, "server", v->server ? v->server : "");
    wm_json_kstr(j, "fqdn", v->fqdn ? v->fqdn : "");
    wm_json_kstr(j, "wave", v->wave ? v->wave : "");
    wm_json_kstr(j, "status", v->status ? v->status : "migrated");
    wm_json_kstr(j, "instance_id", v->instance_id ? v->instance_id : "");
    wm_json_obj_end(j);
    if (wm_json_error(j) == 0)
        out = strdup(wm_json_text(j));
    wm_json_free(j);
    return out;
}

/* The body to send: the expanded template (checked to be JSON) or the
 * default one. */
static char *make_body(const struct cmdb_config *c, const struct cmdb_vars *v, char *err,
                       size_t errlen)
{
    char jerr[160];

    if (!c->body || !*c->body) {
        char *b = default_body(v);
        if (!b)
            snprintf(err, errlen, "cmdb: out of memory");
        return b;
    }
    char *b = cmdb_expand(c->body, v, 0, err, errlen);
    if (!b)
        return NULL;
    struct wm_jsonr *d = wm_jsonr_parse(b, strlen(b), NULL, NULL, jerr, sizeof(jerr));
    if (!d) {
        snprintf(err, errlen, "cmdb: the body template does not give JSON: %s", jerr);
        free(b);
        return NULL;
    }
    wm_jsonr_free(d);
    return b;
}

/* ------------------------------------------------------------ request */

/* The auth header line "Name: [Bearer ]secret" (malloc'd; the caller wipes
 * it with wipe_free), or NULL with the reason in err, never the value.  A
 * secret holding CR/LF would smuggle extra headers: refused. */
static char *auth_line(const struct cmdb_config *c, const wm_secret *secret, size_t *n, char *err,
                       size_t errlen)
{
    size_t slen = 0;
    const char *val = wm_secret_reveal(secret, &slen);

    if (!val || memchr(val, '\r', slen) || memchr(val, '\n', slen) || strlen(val) != slen) {
        snprintf(err, errlen, "cmdb: the secret holds line breaks or NUL; cannot send it");
        return NULL;
    }
    const char *name = c->auth_header && *c->auth_header ? c->auth_header : "Authorization";
    bool bearer = strcasecmp(name, "Authorization") == 0;
    *n = strlen(name) + slen + 16;
    char *line = malloc(*n);
    if (!line)
        snprintf(err, errlen, "cmdb: out of memory");
    else
        snprintf(line, *n, "%s: %s%s", name, bearer ? "Bearer " : "", val);
    return line;
}

static void wipe_free(char *p, size_t n)
{
    if (p)
        explicit_bzero(p, n);
    free(p);
}

/* "HTTP 404: <excerpt>" or the transport failure, for logs and errors. */
static void describe(int rc, const struct wm_http_response *resp, const char *http_err,
                     int timeout, char *out, size_t outlen)
{
    char ex[CMDB_EXCERPT + 1];

    if (rc == -ETIMEDOUT) {
        snprintf(out, outlen, "no answer within %d ms", timeout);
        return;
    }
    if (rc < 0) {
        snprintf(out, outlen, "%s", http_err);
        return;
    }
    size_t n = resp->body_len < CMDB_EXCERPT ? resp->body_len : CMDB_EXCERPT;
    memcpy(ex, resp->body ? resp->body : "", n);
    ex[n] = '\0';
    for (char *p = ex; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    snprintf(out, outlen, "HTTP %ld: %s%s", resp->status, ex[0] ? ex : "(empty body)",
             resp->body_len > CMDB_EXCERPT ? "…" : "");
}

struct retry_ctx {
    const char *method, *url;
    int timeout, attempt;
    char *http_err;
};

/* 5xx, 429 and transport failures are worth another try (the CMDB or the
 * network hiccuped); a bad request never gets better.  Called by
 * wm_http_do_retry after every attempt but the last, so it logs them. */
static bool cmdb_retryable(int rc, const struct wm_http_response *resp, void *arg)
{
    struct retry_ctx *x = arg;
    char what[CMDB_EXCERPT + 64];
    bool again = rc == 0 ? resp->status >= 500 || resp->status == 429
                         : rc != -EINVAL && rc != -ENOMEM && rc != -EFBIG;

    x->attempt++;
    describe(rc, resp, x->http_err, x->timeout, what, sizeof(what));
    wm_info("cmdb.attempt", "method=%s url=\"%s\" attempt=%d result=\"%s\"", x->method, x->url,
            x->attempt, what);
    if (again)
        wm_warn("cmdb.retry", "url=\"%s\" next_attempt=%d", x->url, x->attempt + 1);
    return again;
}

static int check_config(const struct cmdb_config *c, char *err, size_t errlen)
{
    const char *m = c->method;

    if (!c->url || (strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0)) {
        snprintf(err, errlen, "cmdb: the URL must start with http:// or https://");
        return -EINVAL;
    }
    if (m && strcmp(m, "POST") != 0 && strcmp(m, "PUT") != 0 && strcmp(m, "PATCH") != 0) {
        snprintf(err, errlen, "cmdb: method must be POST, PUT or PATCH, not \"%.16s\"", m);
        return -EINVAL;
    }
    return 0;
}

/* The verdict on the last attempt: 0, -EIO (refused) or -EAGAIN (retries
 * ran out). */
static int outcome(int rc, const struct wm_http_response *resp, struct retry_ctx *x,
                   const struct cmdb_result *res, char *err, size_t errlen)
{
    char what[CMDB_EXCERPT + 64];

    describe(rc, resp, x->http_err, x->timeout, what, sizeof(what));
    if (res->attempts > x->attempt) /* the last attempt was not seen by the classifier */
        wm_info("cmdb.attempt", "method=%s url=\"%s\" attempt=%d result=\"%s\"", x->method,
                x->url, res->attempts, what);
    if (rc == 0 && resp->status >= 200 && resp->status < 300)
        return 0;
    if ((rc == 0 && resp->status < 500 && resp->status != 429) || rc == -EINVAL || rc == -EFBIG) {
        snprintf(err, errlen, "cmdb: %s %s was refused: %s", x->method, x->url, what);
        return rc == 0 ? -EIO : rc;
    }
    snprintf(err, errlen, "cmdb: %s %s failed after %d attempt%s: %s", x->method, x->url,
             res->attempts, res->attempts > 1 ? "s" : "", what);
    return -EAGAIN;
}

/* One call with retries through common/http. */
static int call_with_retries(const struct cmdb_config *c, const char *url, const char *body,
                             const char *auth, struct cmdb_result *res, char *err, size_t errlen)
{
    const char *headers[] = {"Content-Type: application/json", "Accept: application/json", auth};
    struct wm_http_request req = {
        .method = c->method,
        .url = url,
        .headers = headers,
        .nheaders = auth ? 3 : 2,
        .body = body,
        .body_len = strlen(body),
        .timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : CMDB_DEFAULT_TIMEOUT_MS,
        .connect_timeout_ms = c->timeout_ms > 0 ? c->timeout_ms : CMDB_DEFAULT_TIMEOUT_MS,
        .max_body = CMDB_RESPONSE_MAX,
    };
    int max = c->max_attempts > 0 ? c->max_attempts : CMDB_DEFAULT_ATTEMPTS;
    struct wm_http_backoff b = {
        .max_attempts = max > CMDB_MAX_ATTEMPTS ? CMDB_MAX_ATTEMPTS : max,
        .base_ms = c->backoff_base_ms > 0 ? c->backoff_base_ms : CMDB_DEFAULT_BACKOFF_BASE_MS,
        .cap_ms = c->backoff_cap_ms > 0 ? c->backoff_cap_ms : CMDB_DEFAULT_BACKOFF_CAP_MS,
    };
    char http_err[512] = "";
    struct retry_ctx x = {.method = c->method, .url = url, .timeout = (int)req.timeout_ms,
                          .http_err = http_err};
    struct wm_http_response resp;
    struct wm_http_retry_stats stats;

    int rc = wm_http_do_retry(&req, &b, cmdb_retryable, &x, &resp, &stats, http_err,
                              sizeof(http_err));
    res->attempts = stats.attempts;
    res->status = rc == 0 ? resp.status : 0;
    rc = outcome(rc, &resp, &x, res, err, errlen);
    wm_http_response_free(&resp);
    return rc;
}

int cmdb_update(const struct cmdb_config *cfg, const struct cmdb_vars *v, const wm_secret *secret,
                struct cmdb_result *res, char *err, size_t errlen)
{
    struct cmdb_config c = *cfg;
    struct cmdb_result local;
    static const struct cmdb_vars none = {0};
    char raw[1024] = "";
    char *url = NULL, *body = NULL, *auth = NULL;
    size_t authlen = 0;
    int rc;

    res = res ? res : &local;
    *res = (struct cmdb_result){0};
    v = v ? v : &none;
    c.method = c.method && *c.method ? c.method : "POST";
    if ((rc = check_config(&c, raw, sizeof(raw))) == 0 &&
        (!(url = cmdb_expand(c.url, v, 1, raw, sizeof(raw))) ||
         !(body = make_body(&c, v, raw, sizeof(raw))) ||
         (secret && !(auth = auth_line(&c, secret, &authlen, raw, sizeof(raw))))))
        rc = -EINVAL;
    if (!rc) {
        rc = call_with_retries(&c, url, body, auth, res, raw, sizeof(raw));
        if (!rc)
            wm_info("cmdb.updated", "server=%s status=%ld attempts=%d", v->server ? v->server : "",
                    res->status, res->attempts);
    }
    /* whatever the error says, it leaves redacted */
    if (rc && err && errlen)
        wm_redact(raw, err, errlen);
    wipe_free(auth, authlen);
    free(url);
    free(body);
    return rc;
}

/* ------------------------------------------------------------ config */

static const struct wm_config_key cmdb_keys[] = {
    {"cmdb.url", WM_CFG_STRING, NULL, 0, 0, false,
     "CMDB endpoint template ({server} {fqdn} {wave} {instance_id} {status}); unset = no CMDB"},
    {"cmdb.method", WM_CFG_STRING, "POST", 0, 0, false, "POST, PUT or PATCH"},
    {"cmdb.body", WM_CFG_STRING, NULL, 0, 0, false,
     "JSON body template; unset = {\"server\",\"fqdn\",\"wave\",\"status\",\"instance_id\"}"},
    {"cmdb.auth_header", WM_CFG_STRING, "Authorization", 0, 0, false,
     "header carrying the secret; Authorization sends \"Bearer <secret>\""},
    {"cmdb.secret", WM_CFG_STRING, NULL, 0, 0, false,
     "name of the credential (wavemill secret set) holding the CMDB token"},
    {"cmdb.timeout", WM_CFG_DURATION, "10s", 100, 600000, false, "per request"},
    {"cmdb.attempts", WM_CFG_INT, "4", 1, CMDB_MAX_ATTEMPTS, false,
     "requests before giving up on 5xx/timeouts"},
};

int cmdb_declare(struct wm_config *cfg, char *err, size_t errlen)
{
    return wm_config_declare(cfg, cmdb_keys, sizeof(cmdb_keys) / sizeof(cmdb_keys[0]), err,
                             errlen);
}

int cmdb_config_from(const struct wm_config *cfg, struct cmdb_config *c, const char **secret_name)
{
    memset(c, 0, sizeof(*c));
    c->url = wm_config_str(cfg, "cmdb.url");
    c->method = wm_config_str(cfg, "cmdb.method");
    c->body = wm_config_str(cfg, "cmdb.body");
    c->auth_header = wm_config_str(cfg, "cmdb.auth_header");
    c->timeout_ms = (int)wm_config_int(cfg, "cmdb.timeout");
    c->max_attempts = (int)wm_config_int(cfg, "cmdb.attempts");
    if (secret_name) {
        const char *s = wm_config_str(cfg, "cmdb.secret");
        *secret_name = s && *s ? s : NULL;
    }
    return c->url && *c->url ? 0 : -ENOENT;
}
