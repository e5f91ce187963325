/* metrics — a registry of counters and gauges rendered in the Prometheus
 * text exposition format (version 0.0.4), for a daemon's /metrics.
 *
 * A family has a name, a type, a help line and a fixed list of label
 * names; each distinct tuple of label values is one series.  Every call is
 * thread-safe (one mutex per registry: updates are a lookup and an add, far
 * cheaper than the work they count).
 *
 *   struct wm_metrics *m = wm_metrics_new();
 *   struct wm_metric *tasks = wm_metrics_counter(m, "wm_tasks_total",
 *                                 "Tasks finished, by kind and state", "kind,state");
 *   wm_metric_add(tasks, 1, (const char *[]){"sync", "done"});
 *   char *text = wm_metrics_render(m, &len);   // caller frees
 *
 * Values that live elsewhere (queue depth in PostgreSQL, open connections)
 * are refreshed at scrape time by collectors registered with
 * wm_metrics_on_scrape(): render calls each one, then formats.
 *
 * Bounds: a family holds at most WM_METRICS_MAX_SERIES series (a new tuple
 * beyond that is dropped and counted in wm_metrics_dropped_series_total), a
 * label value is cut at WM_METRICS_MAX_VALUE bytes. */
#ifndef WM_METRICS_H
#define WM_METRICS_H

#include <stddef.h>

#define WM_METRICS_MAX_LABELS 8
#define WM_METRICS_MAX_SERIES 10000
#define WM_METRICS_MAX_VALUE 256

enum wm_metric_type {
    WM_METRIC_COUNTER, /* only goes up: add v >= 0, or set (mirroring a counter kept
                          elsewhere) to a value not below the current one */
    WM_METRIC_GAUGE,   /* set, add or subtract */
};

struct wm_metrics;
struct wm_metric;

/* --- registry --- */
struct wm_metrics *wm_metrics_new(void);
/* Frees the registry and every family in it. */
void wm_metrics_free(struct wm_metrics *m);

/* A family, created on first use and returned again for the same name (the
 * type and label names must then match, else NULL).  labels is a
 * comma-separated list of label names, NULL or "" for none.  NULL on a bad
 * name or label list (a programming error; logged). The family belongs to m. */
struct wm_metric *wm_metrics_family(struct wm_metrics *m, const char *name,
                                    enum wm_metric_type type, const char *help,
                                    const char *labels);
struct wm_metric *wm_metrics_counter(struct wm_metrics *m, const char *name, const char *help,
                                     const char *labels);
struct wm_metric *wm_metrics_gauge(struct wm_metrics *m, const char *name, const char *help,
                                   const char *labels);

/* A collector, called (without the registry lock held) at each render. */
typedef void (*wm_metrics_collect_fn)(struct wm_metrics *m, void *arg);
int wm_metrics_on_scrape(struct wm_metrics *m, wm_metrics_collect_fn fn, void *arg);

/* --- updates: values has one entry per label name (NULL when none) ---
 * A NULL family is accepted and ignored, so a module built without a
 * registry needs no checks.  Returns 0, -EINVAL (a counter asked to go
 * down), -E2BIG (series limit) or -ENOMEM. */
int wm_metric_add(struct wm_metric *f, double v, const char *const *values);
int wm_metric_set(struct wm_metric *f, double v, const char *const *values);
/* Removes every series of f (a collector that re-sets a labelled gauge
 * from a query drops the series that disappeared). */
void wm_metric_clear(struct wm_metric *f);
/* The current value of a series, 0 when it does not exist (for tests). */
double wm_metric_get(struct wm_metric *f, const char *const *values);

/* --- output --- */
/* The text format, families in registration order, series in first-use
 * order.  Returns a NUL-terminated buffer the caller frees (*len its
 * length, may be NULL), or NULL when out of memory. */
char *wm_metrics_render(struct wm_metrics *m, size_t *len);

#endif
