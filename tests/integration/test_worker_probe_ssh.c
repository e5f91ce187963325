/* probes against a real host: a network namespace with its own sshd (made
 * by tests/hosts/host, root only) stands for a launched instance; a probe
 * list checks its ssh port over TCP and runs commands on it through the ssh
 * transport. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/orch_fixture.h"
#include "jsonr.h"
#include "log.h"
#include "probe/probe.h"
#include "transport/transport.h"
#include "transport/transport_ssh.h"

#define STATE_ROOT "/var/tmp/wavemill-hosts-test-orch-probe"
#define HOST_ADDR "10.231.211.2"

static char repo[512] = ".";
static char key[512], known_hosts[512];

static int host_cmd(const char *args)
{
    return fixture_sh("%s/tests/hosts/host %s", repo, args);
}

/* key and known_hosts of host pa, from `host info`. */
static int read_info(void)
{
    char cmd[700], line[512];
    snprintf(cmd, sizeof cmd, "%s/tests/hosts/host info pa", repo);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "key=", 4) == 0)
            snprintf(key, sizeof key, "%s", line + 4);
        else if (strncmp(line, "known_hosts=", 12) == 0)
            snprintf(known_hosts, sizeof known_hosts, "%s", line + 12);
    }
    return pclose(p) == 0 && key[0] && known_hosts[0] ? 0 : -1;
}

static struct transport *ssh_to_host(void)
{
    char err[256];
    struct transport_ssh_config c = {.host = HOST_ADDR, .user = "root", .key_file = key,
                                     .known_hosts = known_hosts, .connect_timeout_s = 5};
    struct transport *tp = transport_ssh_new(&c, err, sizeof err);
    if (!tp)
        fail_msg("transport_ssh_new: %s", err);
    return tp;
}

static void test_probe_ssh_command_on_a_real_host(void **state)
{
    (void)state;
    struct transport *tp = ssh_to_host();
    struct probe_result r = {0};

    probe_ssh(tp, "hostname", 0, "pa", 10000, &r);
    if (!r.ok)
        fail_msg("%s", r.detail);
    probe_ssh(tp, "echo 'app: inactive' >&2; exit 3", 0, NULL, 10000, &r);
    assert_false(r.ok);
    assert_non_null(strstr(r.detail, "exit 3, expected 0: app: inactive"));
    transport_free(tp);
}

static void test_probe_list_against_a_real_host(void **state)
{
    (void)state;
    char err[256];
    struct transport *tp = ssh_to_host();
    struct probe_report rep;
    struct probe_list *l = probe_list_parse(
        "[{\"type\":\"tcp\",\"port\":22,\"name\":\"sshd\"},"
        " {\"type\":\"tcp\",\"port\":8081,\"name\":\"app-port\",\"timeout_ms\":2000},"
        " {\"type\":\"ssh\",\"command\":\"ip -4 -o addr show eth0\",\"contains\":\"{address}/24\"},"
        " {\"type\":\"ssh\",\"command\":\"test -d /nonexistent\",\"name\":\"no-dir\"}]",
        HOST_ADDR, err, sizeof err);

    assert_non_null(l);
    assert_int_equal(probe_list_run(l, tp, &rep), 0);
    assert_false(rep.ok);
    assert_true(rep.results[0].ok);
    assert_false(rep.results[1].ok); /* nothing listens on 8081 there */
    assert_non_null(strstr(rep.results[1].detail, "Connection refused"));
    if (!rep.results[2].ok)
        fail_msg("%s", rep.results[2].detail);
    assert_false(rep.results[3].ok);
    assert_non_null(strstr(rep.results[3].detail, "exit 1, expected 0"));

    struct wm_jsonr *d = wm_jsonr_parse(rep.json, strlen(rep.json), NULL, NULL, err, sizeof err);
    assert_non_null(d);
    assert_string_equal(wm_jsonr_path_str(wm_jsonr_root(d), "probes.0.name", ""), "sshd");
    assert_string_equal(wm_jsonr_path_str(wm_jsonr_root(d), "probes.2.type", ""), "ssh");
    wm_jsonr_free(d);
    probe_report_free(&rep);
    probe_list_free(l);
    transport_free(tp);
}

static int setup(void **state)
{
    (void)state;
    static FILE *devnull;
    devnull = fopen("/dev/null", "w");
    wm_log_set_stream(devnull);
    if (geteuid() != 0) {
        fprintf(stderr, "test_worker_probe_ssh needs root (network namespaces)\n");
        return -1;
    }
    /* host pa, its namespace and STATE_ROOT have fixed names */
    if (fixture_lock(STATE_ROOT ".lock", 240) < 0)
        return -1;
    fixture_find_repo(repo, sizeof(repo), "tests/hosts/host", X_OK);
    setenv("WM_HOSTS_DIR", STATE_ROOT, 1);
    host_cmd("down-all >/dev/null 2>&1");
    if (host_cmd("up pa --addr " HOST_ADDR "/24 --disks 1 --disk-size 4M") != 0)
        return -1;
    return read_info();
}

static int teardown(void **state)
{
    (void)state;
    host_cmd("down-all >/dev/null 2>&1");
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_ssh_command_on_a_real_host),
        cmocka_unit_test(test_probe_list_against_a_real_host),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
