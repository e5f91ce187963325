/* tls: mutual TLS 1.3 over loopback — a valid pair talks, everything else
 * (no certificate, another CA on either side, expired, TLS 1.2) is refused
 * during the handshake with a sentence that says why. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "../support/tls_fixture.h"
#include "tls.h"

#define ROUNDTRIP_LEN (6u << 20)

/* ------------------------------------------------------------- fixture */

struct pki {
    char root[256];  /* the factory CA and its identities */
    char other[256]; /* an unrelated CA */
};

static char *path_of(char *buf, size_t len, const char *root, const char *name)
{
    snprintf(buf, len, "%s/%s", root, name);
    return buf;
}

static int pki_setup(void **state)
{
    struct pki *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    assert_int_equal(tls_fixture_new(p->root, sizeof(p->root)), 0);
    assert_int_equal(tls_fixture_new(p->other, sizeof(p->other)), 0);
    assert_int_equal(tls_fixture_issue(p->root, "recv1", "receiver", 0, 0), 0);
    assert_int_equal(tls_fixture_issue(p->root, "agent1", "agent", 0, 0), 0);
    /* expired: valid for one day, three days ago */
    assert_int_equal(tls_fixture_issue(p->root, "old-agent", "agent", 1, 3 * 86400L), 0);
    /* identities from the other CA that trust ours: only their own
     * certificate is wrong */
    char dir[512];
    assert_int_equal(tls_fixture_issue(p->other, "rogue-agent", "agent", 0, 0), 0);
    assert_int_equal(tls_fixture_issue(p->other, "rogue-recv", "receiver", 0, 0), 0);
    assert_int_equal(tls_fixture_trust(path_of(dir, sizeof(dir), p->other, "rogue-agent"), p->root),
                     0);
    assert_int_equal(tls_fixture_trust(path_of(dir, sizeof(dir), p->other, "rogue-recv"), p->root),
                     0);
    *state = p;
    return 0;
}

static int pki_teardown(void **state)
{
    struct pki *p = *state;
    tls_fixture_free(p->root);
    tls_fixture_free(p->other);
    free(p);
    return 0;
}

/* -------------------------------------------------------------- server */

enum server_mode { SERVE_ECHO, SERVE_WAIT_EOF, SERVE_CLOSE };

struct server {
    char dir[512];
    enum server_mode mode;
    int lfd, port;
    pthread_t thread;
    /* results */
    int accepted;
    char err[512];
    char peer_name[64], peer_role[16];
    int io_rc;
    int io_timeout_ms; /* of the accepted socket; 0 = 5000 */
};

static void serve_conn(struct server *s, struct wm_tls_conn *c)
{
    if (s->mode == SERVE_ECHO) {
        char *buf = malloc(ROUNDTRIP_LEN);
        s->io_rc = wm_tls_read_full(c, buf, ROUNDTRIP_LEN);
        if (s->io_rc == 0)
            s->io_rc = wm_tls_write_full(c, buf, ROUNDTRIP_LEN);
        free(buf);
    } else if (s->mode == SERVE_WAIT_EOF) {
        char b;
        s->io_rc = wm_tls_read_full(c, &b, 1); /* until the client goes */
    }
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    char err[512];
    struct wm_tls_ctx *ctx = wm_tls_ctx_new(s->dir, WM_TLS_SERVER, s->err, sizeof(s->err));
    int fd = wm_tcp_accept(s->lfd, s->io_timeout_ms ? s->io_timeout_ms : 5000, err, sizeof(err));
    if (ctx == NULL || fd < 0) {
        if (fd >= 0)
            close(fd);
        wm_tls_ctx_free(ctx);
        return NULL;
    }
    struct wm_tls_conn *c = wm_tls_accept(ctx, fd, s->err, sizeof(s->err));
    if (c) {
        s->accepted = 1;
        snprintf(s->peer_name, sizeof(s->peer_name), "%s", wm_tls_peer_name(c));
        snprintf(s->peer_role, sizeof(s->peer_role), "%s", wm_tls_peer_role(c));
        serve_conn(s, c);
        wm_tls_close(c);
    }
    wm_tls_ctx_free(ctx);
    return NULL;
}

/* Serves one connection of identity root/name; io_timeout_ms 0 = 5000. */
static void server_start_timeout(struct server *s, const char *root, const char *name,
                                 enum server_mode mode, int io_timeout_ms)
{
    char err[512];
    memset(s, 0, sizeof(*s));
    s->io_timeout_ms = io_timeout_ms;
    path_of(s->dir, sizeof(s->dir), root, name);
    s->mode = mode;
    s->lfd = wm_tcp_listen("127.0.0.1:0", 4, err, sizeof(err));
    assert_true(s->lfd >= 0);
    s->port = wm_tcp_local_port(s->lfd);
    assert_true(s->port > 0);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void server_start(struct server *s, const char *root, const char *name,
                         enum server_mode mode)
{
    server_start_timeout(s, root, name, mode, 0);
}

static void server_join(struct server *s)
{
    pthread_join(s->thread, NULL);
    close(s->lfd);
}

/* -------------------------------------------------------------- client */

static int client_fd(const struct server *s, int io_timeout_ms)
{
    char hp[64], err[512];
    snprintf(hp, sizeof(hp), "127.0.0.1:%d", s->port);
    int fd = wm_tcp_connect(hp, 2000, io_timeout_ms, err, sizeof(err));
    if (fd < 0)
        fail_msg("connect: %s", err);
    return fd;
}

/* wm_tls_connect with the identity root/name; conn or NULL with err. */
static struct wm_tls_conn *client_connect(const struct server *s, const char *root,
                                          const char *name, struct wm_tls_ctx **ctx, char *err,
                                          size_t errlen)
{
    char dir[512];
    *ctx = wm_tls_ctx_new(path_of(dir, sizeof(dir), root, name), WM_TLS_CLIENT, err, errlen);
    assert_non_null(*ctx);
    return wm_tls_connect(*ctx, client_fd(s, 5000), err, errlen);
}

/* A raw OpenSSL client: trusts root's CA, presents root/name's certificate
 * unless name is NULL, speaks at most max_version.  Returns 1 if the
 * handshake and a read of the server's first byte both succeeded. */
static int raw_client(const struct server *s, const char *root, const char *name, int max_version)
{
    char path[1024];
    SSL_CTX *sc = SSL_CTX_new(TLS_client_method());
    assert_non_null(sc);
    SSL_CTX_set_max_proto_version(sc, max_version);
    assert_int_equal(
        SSL_CTX_load_verify_locations(sc, path_of(path, sizeof(path), root, "ca.crt"), NULL), 1);
    if (name) {
        char dir[512];
        path_of(dir, sizeof(dir), root, name);
        assert_int_equal(SSL_CTX_use_certificate_file(
                             sc, path_of(path, sizeof(path), dir, "cert.pem"), SSL_FILETYPE_PEM),
                         1);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(
                             sc, path_of(path, sizeof(path), dir, "key.pem"), SSL_FILETYPE_PEM),
                         1);
    }
    SSL_CTX_set_verify(sc, SSL_VERIFY_PEER, NULL);
    SSL *ssl = SSL_new(sc);
    int fd = client_fd(s, 5000);
    SSL_set_fd(ssl, fd);
    unsigned char b;
    size_t got;
    int ok = SSL_connect(ssl) == 1 && SSL_read_ex(ssl, &b, 1, &got) == 1;
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
    SSL_CTX_free(sc);
    return ok;
}

static void assert_contains(const char *hay, const char *needle)
{
    print_message("    message: %s\n", hay);
    if (strstr(hay, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

/* --------------------------------------------------------------- tests */

static void test_valid_pair_handshakes_and_roundtrips_megabytes(void **state)
{
    struct pki *p = *state;
    struct server s;
    struct wm_tls_ctx *ctx;
    char err[512] = "";
    server_start(&s, p->root, "recv1", SERVE_ECHO);
    struct wm_tls_conn *c = client_connect(&s, p->root, "agent1", &ctx, err, sizeof(err));
    if (c == NULL)
        fail_msg("client: %s", err);
    assert_string_equal(wm_tls_peer_name(c), "recv1");
    assert_string_equal(wm_tls_peer_role(c), "receiver");

    unsigned char *out = malloc(ROUNDTRIP_LEN), *back = malloc(ROUNDTRIP_LEN);
    for (size_t i = 0; i < ROUNDTRIP_LEN; i++)
        out[i] = (unsigned char)(i * 2654435761u >> 13);
    assert_int_equal(wm_tls_write_full(c, out, ROUNDTRIP_LEN), 0);
    assert_int_equal(wm_tls_read_full(c, back, ROUNDTRIP_LEN), 0);
    assert_memory_equal(out, back, ROUNDTRIP_LEN);
    /* the server closed after echoing: a clean EOF */
    assert_int_equal(wm_tls_read_full(c, back, 1), -ENODATA);
    wm_tls_close(c);
    server_join(&s);
    assert_int_equal(s.accepted, 1);
    assert_int_equal(s.io_rc, 0);
    assert_string_equal(s.peer_name, "agent1");
    assert_string_equal(s.peer_role, "agent");
    free(out);
    free(back);
    wm_tls_ctx_free(ctx);
}

static void test_client_without_certificate_is_cut_off(void **state)
{
    struct pki *p = *state;
    struct server s;
    server_start(&s, p->root, "recv1", SERVE_WAIT_EOF);
    assert_false(raw_client(&s, p->root, NULL, TLS1_3_VERSION));
    server_join(&s);
    assert_int_equal(s.accepted, 0);
    assert_string_equal(s.err, "peer presented no certificate");
}

static void test_client_cert_from_another_ca_is_refused_both_ends(void **state)
{
    struct pki *p = *state;
    struct server s;
    struct wm_tls_ctx *ctx;
    char err[512] = "";
    server_start(&s, p->root, "recv1", SERVE_WAIT_EOF);
    struct wm_tls_conn *c = client_connect(&s, p->other, "rogue-agent", &ctx, err, sizeof(err));
    assert_null(c);
    server_join(&s);
    assert_int_equal(s.accepted, 0);
    assert_contains(s.err, "certificate verify failed: unable to get local issuer certificate");
    assert_contains(err, "peer refused our certificate");
    wm_tls_ctx_free(ctx);
}

static void test_server_cert_from_another_ca_is_refused_by_client(void **state)
{
    struct pki *p = *state;
    struct server s;
    struct wm_tls_ctx *ctx;
    char err[512] = "";
    server_start(&s, p->other, "rogue-recv", SERVE_WAIT_EOF);
    struct wm_tls_conn *c = client_connect(&s, p->root, "agent1", &ctx, err, sizeof(err));
    assert_null(c);
    assert_contains(err, "certificate verify failed: unable to get local issuer certificate");
    server_join(&s);
    assert_int_equal(s.accepted, 0);
    assert_contains(s.err, "peer refused our certificate");
    wm_tls_ctx_free(ctx);
}

static void test_expired_client_certificate_is_refused(void **state)
{
    struct pki *p = *state;
    struct server s;
    struct wm_tls_ctx *ctx;
    char err[512] = "";
    server_start(&s, p->root, "recv1", SERVE_WAIT_EOF);
    assert_null(client_connect(&s, p->root, "old-agent", &ctx, err, sizeof(err)));
    server_join(&s);
    assert_int_equal(s.accepted, 0);
    assert_contains(s.err, "certificate verify failed: certificate has expired");
    assert_contains(err, "peer refused our certificate");
    wm_tls_ctx_free(ctx);
}

static void test_tls12_client_is_refused(void **state)
{
    struct pki *p = *state;
    struct server s;
    server_start(&s, p->root, "recv1", SERVE_WAIT_EOF);
    assert_false(raw_client(&s, p->root, "agent1", TLS1_2_VERSION));
    server_join(&s);
    assert_int_equal(s.accepted, 0);
    assert_contains(s.err, "TLS 1.3");
}

static void test_raw_tls13_client_with_valid_cert_is_accepted(void **state)
{
    /* guards the refusal tests: the raw client itself is not the problem */
    struct pki *p = *state;
    struct server s;
    server_start(&s, p->root, "recv1", SERVE_WAIT_EOF);
    assert_true(raw_client(&s, p->root, "agent1", TLS1_3_VERSION));
    server_join(&s);
    assert_int_equal(s.accepted, 1);
}

static void test_read_times_out_on_silent_peer(void **state)
{
    struct pki *p = *state;
    struct server s;
    char err[512] = "", dir[512];
    server_start(&s, p->root, "recv1", SERVE_WAIT_EOF);
    struct wm_tls_ctx *ctx = wm_tls_ctx_new(path_of(dir, sizeof(dir), p->root, "agent1"),
                                            WM_TLS_CLIENT, err, sizeof(err));
    assert_non_null(ctx);
    struct wm_tls_conn *c = wm_tls_connect(ctx, client_fd(&s, 200), err, sizeof(err));
    assert_non_null(c);
    char b;
    assert_int_equal(wm_tls_read_full(c, &b, 1), -ETIMEDOUT);
    assert_string_equal(wm_tls_last_error(c), "timed out");
    wm_tls_close(c);
    server_join(&s);
    assert_int_equal(s.accepted, 1);
    wm_tls_ctx_free(ctx);
}

static volatile sig_atomic_t g_sigpipes;

static void on_sigpipe(int sig)
{
    (void)sig;
    g_sigpipes++;
}

static void test_writing_to_a_vanished_peer_fails_without_sigpipe(void **state)
{
    struct pki *p = *state;
    struct server s;
    struct wm_tls_ctx *ctx;
    char err[512] = "";
    static char chunk[64 * 1024];
    server_start(&s, p->root, "recv1", SERVE_CLOSE);
    struct wm_tls_conn *c = client_connect(&s, p->root, "agent1", &ctx, err, sizeof(err));
    assert_non_null(c);
    server_join(&s); /* the server's socket is closed now */
    sig_atomic_t before = g_sigpipes;
    int rc = 0;
    for (int i = 0; i < 200 && rc == 0; i++) /* the first writes may still be buffered */
        rc = wm_tls_write_full(c, chunk, sizeof(chunk));
    assert_true(rc == -EPIPE || rc == -ECONNRESET);
    assert_int_equal(g_sigpipes, before);
    print_message("    write after peer left: %s\n", wm_tls_last_error(c));
    wm_tls_close(c);
    wm_tls_ctx_free(ctx);
}

static void test_silent_client_times_out_the_handshake(void **state)
{
    struct pki *p = *state;
    struct server s;
    server_start_timeout(&s, p->root, "recv1", SERVE_WAIT_EOF, 200);
    int fd = client_fd(&s, 5000); /* TCP only: never says hello */
    server_join(&s);
    close(fd);
    assert_int_equal(s.accepted, 0);
    assert_contains(s.err, "timed out");
}

static void test_ctx_names_the_missing_file(void **state)
{
    struct pki *p = *state;
    char err[512] = "";
    assert_null(wm_tls_ctx_new(p->root, WM_TLS_CLIENT, err, sizeof(err))); /* CA dir: no cert.pem */
    assert_contains(err, "cert.pem");
}

static void test_tcp_rejects_bad_addresses(void **state)
{
    (void)state;
    char err[512] = "";
    assert_int_equal(wm_tcp_connect("no-port", 100, 0, err, sizeof(err)), -EINVAL);
    assert_contains(err, "HOST:PORT");
    assert_int_equal(wm_tcp_listen("::1:80", 1, err, sizeof(err)), -EINVAL);
    int lfd = wm_tcp_listen("[::1]:0", 1, err, sizeof(err));
    if (lfd >= 0) /* IPv6 may be disabled in the sandbox */
        close(lfd);
}

int main(void)
{
    /* count SIGPIPEs instead of ignoring them: the transport must not raise any */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigpipe;
    sigaction(SIGPIPE, &sa, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_pair_handshakes_and_roundtrips_megabytes),
        cmocka_unit_test(test_client_without_certificate_is_cut_off),
        cmocka_unit_test(test_client_cert_from_another_ca_is_refused_both_ends),
        cmocka_unit_test(test_server_cert_from_another_ca_is_refused_by_client),
        cmocka_unit_test(test_expired_client_certificate_is_refused),
        cmocka_unit_test(test_tls12_client_is_refused),
        cmocka_unit_test(test_raw_tls13_client_with_valid_cert_is_accepted),
        cmocka_unit_test(test_read_times_out_on_silent_peer),
        cmocka_unit_test(test_writing_to_a_vanished_peer_fails_without_sigpipe),
        cmocka_unit_test(test_silent_client_times_out_the_handshake),
        cmocka_unit_test(test_ctx_names_the_missing_file),
        cmocka_unit_test(test_tcp_rejects_bad_addresses),
    };
    return cmocka_run_group_tests(tests, pki_setup, pki_teardown);
}
