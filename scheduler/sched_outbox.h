/* sched_outbox — the transactional outbox's publisher.
 *
 * Rows of task_outbox (written in the transaction that issued the task)
 * are sent to their topic, then deleted only after every message of the
 * batch got a successful delivery report.  A crash or a failed delivery in
 * between re-sends the batch later; the worker's claim on (task id,
 * attempt) drops the duplicates.  Rows whose task moved on (paused,
 * skipped, another attempt) are deleted without sending. */
#ifndef SCHED_OUTBOX_H
#define SCHED_OUTBOX_H

#include <stddef.h>

struct wm_config;
struct wm_pg;
struct wm_kafka_producer;

/* Publishes up to batch rows of the owned waves.  *sent gets the number
 * delivered.  Returns 0, or negative with err (nothing deleted then). */
int sched_outbox_publish(struct wm_pg *db, struct wm_kafka_producer *p,
                        const struct wm_config *cfg, const char *owned, int batch, long *sent,
                        char *err, size_t errlen);

#endif
