/* The EBS export's small parts: credential values with a session token,
 * signed headers (the token is sent and signed), which answers are retried,
 * errors, and the base64 SHA-256 checksum header's encoding. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "awscred.h"
#include "ebs_api.h"

static void test_store_value_with_and_without_session_token(void **state)
{
    (void)state;
    struct wm_awscred c;
    char err[256];
    const char *two = "AKIDEXAMPLE:wJalrXUtnFEMI";
    assert_int_equal(wm_awscred_parse(two, strlen(two), &c, err, sizeof(err)), 0);
    assert_string_equal(c.akid, "AKIDEXAMPLE");
    assert_string_equal(c.secret, "wJalrXUtnFEMI");
    assert_string_equal(c.token, "");
    const char *three = " ASIAEXAMPLE : secret2 : FwoGZXIvYXdzEJr//token== \n";
    assert_int_equal(wm_awscred_parse(three, strlen(three), &c, err, sizeof(err)), 0);
    assert_string_equal(c.akid, "ASIAEXAMPLE");
    assert_string_equal(c.secret, "secret2");
    assert_string_equal(c.token, "FwoGZXIvYXdzEJr//token==");
    assert_string_equal(c.source, "store");
}

static void test_bad_store_values_are_refused_without_quoting_them(void **state)
{
    (void)state;
    struct wm_awscred c;
    char err[256];
    const char *bad[] = {"", "onlyakid", ":secret", "a:b:c:d", "a::"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(wm_awscred_parse(bad[i], strlen(bad[i]), &c, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "ACCESS_KEY_ID:SECRET_ACCESS_KEY"));
    }
    const char *secretish = "AKID:topsecretvalue:tok:extra";
    assert_int_equal(wm_awscred_parse(secretish, strlen(secretish), &c, err, sizeof(err)), -EINVAL);
    assert_null(strstr(err, "topsecretvalue"));
}

static void test_env_credentials_need_both_parts(void **state)
{
    (void)state;
    struct wm_awscred c;
    char err[256];
    unsetenv("AWS_ACCESS_KEY_ID");
    assert_int_equal(wm_awscred_from_env(&c, err, sizeof(err)), -ENOENT);
    setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
    unsetenv("AWS_SECRET_ACCESS_KEY");
    assert_int_equal(wm_awscred_from_env(&c, err, sizeof(err)), -EINVAL);
    setenv("AWS_SECRET_ACCESS_KEY", "sk", 1);
    setenv("AWS_SESSION_TOKEN", "tok123", 1);
    assert_int_equal(wm_awscred_from_env(&c, err, sizeof(err)), 0);
    assert_string_equal(c.token, "tok123");
    assert_string_equal(c.source, "env");
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
}

static const char *line(const struct ebs_signed *s, const char *prefix)
{
    for (size_t i = 0; i < s->n; i++)
        if (strncmp(s->lines[i], prefix, strlen(prefix)) == 0)
            return s->lines[i];
    return NULL;
}

static void sign_block(const char *token, struct ebs_signed *s, char *url, size_t urllen)
{
    struct wm_awscred c;
    char err[256];
    assert_int_equal(wm_awscred_set(&c, "AKIDEXAMPLE", "secret", token, err, sizeof(err)), 0);
    struct ebs_api a;
    struct ebs_api_cfg cfg = {.region = "eu-west-1"};
    assert_int_equal(ebs_api_init(&a, &cfg, &c, err, sizeof(err)), 0);
    static uint8_t block[EBS_BLOCK_SIZE];
    uint8_t sha[32];
    SHA256(block, sizeof(block), sha);
    assert_int_equal(
        ebs_api_block_headers(&a, "snap-0123", 7, block, sha, s, url, urllen, err, sizeof(err)), 0);
    ebs_api_clear(&a);
}

static void test_block_put_is_signed_for_ebs_with_checksum_headers(void **state)
{
    (void)state;
    struct ebs_signed s;
    char url[512];
    sign_block(NULL, &s, url, sizeof(url));
    assert_string_equal(url, "https://ebs.eu-west-1.amazonaws.com/snapshots/snap-0123/blocks/7");
    assert_string_equal(line(&s, "Host:"), "Host: ebs.eu-west-1.amazonaws.com");
    assert_string_equal(line(&s, "x-amz-Data-Length:"), "x-amz-Data-Length: 524288");
    /* base64(SHA-256 of 512 KiB of zeros), from Python hashlib */
    assert_string_equal(line(&s, "x-amz-Checksum:"),
                        "x-amz-Checksum: B4VNL+8pega6gWheZgwzLeNtXRjVRpJ9MNqtbX/aFUE=");
    assert_string_equal(line(&s, "x-amz-Checksum-Algorithm:"), "x-amz-Checksum-Algorithm: SHA256");
    const char *auth = line(&s, "Authorization:");
    assert_non_null(strstr(auth, "/eu-west-1/ebs/aws4_request"));
    assert_non_null(strstr(auth, "x-amz-checksum"));
    assert_null(line(&s, "X-Amz-Security-Token:"));
    assert_null(strstr(auth, "x-amz-security-token"));
    ebs_signed_free(&s);
}

static void test_session_token_is_sent_and_signed(void **state)
{
    (void)state;
    struct ebs_signed s;
    char url[512];
    sign_block("FwoGZXIvYXdzEJr", &s, url, sizeof(url));
    assert_string_equal(line(&s, "X-Amz-Security-Token:"), "X-Amz-Security-Token: FwoGZXIvYXdzEJr");
    assert_non_null(strstr(line(&s, "Authorization:"), "x-amz-security-token"));
    ebs_signed_free(&s);
}

static void test_throttling_and_5xx_are_retried_other_errors_not(void **state)
{
    (void)state;
    const char *thr = "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}";
    const char *req =
        "{\"Message\":\"x\",\"Reason\":\"x\",\"__type\":\"RequestThrottledException\"}";
    const char *val = "{\"__type\":\"ValidationException\",\"message\":\"bad index\"}";
    const char *xml = "<Response><Errors><Error><Code>RequestLimitExceeded</Code></Error></Errors>";
    assert_true(ebs_api_retryable(429, "", 0));
    assert_true(ebs_api_retryable(503, "", 0));
    assert_true(ebs_api_retryable(400, thr, strlen(thr)));
    assert_true(ebs_api_retryable(400, req, strlen(req)));
    assert_true(ebs_api_retryable(503, xml, strlen(xml)));
    assert_false(ebs_api_retryable(400, val, strlen(val)));
    assert_false(ebs_api_retryable(403, "", 0));
    char out[256];
    assert_int_equal(ebs_api_error(400, val, strlen(val), out, sizeof(out)), -EIO);
    assert_string_equal(out, "ValidationException: bad index (HTTP 400)");
    assert_int_equal(ebs_api_error(404, "", 0, out, sizeof(out)), -ENOENT);
    assert_int_equal(ebs_api_error(400, thr, strlen(thr), out, sizeof(out)), -EAGAIN);
}

static void test_endpoints_configurable_and_checked(void **state)
{
    (void)state;
    struct wm_awscred c;
    char err[256];
    assert_int_equal(wm_awscred_set(&c, "A", "B", NULL, err, sizeof(err)), 0);
    struct ebs_api a;
    struct ebs_api_cfg cfg = {.endpoint = "http://127.0.0.1:5000/", .ec2_endpoint = NULL};
    assert_int_equal(ebs_api_init(&a, &cfg, &c, err, sizeof(err)), 0);
    assert_string_equal(a.endpoint, "http://127.0.0.1:5000");
    assert_string_equal(a.host, "127.0.0.1:5000");
    assert_string_equal(a.ec2_host, "ec2.us-east-1.amazonaws.com");
    cfg.endpoint = "ftp://x";
    assert_int_equal(ebs_api_init(&a, &cfg, &c, err, sizeof(err)), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_value_with_and_without_session_token),
        cmocka_unit_test(test_bad_store_values_are_refused_without_quoting_them),
        cmocka_unit_test(test_env_credentials_need_both_parts),
        cmocka_unit_test(test_block_put_is_signed_for_ebs_with_checksum_headers),
        cmocka_unit_test(test_session_token_is_sent_and_signed),
        cmocka_unit_test(test_throttling_and_5xx_are_retried_other_errors_not),
        cmocka_unit_test(test_endpoints_configurable_and_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
