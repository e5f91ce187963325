/* kafka wrappers against the real broker of deploy/local ($WAVEMILL_KAFKA_BROKERS).
 *
 * Every test works on its own topic, created here with the admin API under
 * a prefix unique to this run ("wmtest.<pid>.<time>.") and deleted at the
 * end, and on its own consumer groups, so it never sees other tests'
 * messages and leaves nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "kafka.h"
#include "log.h"

#include "../support/common_kafkatest.h"

#define PARTITIONS 3
#define MAX_TOPICS 16
#define WAIT_MS 20000 /* longest wait for messages or a group join */

extern char **environ;

static struct wm_config *cfg;
static char prefix[64];
static char topics[MAX_TOPICS][128];
static int ntopics;
static int group_seq;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* admin helpers                                                        */

/* Waits for one admin result event of type want; returns it (caller destroys). */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t want)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, WAIT_MS);
    assert_non_null(ev);
    assert_int_equal(rd_kafka_event_type(ev), want);
    if (rd_kafka_event_error(ev))
        print_error("admin: %s\n", rd_kafka_event_error_string(ev));
    assert_int_equal(rd_kafka_event_error(ev), 0);
    return ev;
}

/* Creates "<prefix><logical>" with PARTITIONS partitions; an optional
 * topic config pair (name, value).  Writes the full name to out. */
static void create_topic(const char *logical, const char *cfg_name, const char *cfg_value,
                         char *out, size_t outlen)
{
    wm_kafka_topic(cfg, logical, out, outlen);
    assert_true(ntopics < MAX_TOPICS);
    snprintf(topics[ntopics++], sizeof(topics[0]), "%s", out);
    rd_kafka_t *rk = kafkatest_admin_new(cfg);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    char why[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(out, PARTITIONS, 1, why, sizeof(why));
    assert_non_null(nt);
    if (cfg_name)
        assert_int_equal(rd_kafka_NewTopic_set_config(nt, cfg_name, cfg_value), 0);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT);
    size_t n;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    assert_int_equal(n, 1);
    if (rd_kafka_topic_result_error(res[0]))
        print_error("create %s: %s\n", out, rd_kafka_topic_result_error_string(res[0]));
    assert_int_equal(rd_kafka_topic_result_error(res[0]), 0);
    rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}

static void delete_topics(void)
{
    const char *names[MAX_TOPICS];
    for (int i = 0; i < ntopics; i++)
        names[i] = topics[i];
    kafkatest_delete_topics(cfg, names, (size_t)ntopics, WAIT_MS);
}

/* ------------------------------------------------------------------ */
/* producing and consuming                                              */

static struct wm_kafka_producer *producer(void)
{
    char err[256];
    struct wm_kafka_producer *p = wm_kafka_producer_new(cfg, err, sizeof(err));
    if (!p)
        print_error("producer: %s\n", err);
    assert_non_null(p);
    return p;
}

static struct wm_kafka_consumer *consumer(const char *group, const char *topic, int from_end)
{
    char err[256];
    const char *list[] = {topic};
    struct wm_kafka_consumer *c = wm_kafka_consumer_new(cfg, group, list, 1, from_end, err,
                                                        sizeof(err));
    if (!c)
        print_error("consumer: %s\n", err);
    assert_non_null(c);
    return c;
}

static void new_group(char *buf, size_t len)
{
    snprintf(buf, len, "%sgroup.%d", prefix, ++group_seq);
}

/* Sends n messages "k<i % nkeys>" / "<key>:<seq-within-key>" with headers
 * seq (text) and bin (bytes with a NUL), then flushes. */
static void produce(const char *topic, int n, int nkeys, int base)
{
    struct wm_kafka_producer *p = producer();
    char err[256];
    for (int i = base; i < base + n; i++) {
        char key[16], value[64], seq[16];
        unsigned char bin[4] = {0xC3, 0x00, (unsigned char)i, 0xFF};
        snprintf(key, sizeof(key), "k%d", i % nkeys);
        snprintf(value, sizeof(value), "%s:%d", key, i / nkeys);
        snprintf(seq, sizeof(seq), "%d", i);
        struct wm_kafka_header h[] = {{"seq", seq, strlen(seq)}, {"bin", bin, sizeof(bin)}};
        assert_int_equal(wm_kafka_send(p, topic, key, strlen(key), value, strlen(value), h, 2,
                                       err, sizeof(err)),
                         0);
    }
    assert_int_equal(wm_kafka_flush(p, WAIT_MS), 0);
    uint64_t sent, delivered, failed;
    wm_kafka_producer_stats(p, &sent, &delivered, &failed);
    assert_int_equal(sent, n);
    assert_int_equal(delivered, n);
    assert_int_equal(failed, 0);
    wm_kafka_producer_free(p);
}

/* Polls until n messages arrived (or WAIT_MS); each is stored with done
 * (if done) or dropped.  Returns the count; seqs[] gets header seq values. */
static int consume(struct wm_kafka_consumer *c, int n, int done, int *seqs, int wait_ms)
{
    int got = 0;
    int64_t deadline = now_ms() + wait_ms;
    while (got < n && now_ms() < deadline) {
        rd_kafka_message_t *m = wm_kafka_poll(c, 200);
        if (!m)
            continue;
        size_t len;
        const char *seq = wm_kafka_header_get(m, "seq", &len);
        assert_non_null(seq);
        if (seqs && got < n)
            seqs[got] = atoi(seq);
        got++;
        if (done)
            assert_int_equal(wm_kafka_consumer_done(c, m), 0);
        else
            wm_kafka_message_free(m);
    }
    return got;
}

static int assigned_count(struct wm_kafka_consumer *c)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    assert_int_equal(rd_kafka_assignment(wm_kafka_consumer_handle(c), &parts), 0);
    int n = parts->cnt;
    rd_kafka_topic_partition_list_destroy(parts);
    return n;
}

/* Polls (expecting no messages) until c holds want partitions. */
static void wait_assigned(struct wm_kafka_consumer *c, int want)
{
    int64_t deadline = now_ms() + WAIT_MS;
    while (assigned_count(c) != want && now_ms() < deadline)
        assert_null(wm_kafka_poll(c, 100));
    assert_int_equal(assigned_count(c), want);
}

/* ------------------------------------------------------------------ */
/* tests                                                                */

static void test_topic_name_takes_prefix(void **state)
{
    (void)state;
    char buf[128], err[128];
    struct wm_config *c = wm_config_new();
    assert_string_equal(wm_kafka_topic(c, WM_TOPIC_STATUS, buf, sizeof(buf)), "wm.status");
    assert_int_equal(wm_config_set(c, "kafka.topic_prefix", "f1.", "t", err, sizeof(err)), 0);
    assert_string_equal(wm_kafka_topic(c, WM_TOPIC_DLQ, buf, sizeof(buf)), "f1.wm.dlq");
    wm_config_free(c);
}

static void test_round_trip_keys_headers_order(void **state)
{
    (void)state;
    enum { N = 60, KEYS = 6 };
    char topic[128], group[128];
    create_topic("roundtrip", NULL, NULL, topic, sizeof(topic));
    /* the prefix of this run is on the real topic name */
    assert_memory_equal(topic, prefix, strlen(prefix));
    produce(topic, N, KEYS, 0);

    new_group(group, sizeof(group));
    struct wm_kafka_consumer *c = consumer(group, topic, 0);
    int last_seq[KEYS], got = 0;
    int64_t last_off[PARTITIONS];
    for (int i = 0; i < KEYS; i++)
        last_seq[i] = -1;
    for (int i = 0; i < PARTITIONS; i++)
        last_off[i] = -1;
    int64_t deadline = now_ms() + WAIT_MS;
    while (got < N && now_ms() < deadline) {
        rd_kafka_message_t *m = wm_kafka_poll(c, 200);
        if (!m)
            continue;
        char key[16] = "", value[64] = "";
        snprintf(key, sizeof(key), "%.*s", (int)m->key_len, (const char *)m->key);
        snprintf(value, sizeof(value), "%.*s", (int)m->len, (const char *)m->payload);
        int k = atoi(key + 1), v;
        assert_true(k >= 0 && k < KEYS);
        /* per key (so per partition) in the order sent */
        assert_int_equal(sscanf(value + strlen(key) + 1, "%d", &v), 1);
        assert_int_equal(v, last_seq[k] + 1);
        last_seq[k] = v;
        assert_true(m->offset > last_off[m->partition]);
        last_off[m->partition] = m->offset;
        size_t len;
        const char *seq = wm_kafka_header_get(m, "seq", &len);
        assert_non_null(seq);
        assert_int_equal(atoi(seq) % KEYS, k);
        const unsigned char *bin = wm_kafka_header_get(m, "bin", &len);
        unsigned char want[4] = {0xC3, 0x00, (unsigned char)atoi(seq), 0xFF};
        assert_int_equal(len, 4);
        assert_memory_equal(bin, want, 4);
        assert_null(wm_kafka_header_get(m, "absent", &len));
        assert_int_equal(wm_kafka_consumer_done(c, m), 0);
        got++;
    }
    assert_int_equal(got, N);
    for (int i = 0; i < KEYS; i++)
        assert_int_equal(last_seq[i], N / KEYS - 1);
    assert_null(wm_kafka_poll(c, 300)); /* nothing more */
    wm_kafka_consumer_free(c);
}

static void test_offsets_only_after_done(void **state)
{
    (void)state;
    enum { N = 12 };
    char topic[128], group[128];
    int seqs[N + 1];
    create_topic("offsets", NULL, NULL, topic, sizeof(topic));
    produce(topic, N, 4, 0);
    new_group(group, sizeof(group));

    /* polled but never done: the next member of the group gets them again */
    struct wm_kafka_consumer *c = consumer(group, topic, 0);
    assert_int_equal(consume(c, N, 0, seqs, WAIT_MS), N);
    wm_kafka_consumer_free(c);
    c = consumer(group, topic, 0);
    assert_int_equal(consume(c, N, 1, seqs, WAIT_MS), N);
    assert_int_equal(wm_kafka_consumer_commit(c), 0);
    wm_kafka_consumer_free(c);

    /* all done and committed: a new member starts after them */
    produce(topic, 1, 4, 100);
    c = consumer(group, topic, 0);
    assert_int_equal(consume(c, N + 1, 1, seqs, 4000), 1);
    assert_int_equal(seqs[0], 100);
    wm_kafka_consumer_free(c);
}

static void test_from_end_skips_old_messages(void **state)
{
    (void)state;
    char topic[128], group[128];
    int seqs[4];
    create_topic("fromend", NULL, NULL, topic, sizeof(topic));
    produce(topic, 3, 3, 0);
    new_group(group, sizeof(group));
    struct wm_kafka_consumer *c = consumer(group, topic, 1);
    wait_assigned(c, PARTITIONS);
    /* the start offset is resolved after assignment; give it a moment */
    assert_null(wm_kafka_poll(c, 1000));
    produce(topic, 3, 3, 50);
    assert_int_equal(consume(c, 4, 1, seqs, 3000), 3);
    for (int i = 0; i < 3; i++)
        assert_true(seqs[i] >= 50);
    wm_kafka_consumer_free(c);
}

static void test_pause_stops_and_resume_restarts_delivery(void **state)
{
    (void)state;
    char topic[128], group[128];
    create_topic("pause", NULL, NULL, topic, sizeof(topic));
    produce(topic, 6, 6, 0);
    new_group(group, sizeof(group));
    struct wm_kafka_consumer *c = consumer(group, topic, 0);
    assert_int_equal(consume(c, 6, 1, NULL, WAIT_MS), 6);

    assert_int_equal(wm_kafka_consumer_pause(c), 0);
    produce(topic, 6, 6, 10);
    assert_int_equal(consume(c, 6, 1, NULL, 2500), 0);
    assert_int_equal(wm_kafka_consumer_resume(c), 0);
    assert_int_equal(consume(c, 6, 1, NULL, WAIT_MS), 6);
    wm_kafka_consumer_free(c);
}

static void test_pause_holds_for_partitions_assigned_while_paused(void **state)
{
    (void)state;
    char topic[128], group[128];
    create_topic("pause_rebalance", NULL, NULL, topic, sizeof(topic));
    new_group(group, sizeof(group));
    struct wm_kafka_consumer *a = consumer(group, topic, 0);
    wait_assigned(a, PARTITIONS);
    assert_int_equal(wm_kafka_consumer_pause(a), 0);

    /* b joins: cooperative-sticky moves some partitions to b, then b leaves
     * and they come back to a as new assignments while a is paused */
    struct wm_kafka_consumer *b = consumer(group, topic, 0);
    int64_t deadline = now_ms() + WAIT_MS;
    while ((assigned_count(b) == 0 || assigned_count(a) + assigned_count(b) != PARTITIONS) &&
           now_ms() < deadline) {
        assert_null(wm_kafka_poll(a, 50));
        assert_null(wm_kafka_poll(b, 50));
    }
    assert_true(assigned_count(b) > 0);
    assert_true(assigned_count(a) < PARTITIONS);
    wm_kafka_consumer_free(b);
    wait_assigned(a, PARTITIONS);

    produce(topic, 6, 6, 0);
    assert_int_equal(consume(a, 6, 1, NULL, 2500), 0);
    assert_int_equal(wm_kafka_consumer_resume(a), 0);
    assert_int_equal(consume(a, 6, 1, NULL, WAIT_MS), 6);
    wm_kafka_consumer_free(a);
}

static void test_flush_reports_failed_delivery(void **state)
{
    (void)state;
    char topic[128], err[256];
    /* the broker rejects messages over 1000 bytes on this topic: a
     * delivery failure librdkafka cannot retry away */
    create_topic("small", "max.message.bytes", "1000", topic, sizeof(topic));
    struct wm_kafka_producer *p = producer();
    static char big[5000];
    memset(big, 'x', sizeof(big));
    /* one at a time: in one batch the broker would reject both */
    assert_int_equal(wm_kafka_send(p, topic, "k", 1, "ok", 2, NULL, 0, err, sizeof(err)), 0);
    assert_int_equal(wm_kafka_flush(p, WAIT_MS), 0);
    assert_int_equal(wm_kafka_send(p, topic, "k", 1, big, sizeof(big), NULL, 0, err, sizeof(err)),
                     0);
    assert_int_equal(wm_kafka_flush(p, WAIT_MS), -EIO);
    uint64_t sent, delivered, failed;
    wm_kafka_producer_stats(p, &sent, &delivered, &failed);
    assert_int_equal(sent, 2);
    assert_int_equal(delivered, 1);
    assert_int_equal(failed, 1);
    /* failures are reported once: the next flush is clean */
    assert_int_equal(wm_kafka_send(p, topic, "k", 1, "ok", 2, NULL, 0, err, sizeof(err)), 0);
    assert_int_equal(wm_kafka_flush(p, WAIT_MS), 0);
    wm_kafka_producer_free(p);
}

static void test_send_rejects_oversized_message(void **state)
{
    (void)state;
    char err[256];
    struct wm_kafka_producer *p = producer();
    size_t len = 2 << 20; /* over the client's message.max.bytes (1 MB) */
    char *big = calloc(1, len);
    assert_int_equal(wm_kafka_send(p, "wmtest.any", "k", 1, big, len, NULL, 0, err, sizeof(err)),
                     -EMSGSIZE);
    assert_non_null(strstr(err, "wmtest.any"));
    free(big);
    uint64_t sent;
    wm_kafka_producer_stats(p, &sent, NULL, NULL);
    assert_int_equal(sent, 0);
    wm_kafka_producer_free(p);
}

static void test_flush_times_out_on_unknown_topic(void **state)
{
    (void)state;
    char topic[128], err[256];
    /* auto-creation is off on the local broker: the message can't leave */
    snprintf(topic, sizeof(topic), "%snever.created", prefix);
    assert_int_equal(wm_config_set(cfg, "kafka.flush_timeout", "300ms", "t", err, sizeof(err)), 0);
    struct wm_kafka_producer *p = producer();
    assert_int_equal(wm_kafka_send(p, topic, "k", 1, "v", 1, NULL, 0, err, sizeof(err)), 0);
    int64_t t0 = now_ms();
    assert_int_equal(wm_kafka_flush(p, 300), -ETIMEDOUT);
    /* bounds with room for a loaded machine, below the 10 s default that a
     * flush ignoring its timeout would take */
    assert_true(now_ms() - t0 < 8000);
    t0 = now_ms();
    wm_kafka_producer_free(p); /* bounded by kafka.flush_timeout */
    assert_true(now_ms() - t0 < 8000);
    assert_int_equal(wm_config_set(cfg, "kafka.flush_timeout", "10s", "t", err, sizeof(err)), 0);
}

static void test_send_waits_boundedly_when_queue_full(void **state)
{
    (void)state;
    char topic[128], err[256];
    /* messages to a topic that does not exist stay queued (auto-creation
     * is off), so the local queue (100000 messages by default) fills up */
    snprintf(topic, sizeof(topic), "%snever.created.full", prefix);
    assert_int_equal(wm_config_set(cfg, "kafka.flush_timeout", "100ms", "t", err, sizeof(err)), 0);
    struct wm_kafka_producer *p = producer();
    int rc = 0, sent = 0;
    int64_t t0 = 0;
    while (sent < 200000) {
        t0 = now_ms();
        rc = wm_kafka_send(p, topic, NULL, 0, "v", 1, NULL, 0, err, sizeof(err));
        if (rc != 0)
            break;
        sent++;
    }
    int64_t waited = now_ms() - t0;
    assert_int_equal(rc, -ENOBUFS);
    assert_int_equal(sent, 100000);
    assert_non_null(strstr(err, "after waiting"));
    /* the full-queue path waits (polling 50 x 100 ms), and only for a
     * bounded time (with room for a loaded machine) */
    assert_true(waited >= 3000 && waited < 30000);
    wm_kafka_producer_free(p);
    assert_int_equal(wm_config_set(cfg, "kafka.flush_timeout", "10s", "t", err, sizeof(err)), 0);
}

/* ------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    char err[256];
    cfg = wm_config_new();
    if (!cfg || wm_config_load_env(cfg, environ, err, sizeof(err)) < 0) {
        fprintf(stderr, "config: %s\n", err);
        return -1;
    }
    if (kafkatest_set_prefix(cfg, "wmtest.", prefix, sizeof(prefix), err, sizeof(err)) < 0 ||
        wm_config_set(cfg, "kafka.client_id", "wm-test-kafka", "test", err, sizeof(err)) < 0)
        return -1;
    /* shorter sessions: a closed member's partitions move on quickly */
    if (wm_config_set(cfg, "kafka.session_timeout", "6s", "test", err, sizeof(err)) < 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    delete_topics();
    wm_config_free(cfg);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_name_takes_prefix),
        cmocka_unit_test(test_round_trip_keys_headers_order),
        cmocka_unit_test(test_offsets_only_after_done),
        cmocka_unit_test(test_from_end_skips_old_messages),
        cmocka_unit_test(test_pause_stops_and_resume_restarts_delivery),
        cmocka_unit_test(test_pause_holds_for_partitions_assigned_while_paused),
        cmocka_unit_test(test_flush_reports_failed_delivery),
        cmocka_unit_test(test_send_rejects_oversized_message),
        cmocka_unit_test(test_flush_times_out_on_unknown_topic),
        cmocka_unit_test(test_send_waits_boundedly_when_queue_full),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
