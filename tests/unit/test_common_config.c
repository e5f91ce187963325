/* config: file format, environment, flags, precedence, validation, secrets. */
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

#include "config.h"
#include "log.h"

static char tmp_path[64];

/* Writes text to a fresh temp file; returns its path (static). */
static const char *write_file(const char *text)
{
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/wm_cfg_test_XXXXXX");
    int fd = mkstemp(tmp_path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return tmp_path;
}

/* Loads text as a config file into cfg; returns rc, err filled. */
static int load_text(struct wm_config *cfg, const char *text, char *err, size_t errlen)
{
    const char *path = write_file(text);
    err[0] = '\0';
    int rc = wm_config_load_file(cfg, path, err, errlen);
    unlink(path);
    return rc;
}

/* Expects loading text to fail with every needle in the message. */
static void expect_file_error(const char *text, const char *n1, const char *n2)
{
    struct wm_config *cfg = wm_config_new();
    char err[512];
    int rc = load_text(cfg, text, err, sizeof(err));
    if (rc == 0 || !strstr(err, n1) || (n2 && !strstr(err, n2)))
        print_error("text=%s rc=%d err=%s want=%s / %s\n", text, rc, err, n1, n2 ? n2 : "");
    assert_true(rc < 0);
    assert_non_null(strstr(err, n1));
    if (n2)
        assert_non_null(strstr(err, n2));
    /* file:line is always named */
    assert_non_null(strstr(err, "/tmp/wm_cfg_test_"));
    wm_config_free(cfg);
}

/* One /etc/wavemill/wavemill.conf serves every program: the worker skips
 * [scheduler] and [receiver], but a typo in its own section or an unknown
 * section is still an error naming file:line. */
static void test_shared_file_skips_other_programs_sections(void **state)
{
    (void)state;
    static const struct wm_config_key worker_keys[] = {
        {"worker.id", WM_CFG_STRING, "", 0, 0, false, "id"},
    };
    struct wm_config *cfg = wm_config_new();
    char err[512];
    assert_int_equal(wm_config_declare(cfg, worker_keys, 1, err, sizeof(err)), 0);
    assert_int_equal(load_text(cfg,
                               "[scheduler]\nid = s1\n[worker]\nid = w1\n"
                               "[receiver]\nroot = /srv/x\nagent.listen = 0.0.0.0:1\n"
                               "[kafka]\nbrokers = k1:9092\n",
                               err, sizeof(err)),
                     0);
    assert_string_equal(wm_config_str(cfg, "worker.id"), "w1");
    assert_string_equal(wm_config_str(cfg, "kafka.brokers"), "k1:9092");
    assert_int_equal(wm_config_ignored(cfg), 3);
    assert_int_equal(load_text(cfg, "[worker]\nidd = w1\n", err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, ":2: unknown key worker.idd"));
    assert_int_equal(load_text(cfg, "\n[kafak]\nbrokers = x\n", err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, ":3: key kafak.brokers: unknown section [kafak]"));
    /* a flag has no other program: an undeclared key is always an error */
    assert_int_equal(wm_config_set(cfg, "scheduler.id", "s", "--set", err, sizeof(err)), -ENOENT);
    assert_string_equal(wm_config_section_reader("scheduler"), "wavemill-scheduler");
    assert_null(wm_config_section_reader("kafak"));
    wm_config_free(cfg);
}

/* With neither a file nor a WAVEMILL_* variable the required keys' built-in
 * defaults are named (password masked); with either, nothing is. */
static void test_defaults_in_use_are_named(void **state)
{
    (void)state;
    struct wm_config *cfg = wm_config_new();
    char buf[1024], err[256];
    assert_int_equal(
        wm_config_set(cfg, "pg.conninfo", "host=db password=hunter2", "default", err, sizeof(err)),
        0);
    assert_true(wm_config_defaults_in_use(cfg, buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "kafka.brokers=\"127.0.0.1:19092\""));
    assert_non_null(strstr(buf, "pg.conninfo=\"host=db password=***\""));
    assert_null(strstr(buf, "hunter2"));
    assert_null(strstr(buf, "log.level")); /* optional keys are not listed */
    char *env[] = {"WAVEMILL_LOG_LEVEL=debug", NULL};
    assert_int_equal(wm_config_load_env(cfg, env, err, sizeof(err)), 0);
    assert_int_equal(wm_config_defaults_in_use(cfg, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    wm_config_free(cfg);
}

/* The reference has one record per declared key: name, type, default,
 * required, range, program, example, doc. */
static void test_reference_lists_every_key(void **state)
{
    (void)state;
    struct wm_config *cfg = wm_config_new();
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    wm_config_reference(cfg, "prog", f);
    fclose(f);
    assert_non_null(strstr(text, "kafka.brokers\tstring\t127.0.0.1:19092\trequired\t\tprog\t"));
    assert_non_null(strstr(text, "pg.tx_retries\tint\t5\toptional\t0..1000\tprog\t5\t"));
    size_t lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 19); /* log.level + 14 kafka.* (6 + 8 of broker security) + 4 pg.* */
    free(text);
    wm_config_free(cfg);
}

static void test_defaults_point_at_local_stack(void **state)
{
    (void)state;
    struct wm_config *cfg = wm_config_new();
    assert_non_null(cfg);
    assert_string_equal(wm_config_str(cfg, "log.level"), "info");
    assert_string_equal(wm_config_str(cfg, "kafka.brokers"), "127.0.0.1:19092");
    assert_string_equal(wm_config_str(cfg, "kafka.topic_prefix"), "");
    assert_string_equal(wm_config_str(cfg, "kafka.client_id"), "wavemill");
    assert_int_equal(wm_config_int(cfg, "kafka.flush_timeout"), 10000);
    assert_int_equal(wm_config_int(cfg, "kafka.session_timeout"), 10000);
    assert_int_equal(wm_config_int(cfg, "kafka.max_poll_interval"), 300000);
    assert_string_equal(wm_config_str(cfg, "pg.conninfo"),
                        "host=127.0.0.1 port=15432 dbname=wavemill user=wavemill");
    assert_int_equal(wm_config_int(cfg, "pg.connect_timeout"), 10000);
    assert_int_equal(wm_config_int(cfg, "pg.reconnect_max"), 5000);
    assert_int_equal(wm_config_int(cfg, "pg.tx_retries"), 5);
    char err[256];
    assert_int_equal(wm_config_validate(cfg, err, sizeof(err)), 0);
    wm_config_free(cfg);
}

static void test_file_sections_comments_quotes_whitespace(void **state)
{
    (void)state;
    struct wm_config *cfg = wm_config_new();
    char err[512];
    int rc = load_text(cfg,
                       "# a comment\n"
                       "; another comment\n"
                       "\n"
                       "log.level = debug   \n"
                       "[kafka]\n"
                       "  brokers=10.0.0.1:9092,10.0.0.2:9092\t \n"
                       "topic_prefix = \"  spaced # not a comment \\\" \"  # trailing comment\n"
                       "client_id = wm-test ; inline comment\n"
                       "flush_timeout = 250ms\n"
                       "[ pg ]   # section with spaces and a comment\n"
                       "tx_retries = 7\n"
                       "reconnect_max = 2m\n"
                       "conninfo = host=h port=1 dbname=d\n",
                       err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_string_equal(wm_config_str(cfg, "log.level"), "debug");
    assert_string_equal(wm_config_str(cfg, "kafka.brokers"), "10.0.0.1:9092,10.0.0.2:9092");
    assert_string_equal(wm_config_str(cfg, "kafka.topic_prefix"), "  spaced # not a comment \" ");
    assert_string_equal(wm_config_str(cfg, "kafka.client_id"), "wm-test");
    assert_int_equal(wm_config_int(cfg, "kafka.flush_timeout"), 250);
    assert_int_equal(wm_config_int(cfg, "pg.tx_retries"), 7);
    assert_int_equal(wm_config_int(cfg, "pg.reconnect_max"), 120000);
    /* only the first '=' separates key from value */
    assert_string_equal(wm_config_str(cfg, "pg.conninfo"), "host=h port=1 dbname=d");
    wm_config_free(cfg);
}

static void test_dotted_key_outside_section_and_empty_value(void **state)
{
    (void)state;
    struct wm_config *cfg = wm_config_new();
    char err[512];
    assert_int_equal(load_text(cfg, "kafka.client_id = x\nkafka.topic_prefix =\n", err,
                               sizeof(err)),
                     0);
    assert_string_equal(wm_config_str(cfg, "kafka.client_id"), "x");
    assert_string_equal(wm_config_str(cfg, "kafka.topic_prefix"), "");
    wm_config_free(cfg);
}

static void test_file_errors_name_file_line_key_and_why(void **state)
{
    (void)state;
    expect_file_error("\n[kafka]\nbogus = 1\n", ":3:", "unknown key kafka.bogus");
    expect_file_error("pg.tx_retries = five\n", ":1: key pg.tx_retries", "not an integer");
    expect_file_error("pg.tx_retries = 5000\n", "key pg.tx_retries", "out of range");
    expect_file_error("pg.tx_retries = -1\n", "key pg.tx_retries", "out of range");
    expect_file_error("pg.tx_retries = 99999999999999999999\n", "key pg.tx_retries",
                      "int64 range");
    expect_file_error("#x\n#y\nkafka.flush_timeout = 5 weeks\n", ":3: key kafka.flush_timeout",
                      "bad duration unit");
    expect_file_error("kafka.flush_timeout = 5w\n", "kafka.flush_timeout", "bad duration unit");
    expect_file_error("kafka.flush_timeout = 2h\n", "kafka.flush_timeout", "out of range");
    expect_file_error("log.level = loud\n", "key log.level", "not a log level");
    expect_file_error("[kafka]\nbrokers\n", ":2:", "missing '='");
    expect_file_error("[kafka\nbrokers = x\n", ":1:", "unterminated section");
    expect_file_error("[]\n", ":1:", "bad section name");
    expect_file_error("[kafka] x\n", ":1:", "text after section header");
    expect_file_error("kafka.client_id = \"abc\n", "key kafka.client_id", "unterminated quoted");
    expect_file_error("kafka.client_id = \"abc\" d\n", "key kafka.client_id", "after closing");
    expect_file_error(" = x\n", ":1:", "missing key");
}

static void test_missing_file_is_an_error(void **state)
{
    (void)state;
    struct wm_config *cfg = wm_config_new();
    char err[256];
    assert_int_equal(wm_config_load_file(cfg, "/nonexistent/wm.conf", err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/wm.conf"));
    wm_config_free(cfg);
}

static const struct wm_config_key own_keys[] = {
    {"worker.slots", WM_CFG_INT, "4", 1, 256, false, "task threads"},
    {"worker.block_size", WM_CFG_SIZE, "4k", 0, 0, false, "block"},
    {"worker.sim", WM_CFG_BOOL, "false", 0, 0, false, "simulation"},
    {"worker.api_key", WM_CFG_SECRET, NULL, 0, 0, true, "cloud key"},
    {"worker.free", WM_CFG_INT, NULL, 0, 0, false, "unbounded int"},
};

static struct wm_config *cfg_with_own_keys(void)
{
    struct wm_config *cfg = wm_config_new();
    char err[256];
    assert_int_equal(wm_config_declare(cfg, own_keys, 5, err, sizeof(err)), 0);
    return cfg;
}

static void test_types_sizes_bools_durations(void **state)
{
    (void)state;
    struct wm_config *cfg = cfg_with_own_keys();
    char err[256];
    assert_int_equal(wm_config_int(cfg, "worker.block_size"), 4096);
    static const struct { const char *v; int64_t want; } sizes[] = {
        {"4096", 4096}, {"4k", 4096}, {"64M", 64 << 20}, {"1G", 1 << 30},
        {"2MiB", 2 << 20}, {"3kb", 3072}, {"1T", (int64_t)1 << 40},
    };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        assert_int_equal(wm_config_set(cfg, "worker.block_size", sizes[i].v, "t", err, sizeof(err)), 0);
        assert_int_equal(wm_config_int(cfg, "worker.block_size"), sizes[i].want);
    }
    assert_int_equal(wm_config_set(cfg, "worker.block_size", "4x", "t", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "bad size unit"));
    assert_int_equal(wm_config_set(cfg, "worker.block_size", "-4k", "t", err, sizeof(err)), -EINVAL);
    assert_int_equal(wm_config_set(cfg, "worker.block_size", "99999999999T", "t", err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "too large"));

    const char *yes[] = {"true", "YES", "on", "1"}, *no[] = {"false", "No", "OFF", "0"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(wm_config_set(cfg, "worker.sim", yes[i], "t", err, sizeof(err)), 0);
        assert_true(wm_config_bool(cfg, "worker.sim"));
        assert_int_equal(wm_config_set(cfg, "worker.sim", no[i], "t", err, sizeof(err)), 0);
        assert_false(wm_config_bool(cfg, "worker.sim"));
    }
    assert_int_equal(wm_config_set(cfg, "worker.sim", "maybe", "--sim", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "--sim: key worker.sim: bad value: not a boolean"));

    static const struct { const char *v; int64_t want; } durs[] = {
        {"1500", 1500}, {"250ms", 250}, {"5s", 5000}, {"2m", 120000}, {"1h", 3600000},
    };
    for (size_t i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
        assert_int_equal(wm_config_set(cfg, "kafka.flush_timeout", durs[i].v, "t", err, sizeof(err)), 0);
        assert_int_equal(wm_config_int(cfg, "kafka.flush_timeout"), durs[i].want);
    }
    assert_int_equal(wm_config_set(cfg, "kafka.flush_timeout", "1.5s", "t", err, sizeof(err)), -EINVAL);
    assert_int_equal(wm_config_set(cfg, "kafka.flush_timeout", "", "t", err, sizeof(err)), -EINVAL);
    assert_int_equal(wm_config_set(cfg, "worker.free", "-9223372036854775808", "t", err, sizeof(err)), 0);
    assert_int_equal(wm_config_int(cfg, "worker.free"), INT64_MIN);
    assert_int_equal(wm_config_set(cfg, "worker.slots", "0", "t", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "out of range [1, 256]"));
    /* a failed set leaves the previous value */
    assert_int_equal(wm_config_int(cfg, "worker.slots"), 4);
    wm_config_free(cfg);
}

static void test_declare_rejects_duplicates_and_bad_defaults(void **state)
{
    (void)state;
    struct wm_config *cfg = cfg_with_own_keys();
    char err[256];
    assert_int_equal(wm_config_declare(cfg, own_keys, 1, err, sizeof(err)), -EEXIST);
    assert_non_null(strstr(err, "worker.slots"));
    static const struct wm_config_key clash[] = {{"worker_slots", WM_CFG_INT, "1", 0, 0, false, ""}};
    assert_int_equal(wm_config_declare(cfg, clash, 1, err, sizeof(err)), -EEXIST);
    static const struct wm_config_key bad[] = {{"x.y", WM_CFG_DURATION, "soon", 0, 0, false, ""}};
    assert_int_equal(wm_config_declare(cfg, bad, 1, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "x.y"));
    wm_config_free(cfg);
}

static void test_validate_names_missing_required_key(void **state)
{
    (void)state;
    struct wm_config *cfg = cfg_with_own_keys();
    char err[256];
    assert_int_equal(wm_config_validate(cfg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "worker.api_key"));
    assert_non_null(strstr(err, "WAVEMILL_WORKER_API_KEY"));
    assert_null(wm_config_str(cfg, "worker.api_key"));
    assert_int_equal(wm_config_set(cfg, "worker.api_key", "k-123456", "t", err, sizeof(err)), 0);
    assert_int_equal(wm_config_validate(cfg, err, sizeof(err)), 0);
    assert_int_equal(wm_config_set(cfg, "kafka.brokers", "", "t", err, sizeof(err)), 0);
    assert_int_equal(wm_config_validate(cfg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "kafka.brokers"));
    wm_config_free(cfg);
}

static void test_env_maps_every_key_and_ignores_unknown(void **state)
{
    (void)state;
    struct wm_config *cfg = cfg_with_own_keys();
    char err[256];
    char *env[] = {
        "PATH=/bin",
        "WAVEMILL_KAFKA_TOPIC_PREFIX=t1.",
        "WAVEMILL_PG_TX_RETRIES=9",
        "WAVEMILL_WORKER_BLOCK_SIZE=8k",
        "WAVEMILL_SOMETHING_ELSE=whatever",  /* another tool's: ignored */
        "WAVEMILL_KAFKA_BROKERSX=nope",      /* prefix of a known name: ignored */
        "XWAVEMILL_LOG_LEVEL=error",
        NULL,
    };
    assert_int_equal(wm_config_load_env(cfg, env, err, sizeof(err)), 0);
    assert_string_equal(wm_config_str(cfg, "kafka.topic_prefix"), "t1.");
    assert_int_equal(wm_config_int(cfg, "pg.tx_retries"), 9);
    assert_int_equal(wm_config_int(cfg, "worker.block_size"), 8192);
    assert_string_equal(wm_config_str(cfg, "kafka.brokers"), "127.0.0.1:19092");
    assert_string_equal(wm_config_str(cfg, "log.level"), "info");

    char *bad[] = {"WAVEMILL_KAFKA_SESSION_TIMEOUT=10 sec", NULL};
    assert_int_equal(wm_config_load_env(cfg, bad, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "env WAVEMILL_KAFKA_SESSION_TIMEOUT"));
    assert_non_null(strstr(err, "kafka.session_timeout"));
    assert_non_null(strstr(err, "bad duration unit"));
    wm_config_free(cfg);
}

static void test_precedence_default_file_env_flag(void **state)
{
    (void)state;
    struct wm_config *cfg = wm_config_new();
    char err[256];
    const char *path = write_file("[kafka]\nclient_id = from-file\ntopic_prefix = file.\n"
                                  "brokers = file:1\n");
    setenv("WAVEMILL_KAFKA_TOPIC_PREFIX", "env.", 1);
    setenv("WAVEMILL_KAFKA_BROKERS", "env:1", 1);
    int rc = wm_config_load(cfg, path, err, sizeof(err));
    unsetenv("WAVEMILL_KAFKA_TOPIC_PREFIX");
    unsetenv("WAVEMILL_KAFKA_BROKERS");
    unlink(path);
    assert_int_equal(rc, 0);
    assert_int_equal(wm_config_set(cfg, "kafka.brokers", "flag:1", "--brokers", err, sizeof(err)), 0);
    assert_string_equal(wm_config_str(cfg, "log.level"), "info");             /* default */
    assert_string_equal(wm_config_str(cfg, "kafka.client_id"), "from-file");  /* file */
    assert_string_equal(wm_config_str(cfg, "kafka.topic_prefix"), "env.");    /* env over file */
    assert_string_equal(wm_config_str(cfg, "kafka.brokers"), "flag:1");       /* flag over env */
    assert_int_equal(wm_config_validate(cfg, err, sizeof(err)), 0);
    wm_config_free(cfg);
}

static void test_unknown_flag_key_is_an_error(void **state)
{
    (void)state;
    struct wm_config *cfg = wm_config_new();
    char err[256];
    assert_int_equal(wm_config_set(cfg, "kafka.nope", "1", "--nope", err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "--nope"));
    assert_non_null(strstr(err, "kafka.nope"));
    wm_config_free(cfg);
}

static void test_dump_hides_secrets_and_passwords(void **state)
{
    (void)state;
    struct wm_config *cfg = cfg_with_own_keys();
    char err[256], buf[4096];
    assert_int_equal(wm_config_set(cfg, "worker.api_key", "AKIA-sekrit-value", "t", err, sizeof(err)), 0);
    assert_int_equal(wm_config_set(cfg, "pg.conninfo",
                                   "host=db password='pw with space' user=wm", "t", err,
                                   sizeof(err)),
                     0);
    size_t n = wm_config_dump(cfg, buf, sizeof(buf));
    assert_int_equal(n, strlen(buf));
    assert_null(strstr(buf, "sekrit"));
    assert_null(strstr(buf, "with space"));
    assert_non_null(strstr(buf, "worker.api_key = ***\n"));
    assert_non_null(strstr(buf, "pg.conninfo = \"host=db password=*** user=wm\"\n"));
    assert_non_null(strstr(buf, "kafka.brokers = \"127.0.0.1:19092\"\n"));
    assert_non_null(strstr(buf, "worker.block_size = 4k\n"));

    /* URI form and a plain password */
    assert_int_equal(wm_config_set(cfg, "pg.conninfo",
                                   "postgresql://wm:uri-pass-1@db:5432/wavemill?password=qp-2222",
                                   "t", err, sizeof(err)),
                     0);
    wm_config_dump(cfg, buf, sizeof(buf));
    assert_null(strstr(buf, "uri-pass-1"));
    assert_null(strstr(buf, "qp-2222"));
    assert_non_null(strstr(buf, "postgresql://wm:***@db:5432/wavemill?password=***"));

    /* a short buffer is truncated, still terminated */
    char small[16];
    n = wm_config_dump(cfg, small, sizeof(small));
    assert_int_equal(n, strlen(small));
    assert_true(n < sizeof(small));
    wm_config_free(cfg);
}

static void test_passwords_never_reach_the_log(void **state)
{
    (void)state;
    struct wm_config *cfg = cfg_with_own_keys();
    char err[256];
    assert_int_equal(wm_config_set(cfg, "pg.conninfo", "host=db password=hunter2-pg user=x", "t",
                                   err, sizeof(err)),
                     0);
    assert_int_equal(wm_config_set(cfg, "worker.api_key", "api-key-xyz", "t", err, sizeof(err)), 0);
    char *logbuf = NULL;
    size_t loglen = 0;
    FILE *mem = open_memstream(&logbuf, &loglen);
    wm_log_set_stream(mem);
    wm_info("test.conninfo", "conninfo=\"%s\" key=%s", wm_config_str(cfg, "pg.conninfo"),
            wm_config_str(cfg, "worker.api_key"));
    wm_log_set_stream(NULL);
    fclose(mem);
    assert_null(strstr(logbuf, "hunter2-pg"));
    assert_null(strstr(logbuf, "api-key-xyz"));
    assert_non_null(strstr(logbuf, "password=***"));
    free(logbuf);
    wm_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_point_at_local_stack),
        cmocka_unit_test(test_file_sections_comments_quotes_whitespace),
        cmocka_unit_test(test_dotted_key_outside_section_and_empty_value),
        cmocka_unit_test(test_file_errors_name_file_line_key_and_why),
        cmocka_unit_test(test_missing_file_is_an_error),
        cmocka_unit_test(test_types_sizes_bools_durations),
        cmocka_unit_test(test_declare_rejects_duplicates_and_bad_defaults),
        cmocka_unit_test(test_validate_names_missing_required_key),
        cmocka_unit_test(test_env_maps_every_key_and_ignores_unknown),
        cmocka_unit_test(test_precedence_default_file_env_flag),
        cmocka_unit_test(test_unknown_flag_key_is_an_error),
        cmocka_unit_test(test_dump_hides_secrets_and_passwords),
        cmocka_unit_test(test_passwords_never_reach_the_log),
        cmocka_unit_test(test_shared_file_skips_other_programs_sections),
        cmocka_unit_test(test_defaults_in_use_are_named),
        cmocka_unit_test(test_reference_lists_every_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
