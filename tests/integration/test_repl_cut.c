/* A flaky network: every connection between agent and receiver is cut
 * after a few MiB (TCP RST in both directions).  Full and delta syncs still
 * complete and the target is byte-identical: each new connection resumes
 * from the receiver's checkpoint instead of starting over, so all of them
 * together carry about what one uncut sync of the same data carries. */
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

#include <cmocka.h>

#include "../support/repl_cutproxy.h"
#include "../support/repl_fixture.h"
#include "../support/tls_fixture.h"
#include "receiver.h"
#include "sync.h"
#include "tls.h"

#define SRC_SIZE (24u << 20)

static char pki[256], root[300], src[300], state[300], hostport[64];
static struct wm_tls_ctx *agent_ctx;
static volatile sig_atomic_t stop_flag;

static int setup(void **state_)
{
    (void)state_;
    char err[512], dir[400];
    signal(SIGPIPE, SIG_IGN);
    if (repl_fixture_pki(pki, sizeof(pki), root, sizeof(root), 0) < 0)
        return -1;
    snprintf(src, sizeof(src), "%s/src.img", pki);
    snprintf(state, sizeof(state), "%s/state", pki);
    snprintf(dir, sizeof(dir), "%s/agent1", pki);
    agent_ctx = wm_tls_ctx_new(dir, WM_TLS_CLIENT, err, sizeof(err));
    if (!agent_ctx || repl_fixture_receiver(pki, root, hostport, sizeof(hostport), &stop_flag, err,
                                            sizeof(err)) < 0)
        return -1;
    /* random, with a zero region in the middle */
    return repl_fixture_random_file(src, SRC_SIZE, 1);
}

static int teardown(void **state_)
{
    (void)state_;
    tls_fixture_free(pki);
    return 0;
}

static int same_files(const char *a, const char *b)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
    return system(cmd) == 0;
}

static int sync_via(const char *volume, const char *to, struct sync_result *res, char *err,
                    size_t errlen)
{
    struct sync_opts so;
    sync_opts_defaults(&so);
    so.disk = src, so.volume = volume, so.to = to, so.state_dir = state, so.tls = agent_ctx;
    so.streams = 2;
    return sync_run(&so, res, err, errlen);
}

/* What a cut may cost: the frame in flight when it hit (BLOCKS frames
 * carry up to 1 MiB of data, incompressible here) and what the receiver had
 * not read yet, plus a new TLS handshake and BEGIN/STREAM. */
#define LOSS_PER_CUT (1u << 20)

/* The same sync of volume "cut-ref" with nothing cut, through a proxy that
 * never cuts: the bytes a sync of the current source needs on the wire
 * (TLS records included, as the cutting proxy counts them). */
static uint64_t uncut_bytes_up(uint64_t want_gen)
{
    char px[64], err[512];
    struct sync_result res;
    struct repl_cutproxy *p = repl_cutproxy_start(hostport, 1ull << 40, 0, px, sizeof(px));
    assert_non_null(p);
    if (sync_via("cut-ref", px, &res, err, sizeof(err)) != 0)
        fail_msg("uncut reference sync: %s", err);
    uint64_t up = repl_cutproxy_bytes_up(p);
    assert_int_equal(repl_cutproxy_cuts(p), 0);
    repl_cutproxy_stop(p);
    assert_int_equal(res.gen, want_gen);
    return up;
}

/* Each new connection resumed from the receiver's checkpoint: all the
 * connections together carried about what one uncut sync carries, plus at
 * most LOSS_PER_CUT per cut.  Restarting a 12 MiB range from its start on
 * connections that carry 3 MiB each would send hundreds of MiB. */
static void assert_resumed_with_the_remainder(uint64_t up, uint64_t uncut, unsigned cuts)
{
    uint64_t bound = uncut + uncut / 20 + (uint64_t)cuts * LOSS_PER_CUT;
    print_message("%u cuts: %llu bytes through the proxy, %llu uncut, bound %llu\n", cuts,
                  (unsigned long long)up, (unsigned long long)uncut, (unsigned long long)bound);
    assert_true(up >= uncut - uncut / 20); /* the proxy saw the whole sync */
    assert_true(up <= bound);
}

static void test_full_sync_completes_through_repeated_cuts(void **state_)
{
    (void)state_;
    char px[64], err[512], img[400];
    uint64_t uncut = uncut_bytes_up(1);
    struct repl_cutproxy *p = repl_cutproxy_start(hostport, 3u << 20, 4096, px, sizeof(px));
    assert_non_null(p);
    struct sync_result res;
    int rc = sync_via("cut", px, &res, err, sizeof(err));
    if (rc != 0)
        fail_msg("sync through cutting proxy: %s", err);
    unsigned cuts = repl_cutproxy_cuts(p);
    uint64_t up = repl_cutproxy_bytes_up(p);
    repl_cutproxy_stop(p);
    assert_true(cuts >= 5);
    assert_int_equal(res.gen, 1);
    snprintf(img, sizeof(img), "%s/cut.img", root);
    assert_true(same_files(src, img));
    /* (the agent's own wire count includes what sat in socket buffers when
     * a cut hit: the proxy counts what was forwarded to the receiver) */
    assert_resumed_with_the_remainder(up, uncut, cuts);
}

static void test_delta_sync_completes_through_repeated_cuts(void **state_)
{
    (void)state_;
    char px[64], err[512], img[400];
    /* change 8 MiB spread over the image */
    int fd = open(src, O_WRONLY), ufd = open("/dev/urandom", O_RDONLY);
    char blk[65536];
    for (int i = 0; i < 128; i++) {
        assert_int_equal(read(ufd, blk, sizeof(blk)), sizeof(blk));
        assert_int_equal(pwrite(fd, blk, sizeof(blk), (off_t)i * 3 * 65536), sizeof(blk));
    }
    close(fd);
    close(ufd);
    uint64_t uncut = uncut_bytes_up(2);
    struct repl_cutproxy *p = repl_cutproxy_start(hostport, 2u << 20, 0, px, sizeof(px));
    assert_non_null(p);
    struct sync_result res;
    int rc = sync_via("cut", px, &res, err, sizeof(err));
    if (rc != 0)
        fail_msg("delta through cutting proxy: %s", err);
    unsigned cuts = repl_cutproxy_cuts(p);
    uint64_t up = repl_cutproxy_bytes_up(p);
    repl_cutproxy_stop(p);
    assert_true(cuts >= 2);
    assert_int_equal(res.gen, 2);
    assert_int_equal(res.mode, 2);
    snprintf(img, sizeof(img), "%s/cut.img", root);
    assert_true(same_files(src, img));
    assert_resumed_with_the_remainder(up, uncut, cuts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_sync_completes_through_repeated_cuts),
        cmocka_unit_test(test_delta_sync_completes_through_repeated_cuts),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
