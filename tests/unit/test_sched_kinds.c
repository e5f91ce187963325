/* The scheduler's kind sets, built from the pipeline table of common/ as
 * the array parameters its statements take: replication kinds, launching
 * kinds, the steps that wait for the cutover window, those on the
 * replication topic and the repeating one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pgarr.h"
#include "sched_sql.h"

static void expect_set(enum sched_kind_set which, const char *want)
{
    struct wm_pgarr a = {0};
    sched_kinds_array(which, &a);
    assert_string_equal(wm_pgarr_end(&a), want);
    wm_pgarr_free(&a);
}

static void test_replication_kinds(void **state)
{
    (void)state;
    expect_set(SCHED_KINDS_REPLICATION,
               "{\"initial_sync\",\"delta_sync\",\"final_delta_sync\"}");
    expect_set(SCHED_KINDS_REPL_TOPIC, "{\"initial_sync\",\"delta_sync\",\"final_delta_sync\"}");
}

static void test_launching_and_cutover_kinds(void **state)
{
    (void)state;
    expect_set(SCHED_KINDS_LAUNCHING, "{\"launch_test\",\"launch_cutover\"}");
    expect_set(SCHED_KINDS_CUTOVER, "{\"stop_source_services\",\"final_delta_sync\","
                                    "\"shutdown_source\",\"launch_cutover\"}");
}

static void test_only_delta_sync_repeats(void **state)
{
    (void)state;
    expect_set(SCHED_KINDS_REPEATS, "{\"delta_sync\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replication_kinds),
        cmocka_unit_test(test_launching_and_cutover_kinds),
        cmocka_unit_test(test_only_delta_sync_repeats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
