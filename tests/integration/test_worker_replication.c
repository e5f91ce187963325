/* The "wavemill" replication driver against a real agent and receiver:
 * install (idempotent, replaced on a new version), initial sync, delta
 * sync, verify and remove, once over the local transport and once over
 * ssh into a network-namespace host.  The fixture (database, PKI,
 * receiver, host, credential store) is tests/support/orch_repl_fixture.sh;
 * root only (namespaces). */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../support/orch_fixture.h"
#include "config.h"
#include "driver.h"
#include "replication/replication.h"
#include "transport/transport_driver.h"
#include "pg.h"
#include "task.h"

#define FIX_DIR_FMT "/tmp/wm-repldrv.%d"

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
    if (geteuid() != 0) {
        fprintf(stderr, "needs root (network namespaces)\n");
        return -1;
    }
    /* the fixture's host, namespace and state root have fixed names */
    if (fixture_lock("/var/tmp/wavemill-hosts-test-repldrv.lock", 240) < 0)
        return -1;
    fixture_find_repo(repo, sizeof(repo), "tests/support/orch_repl_fixture.sh", R_OK);
    snprintf(dir, sizeof(dir), FIX_DIR_FMT, (int)getpid());
    if (fixture_sh("bash %s/tests/support/orch_repl_fixture.sh up %s >%s.log 2>&1", repo, dir,
                   dir) != 0) {
        fixture_sh("cat %s.log >&2", dir);
        return -1;
    }
    fixture_env_read(&env, dir);
    char err[256], bin[600];
    cfg = wm_config_new();
    if (!cfg || driver_declare(cfg, err, sizeof(err)) < 0)
        return -1;
    snprintf(bin, sizeof(bin), "%s/bin/wavemill-agent", repo);
    set("repl.agent_bin", bin);
    set("repl.agent_tls_dir", fx("AGENT_TLS"));
    set("repl.worker_tls_dir", fx("WORKER_TLS"));
    set("ssh.known_hosts", fx("KNOWN_HOSTS"));
    set("secrets.master_key", fx("MASTER_KEY"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fixture_sh("bash %s/tests/support/orch_repl_fixture.sh down %s >>%s.log 2>&1 && rm -f %s.log",
               repo, dir, dir, dir);
    wm_config_free(cfg);
    return 0;
}

/* One server of the fixture: "LOC" (transport local) or "SSH". */
struct srv {
    const char *px, *name;
    const struct transport_driver *tp;
};
static const struct srv LOC = {"LOC", "loc1", &transport_local_driver};
static const struct srv SSH = {"SSH", "ssh1", &transport_ssh_driver};

static const char *fxs(const struct srv *s, const char *key)
{
    char k[64];
    snprintf(k, sizeof(k), "%s_%s", s->px, key);
    return fx(k);
}

static struct task_ctx *task_for(const struct srv *s, const char *kind)
{
    struct task_ctx *t =
        fixture_task_new(cfg, fx("CONNINFO"), atoll(fxs(s, "TASK")), atoll(fxs(s, "ID")), kind);
    t->transport = s->tp;
    t->replication = &replication_wavemill_driver;
    return t;
}

/* Runs op; asserts the outcome wanted (0 = success), prints the error. */
static void run_op(const struct srv *s, const char *kind, int want_ok, char *error, size_t cap)
{
    struct task_ctx *t = task_for(s, kind);
    int rc;
    if (strcmp(kind, "agent_install") == 0)
        rc = t->replication->install_agent(t);
    else if (strcmp(kind, "initial_sync") == 0)
        rc = t->replication->sync(t, REPLICATION_SYNC_INITIAL);
    else if (strcmp(kind, "delta_sync") == 0)
        rc = t->replication->sync(t, REPLICATION_SYNC_DELTA);
    else if (strcmp(kind, "final_delta_sync") == 0)
        rc = t->replication->sync(t, REPLICATION_SYNC_FINAL);
    else if (strcmp(kind, "verify") == 0)
        rc = t->replication->verify(t);
    else
        rc = t->replication->remove_agent(t);
    if (want_ok && rc != 0)
        fail_msg("%s of %s failed: %s", kind, s->name, t->error);
    if (!want_ok)
        assert_true(rc < 0);
    if (error)
        snprintf(error, cap, "%s", t->error);
    task_ctx_free(t);
}

static void agent_pid(const struct srv *s, char *pid, size_t cap)
{
    fixture_capture(pid, cap, "cat %s/agent.pid 2>/dev/null", fxs(s, "AGENT_DIR"));
}

static void sql1(char *out, size_t cap, const char *q)
{
    fixture_capture(out, cap, "psql '%s' -Atqc \"%s\"", fx("CONNINFO"), q);
}

static void target_equals_source(const struct srv *s)
{
    assert_int_equal(fixture_sh("cmp -s %s %s/%s-disk0.img", fxs(s, "DISK"), fx("ROOT"), s->name),
                     0);
}

static void install_then_sync(const struct srv *s)
{
    char p1[32], p2[32], v[256];
    run_op(s, "agent_install", 1, NULL, 0);
    agent_pid(s, p1, sizeof(p1));
    assert_true(atoi(p1) > 0);
    assert_int_equal(kill(atoi(p1), 0), 0);
    /* same version running: nothing to do, same process */
    run_op(s, "agent_install", 1, NULL, 0);
    agent_pid(s, p2, sizeof(p2));
    assert_string_equal(p1, p2);

    run_op(s, "initial_sync", 1, NULL, 0);
    target_equals_source(s);
    char q[256];
    snprintf(q, sizeof(q),
             "SELECT generation, replicated_bytes = size_bytes AND size_bytes > 0, backlog_bytes,"
             " replication_state, last_sync_at IS NOT NULL, target_volume FROM disks WHERE server_id = %s",
             fxs(s, "ID"));
    sql1(v, sizeof(v), q);
    char want[160];
    snprintf(want, sizeof(want), "1|t|0|CONTINUOUS|t|%s-disk0", s->name);
    assert_string_equal(v, want);
    run_op(s, "verify", 1, NULL, 0);
}

static void change_source(const struct srv *s, int block)
{
    assert_int_equal(
        fixture_sh("head -c 65536 /dev/urandom | dd of=%s bs=4096 seek=%d conv=notrunc "
                   "status=none",
                   fxs(s, "DISK"), block),
        0);
}

static void delta_then_verify(const struct srv *s)
{
    char v[256], q[256], err[512];
    /* 64 KiB of new data in the middle of the disk */
    change_source(s, 700);
    run_op(s, "delta_sync", 1, NULL, 0);
    target_equals_source(s);
    snprintf(q, sizeof(q),
             "SELECT d.generation, (t.checkpoint->'disks'->-1->>'sent')::bigint"
             " FROM disks d JOIN tasks t ON t.server_id = d.server_id WHERE d.server_id = %s",
             fxs(s, "ID"));
    sql1(v, sizeof(v), q);
    /* generation 2, and only the changed blocks travelled */
    assert_int_equal(atoi(v), 2);
    long long sent = atoll(strchr(v, '|') + 1);
    assert_true(sent >= 65536 && sent < 1024 * 1024);

    /* a source that moved on since the last sync: verify catches up first */
    change_source(s, 900);
    run_op(s, "verify", 1, NULL, 0);
    target_equals_source(s);
    snprintf(q, sizeof(q), "SELECT generation FROM disks WHERE server_id = %s", fxs(s, "ID"));
    sql1(v, sizeof(v), q);
    assert_int_equal(atoi(v), 3);

    /* a damaged target is not lag: no tolerance, and the final sync (services
     * stopped) always verifies strictly */
    char tgt[300];
    snprintf(tgt, sizeof(tgt), "%s/%s-disk0.img", fx("ROOT"), s->name);
    assert_int_equal(
        fixture_sh("head -c 65536 /dev/urandom | dd of=%s bs=4096 seek=300 conv=notrunc "
                   "status=none",
                   tgt),
        0);
    set("repl.verify_lag_blocks", "0");
    run_op(s, "verify", 0, err, sizeof(err));
    set("repl.verify_lag_blocks", "256");
    assert_non_null(strstr(err, "differs"));
    run_op(s, "final_delta_sync", 0, err, sizeof(err));
    assert_non_null(strstr(err, "differs"));
}

/* A task told to stop (lease lost, shutdown) returns -ECANCELED within a
 * progress period, the agent's job goes on, and the next run of the same
 * sync re-attaches to it instead of starting over. */
struct stopper {
    struct task_ctx *t;
    int rc;
};

static void *sync_thread(void *arg)
{
    struct stopper *st = arg;
    st->rc = st->t->replication->sync(st->t, REPLICATION_SYNC_DELTA);
    return NULL;
}

static void stop_then_reattach(const struct srv *s)
{
    char log[300], err[512];
    /* 12 MiB of change at 2 MiB/s: about six seconds of sync */
    assert_int_equal(
        fixture_sh("head -c 12582912 /dev/urandom | dd of=%s bs=1M seek=2 conv=notrunc "
                   "status=none",
                   fxs(s, "DISK")),
        0);
    set("repl.bwlimit", "2M");
    struct stopper st = {task_for(s, "delta_sync"), 1};
    st.t->msg.task_id += 1000; /* a task of its own: never joins an earlier job's result */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sync_thread, &st), 0);
    sleep(2);
    atomic_store(&st.t->stop, 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_join(th, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(st.rc, -ECANCELED);
    assert_true(t1.tv_sec - t0.tv_sec <= 3);
    task_ctx_free(st.t);
    /* the same task again (as its next attempt would): attaches to the running job */
    struct task_ctx *t = task_for(s, "delta_sync");
    t->msg.task_id += 1000;
    int rc = t->replication->sync(t, REPLICATION_SYNC_DELTA);
    snprintf(err, sizeof(err), "%s", t->error);
    task_ctx_free(t);
    set("repl.bwlimit", "0");
    if (rc != 0)
        fail_msg("re-run of the stopped sync failed: %s", err);
    /* the changed range arrived (the earlier test left other blocks damaged) */
    assert_int_equal(fixture_sh("cmp -s -i 2097152 -n 12582912 %s %s/%s-disk0.img", fxs(s, "DISK"),
                                fx("ROOT"), s->name),
                     0);
    snprintf(log, sizeof(log), "%s/agent.log", fxs(s, "AGENT_DIR"));
    assert_int_equal(fixture_sh("grep -q 'volume=%s-disk0 op=1 attached=1' %s", s->name, log), 0);
}

static void test_local_stopped_sync_is_released_and_reattached(void **state)
{
    (void)state;
    stop_then_reattach(&LOC);
}

static void new_version_then_remove(const struct srv *s)
{
    char p1[32], p2[32], bin[1200], v2[128], err[512];
    agent_pid(s, p1, sizeof(p1));
    snprintf(v2, sizeof(v2), "%s/agent-v2", dir);
    snprintf(bin, sizeof(bin), "cp %s/bin/wavemill-agent %s && printf x >>%s", repo, v2, v2);
    assert_int_equal(fixture_sh("%s", bin), 0);
    set("repl.agent_bin", v2);
    run_op(s, "agent_install", 1, err, sizeof(err));
    snprintf(bin, sizeof(bin), "%s/bin/wavemill-agent", repo);
    set("repl.agent_bin", bin);
    agent_pid(s, p2, sizeof(p2));
    assert_true(atoi(p2) > 0);
    assert_string_not_equal(p1, p2);
    assert_int_not_equal(kill(atoi(p1), 0), 0); /* the old one is gone */
    run_op(s, "remove_agent", 1, NULL, 0);
    usleep(200 * 1000);
    assert_int_not_equal(kill(atoi(p2), 0), 0);
    assert_int_equal(fixture_sh("test -e %s/wavemill-agent", fxs(s, "AGENT_DIR")), 1);
    assert_int_equal(fixture_sh("test -e %s/tls", fxs(s, "AGENT_DIR")), 1);
    /* removing again is fine (idempotent) */
    run_op(s, "remove_agent", 1, NULL, 0);
}

static void test_local_install_is_idempotent_and_initial_sync_copies_the_disk(void **state)
{
    (void)state;
    install_then_sync(&LOC);
}

static void test_local_delta_sends_only_changes_verify_catches_up_and_sees_damage(void **state)
{
    (void)state;
    delta_then_verify(&LOC);
}

static void test_local_new_agent_version_replaces_and_remove_cleans_up(void **state)
{
    (void)state;
    new_version_then_remove(&LOC);
}

static void test_ssh_install_is_idempotent_and_initial_sync_copies_the_disk(void **state)
{
    (void)state;
    install_then_sync(&SSH);
}

static void test_ssh_delta_sends_only_changes_verify_catches_up_and_sees_damage(void **state)
{
    (void)state;
    delta_then_verify(&SSH);
}

static void test_ssh_new_agent_version_replaces_and_remove_cleans_up(void **state)
{
    (void)state;
    new_version_then_remove(&SSH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_install_is_idempotent_and_initial_sync_copies_the_disk),
        cmocka_unit_test(test_local_delta_sends_only_changes_verify_catches_up_and_sees_damage),
        cmocka_unit_test(test_local_stopped_sync_is_released_and_reattached),
        cmocka_unit_test(test_local_new_agent_version_replaces_and_remove_cleans_up),
        cmocka_unit_test(test_ssh_install_is_idempotent_and_initial_sync_copies_the_disk),
        cmocka_unit_test(test_ssh_delta_sends_only_changes_verify_catches_up_and_sees_damage),
        cmocka_unit_test(test_ssh_new_agent_version_replaces_and_remove_cleans_up),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
