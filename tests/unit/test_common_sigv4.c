/* sigv4: every step checked against AWS's published worked examples — the
 * "Signature Version 4 test suite" (AKIDEXAMPLE, 20150830T123600Z, us-east-1,
 * service "service") and the IAM ListUsers example of the SigV4 docs.  The
 * expected canonical requests, strings to sign and signatures are AWS's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sigv4.h"

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define DATE "20150830T123600Z"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SUITE_CRED                                                                                 \
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "

static const struct wm_sigv4_credentials cred = {AKID, SECRET};
static const struct wm_sigv4_scope suite_scope = {DATE, "us-east-1", "service"};

static const struct wm_sigv4_header base_headers[] = {
    {"Host", "example.amazonaws.com"},
    {"X-Amz-Date", DATE},
};

static void check_authz(const struct wm_sigv4_request *req, const char *expected)
{
    char out[1024];
    assert_int_equal(wm_sigv4_authorization(&cred, &suite_scope, req, out, sizeof(out)), 0);
    assert_string_equal(out, expected);
}

/* a suite case with only Host and X-Amz-Date */
static void check_plain(const char *method, const char *path, const char *query, const char *sig)
{
    struct wm_sigv4_request req = {method, path, query, base_headers, 2, NULL, 0};
    char expected[512];
    snprintf(expected, sizeof(expected), SUITE_CRED "SignedHeaders=host;x-amz-date, Signature=%s",
             sig);
    check_authz(&req, expected);
}

static void test_get_vanilla(void **state)
{
    (void)state;
    struct wm_sigv4_request req = {"GET", "/", NULL, base_headers, 2, NULL, 0};
    char creq[1024], sts[512], sh[64];
    assert_int_equal(wm_sigv4_canonical_request(&req, creq, sizeof(creq), sh, sizeof(sh)), 0);
    assert_string_equal(creq, "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:" DATE
                              "\n\nhost;x-amz-date\n" EMPTY_SHA);
    assert_string_equal(sh, "host;x-amz-date");
    assert_int_equal(wm_sigv4_string_to_sign(&suite_scope, creq, sts, sizeof(sts)), 0);
    assert_string_equal(sts, "AWS4-HMAC-SHA256\n" DATE "\n20150830/us-east-1/service/aws4_request\n"
                             "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
    check_plain("GET", "/", NULL,
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

static void test_get_vanilla_query_order_key_case(void **state)
{
    (void)state;
    check_plain("GET", "/", "Param2=value2&Param1=value1",
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

static void test_get_vanilla_query_order_key_sorts_by_value(void **state)
{
    (void)state;
    struct wm_sigv4_request req = {"GET", "/", "Param1=value2&Param1=Value1", base_headers, 2,
                                   NULL,  0};
    char creq[1024], sts[512];
    assert_int_equal(wm_sigv4_canonical_request(&req, creq, sizeof(creq), NULL, 0), 0);
    assert_string_equal(creq, "GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\n"
                              "x-amz-date:" DATE "\n\nhost;x-amz-date\n" EMPTY_SHA);
    assert_int_equal(wm_sigv4_string_to_sign(&suite_scope, creq, sts, sizeof(sts)), 0);
    assert_string_equal(sts + strlen(sts) - 64,
                        "704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89");
    check_plain("GET", "/", "Param1=value2&Param1=Value1",
                "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1");
    check_plain("GET", "/", "Param1=value2&Param1=value1",
                "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694");
}

static void test_get_vanilla_query_other_cases(void **state)
{
    (void)state;
    check_plain("GET", "/", "Param1=value1",
                "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb");
    const char *unres = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    char q[256];
    snprintf(q, sizeof(q), "%s=%s", unres, unres);
    check_plain("GET", "/", q, "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197");
    /* a UTF-8 parameter name is percent-encoded byte by byte */
    check_plain("GET", "/", "\xe1\x88\xb4=bar",
                "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04");
}

static void test_get_paths_unreserved_and_utf8(void **state)
{
    (void)state;
    check_plain("GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", NULL,
                "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f");
    check_plain("GET", "/\xe1\x88\xb4", NULL,
                "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
}

static void test_get_header_value_trim(void **state)
{
    (void)state;
    const struct wm_sigv4_header h[] = {
        {"Host", "example.amazonaws.com"},
        {"My-Header1", " value1"},
        {"My-Header2", " \"a   b   c\""},
        {"X-Amz-Date", DATE},
    };
    struct wm_sigv4_request req = {"GET", "/", NULL, h, 4, NULL, 0};
    char creq[1024];
    assert_int_equal(wm_sigv4_canonical_request(&req, creq, sizeof(creq), NULL, 0), 0);
    assert_non_null(strstr(creq, "\nmy-header1:value1\nmy-header2:\"a b c\"\n"));
    check_authz(&req, SUITE_CRED
                "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
                "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
}

/* repeated headers: values joined with ',' in the order they were given */
static void test_get_header_key_duplicate_and_value_order(void **state)
{
    (void)state;
    const struct wm_sigv4_header dup[] = {
        {"Host", "example.amazonaws.com"}, {"My-Header1", "value2"}, {"My-Header1", "value2"},
        {"My-Header1", "value1"},          {"X-Amz-Date", DATE},
    };
    struct wm_sigv4_request req = {"GET", "/", NULL, dup, 5, NULL, 0};
    char creq[1024];
    assert_int_equal(wm_sigv4_canonical_request(&req, creq, sizeof(creq), NULL, 0), 0);
    assert_non_null(strstr(creq, "\nmy-header1:value2,value2,value1\n"));
    check_authz(&req, SUITE_CRED
                "SignedHeaders=host;my-header1;x-amz-date, "
                "Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea");
    const struct wm_sigv4_header order[] = {
        {"Host", "example.amazonaws.com"}, {"My-Header1", "value4"}, {"My-Header1", "value1"},
        {"My-Header1", "value3"},          {"My-Header1", "value2"}, {"X-Amz-Date", DATE},
    };
    req.headers = order;
    req.nheaders = 6;
    check_authz(&req, SUITE_CRED
                "SignedHeaders=host;my-header1;x-amz-date, "
                "Signature=08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01");
}

/* the suite's normalize-path cases */
static void test_normalize_path_cases(void **state)
{
    (void)state;
    check_plain("GET", "/./", NULL,
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    check_plain("GET", "//example//", NULL,
                "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84");
    check_plain("GET", "/example space/", NULL,
                "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741");
}

static void test_post_vanilla_and_header_sort_and_case(void **state)
{
    (void)state;
    check_plain("POST", "/", NULL,
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
    /* headers given out of order are sorted; values keep their case */
    const struct wm_sigv4_header h1[] = {
        {"X-Amz-Date", DATE}, {"My-Header1", "value1"}, {"Host", "example.amazonaws.com"}};
    struct wm_sigv4_request req = {"POST", "/", NULL, h1, 3, NULL, 0};
    check_authz(&req, SUITE_CRED
                "SignedHeaders=host;my-header1;x-amz-date, "
                "Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c");
    const struct wm_sigv4_header h2[] = {
        {"Host", "example.amazonaws.com"}, {"My-Header1", "VALUE1"}, {"X-Amz-Date", DATE}};
    req.headers = h2;
    check_authz(&req, SUITE_CRED
                "SignedHeaders=host;my-header1;x-amz-date, "
                "Signature=cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d");
}

static void test_post_x_www_form_urlencoded(void **state)
{
    (void)state;
    const struct wm_sigv4_header h[] = {
        {"Content-Type", "application/x-www-form-urlencoded"},
        {"Host", "example.amazonaws.com"},
        {"X-Amz-Date", DATE},
    };
    struct wm_sigv4_request req = {"POST", "/", NULL, h, 3, "Param1=value1", 13};
    char creq[1024], sts[512];
    assert_int_equal(wm_sigv4_canonical_request(&req, creq, sizeof(creq), NULL, 0), 0);
    assert_string_equal(creq, "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\n"
                              "host:example.amazonaws.com\nx-amz-date:" DATE "\n\n"
                              "content-type;host;x-amz-date\n"
                              "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
    assert_int_equal(wm_sigv4_string_to_sign(&suite_scope, creq, sts, sizeof(sts)), 0);
    assert_string_equal(sts, "AWS4-HMAC-SHA256\n" DATE "\n20150830/us-east-1/service/aws4_request\n"
                             "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281");
    check_authz(&req, SUITE_CRED
                "SignedHeaders=content-type;host;x-amz-date, "
                "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
    const struct wm_sigv4_header h2[] = {
        {"Content-Type", "application/x-www-form-urlencoded; charset=utf8"},
        {"Host", "example.amazonaws.com"},
        {"X-Amz-Date", DATE},
    };
    req.headers = h2;
    check_authz(&req, SUITE_CRED
                "SignedHeaders=content-type;host;x-amz-date, "
                "Signature=1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe");
}

/* The SigV4 documentation's IAM example: GET ?Action=ListUsers&Version=2010-05-08 */
static void test_iam_list_users_example(void **state)
{
    (void)state;
    const struct wm_sigv4_header h[] = {
        {"Host", "iam.amazonaws.com"},
        {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
        {"X-Amz-Date", DATE},
    };
    struct wm_sigv4_request req = {"GET", "/", "Action=ListUsers&Version=2010-05-08", h, 3,
                                   NULL,  0};
    struct wm_sigv4_scope scope = {DATE, "us-east-1", "iam"};
    char creq[1024], sts[512], sig[65];
    assert_int_equal(wm_sigv4_canonical_request(&req, creq, sizeof(creq), NULL, 0), 0);
    assert_string_equal(creq, "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
                              "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
                              "host:iam.amazonaws.com\nx-amz-date:" DATE "\n\n"
                              "content-type;host;x-amz-date\n" EMPTY_SHA);
    assert_int_equal(wm_sigv4_string_to_sign(&scope, creq, sts, sizeof(sts)), 0);
    assert_string_equal(sts, "AWS4-HMAC-SHA256\n" DATE "\n20150830/us-east-1/iam/aws4_request\n"
                             "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
    unsigned char key[32];
    char keyhex[65];
    assert_int_equal(wm_sigv4_signing_key(SECRET, &scope, key), 0);
    for (int i = 0; i < 32; i++)
        snprintf(keyhex + 2 * i, 3, "%02x", key[i]);
    assert_string_equal(keyhex, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
    wm_sigv4_signature(key, sts, sig);
    assert_string_equal(sig, "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
    char authz[512];
    assert_int_equal(wm_sigv4_authorization(&cred, &scope, &req, authz, sizeof(authz)), 0);
    assert_string_equal(
        authz, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/"
               "aws4_request, SignedHeaders=content-type;host;x-amz-date, "
               "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

static void test_path_normalisation_and_double_encoding(void **state)
{
    (void)state;
    struct wm_sigv4_request req = {"GET", "/./foo/../bar//baz/", NULL, base_headers, 2, NULL, 0};
    char creq[1024];
    assert_int_equal(wm_sigv4_canonical_request(&req, creq, sizeof(creq), NULL, 0), 0);
    assert_memory_equal(creq, "GET\n/bar/baz/\n", 14);
    /* a path already encoded on the wire is encoded again (non-S3 services) */
    req.path = "/example%20space/";
    assert_int_equal(wm_sigv4_canonical_request(&req, creq, sizeof(creq), NULL, 0), 0);
    assert_memory_equal(creq, "GET\n/example%2520space/\n", 24);
}

static void test_small_buffers_and_bad_input_refused(void **state)
{
    (void)state;
    struct wm_sigv4_request req = {"GET", "/", NULL, base_headers, 2, NULL, 0};
    char small[40], out[512];
    assert_int_equal(wm_sigv4_canonical_request(&req, small, sizeof(small), NULL, 0), -ENOSPC);
    assert_int_equal(wm_sigv4_authorization(&cred, &suite_scope, &req, small, sizeof(small)),
                     -ENOSPC);
    struct wm_sigv4_scope bad = {"2015-08-30", "us-east-1", "service"};
    assert_int_equal(wm_sigv4_authorization(&cred, &bad, &req, out, sizeof(out)), -EINVAL);
    req.nheaders = 0;
    assert_int_equal(wm_sigv4_authorization(&cred, &suite_scope, &req, out, sizeof(out)), -EINVAL);
    char enc[8];
    assert_int_equal(wm_sigv4_uri_encode("a b/c", 5, 1, enc, sizeof(enc)), 0);
    assert_string_equal(enc, "a%20b/c");
    assert_int_equal(wm_sigv4_uri_encode("a b/c", 5, 0, enc, sizeof(enc)), -ENOSPC);
}

static void test_amz_date_format(void **state)
{
    (void)state;
    char d[17];
    wm_sigv4_amz_date(1440938160, d); /* 2015-08-30T12:36:00Z */
    assert_string_equal(d, DATE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_vanilla),
        cmocka_unit_test(test_get_vanilla_query_order_key_case),
        cmocka_unit_test(test_get_vanilla_query_order_key_sorts_by_value),
        cmocka_unit_test(test_get_vanilla_query_other_cases),
        cmocka_unit_test(test_get_paths_unreserved_and_utf8),
        cmocka_unit_test(test_get_header_value_trim),
        cmocka_unit_test(test_get_header_key_duplicate_and_value_order),
        cmocka_unit_test(test_normalize_path_cases),
        cmocka_unit_test(test_post_vanilla_and_header_sort_and_case),
        cmocka_unit_test(test_post_x_www_form_urlencoded),
        cmocka_unit_test(test_iam_list_users_example),
        cmocka_unit_test(test_path_normalisation_and_double_encoding),
        cmocka_unit_test(test_small_buffers_and_bad_input_refused),
        cmocka_unit_test(test_amz_date_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
