/* A pool of two receivers under the "wavemill" replication driver (real
 * agent, receivers and PostgreSQL; fixture tests/support/orch_pool_fixture.sh):
 *  - the four disks of a server spread over the pool by load (each new disk
 *    to the receiver with the fewest), and the assignment is recorded;
 *  - the receiver of a disk being synced is killed mid-sync: the disk waits
 *    for it (the task shows "waiting for its receiver (down)", no failure),
 *    is never sent to the other receiver, and completes from the receiver's
 *    checkpoints once it is back (not re-sent in full);
 *  - every target equals its source, each in its own receiver's root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../support/orch_fixture.h"
#include "config.h"
#include "driver.h"
#include "replication/replication.h"
#include "task.h"
#include "transport/transport_driver.h"

#define DISK_BYTES (6 << 20)

static char repo[512] = ".", dir[64];
static struct fixture_env env;
static struct wm_config *cfg;

static const char *fx(const char *key)
{
    return fixture_env_get(&env, key);
}

static void set(const char *k, const char *v)
{
    char err[256];
    assert_int_equal(wm_config_set(cfg, k, v, "test", err, sizeof(err)), 0);
}

static int setup(void **state)
{
    (void)state;
    fixture_find_repo(repo, sizeof(repo), "tests/support/orch_pool_fixture.sh", R_OK);
    snprintf(dir, sizeof(dir), "/tmp/wm-pool.%d", (int)getpid());
    if (fixture_sh("bash %s/tests/support/orch_pool_fixture.sh up %s >%s.log 2>&1", repo, dir,
                   dir) != 0) {
        fixture_sh("cat %s.log >&2", dir);
        return -1;
    }
    fixture_env_read(&env, dir);
    char err[256], bin[600], pool[128];
    cfg = wm_config_new();
    if (!cfg || driver_declare(cfg, err, sizeof(err)) < 0)
        return -1;
    snprintf(bin, sizeof(bin), "%s/bin/wavemill-agent", repo);
    snprintf(pool, sizeof(pool), "%s,%s", fx("R0"), fx("R1"));
    set("repl.agent_bin", bin);
    set("repl.agent_tls_dir", fx("AGENT_TLS"));
    set("repl.worker_tls_dir", fx("WORKER_TLS"));
    set("repl.receivers", pool);
    set("repl.receiver_wait", "120s");
    set("repl.bwlimit", "1M"); /* 6 s per disk: time to kill a receiver mid-sync */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fixture_sh("bash %s/tests/support/orch_pool_fixture.sh down %s >>%s.log 2>&1 && rm -f %s.log",
               repo, dir, dir, dir);
    wm_config_free(cfg);
    return 0;
}

static struct task_ctx *task_new(const char *kind)
{
    struct task_ctx *t =
        fixture_task_new(cfg, fx("CONNINFO"), atoll(fx("TASK_ID")), atoll(fx("SERVER_ID")), kind);
    t->transport = &transport_local_driver;
    t->replication = &replication_wavemill_driver;
    return t;
}

static void sql1(char *out, size_t cap, const char *q)
{
    fixture_capture(out, cap, "psql '%s' -Atqc \"%s\"", fx("CONNINFO"), q);
}

/* disks.receiver of disk i ("" while unassigned). */
static void receiver_of(int i, char *out, size_t cap)
{
    char q[256];
    snprintf(q, sizeof(q), "SELECT receiver FROM disks WHERE source_path = '%s/disk%d.img'", dir,
             i);
    sql1(out, cap, q);
}

struct runner {
    struct task_ctx *t;
    int rc;
};

static void *sync_thread(void *arg)
{
    struct runner *r = arg;
    r->rc = r->t->replication->sync(r->t, REPLICATION_SYNC_INITIAL);
    return NULL;
}

static int wait_for(int seconds, int (*cond)(void *), void *arg)
{
    for (int i = 0; i < seconds * 10; i++) {
        if (cond(arg))
            return 1;
        usleep(100 * 1000);
    }
    return 0;
}

static int disk1_assigned(void *arg)
{
    char r[128];
    (void)arg;
    receiver_of(1, r, sizeof(r));
    return r[0] != '\0';
}

static int waits_for_receiver(void *arg)
{
    const char *note = atomic_load(&((struct task_ctx *)arg)->note);
    return note && strstr(note, "waiting for its receiver") != NULL;
}

static void test_disks_spread_and_wait_for_their_receiver_which_they_never_leave(void **state)
{
    (void)state;
    struct task_ctx *inst = task_new("agent_install");
    if (inst->replication->install_agent(inst) != 0)
        fail_msg("agent install: %s", inst->error);
    task_ctx_free(inst);

    struct runner run = {task_new("initial_sync"), 1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sync_thread, &run), 0);
    /* disk1 is the second to go: to the other receiver (R1), by load */
    assert_true(wait_for(60, disk1_assigned, NULL));
    char r[128];
    receiver_of(1, r, sizeof(r));
    assert_string_equal(r, fx("R1"));
    sleep(3); /* mid-sync: past the receiver's first checkpoint (2 s) */
    assert_int_equal(fixture_sh("bash %s/tests/support/orch_pool_fixture.sh stop %s 1", repo, dir),
                     0);
    /* the disk waits for its receiver: no failure, nothing on the other one */
    assert_true(wait_for(60, waits_for_receiver, run.t));
    assert_int_equal(run.rc, 1); /* still running */
    assert_int_not_equal(fixture_sh("test -e %s/r0/pool1-disk1.img", dir), 0);
    assert_int_equal(fixture_sh("bash %s/tests/support/orch_pool_fixture.sh start %s 1", repo, dir),
                     0);
    pthread_join(th, NULL);
    if (run.rc != 0)
        fail_msg("initial sync with a receiver down for a while: %s", run.t->error);
    task_ctx_free(run.t);

    const char *want[] = {fx("R0"), fx("R1"), fx("R0"), fx("R1")};
    for (int i = 0; i < 4; i++) {
        receiver_of(i, r, sizeof(r));
        assert_string_equal(r, want[i]);
        int k = i % 2;
        assert_int_equal(
            fixture_sh("cmp -s %s/disk%d.img %s/r%d/pool1-disk%d.img", dir, i, dir, k, i), 0);
        assert_int_not_equal(fixture_sh("test -e %s/r%d/pool1-disk%d.img", dir, 1 - k, i), 0);
    }
    /* disk1's last job resumed from R1's checkpoints: less than the disk */
    char q[512], v[64];
    snprintf(q, sizeof(q),
             "SELECT e->>'sent' FROM tasks t, jsonb_array_elements(t.checkpoint->'disks') e,"
             " disks d WHERE t.id = %s AND d.id = (e->>'id')::bigint AND d.source_path ="
             " '%s/disk1.img'",
             fx("TASK_ID"), dir);
    sql1(v, sizeof(v), q);
    print_message("disk1: %s bytes sent by the job that finished it (disk %d)\n", v, DISK_BYTES);
    assert_true(atoll(v) > 0 && atoll(v) < DISK_BYTES);

    /* status shows the load per receiver: two disks each */
    char out[4096];
    fixture_capture(out, sizeof(out), "WAVEMILL_PG_CONNINFO='%s' %s/bin/wavemill status --json",
                    fx("CONNINFO"), repo);
    for (int k = 0; k < 2; k++) {
        char want_r[160];
        snprintf(want_r, sizeof(want_r), "{\"receiver\":\"%s\",\"disks\":2,", want[k]);
        if (!strstr(out, want_r))
            fail_msg("status --json lacks %s in: %s", want_r, out);
    }
    assert_int_equal(
        fixture_sh("WAVEMILL_PG_CONNINFO='%s' %s/bin/wavemill status | grep -A2 RECEIVER"
                   " | grep -q '%s  *2 '",
                   fx("CONNINFO"), repo, want[1]),
        0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disks_spread_and_wait_for_their_receiver_which_they_never_leave),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
