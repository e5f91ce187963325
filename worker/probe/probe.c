/* probe — TCP, HTTP and command probes, and lists of them (see probe.h).
 *
 * HTTP goes to libcurl directly rather than through wm_http_do(): a probe
 * must be able to follow redirects when asked (wm_http never does), and it
 * needs only the first bytes of a body of any size. */
#include "probe/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http.h" /* the one libcurl global init */
#include "clock.h"
#include "json.h"
#include "jsonr.h"
#include "log.h"
#include "transport/transport.h"

#define PROBE_BODY_KEEP (64 * 1024)

static int clamp_timeout(int ms)
{
    if (ms <= 0)
        return PROBE_DEFAULT_TIMEOUT_MS;
    return ms > PROBE_MAX_TIMEOUT_MS ? PROBE_MAX_TIMEOUT_MS : ms;
}

static void set_detail(struct probe_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One line, secrets replaced: details end up in task errors and the DB. */
static void set_detail(struct probe_result *r, const char *fmt, ...)
{
    char raw[sizeof(r->detail)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    wm_redact(raw, r->detail, sizeof(r->detail));
}

/* ------------------------------------------------------------------ tcp */

/* One connect attempt to ai within the time left; 0 or a positive errno. */
static int tcp_try(const struct addrinfo *ai, int64_t deadline)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    int e = 0;
    socklen_t elen = sizeof(e);

    if (fd < 0)
        return errno;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        goto out;
    if (errno != EINPROGRESS) {
        e = errno;
        goto out;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int left = (int)(deadline - wm_mono_ms()), n;
    while ((n = poll(&pfd, 1, left > 0 ? left : 0)) < 0 && errno == EINTR)
        left = (int)(deadline - wm_mono_ms());
    if (n == 0)
        e = ETIMEDOUT;
    else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
        e = errno;
out:
    close(fd);
    return e;
}

void probe_tcp(const char *host, int port, int timeout_ms, struct probe_result *r)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV},
                    *res = NULL;
    char svc[16];
    int64_t t0 = wm_mono_ms(), deadline = t0 + clamp_timeout(timeout_ms);
    int e = EINVAL;

    r->kind = PROBE_TCP;
    r->ok = false;
    if (!host || !*host || port <= 0 || port > 65535) {
        set_detail(r, "bad target %s:%d", host ? host : "", port);
        return;
    }
    snprintf(svc, sizeof(svc), "%d", port);
    int gai = getaddrinfo(host, svc, &hints, &res);
    if (gai) {
        set_detail(r, "cannot resolve %s: %s", host, gai_strerror(gai));
        r->elapsed_ms = wm_mono_ms() - t0;
        return;
    }
    for (const struct addrinfo *ai = res; ai && wm_mono_ms() < deadline; ai = ai->ai_next)
        if ((e = tcp_try(ai, deadline)) == 0)
            break;
    freeaddrinfo(res);
    r->elapsed_ms = wm_mono_ms() - t0;
    r->ok = e == 0;
    if (r->ok)
        set_detail(r, "connected to %s:%d in %lld ms", host, port, (long long)r->elapsed_ms);
    else if (e == ETIMEDOUT)
        set_detail(r, "%s:%d: no connection within %d ms", host, port, clamp_timeout(timeout_ms));
    else
        set_detail(r, "%s:%d: %s", host, port, strerror(e));
}

/* ------------------------------------------------------------------ http */

struct body {
    char buf[PROBE_BODY_KEEP + 1];
    size_t len;
};

static size_t body_write(char *p, size_t size, size_t n, void *arg)
{
    struct body *b = arg;
    size_t len = size * n, room = PROBE_BODY_KEEP - b->len;
    size_t take = len < room ? len : room;

    memcpy(b->buf + b->len, p, take); /* the rest is read and dropped */
    b->len += take;
    b->buf[b->len] = '\0';
    return len;
}

static CURL *http_handle(const char *url, const struct probe_http_opts *o, int timeout,
                         struct body *b)
{
    CURL *c = curl_easy_init();

    if (!c)
        return NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, o->follow_redirects ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "wavemill-probe");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    if (o->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return c;
}

void probe_http(const char *url, const struct probe_http_opts *o, int timeout_ms,
                struct probe_result *r)
{
    static const struct probe_http_opts dflt = {0};
    struct body *b = calloc(1, sizeof(*b));
    int timeout = clamp_timeout(timeout_ms);
    int64_t t0 = wm_mono_ms();
    long status = 0;

    o = o ? o : &dflt;
    long lo = o->status_min || o->status_max ? o->status_min : 200;
    long hi = o->status_min || o->status_max ? o->status_max : 299;
    r->kind = PROBE_HTTP;
    r->ok = false;
    CURL *c = b && url && wm_http_global_init() == 0 ? http_handle(url, o, timeout, b) : NULL;
    if (!c) {
        set_detail(r, url ? "cannot set up the HTTP request" : "no URL");
        free(b);
        return;
    }
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    r->elapsed_ms = wm_mono_ms() - t0;
    if (cc == CURLE_OPERATION_TIMEDOUT)
        set_detail(r, "no answer within %d ms", timeout);
    else if (cc != CURLE_OK)
        set_detail(r, "%s", curl_easy_strerror(cc));
    else if (status < lo || status > hi)
        set_detail(r, "HTTP %ld, expected %ld-%ld", status, lo, hi);
    else if (o->contains && !strstr(b->buf, o->contains))
        set_detail(r, "HTTP %ld but the body lacks \"%.60s\"", status, o->contains);
    else {
        r->ok = true;
        set_detail(r, "HTTP %ld in %lld ms", status, (long long)r->elapsed_ms);
    }
    free(b);
}

/* ------------------------------------------------------------------ ssh */

void probe_ssh(struct transport *tp, const char *cmd, int expect_exit, const char *contains,
               int timeout_ms, struct probe_result *r)
{
    char out[4096], err[256];
    struct transport_result *res = calloc(1, sizeof(*res));
    int64_t t0 = wm_mono_ms();

    r->kind = PROBE_SSH;
    r->ok = false;
    if (!tp || !cmd || !res) {
        set_detail(r, !res ? "out of memory" : !tp ? "no transport to run the command on"
                                                   : "no command");
        free(res);
        return;
    }
    int rc = transport_run(tp, cmd, clamp_timeout(timeout_ms), out, sizeof(out), res, err,
                           sizeof(err));
    r->elapsed_ms = wm_mono_ms() - t0;
    if (rc < 0)
        set_detail(r, "%s: %s", transport_name(tp), err);
    else if (res->exit_code != expect_exit)
        set_detail(r, "exit %d, expected %d: %.120s", res->exit_code, expect_exit,
                   res->errout[0] ? res->errout : out);
    else if (contains && !strstr(out, contains))
        set_detail(r, "exit %d but the output lacks \"%.60s\"", res->exit_code, contains);
    else {
        r->ok = true;
        set_detail(r, "exit %d in %lld ms", res->exit_code, (long long)r->elapsed_ms);
    }
    free(res);
}

/* ------------------------------------------------------------------ lists */

struct probe_spec {
    enum probe_kind kind;
    char *name, *target; /* target: host (tcp), URL (http), command (ssh) */
    int port, timeout_ms, expect_exit;
    struct probe_http_opts http;
    char *contains;
};

struct probe_list {
    size_t n;
    struct probe_spec specs[];
};

void probe_list_free(struct probe_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->specs[i].name);
        free(l->specs[i].target);
        free(l->specs[i].contains);
    }
    free(l);
}

size_t probe_list_count(const struct probe_list *l)
{
    return l ? l->n : 0;
}

/* s with every "{address}" replaced by addr (malloc'd). */
static char *subst_address(const char *s, const char *addr)
{
    static const char tok[] = "{address}";
    size_t n = 0, alen = strlen(addr);

    for (const char *p = s; (p = strstr(p, tok)); p += sizeof(tok) - 1)
        n++;
    char *out = malloc(strlen(s) + n * alen + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *p = s, *q; *p; p = q + sizeof(tok) - 1) {
        if (!(q = strstr(p, tok))) {
            strcpy(o, p);
            return out;
        }
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, addr, alen);
        o += alen;
    }
    *o = '\0';
    return out;
}

/* "status": 200 | "200-299" | "2xx" | [lo, hi]. */
static int parse_status(const struct wm_jsonr_val *v, long *lo, long *hi)
{
    int64_t a, b;
    const char *s = wm_jsonr_str(v);
    char x1, x2;

    if (!v)
        return 0;
    if (wm_jsonr_int(v, &a)) {
        *lo = *hi = (long)a;
    } else if (wm_jsonr_len(v) == 2 && wm_jsonr_int(wm_jsonr_at(v, 0), &a) &&
               wm_jsonr_int(wm_jsonr_at(v, 1), &b)) {
        *lo = (long)a;
        *hi = (long)b;
    } else if (s && strlen(s) == 3 && s[0] >= '1' && s[0] <= '5' &&
               sscanf(s + 1, "%c%c", &x1, &x2) == 2 && x1 == 'x' && x2 == 'x') {
        *lo = (s[0] - '0') * 100;
        *hi = *lo + 99;
    } else if (!s || sscanf(s, "%ld-%ld", lo, hi) != 2) {
        return -EINVAL;
    }
    return *lo >= 100 && *hi <= 599 && *lo <= *hi ? 0 : -EINVAL;
}

static int spec_kind(const char *t, enum probe_kind *k)
{
    if (t && !strcmp(t, "tcp"))
        *k = PROBE_TCP;
    else if (t && !strcmp(t, "http"))
        *k = PROBE_HTTP;
    else if (t && !strcmp(t, "ssh"))
        *k = PROBE_SSH;
    else
        return -EINVAL;
    return 0;
}

static const char *kind_name(enum probe_kind k)
{
    return k == PROBE_TCP ? "tcp" : k == PROBE_HTTP ? "http" : "ssh";
}

/* Kind-specific fields of one probe object; the reason in why. */
static int spec_fields(const struct wm_jsonr_val *o, const char *addr, struct probe_spec *s,
                       const char **why)
{
    const char *field = s->kind == PROBE_TCP ? "host" : s->kind == PROBE_HTTP ? "url" : "command";
    const char *t = wm_jsonr_path_str(o, field, s->kind == PROBE_TCP ? "{address}" : NULL);
    bool b = false;

    if (!t || !*t) {
        *why = s->kind == PROBE_HTTP ? "needs \"url\"" : "needs \"command\"";
        return -EINVAL;
    }
    if (!(s->target = subst_address(t, addr)))
        return -ENOMEM;
    int64_t port = wm_jsonr_path_int(o, "port", 0);
    if (s->kind == PROBE_TCP && (port <= 0 || port > 65535)) {
        *why = "needs a \"port\" in 1..65535";
        return -EINVAL;
    }
    s->port = (int)port;
    s->expect_exit = (int)wm_jsonr_path_int(o, "expect_exit", 0);
    if (parse_status(wm_jsonr_get(o, "status"), &s->http.status_min, &s->http.status_max) < 0) {
        *why = "has a bad \"status\" (200, \"200-299\", \"2xx\" or [lo, hi])";
        return -EINVAL;
    }
    s->http.follow_redirects = wm_jsonr_bool(wm_jsonr_get(o, "follow_redirects"), &b) && b;
    s->http.insecure = wm_jsonr_bool(wm_jsonr_get(o, "insecure"), &b) && b;
    const char *c = wm_jsonr_path_str(o, "contains", NULL);
    if (c && !(s->contains = subst_address(c, addr)))
        return -ENOMEM;
    s->http.contains = s->contains;
    return 0;
}

static int spec_parse(const struct wm_jsonr_val *o, const char *addr, struct probe_spec *s,
                      const char **why)
{
    char name[sizeof(((struct probe_result *)0)->name)];

    if (wm_jsonr_type(o) != WM_JSONR_OBJECT) {
        *why = "is not an object";
        return -EINVAL;
    }
    if (spec_kind(wm_jsonr_path_str(o, "type", NULL), &s->kind) < 0) {
        *why = "needs \"type\": \"tcp\", \"http\" or \"ssh\"";
        return -EINVAL;
    }
    s->timeout_ms = clamp_timeout((int)wm_jsonr_path_int(o, "timeout_ms", 0));
    int rc = spec_fields(o, addr, s, why);
    if (rc)
        return rc;
    const char *n = wm_jsonr_path_str(o, "name", NULL);
    if (!n && s->kind == PROBE_TCP)
        snprintf(name, sizeof(name), "tcp:%s:%d", s->target, s->port);
    else if (!n)
        snprintf(name, sizeof(name), "%s:%s", kind_name(s->kind), s->target);
    return (s->name = strdup(n ? n : name)) ? 0 : -ENOMEM;
}

struct probe_list *probe_list_parse(const char *json, const char *address, char *err,
                                    size_t errlen)
{
    char jerr[160];
    const char *why = "";
    struct wm_jsonr *d = wm_jsonr_parse(json, json ? strlen(json) : 0, NULL, NULL, jerr,
                                        sizeof(jerr));
    const struct wm_jsonr_val *arr = wm_jsonr_root(d);
    size_t n = wm_jsonr_len(arr), i = 0;
    struct probe_list *l = NULL;

    if (!d) {
        snprintf(err, errlen, "probes: %s", jerr);
        return NULL;
    }
    if (wm_jsonr_type(arr) != WM_JSONR_ARRAY || n == 0 || n > PROBE_MAX_PROBES) {
        snprintf(err, errlen, "probes: need a JSON array of 1..%d probes", PROBE_MAX_PROBES);
        goto out;
    }
    if (!(l = calloc(1, sizeof(*l) + n * sizeof(l->specs[0])))) {
        snprintf(err, errlen, "probes: out of memory");
        goto out;
    }
    for (; i < n; i++, l->n++)
        if (spec_parse(wm_jsonr_at(arr, i), address ? address : "", &l->specs[i], &why) < 0) {
            snprintf(err, errlen, "probes: probe %zu %s", i, *why ? why : "out of memory");
            l->n++; /* free what this one holds too */
            probe_list_free(l);
            l = NULL;
            break;
        }
out:
    wm_jsonr_free(d);
    return l;
}

/* ------------------------------------------------------------------ run */

static void spec_run(const struct probe_spec *s, struct transport *tp, struct probe_result *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", s->name);
    if (s->kind == PROBE_TCP)
        probe_tcp(s->target, s->port, s->timeout_ms, r);
    else if (s->kind == PROBE_HTTP)
        probe_http(s->target, &s->http, s->timeout_ms, r);
    else
        probe_ssh(tp, s->target, s->expect_exit, s->contains, s->timeout_ms, r);
}

static char *report_json(const struct probe_report *rep)
{
    struct wm_json *j = wm_json_new();
    char *out = NULL;

    wm_json_obj_begin(j);
    wm_json_kbool(j, "ok", rep->ok);
    wm_json_key(j, "probes");
    wm_json_arr_begin(j);
    for (size_t i = 0; i < rep->n; i++) {
        const struct probe_result *r = &rep->results[i];
        wm_json_obj_begin(j);
        wm_json_kstr(j, "name", r->name);
        wm_json_kstr(j, "type", kind_name(r->kind));
        wm_json_kbool(j, "ok", r->ok);
        wm_json_kstr(j, "detail", r->detail);
        wm_json_kint(j, "elapsed_ms", r->elapsed_ms);
        wm_json_obj_end(j);
    }
    wm_json_arr_end(j);
    wm_json_obj_end(j);
    if (wm_json_error(j) == 0)
        out = strdup(wm_json_text(j));
    wm_json_free(j);
    return out;
}

int probe_list_run(const struct probe_list *l, struct transport *tp, struct probe_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    if (!l || !l->n) {
        rep->json = strdup("{\"ok\":false,\"probes\":[]}");
        return rep->json ? 0 : -ENOMEM;
    }
    if (!(rep->results = calloc(l->n, sizeof(*rep->results))))
        return -ENOMEM;
    rep->n = l->n;
    rep->ok = true;
    for (size_t i = 0; i < l->n; i++) {
        spec_run(&l->specs[i], tp, &rep->results[i]);
        rep->ok &= rep->results[i].ok;
        wm_log(rep->results[i].ok ? WM_LOG_INFO : WM_LOG_WARN, "probe.result",
               "name=\"%s\" ok=%d ms=%lld detail=\"%s\"", rep->results[i].name,
               rep->results[i].ok, (long long)rep->results[i].elapsed_ms,
               rep->results[i].detail);
    }
    if (!(rep->json = report_json(rep))) {
        probe_report_free(rep);
        return -ENOMEM;
    }
    return 0;
}

void probe_report_free(struct probe_report *rep)
{
    if (!rep)
        return;
    free(rep->results);
    free(rep->json);
    memset(rep, 0, sizeof(*rep));
}
