/* httpd — the HTTP(S) server every wavemill daemon embeds, a thin layer
 * over libmicrohttpd: routes, whole-body requests, owned responses,
 * streamed responses (server-sent events), and the operational endpoints.
 *
 * Threads: libmicrohttpd runs one thread per connection, so a handler may
 * block (a database query, an event stream waiting for news) without
 * stalling other clients; handlers must be thread-safe.
 *
 * Security: with cert_file/key_file (PEM) it serves HTTPS only.  Without
 * them, plain HTTP is refused on any address but loopback when
 * plain_loopback_only is set (the API sets it; /metrics-only listeners of
 * the daemons may serve plain HTTP on a scrape network, as Prometheus
 * expects, since they carry no secrets).
 *
 * Bounds: request bodies over max_body get 413 and are not kept; at most
 * max_conns connections; idle connections close after timeout_s.
 *
 * Operational endpoints (wm_httpd_ops):
 *   /metrics  the registry in the Prometheus text format
 *   /healthz  200 "ok" while the process serves
 *   /readyz   200 when every readiness check passes, else 503 naming the
 *             failing checks (e.g. "postgresql: connection refused") */
#ifndef WM_HTTPD_H
#define WM_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct wm_metrics;

struct wm_httpd_opts {
    const char *listen;    /* HOST:PORT (port 0 = any free port) */
    const char *cert_file; /* PEM certificate (chain) for HTTPS; NULL = plain HTTP */
    const char *key_file;  /* PEM private key */
    bool plain_loopback_only;
    size_t max_body;      /* 0 = 1 MiB */
    unsigned max_conns;   /* 0 = 256 */
    unsigned timeout_s;   /* idle connection timeout; 0 = 60 */
    struct wm_metrics *metrics; /* request/connection counters go here; may be NULL */
};

/* What a handler sees (borrowed for the call). */
struct wm_httpd_req {
    const char *method;
    const char *path; /* without the query string, percent-decoded by libmicrohttpd */
    const char *body; /* NUL-terminated; "" when none */
    size_t body_len;
    const char *peer; /* client address, for logs and audit */
    void *conn;       /* the libmicrohttpd connection (for wm_httpd_header/_query) */
};

const char *wm_httpd_header(const struct wm_httpd_req *r, const char *name);
const char *wm_httpd_query(const struct wm_httpd_req *r, const char *name);

/* A streamed body: called repeatedly on the connection's thread; writes up
 * to max bytes into buf and returns their count (it may block, e.g. until
 * an event arrives or a keep-alive is due), 0 is not allowed; returns -1
 * to end the stream. */
typedef ssize_t (*wm_httpd_stream_fn)(void *arg, char *buf, size_t max);

#define WM_HTTPD_MAX_HEADERS 8

/* What a handler fills in.  status defaults to 200. */
struct wm_httpd_resp {
    int status;
    const char *content_type; /* static string; default "text/plain; charset=utf-8" */
    char *body;               /* owned by the response (freed by httpd); NULL = empty */
    size_t body_len;
    const char *headers[WM_HTTPD_MAX_HEADERS][2]; /* extra name/value (static or in body's lifetime) */
    int nheaders;
    wm_httpd_stream_fn stream; /* set instead of body for a streamed response */
    void *stream_arg;
    void (*stream_free)(void *arg); /* called when the stream ends or the client leaves */
};

/* Returns 0; a negative return sends 500 (and is logged). */
typedef int (*wm_httpd_handler)(const struct wm_httpd_req *req, struct wm_httpd_resp *resp,
                                void *arg);

/* A readiness check: 0 when ready, else -errno with the reason in err. */
typedef int (*wm_httpd_check_fn)(void *arg, char *err, size_t errlen);

struct wm_httpd;

/* Binds the socket (so the port is known and errors show at start-up) but
 * serves nothing until wm_httpd_start.  NULL with err on failure (cannot
 * listen, unreadable certificate, plain HTTP off loopback). */
struct wm_httpd *wm_httpd_new(const struct wm_httpd_opts *o, char *err, size_t errlen);
/* Stops serving (waits for running handlers) and frees. */
void wm_httpd_free(struct wm_httpd *h);

/* Routes, tried in the order added.  method NULL matches any method.  A
 * path ending in '/' matches every path under it (a prefix); otherwise it
 * must match exactly.  Unmatched requests get 404.  Add before start. */
int wm_httpd_route(struct wm_httpd *h, const char *method, const char *path,
                   wm_httpd_handler fn, void *arg);
/* Adds /metrics (from m), /healthz and /readyz. */
int wm_httpd_ops(struct wm_httpd *h, struct wm_metrics *m);
/* A named readiness check for /readyz. */
int wm_httpd_ready_check(struct wm_httpd *h, const char *name, wm_httpd_check_fn fn, void *arg);

int wm_httpd_start(struct wm_httpd *h, char *err, size_t errlen);
/* The bound port (after listening on port 0). */
int wm_httpd_port(const struct wm_httpd *h);
bool wm_httpd_tls(const struct wm_httpd *h);

/* --- response helpers --- */
/* A formatted body with status and content type (NULL = text/plain). */
int wm_httpd_reply(struct wm_httpd_resp *resp, int status, const char *content_type,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Takes ownership of body (malloc'd, body_len bytes). */
void wm_httpd_reply_owned(struct wm_httpd_resp *resp, int status, const char *content_type,
                          char *body, size_t body_len);
int wm_httpd_add_header(struct wm_httpd_resp *resp, const char *name, const char *value);

#endif
