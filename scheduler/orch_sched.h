/* orch_sched — wavemill-scheduler: owns waves, runs the reconciler pass
 * (orch_tick) when a wm.status event, a NOTIFY from the CLI or the
 * reconcile timer says so, and publishes the outbox. */
#ifndef ORCH_SCHED_H
#define ORCH_SCHED_H

#include <signal.h>
#include <stddef.h>

struct wm_config;
struct orch_sched;

/* Declares the scheduler.* keys (call before loading the config). */
int orch_sched_declare(struct wm_config *cfg, char *err, size_t errlen);

/* Connects to PostgreSQL and Kafka.  cfg is borrowed for the scheduler's life. */
struct orch_sched *orch_sched_new(const struct wm_config *cfg, char *err, size_t errlen);
void orch_sched_free(struct orch_sched *s);

/* Runs until *stop becomes non-zero.  Returns 0, or negative with err on a
 * fatal error. */
int orch_sched_run(struct orch_sched *s, volatile sig_atomic_t *stop, char *err, size_t errlen);

#endif
