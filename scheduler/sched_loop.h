/* sched_loop — wavemill-scheduler: owns waves, runs the reconciler pass
 * (sched_tick) when a wm.status event, a NOTIFY from the CLI or the
 * reconcile timer says so, and publishes the outbox. */
#ifndef SCHED_LOOP_H
#define SCHED_LOOP_H

#include <signal.h>
#include <stddef.h>

struct wm_config;
struct sched_loop;

/* Declares the scheduler.* keys (call before loading the config). */
int sched_loop_declare(struct wm_config *cfg, char *err, size_t errlen);

/* Connects to PostgreSQL and Kafka.  cfg is borrowed for the scheduler's life. */
struct sched_loop *sched_loop_new(const struct wm_config *cfg, char *err, size_t errlen);
void sched_loop_free(struct sched_loop *s);
/* Exports the pass counters (wm_sched_tasks_total{what}) and the waves
 * owned into m (borrowed, must outlive the loop's run). */
struct wm_metrics;
void sched_loop_set_metrics(struct sched_loop *s, struct wm_metrics *m);

/* Runs until *stop becomes non-zero.  Returns 0, or negative with err on a
 * fatal error. */
int sched_loop_run(struct sched_loop *s, volatile sig_atomic_t *stop, char *err, size_t errlen);

#endif
