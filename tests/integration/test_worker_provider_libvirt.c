/* The libvirt provider (worker/provider/libvirt/) against the real
 * libvirtd + qemu of this machine (TCG where KVM does not work), over a
 * task context for a server of a database of its own.  The source is a
 * real test host (tests/hosts/host up --boot: a network namespace with
 * sshd and a whole bootable disk); its disk0 becomes the "replica" (a
 * receiver volume: NAME.img + NAME.state) the provider copies from.
 *   launch twice with one task -> one domain; it boots from its own disk
 *   (console line, lease, app probe) on the isolated network, and its
 *   attempt to reach the source's sshd fails, logged from inside;
 *   a launch killed mid-way -> the next attempt finds the same domain;
 *   a commit to the replica while the test guest runs -> the guest is
 *   undisturbed (one boot, still serves the record it booted with), the
 *   replica has the new record, a cutover instance boots the new generation
 *   and serves it on the live network after switch_network;
 *   a damaged bootloader -> check_instance fails with the console excerpt;
 *   terminate (decommission) leaves no domain and no disk copy;
 *   libvirt unreachable -> a clear error naming the URI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "../support/orch_fixture.h"
#include "config.h"
#include "driver.h"
#include "log.h"
#include "pg.h"
#include "provider/libvirt/provider_libvirt.h"
#include "rsnap.h"
#include "task.h"
#include "volstate.h"

#define DEFAULT_CONNINFO "host=127.0.0.1 port=15432 dbname=wavemill user=wavemill"
#define VOL "srv-lv-disk0"

static struct {
    char repo[PATH_MAX], dir[64], conninfo[1200], dbname[64];
    char hosts[128], host[16], src_addr[32], replica[128], state[128];
    char test_net[32], live_net[32], live_pre[32];
    long long server_id;
    struct wm_config *cfg;
    struct wm_pg *db;
    FILE *logf;
    uint64_t gen;
    int failed;
} E;

/* --- fixture --- */

static void sql(const char *q)
{
    char err[512];
    if (wm_pg_exec(E.db, q, 0, NULL, NULL, err, sizeof(err)) < 0)
        fail_msg("%s: %s", q, err);
}

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
    snprintf(E.dbname, sizeof(E.dbname), "wm_test_provlv_%d", (int)getpid());
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
    sql("INSERT INTO waves (name) VALUES ('wave-lv')");
    sql("INSERT INTO servers (name, wave_id, target_provider) SELECT 'srv-lv', id, 'libvirt'"
        " FROM waves WHERE name = 'wave-lv'");
    sql("INSERT INTO disks (server_id, source_path, size_bytes, target_volume) SELECT id,"
        " '/dev/vda', 67108864, '" VOL "' FROM servers WHERE name = 'srv-lv'");
    char id[32];
    sql1(id, sizeof(id), "SELECT id FROM servers WHERE name = 'srv-lv'");
    E.server_id = atoll(id);
    return 0;
}

/* The replica: the source's disk0 as a committed receiver volume. */
static void replica_commit(void)
{
    char p[4200], err[256];
    int fd = rsnap_lock(E.replica, VOL, LOCK_EX); /* as the receiver's commit */
    assert_true(fd >= 0);
    assert_int_equal(
        fixture_sh("cp --sparse=always %s/%s/disk0.img %s/" VOL ".img", E.hosts, E.host, E.replica),
        0);
    struct volstate st;
    memset(&st, 0, sizeof(st));
    st.committed_gen = ++E.gen;
    st.committed_size = 64 << 20;
    st.committed_bs = 65536;
    snprintf(p, sizeof(p), "%s/" VOL ".state", E.replica);
    assert_int_equal(volstate_save(p, &st, err, sizeof(err)), 0);
    rsnap_unlock(fd);
}

static int host_setup(void)
{
    int pid = (int)getpid();
    snprintf(E.hosts, sizeof(E.hosts), "%s/hosts", E.dir);
    snprintf(E.host, sizeof(E.host), "tlv%d", pid % 100000);
    snprintf(E.src_addr, sizeof(E.src_addr), "10.231.%d.2", 80 + pid % 40);
    return fixture_sh("WM_HOSTS_DIR=%s QUIET=1 %s/tests/hosts/host up %s --addr %s/24 --boot "
                      "--disk-size 64M --service >%s/host.log 2>&1",
                      E.hosts, E.repo, E.host, E.src_addr, E.dir);
}

static int config_setup(void)
{
    char err[256], v[64];
    int pid = (int)getpid();
    E.cfg = wm_config_new();
    if (!E.cfg || driver_declare(E.cfg, err, sizeof(err)) < 0 ||
        provider_libvirt_declare(E.cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "declare: %s\n", err);
        return -1;
    }
    set("libvirt.replica_dir", E.replica);
    set("libvirt.state_dir", E.state);
    snprintf(E.test_net, sizeof(E.test_net), "wm-tlv%d-t", pid);
    snprintf(E.live_net, sizeof(E.live_net), "wm-tlv%d-l", pid);
    set("libvirt.test_network", E.test_net);
    set("libvirt.live_network", E.live_net);
    snprintf(v, sizeof(v), "wmbt%dt", pid % 100000);
    set("libvirt.test_bridge", v);
    snprintf(v, sizeof(v), "wmbt%dl", pid % 100000);
    set("libvirt.live_bridge", v);
    snprintf(v, sizeof(v), "10.238.%d.1", pid % 250);
    set("libvirt.test_address", v);
    snprintf(E.live_pre, sizeof(E.live_pre), "10.237.%d.", pid % 250);
    snprintf(v, sizeof(v), "%s1", E.live_pre);
    set("libvirt.live_address", v);
    set("libvirt.probe_url", "http://{address}/cgi-bin/last");
    set("libvirt.boot_timeout", "150s");
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    fixture_find_repo(E.repo, sizeof(E.repo), "tests/hosts/bootdisk", X_OK);
    snprintf(E.dir, sizeof(E.dir), "/var/tmp/wm_provlv.XXXXXX");
    if (!mkdtemp(E.dir) || fixture_sh("chmod 755 %s", E.dir) != 0)
        return -1;
    snprintf(E.replica, sizeof(E.replica), "%s/replica", E.dir);
    snprintf(E.state, sizeof(E.state), "%s/state", E.dir);
    if (fixture_sh("mkdir -p %s %s", E.replica, E.state) != 0)
        return -1;
    char logp[128];
    snprintf(logp, sizeof(logp), "/var/tmp/wm_provlv_%d.log", (int)getpid());
    E.logf = fopen(logp, "w"); /* kept when a test fails (removed when all pass) */
    wm_log_set_stream(E.logf);
    wm_log_set_level(WM_LOG_DEBUG);
    if (fixture_sh("virsh -q -c qemu:///system version >/dev/null 2>&1") != 0) {
        fprintf(stderr, "libvirt does not answer at qemu:///system (deploy/local/up starts it)\n");
        return -1;
    }
    if (host_setup() < 0 || db_setup() < 0 || config_setup() < 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    fixture_sh("for d in $(virsh -q -c qemu:///system list --all --name | grep '^wm-srv-lv-'); do "
               "virsh -q -c qemu:///system destroy $d; virsh -q -c qemu:///system undefine $d; "
               "done >/dev/null 2>&1");
    fixture_sh("for n in %s %s; do virsh -q -c qemu:///system net-destroy $n; "
               "virsh -q -c qemu:///system net-undefine $n; done >/dev/null 2>&1",
               E.test_net, E.live_net);
    fixture_sh("WM_HOSTS_DIR=%s QUIET=1 %s/tests/hosts/host down %s >/dev/null 2>&1", E.hosts,
               E.repo, E.host);
    wm_pg_free(E.db);
    const char *base = getenv("WAVEMILL_PG_CONNINFO");
    fixture_sh("psql '%s' -qAt -c 'DROP DATABASE IF EXISTS %s WITH (FORCE)' >/dev/null",
               base && *base ? base : DEFAULT_CONNINFO, E.dbname);
    fixture_sh("rm -rf %s", E.dir);
    if (E.failed == 0)
        fixture_sh("rm -f /var/tmp/wm_provlv_%d.log", (int)getpid());
    wm_config_free(E.cfg);
    if (E.logf)
        fclose(E.logf);
    return 0;
}

/* --- helpers --- */

static struct task_ctx *task_new(int64_t task_id, const char *kind)
{
    struct task_ctx *t = fixture_task_new(E.cfg, E.conninfo, task_id, E.server_id, kind);
    t->msg.wave_id = 1;
    t->msg.wave = strdup("wave-lv");
    t->msg.server = strdup("srv-lv");
    t->provider = &provider_libvirt_driver;
    return t;
}

static void ok_or_fail(int rc, const struct task_ctx *t, const char *what)
{
    if (rc != 0)
        E.failed++;
    if (rc != 0)
        fail_msg("%s: rc %d: %s", what, rc, t->error);
}

static int domains(const char *prefix)
{
    char out[32];
    fixture_capture(out, sizeof(out),
                    "virsh -q -c qemu:///system list --all --name | grep -c '^%s' || true", prefix);
    return atoi(out);
}

/* Waits up to secs for grep pattern to match file; 1 if it did. */
static int wait_grep(const char *pattern, const char *file, int secs)
{
    for (int i = 0; i < secs * 4; i++) {
        if (fixture_sh("grep -aq '%s' %s 2>/dev/null", pattern, file) == 0)
            return 1;
        usleep(250 * 1000);
    }
    return 0;
}

static void console_of(const char *dom, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s.console.log", E.state, dom);
}

static void app_record(const char *addr, char *out, size_t cap)
{
    fixture_capture(out, cap, "curl -s -m 5 http://%s/cgi-bin/last | tail -n 1", addr);
}

static void last_record_in_replica(char *out, size_t cap)
{
    char off[32];
    fixture_capture(off, sizeof(off), "%s/tests/hosts/bootdisk root-offset", E.repo);
    fixture_capture(out, cap,
                    "debugfs -R 'cat /data/records.log' '%s/" VOL ".img?offset=%s' "
                    "2>/dev/null | tail -n 1",
                    E.replica, off);
}

/* --- tests --- */

static void test_unreachable_libvirt_is_a_clear_error(void **state)
{
    (void)state;
    replica_commit();
    set("libvirt.uri", "qemu+unix:///system?socket=/nonexistent/wm-libvirt-sock");
    struct task_ctx *t = task_new(901, "launch_test");
    char id[128];
    assert_true(provider_libvirt_driver.launch(t, LAUNCH_TEST, id, sizeof(id)) < 0);
    assert_non_null(strstr(t->error, "cannot connect to qemu+unix:///system"));
    assert_non_null(strstr(t->error, "libvirtd"));
    assert_true(provider_libvirt_driver.check_target(t) < 0);
    task_ctx_free(t);
    set("libvirt.uri", "qemu:///system");
    assert_int_equal(domains("wm-srv-lv-"), 0);
}

static void test_launch_is_idempotent_boots_and_is_isolated(void **state)
{
    (void)state;
    struct task_ctx *t = task_new(1001, "launch_test");
    char id1[128], id2[128], con[300], addr[64], got[256], want[256], pat[160];
    ok_or_fail(provider_libvirt_driver.check_target(t), t, "check_target");
    ok_or_fail(provider_libvirt_driver.launch(t, LAUNCH_TEST, id1, sizeof(id1)), t, "launch");
    ok_or_fail(provider_libvirt_driver.launch(t, LAUNCH_TEST, id2, sizeof(id2)), t, "launch again");
    assert_string_equal(id1, id2);
    assert_int_equal(domains("wm-srv-lv-t-"), 1);
    ok_or_fail(provider_libvirt_driver.check_instance(t, LAUNCH_TEST), t, "check_instance");
    task_ctx_free(t);
    /* booted from its own disk: firmware, SYSLINUX, the kernel, its init */
    console_of(id1, con, sizeof(con));
    assert_true(wait_grep("SYSLINUX", con, 1));
    assert_true(wait_grep("WAVEMILL-BOOT-DONE host=", con, 1));
    sql1(addr, sizeof(addr), "SELECT test_instance_address FROM servers WHERE name = 'srv-lv'");
    assert_true(strncmp(addr, "10.238.", 7) == 0);
    /* the app in the guest serves the last record of the replica it booted */
    app_record(addr, got, sizeof(got));
    last_record_in_replica(want, sizeof(want));
    assert_true(want[0] != '\0');
    assert_string_equal(got, want);
    /* isolated: the guest tried its source's sshd and logged the failure */
    snprintf(pat, sizeof(pat), "WAVEMILL-PEER host=%s peer=%s:22 unreachable", E.host, E.src_addr);
    assert_true(wait_grep(pat, con, 20));
    /* ... which the worker's side reaches (so it is the network, not the source) */
    assert_int_equal(fixture_sh("timeout 3 bash -c '</dev/tcp/%s/22' 2>/dev/null", E.src_addr), 0);
}

static void test_commit_while_test_runs_leaves_the_guest_undisturbed(void **state)
{
    (void)state;
    char id[128], con[300], addr[64], before[256], after[256], rec[256];
    sql1(id, sizeof(id), "SELECT test_instance_id FROM servers WHERE name = 'srv-lv'");
    sql1(addr, sizeof(addr), "SELECT test_instance_address FROM servers WHERE name = 'srv-lv'");
    app_record(addr, before, sizeof(before));
    sleep(2); /* the source's service writes more records into its disk */
    replica_commit();
    last_record_in_replica(rec, sizeof(rec));
    assert_string_not_equal(rec, before);
    /* the guest: still running, booted once, serving what it booted with */
    console_of(id, con, sizeof(con));
    char n[16];
    fixture_capture(n, sizeof(n), "grep -ac WAVEMILL-BOOT-DONE %s", con);
    assert_string_equal(n, "1");
    app_record(addr, after, sizeof(after));
    assert_string_equal(after, before);
    /* the cutover instance boots the new generation, moves to the live net */
    struct task_ctx *t = task_new(3001, "launch_cutover");
    char cid[128], caddr[64], got[256];
    ok_or_fail(provider_libvirt_driver.launch(t, LAUNCH_CUTOVER, cid, sizeof(cid)), t, "launch");
    ok_or_fail(provider_libvirt_driver.check_instance(t, LAUNCH_CUTOVER), t, "check cutover");
    ok_or_fail(provider_libvirt_driver.switch_network(t), t, "switch_network");
    ok_or_fail(provider_libvirt_driver.check_instance(t, LAUNCH_CUTOVER), t, "check after move");
    task_ctx_free(t);
    sql1(caddr, sizeof(caddr), "SELECT instance_address FROM servers WHERE name = 'srv-lv'");
    assert_true(strncmp(caddr, E.live_pre, strlen(E.live_pre)) == 0);
    app_record(caddr, got, sizeof(got));
    assert_string_equal(got, rec);
}

/* A launch whose worker dies after defining the domain: the retry (same
 * task, so same client token) finds that domain. */
static void test_killed_launch_is_found_by_the_next_attempt(void **state)
{
    (void)state;
    struct task_ctx *t = task_new(1001, "decommission");
    ok_or_fail(provider_libvirt_driver.terminate(t, LAUNCH_TEST), t, "terminate");
    task_ctx_free(t);
    assert_int_equal(domains("wm-srv-lv-t-"), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct task_ctx *c = task_new(2001, "launch_test");
        char id[128];
        provider_libvirt_driver.launch(c, LAUNCH_TEST, id, sizeof(id));
        pause(); /* killed before it returns to its caller */
        _exit(0);
    }
    int seen = 0;
    for (int i = 0; i < 200 && !seen; i++) {
        seen = domains("wm-srv-lv-t-") == 1;
        if (!seen)
            usleep(100 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_true(seen);
    char before[64], id[128];
    fixture_capture(before, sizeof(before),
                    "virsh -q -c qemu:///system list --all --uuid | sort | tr '\\n' ' '");
    t = task_new(2001, "launch_test");
    ok_or_fail(provider_libvirt_driver.launch(t, LAUNCH_TEST, id, sizeof(id)), t, "retry");
    ok_or_fail(provider_libvirt_driver.check_instance(t, LAUNCH_TEST), t, "check retry");
    task_ctx_free(t);
    assert_int_equal(domains("wm-srv-lv-t-"), 1);
    char after[64];
    fixture_capture(after, sizeof(after),
                    "virsh -q -c qemu:///system list --all --uuid | sort | tr '\\n' ' '");
    assert_string_equal(before, after);
}

static void test_damaged_bootloader_fails_with_the_console(void **state)
{
    (void)state;
    /* the replica's MBR boot code zeroed: SeaBIOS finds nothing to boot */
    replica_commit();
    assert_int_equal(fixture_sh("dd if=/dev/zero of=%s/" VOL ".img bs=440 count=1 conv=notrunc "
                                "status=none",
                                E.replica),
                     0);
    set("libvirt.boot_timeout", "30s");
    struct task_ctx *t = task_new(4001, "launch_test");
    char id[128];
    ok_or_fail(provider_libvirt_driver.launch(t, LAUNCH_TEST, id, sizeof(id)), t, "launch");
    assert_true(provider_libvirt_driver.check_instance(t, LAUNCH_TEST) < 0);
    assert_non_null(strstr(t->error, "did not show its boot line"));
    assert_non_null(strstr(t->error, "console: "));
    assert_non_null(strstr(t->error, "oot")); /* SeaBIOS's "Booting from Hard Disk..." */
    assert_null(strstr(t->error, "(empty)"));
    task_ctx_free(t);
    set("libvirt.boot_timeout", "150s");
}

static void test_decommission_leaves_nothing(void **state)
{
    (void)state;
    struct task_ctx *t = task_new(5001, "decommission");
    ok_or_fail(provider_libvirt_driver.terminate(t, LAUNCH_TEST), t, "terminate test");
    ok_or_fail(provider_libvirt_driver.terminate(t, LAUNCH_CUTOVER), t, "terminate cutover");
    ok_or_fail(provider_libvirt_driver.terminate(t, LAUNCH_TEST), t, "terminate again");
    task_ctx_free(t);
    assert_int_equal(domains("wm-srv-lv-"), 0);
    char n[16];
    fixture_capture(n, sizeof(n), "ls %s | grep -vx kvm-broken | wc -l", E.state);
    assert_string_equal(n, "0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unreachable_libvirt_is_a_clear_error),
        cmocka_unit_test(test_launch_is_idempotent_boots_and_is_isolated),
        cmocka_unit_test(test_commit_while_test_runs_leaves_the_guest_undisturbed),
        cmocka_unit_test(test_killed_launch_is_found_by_the_next_attempt),
        cmocka_unit_test(test_damaged_bootloader_fails_with_the_console),
        cmocka_unit_test(test_decommission_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
