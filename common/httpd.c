/* httpd — libmicrohttpd behind wavemill's handler interface (see httpd.h). */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "tls.h"

#define MAX_ROUTES 64
#define MAX_CHECKS 8
#define MAX_PEM (256 * 1024)

struct route {
    const char *method, *path;
    wm_httpd_handler fn;
    void *arg;
};

struct check {
    const char *name;
    wm_httpd_check_fn fn;
    void *arg;
};

struct wm_httpd {
    struct wm_httpd_opts o;
    int fd, port;
    bool tls;
    char *cert_pem, *key_pem;
    struct MHD_Daemon *d;
    struct route routes[MAX_ROUTES];
    int nroutes;
    struct check checks[MAX_CHECKS];
    int nchecks;
    struct wm_metrics *ops_metrics;
    struct wm_metric *m_requests, *m_open;
};

/* Per-request state across libmicrohttpd's calls: the body as it arrives. */
struct reqstate {
    char *body;
    size_t len, cap;
    bool too_big;
};

/* --- set-up --- */

static char *read_pem(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    char *buf = f ? malloc(MAX_PEM + 1) : NULL;
    size_t n = buf ? fread(buf, 1, MAX_PEM, f) : 0;
    if (f)
        fclose(f);
    if (!buf || n == 0 || n == MAX_PEM) {
        snprintf(err, errlen, "cannot read PEM file %s%s", path,
                 !f ? ": no such file or not readable" : "");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static bool fd_is_loopback(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return false;
    if (ss.ss_family == AF_INET)
        return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

static int load_tls(struct wm_httpd *h, char *err, size_t errlen)
{
    if (!h->o.cert_file && !h->o.key_file)
        return 0;
    if (!h->o.cert_file || !h->o.key_file) {
        snprintf(err, errlen, "HTTPS needs both a certificate and a key file");
        return -EINVAL;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(err, errlen, "this libmicrohttpd has no TLS support");
        return -ENOTSUP;
    }
    if (!(h->cert_pem = read_pem(h->o.cert_file, err, errlen)) ||
        !(h->key_pem = read_pem(h->o.key_file, err, errlen)))
        return -EINVAL;
    h->tls = true;
    return 0;
}

struct wm_httpd *wm_httpd_new(const struct wm_httpd_opts *o, char *err, size_t errlen)
{
    struct wm_httpd *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->o = *o;
    h->fd = -1;
    if (!h->o.max_body)
        h->o.max_body = 1u << 20;
    if (!h->o.max_conns)
        h->o.max_conns = 256;
    if (!h->o.timeout_s)
        h->o.timeout_s = 60;
    if (load_tls(h, err, errlen) < 0 ||
        (h->fd = wm_tcp_listen(o->listen ? o->listen : "", 128, err, errlen)) < 0) {
        wm_httpd_free(h);
        return NULL;
    }
    if (!h->tls && o->plain_loopback_only && !fd_is_loopback(h->fd)) {
        snprintf(err, errlen,
                 "refusing plain HTTP on %s: not a loopback address (give a certificate and key)",
                 o->listen);
        wm_httpd_free(h);
        return NULL;
    }
    h->port = wm_tcp_local_port(h->fd);
    h->m_requests = wm_metrics_counter(o->metrics, "wm_http_requests_total",
                                       "HTTP requests served, by route and status", "route,code");
    h->m_open = wm_metrics_gauge(o->metrics, "wm_http_connections_open",
                                 "HTTP connections open now", NULL);
    return h;
}

void wm_httpd_free(struct wm_httpd *h)
{
    if (!h)
        return;
    if (h->d)
        MHD_stop_daemon(h->d); /* closes the listen socket it was given */
    else if (h->fd >= 0)
        close(h->fd);
    free(h->cert_pem);
    if (h->key_pem) {
        explicit_bzero(h->key_pem, strlen(h->key_pem));
        free(h->key_pem);
    }
    free(h);
}

int wm_httpd_route(struct wm_httpd *h, const char *method, const char *path,
                   wm_httpd_handler fn, void *arg)
{
    if (h->d || h->nroutes == MAX_ROUTES || !path || !fn)
        return -EINVAL;
    h->routes[h->nroutes++] = (struct route){method, path, fn, arg};
    return 0;
}

int wm_httpd_ready_check(struct wm_httpd *h, const char *name, wm_httpd_check_fn fn, void *arg)
{
    if (h->nchecks == MAX_CHECKS || !name || !fn)
        return -EINVAL;
    h->checks[h->nchecks++] = (struct check){name, fn, arg};
    return 0;
}

int wm_httpd_port(const struct wm_httpd *h)
{
    return h->port;
}

bool wm_httpd_tls(const struct wm_httpd *h)
{
    return h->tls;
}

/* --- responses --- */

int wm_httpd_reply(struct wm_httpd_resp *resp, int status, const char *content_type,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *body = NULL;
    int n = vasprintf(&body, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -ENOMEM;
    wm_httpd_reply_owned(resp, status, content_type, body, (size_t)n);
    return 0;
}

void wm_httpd_reply_owned(struct wm_httpd_resp *resp, int status, const char *content_type,
                          char *body, size_t body_len)
{
    free(resp->body);
    resp->status = status;
    if (content_type)
        resp->content_type = content_type;
    resp->body = body;
    resp->body_len = body_len;
}

int wm_httpd_add_header(struct wm_httpd_resp *resp, const char *name, const char *value)
{
    if (resp->nheaders == WM_HTTPD_MAX_HEADERS)
        return -E2BIG;
    resp->headers[resp->nheaders][0] = name;
    resp->headers[resp->nheaders][1] = value;
    resp->nheaders++;
    return 0;
}

const char *wm_httpd_header(const struct wm_httpd_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *wm_httpd_query(const struct wm_httpd_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* --- dispatch --- */

static const struct route *route_find(const struct wm_httpd *h, const char *method,
                                      const char *path, bool *path_known)
{
    *path_known = false;
    for (int i = 0; i < h->nroutes; i++) {
        const struct route *r = &h->routes[i];
        size_t n = strlen(r->path);
        bool match = r->path[n - 1] == '/' ? strncmp(path, r->path, n) == 0
                                           : strcmp(path, r->path) == 0;
        if (!match)
            continue;
        *path_known = true;
        if (!r->method || strcmp(r->method, method) == 0)
            return r;
    }
    return NULL;
}

static void peer_text(struct MHD_Connection *c, char *buf, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(buf, len, "?");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)len);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct wm_httpd_resp *r = cls;
    ssize_t n = r->stream(r->stream_arg, buf, max);
    return n > 0 ? n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void stream_done(void *cls)
{
    struct wm_httpd_resp *r = cls;
    if (r->stream_free)
        r->stream_free(r->stream_arg);
    free(r);
}

static struct MHD_Response *make_response(struct wm_httpd_resp *r)
{
    struct MHD_Response *mr;
    if (r->stream) {
        struct wm_httpd_resp *copy = malloc(sizeof(*copy));
        if (!copy)
            return NULL;
        *copy = *r;
        r->stream_free = NULL; /* the copy owns the stream now */
        mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 8192, stream_reader, copy,
                                               stream_done);
        if (!mr)
            stream_done(copy);
    } else {
        mr = MHD_create_response_from_buffer(r->body_len, r->body ? r->body : "",
                                             r->body ? MHD_RESPMEM_MUST_FREE
                                                     : MHD_RESPMEM_PERSISTENT);
        if (mr)
            r->body = NULL;
    }
    if (!mr)
        return NULL;
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type ? r->content_type : "text/plain; charset=utf-8");
    MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
    for (int i = 0; i < r->nheaders; i++)
        MHD_add_response_header(mr, r->headers[i][0], r->headers[i][1]);
    return mr;
}

static void run_handler(const struct route *rt, struct MHD_Connection *c, const char *url,
                        const char *method, struct reqstate *st, struct wm_httpd_resp *resp)
{
    char peer[INET6_ADDRSTRLEN + 1];
    peer_text(c, peer, sizeof(peer));
    struct wm_httpd_req req = {method, url, st->body ? st->body : "", st->len, peer, c};
    if (rt->fn(&req, resp, rt->arg) < 0) {
        wm_error("http.handler_failed", "method=%s path=%s", method, url);
        free(resp->body);
        if (resp->stream_free)
            resp->stream_free(resp->stream_arg);
        *resp = (struct wm_httpd_resp){0};
        wm_httpd_reply(resp, 500, NULL, "internal error\n");
    }
}

static void handle(struct wm_httpd *h, struct MHD_Connection *c, const char *url,
                   const char *method, struct reqstate *st, struct wm_httpd_resp *resp)
{
    bool known;
    const struct route *rt = route_find(h, method, url, &known);
    if (rt && st->too_big)
        wm_httpd_reply(resp, 413, NULL, "request body over %zu bytes\n", h->o.max_body);
    else if (rt)
        run_handler(rt, c, url, method, st, resp);
    else if (known)
        wm_httpd_reply(resp, 405, NULL, "method %s not allowed on %s\n", method, url);
    else
        wm_httpd_reply(resp, 404, NULL, "no such path: %s\n", url);
    if (!resp->status)
        resp->status = 200;
    char code[8];
    snprintf(code, sizeof(code), "%d", resp->status);
    /* the route pattern, not the path: a bounded label set */
    wm_metric_add(h->m_requests, 1, (const char *[]){rt ? rt->path : "unmatched", code});
}

static bool body_add(struct wm_httpd *h, struct reqstate *st, const char *data, size_t n)
{
    if (st->too_big || st->len + n > h->o.max_body) {
        st->too_big = true;
        return true;
    }
    if (st->len + n + 1 > st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 8192;
        while (cap < st->len + n + 1)
            cap *= 2;
        char *p = realloc(st->body, cap);
        if (!p)
            return false;
        st->body = p, st->cap = cap;
    }
    memcpy(st->body + st->len, data, n);
    st->len += n;
    st->body[st->len] = '\0';
    return true;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    struct wm_httpd *h = cls;
    struct reqstate *st = *con_cls;
    if (!st) {
        if (!(st = calloc(1, sizeof(*st))))
            return MHD_NO;
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_size) {
        bool ok = body_add(h, st, upload_data, *upload_size);
        *upload_size = 0;
        return ok ? MHD_YES : MHD_NO;
    }
    struct wm_httpd_resp resp = {0};
    handle(h, c, url, method, st, &resp);
    struct MHD_Response *mr = make_response(&resp);
    free(resp.body);
    if (!mr) {
        if (resp.stream_free)
            resp.stream_free(resp.stream_arg);
        return MHD_NO;
    }
    enum MHD_Result rc = MHD_queue_response(c, (unsigned)resp.status, mr);
    MHD_destroy_response(mr);
    return rc;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    struct reqstate *st = *con_cls;
    if (st) {
        free(st->body);
        free(st);
        *con_cls = NULL;
    }
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)c, (void)socket_ctx;
    struct wm_httpd *h = cls;
    wm_metric_add(h->m_open, toe == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1, NULL);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    wm_warn("http.library", "msg=\"%s\"", msg);
}

int wm_httpd_start(struct wm_httpd *h, char *err, size_t errlen)
{
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | (h->tls ? MHD_USE_TLS : 0);
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, h->cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, h->key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    h->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, h,
        MHD_OPTION_LISTEN_SOCKET, h->fd,
        MHD_OPTION_CONNECTION_LIMIT, h->o.max_conns, MHD_OPTION_CONNECTION_TIMEOUT,
        h->o.timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_ARRAY, h->tls ? tls_opts : tls_opts + 2, MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errlen, "cannot start the HTTP server on %s%s", h->o.listen,
                 h->tls ? " (bad certificate or key?)" : "");
        return -EIO;
    }
    wm_info("http.listening", "listen=%s port=%d tls=%s", h->o.listen, h->port,
            h->tls ? "yes" : "no");
    return 0;
}

/* --- operational endpoints --- */

static int ops_metrics(const struct wm_httpd_req *req, struct wm_httpd_resp *resp, void *arg)
{
    (void)req;
    size_t len;
    char *text = wm_metrics_render(arg, &len);
    if (!text)
        return -ENOMEM;
    wm_httpd_reply_owned(resp, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    return 0;
}

static int ops_healthz(const struct wm_httpd_req *req, struct wm_httpd_resp *resp, void *arg)
{
    (void)req, (void)arg;
    return wm_httpd_reply(resp, 200, NULL, "ok\n");
}

static int ops_readyz(const struct wm_httpd_req *req, struct wm_httpd_resp *resp, void *arg)
{
    (void)req;
    struct wm_httpd *h = arg;
    char text[4096] = "", err[512];
    size_t off = 0;
    int status = 200;
    for (int i = 0; i < h->nchecks && off < sizeof(text); i++) {
        err[0] = '\0';
        int rc = h->checks[i].fn(h->checks[i].arg, err, sizeof(err));
        if (rc < 0)
            status = 503;
        int n = snprintf(text + off, sizeof(text) - off, "%s: %s\n", h->checks[i].name,
                         rc < 0 ? (err[0] ? err : "not ready") : "ok");
        off += n > 0 ? (size_t)n : 0;
    }
    return wm_httpd_reply(resp, status, NULL, "%s%s", text, status == 200 ? "ready\n" : "");
}

int wm_httpd_ops(struct wm_httpd *h, struct wm_metrics *m)
{
    h->ops_metrics = m;
    int rc = wm_httpd_route(h, "GET", "/metrics", ops_metrics, m);
    if (rc == 0)
        rc = wm_httpd_route(h, "GET", "/healthz", ops_healthz, h);
    if (rc == 0)
        rc = wm_httpd_route(h, "GET", "/readyz", ops_readyz, h);
    return rc;
}
