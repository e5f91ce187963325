/* The prereq_check task (handler_run, as a worker runs it) over ssh into
 * network-namespace hosts: a healthy host passes and its OS facts and disk
 * sizes land in the inventory; every failed check is named in the task
 * error; a host whose ssh host key changed is refused before anything runs
 * on it.  Fixture: tests/support/orch_prereq_fixture.sh; root only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../support/orch_fixture.h"
#include "config.h"
#include "driver.h"
#include "task.h"
#include "worker_int.h"

#define FIX_DIR_FMT "/tmp/wm-prereq.%d"
#define DISK_BYTES "8388608" /* the fixture's 8M images */

static char repo[512] = ".", dir[64];
static struct fixture_env env;

static const char *fx(const char *key)
{
    return fixture_env_get(&env, key);
}
static struct wm_config *cfg;
static int rx_fd = -1; /* a listening "receiver" on the hosts' root side */
static char rx_addr[64];

static void sql1(char *out, size_t cap, const char *q)
{
    fixture_capture(out, cap, "psql '%s' -Atqc \"%s\"", fx("CONNINFO"), q);
}

static void set(const char *k, const char *v)
{
    char err[256];
    assert_int_equal(wm_config_set(cfg, k, v, "test", err, sizeof(err)), 0);
}

/* Listens on the root-side address (the namespaces route there), port
 * chosen by the kernel; never accepts: the check only connects. */
static int rx_listen(const char *addr)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    if (inet_pton(AF_INET, addr, &a.sin_addr) != 1 ||
        (rx_fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        bind(rx_fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(rx_fd, 16) < 0 ||
        getsockname(rx_fd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    snprintf(rx_addr, sizeof(rx_addr), "%s:%d", addr, ntohs(a.sin_port));
    return 0;
}

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        fprintf(stderr, "needs root (network namespaces)\n");
        return -1;
    }
    /* the fixture's hosts, namespaces and state root have fixed names */
    if (fixture_lock("/var/tmp/wavemill-hosts-test-prereq.lock", 240) < 0)
        return -1;
    fixture_find_repo(repo, sizeof(repo), "tests/support/orch_prereq_fixture.sh", R_OK);
    snprintf(dir, sizeof(dir), FIX_DIR_FMT, (int)getpid());
    if (fixture_sh("bash %s/tests/support/orch_prereq_fixture.sh up %s >%s.log 2>&1", repo, dir,
                   dir) != 0) {
        fixture_sh("cat %s.log >&2", dir);
        return -1;
    }
    fixture_env_read(&env, dir);
    char err[256];
    cfg = wm_config_new();
    if (!cfg || driver_declare(cfg, err, sizeof(err)) < 0)
        return -1;
    set("sim.duration", "0"); /* the sim provider's check of the target */
    if (sim_configure(cfg, err, sizeof(err)) < 0)
        return -1;
    set("ssh.known_hosts", fx("KNOWN_HOSTS"));
    set("ssh.key_file", fx("KEY"));
    set("ssh.connect_timeout", "5s");
    if (rx_listen(fx("OK_ROOT_ADDR")) < 0)
        return -1;
    set("repl.receiver", rx_addr);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (rx_fd >= 0)
        close(rx_fd);
    fixture_sh("bash %s/tests/support/orch_prereq_fixture.sh down %s >>%s.log 2>&1 && rm -f %s.log",
               repo, dir, dir, dir);
    wm_config_free(cfg);
    return 0;
}

/* Runs the prereq_check task of server NAME (fixture id NAME_ID) the way a
 * worker does: drivers from the params, then the handler. */
static enum task_result run_prereq(const char *name, char *error, size_t cap)
{
    char key[32];
    snprintf(key, sizeof(key), "%s_ID", name);
    for (char *c = key; *c; c++)
        *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
    struct task_ctx *t = fixture_task_new(cfg, fx("CONNINFO"), 1, atoll(fx(key)), "prereq_check");
    t->msg.server = strdup(name);
    fixture_task_param(t, "transport", "ssh");
    fixture_task_param(t, "provider", "sim");
    fixture_task_param(t, "replication", "wavemill");
    enum task_result r = handler_run(t);
    snprintf(error, cap, "%s", t->error);
    task_ctx_free(t);
    return r;
}

/* Logins the host's sshd accepted so far (sshd -e logs each one). */
static int logins(const char *state_key)
{
    char n[32];
    fixture_capture(n, sizeof(n), "grep -c 'Accepted publickey' %s/sshd.log", fx(state_key));
    return atoi(n);
}

static void expect_os_facts(const char *name)
{
    char want[200], got[300], q[256];
    /* the namespaces share this machine's files, /etc/os-release included */
    fixture_capture(want, sizeof(want), ". /etc/os-release && echo \"linux|$ID $VERSION_ID\"");
    snprintf(q, sizeof(q), "SELECT os_family || '|' || os_version FROM servers WHERE name = '%s'",
             name);
    sql1(got, sizeof(got), q);
    assert_string_equal(got, want);
}

static void test_healthy_host_passes_and_facts_land(void **state)
{
    (void)state;
    char err[512], got[300];
    int before = logins("OK_STATE");
    enum task_result r = run_prereq("ok1", err, sizeof(err));
    if (r != TASK_OK)
        fail_msg("prereq_check of ok1: %s", err);
    assert_true(logins("OK_STATE") > before);
    expect_os_facts("ok1");
    sql1(got, sizeof(got),
         "SELECT string_agg(size_bytes::text, ' ' ORDER BY d.id) FROM disks d JOIN servers s"
         " ON s.id = d.server_id WHERE s.name = 'ok1'");
    assert_string_equal(got, DISK_BYTES " " DISK_BYTES);

    /* an operator's entry is not overwritten by what the source says */
    sql1(got, sizeof(got), "UPDATE servers SET os_version = 'as entered' WHERE name = 'ok1'");
    assert_int_equal(run_prereq("ok1", err, sizeof(err)), TASK_OK);
    sql1(got, sizeof(got), "SELECT os_version FROM servers WHERE name = 'ok1'");
    assert_string_equal(got, "as entered");
}

static void test_every_failed_check_is_named(void **state)
{
    (void)state;
    char err[512], got[300], closed[80];
    /* a port nothing listens on, and more room than the host has */
    snprintf(closed, sizeof(closed), "%s:1", fx("OK_ROOT_ADDR"));
    set("repl.receiver", closed);
    set("repl.agent_space", "1000000G");
    enum task_result r = run_prereq("bad1", err, sizeof(err));
    set("repl.receiver", rx_addr);
    set("repl.agent_space", "64M");
    assert_int_equal(r, TASK_FAILED);
    assert_non_null(strstr(err, "prereq disk_size: "));
    assert_non_null(strstr(err, "no-such-disk.img"));
    assert_non_null(strstr(err, "prereq agent_space: "));
    assert_non_null(strstr(err, "prereq receiver_reach: "));
    assert_null(strstr(err, "prereq os"));
    /* what the source did report is stored all the same */
    expect_os_facts("bad1");
    sql1(got, sizeof(got),
         "SELECT string_agg(size_bytes::text, ' ' ORDER BY d.id) FROM disks d JOIN servers s"
         " ON s.id = d.server_id WHERE s.name = 'bad1'");
    assert_string_equal(got, DISK_BYTES " 0");

    /* a source that is not the OS the inventory says */
    sql1(got, sizeof(got), "UPDATE servers SET os_family = 'windows' WHERE name = 'ok1'");
    r = run_prereq("ok1", err, sizeof(err));
    sql1(got, sizeof(got), "UPDATE servers SET os_family = 'linux' WHERE name = 'ok1'");
    assert_int_equal(r, TASK_FAILED);
    assert_string_equal(err, "prereq os: source runs Linux, expected Windows");
    assert_int_equal(run_prereq("ok1", err, sizeof(err)), TASK_OK);
}

static void test_changed_host_key_is_refused(void **state)
{
    (void)state;
    char err[512], got[300];
    /* the host passes first, so its log shows what a login looks like */
    assert_int_equal(run_prereq("key1", err, sizeof(err)), TASK_OK);
    expect_os_facts("key1");
    sql1(got, sizeof(got),
         "UPDATE servers SET os_family = '', os_version = '' WHERE name = 'key1'");
    assert_int_equal(fixture_sh("WM_HOSTS_DIR=%s QUIET=1 %s/tests/hosts/host rekey pqkey",
                                fx("HOSTS_DIR"), repo),
                     0);
    int before = logins("KEY_STATE");
    assert_true(before >= 1);

    enum task_result r = run_prereq("key1", err, sizeof(err));
    assert_int_equal(r, TASK_FAILED);
    if (!strstr(err, "prereq reachability: host key verification failed") ||
        !strstr(err, "(key changed?)"))
        fail_msg("unexpected error: %s", err);
    /* refused before authentication: no login, nothing ran, nothing stored */
    assert_int_equal(logins("KEY_STATE"), before);
    sql1(got, sizeof(got),
         "SELECT os_family || '|' || os_version FROM servers WHERE name = 'key1'");
    assert_string_equal(got, "|");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthy_host_passes_and_facts_land),
        cmocka_unit_test(test_every_failed_check_is_named),
        cmocka_unit_test(test_changed_host_key_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
