/* The scheduler's kind sets, built from the pipeline table of common/ as
 * the array parameters its statements take: replication kinds, launching
 * kinds, the steps that wait for the cutover window, those on the
 * replication topic and the repeating one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

/* Members of the set, whatever the table's order: each wanted kind is in
 * it, and nothing else is. */
static void expect_members(enum sched_kind_set which, const char *const *want, size_t n)
{
    struct wm_pgarr a = {0};
    sched_kinds_array(which, &a);
    const char *lit = wm_pgarr_end(&a);
    size_t commas = 0;
    for (const char *c = lit; *c; c++)
        commas += *c == ',';
    assert_int_equal(commas + 1, n);
    for (size_t i = 0; i < n; i++) {
        char q[64];
        snprintf(q, sizeof(q), "\"%s\"", want[i]);
        if (!strstr(lit, q))
            fail_msg("%s not in %s", want[i], lit);
    }
    wm_pgarr_free(&a);
}

static void test_launching_and_cutover_kinds(void **state)
{
    (void)state;
    static const char *const launching[] = {"launch_test", "launch_cutover"};
    static const char *const cutover[] = {"stop_source_services", "final_delta_sync",
                                          "launch_cutover", "shutdown_source"};
    expect_members(SCHED_KINDS_LAUNCHING, launching, 2);
    expect_members(SCHED_KINDS_CUTOVER, cutover, 4);
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
