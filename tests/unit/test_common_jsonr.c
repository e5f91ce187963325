/* jsonr: strict JSON reader — values, lookups, every malformed case with
 * its byte offset, limits, and random/mutated input without crashing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json.h"
#include "jsonr.h"

static struct wm_jsonr *parse(const char *s)
{
    char err[160];
    struct wm_jsonr *d = wm_jsonr_parse(s, strlen(s), NULL, NULL, err, sizeof(err));
    if (!d)
        fail_msg("unexpected parse error: %s (input %s)", err, s);
    return d;
}

/* Serialises v compactly with the writer. */
static char *rewrite(const struct wm_jsonr_val *v)
{
    struct wm_json *j = wm_json_new();
    wm_jsonr_write(j, v);
    assert_int_equal(wm_json_error(j), 0);
    char *s = strdup(wm_json_text(j));
    wm_json_free(j);
    return s;
}

static void test_jsonr_scalars_have_their_values(void **state)
{
    (void)state;
    struct wm_jsonr *d = parse(" {\"i\": -42, \"big\": 9223372036854775807,"
                               " \"min\": -9223372036854775808, \"d\": 1.5e3, \"z\": -0.0,"
                               " \"t\": true, \"f\": false, \"n\": null, \"s\": \"a\\tb\"} \n");
    const struct wm_jsonr_val *r = wm_jsonr_root(d);
    int64_t i = 0;
    double x = 0;
    bool b = false;

    assert_int_equal(wm_jsonr_type(r), WM_JSONR_OBJECT);
    assert_int_equal(wm_jsonr_len(r), 9);
    assert_true(wm_jsonr_int(wm_jsonr_get(r, "i"), &i));
    assert_int_equal(i, -42);
    assert_true(wm_jsonr_int(wm_jsonr_get(r, "big"), &i));
    assert_true(i == INT64_MAX);
    assert_true(wm_jsonr_int(wm_jsonr_get(r, "min"), &i));
    assert_true(i == INT64_MIN);
    assert_false(wm_jsonr_int(wm_jsonr_get(r, "d"), &i)); /* not an integer */
    assert_true(wm_jsonr_double(wm_jsonr_get(r, "d"), &x));
    assert_true(x == 1500.0);
    assert_string_equal(wm_jsonr_num_text(wm_jsonr_get(r, "d")), "1.5e3");
    assert_true(wm_jsonr_double(wm_jsonr_get(r, "i"), &x)); /* integers convert */
    assert_true(x == -42.0);
    assert_true(wm_jsonr_bool(wm_jsonr_get(r, "t"), &b) && b);
    assert_true(wm_jsonr_bool(wm_jsonr_get(r, "f"), &b) && !b);
    assert_true(wm_jsonr_is_null(wm_jsonr_get(r, "n")));
    assert_string_equal(wm_jsonr_str(wm_jsonr_get(r, "s")), "a\tb");
    assert_null(wm_jsonr_get(r, "missing"));
    assert_int_equal(wm_jsonr_type(wm_jsonr_get(r, "missing")), WM_JSONR_ABSENT);
    assert_null(wm_jsonr_str(wm_jsonr_get(r, "i"))); /* wrong type answers absent */
    assert_string_equal(wm_jsonr_key_at(r, 0), "i");
    assert_string_equal(wm_jsonr_key_at(r, 8), "s");
    assert_null(wm_jsonr_key_at(r, 9));
    assert_int_equal(wm_jsonr_offset(wm_jsonr_get(r, "i")), 7);
    wm_jsonr_free(d);
}

static void test_jsonr_unicode_escapes_decode_to_utf8(void **state)
{
    (void)state;
    struct wm_jsonr *d =
        parse("[\"\\u00e9\\u20ac\\ud83d\\ude00\", \"\\\"\\\\\\/\\b\\f\\n\\r\\t\", \"caf\xc3\xa9\","
              " \"nul\\u0000in\"]");
    const struct wm_jsonr_val *r = wm_jsonr_root(d);
    size_t n = 0;

    assert_string_equal(wm_jsonr_str(wm_jsonr_at(r, 0)), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    assert_string_equal(wm_jsonr_str(wm_jsonr_at(r, 1)), "\"\\/\b\f\n\r\t");
    assert_string_equal(wm_jsonr_str(wm_jsonr_at(r, 2)), "caf\xc3\xa9");
    /* a string holding NUL is not handed out as a C string, only with its length */
    assert_null(wm_jsonr_str(wm_jsonr_at(r, 3)));
    const char *s = wm_jsonr_strn(wm_jsonr_at(r, 3), &n);
    assert_int_equal(n, 6);
    assert_memory_equal(s, "nul\0in", 6);
    wm_jsonr_free(d);
}

static void test_jsonr_paths_reach_nested_members_and_items(void **state)
{
    (void)state;
    struct wm_jsonr *d = parse("{\"a\":{\"b\":[10,{\"c\":\"deep\"}],\"e\":{}},\"x.y\":1}");
    const struct wm_jsonr_val *r = wm_jsonr_root(d);
    int64_t i;

    assert_string_equal(wm_jsonr_path_str(r, "a.b.1.c", NULL), "deep");
    assert_true(wm_jsonr_int(wm_jsonr_path(r, "a.b.0"), &i) && i == 10);
    assert_ptr_equal(wm_jsonr_path(r, ""), r);
    assert_int_equal(wm_jsonr_type(wm_jsonr_path(r, "a.e")), WM_JSONR_OBJECT);
    assert_null(wm_jsonr_path(r, "a.b.2"));
    assert_null(wm_jsonr_path(r, "a.b.-1"));
    assert_null(wm_jsonr_path(r, "a.b.x"));
    assert_null(wm_jsonr_path(r, "a."));
    assert_null(wm_jsonr_path(r, "a.b.0.c")); /* into a number */
    assert_null(wm_jsonr_path(r, "x.y"));     /* dots split; use get */
    assert_non_null(wm_jsonr_get(r, "x.y"));
    assert_int_equal(wm_jsonr_path_int(r, "nope", 7), 7);
    assert_string_equal(wm_jsonr_path_str(r, "a.b.0", "dflt"), "dflt");
    assert_null(wm_jsonr_path(NULL, "a"));
    wm_jsonr_free(d);
}

static void test_jsonr_large_object_lookups_find_every_key(void **state)
{
    (void)state;
    struct wm_json *j = wm_json_new();
    char key[32];

    wm_json_obj_begin(j);
    for (int i = 999; i >= 0; i--) {
        snprintf(key, sizeof(key), "k%d", i * 7919 % 1000);
        wm_json_kint(j, key, i * 7919 % 1000);
    }
    wm_json_obj_end(j);
    struct wm_jsonr *d = parse(wm_json_text(j));
    for (int i = 0; i < 1000; i++) {
        int64_t v = -1;
        snprintf(key, sizeof(key), "k%d", i);
        assert_true(wm_jsonr_int(wm_jsonr_get(wm_jsonr_root(d), key), &v));
        assert_int_equal(v, i);
    }
    wm_jsonr_free(d);
    wm_json_free(j);
}

static void test_jsonr_round_trips_through_the_writer(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "{\"a\":[1,-2,3.25,-1.5e-7,true,false,null],\"b\":{\"c\":\"\\u00e9\\n\"},\"e\":[]}",
        "[]",
        "{}",
        "\"just a string\"",
        "0",
        "-0.5",
        "[[[[[]]]],{\"k\":{\"k\":{\"k\":[{}]}}}]",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        struct wm_jsonr *d = parse(docs[i]);
        char *s = rewrite(wm_jsonr_root(d));
        /* the writer escapes é as its bytes and \n as \n */
        struct wm_jsonr *d2 = parse(s);
        char *s2 = rewrite(wm_jsonr_root(d2));
        assert_string_equal(s, s2);
        if (!strchr(docs[i], '\\'))
            assert_string_equal(s, docs[i]);
        free(s);
        free(s2);
        wm_jsonr_free(d);
        wm_jsonr_free(d2);
    }
}

struct bad_case {
    const char *text;
    size_t len; /* 0 = strlen */
    size_t offset;
    const char *words; /* expected in the message */
};

static void test_jsonr_malformed_documents_fail_at_their_offset(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        {"", 0, 0, "expected a JSON value"},
        {"   ", 0, 3, "end of input"},
        {"[1,2,]", 0, 5, "expected a JSON value"},
        {"{\"a\":1,}", 0, 7, "string key"},
        {"{\"a\" 1}", 0, 5, "':'"},
        {"{\"a\":1 \"b\":2}", 0, 7, "',' or '}'"},
        {"[1 2]", 0, 3, "',' or ']'"},
        {"{1:2}", 0, 1, "string key"},
        {"\"abc", 0, 0, "unterminated string"},
        {"[\"abc\\", 0, 5, "unterminated"},
        {"\"a\\x\"", 0, 2, "bad escape"},
        {"\"\\u12g4\"", 0, 1, "four hex digits"},
        {"\"\\ud800\"", 0, 1, "without a low surrogate"},
        {"\"\\ud800\\u0041\"", 0, 1, "without a low surrogate"},
        {"\"\\udc00\"", 0, 1, "lone low surrogate"},
        {"\"a\tb\"", 0, 2, "control character"},
        {"\"\xc3\x28\"", 0, 1, "UTF-8"},
        {"\"\xe0\x80\xaf\"", 0, 1, "UTF-8"},     /* overlong */
        {"\"\xed\xa0\x80\"", 0, 1, "UTF-8"},     /* surrogate in UTF-8 */
        {"\"\xf4\x90\x80\x80\"", 0, 1, "UTF-8"}, /* above U+10FFFF */
        {"[1,\0 2]", 7, 3, "byte 0x00"},
        {"\"a\0b\"", 5, 2, "control character 0x00"},
        {"{} x", 0, 3, "end of input after"},
        {"[1]]", 0, 3, "end of input after"},
        {"01", 0, 0, "leading zero"},
        {"-", 0, 0, "bad number"},
        {"+1", 0, 0, "expected a JSON value"},
        {"1.", 0, 2, "after '.'"},
        {".5", 0, 0, "expected a JSON value"},
        {"1e", 0, 2, "exponent"},
        {"1e+", 0, 3, "exponent"},
        {"[NaN]", 0, 1, "expected a JSON value"},
        {"[Infinity]", 0, 1, "expected a JSON value"},
        {"9223372036854775808", 0, 0, "int64"},
        {"-9223372036854775809", 0, 0, "int64"},
        {"123456789012345678901234567890", 0, 0, "int64"},
        {"1e400", 0, 0, "double range"},
        {"-1e400", 0, 0, "double range"},
        {"tru", 0, 0, "expected a JSON value"},
        {"nulls", 0, 4, "end of input after"},
        {"{\"a\":1,\"b\":2,\"a\":3}", 0, 13, "duplicate key \"a\""},
        {"'a'", 0, 0, "expected a JSON value"},
        {"[1,/*c*/2]", 0, 3, "expected a JSON value"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bad_case *c = &cases[i];
        char err[160] = "";
        size_t off = 9999;
        size_t len = c->len ? c->len : strlen(c->text);
        struct wm_jsonr *d = wm_jsonr_parse(c->text, len, NULL, &off, err, sizeof(err));
        if (d || off != c->offset || !strstr(err, c->words))
            fail_msg("case %zu: want offset %zu and \"%s\", got %s offset %zu: %s", i, c->offset,
                     c->words, d ? "success" : "error", off, err);
        char want[32];
        snprintf(want, sizeof(want), "at byte %zu:", c->offset);
        assert_non_null(strstr(err, want));
        assert_int_equal(errno, EINVAL);
    }
}

static void test_jsonr_a_long_number_literal_is_refused(void **state)
{
    (void)state;
    char num[300] = "0.";
    memset(num + 2, '1', 250);
    num[252] = '\0';
    char err[160];
    assert_null(wm_jsonr_parse(num, strlen(num), NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "longer than"));
    /* a tiny number underflows to 0 and is accepted */
    struct wm_jsonr *d = parse("1e-400");
    double x = 1;
    assert_true(wm_jsonr_double(wm_jsonr_root(d), &x));
    assert_true(x == 0.0);
    wm_jsonr_free(d);
}

static void test_jsonr_depth_beyond_the_limit_is_refused(void **state)
{
    (void)state;
    char buf[2 * 200 + 1];
    char err[160];
    size_t off = 0;

    for (int i = 0; i < 200; i++) {
        buf[i] = '[';
        buf[200 + i] = ']';
    }
    buf[400] = '\0';
    struct wm_jsonr_limits lim = {.max_depth = 200};
    struct wm_jsonr *d = wm_jsonr_parse(buf, 400, &lim, NULL, err, sizeof(err));
    assert_non_null(d); /* exactly at the limit */
    wm_jsonr_free(d);
    lim.max_depth = 199;
    assert_null(wm_jsonr_parse(buf, 400, &lim, &off, err, sizeof(err)));
    assert_int_equal(errno, E2BIG);
    assert_int_equal(off, 199);
    assert_non_null(strstr(err, "nested deeper than 199"));
    /* the default (64) applies without limits */
    assert_null(wm_jsonr_parse(buf, 400, NULL, &off, err, sizeof(err)));
    assert_int_equal(off, 64);
    /* a huge depth request is clamped to the ceiling, not trusted */
    char *deep = malloc(20001);
    memset(deep, '[', 10000);
    memset(deep + 10000, ']', 10000);
    lim.max_depth = 1000000;
    assert_null(wm_jsonr_parse(deep, 20000, &lim, &off, err, sizeof(err)));
    assert_int_equal(off, WM_JSONR_DEPTH_CEILING);
    free(deep);
}

static void test_jsonr_size_and_value_limits_hold(void **state)
{
    (void)state;
    char err[160];
    size_t off;
    struct wm_jsonr_limits lim = {.max_len = 10};

    assert_null(wm_jsonr_parse("[1,2,3,4,5,6]", 13, &lim, &off, err, sizeof(err)));
    assert_int_equal(errno, E2BIG);
    assert_non_null(strstr(err, "longer than 10 bytes"));
    lim = (struct wm_jsonr_limits){.max_values = 4};
    struct wm_jsonr *d = wm_jsonr_parse("[1,2,3]", 7, &lim, &off, err, sizeof(err));
    assert_non_null(d);
    wm_jsonr_free(d);
    assert_null(wm_jsonr_parse("[1,2,3,4]", 9, &lim, &off, err, sizeof(err)));
    assert_int_equal(off, 7);
    assert_non_null(strstr(err, "more than 4 values"));
    assert_null(wm_jsonr_parse(NULL, 0, NULL, &off, err, sizeof(err)));
}

/* Random bytes from a JSON-ish alphabet and mutations of valid documents:
 * never a crash (run under ASan), every failure has an offset inside the
 * text, every success re-serialises to text that parses again. */
static void test_jsonr_random_and_mutated_input_never_crashes(void **state)
{
    (void)state;
    static const char alphabet[] = "{}[],:\"\\u0123456789abcdefABCDEF.eE+- \ttrufalsn\xc3\xa9\xed\xf0";
    static const char *const seeds[] = {
        "{\"instance_id\":\"i-123\",\"address\":\"10.0.0.5\",\"tags\":{\"a\":[1,2.5,true]}}",
        "[\"\\ud83d\\ude00\",-0.0e+1,null,{\"k\":{}}]",
    };
    char buf[256], err[160];
    unsigned seed = 12345;
    int ok = 0;

    for (int it = 0; it < 6000; it++) {
        size_t n;
        if (it % 2) {
            n = (size_t)(rand_r(&seed) % 64);
            for (size_t i = 0; i < n; i++)
                buf[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
        } else {
            const char *s = seeds[(it / 2) % 2];
            n = strlen(s);
            memcpy(buf, s, n);
            for (int m = 0; m < 1 + rand_r(&seed) % 3 && n > 0; m++) {
                size_t at = (size_t)rand_r(&seed) % n;
                int op = rand_r(&seed) % 3;
                if (op == 0)
                    buf[at] = (char)(rand_r(&seed) % 256);
                else if (op == 1 && n > 1)
                    memmove(buf + at, buf + at + 1, --n - at);
                else
                    n = at; /* truncate */
            }
        }
        size_t off = SIZE_MAX;
        struct wm_jsonr *d = wm_jsonr_parse(buf, n, NULL, &off, err, sizeof(err));
        if (!d) {
            assert_true(off <= n);
            assert_non_null(strstr(err, "JSON error at byte"));
            continue;
        }
        ok++;
        char *s = rewrite(wm_jsonr_root(d));
        struct wm_jsonr *d2 = parse(s);
        wm_jsonr_free(d2);
        free(s);
        wm_jsonr_free(d);
    }
    assert_true(ok > 10); /* the generator does produce valid documents too */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jsonr_scalars_have_their_values),
        cmocka_unit_test(test_jsonr_unicode_escapes_decode_to_utf8),
        cmocka_unit_test(test_jsonr_paths_reach_nested_members_and_items),
        cmocka_unit_test(test_jsonr_large_object_lookups_find_every_key),
        cmocka_unit_test(test_jsonr_round_trips_through_the_writer),
        cmocka_unit_test(test_jsonr_malformed_documents_fail_at_their_offset),
        cmocka_unit_test(test_jsonr_a_long_number_literal_is_refused),
        cmocka_unit_test(test_jsonr_depth_beyond_the_limit_is_refused),
        cmocka_unit_test(test_jsonr_size_and_value_limits_hold),
        cmocka_unit_test(test_jsonr_random_and_mutated_input_never_crashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
