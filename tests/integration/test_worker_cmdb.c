/* cmdb_update against the local HTTP peer: method, encoded path, JSON body
 * and auth header as configured; 5xx retried, 4xx refused with the body;
 * the secret never in the log or an error. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cmdb/cmdb.h"
#include "config.h"
#include "jsonr.h"
#include "log.h"
#include "../support/orch_httppeer.h"

#define SECRET "tok-Sup3rS3cret-4242"

static FILE *logf_;
static wm_secret *secret;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The n-th recorded request (0-based), parsed; caller frees. */
static struct wm_jsonr *request_n(const struct orch_httppeer *p, int n)
{
    char *all = orch_httppeer_records(p), *line = all, err[160];
    for (int i = 0; i < n && line; i++)
        line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL;
    assert_non_null(line);
    char *end = strchr(line, '\n');
    assert_non_null(end);
    struct wm_jsonr *d = wm_jsonr_parse(line, (size_t)(end - line), NULL, NULL, err, sizeof(err));
    if (!d)
        fail_msg("record %d: %s", n, err);
    free(all);
    return d;
}

static void url_of(char *buf, size_t len, const struct orch_httppeer *p, const char *path)
{
    snprintf(buf, len, "http://127.0.0.1:%d%s", p->port, path);
}

static void test_cmdb_request_carries_method_path_body_and_auth(void **state)
{
    (void)state;
    struct orch_httppeer p;
    char url[256], err[512] = "";
    struct cmdb_result res;

    assert_int_equal(orch_httppeer_start(&p, NULL), 0);
    url_of(url, sizeof(url), &p, "/api/ci/{server}?wave={wave}&fqdn={fqdn}");
    struct cmdb_config c = {
        .method = "PUT",
        .url = url,
        .body = "{\"name\":\"{server}\",\"fqdn\":\"{fqdn}\",\"wave\":\"{wave}\","
                "\"state\":\"{status}\",\"iid\":\"{instance_id}\"}",
        .timeout_ms = 3000,
    };
    struct cmdb_vars v = {.server = "app 01/\xc3\xa9", .fqdn = "app01.example.test",
                          .wave = "w\"1&2", .instance_id = "i-0abc"};
    assert_int_equal(cmdb_update(&c, &v, secret, &res, err, sizeof(err)), 0);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.attempts, 1);

    struct wm_jsonr *d = request_n(&p, 0);
    const struct wm_jsonr_val *r = wm_jsonr_root(d);
    assert_string_equal(wm_jsonr_path_str(r, "method", ""), "PUT");
    assert_string_equal(wm_jsonr_path_str(r, "path", ""),
                        "/api/ci/app%2001%2F%C3%A9?wave=w%221%262&fqdn=app01.example.test");
    assert_string_equal(wm_jsonr_path_str(r, "headers.authorization", ""), "Bearer " SECRET);
    assert_string_equal(wm_jsonr_path_str(r, "headers.content-type", ""), "application/json");
    const char *body = wm_jsonr_path_str(r, "body", "");
    char jerr[160];
    struct wm_jsonr *b = wm_jsonr_parse(body, strlen(body), NULL, NULL, jerr, sizeof(jerr));
    assert_non_null(b);
    const struct wm_jsonr_val *o = wm_jsonr_root(b);
    assert_string_equal(wm_jsonr_path_str(o, "name", ""), "app 01/\xc3\xa9");
    assert_string_equal(wm_jsonr_path_str(o, "wave", ""), "w\"1&2");
    assert_string_equal(wm_jsonr_path_str(o, "state", ""), "migrated");
    assert_string_equal(wm_jsonr_path_str(o, "iid", ""), "i-0abc");
    wm_jsonr_free(b);
    wm_jsonr_free(d);
    orch_httppeer_stop(&p);
}

static void test_cmdb_default_body_and_custom_auth_header(void **state)
{
    (void)state;
    struct orch_httppeer p;
    char url[256], err[512] = "";

    assert_int_equal(orch_httppeer_start(&p, NULL), 0);
    url_of(url, sizeof(url), &p, "/ci");
    struct cmdb_config c = {.url = url, .auth_header = "X-Api-Key", .timeout_ms = 3000};
    struct cmdb_vars v = {.server = "db02", .fqdn = "db02.example.test", .wave = "w2",
                          .instance_id = "i-9"};
    assert_int_equal(cmdb_update(&c, &v, secret, NULL, err, sizeof(err)), 0);
    struct wm_jsonr *d = request_n(&p, 0);
    const struct wm_jsonr_val *r = wm_jsonr_root(d);
    assert_string_equal(wm_jsonr_path_str(r, "method", ""), "POST");
    assert_string_equal(wm_jsonr_path_str(r, "headers.x-api-key", ""), SECRET);
    assert_null(wm_jsonr_path(r, "headers.authorization"));
    assert_string_equal(wm_jsonr_path_str(r, "body", ""),
                        "{\"server\":\"db02\",\"fqdn\":\"db02.example.test\",\"wave\":\"w2\","
                        "\"status\":\"migrated\",\"instance_id\":\"i-9\"}");
    wm_jsonr_free(d);
    orch_httppeer_stop(&p);
}

static void test_cmdb_server_error_is_retried_until_success(void **state)
{
    (void)state;
    struct orch_httppeer p;
    const char *args[] = {"--statuses", "500,503", NULL};
    char url[256], err[512] = "";
    struct cmdb_result res;

    assert_int_equal(orch_httppeer_start(&p, args), 0);
    url_of(url, sizeof(url), &p, "/ci/{server}");
    struct cmdb_config c = {.url = url, .method = "PATCH", .timeout_ms = 3000,
                            .backoff_base_ms = 20, .backoff_cap_ms = 100};
    struct cmdb_vars v = {.server = "web03"};
    assert_int_equal(cmdb_update(&c, &v, secret, &res, err, sizeof(err)), 0);
    assert_int_equal(res.attempts, 3);
    assert_int_equal(res.status, 200);
    assert_int_equal(orch_httppeer_count(&p), 3);
    orch_httppeer_stop(&p);
}

static void test_cmdb_client_error_fails_at_once_with_body_excerpt(void **state)
{
    (void)state;
    struct orch_httppeer p;
    /* the CMDB echoes the token back in its error: it must not reach err */
    const char *args[] = {"--statuses", "404", "--body",
                          "{\"error\":\"no CI named web04\",\"token\":\"" SECRET "\"}", NULL};
    char url[256], err[512] = "";
    struct cmdb_result res;

    assert_int_equal(orch_httppeer_start(&p, args), 0);
    url_of(url, sizeof(url), &p, "/ci/{server}");
    struct cmdb_config c = {.url = url, .timeout_ms = 3000, .backoff_base_ms = 20};
    struct cmdb_vars v = {.server = "web04"};
    assert_int_equal(cmdb_update(&c, &v, secret, &res, err, sizeof(err)), -EIO);
    assert_int_equal(res.attempts, 1);
    assert_int_equal(res.status, 404);
    assert_non_null(strstr(err, "HTTP 404"));
    assert_non_null(strstr(err, "no CI named web04"));
    assert_non_null(strstr(err, "/ci/web04"));
    assert_null(strstr(err, SECRET));
    assert_int_equal(orch_httppeer_count(&p), 1);
    orch_httppeer_stop(&p);
}

static void test_cmdb_retries_are_bounded(void **state)
{
    (void)state;
    struct orch_httppeer p;
    const char *args[] = {"--default-status", "502", NULL};
    char url[256], err[512] = "";
    struct cmdb_result res;

    assert_int_equal(orch_httppeer_start(&p, args), 0);
    url_of(url, sizeof(url), &p, "/ci");
    struct cmdb_config c = {.url = url, .timeout_ms = 30000, .max_attempts = 3,
                            .backoff_base_ms = 10, .backoff_cap_ms = 50};
    int64_t t0 = now_ms();
    assert_int_equal(cmdb_update(&c, NULL, secret, &res, err, sizeof(err)), -EAGAIN);
    /* retried after short backoffs, never waiting out the 30 s timeout
     * (the bound leaves room for a loaded machine) */
    assert_true(now_ms() - t0 < 15000);
    assert_int_equal(res.attempts, 3);
    assert_non_null(strstr(err, "failed after 3 attempts: HTTP 502"));
    assert_int_equal(orch_httppeer_count(&p), 3);

    /* a CMDB that does not answer in time: timeouts are retried too */
    url_of(url, sizeof(url), &p, "/sleep/30000");
    c = (struct cmdb_config){.url = url, .timeout_ms = 200, .max_attempts = 2,
                             .backoff_base_ms = 10};
    t0 = now_ms();
    assert_int_equal(cmdb_update(&c, NULL, NULL, &res, err, sizeof(err)), -EAGAIN);
    assert_true(now_ms() - t0 < 15000); /* two 200 ms timeouts, not the 30 s answer */
    assert_int_equal(res.attempts, 2);
    assert_non_null(strstr(err, "no answer within 200 ms"));
    orch_httppeer_stop(&p);
}

static void test_cmdb_bad_configuration_is_refused_before_any_request(void **state)
{
    (void)state;
    static const struct {
        struct cmdb_config c;
        const char *words;
    } cases[] = {
        {{.url = "ftp://cmdb/x"}, "http:// or https://"},
        {{.url = NULL}, "http:// or https://"},
        {{.url = "http://127.0.0.1:9/ci", .method = "DELETE"}, "POST, PUT or PATCH"},
        {{.url = "http://127.0.0.1:9/ci/{hostname}"}, "unknown placeholder {hostname} in the URL"},
        {{.url = "http://127.0.0.1:9/ci", .body = "{\"a\":\"{srv}\"}"},
         "unknown placeholder {srv} in the body"},
        {{.url = "http://127.0.0.1:9/ci", .body = "{\"a\":{server}}"},
         "does not give JSON: JSON error at byte"},
    };
    char err[512];
    struct cmdb_vars v = {.server = "s1"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        struct cmdb_result res;
        int rc = cmdb_update(&cases[i].c, &v, secret, &res, err, sizeof(err));
        if (rc != -EINVAL || !strstr(err, cases[i].words) || res.attempts != 0)
            fail_msg("case %zu: rc %d, %s", i, rc, err);
    }
    wm_secret *bad = wm_secret_new("line1\r\nX-Evil: 1", 17);
    struct cmdb_config c = {.url = "http://127.0.0.1:9/ci"};
    assert_int_equal(cmdb_update(&c, &v, bad, NULL, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "line breaks"));
    assert_null(strstr(err, "X-Evil"));
    wm_secret_free(bad);
}

static void test_cmdb_config_keys_fill_the_call(void **state)
{
    (void)state;
    char err[256];
    struct wm_config *cfg = wm_config_new();
    struct cmdb_config c;
    const char *sname = NULL;

    assert_int_equal(cmdb_declare(cfg, err, sizeof(err)), 0);
    assert_int_equal(cmdb_config_from(cfg, &c, &sname), -ENOENT); /* no URL: no CMDB */
    assert_int_equal(wm_config_set(cfg, "cmdb.url", "https://cmdb/ci/{server}", "test", err,
                                   sizeof(err)), 0);
    assert_int_equal(wm_config_set(cfg, "cmdb.secret", "cmdb-token", "test", err, sizeof(err)),
                     0);
    assert_int_equal(wm_config_set(cfg, "cmdb.timeout", "3s", "test", err, sizeof(err)), 0);
    assert_int_equal(cmdb_config_from(cfg, &c, &sname), 0);
    assert_string_equal(c.url, "https://cmdb/ci/{server}");
    assert_string_equal(c.method, "POST");
    assert_string_equal(c.auth_header, "Authorization");
    assert_int_equal(c.timeout_ms, 3000);
    assert_int_equal(c.max_attempts, 4);
    assert_string_equal(sname, "cmdb-token");
    wm_config_free(cfg);
}

/* Runs last: everything the tests above logged, read back. */
static void test_cmdb_secret_never_reaches_the_log(void **state)
{
    (void)state;
    fflush(logf_);
    long n = ftell(logf_);
    assert_true(n > 0);
    char *buf = calloc(1, (size_t)n + 1);
    rewind(logf_);
    assert_int_equal(fread(buf, 1, (size_t)n, logf_), (size_t)n);
    assert_non_null(strstr(buf, "event=cmdb.attempt"));
    assert_non_null(strstr(buf, "event=cmdb.retry"));
    assert_null(strstr(buf, SECRET));
    assert_null(strstr(buf, "Sup3rS3cret"));
    free(buf);
}

static int setup(void **state)
{
    (void)state;
    logf_ = tmpfile();
    wm_log_set_stream(logf_);
    wm_log_set_level(WM_LOG_DEBUG);
    secret = wm_secret_new(SECRET, strlen(SECRET));
    return logf_ && secret ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    wm_secret_free(secret);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmdb_request_carries_method_path_body_and_auth),
        cmocka_unit_test(test_cmdb_default_body_and_custom_auth_header),
        cmocka_unit_test(test_cmdb_server_error_is_retried_until_success),
        cmocka_unit_test(test_cmdb_client_error_fails_at_once_with_body_excerpt),
        cmocka_unit_test(test_cmdb_retries_are_bounded),
        cmocka_unit_test(test_cmdb_bad_configuration_is_refused_before_any_request),
        cmocka_unit_test(test_cmdb_config_keys_fill_the_call),
        cmocka_unit_test(test_cmdb_secret_never_reaches_the_log),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
