/* xport — the byte pipe under the replicator's frames.
 *
 * A struct of read_full/write_full so the engine runs the same over mTLS
 * (production), a plain socket (unit tests, socketpair) or anything a test
 * wants to interpose.  Both calls move exactly len bytes or fail with a
 * negative errno (-ENODATA: clean EOF before the first byte). */
#ifndef REPL_XPORT_H
#define REPL_XPORT_H

#include <stdbool.h>
#include <stddef.h>

struct wm_tls_conn;
struct wm_tls_ctx;

struct xport {
    int (*read_full)(void *h, void *buf, size_t len);
    int (*write_full)(void *h, const void *buf, size_t len);
    void (*close)(void *h);
    void *h;
    char peer_name[128]; /* certificate CN, or "" on plain sockets */
    char peer_role[16];  /* certificate role, or "" */
    char peer_server[128]; /* server the certificate is bound to (pki.h), or "" */
    size_t peer_volumes;   /* volumes it names; 0 = unbound */
};

/* Whether the peer's certificate allows volume: a bound certificate (one
 * naming volumes) allows only those; an unbound one or a plain socket,
 * any (the receiver's policy decides about unbound agents). */
bool xport_may_volume(const struct xport *x, const char *volume);

/* Takes ownership of fd. NULL on ENOMEM (fd closed). */
struct xport *xport_from_fd(int fd);
/* Takes ownership of the TLS connection. */
struct xport *xport_from_tls(struct wm_tls_conn *c);

/* Dials HOST:PORT: TLS client when ctx is given, plain TCP otherwise.
 * io_timeout_ms bounds every read/write (0 = none). */
struct xport *xport_dial(const char *hostport, struct wm_tls_ctx *ctx, int io_timeout_ms, char *err,
                         size_t errlen);
/* xport_dial, then (TLS only) refuses a peer whose certificate role is not
 * role: an agent sends volumes only to a "receiver", a worker drives only an
 * "agent". */
struct xport *xport_dial_role(const char *hostport, struct wm_tls_ctx *ctx, int io_timeout_ms,
                              const char *role, char *err, size_t errlen);
/* Server side of an accepted fd: TLS accept when ctx is given. */
struct xport *xport_accept(int fd, struct wm_tls_ctx *ctx, char *err, size_t errlen);

int xport_read(struct xport *x, void *buf, size_t len);
int xport_write(struct xport *x, const void *buf, size_t len);
/* Closes and frees; NULL ok. */
void xport_free(struct xport *x);

#endif
