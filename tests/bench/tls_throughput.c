/* tls_throughput — bytes/s through one wavemill TLS connection on loopback.
 * Not a test: a figure for the record.
 *
 *   cc -O2 -D_GNU_SOURCE -Icommon tests/bench/tls_throughput.c \
 *      common/tls.c common/pki.c tests/support/tls_fixture.c -lssl -lcrypto -lpthread \
 *      -o /tmp/tls_throughput && /tmp/tls_throughput [MiB] [write-KiB]
 *
 * Sends MiB (default 1024) from a client thread to a server thread that
 * reads it, both through wm_tls_write_full/wm_tls_read_full. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../support/tls_fixture.h"
#include "tls.h"

static char g_root[256];
static size_t g_total, g_chunk;
static int g_lfd;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *server_main(void *arg)
{
    (void)arg;
    char dir[512], err[512];
    snprintf(dir, sizeof(dir), "%s/recv", g_root);
    struct wm_tls_ctx *ctx = wm_tls_ctx_new(dir, WM_TLS_SERVER, err, sizeof(err));
    int fd = wm_tcp_accept(g_lfd, 10000, err, sizeof(err));
    struct wm_tls_conn *c = ctx && fd >= 0 ? wm_tls_accept(ctx, fd, err, sizeof(err)) : NULL;
    if (c == NULL) {
        fprintf(stderr, "server: %s\n", err);
        exit(1);
    }
    char *buf = malloc(g_chunk);
    for (size_t got = 0; got < g_total; got += g_chunk)
        if (wm_tls_read_full(c, buf, g_chunk) != 0) {
            fprintf(stderr, "server read: %s\n", wm_tls_last_error(c));
            exit(1);
        }
    char ack = 1;
    wm_tls_write_full(c, &ack, 1);
    free(buf);
    wm_tls_close(c);
    wm_tls_ctx_free(ctx);
    return NULL;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    g_total = (size_t)(argc > 1 ? atol(argv[1]) : 1024) << 20;
    g_chunk = (size_t)(argc > 2 ? atol(argv[2]) : 1024) << 10;
    g_total -= g_total % g_chunk;
    char err[512], dir[512], hp[64];
    if (tls_fixture_new(g_root, sizeof(g_root)) < 0 ||
        tls_fixture_issue(g_root, "recv", "receiver", 0, 0) < 0 ||
        tls_fixture_issue(g_root, "agent", "agent", 0, 0) < 0)
        return 1;
    g_lfd = wm_tcp_listen("127.0.0.1:0", 4, err, sizeof(err));
    snprintf(hp, sizeof(hp), "127.0.0.1:%d", wm_tcp_local_port(g_lfd));
    pthread_t th;
    pthread_create(&th, NULL, server_main, NULL);

    snprintf(dir, sizeof(dir), "%s/agent", g_root);
    struct wm_tls_ctx *ctx = wm_tls_ctx_new(dir, WM_TLS_CLIENT, err, sizeof(err));
    double t0 = now_s();
    struct wm_tls_conn *c =
        ctx ? wm_tls_connect(ctx, wm_tcp_connect(hp, 2000, 10000, err, sizeof(err)), err,
                             sizeof(err))
            : NULL;
    if (c == NULL) {
        fprintf(stderr, "client: %s\n", err);
        return 1;
    }
    double t1 = now_s();
    unsigned char *buf = malloc(g_chunk);
    for (size_t i = 0; i < g_chunk; i++)
        buf[i] = (unsigned char)(i * 131u);
    for (size_t sent = 0; sent < g_total; sent += g_chunk)
        if (wm_tls_write_full(c, buf, g_chunk) != 0) {
            fprintf(stderr, "client write: %s\n", wm_tls_last_error(c));
            return 1;
        }
    char ack;
    wm_tls_read_full(c, &ack, 1);
    double t2 = now_s();
    pthread_join(th, NULL);
    printf("handshake %.2f ms; %zu MiB in %.3f s = %.0f MB/s (%.2f GiB/s), writes of %zu KiB\n",
           (t1 - t0) * 1e3, g_total >> 20, t2 - t1, g_total / (t2 - t1) / 1e6,
           g_total / (t2 - t1) / (1 << 30), g_chunk >> 10);
    wm_tls_close(c);
    wm_tls_ctx_free(ctx);
    free(buf);
    tls_fixture_free(g_root);
    return 0;
}
