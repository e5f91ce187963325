/* orch_events — status events (wm.status) the scheduler collects while it
 * changes state, sent after the transaction committed.  Events are news:
 * bounded, and dropped (with a log line) rather than blocking the
 * scheduler when the buffer is full. */
#ifndef ORCH_EVENTS_H
#define ORCH_EVENTS_H

#include <stddef.h>

struct wm_config;
struct wm_kafka_producer;
struct orch_events;

struct orch_events *orch_events_new(const struct wm_config *cfg, const char *source);
void orch_events_free(struct orch_events *ev);

/* type "server" (state = lifecycle) or "wave" (state = wave status). */
void orch_events_add(struct orch_events *ev, const char *type, const char *wave,
                     const char *server, const char *state, const char *message);
/* Forgets what was collected (the transaction rolled back). */
void orch_events_discard(struct orch_events *ev);
/* Sends and forgets what was collected; returns the number sent. */
size_t orch_events_send(struct orch_events *ev, struct wm_kafka_producer *p);

#endif
