/* The aws provider driver (worker/provider_aws.c) and the validate and
 * cmdb_update steps (worker/step_*.c) over a task context for a server of
 * a database of their own (wm_test_provaws_<pid>, migrated), against a
 * moto server the test starts (tests/peers/moto_server.sh), a throttling
 * proxy in front of it (tests/peers/moto_fault_proxy.py) and a local HTTP
 * peer (tests/peers/http_peer.py):
 *   launch test twice with the same task -> one instance, recorded, the
 *   image registered from every disk's latest EBS snapshot (root first;
 *   the RegisterImage request checked in the proxy's log, since moto's
 *   RegisterImage ignores BlockDeviceMappings);
 *   cutover launch from the final generation's snapshots + switch_network
 *   -> live groups, DNS record UPSERTed; a disk without that snapshot fails
 *   the launch by name; terminate; decommission deregisters the test
 *   images and deletes the snapshots nothing needs; throttled launch succeeds after retries; a
 * non-retryable error ends the task with AWS's message; probes pass / fail (named), report stored;
 * the CMDB call carries the store's secret, which never reaches the log or the task error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "../support/orch_fixture.h"
#include "../support/orch_httppeer.h"
#include "../support/orch_moto.h"
#include "cmdb/cmdb.h"
#include "config.h"
#include "driver.h"
#include "log.h"
#include "pg.h"
#include "provider/aws/aws.h"
#include "provider/aws/aws_ec2.h"
#include "provider/aws/aws_r53.h"
#include "provider/aws/provider_aws.h"
#include "provider/provider_exec.h"
#include "secrets.h"
#include "steps.h"
#include "task.h"
#include "transport/transport_driver.h"

#define DEFAULT_CONNINFO "host=127.0.0.1 port=15432 dbname=wavemill user=wavemill"
#define CMDB_SECRET "cmdb-tok-9f8e7d6c5b4a"
#define AWS_SECRET "wm-provaws-secret-KEY-0123"

static struct {
    char repo[PATH_MAX], dir[64], conninfo[1200], dbname[64], master_key[128];
    struct orch_moto moto;
    char zone[AWS_R53_ID_LEN];
    char snap[4][32]; /* chain: disk0 gen1, gen2, gen3; disk1 gen1 (moto snapshots) */
    long long server_id;
    struct wm_config *cfg;
    struct wm_pg *db;
    FILE *logf;
    int next_task;
} E;

/* --- fixture --- */

static void sql(const char *q, int n, const char *const *p)
{
    char err[512];
    if (wm_pg_exec(E.db, q, n, p, NULL, err, sizeof(err)) < 0)
        fail_msg("%s: %s", q, err);
}

/* First column of the first row of q. */
static void sql1(char *out, size_t cap, const char *q)
{
    char err[512];
    PGresult *r = wm_pg_query(E.db, q, 0, NULL, err, sizeof(err));
    if (!r)
        fail_msg("%s: %s", q, err);
    snprintf(out, cap, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
}

static void set(const char *k, const char *v)
{
    char err[256];
    if (wm_config_set(E.cfg, k, v, "test", err, sizeof(err)) < 0)
        fail_msg("set %s: %s", k, err);
}

static int db_setup(void)
{
    const char *base = getenv("WAVEMILL_PG_CONNINFO");
    base = base && *base ? base : DEFAULT_CONNINFO;
    snprintf(E.dbname, sizeof(E.dbname), "wm_test_provaws_%d", (int)getpid());
    if (fixture_sh("PGOPTIONS='-c client_min_messages=warning' psql '%s' -qAt -c 'DROP DATABASE IF "
                   "EXISTS %s' -c 'CREATE DATABASE %s' >/dev/null",
                   base, E.dbname, E.dbname) != 0)
        return -1;
    snprintf(E.conninfo, sizeof(E.conninfo), "%s dbname=%s", base, E.dbname);
    char err[512], dir[PATH_MAX + 16];
    int applied = 0;
    snprintf(dir, sizeof(dir), "%s/schemas/sql", E.repo);
    if (!(E.db = wm_pg_new_conninfo(E.conninfo, err, sizeof(err))) ||
        wm_pg_migrate(E.db, dir, &applied, err, sizeof(err)) < 0) {
        fprintf(stderr, "database: %s\n", err);
        return -1;
    }
    return 0;
}

static int store_secret(const char *name, const char *value)
{
    char err[256];
    struct wm_secrets *s = wm_secrets_open(E.db, E.master_key, err, sizeof(err));
    int rc = s ? wm_secrets_set(s, name, value, strlen(value), err, sizeof(err)) : -1;
    wm_secrets_close(s);
    if (rc < 0)
        fprintf(stderr, "secret %s: %s\n", name, err);
    return rc;
}

static int cloud_setup(void)
{
    char err[AWS_ERR_MAX], ref[64];
    if (orch_moto_start(&E.moto, E.repo, E.dir) < 0)
        return -1;
    struct aws_config ac = {E.moto.moto_url, "us-east-1", "AKIDPROVAWS", AWS_SECRET, 10000, {0}};
    struct aws_client *c = aws_client_new(&ac, "route53", err, sizeof(err));
    snprintf(ref, sizeof(ref), "wm-provaws-%d", (int)getpid());
    int rc = c ? aws_r53_create_hosted_zone(c, "provaws.test.", ref, E.zone, err, sizeof(err)) : -1;
    aws_client_free(c);
    if (rc < 0)
        fprintf(stderr, "hosted zone: %s\n", err);
    return rc;
}

static int config_setup(void)
{
    char err[256];
    E.cfg = wm_config_new();
    if (!E.cfg || driver_declare(E.cfg, err, sizeof(err)) < 0 ||
        provider_aws_declare(E.cfg, err, sizeof(err)) < 0 ||
        cmdb_declare(E.cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "declare: %s\n", err);
        return -1;
    }
    set("secrets.master_key", E.master_key);
    set("aws.endpoint", E.moto.moto_url);
    set("aws.credential", "aws-test");
    set("aws.hosted_zone_id", E.zone);
    set("aws.attempts", "6");
    set("aws.backoff_base", "20ms");
    set("aws.backoff_cap", "200ms");
    set("aws.launch_timeout", "20s");
    return 0;
}

static int server_setup(void)
{
    char id[32];
    sql("INSERT INTO waves (name) VALUES ('wave-pa')", 0, NULL);
    sql("INSERT INTO servers (name, wave_id, fqdn, target_provider) SELECT 'srv-pa', id,"
        " 'srv-pa.provaws.test', 'aws' FROM waves WHERE name = 'wave-pa'",
        0, NULL);
    sql1(id, sizeof(id), "SELECT id FROM servers WHERE name = 'srv-pa'");
    E.server_id = atoll(id);
    const char *p[] = {id};
    sql("INSERT INTO disks (server_id, source_path, size_bytes, target_volume) VALUES"
        " ($1, '/dev/vda', 1073741824, 'srv-pa-disk0.img'),"
        " ($1, '/dev/vdb', 2147483648, 'srv-pa-disk1.img')",
        1, p);
    return 0;
}

/* The EBS chain the receiver's exports would have recorded: real moto
 * snapshots, rows in ebs_snapshots; disk0's final generation is 2 (gen 3
 * is the newest: what a test launch uses). */
static int chain_setup(void)
{
    char err[AWS_ERR_MAX], vol[AWS_EC2_ID_LEN];
    struct aws_config ac = {E.moto.moto_url, "us-east-1", "AKIDPROVAWS", AWS_SECRET, 10000, {0}};
    struct aws_client *c = aws_client_new(&ac, "ec2", err, sizeof(err));
    int rc = c ? aws_ec2_create_volume(c, "us-east-1a", 1, vol, err, sizeof(err)) : -1;
    for (int i = 0; rc == 0 && i < 4; i++)
        rc = aws_ec2_create_snapshot(c, vol, "chain", E.snap[i], err, sizeof(err));
    aws_client_free(c);
    if (rc < 0) {
        fprintf(stderr, "chain: %s\n", err);
        return -1;
    }
    const char *p[] = {E.snap[0], E.snap[1], E.snap[2], E.snap[3]};
    sql("INSERT INTO ebs_snapshots (disk_id, generation, snapshot_id, parent_snapshot_id, state)"
        " SELECT d.id, v.g, v.s, v.p, 'completed' FROM disks d JOIN (VALUES"
        " ('/dev/vda', 1, $1, ''), ('/dev/vda', 2, $2, $1), ('/dev/vda', 3, $3, $2),"
        " ('/dev/vdb', 1, $4, '')) v(path, g, s, p) ON v.path = d.source_path",
        4, p);
    sql("UPDATE disks SET generation = CASE source_path WHEN '/dev/vda' THEN 2 ELSE 1 END", 0,
        NULL);
    return 0;
}

/* The proxy's log of form bodies holds a line with every one of want. */
static int body_logged(const char *const *want, size_t n)
{
    char path[PATH_MAX + 8], line[8192];
    snprintf(path, sizeof(path), "%s.body", E.moto.proxy_log);
    FILE *f = fopen(path, "r");
    int found = 0;
    while (f && !found && fgets(line, sizeof(line), f)) {
        size_t k = 0;
        while (k < n && strstr(line, want[k]))
            k++;
        found = k == n;
    }
    if (f)
        fclose(f);
    return found;
}

static int group_setup(void **state)
{
    (void)state;
    fixture_find_repo(E.repo, sizeof(E.repo), "tests/peers/moto_server.sh", R_OK);
    snprintf(E.dir, sizeof(E.dir), "/tmp/wm_provaws.XXXXXX");
    if (!mkdtemp(E.dir))
        return -1;
    snprintf(E.master_key, sizeof(E.master_key), "%s/master.key", E.dir);
    if (fixture_sh("umask 077; head -c 32 /dev/urandom >'%s'", E.master_key) != 0)
        return -1;
    E.logf = tmpfile();
    wm_log_set_stream(E.logf);
    wm_log_set_level(WM_LOG_DEBUG);
    if (db_setup() < 0 || cloud_setup() < 0 || config_setup() < 0 || server_setup() < 0 ||
        chain_setup() < 0)
        return -1;
    if (store_secret("aws-test", "AKIDPROVAWS:" AWS_SECRET) < 0 ||
        store_secret("cmdb-token", CMDB_SECRET) < 0)
        return -1;
    E.next_task = 1000;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    orch_moto_stop(&E.moto, E.repo, E.dir);
    wm_pg_free(E.db);
    const char *base = getenv("WAVEMILL_PG_CONNINFO");
    fixture_sh("psql '%s' -qAt -c 'DROP DATABASE IF EXISTS %s WITH (FORCE)' >/dev/null",
               base && *base ? base : DEFAULT_CONNINFO, E.dbname);
    wm_config_free(E.cfg);
    if (E.logf)
        fclose(E.logf);
    return 0;
}

/* --- task contexts --- */

/* A task of kind for srv-pa with params "k=v" pairs (NULL-terminated). */
static struct task_ctx *task_new(int64_t task_id, const char *kind, ...)
{
    struct task_ctx *t = fixture_task_new(E.cfg, E.conninfo, task_id, E.server_id, kind);
    t->msg.wave_id = 1;
    t->msg.wave = strdup("wave-pa");
    t->msg.server = strdup("srv-pa");
    va_list ap;
    va_start(ap, kind);
    for (const char *k; (k = va_arg(ap, const char *)) && t->msg.nparams < 16;) {
        const char *v = va_arg(ap, const char *);
        fixture_task_param(t, k, v);
    }
    va_end(ap);
    t->transport = &transport_local_driver;
    t->provider = &provider_aws_driver;
    return t;
}

static void ok_or_fail(int rc, const struct task_ctx *t, const char *what)
{
    if (rc != 0)
        fail_msg("%s: rc %d: %s", what, rc, t->error);
}

static struct aws_client *ec2(void)
{
    char err[AWS_ERR_MAX];
    struct aws_config ac = {E.moto.moto_url, "us-east-1", "AKIDPROVAWS", AWS_SECRET, 10000, {0}};
    struct aws_client *c = aws_client_new(&ac, "ec2", err, sizeof(err));
    assert_non_null(c);
    return c;
}

static void describe(const char *id, struct aws_ec2_instance *inst)
{
    char err[AWS_ERR_MAX];
    struct aws_client *c = ec2();
    if (aws_ec2_describe_instance(c, id, inst, err, sizeof(err)) < 0)
        fail_msg("describe %s: %s", id, err);
    aws_client_free(c);
}

/* --- aws provider --- */

static void proxy_reset(int fail, const char *code);

static void test_launch_test_twice_with_the_same_task_makes_one_instance(void **state)
{
    (void)state;
    struct task_ctx *t = task_new(101, "launch_test", "fqdn", "srv-pa.provaws.test",
                                  "instance_type", "t3.micro", (char *)NULL);
    ok_or_fail(provider_aws_driver.check_target(t), t, "check_target");
    char id1[128], id2[128], rec[64];
    set("aws.endpoint", E.moto.proxy_url);
    proxy_reset(0, "RequestLimitExceeded");
    int rc1 = provider_aws_driver.launch(t, LAUNCH_TEST, id1, sizeof(id1));
    int rc2 = rc1 ? rc1 : provider_aws_driver.launch(t, LAUNCH_TEST, id2, sizeof(id2));
    set("aws.endpoint", E.moto.moto_url);
    ok_or_fail(rc1, t, "launch");
    ok_or_fail(rc2, t, "launch again");
    /* the image: disk0's newest snapshot as root, disk1's after it */
    char m1[80], m2[80];
    snprintf(m1, sizeof(m1), "BlockDeviceMapping.1.Ebs.SnapshotId=%s", E.snap[2]);
    snprintf(m2, sizeof(m2), "BlockDeviceMapping.2.Ebs.SnapshotId=%s", E.snap[3]);
    const char *want[] = {"Action=RegisterImage",
                          "RootDeviceName=%2Fdev%2Fxvda",
                          "BlockDeviceMapping.1.DeviceName=%2Fdev%2Fxvda",
                          m1,
                          "BlockDeviceMapping.1.Ebs.VolumeType=gp3",
                          "BlockDeviceMapping.2.DeviceName=%2Fdev%2Fxvdb",
                          m2,
                          "EnaSupport=true"};
    assert_true(body_logged(want, sizeof(want) / sizeof(want[0])));
    const char *run[] = {"Action=RunInstances", "ClientToken="};
    assert_true(body_logged(run, 2));
    sql1(rec, sizeof(rec), "SELECT count(*) FROM ebs_images WHERE purpose = 'test'");
    assert_string_equal(rec, "1");
    assert_string_equal(id1, id2);
    /* one live instance carries the task's client token */
    char token[PROVIDER_EXEC_TOKEN_LEN], err[AWS_ERR_MAX];
    provider_exec_client_token(101, "srv-pa", "launch_test", token, sizeof(token));
    struct aws_ec2_instance found[4];
    int count = 0;
    struct aws_client *c = ec2();
    assert_int_equal(aws_ec2_find_by_token(c, token, found, 4, &count, err, sizeof(err)), 0);
    aws_client_free(c);
    assert_int_equal(count, 1);
    assert_string_equal(found[0].id, id1);
    assert_string_equal(found[0].state, "running");
    assert_string_equal(aws_ec2_tag(&found[0], "purpose"), "test");
    assert_string_equal(aws_ec2_tag(&found[0], "wave"), "wave-pa");
    assert_string_equal(aws_ec2_tag(&found[0], "server"), "srv-pa");
    /* recorded on the server, with an address; volumes mapped per disk */
    sql1(rec, sizeof(rec), "SELECT test_instance_id FROM servers WHERE name = 'srv-pa'");
    assert_string_equal(rec, id1);
    sql1(rec, sizeof(rec), "SELECT test_instance_address <> '' FROM servers");
    assert_string_equal(rec, "t");
    /* no stand-in volumes any more */
    sql1(rec, sizeof(rec), "SELECT count(*) FROM disks WHERE cloud_volume_id <> ''");
    assert_string_equal(rec, "0");
    ok_or_fail(provider_aws_driver.check_instance(t, LAUNCH_TEST), t, "check_instance");
    task_ctx_free(t);
}

static void test_cutover_launch_swaps_groups_and_upserts_dns_then_terminate(void **state)
{
    (void)state;
    char live[64];
    snprintf(live, sizeof(live), "wm-live-%d", (int)getpid());
    struct task_ctx *t = task_new(102, "launch_cutover", "fqdn", "srv-pa.provaws.test",
                                  "security_group_ids", live, (char *)NULL);
    char id[128], err[AWS_ERR_MAX];
    ok_or_fail(provider_aws_driver.launch(t, LAUNCH_CUTOVER, id, sizeof(id)), t, "launch");
    char snaps[160], want_snaps[160];
    sql1(snaps, sizeof(snaps), "SELECT snapshot_ids FROM ebs_images WHERE purpose = 'cutover'");
    snprintf(want_snaps, sizeof(want_snaps), "{%s,%s}", E.snap[1], E.snap[3]);
    assert_string_equal(snaps, want_snaps); /* disk0's final generation 2, not its newest 3 */
    struct aws_ec2_instance before, after;
    describe(id, &before);
    assert_string_equal(aws_ec2_tag(&before, "purpose"), "cutover");
    ok_or_fail(provider_aws_driver.switch_network(t), t, "switch_network");
    describe(id, &after);
    assert_int_equal(after.ngroups, 1);
    assert_string_not_equal(after.group_ids[0], before.group_ids[0]);
    /* the live group is the one named */
    char q[256], gid[64];
    snprintf(q, sizeof(q), "Action=DescribeSecurityGroups&Version=2016-11-15&GroupId.1=%s",
             after.group_ids[0]);
    struct wm_http_response r;
    struct aws_client *c = ec2();
    assert_int_equal(aws_client_call(c, "POST", "/", NULL, "application/x-www-form-urlencoded", q,
                                     strlen(q), &r, err, sizeof(err)),
                     0);
    assert_non_null(strstr(r.body, live));
    wm_http_response_free(&r);
    aws_client_free(c);
    /* DNS: srv-pa.provaws.test. A -> the instance's address; UPSERT twice leaves one */
    ok_or_fail(provider_aws_driver.switch_network(t), t, "switch_network again");
    struct aws_config ac = {E.moto.moto_url, "us-east-1", "AKIDPROVAWS", AWS_SECRET, 10000, {0}};
    c = aws_client_new(&ac, "route53", err, sizeof(err));
    struct aws_r53_record recs[16];
    size_t n = 0;
    int a = 0;
    assert_int_equal(aws_r53_list_records(c, E.zone, recs, 16, &n, err, sizeof(err)), 0);
    aws_client_free(c);
    for (size_t i = 0; i < n && i < 16; i++)
        if (strcmp(recs[i].type, "A") == 0 && strcmp(recs[i].name, "srv-pa.provaws.test.") == 0) {
            a++;
            assert_string_equal(recs[i].value, after.private_ip);
        }
    assert_int_equal(a, 1);
    sql1(gid, sizeof(gid), "SELECT instance_id FROM servers WHERE name = 'srv-pa'");
    assert_string_equal(gid, id);
    /* terminate the test instance (twice: gone is done) */
    char tid[64];
    sql1(tid, sizeof(tid), "SELECT test_instance_id FROM servers WHERE name = 'srv-pa'");
    ok_or_fail(provider_aws_driver.terminate(t, LAUNCH_TEST), t, "terminate");
    ok_or_fail(provider_aws_driver.terminate(t, LAUNCH_TEST), t, "terminate again");
    describe(tid, &before);
    assert_true(strcmp(before.state, "terminated") == 0 ||
                strcmp(before.state, "shutting-down") == 0);
    assert_int_equal(provider_aws_driver.check_instance(t, LAUNCH_TEST), -EIO);
    assert_non_null(strstr(t->error, "not running"));
    task_ctx_free(t);
}

/* The A records named name in the test zone; the first one's value into value. */
static int dns_a_records(const char *name, char *value, size_t cap)
{
    char err[AWS_ERR_MAX];
    struct aws_config ac = {E.moto.moto_url, "us-east-1", "AKIDPROVAWS", AWS_SECRET, 10000, {0}};
    struct aws_client *c = aws_client_new(&ac, "route53", err, sizeof(err));
    struct aws_r53_record recs[16];
    size_t n = 0;
    int a = 0;
    assert_int_equal(aws_r53_list_records(c, E.zone, recs, 16, &n, err, sizeof(err)), 0);
    aws_client_free(c);
    for (size_t i = 0; i < n && i < 16; i++)
        if (strcmp(recs[i].type, "A") == 0 && strcmp(recs[i].name, name) == 0 && a++ == 0)
            snprintf(value, cap, "%s", recs[i].value);
    return a;
}

/* A cutover rolled back after post_cutover (validate failed): the DNS record
 * post_cutover made is gone, the cutover instance is back in its isolated
 * test group, then terminated; every part twice (a retried rollback). */
static void test_rollback_after_dns_change_restores_dns_and_groups(void **state)
{
    (void)state;
    char live[64], test[64], value[64];
    snprintf(live, sizeof(live), "wm-live-rb-%d", (int)getpid());
    snprintf(test, sizeof(test), "wm-test-rb-%d", (int)getpid());
    struct task_ctx *t = task_new(103, "launch_cutover", "fqdn", "srv-rb.provaws.test",
                                  "security_group_ids", live, "test_security_group_ids", test,
                                  (char *)NULL);
    char id[128];
    ok_or_fail(provider_aws_driver.launch(t, LAUNCH_CUTOVER, id, sizeof(id)), t, "launch");
    ok_or_fail(provider_aws_driver.switch_network(t), t, "switch_network");
    struct aws_ec2_instance live_inst, back;
    describe(id, &live_inst);
    assert_int_equal(dns_a_records("srv-rb.provaws.test.", value, sizeof(value)), 1);
    assert_string_equal(value, live_inst.private_ip);
    for (int round = 0; round < 2; round++) {
        ok_or_fail(provider_aws_driver.revert_network(t), t, "revert_network");
        assert_int_equal(dns_a_records("srv-rb.provaws.test.", value, sizeof(value)), 0);
        describe(id, &back);
        assert_int_equal(back.ngroups, 1);
        assert_string_not_equal(back.group_ids[0], live_inst.group_ids[0]);
    }
    char q[256], err[AWS_ERR_MAX];
    snprintf(q, sizeof(q), "Action=DescribeSecurityGroups&Version=2016-11-15&GroupId.1=%s",
             back.group_ids[0]);
    struct wm_http_response r;
    struct aws_client *c = ec2();
    assert_int_equal(aws_client_call(c, "POST", "/", NULL, "application/x-www-form-urlencoded", q,
                                     strlen(q), &r, err, sizeof(err)),
                     0);
    assert_non_null(strstr(r.body, test));
    wm_http_response_free(&r);
    aws_client_free(c);
    ok_or_fail(provider_aws_driver.terminate(t, LAUNCH_CUTOVER), t, "terminate cutover");
    ok_or_fail(provider_aws_driver.revert_network(t), t, "revert_network after terminate");
    describe(id, &back);
    assert_true(strcmp(back.state, "terminated") == 0 || strcmp(back.state, "shutting-down") == 0);
    task_ctx_free(t);
}

static void proxy_reset(int fail, const char *code)
{
    char url[256], err[256];
    snprintf(url, sizeof(url), "%s/__wm_fault/reset?fail=%d&status=503&code=%s", E.moto.proxy_url,
             fail, code);
    struct wm_http_request req = {"GET", url, NULL, 0, NULL, 0, 5000, 2000, 0};
    struct wm_http_response r;
    assert_int_equal(wm_http_do(&req, &r, err, sizeof(err)), 0);
    wm_http_response_free(&r);
}

static int proxy_count(const char *kind)
{
    FILE *f = fopen(E.moto.proxy_log, "r");
    char line[128];
    int n = 0;
    while (f && fgets(line, sizeof(line), f))
        n += strstr(line, kind) != NULL;
    if (f)
        fclose(f);
    return n;
}

static void test_throttled_launch_succeeds_after_retries(void **state)
{
    (void)state;
    set("aws.endpoint", E.moto.proxy_url);
    proxy_reset(3, "RequestLimitExceeded");
    struct task_ctx *t = task_new(103, "launch_test", (char *)NULL);
    char id[128];
    int rc = provider_aws_driver.launch(t, LAUNCH_TEST, id, sizeof(id));
    set("aws.endpoint", E.moto.moto_url);
    ok_or_fail(rc, t, "throttled launch");
    assert_int_equal(proxy_count("fault"), 3);
    assert_true(proxy_count("forward") >= 3);
    struct aws_ec2_instance inst;
    describe(id, &inst);
    assert_string_equal(inst.state, "running");
    task_ctx_free(t);
}

static void test_non_retryable_error_ends_the_task_with_aws_message(void **state)
{
    (void)state;
    set("aws.endpoint", E.moto.proxy_url);
    proxy_reset(0, "RequestLimitExceeded");
    struct task_ctx *t = task_new(104, "prereq_check", "test_security_group_ids",
                                  "sg-0000000000doesnotexist", (char *)NULL);
    int rc = provider_aws_driver.check_target(t);
    set("aws.endpoint", E.moto.moto_url);
    assert_true(rc < 0);
    assert_non_null(strstr(t->error, "InvalidGroup.NotFound"));
    assert_non_null(strstr(t->error, "sg-0000000000doesnotexist"));
    assert_int_equal(proxy_count("forward"), 1); /* not retried */
    task_ctx_free(t);
}

static void test_cutover_without_the_final_snapshot_names_the_disk(void **state)
{
    (void)state;
    sql("UPDATE disks SET generation = 5 WHERE source_path = '/dev/vdb'", 0, NULL);
    struct task_ctx *t = task_new(105, "launch_cutover", (char *)NULL);
    char id[128];
    int rc = provider_aws_driver.launch(t, LAUNCH_CUTOVER, id, sizeof(id));
    sql("UPDATE disks SET generation = 1 WHERE source_path = '/dev/vdb'", 0, NULL);
    assert_true(rc < 0);
    assert_non_null(strstr(t->error, "no completed EBS snapshot of its final generation 5"));
    task_ctx_free(t);
}

static int snapshot_exists(const char *id)
{
    char q[256], err[AWS_ERR_MAX];
    snprintf(q, sizeof(q), "Action=DescribeSnapshots&Version=2016-11-15&SnapshotId.1=%s", id);
    struct wm_http_response r;
    struct aws_client *c = ec2();
    int rc = aws_client_call(c, "POST", "/", NULL, "application/x-www-form-urlencoded", q,
                             strlen(q), &r, err, sizeof(err));
    aws_client_free(c);
    if (rc == 0)
        wm_http_response_free(&r);
    return rc == 0;
}

static void test_decommission_deregisters_test_images_and_deletes_unneeded_snapshots(void **state)
{
    (void)state;
    char v[256];
    struct task_ctx *t = task_new(106, "decommission", (char *)NULL);
    ok_or_fail(provider_aws_driver.terminate(t, LAUNCH_TEST), t, "decommission");
    ok_or_fail(provider_aws_driver.terminate(t, LAUNCH_TEST), t, "decommission again");
    task_ctx_free(t);
    /* every test image deregistered, the cutover images (one per cutover launch) kept */
    sql1(v, sizeof(v),
         "SELECT bool_and(state = 'deregistered') FILTER (WHERE purpose = 'test') AND"
         " count(*) FILTER (WHERE purpose = 'test') >= 2 AND"
         " bool_and(state = 'available') FILTER (WHERE purpose = 'cutover') FROM ebs_images");
    assert_string_equal(v, "t");
    /* retention 1: each disk's newest; the cutover image keeps disk0 gen 2 */
    sql1(v, sizeof(v),
         "SELECT string_agg(generation || ':' || state, ',' ORDER BY disk_id, generation)"
         " FROM ebs_snapshots");
    assert_string_equal(v, "1:deleted,2:completed,3:completed,1:completed");
    assert_false(snapshot_exists(E.snap[0]));
    assert_true(snapshot_exists(E.snap[1]));
    assert_true(snapshot_exists(E.snap[2]));
}

/* --- validate --- */

static int ok_check(struct task_ctx *t, enum launch_kind kind)
{
    (void)t;
    (void)kind;
    return 0;
}

/* the provider's instance check passes: the probes are what is tested here */
static const struct provider_driver stub_provider = {
    .name = "stub", .simulated = false, .check_instance = ok_check};

static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_validate_probes_pass_and_fail_named_report_stored(void **state)
{
    (void)state;
    struct orch_httppeer peer;
    assert_int_equal(orch_httppeer_start(&peer, NULL), 0);
    int port, fd = listener(&port);
    const char *p[] = {"127.0.0.1"};
    sql("UPDATE servers SET instance_address = $1 WHERE name = 'srv-pa'", 1, p);
    char probes[1024], out[2048];
    snprintf(probes, sizeof(probes),
             "[{\"type\":\"tcp\",\"port\":%d,\"name\":\"app-port\"},"
             "{\"type\":\"http\",\"url\":\"http://{address}:%d/status/200\",\"name\":\"health\"},"
             "{\"type\":\"ssh\",\"command\":\"echo up\",\"contains\":\"up\",\"name\":\"cmd\"}]",
             port, peer.port);
    struct task_ctx *t = task_new(105, "validate", "probes", probes, (char *)NULL);
    t->provider = &stub_provider;
    ok_or_fail(step_validate(t), t, "validate");
    sql1(out, sizeof(out), "SELECT validation->>'ok' FROM servers WHERE name = 'srv-pa'");
    assert_string_equal(out, "true");
    sql1(out, sizeof(out),
         "SELECT string_agg(p->>'name' || '=' || (p->>'ok'), ',') FROM servers,"
         " jsonb_array_elements(validation->'probes') p WHERE name = 'srv-pa'");
    assert_string_equal(out, "app-port=true,health=true,cmd=true");
    task_ctx_free(t);

    close(fd); /* the port closes, the health check answers 500 */
    snprintf(probes, sizeof(probes),
             "[{\"type\":\"tcp\",\"port\":%d,\"name\":\"app-port\",\"timeout_ms\":1000},"
             "{\"type\":\"http\",\"url\":\"http://{address}:%d/status/500\",\"name\":\"health\"},"
             "{\"type\":\"ssh\",\"command\":\"echo up\",\"contains\":\"up\",\"name\":\"cmd\"}]",
             port, peer.port);
    t = task_new(106, "validate", "probes", probes, (char *)NULL);
    t->provider = &stub_provider;
    assert_true(step_validate(t) < 0);
    assert_non_null(strstr(t->error, "app-port"));
    assert_non_null(strstr(t->error, "health"));
    assert_null(strstr(t->error, "cmd ("));
    sql1(out, sizeof(out), "SELECT validation->>'ok' FROM servers WHERE name = 'srv-pa'");
    assert_string_equal(out, "false");
    task_ctx_free(t);
    orch_httppeer_stop(&peer);
}

/* --- cmdb --- */

static void test_cmdb_call_carries_the_store_secret_never_logged(void **state)
{
    (void)state;
    struct orch_httppeer peer;
    const char *extra[] = {"--statuses", "200,401", NULL};
    assert_int_equal(orch_httppeer_start(&peer, extra), 0);
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/ci/{server}?wave={wave}", peer.port);
    set("cmdb.url", url);
    set("cmdb.secret", "cmdb-token");
    struct task_ctx *t = task_new(107, "cmdb_update", "fqdn", "srv-pa.provaws.test", (char *)NULL);
    ok_or_fail(step_cmdb(t), t, "cmdb");
    char *rec = orch_httppeer_records(&peer);
    assert_non_null(rec);
    assert_non_null(strstr(rec, "\"authorization\": \"Bearer " CMDB_SECRET "\""));
    assert_non_null(strstr(rec, "/ci/srv-pa?wave=wave-pa"));
    assert_non_null(strstr(rec, "instance_id"));
    free(rec);
    task_ctx_free(t);
    /* refused (401): the task error names the refusal, never the secret */
    t = task_new(108, "cmdb_update", (char *)NULL);
    assert_true(step_cmdb(t) < 0);
    assert_non_null(strstr(t->error, "401"));
    assert_null(strstr(t->error, CMDB_SECRET));
    task_ctx_free(t);
    set("cmdb.url", "");
    orch_httppeer_stop(&peer);
    /* without cmdb.url: the provider's (aws has no CMDB: done, nothing sent) */
    t = task_new(109, "cmdb_update", (char *)NULL);
    ok_or_fail(step_cmdb(t), t, "provider cmdb");
    task_ctx_free(t);
}

/* Runs last: nothing the tests logged holds a secret. */
static void test_secrets_never_reach_the_log(void **state)
{
    (void)state;
    fflush(E.logf);
    long n = ftell(E.logf);
    assert_true(n > 0);
    char *buf = calloc(1, (size_t)n + 1);
    rewind(E.logf);
    assert_int_equal(fread(buf, 1, (size_t)n, E.logf), (size_t)n);
    assert_non_null(strstr(buf, "aws.instance_running"));
    assert_null(strstr(buf, CMDB_SECRET));
    assert_null(strstr(buf, AWS_SECRET));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_launch_test_twice_with_the_same_task_makes_one_instance),
        cmocka_unit_test(test_cutover_launch_swaps_groups_and_upserts_dns_then_terminate),
        cmocka_unit_test(test_rollback_after_dns_change_restores_dns_and_groups),
        cmocka_unit_test(test_throttled_launch_succeeds_after_retries),
        cmocka_unit_test(test_non_retryable_error_ends_the_task_with_aws_message),
        cmocka_unit_test(test_cutover_without_the_final_snapshot_names_the_disk),
        cmocka_unit_test(test_decommission_deregisters_test_images_and_deletes_unneeded_snapshots),
        cmocka_unit_test(test_validate_probes_pass_and_fail_named_report_stored),
        cmocka_unit_test(test_cmdb_call_carries_the_store_secret_never_logged),
        cmocka_unit_test(test_secrets_never_reach_the_log),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
