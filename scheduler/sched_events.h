/* sched_events — status events (wm.status) the scheduler collects while it
 * changes state, sent after the transaction committed.  Events are news:
 * bounded, and dropped (with a log line) rather than blocking the
 * scheduler when the buffer is full. */
#ifndef SCHED_EVENTS_H
#define SCHED_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wm_config;
struct wm_kafka_producer;
struct sched_events;

struct sched_events *sched_events_new(const struct wm_config *cfg, const char *source);
void sched_events_free(struct sched_events *ev);

/* type "server" (state = lifecycle) or "wave" (state = wave status).
 * key_id is the Kafka key: the server id for a server event, the wave id
 * for a wave event (so one server's events stay in one partition, in
 * order); simulated: the server (or every server of the wave) is sim. */
void sched_events_add(struct sched_events *ev, const char *type, int64_t key_id, const char *wave,
                     const char *server, const char *state, const char *message,
                     bool simulated);
/* Forgets what was collected (the transaction rolled back). */
void sched_events_discard(struct sched_events *ev);
/* Sends and forgets what was collected; returns the number sent. */
size_t sched_events_send(struct sched_events *ev, struct wm_kafka_producer *p);

#endif
