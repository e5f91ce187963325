/* common/pgarr — the one builder of PostgreSQL array literals — and
 * common/clock: quoting and NULLs as PostgreSQL reads them, the empty
 * array, booleans, reuse after reset; the clocks' directions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "clock.h"
#include "pgarr.h"

static void test_empty_array_is_braces(void **state)
{
    (void)state;
    struct wm_pgarr a = {0};
    assert_string_equal(wm_pgarr_end(&a), "{}");
    wm_pgarr_free(&a);
}

static void test_text_is_quoted_and_null_is_null(void **state)
{
    (void)state;
    struct wm_pgarr a = {0};
    wm_pgarr_text(&a, "plain");
    wm_pgarr_text(&a, "a \"quoted\" \\ b,{}");
    wm_pgarr_text(&a, NULL);
    assert_string_equal(wm_pgarr_end(&a), "{\"plain\",\"a \\\"quoted\\\" \\\\ b,{}\",NULL}");
    wm_pgarr_free(&a);
}

static void test_ints_and_bools(void **state)
{
    (void)state;
    struct wm_pgarr a = {0}, b = {0};
    wm_pgarr_int(&a, -5, false);
    wm_pgarr_int(&a, 0, true);
    wm_pgarr_int(&a, INT64_MAX, false);
    assert_string_equal(wm_pgarr_end(&a), "{-5,NULL,9223372036854775807}");
    wm_pgarr_bool(&b, true);
    wm_pgarr_bool(&b, false);
    assert_string_equal(wm_pgarr_end(&b), "{t,f}");
    wm_pgarr_free(&a);
    wm_pgarr_free(&b);
}

static void test_reset_reuses_the_buffer(void **state)
{
    (void)state;
    struct wm_pgarr a = {0};
    wm_pgarr_int(&a, 1, false);
    assert_string_equal(wm_pgarr_end(&a), "{1}");
    wm_pgarr_reset(&a);
    wm_pgarr_int(&a, 2, false);
    wm_pgarr_int(&a, 3, false);
    assert_string_equal(wm_pgarr_end(&a), "{2,3}");
    wm_pgarr_free(&a);
}

static void test_clocks_move_forward(void **state)
{
    (void)state;
    int64_t m0 = wm_mono_ms(), w0 = wm_wall_ms();
    wm_sleep_ms(20);
    assert_true(wm_mono_ms() >= m0 + 20);
    assert_true(wm_wall_ms() > 1700000000000LL); /* after 2023: the epoch, in ms */
    assert_true(wm_wall_ms() >= w0);
    wm_sleep_ms(0);
    wm_sleep_ms(-1); /* nothing, no wait */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_array_is_braces),
        cmocka_unit_test(test_text_is_quoted_and_null_is_null),
        cmocka_unit_test(test_ints_and_bools),
        cmocka_unit_test(test_reset_reuses_the_buffer),
        cmocka_unit_test(test_clocks_move_forward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
