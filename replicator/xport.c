/* xport — plain-socket and TLS byte pipes (see xport.h). */
#include "xport.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls.h"

static int fd_read_full(void *h, void *buf, size_t len)
{
    int fd = (int)(intptr_t)h;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n == 0)
            return got == 0 ? -ENODATA : -ECONNRESET;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
        }
        got += (size_t)n;
    }
    return 0;
}

static int fd_write_full(void *h, const void *buf, size_t len)
{
    int fd = (int)(intptr_t)h;
    size_t put = 0;
    while (put < len) {
        ssize_t n = send(fd, (const char *)buf + put, len - put, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK)
            n = write(fd, (const char *)buf + put, len - put);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
        }
        put += (size_t)n;
    }
    return 0;
}

static void fd_close(void *h)
{
    close((int)(intptr_t)h);
}

struct xport *xport_from_fd(int fd)
{
    struct xport *x = calloc(1, sizeof(*x));
    if (!x) {
        close(fd);
        return NULL;
    }
    x->read_full = fd_read_full;
    x->write_full = fd_write_full;
    x->close = fd_close;
    x->h = (void *)(intptr_t)fd;
    return x;
}

static int tls_read_full(void *h, void *buf, size_t len)
{
    return wm_tls_read_full(h, buf, len);
}
static int tls_write_full(void *h, const void *buf, size_t len)
{
    return wm_tls_write_full(h, buf, len);
}
static void tls_close(void *h)
{
    wm_tls_close(h);
}

struct xport *xport_from_tls(struct wm_tls_conn *c)
{
    struct xport *x = calloc(1, sizeof(*x));
    if (!x) {
        wm_tls_close(c);
        return NULL;
    }
    x->read_full = tls_read_full;
    x->write_full = tls_write_full;
    x->close = tls_close;
    x->h = c;
    snprintf(x->peer_name, sizeof(x->peer_name), "%s", wm_tls_peer_name(c));
    snprintf(x->peer_role, sizeof(x->peer_role), "%s", wm_tls_peer_role(c));
    snprintf(x->peer_server, sizeof(x->peer_server), "%s", wm_tls_peer_server(c));
    x->peer_volumes = wm_tls_peer_volumes(c);
    return x;
}

bool xport_may_volume(const struct xport *x, const char *volume)
{
    return x->close != tls_close || wm_tls_peer_may_volume(x->h, volume);
}

struct xport *xport_dial(const char *hostport, struct wm_tls_ctx *ctx, int io_timeout_ms, char *err,
                         size_t errlen)
{
    int fd = wm_tcp_connect(hostport, 10000, io_timeout_ms, err, errlen);
    if (fd < 0)
        return NULL;
    if (!ctx)
        return xport_from_fd(fd);
    struct wm_tls_conn *c = wm_tls_connect(ctx, fd, err, errlen);
    return c ? xport_from_tls(c) : NULL;
}

struct xport *xport_dial_role(const char *hostport, struct wm_tls_ctx *ctx, int io_timeout_ms,
                              const char *role, char *err, size_t errlen)
{
    struct xport *x = xport_dial(hostport, ctx, io_timeout_ms, err, errlen);
    if (x && ctx && strcmp(x->peer_role, role) != 0) {
        snprintf(err, errlen, "peer %.100s at %.100s has certificate role '%s', not '%s'",
                 x->peer_name, hostport, x->peer_role, role);
        xport_free(x);
        return NULL;
    }
    return x;
}

struct xport *xport_accept(int fd, struct wm_tls_ctx *ctx, char *err, size_t errlen)
{
    if (!ctx)
        return xport_from_fd(fd);
    struct wm_tls_conn *c = wm_tls_accept(ctx, fd, err, errlen);
    return c ? xport_from_tls(c) : NULL;
}

int xport_read(struct xport *x, void *buf, size_t len)
{
    return x->read_full(x->h, buf, len);
}
int xport_write(struct xport *x, const void *buf, size_t len)
{
    return x->write_full(x->h, buf, len);
}

void xport_free(struct xport *x)
{
    if (!x)
        return;
    x->close(x->h);
    free(x);
}
