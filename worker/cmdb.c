/* cmdb — the configured CMDB REST call (see cmdb.h).
 *
 * libcurl directly: one easy handle per attempt, no redirects, http(s)
 * only, bounded response capture.  The auth header is the only place the
 * secret is copied to; those copies are wiped before they are freed. */
#include "cmdb.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "json.h"
#include "jsonr.h"

#define CMDB_RESPONSE_KEEP (16 * 1024)
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

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct response {
    char buf[CMDB_RESPONSE_KEEP + 1];
    size_t len;
};

static size_t resp_write(char *p, size_t size, size_t n, void *arg)
{
    struct response *r = arg;
    size_t len = size * n, room = CMDB_RESPONSE_KEEP - r->len, take = len < room ? len : room;

    memcpy(r->buf + r->len, p, take);
    r->len += take;
    r->buf[r->len] = '\0';
    return len;
}

/* Wipes every header (the auth header holds the secret) and frees them. */
static void headers_free(struct curl_slist *h)
{
    for (struct curl_slist *i = h; i; i = i->next)
        explicit_bzero(i->data, strlen(i->data));
    curl_slist_free_all(h);
}

/* Content-Type, Accept and the auth header.  NULL on ENOMEM or a secret
 * that would break the header (CR/LF), with the reason in err (never the
 * value). */
static struct curl_slist *make_headers(const struct cmdb_config *c, const wm_secret *secret,
                                       char *err, size_t errlen)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = h ? curl_slist_append(h, "Accept: application/json") : NULL;
    if (!h || !secret)
        goto out;
    size_t slen = 0;
    const char *val = wm_secret_reveal(secret, &slen);
    if (!val || memchr(val, '\r', slen) || memchr(val, '\n', slen) || strlen(val) != slen) {
        snprintf(err, errlen, "cmdb: the secret holds line breaks or NUL; cannot send it");
        headers_free(h);
        return NULL;
    }
    const char *name = c->auth_header && *c->auth_header ? c->auth_header : "Authorization";
    bool bearer = strcasecmp(name, "Authorization") == 0;
    size_t n = strlen(name) + slen + 16;
    char *line = malloc(n);
    if (line) {
        snprintf(line, n, "%s: %s%s", name, bearer ? "Bearer " : "", val);
        struct curl_slist *h2 = curl_slist_append(h, line);
        explicit_bzero(line, n);
        free(line);
        if (h2)
            return h2;
    }
    headers_free(h);
    h = NULL;
out:
    if (!h)
        snprintf(err, errlen, "cmdb: out of memory");
    return h;
}

struct attempt {
    long status;
    CURLcode cc;
    struct response *resp;
};

static void attempt_once(const struct cmdb_config *c, const char *url, const char *body,
                         struct curl_slist *hdrs, int timeout, struct attempt *a)
{
    CURL *h = curl_easy_init();

    a->status = 0;
    a->resp->len = 0;
    a->resp->buf[0] = '\0';
    if (!h) {
        a->cc = CURLE_OUT_OF_MEMORY;
        return;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, c->method);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "wavemill-cmdb");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, resp_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a->resp);
    a->cc = curl_easy_perform(h);
    if (a->cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
    curl_easy_cleanup(h);
}

/* Transport failures worth another try (the CMDB or the network hiccuped);
 * a malformed URL or an unsupported scheme never gets better. */
static bool retryable(const struct attempt *a)
{
    if (a->cc == CURLE_OK)
        return a->status >= 500 || a->status == 429;
    return a->cc != CURLE_URL_MALFORMAT && a->cc != CURLE_UNSUPPORTED_PROTOCOL &&
           a->cc != CURLE_OUT_OF_MEMORY && a->cc != CURLE_BAD_FUNCTION_ARGUMENT;
}

/* Full jitter: uniform in [0, min(cap, base * 2^n)]. */
static long backoff_ms(const struct cmdb_config *c, int n)
{
    static _Thread_local unsigned seed;
    long base = c->backoff_base_ms > 0 ? c->backoff_base_ms : CMDB_DEFAULT_BACKOFF_BASE_MS;
    long cap = c->backoff_cap_ms > 0 ? c->backoff_cap_ms : CMDB_DEFAULT_BACKOFF_CAP_MS;
    long ceil = base;

    if (!seed)
        seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)&seed;
    for (int i = 0; i < n && ceil < cap; i++)
        ceil *= 2;
    if (ceil > cap)
        ceil = cap;
    return (long)((double)rand_r(&seed) / ((double)RAND_MAX + 1) * (double)(ceil + 1));
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ------------------------------------------------------------ outcome */

/* "HTTP 404: <excerpt>" or the transport error, for messages. */
static void describe(const struct attempt *a, int timeout, char *out, size_t outlen)
{
    char ex[CMDB_EXCERPT + 1];

    if (a->cc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(out, outlen, "no answer within %d ms", timeout);
        return;
    }
    if (a->cc != CURLE_OK) {
        snprintf(out, outlen, "%s", curl_easy_strerror(a->cc));
        return;
    }
    size_t n = a->resp->len < CMDB_EXCERPT ? a->resp->len : CMDB_EXCERPT;
    memcpy(ex, a->resp->buf, n);
    ex[n] = '\0';
    for (char *p = ex; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    snprintf(out, outlen, "HTTP %ld: %s%s", a->status, ex[0] ? ex : "(empty body)",
             a->resp->len > CMDB_EXCERPT ? "…" : "");
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

/* The retry loop: 0, -EIO (refused) or -EAGAIN (retries ran out). */
static int call_with_retries(const struct cmdb_config *c, const char *url, const char *body,
                             struct curl_slist *hdrs, struct cmdb_result *res, char *err,
                             size_t errlen)
{
    int timeout = c->timeout_ms > 0 ? c->timeout_ms : CMDB_DEFAULT_TIMEOUT_MS;
    int max = c->max_attempts > 0 ? c->max_attempts : CMDB_DEFAULT_ATTEMPTS;
    struct attempt a = {.resp = malloc(sizeof(struct response))};
    char what[CMDB_EXCERPT + 64] = "";
    int rc = -EAGAIN;

    if (!a.resp) {
        snprintf(err, errlen, "cmdb: out of memory");
        return -ENOMEM;
    }
    max = max > CMDB_MAX_ATTEMPTS ? CMDB_MAX_ATTEMPTS : max;
    for (int i = 0; i < max; i++) {
        if (i) {
            long d = backoff_ms(c, i - 1);
            wm_warn("cmdb.retry", "url=\"%s\" attempt=%d delay_ms=%ld last=\"%s\"", url, i + 1,
                    d, what);
            sleep_ms(d);
        }
        attempt_once(c, url, body, hdrs, timeout, &a);
        res->attempts = i + 1;
        res->status = a.status;
        describe(&a, timeout, what, sizeof(what));
        wm_info("cmdb.attempt", "method=%s url=\"%s\" attempt=%d result=\"%s\"", c->method, url,
                i + 1, what);
        if (a.cc == CURLE_OK && a.status >= 200 && a.status < 300) {
            rc = 0;
            break;
        }
        if (!retryable(&a)) {
            snprintf(err, errlen, "cmdb: %s %s was refused: %s", c->method, url, what);
            rc = a.cc == CURLE_OK ? -EIO : -EINVAL;
            break;
        }
        snprintf(err, errlen, "cmdb: %s %s failed after %d attempt%s: %s", c->method, url, i + 1,
                 i ? "s" : "", what);
    }
    free(a.resp);
    return rc;
}

int cmdb_update(const struct cmdb_config *cfg, const struct cmdb_vars *v, const wm_secret *secret,
                struct cmdb_result *res, char *err, size_t errlen)
{
    struct cmdb_config c = *cfg;
    struct cmdb_result local;
    static const struct cmdb_vars none = {0};
    char raw[1024] = "";
    struct curl_slist *hdrs = NULL;
    char *url = NULL, *body = NULL;
    int rc;

    res = res ? res : &local;
    *res = (struct cmdb_result){0};
    v = v ? v : &none;
    c.method = c.method && *c.method ? c.method : "POST";
    pthread_once(&curl_once, curl_init);
    if ((rc = check_config(&c, raw, sizeof(raw))) == 0 &&
        (!(url = cmdb_expand(c.url, v, 1, raw, sizeof(raw))) ||
         !(body = make_body(&c, v, raw, sizeof(raw))) ||
         !(hdrs = make_headers(&c, secret, raw, sizeof(raw)))))
        rc = -EINVAL;
    if (!rc) {
        rc = call_with_retries(&c, url, body, hdrs, res, raw, sizeof(raw));
        if (!rc)
            wm_info("cmdb.updated", "server=%s status=%ld attempts=%d", v->server ? v->server : "",
                    res->status, res->attempts);
    }
    /* whatever the error says, it leaves redacted */
    if (rc && err && errlen)
        wm_redact(raw, err, errlen);
    headers_free(hdrs);
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
