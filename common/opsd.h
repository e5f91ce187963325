/* opsd — a daemon's operational endpoint: /metrics, /healthz and /readyz
 * (PostgreSQL and Kafka reachable) on metrics.listen, over httpd.
 *
 *   wm_opsd_declare(cfg)                 declares metrics.listen ("" = off)
 *   o = wm_opsd_start(cfg, m, err)       NULL with err "" when off
 *   wm_opsd_sql_gauge(o, name, help, labels, sql)
 *                                        a gauge read from PostgreSQL at each
 *                                        scrape (label columns, then the value)
 *   wm_opsd_stop(o)
 *
 * The endpoint keeps one PostgreSQL connection of its own (opened at the
 * first scrape or readiness check, reconnecting by itself), so the
 * daemon's connections are never shared across threads.  Plain HTTP: the
 * endpoint carries no secrets, as Prometheus scrapes expect. */
#ifndef WM_OPSD_H
#define WM_OPSD_H

#include <stddef.h>

struct wm_config;
struct wm_metrics;
struct wm_opsd;

int wm_opsd_declare(struct wm_config *cfg, char *err, size_t errlen);
struct wm_opsd *wm_opsd_start(const struct wm_config *cfg, struct wm_metrics *m, char *err,
                              size_t errlen);
int wm_opsd_sql_gauge(struct wm_opsd *o, const char *name, const char *help, const char *labels,
                      const char *sql);
void wm_opsd_stop(struct wm_opsd *o);

#endif
