/* The worker's handler table against the pipeline table of common/: every
 * step the scheduler can issue has a handler, every handler belongs to a
 * step, and a kind outside the pipeline has none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "handlers.h"
#include "pipeline.h"

static void test_every_step_has_a_handler(void **state)
{
    (void)state;
    size_t n;
    const struct pipeline_step *s = pipeline_steps(&n);
    for (size_t i = 0; i < n; i++) {
        if (!handler_exists(s[i].kind))
            fail_msg("pipeline step '%s' has no worker handler", s[i].kind);
    }
}

static void test_every_handler_has_a_step(void **state)
{
    (void)state;
    size_t n;
    pipeline_steps(&n);
    /* the table is indexed by enum pipeline_kind: a handler outside the
     * pipeline cannot be in it, so the count of handlers equals the steps */
    assert_int_equal(handler_count(), n);
    assert_int_equal(n, PIPE_NSTEPS);
}

static void test_kind_outside_pipeline_has_no_handler(void **state)
{
    (void)state;
    assert_false(handler_exists("no_such_step"));
    assert_false(handler_exists(""));
    assert_false(handler_exists(NULL));
}

static void test_enum_matches_table_order(void **state)
{
    (void)state;
    size_t i;
    assert_non_null(pipeline_find("prereq_check", &i));
    assert_int_equal(i, PIPE_PREREQ_CHECK);
    assert_non_null(pipeline_find("delta_sync", &i));
    assert_int_equal(i, PIPE_DELTA_SYNC);
    assert_non_null(pipeline_find("decommission", &i));
    assert_int_equal(i, PIPE_DECOMMISSION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_step_has_a_handler),
        cmocka_unit_test(test_every_handler_has_a_step),
        cmocka_unit_test(test_kind_outside_pipeline_has_no_handler),
        cmocka_unit_test(test_enum_matches_table_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
