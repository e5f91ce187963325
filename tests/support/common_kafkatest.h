/* Kafka set-up shared by the tests that use the local stack's broker
 * (test_common_kafka, test_orch_cli_watch): a topic prefix unique to the
 * run, so runs never share topics, and removal of the topics afterwards.
 * Topics are created with wm_kafka_ensure_topics() or, to pin creation
 * itself, with an admin handle from kafkatest_admin_new(). */
#ifndef COMMON_KAFKATEST_H
#define COMMON_KAFKATEST_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "config.h"

/* Writes "<stem><pid>.<time>.<random>." to prefix and sets it as cfg's
 * kafka.topic_prefix (as a --topic-prefix flag would: it wins over
 * WAVEMILL_KAFKA_TOPIC_PREFIX).  0, or wm_config_set's error with err. */
int kafkatest_set_prefix(struct wm_config *cfg, const char *stem, char *prefix, size_t cap,
                         char *err, size_t errlen);

/* An admin-capable client of cfg's brokers; fails the test if none. */
rd_kafka_t *kafkatest_admin_new(const struct wm_config *cfg);

/* Deletes the n full topic names, waiting at most wait_ms for the answer;
 * best effort (cleanup). */
void kafkatest_delete_topics(const struct wm_config *cfg, const char *const *topics, size_t n,
                             int wait_ms);

#endif
