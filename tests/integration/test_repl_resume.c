/* Exact resume: a sync interrupted after every range was sent but before
 * COMMIT leaves a staged generation; the source then changes (1% of its
 * blocks) and stays quiet while the next sync runs.  That sync resumes the
 * generation, reads the checkpointed ranges again, re-sends what changed,
 * and commits a target equal to the source — for a full sync and for a
 * delta, with and without the agent's own pending map. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/repl_fixture.h"
#include "../support/tls_fixture.h"
#include "receiver.h"
#include "sync.h"
#include "tls.h"

#define SRC_SIZE (8u << 20)
#define BS 4096u
#define NBLOCKS (SRC_SIZE / BS)

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
    return 0;
}

static int teardown(void **state_)
{
    (void)state_;
    tls_fixture_free(pki);
    return 0;
}

static int target_equals_source(const char *volume)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s/%s.img'", src, root, volume);
    return system(cmd) == 0;
}

static int sync_vol(const char *volume, int no_commit, struct sync_result *res, char *err,
                    size_t errlen)
{
    struct sync_opts so;
    sync_opts_defaults(&so);
    so.disk = src, so.volume = volume, so.to = hostport, so.state_dir = state, so.tls = agent_ctx;
    so.streams = 3;
    so.no_commit = no_commit;
    return sync_run(&so, res, err, errlen);
}

/* Block i of the 1% a change with seed touches. */
static uint64_t changed_block(unsigned seed, unsigned i)
{
    return ((uint64_t)seed * 2654435761u + (uint64_t)i * 40503u * 7919u) % NBLOCKS;
}

/* Rewrites 1% of the source's blocks (random data, every 7th zeroed); with
 * orig, the first blocks that change `undo` touched go back to orig. */
static void change_source(unsigned seed, const uint8_t *orig, unsigned undo)
{
    int fd = open(src, O_RDWR);
    assert_true(fd >= 0);
    srand(seed);
    uint8_t blk[BS];
    for (unsigned i = 0; i < NBLOCKS / 100; i++) {
        uint64_t b = changed_block(seed, i);
        if (i % 7 == 0)
            memset(blk, 0, BS);
        else
            for (unsigned k = 0; k < BS; k++)
                blk[k] = (uint8_t)rand();
        assert_int_equal(pwrite(fd, blk, BS, (off_t)(b * BS)), BS);
    }
    for (unsigned i = 0; orig && i < 8; i++) {
        uint64_t b = changed_block(undo, i);
        assert_int_equal(pwrite(fd, orig + b * BS, BS, (off_t)(b * BS)), BS);
    }
    close(fd);
}

static uint8_t *read_source(void)
{
    uint8_t *p = malloc(SRC_SIZE);
    int fd = open(src, O_RDONLY);
    assert_true(p && fd >= 0);
    assert_int_equal(pread(fd, p, SRC_SIZE, 0), SRC_SIZE);
    close(fd);
    return p;
}

static void forget_agent_state(void)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state);
    assert_int_equal(system(cmd), 0);
}

/* Stages a generation without committing, changes the source, resumes. */
static void interrupted_then_resumed(const char *volume, int expect_mode, uint64_t expect_gen,
                                     int lose_agent_state, const uint8_t *orig, unsigned undo)
{
    char err[512];
    struct sync_result res;
    if (sync_vol(volume, 1, &res, err, sizeof(err)) != 0)
        fail_msg("staging sync: %s", err);
    assert_int_equal(res.mode, expect_mode);
    assert_int_equal(res.gen, 0); /* nothing committed */
    change_source(expect_gen * 31 + 7, orig, undo);
    if (lose_agent_state)
        forget_agent_state();
    if (sync_vol(volume, 0, &res, err, sizeof(err)) != 0)
        fail_msg("resumed sync: %s", err);
    print_message("%s: resumed=%d recheck read %llu, re-sent %llu bytes, %llu ms\n", volume,
                  res.resumed, (unsigned long long)res.recheck_read,
                  (unsigned long long)res.recheck_sent, (unsigned long long)res.recheck_ms);
    assert_int_equal(res.resumed, 1);
    assert_int_equal(res.gen, expect_gen);
    assert_int_equal(res.mode, expect_mode);
    assert_int_equal(res.recheck_read, SRC_SIZE); /* every range had been sent */
    assert_true(res.recheck_sent > 0 && res.recheck_sent < SRC_SIZE / 20);
    assert_true(target_equals_source(volume));
}

static void test_full_sync_resumed_after_the_source_changed_commits_the_source(void **state_)
{
    (void)state_;
    assert_int_equal(repl_fixture_random_file(src, SRC_SIZE, 1), 0);
    interrupted_then_resumed("rfull", 1, 1, 0, NULL, 0);
}

static void test_delta_resumed_after_the_source_changed_commits_the_source(void **state_)
{
    (void)state_;
    char err[512];
    struct sync_result res;
    uint8_t *committed = read_source();
    change_source(99, NULL, 0);
    /* a delta with its own changes, staged; then more changes, some of
     * which put blocks the staged delta carries back to their committed
     * content (the staged journal must not win over them) */
    interrupted_then_resumed("rfull", 2, 2, 0, committed, 99);
    free(committed);
    /* the next delta is normal again (the agent kept a complete map) */
    change_source(5, NULL, 0);
    if (sync_vol("rfull", 0, &res, err, sizeof(err)) != 0)
        fail_msg("delta after resume: %s", err);
    assert_int_equal(res.resumed, 0);
    assert_int_equal(res.fetched_map, 0);
    assert_true(target_equals_source("rfull"));
}

static void test_resume_without_the_agents_state_is_exact_too(void **state_)
{
    (void)state_;
    change_source(123, NULL, 0);
    interrupted_then_resumed("rfull", 2, 4, 1, NULL, 0);
    assert_int_equal(repl_fixture_random_file(src, SRC_SIZE, 1), 0);
    interrupted_then_resumed("rfresh", 1, 1, 1, NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_sync_resumed_after_the_source_changed_commits_the_source),
        cmocka_unit_test(test_delta_resumed_after_the_source_changed_commits_the_source),
        cmocka_unit_test(test_resume_without_the_agents_state_is_exact_too),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
