/* Busy is not failure, at the protocol level: a receiver with a capacity of
 * one stream, held by a slow sync, answers a second sync's STREAM with
 * BUSY; the second sync waits (its progress says so, no retry is used up)
 * and succeeds once the slot is free.  A sync whose --busy-wait runs out
 * fails with a clear error instead.  Plain TCP (the TLS paths are the
 * other tests'). */
#include <errno.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "../support/repl_fixture.h"
#include "receiver.h"
#include "sync.h"

static char dir[] = "/tmp/test_repl_busyXXXXXX";
static char root[128], state[128], addr[64];
static struct receiver *rcv;
static volatile sig_atomic_t stop_flag;
static int listen_fd = -1;

static void *serve(void *arg)
{
    (void)arg;
    receiver_serve(rcv, listen_fd, &stop_flag);
    return NULL;
}

static int setup(void **st)
{
    (void)st;
    char err[256];
    signal(SIGPIPE, SIG_IGN);
    if (!mkdtemp(dir))
        return -1;
    snprintf(root, sizeof(root), "%s/root", dir);
    snprintf(state, sizeof(state), "%s/state", dir);
    mkdir(root, 0700);
    struct receiver_opts o = {.root = root, .io_timeout_ms = 10000, .capacity = {.streams = 1}};
    if (!(rcv = receiver_new(&o, err, sizeof(err))) ||
        (listen_fd = repl_fixture_listen(addr, sizeof(addr))) < 0)
        return -1;
    pthread_t t;
    if (pthread_create(&t, NULL, serve, NULL) != 0)
        return -1;
    pthread_detach(t);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[256];
    receiver_drain(rcv, 10000); /* a commit finishes after its answer */
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

struct job {
    char src[256], volume[32];
    uint64_t bwlimit;
    int busy_wait_ms;
    int rc;
    uint32_t max_waiting;
    struct sync_result res;
    char err[512];
};

static void on_progress(const struct proto_progress *p, int final, void *ud)
{
    struct job *j = ud;
    (void) final;
    if (p->waiting > j->max_waiting)
        j->max_waiting = p->waiting;
}

static void *run(void *arg)
{
    struct job *j = arg;
    struct sync_opts so;
    sync_opts_defaults(&so);
    so.disk = j->src, so.volume = j->volume, so.to = addr, so.state_dir = state;
    so.streams = 1;
    so.bwlimit = j->bwlimit;
    so.busy_wait_ms = j->busy_wait_ms;
    so.progress = on_progress, so.ud = j, so.progress_ms = 100;
    j->rc = sync_run(&so, &j->res, j->err, sizeof(j->err));
    return NULL;
}

static struct job *job_new(const char *volume, size_t size, uint64_t bwlimit, int busy_wait_ms)
{
    struct job *j = calloc(1, sizeof(*j));
    snprintf(j->volume, sizeof(j->volume), "%s", volume);
    snprintf(j->src, sizeof(j->src), "%s/%s.src", dir, volume);
    j->bwlimit = bwlimit;
    j->busy_wait_ms = busy_wait_ms;
    assert_int_equal(repl_fixture_random_file(j->src, size, 0), 0);
    return j;
}

static int target_equals_source(const struct job *j)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s/%s.img'", j->src, root, j->volume);
    return system(cmd) == 0;
}

/* Starts a slow sync holding the receiver's only stream for ~3 s. */
static pthread_t hold_the_stream(struct job *slow)
{
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run, slow), 0);
    usleep(700 * 1000);
    return t;
}

static void test_a_full_receiver_makes_the_next_sync_wait_not_fail(void **st)
{
    (void)st;
    struct job *slow = job_new("slow", 3 << 20, 1 << 20, 0),
               *next = job_new("next", 1 << 20, 0, 60000);
    pthread_t t = hold_the_stream(slow);
    run(next);
    pthread_join(t, NULL);
    if (slow->rc != 0 || next->rc != 0)
        fail_msg("slow: %s / next: %s", slow->err, next->err);
    print_message("next sync: %u BUSY answers waited out, progress showed %u waiting\n",
                  next->res.busy_waits, next->max_waiting);
    assert_true(next->res.busy_waits > 0);
    assert_true(next->max_waiting > 0);
    assert_true(target_equals_source(slow));
    assert_true(target_equals_source(next));
    free(slow);
    free(next);
}

static void test_a_sync_gives_up_when_its_busy_wait_runs_out(void **st)
{
    (void)st;
    struct job *slow = job_new("slow2", 3 << 20, 1 << 20, 0),
               *next = job_new("late", 1 << 20, 0, 400);
    pthread_t t = hold_the_stream(slow);
    run(next);
    pthread_join(t, NULL);
    assert_int_equal(slow->rc, 0);
    assert_int_equal(next->rc, -ETIMEDOUT);
    assert_non_null(strstr(next->err, "busy for longer than"));
    free(slow);
    free(next);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_full_receiver_makes_the_next_sync_wait_not_fail),
        cmocka_unit_test(test_a_sync_gives_up_when_its_busy_wait_runs_out),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
