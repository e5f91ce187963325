/* The worker asks the receiver's control port to export a synced disk to
 * EBS (a local moto server) and records the chain in PostgreSQL: the
 * ebs_snapshots row of each generation (snapshot id, parent, blocks and
 * bytes uploaded, completed), progress on the task, a delta as a child
 * of the previous snapshot.  moto does not implement ParentSnapshotId, so
 * the disk is reassembled from the recorded chain (root, then child) by
 * reading every block back, and compared with the source.  Fixture:
 * tests/support/orch_ebs_fixture.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../support/orch_fixture.h"
#include "config.h"
#include "driver.h"
#include "pg.h"
#include "replication/replication_ebs.h"
#include "task.h"

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
    fixture_find_repo(repo, sizeof(repo), "tests/support/orch_ebs_fixture.sh", R_OK);
    snprintf(dir, sizeof(dir), "/tmp/wm-ebsx.%d", (int)getpid());
    if (fixture_sh("bash %s/tests/support/orch_ebs_fixture.sh up %s >%s.log 2>&1", repo, dir,
                   dir) != 0) {
        fixture_sh("cat %s.log >&2", dir);
        return -1;
    }
    fixture_env_read(&env, dir);
    char err[256];
    cfg = wm_config_new();
    if (!cfg || driver_declare(cfg, err, sizeof(err)) < 0)
        return -1;
    set("repl.worker_tls_dir", fx("WORKER_TLS"));
    set("ebs.receiver_control", fx("CONTROL"));
    set("ebs.endpoint", fx("MOTO"));
    set("ebs.ec2_endpoint", fx("MOTO"));
    set("ebs.inflight", "4");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fixture_sh("bash %s/tests/support/orch_ebs_fixture.sh down %s >>%s.log 2>&1 && rm -f %s.log",
               repo, dir, dir, dir);
    wm_config_free(cfg);
    return 0;
}

static void sql1(char *out, size_t cap, const char *q)
{
    fixture_capture(out, cap, "psql '%s' -Atqc \"%s\"", fx("CONNINFO"), q);
}

static int export_gen(int64_t gen, int attempt, struct task_ctx **tout)
{
    struct task_ctx *t = fixture_task_new(cfg, fx("CONNINFO"), atoll(fx("TASK_ID")),
                                          atoll(fx("SERVER_ID")), "initial_sync");
    t->msg.attempt = attempt; /* same attempt = same control job (its result is kept) */
    char err[256], control[256];
    struct wm_pg *db = wm_pg_new_conninfo(fx("CONNINFO"), err, sizeof(err));
    assert_non_null(db);
    replication_ebs_control(t, control, sizeof(control));
    assert_string_equal(control, fx("CONTROL"));
    struct replication_ebs_disk d = {fx("DISK_ID"), fx("VOLUME"), gen};
    int rc = replication_ebs_export(t, db, control, "srv1", &d, 1);
    wm_pg_free(db);
    *tout = t;
    return rc;
}

static void chain_equals_source(const char *snaps)
{
    const char *py = getenv("WM_PY");
    char def[600];
    snprintf(def, sizeof(def), "%s/.cache/wavemill/venv/bin/python", getenv("HOME"));
    assert_int_equal(
        fixture_sh("'%s' %s/tests/peers/ebs_chain.py reassemble --endpoint %s "
                   "--size %d --out %s/back.img %s >/dev/null && cmp -s %s %s/back.img",
                   py && *py ? py : def, repo, fx("MOTO"), 16 << 20, dir, snaps, fx("SRC"), dir),
        0);
}

static void test_worker_exports_and_records_the_chain(void **state)
{
    (void)state;
    struct task_ctx *t;
    int rc = export_gen(1, 1, &t);
    if (rc != 0)
        fail_msg("export: %s", t->error);
    /* progress reached the task (and with it wm.status) */
    assert_true(atomic_load(&t->bytes_total) > 0);
    assert_int_equal(atomic_load(&t->bytes_done), atomic_load(&t->bytes_total));
    task_ctx_free(t);
    char v[512], q[512];
    snprintf(q, sizeof(q),
             "SELECT generation, snapshot_id LIKE 'snap-%%', parent_snapshot_id, state,"
             " changed_blocks, blocks_uploaded, bytes_uploaded = blocks_uploaded * 524288,"
             " completed_at IS NOT NULL FROM ebs_snapshots WHERE disk_id = %s",
             fx("DISK_ID"));
    sql1(v, sizeof(v), q);
    /* five 1 MiB regions of data: 10 non-zero 512 KiB blocks */
    assert_string_equal(v, "1|t||completed|10|10|t|t");
    char s1[64];
    snprintf(q, sizeof(q), "SELECT snapshot_id FROM ebs_snapshots WHERE disk_id = %s",
             fx("DISK_ID"));
    sql1(s1, sizeof(s1), q);
    chain_equals_source(s1);

    /* a delta: sync 3 scattered 4 KiB writes, export generation 2 as a child */
    assert_int_equal(
        fixture_sh("for b in 5 700 3000; do head -c 4096 /dev/urandom | dd of=%s bs=4096 "
                   "seek=$b conv=notrunc status=none; done && %s/bin/wavemill-agent sync --disk %s "
                   "--volume %s --to %s --tls-dir %s --state-dir %s >/dev/null 2>&1",
                   fx("SRC"), repo, fx("SRC"), fx("VOLUME"), fx("RECEIVER"), fx("AGENT_TLS"),
                   fx("STATE")),
        0);
    rc = export_gen(2, 1, &t);
    if (rc != 0)
        fail_msg("delta export: %s", t->error);
    task_ctx_free(t);
    snprintf(q, sizeof(q),
             "SELECT c.parent_snapshot_id = p.snapshot_id, c.parent_generation, c.blocks_uploaded,"
             " c.state FROM ebs_snapshots c JOIN ebs_snapshots p ON p.disk_id = c.disk_id"
             " AND p.generation = 1 WHERE c.disk_id = %s AND c.generation = 2",
             fx("DISK_ID"));
    sql1(v, sizeof(v), q);
    assert_string_equal(v, "t|1|3|completed"); /* three distinct 512 KiB blocks */
    char s2[64], both[160];
    snprintf(q, sizeof(q),
             "SELECT snapshot_id FROM ebs_snapshots WHERE disk_id = %s AND generation = 2",
             fx("DISK_ID"));
    sql1(s2, sizeof(s2), q);
    snprintf(both, sizeof(both), "%s %s", s1, s2);
    chain_equals_source(both);

    /* the same generation again (a new attempt of the task): nothing new, same row */
    rc = export_gen(2, 2, &t);
    assert_int_equal(rc, 0);
    task_ctx_free(t);
    snprintf(q, sizeof(q),
             "SELECT count(*), max(blocks_uploaded), max(parent_snapshot_id) = '%s'"
             " FROM ebs_snapshots WHERE disk_id = %s AND generation = 2 AND snapshot_id = '%s'",
             s1, fx("DISK_ID"), s2);
    sql1(v, sizeof(v), q);
    assert_string_equal(v, "1|3|t");
}

static void test_an_old_generation_fails_the_task_with_the_reason(void **state)
{
    (void)state;
    struct task_ctx *t;
    assert_true(export_gen(1, 3, &t) < 0);
    assert_non_null(strstr(t->error, "generation 1 is not on the receiver"));
    task_ctx_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_exports_and_records_the_chain),
        cmocka_unit_test(test_an_old_generation_fails_the_task_with_the_reason),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
