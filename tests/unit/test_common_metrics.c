/* metrics registry: text format, labels and escaping, counters only go
 * up, bounded series, collectors at scrape time, concurrent updates. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static void test_metrics_renders_help_type_and_labelled_series(void **state)
{
    (void)state;
    struct wm_metrics *m = wm_metrics_new();
    struct wm_metric *t = wm_metrics_counter(m, "wm_tasks_total", "Tasks done", "kind,state");
    struct wm_metric *g = wm_metrics_gauge(m, "wm_queue_depth", "Queued tasks", NULL);
    assert_int_equal(wm_metric_add(t, 2, (const char *[]){"sync", "done"}), 0);
    assert_int_equal(wm_metric_add(t, 1, (const char *[]){"sync", "done"}), 0);
    assert_int_equal(wm_metric_add(t, 1, (const char *[]){"prereq", "failed"}), 0);
    assert_int_equal(wm_metric_set(g, 7.5, NULL), 0);
    char *text = wm_metrics_render(m, NULL);
    assert_non_null(strstr(text, "# HELP wm_tasks_total Tasks done\n# TYPE wm_tasks_total counter\n"
                                 "wm_tasks_total{kind=\"sync\",state=\"done\"} 3\n"
                                 "wm_tasks_total{kind=\"prereq\",state=\"failed\"} 1\n"));
    assert_non_null(strstr(text, "# TYPE wm_queue_depth gauge\nwm_queue_depth 7.5\n"));
    free(text);
    wm_metrics_free(m);
}

static void test_metrics_label_values_are_escaped(void **state)
{
    (void)state;
    struct wm_metrics *m = wm_metrics_new();
    struct wm_metric *g = wm_metrics_gauge(m, "wm_x", "help with \\ and\nnewline", "v");
    wm_metric_set(g, 1, (const char *[]){"a\"b\\c\nd"});
    char *text = wm_metrics_render(m, NULL);
    assert_non_null(strstr(text, "# HELP wm_x help with \\\\ and\\nnewline\n"));
    assert_non_null(strstr(text, "wm_x{v=\"a\\\"b\\\\c\\nd\"} 1\n"));
    free(text);
    wm_metrics_free(m);
}

static void test_metrics_counter_never_goes_down(void **state)
{
    (void)state;
    struct wm_metrics *m = wm_metrics_new();
    struct wm_metric *c = wm_metrics_counter(m, "wm_c_total", "c", NULL);
    assert_int_equal(wm_metric_add(c, -1, NULL), -EINVAL);
    assert_int_equal(wm_metric_set(c, 5, NULL), 0); /* mirrors a counter kept elsewhere */
    assert_int_equal(wm_metric_set(c, 4, NULL), -EINVAL);
    assert_true(wm_metric_get(c, NULL) == 5);
    struct wm_metric *g = wm_metrics_gauge(m, "wm_g", "g", NULL);
    assert_int_equal(wm_metric_add(g, -3, NULL), 0);
    assert_true(wm_metric_get(g, NULL) == -3);
    wm_metrics_free(m);
}

static void test_metrics_bad_names_and_mismatched_redeclaration_fail(void **state)
{
    (void)state;
    struct wm_metrics *m = wm_metrics_new();
    assert_null(wm_metrics_counter(m, "9bad", "x", NULL));
    assert_null(wm_metrics_counter(m, "bad-name", "x", NULL));
    assert_null(wm_metrics_counter(m, "ok_total", "x", "__reserved"));
    assert_null(wm_metrics_counter(m, "ok_total", "x", "a,,b"));
    struct wm_metric *a = wm_metrics_counter(m, "wm_a_total", "a", "x,y");
    assert_non_null(a);
    assert_ptr_equal(wm_metrics_counter(m, "wm_a_total", "a", "x,y"), a);
    assert_null(wm_metrics_counter(m, "wm_a_total", "a", "x"));
    assert_null(wm_metrics_gauge(m, "wm_a_total", "a", "x,y"));
    /* a NULL family is accepted by updates (module without a registry) */
    assert_int_equal(wm_metric_add(NULL, 1, NULL), 0);
    wm_metrics_free(m);
}

static void test_metrics_series_are_bounded_and_drops_counted(void **state)
{
    (void)state;
    struct wm_metrics *m = wm_metrics_new();
    struct wm_metric *g = wm_metrics_gauge(m, "wm_per_disk", "d", "disk");
    char name[32];
    for (int i = 0; i < WM_METRICS_MAX_SERIES; i++) {
        snprintf(name, sizeof(name), "d%d", i);
        assert_int_equal(wm_metric_set(g, i, (const char *[]){name}), 0);
    }
    assert_int_equal(wm_metric_set(g, 1, (const char *[]){"one-too-many"}), -E2BIG);
    assert_true(wm_metric_get(g, (const char *[]){"d9999"}) == 9999);
    char *text = wm_metrics_render(m, NULL);
    assert_non_null(strstr(text, "wm_metrics_dropped_series_total 1\n"));
    free(text);
    wm_metric_clear(g);
    assert_true(wm_metric_get(g, (const char *[]){"d9999"}) == 0);
    assert_int_equal(wm_metric_set(g, 1, (const char *[]){"one-too-many"}), 0);
    wm_metrics_free(m);
}

static void collect_depth(struct wm_metrics *m, void *arg)
{
    int *calls = arg;
    (*calls)++;
    wm_metric_set(wm_metrics_gauge(m, "wm_depth", "depth", NULL), *calls * 10, NULL);
}

static void test_metrics_collectors_run_at_each_render(void **state)
{
    (void)state;
    struct wm_metrics *m = wm_metrics_new();
    int calls = 0;
    assert_int_equal(wm_metrics_on_scrape(m, collect_depth, &calls), 0);
    free(wm_metrics_render(m, NULL));
    char *text = wm_metrics_render(m, NULL);
    assert_int_equal(calls, 2);
    assert_non_null(strstr(text, "wm_depth 20\n"));
    free(text);
    wm_metrics_free(m);
}

static void *adder(void *arg)
{
    struct wm_metric *c = arg;
    for (int i = 0; i < 20000; i++)
        wm_metric_add(c, 1, (const char *[]){i % 2 ? "odd" : "even"});
    return NULL;
}

static void test_metrics_concurrent_adds_are_not_lost(void **state)
{
    (void)state;
    struct wm_metrics *m = wm_metrics_new();
    struct wm_metric *c = wm_metrics_counter(m, "wm_n_total", "n", "parity");
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, adder, c);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_true(wm_metric_get(c, (const char *[]){"odd"}) == 40000);
    assert_true(wm_metric_get(c, (const char *[]){"even"}) == 40000);
    wm_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_renders_help_type_and_labelled_series),
        cmocka_unit_test(test_metrics_label_values_are_escaped),
        cmocka_unit_test(test_metrics_counter_never_goes_down),
        cmocka_unit_test(test_metrics_bad_names_and_mismatched_redeclaration_fail),
        cmocka_unit_test(test_metrics_series_are_bounded_and_drops_counted),
        cmocka_unit_test(test_metrics_collectors_run_at_each_render),
        cmocka_unit_test(test_metrics_concurrent_adds_are_not_lost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
