/* avro interop: wavemill against fastavro, an independent Avro
 * implementation (tests/peers/avro_peer.py, run once per test program with
 * $WM_PY):
 *   - canonical forms and CRC-64-AVRO fingerprints of the .avsc files and of
 *     the spec examples agree with fastavro's;
 *   - messages encoded by wavemill decode in fastavro (schemaless_reader
 *     after the 10-byte header, header fingerprint = fastavro's);
 *   - single-object messages encoded by fastavro decode in wavemill. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
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

#include "../support/common_avro_examples.h"
#include "../support/common_repo.h"
#include "avro.h"
#include "msg.h"

#define PEER_TIMEOUT_S 60

static char dir[64];
static char repo[512] = ".";
static int peer_status = -1;

/* ------------------------------------------------------ the messages */

static struct wm_kv params[] = {
    {"disk", "/dev/vdb"},
    {"note", "d\xc3\xa9j\xc3\xa0 \xe6\xb3\xa2 \xf0\x9f\x9a\x80 \"q\"\\"},
    {"", "empty key"},
    {"empty", ""}};

static const struct wm_task_msg tasks[] = {
    {.task_id = 9007199254740993LL,
     .attempt = 3,
     .wave_id = 12,
     .wave = "w\xc3\xa9ve",
     .server_id = 4242,
     .server = "db01",
     .kind = "initial_sync",
     .params = params,
     .nparams = 4,
     .deadline_ms = 1795000000123LL,
     .published_ms = 1794990000456LL},
    {.task_id = -1,
     .attempt = INT32_MIN,
     .wave_id = INT64_MIN,
     .server_id = INT64_MAX,
     .kind = "check",
     .published_ms = 0}, /* NULL strings, no params, no deadline */
};

static const struct wm_status_msg statuses[] = {
    {.event_id = "5f0c8a9e-3d1b-4c7a-9e2f-0a1b2c3d4e5f",
     .time_ms = 1794990001000LL,
     .source = "worker:w-3",
     .type = "progress",
     .wave = "wave-1",
     .server = "\xd0\xb2\xd0\xb5\xd0\xb1-01",
     .task_id = 77,
     .task_kind = "delta_sync",
     .attempt = 2,
     .state = "RUNNING",
     .bytes_done = 123456789012LL,
     .bytes_total = 999999999999LL,
     .message = "line\none\t\"two\" \xe2\x9c\x93\x01",
     .simulated = true},
    {.event_id = "00000000-0000-4000-8000-000000000000",
     .time_ms = 1,
     .source = "cli",
     .type = "wave",
     .state = "PLANNED"}, /* every nullable field null */
};

#define NTASKS (sizeof(tasks) / sizeof(tasks[0]))
#define NSTATUSES (sizeof(statuses) / sizeof(statuses[0]))

/* ------------------------------------------------------------- JSON */

static void json_str(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void json_opt_long(FILE *f, int64_t v)
{
    if (v)
        fprintf(f, "%lld", (long long)v);
    else
        fputs("null", f);
}

static void task_json(FILE *f, const struct wm_task_msg *t)
{
    fprintf(f, "{\"task_id\":%lld,\"attempt\":%d,\"wave_id\":%lld,\"wave\":", (long long)t->task_id,
            t->attempt, (long long)t->wave_id);
    json_str(f, t->wave ? t->wave : "");
    fprintf(f, ",\"server_id\":%lld,\"server\":", (long long)t->server_id);
    json_str(f, t->server ? t->server : "");
    fputs(",\"kind\":", f);
    json_str(f, t->kind ? t->kind : "");
    fputs(",\"params\":{", f);
    for (size_t i = 0; i < t->nparams; i++) {
        fputs(i ? "," : "", f);
        json_str(f, t->params[i].key);
        fputc(':', f);
        json_str(f, t->params[i].value);
    }
    fputs("},\"deadline\":", f);
    json_opt_long(f, t->deadline_ms);
    fprintf(f, ",\"published_at\":%lld}", (long long)t->published_ms);
}

static void status_json(FILE *f, const struct wm_status_msg *s)
{
    fputs("{\"event_id\":", f);
    json_str(f, s->event_id);
    fprintf(f, ",\"time\":%lld,\"source\":", (long long)s->time_ms);
    json_str(f, s->source);
    fputs(",\"type\":", f);
    json_str(f, s->type);
    fputs(",\"wave\":", f);
    json_str(f, s->wave);
    fputs(",\"server\":", f);
    json_str(f, s->server);
    fputs(",\"task_id\":", f);
    json_opt_long(f, s->task_id);
    fputs(",\"task_kind\":", f);
    json_str(f, s->task_kind);
    fputs(",\"attempt\":", f);
    json_opt_long(f, s->attempt);
    fputs(",\"state\":", f);
    json_str(f, s->state);
    fprintf(f, ",\"bytes_done\":%lld,\"bytes_total\":%lld,\"message\":", (long long)s->bytes_done,
            (long long)s->bytes_total);
    json_str(f, s->message);
    fprintf(f, ",\"simulated\":%s}", s->simulated ? "true" : "false");
}

/* ------------------------------------------------------------ files */

static FILE *open_in_dir(const char *name, const char *mode)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return fopen(path, mode);
}

static int write_file(const char *name, const void *buf, size_t len)
{
    FILE *f = open_in_dir(name, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(buf, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

/* Whole file, NUL-terminated; NULL if missing. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (!f)
        return NULL;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            char *nb = realloc(buf, cap = n + 4096 + 1);
            if (!nb)
                break;
            buf = nb;
        }
        size_t r = fread(buf + n, 1, 4096, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* ----------------------------------------------------- the one run */

static int write_inputs(void)
{
    char name[64];
    uint8_t *buf;
    size_t len;
    FILE *f;

    for (size_t i = 0; i < common_avro_examples_count; i++) {
        snprintf(name, sizeof(name), "example_%02zu.avsc", i);
        const char *j = common_avro_examples[i].json;
        if (write_file(name, j, strlen(j)))
            return -1;
    }
    for (size_t i = 0; i < NTASKS + NSTATUSES; i++) {
        bool task = i < NTASKS;
        int rc = task ? wm_task_msg_encode(&tasks[i], &buf, &len, NULL, 0)
                      : wm_status_msg_encode(&statuses[i - NTASKS], &buf, &len, NULL, 0);
        snprintf(name, sizeof(name), "msg_%02zu.wm.bin", i);
        if (rc || write_file(name, buf, len))
            return -1;
        free(buf);
        snprintf(name, sizeof(name), "msg_%02zu.expect.json", i);
        if (!(f = open_in_dir(name, "w")))
            return -1;
        task ? task_json(f, &tasks[i]) : status_json(f, &statuses[i - NTASKS]);
        fclose(f);
        /* the same content for fastavro to encode */
        snprintf(name, sizeof(name), "msg_%02zu.py.json", i);
        if (!(f = open_in_dir(name, "w")))
            return -1;
        fprintf(f, "{\"schema\":\"%s\",\"datum\":", task ? "task" : "status");
        task ? task_json(f, &tasks[i]) : status_json(f, &statuses[i - NTASKS]);
        fputs("}\n", f);
        fclose(f);
    }
    return 0;
}

/* Runs the peer once, bounded in time; returns its exit status. */
static int run_peer(void)
{
    const char *py = getenv("WM_PY"), *home = getenv("HOME");
    char pybuf[512], log[128];
    int status;

    if (!py || !*py) {
        snprintf(pybuf, sizeof(pybuf), "%s/.cache/wavemill/venv/bin/python", home ? home : "");
        py = pybuf;
    }
    snprintf(log, sizeof(log), "%s/peer.log", dir);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 || chdir(repo) != 0)
            _exit(126);
        execl(py, py, "tests/peers/avro_peer.py", "batch", dir, "schemas/task.avsc",
              "schemas/status.avsc", (char *)NULL);
        fprintf(stderr, "cannot run %s: %s (set WM_PY, run deploy/local/install-deps)\n", py,
                strerror(errno));
        _exit(127);
    }
    if (pid < 0)
        return -1;
    for (int i = 0; i < PEER_TIMEOUT_S * 20; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return 124;
}

static int group_setup(void **state)
{
    (void)state;
    fixture_find_repo(repo, sizeof(repo), "schemas/task.avsc", R_OK);
    snprintf(dir, sizeof(dir), "/tmp/wm-avro-interop-XXXXXX");
    if (!mkdtemp(dir) || write_inputs() != 0)
        return -1;
    peer_status = run_peer();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    remove_dir();
    return 0;
}

static void assert_peer_ran(void)
{
    if (peer_status != 0) {
        char path[128];
        snprintf(path, sizeof(path), "%s/peer.log", dir);
        char *log = read_file(path, NULL);
        fail_msg("fastavro peer exited %d:\n%s", peer_status, log ? log : "(no log)");
    }
}

/* ------------------------------------------------------------ tests */

static void check_fingerprint_line(char *line)
{
    char *path = line, *hex = strchr(line, '\t'), *canon_py;
    char *canon = NULL, err[256] = "", full[sizeof(repo) + 4096], mine[17];
    size_t len;
    uint64_t fp;

    assert_non_null(hex);
    *hex++ = '\0';
    canon_py = strchr(hex, '\t');
    assert_non_null(canon_py);
    *canon_py++ = '\0';
    if (path[0] == '/')
        snprintf(full, sizeof(full), "%s", path);
    else
        snprintf(full, sizeof(full), "%s/%s", repo, path);
    char *json = read_file(full, &len);
    assert_non_null(json);
    if (wm_avro_canonical(json, len, &canon, err, sizeof(err)) != 0)
        fail_msg("%s: %s", path, err);
    assert_int_equal(wm_avro_fingerprint(json, len, &fp, err, sizeof(err)), 0);
    for (int i = 0; i < 8; i++) /* header byte order, as the peer prints it */
        snprintf(mine + 2 * i, 3, "%02x", (unsigned)((fp >> (8 * i)) & 0xff));
    if (strcmp(canon, canon_py) != 0 || strcmp(mine, hex) != 0)
        fail_msg("%s: wavemill %s %s\n  fastavro %s %s", path, mine, canon, hex, canon_py);
    free(canon);
    free(json);
}

static void test_fingerprints_match_fastavro(void **state)
{
    (void)state;
    char path[128];
    int lines = 0;

    assert_peer_ran();
    snprintf(path, sizeof(path), "%s/fingerprints.tsv", dir);
    char *tsv = read_file(path, NULL);
    assert_non_null(tsv);
    for (char *save, *line = strtok_r(tsv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        check_fingerprint_line(line);
        lines++;
    }
    free(tsv);
    assert_int_equal(lines, 2 + (int)common_avro_examples_count);
}

static void test_compiled_in_schemas_match_files(void **state)
{
    (void)state;
    const char *names[] = {"task", "status"};
    for (int i = 0; i < 2; i++) {
        char path[sizeof(repo) + 64];
        size_t len;
        uint64_t fp;
        snprintf(path, sizeof(path), "%s/schemas/%s.avsc", repo, names[i]);
        char *json = read_file(path, &len);
        assert_non_null(json);
        assert_int_equal(wm_avro_fingerprint(json, len, &fp, NULL, 0), 0);
        assert_true(fp == wm_avro_schema_fingerprint(wm_avro_schema_get(names[i], NULL, 0)));
        free(json);
    }
}

static void test_wavemill_messages_decode_in_fastavro(void **state)
{
    (void)state;
    assert_peer_ran();
    for (size_t i = 0; i < NTASKS + NSTATUSES; i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/msg_%02zu.result", dir, i);
        char *res = read_file(path, NULL);
        if (!res || strncmp(res, "ok\n", 3) != 0)
            fail_msg("message %zu: %s", i, res ? res : "no result");
        free(res);
    }
}

static void assert_opt_str(const char *want, const char *got)
{
    if (!want)
        assert_null(got);
    else
        assert_string_equal(want, got);
}

static void check_py_task(const struct wm_task_msg *w, const uint8_t *buf, size_t len)
{
    struct wm_task_msg t;
    char err[256] = "";

    if (wm_task_msg_decode(buf, len, &t, err, sizeof(err)) != 0)
        fail_msg("fastavro task: %s", err);
    assert_int_equal(t.task_id, w->task_id);
    assert_int_equal(t.attempt, w->attempt);
    assert_int_equal(t.wave_id, w->wave_id);
    assert_string_equal(t.wave, w->wave ? w->wave : "");
    assert_int_equal(t.server_id, w->server_id);
    assert_string_equal(t.server, w->server ? w->server : "");
    assert_string_equal(t.kind, w->kind);
    assert_int_equal(t.nparams, w->nparams);
    for (size_t i = 0; i < w->nparams; i++)
        assert_opt_str(w->params[i].value, wm_task_msg_param(&t, w->params[i].key));
    assert_int_equal(t.deadline_ms, w->deadline_ms);
    assert_int_equal(t.published_ms, w->published_ms);
    wm_task_msg_clear(&t);
}

static void check_py_status(const struct wm_status_msg *w, const uint8_t *buf, size_t len)
{
    struct wm_status_msg s;
    char err[256] = "";

    if (wm_status_msg_decode(buf, len, &s, err, sizeof(err)) != 0)
        fail_msg("fastavro status: %s", err);
    assert_string_equal(s.event_id, w->event_id);
    assert_int_equal(s.time_ms, w->time_ms);
    assert_string_equal(s.source, w->source);
    assert_string_equal(s.type, w->type);
    assert_opt_str(w->wave, s.wave);
    assert_opt_str(w->server, s.server);
    assert_int_equal(s.task_id, w->task_id);
    assert_opt_str(w->task_kind, s.task_kind);
    assert_int_equal(s.attempt, w->attempt);
    assert_string_equal(s.state, w->state);
    assert_int_equal(s.bytes_done, w->bytes_done);
    assert_int_equal(s.bytes_total, w->bytes_total);
    assert_opt_str(w->message, s.message);
    assert_int_equal(s.simulated, w->simulated);
    wm_status_msg_clear(&s);
}

static void test_fastavro_messages_decode_in_wavemill(void **state)
{
    (void)state;
    assert_peer_ran();
    for (size_t i = 0; i < NTASKS + NSTATUSES; i++) {
        char path[128];
        size_t len;
        snprintf(path, sizeof(path), "%s/msg_%02zu.py.bin", dir, i);
        uint8_t *buf = (uint8_t *)read_file(path, &len);
        if (!buf)
            fail_msg("fastavro wrote no %s", path);
        if (i < NTASKS)
            check_py_task(&tasks[i], buf, len);
        else
            check_py_status(&statuses[i - NTASKS], buf, len);
        free(buf);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprints_match_fastavro),
        cmocka_unit_test(test_compiled_in_schemas_match_files),
        cmocka_unit_test(test_wavemill_messages_decode_in_fastavro),
        cmocka_unit_test(test_fastavro_messages_decode_in_wavemill),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
