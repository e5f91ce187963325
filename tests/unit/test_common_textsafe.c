/* Text and secrets hygiene (issue 9): everything leaving the process is
 * valid UTF-8 and bounded on a character boundary; the redaction registry
 * has no fixed cap and forgets a secret when its holder frees it; daemons
 * cannot dump core. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "daemon.h"
#include "log.h"
#include "utf8.h"

static void test_latin1_bytes_are_escaped_and_result_is_valid(void **state)
{
    (void)state;
    const char *latin1 = "Fehler: Datei \xfc"
                         "ber Gr\xf6\xdf"
                         "e"; /* "über Größe" in ISO-8859-1 */
    char out[128];
    assert_false(wm_utf8_valid(latin1, strlen(latin1)));
    wm_utf8_sanitize(latin1, out, sizeof(out));
    assert_string_equal(out, "Fehler: Datei \\xfcber Gr\\xf6\\xdfe");
    assert_true(wm_utf8_valid(out, strlen(out)));
}

static void test_valid_text_is_kept_and_bound_never_cuts_a_character(void **state)
{
    (void)state;
    const char *s = "ab\xc3\xa9\xe2\x82\xac"; /* "abé€" */
    char out[16];
    wm_utf8_sanitize(s, out, sizeof(out));
    assert_string_equal(out, s);
    /* room for "ab" + 1 byte: 'é' (2 bytes) must not be cut */
    wm_utf8_sanitize(s, out, 4);
    assert_string_equal(out, "ab");
    /* an escape is never cut either */
    wm_utf8_sanitize("a\xff", out, 4);
    assert_string_equal(out, "a");
}

static void test_overlong_and_surrogates_are_invalid(void **state)
{
    (void)state;
    assert_false(wm_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    assert_false(wm_utf8_valid("\xed\xa0\x80", 3));     /* U+D800 */
    assert_false(wm_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_true(wm_utf8_valid("\xf0\x9f\x98\x80", 4));  /* U+1F600 */
}

static void test_redact_output_is_valid_utf8_and_whole_characters(void **state)
{
    (void)state;
    char out[64];
    wm_redact("r\xe9sum\xe9 \xc3\xa9t\xc3\xa9", out, sizeof(out));
    assert_string_equal(out, "r\\xe9sum\\xe9 \xc3\xa9t\xc3\xa9");
    /* 4 bytes of room: "ab" then a 2-byte 'é' would need 5 with the NUL */
    wm_redact("abc\xc3\xa9", out, 5);
    assert_string_equal(out, "abc");
    assert_true(wm_utf8_valid(out, strlen(out)));
}

/* The old registry held 256 values and failed the 257th with ENOMEM. */
static void test_thousand_distinct_secrets_then_all_released(void **state)
{
    (void)state;
    enum { N = 1000 };
    static wm_secret *held[N];
    size_t base = wm_log_secret_count();
    for (int i = 0; i < N; i++) {
        char v[32];
        snprintf(v, sizeof(v), "secret-value-%04d", i);
        held[i] = wm_secret_new(v, strlen(v));
        assert_non_null(held[i]);
    }
    assert_int_equal(wm_log_secret_count(), base + N);
    char out[128];
    wm_redact("key=secret-value-0999 other=secret-value-0000", out, sizeof(out));
    assert_string_equal(out, "key=*** other=***");
    for (int i = 0; i < N; i++)
        wm_secret_free(held[i]);
    assert_int_equal(wm_log_secret_count(), base);
    /* a freed value is no longer redacted: the registry really let it go */
    wm_redact("secret-value-0500", out, sizeof(out));
    assert_string_equal(out, "secret-value-0500");
}

static void test_shared_value_stays_registered_while_one_holder_lives(void **state)
{
    (void)state;
    wm_secret *a = wm_secret_new("same-secret", 11), *b = wm_secret_new("same-secret", 11);
    char out[64];
    wm_secret_free(a);
    wm_redact("x same-secret", out, sizeof(out));
    assert_string_equal(out, "x ***");
    wm_secret_free(b);
    wm_redact("x same-secret", out, sizeof(out));
    assert_string_equal(out, "x same-secret");
}

static void test_permanent_registration_survives_secret_free(void **state)
{
    (void)state;
    assert_int_equal(wm_log_register_secret("config-password"), 0);
    wm_secret *s = wm_secret_new("config-password", 15);
    wm_secret_free(s);
    char out[64];
    wm_redact("pw=config-password", out, sizeof(out));
    assert_string_equal(out, "pw=***");
}

static void test_daemon_harden_forbids_core_dumps(void **state)
{
    (void)state;
    char err[128];
    assert_int_equal(wm_daemon_harden(err, sizeof(err)), 0);
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_CORE, &rl), 0);
    assert_int_equal(rl.rlim_cur, 0);
    assert_int_equal(rl.rlim_max, 0);
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_latin1_bytes_are_escaped_and_result_is_valid),
        cmocka_unit_test(test_valid_text_is_kept_and_bound_never_cuts_a_character),
        cmocka_unit_test(test_overlong_and_surrogates_are_invalid),
        cmocka_unit_test(test_redact_output_is_valid_utf8_and_whole_characters),
        cmocka_unit_test(test_thousand_distinct_secrets_then_all_released),
        cmocka_unit_test(test_shared_value_stays_registered_while_one_holder_lives),
        cmocka_unit_test(test_permanent_registration_survives_secret_free),
        cmocka_unit_test(test_daemon_harden_forbids_core_dumps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
