/* Receiver refusals over real mTLS: corrupted, malformed and oversized
 * frames, escaping volume names, a certificate of the wrong role.  Each
 * refusal comes back as an ERROR with a clear sentence, and nothing of the
 * refused input reaches the target (image and staging compared before and
 * after). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cmocka.h>

#include "../support/repl_fixture.h"
#include "../support/tls_fixture.h"
#include "blockmap.h"
#include "frame.h"
#include "proto.h"
#include "receiver.h"
#include "sync.h"
#include "tls.h"
#include "xport.h"

#define SRC_SIZE (1u << 20)

static char pki[256], root[300], src[300], hostport[64];
static struct wm_tls_ctx *agent_ctx, *worker_ctx;
static volatile sig_atomic_t stop_flag;

static int setup(void **state)
{
    (void)state;
    char err[512], dir[400];
    signal(SIGPIPE, SIG_IGN);
    if (repl_fixture_pki(pki, sizeof(pki), root, sizeof(root), 1) < 0)
        return -1;
    snprintf(dir, sizeof(dir), "%s/agent1", pki);
    agent_ctx = wm_tls_ctx_new(dir, WM_TLS_CLIENT, err, sizeof(err));
    snprintf(dir, sizeof(dir), "%s/worker1", pki);
    worker_ctx = wm_tls_ctx_new(dir, WM_TLS_CLIENT, err, sizeof(err));
    if (!agent_ctx || !worker_ctx)
        return -1;
    if (repl_fixture_receiver(pki, root, hostport, sizeof(hostport), &stop_flag, err, sizeof(err)) <
        0)
        return -1;
    /* generation 1 of volume "v": 1 MiB of random data */
    snprintf(src, sizeof(src), "%s/src.img", pki);
    if (repl_fixture_random_file(src, SRC_SIZE, 0) < 0)
        return -1;
    struct sync_opts so;
    struct sync_result res;
    sync_opts_defaults(&so);
    char sd[400];
    snprintf(sd, sizeof(sd), "%s/state", pki);
    so.disk = src, so.volume = "v", so.to = hostport, so.state_dir = sd, so.tls = agent_ctx;
    return sync_run(&so, &res, err, sizeof(err)) == 0 && res.gen == 1 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tls_fixture_free(pki);
    return 0;
}

/* Whole file contents, for before/after comparisons. */
static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return NULL;
    char *b = malloc((size_t)st.st_size + 1);
    *len = (size_t)st.st_size;
    if (read(fd, b, *len) != (ssize_t)*len) {
        free(b);
        b = NULL;
    }
    close(fd);
    return b;
}

static void target_path(const char *suffix, char *out, size_t n)
{
    snprintf(out, n, "%s/v%s", root, suffix);
}

/* Sends one request frame and returns the reply type; ERROR text into err. */
static uint8_t call(struct xport *x, uint8_t type, const void *p, long n, uint8_t **rb, size_t *cap,
                    int *rlen, char *err, size_t errlen)
{
    uint8_t t = 0;
    err[0] = '\0';
    frame_send(x, type, p, (uint32_t)n); /* a refusing peer may hang up first */
    *rlen = frame_recv(x, &t, rb, cap, FRAME_MAX_PAYLOAD, err, errlen);
    if (*rlen >= 0 && t == FRAME_ERROR) {
        struct proto_error e;
        assert_int_equal(proto_error_decode(*rb, (size_t)*rlen, &e), 0);
        snprintf(err, errlen, "%u:%s", e.code, e.text);
    }
    return *rlen < 0 ? 0 : t;
}

/* A delta session on "v" with one range: returns a stream transport. */
static struct xport *open_stream(void)
{
    char err[600];
    uint8_t buf[512], *rb = NULL;
    size_t cap = 0;
    int rlen;
    struct proto_begin b = {.volume = "v", .size = SRC_SIZE, .bs = 4096, .nranges = 1};
    struct xport *x = xport_dial(hostport, agent_ctx, 5000, err, sizeof(err));
    assert_non_null(x);
    assert_int_equal(call(x, FRAME_BEGIN, buf, proto_begin_encode(&b, buf, sizeof(buf)), &rb, &cap,
                          &rlen, err, sizeof(err)),
                     FRAME_BEGIN_OK);
    struct proto_begin_ok ok;
    assert_int_equal(proto_begin_ok_decode(rb, (size_t)rlen, &ok), 0);
    assert_int_equal(ok.mode, PROTO_MODE_DELTA);
    xport_free(x);
    x = xport_dial(hostport, agent_ctx, 5000, err, sizeof(err));
    struct proto_stream s = {.volume = "v", .gen = ok.pending_gen, .epoch = ok.epoch, .idx = 0};
    assert_int_equal(call(x, FRAME_STREAM, buf, proto_stream_encode(&s, buf, sizeof(buf)), &rb,
                          &cap, &rlen, err, sizeof(err)),
                     FRAME_STREAM_OK);
    free(rb);
    return x;
}

/* Block 0 data that differs from the committed one, and a valid frame of it. */
static long good_frame(uint8_t *out, size_t cap, uint8_t *data)
{
    memset(data, 0xAB, 4096);
    struct frame_entry e = {.off = 0, .len = 4096, .kind = FRAME_KIND_DATA};
    blockmap_digest(data, 4096, &e.digest);
    ZSTD_CCtx *z = ZSTD_createCCtx();
    long n = frame_blocks_encode(out, cap, 4096, &e, 1, data, 4096, z, 1);
    ZSTD_freeCCtx(z);
    return n;
}

/* Sends a BLOCKS payload, expects an ERROR whose text contains want, and
 * checks nothing reached image, map or staging. */
static void expect_refused(const uint8_t *payload, uint32_t len, int raw_header_len,
                           const char *want)
{
    char p[400], err[600];
    size_t l0, l1, m0, m1;
    target_path(".img", p, sizeof(p));
    char *img0 = slurp(p, &l0);
    target_path(".map", p, sizeof(p));
    char *map0 = slurp(p, &m0);
    struct xport *x = open_stream();
    uint8_t hdr[FRAME_HDR_LEN], *rb = NULL, t;
    size_t cap = 0;
    frame_hdr_encode(hdr, FRAME_BLOCKS, raw_header_len ? (uint32_t)raw_header_len : len);
    assert_int_equal(xport_write(x, hdr, sizeof(hdr)), 0);
    if (len)
        xport_write(x, payload, len); /* may fail: the receiver hangs up */
    int n = frame_recv(x, &t, &rb, &cap, FRAME_MAX_PAYLOAD, err, sizeof(err));
    assert_true(n >= 0);
    assert_int_equal(t, FRAME_ERROR);
    struct proto_error e;
    assert_int_equal(proto_error_decode(rb, (size_t)n, &e), 0);
    assert_int_equal(e.code, PROTO_E_FRAME);
    if (!strstr(e.text, want))
        fail_msg("error '%s' does not say '%s'", e.text, want);
    free(rb);
    xport_free(x);
    /* the handler's last checkpoint is written when its connection ends */
    assert_int_equal(repl_fixture_receiver_idle(hostport, 10000), 0);
    target_path(".img", p, sizeof(p));
    char *img1 = slurp(p, &l1);
    target_path(".map", p, sizeof(p));
    char *map1 = slurp(p, &m1);
    assert_true(l0 == l1 && memcmp(img0, img1, l0) == 0);
    assert_true(m0 == m1 && memcmp(map0, map1, m0) == 0);
    /* staging: the delta journal of the range received nothing */
    struct stat jst;
    target_path(".journal.0", p, sizeof(p));
    assert_int_equal(stat(p, &jst), 0);
    assert_int_equal(jst.st_size, 0);
    free(img0), free(img1), free(map0), free(map1);
}

static void test_digest_mismatch_is_refused(void **state)
{
    (void)state;
    uint8_t out[65536], data[4096];
    long n = good_frame(out, sizeof(out), data);
    out[FRAME_BLOCKS_HDR + 16] ^= 0xff; /* the entry's digest */
    expect_refused(out, (uint32_t)n, 0, "digest mismatch");
}

static void test_corrupt_compressed_payload_is_refused(void **state)
{
    (void)state;
    uint8_t out[65536], data[4096];
    long n = good_frame(out, sizeof(out), data);
    out[n - 3] ^= 0x5a;
    out[n - 8] ^= 0x5a;
    expect_refused(out, (uint32_t)n, 0, "refused");
}

static void test_malformed_sizes_are_refused(void **state)
{
    (void)state;
    uint8_t out[65536], data[4096];
    long n = good_frame(out, sizeof(out), data);
    out[8] = 2; /* nentries 2, but one entry present */
    expect_refused(out, (uint32_t)n, 0, "malformed");
}

static void test_block_outside_range_is_refused(void **state)
{
    (void)state;
    uint8_t out[65536], data[4096];
    long n = good_frame(out, sizeof(out), data);
    uint64_t off = SRC_SIZE; /* first byte past the volume */
    for (int i = 0; i < 8; i++)
        out[FRAME_BLOCKS_HDR + i] = (uint8_t)(off >> (8 * i));
    expect_refused(out, (uint32_t)n, 0, "out of");
}

static void test_oversized_frame_is_refused_before_reading(void **state)
{
    (void)state;
    expect_refused(NULL, 0, FRAME_MAX_PAYLOAD + 1, "too large");
}

static void test_escaping_volume_names_are_refused(void **state)
{
    (void)state;
    const char *bad[] = {"../x", "/abs", "", "..", "a/b", "x y", ".hidden", "-rf", "a\\b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[600];
        uint8_t buf[512], *rb = NULL;
        size_t cap = 0;
        int rlen;
        struct proto_begin b = {.size = SRC_SIZE, .bs = 4096, .nranges = 1};
        snprintf(b.volume, sizeof(b.volume), "%s", bad[i]);
        struct xport *x = xport_dial(hostport, agent_ctx, 5000, err, sizeof(err));
        assert_non_null(x);
        uint8_t t = call(x, FRAME_BEGIN, buf, proto_begin_encode(&b, buf, sizeof(buf)), &rb, &cap,
                         &rlen, err, sizeof(err));
        assert_int_equal(t, FRAME_ERROR);
        if (!strstr(err, "volume name"))
            fail_msg("refusal of '%s' says '%s'", bad[i], err);
        free(rb);
        xport_free(x);
    }
    char p[400];
    snprintf(p, sizeof(p), "%s/x.state", pki); /* ../x would land here */
    assert_int_not_equal(access(p, F_OK), 0);
    snprintf(p, sizeof(p), "/abs.state");
    assert_int_not_equal(access(p, F_OK), 0);
}

static void test_worker_certificate_may_not_send_volumes(void **state)
{
    (void)state;
    char err[600];
    uint8_t buf[512], *rb = NULL;
    size_t cap = 0;
    int rlen;
    struct proto_begin b = {.volume = "w", .size = 4096, .bs = 4096, .nranges = 1};
    struct xport *x = xport_dial(hostport, worker_ctx, 5000, err, sizeof(err));
    assert_non_null(x);
    uint8_t t = call(x, FRAME_BEGIN, buf, proto_begin_encode(&b, buf, sizeof(buf)), &rb, &cap,
                     &rlen, err, sizeof(err));
    assert_int_equal(t, FRAME_ERROR);
    assert_non_null(strstr(err, "role"));
    free(rb);
    xport_free(x);
    char p[400];
    snprintf(p, sizeof(p), "%s/w.state", root);
    assert_int_not_equal(access(p, F_OK), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_mismatch_is_refused),
        cmocka_unit_test(test_corrupt_compressed_payload_is_refused),
        cmocka_unit_test(test_malformed_sizes_are_refused),
        cmocka_unit_test(test_block_outside_range_is_refused),
        cmocka_unit_test(test_oversized_frame_is_refused_before_reading),
        cmocka_unit_test(test_escaping_volume_names_are_refused),
        cmocka_unit_test(test_worker_certificate_may_not_send_volumes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
