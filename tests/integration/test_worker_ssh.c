/* The ssh transport and prereq_check against real source hosts: two
 * network namespaces with their own sshd, made by tests/hosts/host (root
 * only).  The hosts live under their own state root, so `down-all` here
 * never touches a demo's hosts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../support/orch_fixture.h"
#include "prereq/prereq.h"
#include "transport/transport.h"
#include "transport/transport_ssh.h"

#define STATE_ROOT "/var/tmp/wavemill-hosts-test-orch-ssh"
#define OUT_CAP (256 * 1024)

/* What `host info NAME` says about a host. */
struct host {
    const char *name, *addr_arg;
    char addr[32], root_addr[32], key[256], known_hosts[256], pubkey[256], agent_dir[256];
    char state[256], disk0[256], disk1[256];
};

static struct host ha = {.name = "ta", .addr_arg = "10.231.201.2/24"};
static struct host hb = {.name = "tb", .addr_arg = "10.231.202.2/24"};
static char repo[512] = ".";
static char *out;
static struct transport_result res;

/* Runs `tests/hosts/host ARGS`; its exit status. */
static int host_cmd(const char *fmt, ...)
{
    char args[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    return fixture_sh("%s/tests/hosts/host %s", repo, args);
}

/* First line of a shell command's output into buf ("" if none). */
static void capture(const char *cmd, char *buf, size_t cap)
{
    fixture_capture(buf, cap, "%s", cmd);
}

static void read_info(struct host *h)
{
    char cmd[700], line[512];
    snprintf(cmd, sizeof cmd, "%s/tests/hosts/host info %s", repo, h->name);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        char *v = strchr(line, '=');
        if (!v)
            continue;
        *v++ = '\0';
        struct {
            const char *k;
            char *dst;
        } map[] = {{"addr", h->addr},
                   {"root_addr", h->root_addr},
                   {"key", h->key},
                   {"known_hosts", h->known_hosts},
                   {"host_pubkey", h->pubkey},
                   {"agent_dir", h->agent_dir},
                   {"state", h->state},
                   {"disk0", h->disk0},
                   {"disk1", h->disk1}};
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (strcmp(line, map[i].k) == 0)
                snprintf(map[i].dst, 256, "%s", v);
    }
    assert_int_equal(pclose(p), 0);
}

static struct transport *ssh_to(const struct host *h, const char *addr, int cto)
{
    char err[256];
    struct transport_ssh_config c = {.host = addr ? addr : h->addr,
                                     .port = 22,
                                     .user = "root",
                                     .key_file = h->key,
                                     .known_hosts = h->known_hosts,
                                     .connect_timeout_s = cto};
    struct transport *tp = transport_ssh_new(&c, err, sizeof err);
    if (!tp)
        fail_msg("transport_ssh_new: %s", err);
    return tp;
}

/* Runs cmd on tp expecting success; stdout (trailing newline cut) in out. */
static int run_ok(struct transport *tp, const char *cmd)
{
    char err[512];
    int rc = transport_run(tp, cmd, 10000, out, OUT_CAP, &res, err, sizeof err);
    if (rc == -EKEYREJECTED) { /* for the post-mortem: what was pinned */
        char dump[700];
        snprintf(dump, sizeof dump, "ls -l --full-time %s*; cat %s", ha.known_hosts,
                 ha.known_hosts);
        if (system(dump) != 0)
            print_message("(no known_hosts)\n");
    }
    if (rc != 0)
        fail_msg("run '%s': %d %s", cmd, rc, err);
    if (res.out_len && out[res.out_len - 1] == '\n')
        out[--res.out_len] = '\0';
    return res.exit_code;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Two runs of this test at once (several people share the tree and run
 * the whole suite) would tear down each other's hosts: the second waits
 * for the first.  The lock goes with the process, even a killed one. */
static int lock_state_root(void)
{
    int fd = open(STATE_ROOT ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    for (int i = 0; i < 1200; i++) { /* 120 s */
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        usleep(100 * 1000);
    }
    fprintf(stderr, "another test_worker_ssh held %s.lock for 120 s\n", STATE_ROOT);
    return -1;
}

static int setup_hosts(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        fprintf(stderr, "test_worker_ssh needs root (network namespaces)\n");
        return -1;
    }
    if (lock_state_root() < 0)
        return -1;
    fixture_find_repo(repo, sizeof(repo), "tests/hosts/host", X_OK);
    setenv("WM_HOSTS_DIR", STATE_ROOT, 1);
    out = malloc(OUT_CAP);
    host_cmd("down-all >/dev/null 2>&1"); /* leftovers of an earlier, killed run */
    if (host_cmd("up ta --addr %s --disks 2 --disk-size 16M --service --flush-ms 300",
                 ha.addr_arg) != 0 ||
        host_cmd("up tb --addr %s --disks 1 --disk-size 16M --agent-size 1M", hb.addr_arg) != 0)
        return -1;
    read_info(&ha);
    read_info(&hb);
    return 0;
}

static int teardown_hosts(void **state)
{
    (void)state;
    host_cmd("down-all >/dev/null 2>&1");
    free(out);
    return 0;
}

/* --- transport --- */

static void test_ssh_runs_commands_inside_each_host(void **state)
{
    (void)state;
    const struct host *hs[] = {&ha, &hb};
    for (int i = 0; i < 2; i++) {
        struct transport *tp = ssh_to(hs[i], NULL, 5);
        assert_string_equal(transport_name(tp), "ssh");
        assert_int_equal(run_ok(tp, "hostname"), 0);
        assert_string_equal(out, hs[i]->name);
        assert_int_equal(run_ok(tp, "uname -s"), 0);
        assert_string_equal(out, "Linux");
        assert_int_equal(run_ok(tp, "ip -4 -o addr show eth0 | awk '{print $4}'"), 0);
        assert_string_equal(out, hs[i]->addr_arg);
        /* exit status and stderr come back apart from stdout */
        assert_int_equal(run_ok(tp, "echo to-out; echo to-err >&2; exit 7"), 7);
        assert_string_equal(out, "to-out");
        assert_string_equal(res.errout, "to-err\n");
        /* a remote 255 is the command's, not an ssh failure */
        assert_int_equal(run_ok(tp, "exit 255"), 255);
        transport_free(tp);
    }
}

static void test_ssh_output_is_bounded(void **state)
{
    (void)state;
    struct transport *tp = ssh_to(&ha, NULL, 5);
    char small[1000], err[256];
    assert_int_equal(transport_run(tp, "head -c 300000 /dev/zero | tr '\\0' x", 10000, small,
                                   sizeof small, &res, err, sizeof err),
                     0);
    assert_int_equal(res.exit_code, 0);
    assert_true(res.out_truncated);
    assert_int_equal(res.out_len, sizeof small - 1);
    assert_int_equal(strlen(small), sizeof small - 1);
    transport_free(tp);
}

static void test_ssh_push_then_read_back(void **state)
{
    (void)state;
    char local[] = "/tmp/wm-test-push-XXXXXX", remote[400], cmd[1200], err[256];
    int fd = mkstemp(local);
    assert_true(fd >= 0);
    static unsigned char data[100000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 7 + i / 251); /* every byte value, no pattern of 2^n */
    assert_int_equal(write(fd, data, sizeof data), (ssize_t)sizeof data);
    close(fd);
    snprintf(remote, sizeof remote, "%s/pushed file's copy", hb.agent_dir);
    struct transport *tp = ssh_to(&hb, NULL, 5);
    assert_int_equal(transport_push(tp, local, remote, 0640, 10000, err, sizeof err), 0);
    char q[500] = "";
    assert_int_equal(transport_shell_quote(q, sizeof q, remote), 0);
    snprintf(cmd, sizeof cmd, "cat %s", q);
    assert_int_equal(transport_run(tp, cmd, 10000, out, OUT_CAP, &res, err, sizeof err), 0);
    assert_int_equal(res.out_len, sizeof data);
    assert_memory_equal(out, data, sizeof data);
    snprintf(cmd, sizeof cmd, "stat -c %%a %s; ls %s | grep -c wm-tmp", q, hb.agent_dir);
    run_ok(tp, cmd);
    assert_string_equal(out, "640\n0");
    /* a missing local file is refused before anything runs */
    assert_int_equal(transport_push(tp, "/nonexistent/x", remote, 0600, 5000, err, sizeof err),
                     -ENOENT);
    transport_free(tp);
    unlink(local);
}

static void test_local_transport_twin(void **state)
{
    (void)state;
    char err[256], src[] = "/tmp/wm-test-local-XXXXXX", dst[64];
    struct transport *tp = transport_local_new(err, sizeof err);
    assert_string_equal(transport_name(tp), "local");
    assert_int_equal(transport_run(tp, "echo hi; echo oops >&2; exit 3", 5000, out, OUT_CAP, &res,
                                   err, sizeof err),
                     0);
    assert_int_equal(res.exit_code, 3);
    assert_string_equal(out, "hi\n");
    assert_string_equal(res.errout, "oops\n");
    long long t0 = now_ms();
    assert_int_equal(transport_run(tp, "sleep 20", 300, out, OUT_CAP, &res, err, sizeof err),
                     -ETIMEDOUT);
    assert_true(now_ms() - t0 < 15000); /* the 300 ms timeout, not the 20 s sleep; load: room */
    int fd = mkstemp(src);
    assert_int_equal(write(fd, "payload", 7), 7);
    close(fd);
    snprintf(dst, sizeof dst, "%s.copy", src);
    assert_int_equal(transport_push(tp, src, dst, 0600, 5000, err, sizeof err), 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "cat %s", dst);
    assert_int_equal(transport_run(tp, cmd, 5000, out, OUT_CAP, &res, err, sizeof err), 0);
    assert_string_equal(out, "payload");
    unlink(src), unlink(dst);
    transport_free(tp);
}

static void test_hanging_command_is_killed_at_the_timeout(void **state)
{
    (void)state;
    char err[256];
    struct transport *tp = ssh_to(&ha, NULL, 5);
    long long t0 = now_ms();
    /* 8 s: on a loaded machine the ssh connection alone took over 1.5 s
     * and "started" never came before the timeout */
    int rc = transport_run(tp, "echo started; sleep 60", 8000, out, OUT_CAP, &res, err, sizeof err);
    long long took = now_ms() - t0;
    assert_int_equal(rc, -ETIMEDOUT);
    assert_true(took >= 7900 && took < 40000); /* not the 60 s sleep; room for load */
    assert_non_null(strstr(err, "timed out after 8000 ms"));
    assert_string_equal(out, "started\n"); /* what came before the timeout is kept */
    /* and the source stops the command itself soon after */
    char left[64] = "";
    for (int i = 0; i < 300; i++) { /* up to 30 s on a loaded machine */
        capture("ip netns pids wm-ta | xargs -r ps -o args= -p | grep -c '^sleep 60'", left,
                sizeof left);
        if (strcmp(left, "0") == 0)
            break;
        usleep(100 * 1000);
    }
    assert_string_equal(left, "0");
    transport_free(tp);
}

/* tb drops its answers to the root namespace: SYNs arrive, nothing comes back. */
static void test_unreachable_host_gives_a_timeout_error(void **state)
{
    (void)state;
    char err[256], cmd[200];
    snprintf(cmd, sizeof cmd, "exec tb ip route add blackhole %s/32", hb.root_addr);
    assert_int_equal(host_cmd("%s", cmd), 0);
    struct transport *tp = ssh_to(&hb, NULL, 2);
    long long t0 = now_ms();
    int rc = transport_run(tp, "true", 30000, out, OUT_CAP, &res, err, sizeof err);
    long long took = now_ms() - t0;
    snprintf(cmd, sizeof cmd, "exec tb ip route del blackhole %s/32", hb.root_addr);
    assert_int_equal(host_cmd("%s", cmd), 0);
    print_message("blackholed: %s (%lld ms)\n", err, took);
    assert_int_equal(rc, -ETIMEDOUT);
    assert_non_null(strstr(err, "connection timed out"));
    assert_true(took >= 1500 && took < 20000); /* the 2 s connect timeout, not the 30 s run */
    transport_free(tp);
    /* and an address nobody routes to fails fast, with its reason */
    tp = ssh_to(&hb, "10.231.254.9", 2);
    rc = transport_run(tp, "true", 10000, out, OUT_CAP, &res, err, sizeof err);
    print_message("unrouted: %s\n", err);
    assert_true(rc == -ENETUNREACH || rc == -EHOSTUNREACH || rc == -ETIMEDOUT);
    assert_non_null(strstr(err, "10.231.254.9"));
    transport_free(tp);
}

static void test_changed_host_key_is_refused_and_nothing_runs(void **state)
{
    (void)state;
    char err[256], marker[400], cmd[500];
    assert_int_equal(host_cmd("rekey tb >/dev/null 2>&1"), 0);
    snprintf(marker, sizeof marker, "%s/ran-with-changed-key", hb.state);
    snprintf(cmd, sizeof cmd, "touch '%s'", marker);
    struct transport *tp = ssh_to(&hb, NULL, 5);
    int rc = transport_run(tp, cmd, 10000, out, OUT_CAP, &res, err, sizeof err);
    print_message("changed key: %s\n", err);
    assert_int_equal(rc, -EKEYREJECTED);
    char want[128];
    snprintf(want, sizeof want, "host key verification failed for %s:22 (key changed?)", hb.addr);
    assert_string_equal(err, want);
    assert_int_not_equal(access(marker, F_OK), 0);
    /* pinning the new key (the operator's decision) lets it run again */
    char pub[512];
    snprintf(cmd, sizeof cmd, "cat %s", hb.pubkey);
    capture(cmd, pub, sizeof pub);
    assert_int_equal(transport_ssh_pin_host(hb.known_hosts, hb.addr, 22, pub, err, sizeof err), 0);
    assert_int_equal(run_ok(tp, "hostname"), 0);
    assert_string_equal(out, "tb");
    /* the other host's pin was kept */
    struct transport *ta = ssh_to(&ha, NULL, 5);
    assert_int_equal(run_ok(ta, "hostname"), 0);
    transport_free(ta);
    transport_free(tp);
}

static void test_wrong_key_is_permission_denied(void **state)
{
    (void)state;
    char err[256], key[64] = "/tmp/wm-test-key-XXXXXX", cmd[200];
    int fd = mkstemp(key);
    close(fd);
    unlink(key);
    snprintf(cmd, sizeof cmd, "ssh-keygen -q -t ed25519 -N '' -f %s", key);
    assert_int_equal(system(cmd), 0);
    struct transport_ssh_config c = {
        .host = ha.addr, .key_file = key, .known_hosts = ha.known_hosts, .connect_timeout_s = 5};
    struct transport *tp = transport_ssh_new(&c, err, sizeof err);
    assert_non_null(tp);
    assert_int_equal(transport_run(tp, "true", 10000, out, OUT_CAP, &res, err, sizeof err),
                     -EACCES);
    assert_non_null(strstr(err, "permission denied (publickey)"));
    transport_free(tp);
    unlink(key);
    strcat(key, ".pub");
    unlink(key);
}

/* --- prereq --- */

/* A listening socket on addr (the receiver stand-in); its port in *port. */
static int listen_on(const char *addr, int *port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    inet_pton(AF_INET, addr, &sa.sin_addr);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(s, 4), 0);
    getsockname(s, (struct sockaddr *)&sa, &len);
    *port = ntohs(sa.sin_port);
    return s;
}

static void test_prereq_passes_on_a_healthy_host(void **state)
{
    (void)state;
    char err[1024];
    int port;
    int ls = listen_on(ha.root_addr, &port);
    const char *disks[] = {ha.disk0, ha.disk1};
    struct prereq_spec sp = {.disks = disks,
                             .ndisks = 2,
                             .agent_dir = "/var/tmp/wm-agent-new/x",
                             .agent_min_free = 1 << 20,
                             .os_family = "Linux",
                             .receiver_host = ha.root_addr,
                             .receiver_port = port};
    struct prereq_facts f;
    struct transport *tp = ssh_to(&ha, NULL, 5);
    int rc = prereq_check(tp, &sp, &f, err, sizeof err);
    if (rc != 0)
        fail_msg("prereq_check: %d %s", rc, err);
    assert_string_equal(f.os_family, "Linux");
    assert_true(f.os_id[0] != '\0');
    assert_int_equal(f.disk_size[0], 16 << 20);
    assert_int_equal(f.disk_size[1], 16 << 20);
    assert_true(f.agent_free >= 1 << 20);
    assert_int_equal(f.receiver_ok, 1);
    close(ls);
    transport_free(tp);
}

static void test_prereq_names_each_failed_check(void **state)
{
    (void)state;
    char err[1024];
    int port;
    int ls = listen_on(hb.root_addr, &port);
    close(ls); /* nobody listens there now: refused */
    const char *disks[] = {hb.disk0, "/dev/wm-no-such-disk"};
    struct prereq_spec sp = {.disks = disks,
                             .ndisks = 2,
                             .agent_dir = hb.agent_dir,
                             .agent_min_free = 64ull << 20,
                             .os_family = "Linux",
                             .receiver_host = hb.root_addr,
                             .receiver_port = port};
    struct prereq_facts f;
    struct transport *tp = ssh_to(&hb, NULL, 5);
    assert_int_equal(prereq_check(tp, &sp, &f, err, sizeof err), -EPERM);
    print_message("prereq error: %s\n", err);
    assert_non_null(strstr(err, "prereq disk_size: /dev/wm-no-such-disk not found"));
    assert_non_null(strstr(err, "prereq agent_space: "));
    assert_non_null(strstr(err, "needs 64.0 MiB"));
    assert_non_null(strstr(err, "prereq receiver_reach: source cannot reach"));
    assert_null(strstr(err, "prereq os"));
    assert_int_equal(f.disk_size[0], 16 << 20);
    assert_true(f.agent_free <= 1 << 20); /* the 1 MiB tmpfs at the agent dir */
    /* only the space check, when that is all that is wrong */
    sp.ndisks = 1, sp.receiver_host = NULL;
    assert_int_equal(prereq_check(tp, &sp, &f, err, sizeof err), -EPERM);
    assert_non_null(strstr(err, "prereq agent_space: "));
    assert_null(strchr(err, ';'));
    transport_free(tp);
    /* an unreachable source fails the reachability check, and only it */
    tp = ssh_to(&hb, "10.231.254.9", 2);
    assert_true(prereq_check(tp, &sp, &f, err, sizeof err) < 0);
    print_message("prereq error: %s\n", err);
    assert_non_null(strstr(err, "prereq reachability: "));
    transport_free(tp);
}

/* --- the hosts themselves --- */

static int seq_of(const char *rec)
{
    const char *s = strstr(rec, "seq=");
    return s ? atoi(s + 4) : -1;
}

static void test_service_last_record_is_in_the_image(void **state)
{
    (void)state;
    char cmd[600], live[256], inimg[256];
    struct transport *tp = ssh_to(&ha, NULL, 5);
    snprintf(cmd, sizeof cmd, "tail -n 1 %s/service/records.log", ha.state);
    run_ok(tp, cmd);
    int s1 = seq_of(out);
    usleep(500 * 1000);
    run_ok(tp, cmd);
    assert_true(seq_of(out) > s1); /* still writing */
    snprintf(cmd, sizeof cmd, "%s/bin/stop-service", ha.state);
    assert_int_equal(run_ok(tp, cmd), 0);
    snprintf(cmd, sizeof cmd, "tail -n 1 %s/service/records.log", ha.state);
    capture(cmd, live, sizeof live);
    usleep(300 * 1000);
    char again[256];
    capture(cmd, again, sizeof again);
    assert_string_equal(live, again); /* stopped */
    snprintf(cmd, sizeof cmd, "WM_HOSTS_DIR=%s %s/tests/hosts/host last-record ta", STATE_ROOT,
             repo);
    capture(cmd, inimg, sizeof inimg);
    print_message("last record: live '%s', image '%s'\n", live, inimg);
    assert_true(seq_of(live) > 5);
    assert_string_equal(inimg, live);
    transport_free(tp);
}

/* true if any process's command line mentions the state root */
static bool processes_left(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    bool found = false;
    while (d && (e = readdir(d)) && !found) {
        char path[300], buf[4096];
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
            buf[i] = buf[i] ? buf[i] : ' ';
        buf[n] = '\0';
        found = strstr(buf, STATE_ROOT "/") && !strstr(buf, "tests/hosts/host");
    }
    if (d)
        closedir(d);
    return found;
}

/* An `up` that fails half way (mkfs refuses a 1 KiB image, after the
 * namespace and veth exist) tears down what it made; one refused at the
 * start (address taken) makes nothing and touches no other host. */
static void test_failed_up_leaves_nothing(void **state)
{
    (void)state;
    char line[256];
    assert_int_not_equal(host_cmd("up tc --addr 10.231.203.2/24 --disk-size 1K 2>/dev/null"), 0);
    capture("ip netns list | grep -E '^wm-tc( |$)'", line, sizeof line);
    assert_string_equal(line, "");
    capture("ip -o link | grep wmv-tc", line, sizeof line);
    assert_string_equal(line, "");
    capture("ls " STATE_ROOT " | grep -x tc", line, sizeof line);
    assert_string_equal(line, "");
    assert_int_not_equal(host_cmd("up tc --addr %s 2>/dev/null", ha.addr_arg), 0);
    assert_int_not_equal(host_cmd("up ta --addr 10.231.204.2/24 2>/dev/null"), 0);
    struct transport *tp = ssh_to(&ha, NULL, 5);
    assert_int_equal(run_ok(tp, "hostname"), 0); /* ta untouched by either */
    transport_free(tp);
}

static void test_down_all_leaves_nothing(void **state)
{
    (void)state;
    char line[256];
    assert_int_equal(host_cmd("down-all >/dev/null 2>&1"), 0);
    capture("ip netns list | grep -E '^wm-t[ab]( |$)'", line, sizeof line);
    assert_string_equal(line, "");
    capture("ip -o link | grep -E 'wmv-t[ab]'", line, sizeof line);
    assert_string_equal(line, "");
    capture("grep " STATE_ROOT " /proc/mounts", line, sizeof line);
    assert_string_equal(line, "");
    capture("ip -o -4 addr | grep -E '10\\.231\\.20[12]\\.'", line, sizeof line);
    assert_string_equal(line, "");
    assert_false(processes_left());
    capture("ls " STATE_ROOT " | grep -v -e factory -e logs", line, sizeof line);
    assert_string_equal(line, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ssh_runs_commands_inside_each_host),
        cmocka_unit_test(test_ssh_output_is_bounded),
        cmocka_unit_test(test_ssh_push_then_read_back),
        cmocka_unit_test(test_local_transport_twin),
        cmocka_unit_test(test_hanging_command_is_killed_at_the_timeout),
        cmocka_unit_test(test_prereq_passes_on_a_healthy_host),
        cmocka_unit_test(test_prereq_names_each_failed_check),
        cmocka_unit_test(test_unreachable_host_gives_a_timeout_error),
        cmocka_unit_test(test_changed_host_key_is_refused_and_nothing_runs),
        cmocka_unit_test(test_wrong_key_is_permission_denied),
        cmocka_unit_test(test_service_last_record_is_in_the_image),
        cmocka_unit_test(test_failed_up_leaves_nothing),
        cmocka_unit_test(test_down_all_leaves_nothing),
    };
    return cmocka_run_group_tests(tests, setup_hosts, teardown_hosts);
}
