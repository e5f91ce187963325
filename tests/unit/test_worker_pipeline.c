/* The default pipeline table and the worker's handlers over the sim driver:
 * every pipeline step has a handler, replication steps travel on the
 * replication topic, lifecycles progress as docs/architecture.md says, cutover steps
 * wait for the window, and the sim driver succeeds, fails on demand and
 * says "simulated". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "driver.h"
#include "kafka.h"
#include "pipeline.h"
#include "task.h"
#include "worker_int.h"

static void test_pipeline_order_and_lifecycles(void **state)
{
    (void)state;
    size_t n;
    const struct pipeline_step *s = pipeline_steps(&n);
    assert_int_equal(n, 16);
    assert_string_equal(pipeline_first()->kind, "prereq_check");
    assert_string_equal(s[n - 2].kind, "decommission");
    assert_string_equal(s[n - 2].after, "DONE");
    assert_true(s[n - 1].aux);
    assert_null(pipeline_next("decommission"));
    assert_null(pipeline_next("rollback_cutover"));
    assert_string_equal(pipeline_next("verify_test")->kind, "delta_sync");
    assert_true(pipeline_find("delta_sync", NULL)->repeats);
    assert_string_equal(pipeline_find("verify_replication", NULL)->after, "READY_FOR_TEST");
    assert_string_equal(pipeline_find("verify_test", NULL)->after, "READY_FOR_CUTOVER");
    assert_string_equal(pipeline_find("launch_cutover", NULL)->after, "CUTOVER");
    assert_null(pipeline_find("no_such_step", NULL));
}

/* The source is shut down only after the cutover instance was validated
 * (after_validate), or right after the final delta (after_final_delta);
 * every step before that may still be rolled back. */
static void test_source_shutdown_comes_after_validation(void **state)
{
    (void)state;
    size_t v, sd, fd, lc;
    assert_non_null(pipeline_find("validate", &v));
    assert_non_null(pipeline_find("shutdown_source", &sd));
    assert_non_null(pipeline_find("final_delta_sync", &fd));
    assert_non_null(pipeline_find("launch_cutover", &lc));
    assert_true(pipeline_position(sd, PIPE_SHUTDOWN_AFTER_VALIDATE) ==
                pipeline_position(v, PIPE_SHUTDOWN_AFTER_VALIDATE) + 1);
    assert_true(pipeline_position(sd, PIPE_SHUTDOWN_AFTER_FINAL_DELTA) ==
                pipeline_position(fd, PIPE_SHUTDOWN_AFTER_FINAL_DELTA) + 1);
    assert_true(pipeline_position(lc, PIPE_SHUTDOWN_AFTER_FINAL_DELTA) >
                pipeline_position(sd, PIPE_SHUTDOWN_AFTER_FINAL_DELTA));
    /* positions are a permutation of 1..15 under both policies */
    for (int pol = 0; pol < 2; pol++) {
        int seen[32] = {0};
        for (size_t i = 0; i < PIPE_NSTEPS; i++) {
            int p = pipeline_position(i, (enum pipeline_shutdown)pol);
            assert_true(p >= 0 && p < 32);
            seen[p]++;
        }
        assert_int_equal(seen[0], 1); /* the aux rollback step */
        for (int p = 1; p < PIPE_NSTEPS; p++)
            assert_int_equal(seen[p], 1);
    }
    const char *undo[] = {"stop_source_services", "final_delta_sync", "launch_cutover",
                          "post_cutover", "validate"};
    for (size_t i = 0; i < 5; i++)
        assert_true(pipeline_find(undo[i], NULL)->undoable);
    assert_false(pipeline_find("shutdown_source", NULL)->undoable);
    assert_true(pipeline_find("stop_source_services", NULL)->waits_approval);
    assert_true(pipeline_find("decommission", NULL)->waits_finalize);
    assert_int_equal(pipeline_shutdown_parse("after_final_delta"), PIPE_SHUTDOWN_AFTER_FINAL_DELTA);
    assert_int_equal(pipeline_shutdown_parse("never"), -1);
}

static void test_replication_steps_use_replication_topic(void **state)
{
    (void)state;
    const char *repl[] = {"initial_sync", "delta_sync", "final_delta_sync"};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(pipeline_topic(repl[i]), WM_TOPIC_TASKS_REPLICATION);
        assert_true(pipeline_find(repl[i], NULL)->replication);
    }
    assert_string_equal(pipeline_topic("launch_test"), WM_TOPIC_TASKS_CONTROL);
    assert_string_equal(pipeline_topic("unknown"), WM_TOPIC_TASKS_CONTROL);
}

static void test_cutover_steps_wait_for_window(void **state)
{
    (void)state;
    assert_false(pipeline_find("delta_sync", NULL)->waits_cutover);
    assert_true(pipeline_find("stop_source_services", NULL)->waits_cutover);
    assert_true(pipeline_find("launch_cutover", NULL)->waits_cutover);
    assert_false(pipeline_find("post_cutover", NULL)->waits_cutover);
}

static struct wm_config *sim_cfg(const char *always)
{
    struct wm_config *cfg = wm_config_new();
    char err[256];
    assert_non_null(cfg);
    assert_int_equal(sim_declare(cfg, err, sizeof(err)), 0);
    assert_int_equal(wm_config_set(cfg, "sim.duration", "0", "test", err, sizeof(err)), 0);
    assert_int_equal(
        wm_config_set(cfg, "sim.fail_always_kinds", always, "test", err, sizeof(err)), 0);
    assert_int_equal(sim_configure(cfg, err, sizeof(err)), 0);
    return cfg;
}

static enum task_result run_kind(const char *kind, struct task_ctx *t)
{
    static struct wm_kv kv[] = {{"provider", "sim"}, {"transport", "sim"}, {"replication", "sim"}};
    memset(t, 0, sizeof(*t));
    t->msg.kind = (char *)kind;
    t->msg.task_id = 1;
    t->msg.attempt = 1;
    t->msg.params = kv;
    t->msg.nparams = 3;
    return handler_run(t);
}

static void test_every_step_has_a_sim_handler(void **state)
{
    (void)state;
    struct wm_config *cfg = sim_cfg("");
    size_t n;
    const struct pipeline_step *s = pipeline_steps(&n);
    struct task_ctx t;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(run_kind(s[i].kind, &t), TASK_OK);
        assert_true(t.simulated);
    }
    assert_int_equal(run_kind("initial_sync", &t), TASK_OK);
    assert_true(atomic_load(&t.bytes_total) > 0);
    assert_int_equal(atomic_load(&t.bytes_done), atomic_load(&t.bytes_total));
    wm_config_free(cfg);
}

static void test_sim_failures_and_unknown_kinds(void **state)
{
    (void)state;
    struct wm_config *cfg = sim_cfg("validate");
    struct task_ctx t;
    assert_int_equal(run_kind("validate", &t), TASK_FAILED);
    assert_non_null(strstr(t.error, "simulated failure of validate"));
    assert_int_equal(run_kind("cmdb_update", &t), TASK_OK);
    assert_int_equal(run_kind("no_such_kind", &t), TASK_FAILED);
    assert_non_null(strstr(t.error, "no handler"));
    wm_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipeline_order_and_lifecycles),
        cmocka_unit_test(test_source_shutdown_comes_after_validation),
        cmocka_unit_test(test_replication_steps_use_replication_topic),
        cmocka_unit_test(test_cutover_steps_wait_for_window),
        cmocka_unit_test(test_every_step_has_a_sim_handler),
        cmocka_unit_test(test_sim_failures_and_unknown_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
