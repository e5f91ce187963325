/* kafka — see kafka.h.
 *
 * librdkafka's own log lines and error callbacks go to wm_log (component
 * stays the program's; fields say fac=… so they can be told apart).
 *
 * Consumer offsets: enable.auto.offset.store=false and
 * enable.auto.commit=true together mean "commit in the background, but only
 * what wm_kafka_consumer_done() stored": a message that was polled but never
 * handled keeps its partition's committed offset behind it, so a restart
 * (or another member after a rebalance) gets it again. */
#include "kafka.h"

#include "clock.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define KAFKA_LINGER_MS "5"
#define KAFKA_COMMIT_INTERVAL_MS "1000"
#define SEND_QUEUE_FULL_TRIES 50 /* x SEND_QUEUE_FULL_WAIT_MS = at most ~5 s */
#define SEND_QUEUE_FULL_WAIT_MS 100
#define PARTS_LOG_MAX 1024

struct wm_kafka_producer {
    rd_kafka_t *rk;
    int flush_timeout_ms;
    atomic_uint_fast64_t sent, delivered, failed;
    atomic_uint_fast64_t failed_since_flush;
};

struct wm_kafka_consumer {
    rd_kafka_t *rk;
    atomic_bool paused; /* the caller asked for pause; applies to new partitions too */
};

const char *wm_kafka_topic(const struct wm_config *cfg, const char *name, char *buf, size_t len)
{
    const char *prefix = wm_config_str(cfg, "kafka.topic_prefix");
    snprintf(buf, len, "%s%s", prefix ? prefix : "", name);
    return buf;
}

/* ------------------------------------------------------------------ */
/* shared setup                                                         */

/* librdkafka logs at syslog levels: 0..3 error, 4 warning, 5..6 info, 7 debug. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    enum wm_log_level l = level <= 3   ? WM_LOG_ERROR
                          : level == 4 ? WM_LOG_WARN
                          : level <= 6 ? WM_LOG_INFO
                                       : WM_LOG_DEBUG;
    wm_log(l, "kafka.rdkafka", "client=%s fac=%s msg=\"%s\"", rk ? rd_kafka_name(rk) : "-", fac,
           buf);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    /* Broker-down and transport errors are retried by librdkafka itself;
     * only fatal errors (idempotence broken) need the caller's attention. */
    bool fatal = err == RD_KAFKA_RESP_ERR__FATAL;
    char fatal_reason[512] = "";
    if (fatal)
        rd_kafka_fatal_error(rk, fatal_reason, sizeof(fatal_reason));
    wm_log(fatal ? WM_LOG_ERROR : WM_LOG_WARN, "kafka.error", "client=%s err=%s reason=\"%s\"%s%s",
           rd_kafka_name(rk), rd_kafka_err2name((rd_kafka_resp_err_t)err), reason,
           fatal ? " fatal=" : "", fatal_reason);
}

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                    size_t errlen)
{
    char why[256];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka config %s=%s: %s", name,
                 strstr(name, "password") ? "***" : value, why);
        return -EINVAL;
    }
    return 0;
}

static int conf_set_ms(rd_kafka_conf_t *conf, const char *name, int64_t ms, char *err,
                       size_t errlen)
{
    char v[32];
    snprintf(v, sizeof(v), "%lld", (long long)ms);
    return conf_set(conf, name, v, err, errlen);
}

/* Sets name from config key when the key has a value. */
static int conf_opt(rd_kafka_conf_t *conf, const char *name, const struct wm_config *cfg,
                    const char *key, char *err, size_t errlen)
{
    const char *v = wm_config_str(cfg, key);
    return v && *v ? conf_set(conf, name, v, err, errlen) : 0;
}

/* Which of the kafka.* security keys a protocol needs, checked before
 * librdkafka sees them, so a half-configured client fails at start with
 * the key to fix rather than retrying a handshake for ever. */
static int security_check(const struct wm_config *cfg, bool tls, bool sasl, char *err,
                          size_t errlen)
{
    const char *cert = wm_config_str(cfg, "kafka.ssl_cert"),
               *key = wm_config_str(cfg, "kafka.ssl_key");
    if (!tls && (*cert || *wm_config_str(cfg, "kafka.ssl_ca"))) {
        snprintf(err, errlen, "kafka.ssl_* keys are set but kafka.security_protocol is %s",
                 wm_config_str(cfg, "kafka.security_protocol"));
        return -EINVAL;
    }
    if (tls && (!*cert) != (!*key)) {
        snprintf(err, errlen, "kafka.ssl_cert and kafka.ssl_key go together (mutual TLS)");
        return -EINVAL;
    }
    if (sasl && (!*wm_config_str(cfg, "kafka.sasl_username") ||
                 !*wm_config_str(cfg, "kafka.sasl_password"))) {
        snprintf(err, errlen,
                 "kafka.security_protocol %s needs kafka.sasl_username and "
                 "kafka.sasl_password",
                 wm_config_str(cfg, "kafka.security_protocol"));
        return -EINVAL;
    }
    return 0;
}

/* librdkafka property <- config key, set when the key has a value */
static const char *const tls_props[][2] = {{"ssl.ca.location", "kafka.ssl_ca"},
                                           {"ssl.certificate.location", "kafka.ssl_cert"},
                                           {"ssl.key.location", "kafka.ssl_key"},
                                           {"ssl.key.password", "kafka.ssl_key_password"}};
static const char *const sasl_props[][2] = {{"sasl.mechanisms", "kafka.sasl_mechanism"},
                                            {"sasl.username", "kafka.sasl_username"},
                                            {"sasl.password", "kafka.sasl_password"}};

/* TLS to the broker and SASL from the kafka.* security keys. */
static int conf_security(rd_kafka_conf_t *conf, const struct wm_config *cfg, char *err,
                         size_t errlen)
{
    const char *proto = wm_config_str(cfg, "kafka.security_protocol");
    static const char *const protos[] = {"plaintext", "ssl", "sasl_plaintext", "sasl_ssl"};
    size_t i = 0;
    while (i < 4 && strcasecmp(proto, protos[i]) != 0)
        i++;
    if (i == 4) {
        snprintf(err, errlen,
                 "kafka.security_protocol '%s': use plaintext, ssl, sasl_plaintext or sasl_ssl",
                 proto);
        return -EINVAL;
    }
    bool tls = i == 1 || i == 3, sasl = i >= 2;
    int rc = security_check(cfg, tls, sasl, err, errlen);
    if (rc == 0)
        rc = conf_set(conf, "security.protocol", protos[i], err, errlen);
    for (size_t k = 0; rc == 0 && tls && k < sizeof(tls_props) / sizeof(tls_props[0]); k++)
        rc = conf_opt(conf, tls_props[k][0], cfg, tls_props[k][1], err, errlen);
    for (size_t k = 0; rc == 0 && sasl && k < sizeof(sasl_props) / sizeof(sasl_props[0]); k++)
        rc = conf_opt(conf, sasl_props[k][0], cfg, sasl_props[k][1], err, errlen);
    return rc;
}

/* Settings every client shares.  NULL with err on failure. */
static rd_kafka_conf_t *conf_common(const struct wm_config *cfg, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf_set(conf, "bootstrap.servers", wm_config_str(cfg, "kafka.brokers"), err, errlen) < 0 ||
        conf_set(conf, "client.id", wm_config_str(cfg, "kafka.client_id"), err, errlen) < 0 ||
        conf_security(conf, cfg, err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
}

/* ------------------------------------------------------------------ */
/* producer                                                             */

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct wm_kafka_producer *p = opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        atomic_fetch_add(&p->delivered, 1);
        return;
    }
    atomic_fetch_add(&p->failed, 1);
    atomic_fetch_add(&p->failed_since_flush, 1);
    wm_warn("kafka.delivery_failed", "topic=%s partition=%d err=%s reason=\"%s\"",
            rd_kafka_topic_name(m->rkt), (int)m->partition, rd_kafka_err2name(m->err),
            rd_kafka_err2str(m->err));
}

static rd_kafka_conf_t *producer_conf(const struct wm_config *cfg, struct wm_kafka_producer *p,
                                      char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = conf_common(cfg, err, errlen);
    if (!conf)
        return NULL;
    if (conf_set(conf, "enable.idempotence", "true", err, errlen) < 0 ||
        conf_set(conf, "acks", "all", err, errlen) < 0 ||
        conf_set(conf, "linger.ms", KAFKA_LINGER_MS, err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_opaque(conf, p);
    return conf;
}

struct wm_kafka_producer *wm_kafka_producer_new(const struct wm_config *cfg, char *err,
                                                size_t errlen)
{
    struct wm_kafka_producer *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "kafka producer: out of memory");
        return NULL;
    }
    p->flush_timeout_ms = (int)wm_config_int(cfg, "kafka.flush_timeout");
    rd_kafka_conf_t *conf = producer_conf(cfg, p, err, errlen);
    if (!conf) {
        free(p);
        return NULL;
    }
    char why[512];
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
    if (!p->rk) {
        rd_kafka_conf_destroy(conf); /* only owned by rd_kafka_new on success */
        snprintf(err, errlen, "kafka producer: %s", why);
        free(p);
        return NULL;
    }
    return p;
}

void wm_kafka_producer_free(struct wm_kafka_producer *p)
{
    if (!p)
        return;
    rd_kafka_flush(p->rk, p->flush_timeout_ms);
    int left = rd_kafka_outq_len(p->rk);
    if (left > 0)
        wm_error("kafka.undelivered", "messages=%d flush_timeout_ms=%d", left, p->flush_timeout_ms);
    uint64_t sent, delivered, failed;
    wm_kafka_producer_stats(p, &sent, &delivered, &failed);
    wm_log(failed || left > 0 ? WM_LOG_WARN : WM_LOG_DEBUG, "kafka.producer_closed",
           "sent=%llu delivered=%llu failed=%llu", (unsigned long long)sent,
           (unsigned long long)delivered, (unsigned long long)failed);
    rd_kafka_destroy(p->rk);
    free(p);
}

static int err_to_errno(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        return -ENOBUFS;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        return -EMSGSIZE;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
        return -ENOENT;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        return -EINVAL;
    default:
        return -EIO;
    }
}

/* NULL-or-list of headers; NULL when there are none. */
static rd_kafka_headers_t *make_headers(const struct wm_kafka_header *headers, size_t n)
{
    if (n == 0)
        return NULL;
    rd_kafka_headers_t *h = rd_kafka_headers_new(n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_header_add(h, headers[i].name, -1, headers[i].value, (ssize_t)headers[i].len);
    return h;
}

static rd_kafka_resp_err_t produce_once(struct wm_kafka_producer *p, const char *topic,
                                        const void *key, size_t keylen, const void *value,
                                        size_t len, const struct wm_kafka_header *headers,
                                        size_t nheaders)
{
    rd_kafka_headers_t *h = make_headers(headers, nheaders);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, keylen),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR && h)
        rd_kafka_headers_destroy(h); /* owned by the message only on success */
    return e;
}

int wm_kafka_send(struct wm_kafka_producer *p, const char *topic, const void *key, size_t keylen,
                  const void *value, size_t len, const struct wm_kafka_header *headers,
                  size_t nheaders, char *err, size_t errlen)
{
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int tries = 0; tries < SEND_QUEUE_FULL_TRIES; tries++) {
        e = produce_once(p, topic, key, keylen, value, len, headers, nheaders);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        /* The local queue drains as deliveries complete; serving delivery
         * reports while we wait is what frees the room. */
        rd_kafka_poll(p->rk, SEND_QUEUE_FULL_WAIT_MS);
    }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "kafka send to %s: %s%s", topic, rd_kafka_err2str(e),
                 e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? " (after waiting)" : "");
        return err_to_errno(e);
    }
    atomic_fetch_add(&p->sent, 1);
    rd_kafka_poll(p->rk, 0);
    return 0;
}

int wm_kafka_flush(struct wm_kafka_producer *p, int timeout_ms)
{
    rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, timeout_ms);
    uint64_t failed = atomic_exchange(&p->failed_since_flush, 0);
    if (failed > 0) {
        wm_warn("kafka.flush_failures", "failed=%llu", (unsigned long long)failed);
        return -EIO;
    }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR || rd_kafka_outq_len(p->rk) > 0)
        return -ETIMEDOUT;
    return 0;
}

void wm_kafka_producer_poll(struct wm_kafka_producer *p)
{
    rd_kafka_poll(p->rk, 0);
}

void wm_kafka_producer_stats(const struct wm_kafka_producer *p, uint64_t *sent, uint64_t *delivered,
                             uint64_t *failed)
{
    struct wm_kafka_producer *mp = (struct wm_kafka_producer *)p; /* atomics need non-const */
    if (sent)
        *sent = atomic_load(&mp->sent);
    if (delivered)
        *delivered = atomic_load(&mp->delivered);
    if (failed)
        *failed = atomic_load(&mp->failed);
}

/* ------------------------------------------------------------------ */
/* consumer                                                             */

/* "topic[p],topic[p]…" for log lines, truncated with "…". */
static const char *parts_str(const rd_kafka_topic_partition_list_t *parts, char *buf, size_t len)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (int i = 0; parts && i < parts->cnt && pos + 1 < len; i++) {
        int n = snprintf(buf + pos, len - pos, "%s%s[%d]", i ? "," : "", parts->elems[i].topic,
                         (int)parts->elems[i].partition);
        if (n < 0 || (size_t)n >= len - pos) {
            snprintf(buf + (len > 4 ? len - 4 : 0), len > 4 ? 4 : len, "...");
            break;
        }
        pos += (size_t)n;
    }
    return buf;
}

static void assign_parts(struct wm_kafka_consumer *c, rd_kafka_t *rk,
                         rd_kafka_topic_partition_list_t *parts, bool cooperative)
{
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (cooperative)
        error = rd_kafka_incremental_assign(rk, parts);
    else
        e = rd_kafka_assign(rk, parts);
    if (error) {
        wm_error("kafka.assign_failed", "err=\"%s\"", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
        return;
    }
    if (e)
        wm_error("kafka.assign_failed", "err=\"%s\"", rd_kafka_err2str(e));
    /* Keep the caller's pause: partitions that arrive while paused start
     * paused, or a worker with full slots would receive work it can't run. */
    if (atomic_load(&c->paused) && parts->cnt > 0)
        rd_kafka_pause_partitions(rk, parts);
}

static void unassign_parts(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, bool cooperative)
{
    if (rd_kafka_assignment_lost(rk))
        wm_warn("kafka.assignment_lost", "partitions=%d", parts->cnt);
    if (cooperative) {
        rd_kafka_error_t *error = rd_kafka_incremental_unassign(rk, parts);
        if (error) {
            wm_error("kafka.unassign_failed", "err=\"%s\"", rd_kafka_error_string(error));
            rd_kafka_error_destroy(error);
        }
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct wm_kafka_consumer *c = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    bool assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
    char list[PARTS_LOG_MAX];
    /* cooperative rebalances often hand out empty lists: not news */
    wm_log(parts->cnt > 0 ? WM_LOG_INFO : WM_LOG_DEBUG,
           assign ? "kafka.partitions_assigned" : "kafka.partitions_revoked",
           "client=%s count=%d paused=%d partitions=%s", rd_kafka_name(rk), parts->cnt,
           (int)atomic_load(&c->paused), parts_str(parts, list, sizeof(list)));
    if (assign)
        assign_parts(c, rk, parts, cooperative);
    else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        unassign_parts(rk, parts, cooperative);
    else {
        wm_error("kafka.rebalance_error", "err=\"%s\"", rd_kafka_err2str(err));
        if (cooperative)
            unassign_parts(rk, parts, cooperative);
        else
            rd_kafka_assign(rk, NULL);
    }
}

static rd_kafka_conf_t *consumer_conf(const struct wm_config *cfg, struct wm_kafka_consumer *c,
                                      const char *group, int from_end, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = conf_common(cfg, err, errlen);
    if (!conf)
        return NULL;
    int64_t session = wm_config_int(cfg, "kafka.session_timeout");
    int64_t heartbeat = session / 3 < 3000 ? session / 3 : 3000;
    if (conf_set(conf, "group.id", group, err, errlen) < 0 ||
        conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", err, errlen) < 0 ||
        conf_set(conf, "enable.auto.offset.store", "false", err, errlen) < 0 ||
        conf_set(conf, "enable.auto.commit", "true", err, errlen) < 0 ||
        conf_set(conf, "auto.commit.interval.ms", KAFKA_COMMIT_INTERVAL_MS, err, errlen) < 0 ||
        conf_set(conf, "auto.offset.reset", from_end ? "latest" : "earliest", err, errlen) < 0 ||
        conf_set_ms(conf, "session.timeout.ms", session, err, errlen) < 0 ||
        conf_set_ms(conf, "heartbeat.interval.ms", heartbeat > 0 ? heartbeat : 1, err, errlen) <
            0 ||
        conf_set_ms(conf, "max.poll.interval.ms", wm_config_int(cfg, "kafka.max_poll_interval"),
                    err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, c);
    return conf;
}

static int subscribe(rd_kafka_t *rk, const char *const *topics, size_t ntopics, char *err,
                     size_t errlen)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)ntopics);
    for (size_t i = 0; i < ntopics; i++)
        rd_kafka_topic_partition_list_add(list, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (e) {
        snprintf(err, errlen, "kafka subscribe: %s", rd_kafka_err2str(e));
        return -EINVAL;
    }
    return 0;
}

struct wm_kafka_consumer *wm_kafka_consumer_new(const struct wm_config *cfg, const char *group,
                                                const char *const *topics, size_t ntopics,
                                                int from_end, char *err, size_t errlen)
{
    struct wm_kafka_consumer *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "kafka consumer: out of memory");
        return NULL;
    }
    atomic_init(&c->paused, false);
    rd_kafka_conf_t *conf = consumer_conf(cfg, c, group, from_end, err, errlen);
    if (!conf) {
        free(c);
        return NULL;
    }
    char why[512];
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka consumer: %s", why);
        free(c);
        return NULL;
    }
    /* errors and rebalances are then served by wm_kafka_poll */
    rd_kafka_poll_set_consumer(c->rk);
    if (subscribe(c->rk, topics, ntopics, err, errlen) < 0) {
        rd_kafka_destroy(c->rk);
        free(c);
        return NULL;
    }
    return c;
}

int wm_kafka_consumer_commit(struct wm_kafka_consumer *c)
{
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, NULL, 0 /* sync */);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return 0;
    wm_warn("kafka.commit_failed", "err=\"%s\"", rd_kafka_err2str(e));
    return err_to_errno(e);
}

void wm_kafka_consumer_free(struct wm_kafka_consumer *c)
{
    if (!c)
        return;
    wm_kafka_consumer_commit(c);
    rd_kafka_resp_err_t e = rd_kafka_consumer_close(c->rk);
    if (e)
        wm_warn("kafka.close_failed", "err=\"%s\"", rd_kafka_err2str(e));
    rd_kafka_destroy(c->rk);
    free(c);
}

/* Logs and drops an error event; returns true when it was one. */
static bool consume_error(rd_kafka_message_t *m)
{
    if (!m->err)
        return false;
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
        wm_warn("kafka.consume_error", "topic=%s partition=%d err=%s reason=\"%s\"",
                m->rkt ? rd_kafka_topic_name(m->rkt) : "-", (int)m->partition,
                rd_kafka_err2name(m->err), rd_kafka_message_errstr(m));
    rd_kafka_message_destroy(m);
    return true;
}

rd_kafka_message_t *wm_kafka_poll(struct wm_kafka_consumer *c, int timeout_ms)
{
    int64_t deadline = wm_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        int64_t left = deadline - wm_mono_ms();
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, left > 0 ? (int)left : 0);
        if (m && !consume_error(m))
            return m;
        if (!m && left <= 0)
            return NULL;
        if (wm_mono_ms() >= deadline)
            return NULL;
    }
}

int wm_kafka_consumer_done(struct wm_kafka_consumer *c, rd_kafka_message_t *msg)
{
    if (!msg)
        return -EINVAL;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, rd_kafka_topic_name(msg->rkt), msg->partition)->offset =
        msg->offset + 1;
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(c->rk, list);
    if (!e && list->elems[0].err)
        e = list->elems[0].err;
    int rc = 0;
    if (e) {
        /* typically the partition was revoked meanwhile: its new owner will
         * see the message again, which handlers tolerate (idempotent) */
        wm_warn("kafka.offset_store_failed", "topic=%s partition=%d offset=%lld err=\"%s\"",
                rd_kafka_topic_name(msg->rkt), (int)msg->partition, (long long)msg->offset,
                rd_kafka_err2str(e));
        rc = e == RD_KAFKA_RESP_ERR__STATE ? -ESTALE : err_to_errno(e);
    }
    rd_kafka_topic_partition_list_destroy(list);
    rd_kafka_message_destroy(msg);
    return rc;
}

void wm_kafka_message_free(rd_kafka_message_t *msg)
{
    if (msg)
        rd_kafka_message_destroy(msg);
}

static int pause_resume(struct wm_kafka_consumer *c, bool pause)
{
    atomic_store(&c->paused, pause);
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t e = rd_kafka_assignment(c->rk, &parts);
    if (!e && parts->cnt > 0)
        e = pause ? rd_kafka_pause_partitions(c->rk, parts)
                  : rd_kafka_resume_partitions(c->rk, parts);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (e) {
        wm_warn(pause ? "kafka.pause_failed" : "kafka.resume_failed", "err=\"%s\"",
                rd_kafka_err2str(e));
        return err_to_errno(e);
    }
    return 0;
}

int wm_kafka_consumer_pause(struct wm_kafka_consumer *c)
{
    return pause_resume(c, true);
}

int wm_kafka_consumer_resume(struct wm_kafka_consumer *c)
{
    return pause_resume(c, false);
}

rd_kafka_t *wm_kafka_consumer_handle(struct wm_kafka_consumer *c)
{
    return c->rk;
}

const void *wm_kafka_header_get(const rd_kafka_message_t *msg, const char *name, size_t *len)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;
    size_t n = 0;
    if (rd_kafka_message_headers(msg, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    if (rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    if (len)
        *len = n;
    return v;
}

/* ------------------------------------------------------------------ */
/* admin                                                                */

/* Reads the CreateTopics result: counts new topics, accepts "already exists". */
static int topics_result(rd_kafka_event_t *ev, int *created, char *err, size_t errlen)
{
    if (!ev)
        return snprintf(err, errlen, "no answer from the broker in time"), -ETIMEDOUT;
    if (rd_kafka_event_error(ev))
        return snprintf(err, errlen, "%s", rd_kafka_event_error_string(ev)), -EIO;
    size_t n = 0;
    const rd_kafka_topic_result_t **res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            (*created)++;
        } else if (e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            const char *why = rd_kafka_topic_result_error_string(res[i]);
            snprintf(err, errlen, "topic %s: %s", rd_kafka_topic_result_name(res[i]),
                     why ? why : rd_kafka_err2str(e));
            return err_to_errno(e) ? err_to_errno(e) : -EIO;
        }
    }
    return 0;
}

/* Reads a DescribeConsumerGroups result for one group into out. */
static int group_result(rd_kafka_event_t *ev, struct wm_kafka_group *out, char *err,
                        size_t errlen)
{
    if (!ev)
        return snprintf(err, errlen, "no answer from the broker in time"), -ETIMEDOUT;
    if (rd_kafka_event_error(ev))
        return snprintf(err, errlen, "%s", rd_kafka_event_error_string(ev)), -EIO;
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t **g = rd_kafka_DescribeConsumerGroups_result_groups(
        rd_kafka_event_DescribeConsumerGroups_result(ev), &n);
    if (n != 1)
        return snprintf(err, errlen, "%zu groups described, 1 expected", n), -EIO;
    const rd_kafka_error_t *e = rd_kafka_ConsumerGroupDescription_error(g[0]);
    if (e)
        return snprintf(err, errlen, "%s", rd_kafka_error_string(e)), -EIO;
    snprintf(out->state, sizeof(out->state), "%s",
             rd_kafka_consumer_group_state_name(rd_kafka_ConsumerGroupDescription_state(g[0])));
    out->members = (int)rd_kafka_ConsumerGroupDescription_member_count(g[0]);
    out->partitions = 0;
    for (int i = 0; i < out->members; i++) {
        const rd_kafka_MemberAssignment_t *a = rd_kafka_MemberDescription_assignment(
            rd_kafka_ConsumerGroupDescription_member(g[0], (size_t)i));
        const rd_kafka_topic_partition_list_t *l = a ? rd_kafka_MemberAssignment_partitions(a) : NULL;
        out->partitions += l ? l->cnt : 0;
    }
    return 0;
}

int wm_kafka_describe_group(const struct wm_config *cfg, const char *group, int timeout_ms,
                            struct wm_kafka_group *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    char rkerr[256];
    rd_kafka_t *rk = wm_kafka_admin_new(cfg, err, errlen);
    if (!rk)
        return -EINVAL;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms, rkerr, sizeof(rkerr));
    const char *groups[] = {group};
    rd_kafka_DescribeConsumerGroups(rk, groups, 1, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    int rc = group_result(ev, out, err, errlen);
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

rd_kafka_t *wm_kafka_admin_new(const struct wm_config *cfg, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = conf_common(cfg, err, errlen);
    if (!conf)
        return NULL;
    char rkerr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof(rkerr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "kafka client: %s", rkerr);
    }
    return rk;
}

int wm_kafka_ensure_topics(const struct wm_config *cfg, const char *const *topics, size_t n,
                           int partitions, int timeout_ms, int *created, char *err, size_t errlen)
{
    int made = 0;
    char rkerr[256];
    rd_kafka_t *rk = wm_kafka_admin_new(cfg, err, errlen);
    if (!rk)
        return -EINVAL;
    rd_kafka_NewTopic_t **nts = calloc(n ? n : 1, sizeof(*nts));
    int rc = nts ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        nts[i] = rd_kafka_NewTopic_new(topics[i], partitions, -1, rkerr, sizeof(rkerr));
        if (!nts[i])
            rc = (snprintf(err, errlen, "topic %s: %s", topics[i], rkerr), -EINVAL);
    }
    if (rc == 0) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *opt =
            rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms, rkerr, sizeof(rkerr));
        rd_kafka_CreateTopics(rk, nts, n, opt, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
        rc = topics_result(ev, &made, err, errlen);
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(opt);
        rd_kafka_queue_destroy(q);
    }
    for (size_t i = 0; nts && i < n; i++)
        if (nts[i])
            rd_kafka_NewTopic_destroy(nts[i]);
    free(nts);
    rd_kafka_destroy(rk);
    if (created)
        *created = made;
    return rc;
}
