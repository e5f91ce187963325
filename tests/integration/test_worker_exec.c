/* exec provider: operator scripts run with the documented argv/env, their
 * JSON stdout parsed; failures name script and step with a stderr excerpt;
 * a hanging script's whole process group is killed at the timeout and
 * nothing is left behind; the client token is the same for every attempt
 * of a task. */
#include <dirent.h>
#include <signal.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "jsonr.h"
#include "log.h"
#include "provider/provider_exec.h"

static char dir[] = "/tmp/wm_exec_test_XXXXXX";

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes an executable script named name with body; returns its path. */
static const char *script(const char *name, const char *body)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
    return path;
}

static struct provider_exec_req base_req(const char *path, const char *step)
{
    return (struct provider_exec_req){
        .script = path,
        .step = step,
        .wave = "wave-7",
        .server = "app01",
        .server_fqdn = "app01.example.test",
        .instance_type = "m5.large",
        .subnet_id = "subnet-1",
        .security_group_ids = "sg-live1,sg-live2",
        .test_security_group_ids = "sg-test",
        .tags_json = "{\"wave\":\"wave-7\",\"purpose\":\"test\"}",
        .target_volumes_json = "[{\"disk\":\"/dev/sda\",\"volume\":\"vol-1\"}]",
        .task_id = 4242,
        .attempt = 1,
        .timeout_ms = 10000,
    };
}

/* Processes alive (not zombies) in process group pgid. */
static int live_in_group(pid_t pgid)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d))) {
        char path[300], buf[512];
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t got = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[got] = '\0';
        char *rp = strrchr(buf, ')'), state;
        int ppid, pgrp;
        if (rp && sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgrp) == 3 && pgrp == pgid &&
            state != 'Z')
            n++;
    }
    closedir(d);
    return n;
}

/* SIGKILL is delivered asynchronously: a killed process may show in /proc
 * for a moment.  Waits (bounded) for the group to be gone. */
static int live_in_group_after_kill(pid_t pgid)
{
    int n = live_in_group(pgid);
    for (int i = 0; n > 0 && i < 100; i++) {
        usleep(20 * 1000);
        n = live_in_group(pgid);
    }
    return n;
}

static pid_t read_pid(const char *name)
{
    char path[256];
    int pid = 0;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%d", &pid), 1);
    fclose(f);
    return pid;
}

static void assert_no_child_left(void)
{
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static void test_exec_script_sees_documented_argv_and_env(void **state)
{
    (void)state;
    const char *p = script(
        "env.sh",
        "in=$(cat | wc -c)\n"
        "printf '{\"instance_id\":\"i-123\",\"address\":\"10.0.0.5\",\"argv1\":\"%s\",\"step\":\"%s\","
        "\"wave\":\"%s\",\"server\":\"%s\",\"fqdn\":\"%s\",\"type\":\"%s\",\"subnet\":\"%s\","
        "\"sgs\":\"%s\",\"tsgs\":\"%s\",\"tags\":%s,\"vols\":%s,\"token\":\"%s\",\"task\":\"%s\","
        "\"stdin_bytes\":%s,\"private\":\"%s\",\"path_set\":%s}' \"$1\" \"$WM_STEP\" \"$WM_WAVE\" "
        "\"$WM_SERVER\" \"$WM_SERVER_FQDN\" \"$WM_INSTANCE_TYPE\" \"$WM_SUBNET_ID\" "
        "\"$WM_SECURITY_GROUP_IDS\" \"$WM_TEST_SECURITY_GROUP_IDS\" \"$WM_TAGS\" "
        "\"$WM_TARGET_VOLUMES\" \"$WM_CLIENT_TOKEN\" \"$WM_TASK_ID\" \"$in\" "
        "\"${WM_PRIVATE_SETTING-unset}\" $([ -n \"$PATH\" ] && echo true || echo false)\n"
        "echo 'some progress on stderr' >&2");
    struct provider_exec_req r = base_req(p, "launch_test");
    struct wm_jsonr *d = NULL;
    char err[512] = "", token[PROVIDER_EXEC_TOKEN_LEN];

    setenv("WM_PRIVATE_SETTING", "worker-only", 1); /* the worker's own WM_* stay private */
    assert_int_equal(provider_exec_run(&r, &d, err, sizeof(err)), 0);
    unsetenv("WM_PRIVATE_SETTING");
    const struct wm_jsonr_val *o = wm_jsonr_root(d);
    assert_string_equal(wm_jsonr_path_str(o, "instance_id", ""), "i-123");
    assert_string_equal(wm_jsonr_path_str(o, "address", ""), "10.0.0.5");
    assert_string_equal(wm_jsonr_path_str(o, "argv1", ""), "launch_test");
    assert_string_equal(wm_jsonr_path_str(o, "step", ""), "launch_test");
    assert_string_equal(wm_jsonr_path_str(o, "wave", ""), "wave-7");
    assert_string_equal(wm_jsonr_path_str(o, "server", ""), "app01");
    assert_string_equal(wm_jsonr_path_str(o, "fqdn", ""), "app01.example.test");
    assert_string_equal(wm_jsonr_path_str(o, "type", ""), "m5.large");
    assert_string_equal(wm_jsonr_path_str(o, "subnet", ""), "subnet-1");
    assert_string_equal(wm_jsonr_path_str(o, "sgs", ""), "sg-live1,sg-live2");
    assert_string_equal(wm_jsonr_path_str(o, "tsgs", ""), "sg-test");
    assert_string_equal(wm_jsonr_path_str(o, "tags.purpose", ""), "test");
    assert_string_equal(wm_jsonr_path_str(o, "vols.0.volume", ""), "vol-1");
    assert_string_equal(wm_jsonr_path_str(o, "task", ""), "4242");
    assert_int_equal(wm_jsonr_path_int(o, "stdin_bytes", -1), 0);
    assert_string_equal(wm_jsonr_path_str(o, "private", ""), "unset");
    bool path_set = false;
    assert_true(wm_jsonr_bool(wm_jsonr_get(o, "path_set"), &path_set) && path_set);
    provider_exec_client_token(4242, "app01", "launch_test", token, sizeof(token));
    assert_string_equal(wm_jsonr_path_str(o, "token", ""), token);
    assert_int_equal(strlen(token), 35);
    wm_jsonr_free(d);
    assert_no_child_left();
}

static void test_exec_client_token_is_stable_across_attempts_of_a_task(void **state)
{
    (void)state;
    const char *p = script("token.sh", "printf '{\"token\":\"%s\"}' \"$WM_CLIENT_TOKEN\"");
    char tok[3][64] = {{0}};
    int64_t tasks[3] = {77, 77, 78};

    for (int i = 0; i < 3; i++) {
        struct provider_exec_req r = base_req(p, "launch_cutover");
        struct wm_jsonr *d = NULL;
        char err[512];
        r.task_id = tasks[i];
        r.attempt = i + 1; /* every call a different attempt */
        assert_int_equal(provider_exec_run(&r, &d, err, sizeof(err)), 0);
        snprintf(tok[i], sizeof(tok[i]), "%s", wm_jsonr_path_str(wm_jsonr_root(d), "token", ""));
        wm_jsonr_free(d);
    }
    assert_true(strncmp(tok[0], "wm-", 3) == 0);
    assert_string_equal(tok[0], tok[1]);  /* same task, another attempt */
    assert_string_not_equal(tok[0], tok[2]); /* another task */
    char other[64];
    provider_exec_client_token(77, "app01", "launch_test", other, sizeof(other));
    assert_string_not_equal(tok[0], other); /* another step */
}

static void test_exec_nonzero_exit_fails_with_stderr_excerpt(void **state)
{
    (void)state;
    const char *p = script("fail.sh", "echo 'starting' >&2\necho 'InsufficientInstanceCapacity in "
                                      "subnet-1' >&2\necho '{\"ignored\":1}'\nexit 3");
    struct provider_exec_req r = base_req(p, "launch_test");
    struct wm_jsonr *d = (struct wm_jsonr *)1;
    char err[512] = "";

    assert_int_equal(provider_exec_run(&r, &d, err, sizeof(err)), -EIO);
    assert_null(d);
    assert_non_null(strstr(err, p));
    assert_non_null(strstr(err, "step launch_test"));
    assert_non_null(strstr(err, "exited with status 3"));
    assert_non_null(strstr(err, "InsufficientInstanceCapacity in subnet-1"));
    assert_null(strchr(err, '\n')); /* one line */
    assert_no_child_left();

    p = script("sig.sh", "kill -KILL $$");
    r = base_req(p, "terminate_test");
    assert_int_equal(provider_exec_run(&r, &d, err, sizeof(err)), -EIO);
    assert_non_null(strstr(err, "killed by signal 9"));
}

static void test_exec_garbage_stdout_is_an_error(void **state)
{
    (void)state;
    static const char *const outputs[] = {"echo 'instance i-123 launched'", "echo '[1,2]'",
                                          "true", "echo '{\"a\":1} {\"b\":2}'",
                                          "echo '{\"a\":1,}'"};
    static const char *const words[] = {"JSON error at byte 0", "a JSON array, not an object",
                                        "JSON error at byte 0", "JSON error at byte 8",
                                        "JSON error at byte 7"};
    for (size_t i = 0; i < sizeof(outputs) / sizeof(outputs[0]); i++) {
        const char *p = script("garbage.sh", outputs[i]);
        struct provider_exec_req r = base_req(p, "post_cutover");
        struct wm_jsonr *d = NULL;
        char err[512] = "";
        assert_int_equal(provider_exec_run(&r, &d, err, sizeof(err)), -EPROTO);
        assert_null(d);
        if (!strstr(err, words[i]) || !strstr(err, "step post_cutover") || !strstr(err, p))
            fail_msg("case %zu: %s", i, err);
    }
}

static void test_exec_hanging_script_is_killed_with_its_group(void **state)
{
    (void)state;
    /* the group scan does see a live group */
    pid_t sl = fork();
    if (sl == 0) {
        setpgid(0, 0);
        execlp("sleep", "sleep", "5", (char *)NULL);
        _exit(127);
    }
    setpgid(sl, sl);
    usleep(50 * 1000);
    assert_int_equal(live_in_group(sl), 1);
    kill(sl, SIGKILL);
    waitpid(sl, NULL, 0);

    /* the script and a child of it hang; the child holds stdout too */
    char body[512];
    snprintf(body, sizeof(body), "echo $$ > %s/hang.pid\nsleep 30 &\nwait", dir);
    const char *p = script("hang.sh", body);
    struct provider_exec_req r = base_req(p, "launch_test");
    struct wm_jsonr *d = NULL;
    char err[512] = "";

    r.timeout_ms = 400;
    int64_t t0 = now_ms();
    assert_int_equal(provider_exec_run(&r, &d, err, sizeof(err)), -ETIMEDOUT);
    int64_t took = now_ms() - t0;
    assert_true(took >= 400 && took < 20000); /* the 400 ms timeout, not the 30 s sleep */
    assert_non_null(strstr(err, "timed out after 400 ms"));
    assert_int_equal(live_in_group_after_kill(read_pid("hang.pid")), 0);
    assert_no_child_left();

    /* a script that ignores SIGTERM gets SIGKILL after the grace period */
    snprintf(body, sizeof(body), "trap '' TERM\necho $$ > %s/stubborn.pid\nsleep 30 &\nwait\nwait",
             dir);
    p = script("stubborn.sh", body);
    r = base_req(p, "launch_test");
    r.timeout_ms = 300;
    t0 = now_ms();
    assert_int_equal(provider_exec_run(&r, &d, err, sizeof(err)), -ETIMEDOUT);
    took = now_ms() - t0;
    assert_true(took < 25000); /* timeout + grace, not the 30 s sleep */
    assert_int_equal(live_in_group_after_kill(read_pid("stubborn.pid")), 0);
    assert_no_child_left();
}

static void test_exec_leftover_background_process_does_not_outlive_the_step(void **state)
{
    (void)state;
    char body[512];
    snprintf(body, sizeof(body),
             "echo $$ > %s/bg.pid\nsleep 30 &\necho '{\"instance_id\":\"i-9\"}'\nexit 0", dir);
    const char *p = script("bg.sh", body);
    struct provider_exec_req r = base_req(p, "launch_test");
    struct wm_jsonr *d = NULL;
    char err[512] = "";

    int64_t t0 = now_ms();
    assert_int_equal(provider_exec_run(&r, &d, err, sizeof(err)), 0);
    assert_true(now_ms() - t0 < 20000); /* not held until the 30 s sleep ends */
    assert_string_equal(wm_jsonr_path_str(wm_jsonr_root(d), "instance_id", ""), "i-9");
    wm_jsonr_free(d);
    assert_int_equal(live_in_group_after_kill(read_pid("bg.pid")), 0);
    assert_no_child_left();
}

static void test_exec_secret_in_stderr_is_redacted(void **state)
{
    (void)state;
    const char *secret = "s3cr3t-Exec-Value-91";
    assert_int_equal(wm_log_register_secret(secret), 0);
    char body[256];
    snprintf(body, sizeof(body), "echo 'auth failed with key %s' >&2\nexit 1", secret);
    const char *p = script("leak.sh", body);
    struct provider_exec_req r = base_req(p, "check_target");
    struct wm_jsonr *d = NULL;
    char err[512] = "";

    assert_int_equal(provider_exec_run(&r, &d, err, sizeof(err)), -EIO);
    assert_non_null(strstr(err, "auth failed with key ***"));
    assert_null(strstr(err, secret));
}

static void test_exec_ignored_sigchld_does_not_hang_the_step(void **state)
{
    (void)state;
    const char *p = script("ok.sh", "echo '{}'");
    struct provider_exec_req r = base_req(p, "check_test");
    struct wm_jsonr *d = NULL;
    char err[512] = "";

    signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel: no status */
    int64_t t0 = now_ms();
    int rc = provider_exec_run(&r, &d, err, sizeof(err));
    signal(SIGCHLD, SIG_DFL);
    assert_int_equal(rc, -EIO);
    assert_true(now_ms() - t0 < 20000); /* returns (loaded machine: room), never hangs */
    assert_non_null(strstr(err, "unknown status"));
}

static void test_exec_missing_script_cannot_start(void **state)
{
    (void)state;
    struct provider_exec_req r = base_req("/nonexistent/wm-script.sh", "launch_test");
    struct wm_jsonr *d = NULL;
    char err[512] = "";

    assert_int_equal(provider_exec_run(&r, &d, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "cannot start script /nonexistent/wm-script.sh"));
    r.script = NULL;
    assert_int_equal(provider_exec_run(&r, &d, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "no script configured for step launch_test"));
    assert_no_child_left();
}

static int setup(void **state)
{
    (void)state;
    static FILE *devnull;
    devnull = fopen("/dev/null", "w");
    wm_log_set_stream(devnull);
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_script_sees_documented_argv_and_env),
        cmocka_unit_test(test_exec_client_token_is_stable_across_attempts_of_a_task),
        cmocka_unit_test(test_exec_nonzero_exit_fails_with_stderr_excerpt),
        cmocka_unit_test(test_exec_garbage_stdout_is_an_error),
        cmocka_unit_test(test_exec_hanging_script_is_killed_with_its_group),
        cmocka_unit_test(test_exec_leftover_background_process_does_not_outlive_the_step),
        cmocka_unit_test(test_exec_secret_in_stderr_is_redacted),
        cmocka_unit_test(test_exec_ignored_sigchld_does_not_hang_the_step),
        cmocka_unit_test(test_exec_missing_script_cannot_start),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
