/* log: one line per event, key=value fields, secrets never printed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Runs one wm_log call into a memory stream and returns what it wrote. */
static char *capture(enum wm_log_level level, const char *event, const char *fields)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    assert_non_null(mem);
    wm_log_set_stream(mem);
    wm_log(level, event, "%s", fields);
    wm_log_set_stream(NULL);
    fclose(mem);
    return buf;
}

static void test_event_is_one_line_with_fields(void **state)
{
    (void)state;
    char *out = capture(WM_LOG_INFO, "task.claimed", "task=42 msg=two\nlines");
    assert_non_null(strstr(out, " level=info comp=wavemill event=task.claimed task=42 "));
    assert_non_null(strstr(out, "msg=two\\nlines"));
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
    /* ISO 8601 UTC timestamp first */
    assert_int_equal(out[4], '-');
    assert_int_equal(out[10], 'T');
    free(out);
}

static void test_level_filter_drops_lower_levels(void **state)
{
    (void)state;
    wm_log_set_level(WM_LOG_WARN);
    char *out = capture(WM_LOG_INFO, "quiet", "x=1");
    assert_string_equal(out, "");
    free(out);
    out = capture(WM_LOG_ERROR, "loud", "x=1");
    assert_non_null(strstr(out, "level=error"));
    free(out);
    wm_log_set_level(WM_LOG_INFO);
}

static void test_parse_level_rejects_unknown_names(void **state)
{
    (void)state;
    enum wm_log_level l;
    assert_int_equal(wm_log_parse_level("DEBUG", &l), 0);
    assert_int_equal(l, WM_LOG_DEBUG);
    assert_int_equal(wm_log_parse_level("warn", &l), 0);
    assert_int_equal(l, WM_LOG_WARN);
    assert_true(wm_log_parse_level("verbose", &l) < 0);
}

static void test_secret_value_never_reaches_the_log(void **state)
{
    (void)state;
    wm_secret *s = wm_secret_new("hunter2-s3cr3t", 14);
    assert_non_null(s);
    size_t len;
    const char *v = wm_secret_reveal(s, &len);
    assert_int_equal(len, 14);
    /* a careless caller prints the revealed value */
    char fields[128];
    snprintf(fields, sizeof(fields), "password=%s again=%s", v, v);
    char *out = capture(WM_LOG_ERROR, "oops", fields);
    assert_null(strstr(out, "hunter2-s3cr3t"));
    assert_non_null(strstr(out, "password=*** again=***"));
    free(out);
    wm_secret_free(s);
    /* the holder is gone, so is its registry entry (issue 9: the registry
     * must not grow for ever); code that keeps a copy keeps a wm_secret */
    out = capture(WM_LOG_ERROR, "later", "leak=hunter2-s3cr3t");
    assert_non_null(strstr(out, "leak=hunter2-s3cr3t"));
    free(out);
}

static void test_redact_bounds_output_and_terminates(void **state)
{
    (void)state;
    assert_int_equal(wm_log_register_secret("abcd-token"), 0);
    char small[8];
    size_t n = wm_redact("xxabcd-tokenyy", small, sizeof(small));
    assert_true(n < sizeof(small));
    assert_string_equal(small, "xx***yy");
    char tiny[4];
    wm_redact("0123456789", tiny, sizeof(tiny));
    assert_string_equal(tiny, "012");
}

static void test_short_values_are_not_registered(void **state)
{
    (void)state;
    /* a 1-3 byte "secret" would redact ordinary text everywhere */
    assert_int_equal(wm_log_register_secret("ab"), 0);
    char out[32];
    wm_redact("abc", out, sizeof(out));
    assert_string_equal(out, "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_is_one_line_with_fields),
        cmocka_unit_test(test_level_filter_drops_lower_levels),
        cmocka_unit_test(test_parse_level_rejects_unknown_names),
        cmocka_unit_test(test_secret_value_never_reaches_the_log),
        cmocka_unit_test(test_redact_bounds_output_and_terminates),
        cmocka_unit_test(test_short_values_are_not_registered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
