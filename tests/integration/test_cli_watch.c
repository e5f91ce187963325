/* `wavemill watch` against the real broker: events produced into wm.status
 * are decoded and printed one line each, progress as a text bar, simulated
 * events marked, other waves filtered out; --count ends the run.
 *
 * The test works on a wm.status topic of its own (prefix
 * "wmtest.watch.<pid>.<time>.", created here, deleted at the end), so
 * schedulers on the shared topic never see its made-up events.  watch
 * starts at the end of the topic, so the test re-sends its events every
 * half second until watch has printed what it expects (bounded). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "kafka.h"
#include "msg.h"

#include "../support/common_kafkatest.h"

#define WAIT_MS 40000
#define RESEND_MS 500

static struct wm_config *cfg;
static char prefix[96], topic[160], wave[64];

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup(void **state)
{
    (void)state;
    char err[512];
    cfg = wm_config_new();
    if (!cfg || wm_config_load(cfg, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "config: %s\n", err);
        return -1;
    }
    snprintf(wave, sizeof(wave), "wm_test_watch_%d", (int)getpid());
    if (kafkatest_set_prefix(cfg, "wmtest.watch.", prefix, sizeof(prefix), err, sizeof(err)) < 0)
        return -1;
    wm_kafka_topic(cfg, WM_TOPIC_STATUS, topic, sizeof(topic));
    const char *topics[] = {topic};
    if (wm_kafka_ensure_topics(cfg, topics, 1, 1, WAIT_MS, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "create %s failed: %s\n", topic, err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *topics[] = {topic};
    kafkatest_delete_topics(cfg, topics, 1, WAIT_MS);
    wm_config_free(cfg);
    return 0;
}

/* Runs `wavemill watch ARGS` with its stdout on a pipe; returns the pid. */
/* wavemill watch ARGS with stdout to *out_fd and, if err_fd, stderr to
 * *err_fd (both non-blocking read ends) */
static pid_t spawn_watch(char *const args[], int *out_fd, int *err_fd)
{
    const char *bin = getenv("WM_BIN") ? getenv("WM_BIN") : "bin";
    char path[512];
    snprintf(path, sizeof(path), "%s/wavemill", bin);
    int fds[2], efds[2] = {-1, -1};
    assert_int_equal(pipe(fds), 0);
    if (err_fd)
        assert_int_equal(pipe(efds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        if (err_fd) {
            dup2(efds[1], 2);
            close(efds[0]);
            close(efds[1]);
        }
        setenv("WAVEMILL_KAFKA_TOPIC_PREFIX", prefix, 1);
        char *argv[16] = {path};
        for (int i = 0; args[i] && i < 14; i++)
            argv[i + 1] = args[i];
        execv(path, argv);
        _exit(127);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    *out_fd = fds[0];
    if (err_fd) {
        close(efds[1]);
        fcntl(efds[0], F_SETFL, O_NONBLOCK);
        *err_fd = efds[0];
    }
    return pid;
}

static void send_event(struct wm_kafka_producer *p, const struct wm_status_msg *m)
{
    uint8_t *buf;
    size_t len;
    char err[256];
    assert_int_equal(wm_status_msg_encode(m, &buf, &len, err, sizeof(err)), 0);
    const char *key = m->server ? m->server : "-";
    assert_int_equal(wm_kafka_send(p, topic, key, strlen(key), buf, len, NULL, 0, err,
                                   sizeof(err)),
                     0);
    free(buf);
}

#define TOTAL 3113851290LL /* 2.9 GiB */

/* One round: an event of another wave (must not show), a simulated
 * progress event at 42 %, then a real task failure. */
static void send_round(struct wm_kafka_producer *p, int64_t t)
{
    struct wm_status_msg other = {.time_ms = t, .source = "worker:w1", .type = "wave",
                                  .wave = "some-other-wave", .state = "RUNNING"};
    struct wm_status_msg progress = {.time_ms = t, .source = "worker:w1", .type = "progress",
                                     .wave = wave, .server = "web01", .task_id = 7,
                                     .task_kind = "initial_sync", .attempt = 1,
                                     .state = "RUNNING", .bytes_done = TOTAL * 42 / 100 + 1,
                                     .bytes_total = TOTAL, .simulated = true};
    struct wm_status_msg failed = {.time_ms = t, .source = "worker:w2", .type = "task",
                                   .wave = wave, .server = "web01", .task_id = 8,
                                   .task_kind = "verify_replication", .attempt = 2,
                                   .state = "FAILED", .message = "digest mismatch on /dev/sdb"};
    send_event(p, &other);
    send_event(p, &progress);
    send_event(p, &failed);
    wm_kafka_flush(p, 5000);
}

/* Reads what is available from fd into buf (NUL-terminated). */
static void drain(int fd, char *buf, size_t cap, size_t *len)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (poll(&pfd, 1, 0) > 0 && *len + 1 < cap) {
        ssize_t n = read(fd, buf + *len, cap - 1 - *len);
        if (n <= 0)
            break;
        *len += (size_t)n;
    }
    buf[*len] = '\0';
}

static void test_watch_prints_progress_bar_and_task_lines(void **state)
{
    (void)state;
    char err[256];
    struct wm_kafka_producer *p = wm_kafka_producer_new(cfg, err, sizeof(err));
    assert_non_null(p);
    char *args[] = {"watch", "--wave", wave, "--count", "2", "--timeout", "40", NULL};
    int fd;
    pid_t pid = spawn_watch(args, &fd, NULL);
    char out[8192];
    size_t len = 0;
    int status = -1;
    int64_t end = now_ms() + WAIT_MS, next = 0;
    while (now_ms() < end) {
        if (now_ms() >= next) {
            send_round(p, (int64_t)time(NULL) * 1000);
            next = now_ms() + RESEND_MS;
        }
        drain(fd, out, sizeof(out), &len);
        if (waitpid(pid, &status, WNOHANG) == pid)
            break;
        usleep(50 * 1000);
    }
    if (status == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("watch did not finish; output so far: %s", out);
    }
    drain(fd, out, sizeof(out), &len);
    close(fd);
    wm_kafka_producer_free(p);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* two lines, both of our wave, in either order of the round */
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    assert_non_null(strchr(nl + 1, '\n'));
    assert_null(strstr(out, "some-other-wave"));
    char want_bar[128];
    snprintf(want_bar, sizeof(want_bar),
             "%s/web01", wave);
    assert_non_null(strstr(out, want_bar));
    if (!strstr(out, "initial_sync#1 [########............]  42% 1.2 GiB/2.9 GiB  (worker:w1) [sim]"))
        fail_msg("no progress bar line in:\n%s", out);
    if (!strstr(out, "verify_replication#2 FAILED: digest mismatch on /dev/sdb  (worker:w2)\n"))
        fail_msg("no task line (unmarked: not simulated) in:\n%s", out);
}

static void test_watch_timeout_without_events_fails_with_reason(void **state)
{
    (void)state;
    char *args[] = {"watch", "--wave", "no-such-wave", "--count", "1", "--timeout", "2", NULL};
    int fd, efd;
    char errout[4096];
    size_t errlen = 0;
    pid_t pid = spawn_watch(args, &fd, &efd);
    int status;
    int64_t end = now_ms() + 20000;
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("watch --timeout 2 still running after 20 s");
        }
        drain(efd, errout, sizeof(errout), &errlen);
        usleep(50 * 1000);
    }
    drain(efd, errout, sizeof(errout), &errlen);
    close(fd);
    close(efd);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    /* the reason, on stderr */
    if (!strstr(errout, "timed out after 2 s with 0 of 1 events"))
        fail_msg("no reason on stderr:\n%s", errout);
}

static void test_watch_stops_on_sigint(void **state)
{
    (void)state;
    char *args[] = {"watch", NULL};
    int fd;
    pid_t pid = spawn_watch(args, &fd, NULL);
    usleep(1500 * 1000);
    kill(pid, SIGINT);
    int status;
    int64_t end = now_ms() + 15000;
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("watch ignored SIGINT");
        }
        usleep(50 * 1000);
    }
    close(fd);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watch_prints_progress_bar_and_task_lines),
        cmocka_unit_test(test_watch_timeout_without_events_fails_with_reason),
        cmocka_unit_test(test_watch_stops_on_sigint),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
