/* kafka — librdkafka wrappers with wavemill's delivery rules.
 *
 * Producer: enable.idempotence=true, acks=all; every send is tracked and
 * its delivery report checked; wm_kafka_producer_free() flushes (bounded)
 * and reports undelivered messages.
 * Consumer: a consumer group with partition.assignment.strategy =
 * cooperative-sticky, enable.auto.offset.store=false: an offset is stored
 * only when the caller says the message was handled (wm_kafka_consumer_done),
 * so a crash before that re-delivers the message.
 *
 * Topic names are "<kafka.topic_prefix><name>", e.g. prefix "" + "wm.status". */
#ifndef WM_KAFKA_H
#define WM_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

struct wm_config;

/* logical topic names (docs/architecture.md "Topics") */
#define WM_TOPIC_TASKS_CONTROL "wm.tasks.control"
#define WM_TOPIC_TASKS_REPLICATION "wm.tasks.replication"
#define WM_TOPIC_STATUS "wm.status"
#define WM_TOPIC_DLQ "wm.dlq"

/* Full topic name for a logical name, into buf.  Returns buf. */
const char *wm_kafka_topic(const struct wm_config *cfg, const char *name, char *buf, size_t len);

struct wm_kafka_header {
    const char *name;
    const void *value;
    size_t len;
};

/* --- producer --- */
struct wm_kafka_producer;

struct wm_kafka_producer *wm_kafka_producer_new(const struct wm_config *cfg, char *err,
                                                size_t errlen);
/* Flushes for at most kafka.flush_timeout; logs what stayed undelivered. */
void wm_kafka_producer_free(struct wm_kafka_producer *p);

/* Queues one message (copied).  topic is the full name.  Returns 0 or a
 * negative errno-style code with err (queue full after waiting, unknown topic…). */
int wm_kafka_send(struct wm_kafka_producer *p, const char *topic, const void *key, size_t keylen,
                  const void *value, size_t len, const struct wm_kafka_header *headers,
                  size_t nheaders, char *err, size_t errlen);

/* Waits until every queued message is delivered or timeout_ms passes.
 * Returns 0 when all were delivered, -EIO if any delivery failed since the
 * last call (the count is logged), -ETIMEDOUT otherwise. */
int wm_kafka_flush(struct wm_kafka_producer *p, int timeout_ms);

/* Serves delivery reports without blocking; call from the main loop. */
void wm_kafka_producer_poll(struct wm_kafka_producer *p);

/* Messages sent, delivered and failed so far. */
void wm_kafka_producer_stats(const struct wm_kafka_producer *p, uint64_t *sent,
                             uint64_t *delivered, uint64_t *failed);

/* --- consumer --- */
struct wm_kafka_consumer;

/* group: consumer group id; topics: full names.  from_end: a new group
 * starts at the end of each partition (auto.offset.reset=latest) instead of
 * the beginning. */
struct wm_kafka_consumer *wm_kafka_consumer_new(const struct wm_config *cfg, const char *group,
                                                const char *const *topics, size_t ntopics,
                                                int from_end, char *err, size_t errlen);
/* Commits stored offsets and leaves the group. */
void wm_kafka_consumer_free(struct wm_kafka_consumer *c);

/* Next message or NULL after timeout_ms (rebalance and errors are handled
 * and logged inside).  The message is owned by the caller: pass it to
 * wm_kafka_consumer_done() after handling it, or wm_kafka_message_free()
 * to drop it without storing its offset. */
rd_kafka_message_t *wm_kafka_poll(struct wm_kafka_consumer *c, int timeout_ms);

/* Stores msg's offset (+1) for the next commit, then frees msg. */
int wm_kafka_consumer_done(struct wm_kafka_consumer *c, rd_kafka_message_t *msg);
void wm_kafka_message_free(rd_kafka_message_t *msg);

/* Pauses / resumes fetching on every assigned partition (worker slots full). */
int wm_kafka_consumer_pause(struct wm_kafka_consumer *c);
int wm_kafka_consumer_resume(struct wm_kafka_consumer *c);

/* Commits stored offsets now (synchronously). */
int wm_kafka_consumer_commit(struct wm_kafka_consumer *c);

/* The underlying handle, for what the wrapper does not cover. */
rd_kafka_t *wm_kafka_consumer_handle(struct wm_kafka_consumer *c);

/* --- admin --- */

/* A client handle for admin requests (CreateTopics, CreateAcls) with the
 * same broker and security settings as every other client; NULL with err.
 * The caller rd_kafka_destroy()s it. */
rd_kafka_t *wm_kafka_admin_new(const struct wm_config *cfg, char *err, size_t errlen);

/* What the brokers say of a consumer group: its state ("Stable",
 * "PreparingRebalance", "Empty", "Dead", ...), its members and how many
 * partitions are assigned to them in all. */
struct wm_kafka_group {
    char state[32];
    int members;
    int partitions;
};

/* Describes consumer group `group` (a full name) from the brokers: a signal
 * that does not depend on any process's log.  0, or negative with err. */
int wm_kafka_describe_group(const struct wm_config *cfg, const char *group, int timeout_ms,
                            struct wm_kafka_group *out, char *err, size_t errlen);

/* Creates each of the full topic names that does not exist yet, with
 * partitions partitions (replication factor 1 is the broker's default).
 * Existing topics are fine and left as they are.  Waits at most timeout_ms.
 * 0, or negative with err naming the first topic that failed and why.
 * *created (if non-NULL) gets how many were new. */
int wm_kafka_ensure_topics(const struct wm_config *cfg, const char *const *topics, size_t n,
                           int partitions, int timeout_ms, int *created, char *err,
                           size_t errlen);

/* Value of header name, or NULL. */
const void *wm_kafka_header_get(const rd_kafka_message_t *msg, const char *name, size_t *len);

#endif
