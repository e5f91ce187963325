/* One identity per source (issue 9, finding 2), over real mTLS:
 *   - a source's certificate names its server and volumes (pki.h); with it
 *     the source syncs its own volume, and may not begin, stream, commit,
 *     read the map of or verify another server's volume (that volume is
 *     left byte for byte as it was);
 *   - `wm_pki_revoke` writes a CRL that the running receiver and the
 *     running agent control port pick up without a restart: the revoked
 *     source and the revoked worker are refused at the handshake, others
 *     go on;
 *   - a receiver that requires bound certificates refuses an unbound one;
 *   - a bound source certificate expires in weeks, not years. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../support/repl_fixture.h"
#include "../support/tls_fixture.h"
#include "control.h"
#include "frame.h"
#include "pki.h"
#include "proto.h"
#include "receiver.h"
#include "repl_client.h"
#include "sync.h"
#include "tls.h"
#include "xport.h"

#define SRC_SIZE (2u << 20)

static char pki[256], root[300], src[300], hostport[64], agent_addr[64];
static volatile sig_atomic_t stop_flag;
static struct control_opts co;
static int afd;

static int issue(const char *name, const char *server, const char *volume)
{
    char err[512];
    const char *vols[] = {volume};
    struct wm_pki_issue_req req = {.name = name,
                                   .role = "agent",
                                   .server = server,
                                   .volumes = volume ? vols : NULL,
                                   .nvolumes = volume ? 1 : 0};
    if (wm_pki_issue(pki, &req, err, sizeof(err)) < 0) {
        print_error("issue %s: %s\n", name, err);
        return -1;
    }
    return 0;
}

static struct wm_tls_ctx *ctx_of(const char *name, enum wm_tls_side side)
{
    char dir[400], err[512];
    snprintf(dir, sizeof(dir), "%s/%s", pki, name);
    struct wm_tls_ctx *c = wm_tls_ctx_new(dir, side, err, sizeof(err));
    if (!c)
        fail_msg("tls %s: %s", name, err);
    return c;
}

static void *agent_thread(void *arg)
{
    (void)arg;
    control_serve(&co, afd, &stop_flag);
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    char err[512], sd[400];
    signal(SIGPIPE, SIG_IGN);
    if (repl_fixture_pki(pki, sizeof(pki), root, sizeof(root), 1) < 0)
        return -1;
    if (issue("srv-a-agent", "srv-a", "srv-a-disk0") < 0 ||
        issue("srv-b-agent", "srv-b", "srv-b-disk0") < 0 ||
        tls_fixture_issue(pki, "worker2", "worker", 0, 0) < 0)
        return -1;
    if (repl_fixture_receiver(pki, root, hostport, sizeof(hostport), &stop_flag, err, sizeof(err)) <
        0)
        return -1;
    /* srv-b's resident agent, driven by workers over its control port */
    snprintf(sd, sizeof(sd), "%s/agent-state", pki);
    static char state_dir[400];
    snprintf(state_dir, sizeof(state_dir), "%s", sd);
    co = (struct control_opts){.server_tls = ctx_of("srv-b-agent", WM_TLS_SERVER),
                               .client_tls = ctx_of("srv-b-agent", WM_TLS_CLIENT),
                               .state_dir = state_dir,
                               .progress_ms = 200};
    afd = repl_fixture_listen(agent_addr, sizeof(agent_addr));
    pthread_t t;
    pthread_create(&t, NULL, agent_thread, NULL);
    pthread_detach(t);
    snprintf(src, sizeof(src), "%s/src.img", pki);
    return repl_fixture_random_file(src, SRC_SIZE, 0);
}

static int teardown(void **state)
{
    (void)state;
    tls_fixture_free(pki);
    return 0;
}

static int sync_as(struct wm_tls_ctx *ctx, const char *to, const char *volume, char *err,
                   size_t errlen)
{
    struct sync_opts so;
    struct sync_result res;
    char sd[400];
    sync_opts_defaults(&so);
    snprintf(sd, sizeof(sd), "%s/state-%s", pki, volume);
    so.disk = src, so.volume = volume, so.to = to, so.state_dir = sd, so.tls = ctx;
    return sync_run(&so, &res, err, errlen);
}

/* One request frame as ctx's identity; returns the ERROR code (0: none). */
static int request(struct wm_tls_ctx *ctx, uint8_t type, const uint8_t *p, long n, char *text,
                   size_t textlen)
{
    char err[600];
    uint8_t *rb = NULL, t = 0;
    size_t cap = 0;
    struct xport *x = xport_dial(hostport, ctx, 5000, err, sizeof(err));
    assert_non_null(x);
    frame_send(x, type, p, (uint32_t)n);
    int got = frame_recv(x, &t, &rb, &cap, FRAME_MAX_PAYLOAD, err, sizeof(err));
    int code = 0;
    if (got >= 0 && t == FRAME_ERROR) {
        struct proto_error e;
        assert_int_equal(proto_error_decode(rb, (size_t)got, &e), 0);
        code = (int)e.code;
        snprintf(text, textlen, "%s", e.text);
    }
    free(rb);
    xport_free(x);
    return code;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    char *b = malloc(*len + 1);
    if (fread(b, 1, *len, f) != *len)
        *len = 0;
    fclose(f);
    return b;
}

static void test_source_syncs_its_own_volume(void **state)
{
    (void)state;
    char err[512];
    struct wm_tls_ctx *a = ctx_of("srv-a-agent", WM_TLS_CLIENT),
                      *b = ctx_of("srv-b-agent", WM_TLS_CLIENT);
    if (sync_as(a, hostport, "srv-a-disk0", err, sizeof(err)) < 0)
        fail_msg("srv-a's own sync: %s", err);
    if (sync_as(b, hostport, "srv-b-disk0", err, sizeof(err)) < 0)
        fail_msg("srv-b's own sync: %s", err);
    wm_tls_ctx_free(a);
    wm_tls_ctx_free(b);
    /* issue 9 (low): NAME.state was 0644 */
    char p[400];
    struct stat st;
    snprintf(p, sizeof(p), "%s/srv-a-disk0.state", root);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

/* The attack of the issue: BEGIN size 0 + COMMIT on another server's
 * committed volume, its map, a sync over it. */
static void test_source_cannot_touch_another_servers_volume(void **state)
{
    (void)state;
    char p[400], text[PROTO_TEXT_MAX], err[512];
    size_t l0, l1;
    snprintf(p, sizeof(p), "%s/srv-b-disk0.img", root);
    char *before = slurp(p, &l0);
    assert_non_null(before);
    struct wm_tls_ctx *a = ctx_of("srv-a-agent", WM_TLS_CLIENT);
    uint8_t buf[512];
    struct proto_begin bg = {.volume = "srv-b-disk0", .size = 0, .bs = 4096, .nranges = 1};
    assert_int_equal(
        request(a, FRAME_BEGIN, buf, proto_begin_encode(&bg, buf, sizeof(buf)), text, sizeof(text)),
        PROTO_E_AUTH);
    assert_non_null(strstr(text, "may not touch volume 'srv-b-disk0'"));
    struct proto_commit cm = {.volume = "srv-b-disk0", .gen = 2, .epoch = 1};
    assert_int_equal(request(a, FRAME_COMMIT, buf, proto_commit_encode(&cm, buf, sizeof(buf)), text,
                             sizeof(text)),
                     PROTO_E_AUTH);
    struct proto_stream st = {.volume = "srv-b-disk0", .gen = 2, .epoch = 1};
    assert_int_equal(request(a, FRAME_STREAM, buf, proto_stream_encode(&st, buf, sizeof(buf)), text,
                             sizeof(text)),
                     PROTO_E_AUTH);
    struct proto_map_req mr = {.volume = "srv-b-disk0", .sha256 = 1};
    assert_int_equal(request(a, FRAME_MAP_REQ, buf, proto_map_req_encode(&mr, buf, sizeof(buf)),
                             text, sizeof(text)),
                     PROTO_E_AUTH);
    assert_true(sync_as(a, hostport, "srv-b-disk0", err, sizeof(err)) < 0);
    wm_tls_ctx_free(a);
    char *after = slurp(p, &l1);
    assert_true(l0 == l1 && memcmp(before, after, l0) == 0);
    free(before);
    free(after);
}

static int control_sync(const char *worker, const char *id, char *err, size_t errlen)
{
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/%s", pki, worker);
    struct repl_client *c = repl_client_new(dir, err, errlen);
    if (!c)
        return -1;
    struct repl_client_req req = {
        .op = REPL_CLIENT_SYNC, .id = id, .disk = src, .volume = "srv-b-disk0", .to = hostport};
    struct repl_client_result res;
    int rc = repl_client_run(c, agent_addr, &req, NULL, NULL, 30000, &res, err, errlen);
    repl_client_free(c);
    if (rc == 0 && res.rc != 0)
        snprintf(err, errlen, "%s", res.text);
    return rc < 0 ? rc : res.rc;
}

static void test_revocation_is_picked_up_by_running_receiver_and_agent(void **state)
{
    (void)state;
    char err[512];
    /* before: worker2 drives srv-b's agent */
    if (control_sync("worker2", "before-revoke", err, sizeof(err)) != 0)
        fail_msg("control sync before revocation: %s", err);
    assert_int_equal(wm_pki_revoke(pki, "srv-a-agent", err, sizeof(err)), 0);
    assert_int_equal(wm_pki_revoke(pki, "worker2", err, sizeof(err)), 0);
    assert_int_equal(wm_pki_revoke(pki, "worker2", err, sizeof(err)), 0); /* twice is fine */
    struct wm_tls_ctx *a = ctx_of("srv-a-agent", WM_TLS_CLIENT);
    assert_true(sync_as(a, hostport, "srv-a-disk0", err, sizeof(err)) < 0);
    if (!strstr(err, "revoked"))
        fail_msg("refusal of the revoked source does not say revoked: %s", err);
    wm_tls_ctx_free(a);
    assert_true(control_sync("worker2", "after-revoke", err, sizeof(err)) != 0);
    if (!strstr(err, "revoked"))
        fail_msg("refusal of the revoked worker does not say revoked: %s", err);
    /* the others go on, on the same running daemons */
    struct wm_tls_ctx *b = ctx_of("srv-b-agent", WM_TLS_CLIENT);
    if (sync_as(b, hostport, "srv-b-disk0", err, sizeof(err)) < 0)
        fail_msg("srv-b after revoking srv-a: %s", err);
    wm_tls_ctx_free(b);
    if (control_sync("worker1", "other-worker", err, sizeof(err)) != 0)
        fail_msg("worker1 after revoking worker2: %s", err);
}

struct serve_arg {
    struct receiver *r;
    int fd;
};

static void *serve_thread(void *p)
{
    struct serve_arg *a = p;
    receiver_serve(a->r, a->fd, &stop_flag);
    return NULL;
}

static void test_receiver_requiring_bindings_refuses_unbound_agent(void **state)
{
    (void)state;
    char err[512], addr[64], rroot[400];
    snprintf(rroot, sizeof(rroot), "%s/root-strict", pki);
    mkdir(rroot, 0700);
    struct receiver_opts o = {.root = rroot, .io_timeout_ms = 10000, .require_bound = true};
    o.tls = ctx_of("recv1", WM_TLS_SERVER);
    struct receiver *r = receiver_new(&o, err, sizeof(err));
    assert_non_null(r);
    static struct serve_arg sa;
    sa = (struct serve_arg){r, repl_fixture_listen(addr, sizeof(addr))};
    pthread_t t;
    pthread_create(&t, NULL, serve_thread, &sa);
    pthread_detach(t);
    struct wm_tls_ctx *unbound = ctx_of("agent1", WM_TLS_CLIENT),
                      *b = ctx_of("srv-b-agent", WM_TLS_CLIENT);
    assert_true(sync_as(unbound, addr, "anything", err, sizeof(err)) < 0);
    if (!strstr(err, "not bound"))
        fail_msg("refusal does not say why: %s", err);
    if (sync_as(b, addr, "srv-b-disk0", err, sizeof(err)) < 0)
        fail_msg("bound srv-b refused by a strict receiver: %s", err);
    wm_tls_ctx_free(unbound);
    wm_tls_ctx_free(b);
}

static void test_source_certificate_expires_in_weeks(void **state)
{
    (void)state;
    char p[400];
    snprintf(p, sizeof(p), "%s/srv-b-agent/cert.pem", pki);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    X509 *c = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(c);
    int days = 0, secs = 0;
    assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(c)), 1);
    assert_true(days <= WM_PKI_AGENT_DAYS && days >= WM_PKI_AGENT_DAYS - 1);
    X509_free(c);
}

/* Issue 9 (low): the receiver used to start with an expired certificate
 * and fail every connection; now it refuses to start, saying why. */
static void test_receiver_refuses_to_start_with_an_expired_certificate(void **state)
{
    (void)state;
    char cmd[2048], out[600] = "";
    const char *b = getenv("WM_BIN");
    assert_int_equal(tls_fixture_issue(pki, "recv-old", "receiver", 1, 3 * 86400L), 0);
    snprintf(cmd, sizeof(cmd),
             "timeout 10 '%s/wavemill-receiver' serve --listen 127.0.0.1:0 --root '%s' "
             "--tls-dir '%s/recv-old' 2>&1; echo rc=$?",
             b && *b ? b : "bin", root, pki);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    pclose(p);
    if (!strstr(out, "expired on") || !strstr(out, "rc=1"))
        fail_msg("expected a refusal naming the expiry, got: %s", out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_syncs_its_own_volume),
        cmocka_unit_test(test_source_cannot_touch_another_servers_volume),
        cmocka_unit_test(test_revocation_is_picked_up_by_running_receiver_and_agent),
        cmocka_unit_test(test_receiver_requiring_bindings_refuses_unbound_agent),
        cmocka_unit_test(test_source_certificate_expires_in_weeks),
        cmocka_unit_test(test_receiver_refuses_to_start_with_an_expired_certificate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
