/* json writer: commas, nesting, escaping, sticky errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "json.h"

static void test_json_nested_objects_and_arrays_get_commas(void **state)
{
    (void)state;
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kstr(j, "name", "w1");
    wm_json_kint(j, "n", -42);
    wm_json_key(j, "list");
    wm_json_arr_begin(j);
    wm_json_int(j, 1);
    wm_json_str(j, NULL);
    wm_json_obj_begin(j);
    wm_json_kbool(j, "ok", true);
    wm_json_obj_end(j);
    wm_json_arr_end(j);
    wm_json_kraw(j, "tags", "{\"a\": 1}");
    wm_json_obj_end(j);
    assert_int_equal(wm_json_error(j), 0);
    assert_string_equal(wm_json_text(j),
                        "{\"name\":\"w1\",\"n\":-42,\"list\":[1,null,{\"ok\":true}],"
                        "\"tags\":{\"a\": 1}}");
    wm_json_free(j);
}

static void test_json_strings_are_escaped(void **state)
{
    (void)state;
    struct wm_json *j = wm_json_new();
    wm_json_str(j, "a\"b\\c\nd\x01\te");
    assert_string_equal(wm_json_text(j), "\"a\\\"b\\\\c\\nd\\u0001\\te\"");
    wm_json_free(j);
}

static void test_json_mismatched_end_is_an_error(void **state)
{
    (void)state;
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_arr_end(j);
    assert_int_equal(wm_json_error(j), -EINVAL);
    wm_json_reset(j);
    wm_json_arr_begin(j);
    assert_int_equal(wm_json_error(j), -EINVAL); /* unclosed */
    wm_json_arr_end(j);
    assert_int_equal(wm_json_error(j), 0);
    wm_json_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_nested_objects_and_arrays_get_commas),
        cmocka_unit_test(test_json_strings_are_escaped),
        cmocka_unit_test(test_json_mismatched_end_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
