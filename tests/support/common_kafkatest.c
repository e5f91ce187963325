/* Kafka test set-up; see common_kafkatest.h.  librdkafka and libwavemill
 * only: this file is linked into every test program. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common_kafkatest.h"

#define MAX_DELETE 64

int kafkatest_set_prefix(struct wm_config *cfg, const char *stem, char *prefix, size_t cap,
                         char *err, size_t errlen)
{
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    snprintf(prefix, cap, "%s%d.%lld.%04x.", stem, (int)getpid(), (long long)time(NULL),
             rand() & 0xffff);
    return wm_config_set(cfg, "kafka.topic_prefix", prefix, "test", err, errlen);
}

rd_kafka_t *kafkatest_admin_new(const struct wm_config *cfg)
{
    char why[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", wm_config_str(cfg, "kafka.brokers"), why,
                      sizeof(why));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    assert_non_null(rk);
    return rk;
}

void kafkatest_delete_topics(const struct wm_config *cfg, const char *const *topics, size_t n,
                             int wait_ms)
{
    if (n == 0)
        return;
    if (n > MAX_DELETE)
        n = MAX_DELETE;
    rd_kafka_t *rk = kafkatest_admin_new(cfg);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopic_t *dt[MAX_DELETE];
    for (size_t i = 0; i < n; i++)
        dt[i] = rd_kafka_DeleteTopic_new(topics[i]);
    rd_kafka_DeleteTopics(rk, dt, n, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, wait_ms);
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_DeleteTopic_destroy_array(dt, n);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}
