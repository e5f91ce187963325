/* sched_events — status events (wm.status) the scheduler collects while it
 * changes state, sent after the transaction committed.  Events are news:
 * bounded, and dropped (with a log line) rather than blocking the
 * scheduler when the buffer is full. */
#ifndef SCHED_EVENTS_H
#define SCHED_EVENTS_H

#include <stddef.h>

struct wm_config;
struct wm_kafka_producer;
struct sched_events;

struct sched_events *sched_events_new(const struct wm_config *cfg, const char *source);
void sched_events_free(struct sched_events *ev);

/* type "server" (state = lifecycle) or "wave" (state = wave status). */
void sched_events_add(struct sched_events *ev, const char *type, const char *wave,
                     const char *server, const char *state, const char *message);
/* Forgets what was collected (the transaction rolled back). */
void sched_events_discard(struct sched_events *ev);
/* Sends and forgets what was collected; returns the number sent. */
size_t sched_events_send(struct sched_events *ev, struct wm_kafka_producer *p);

#endif
