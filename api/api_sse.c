/* api_sse — GET /api/v1/stream: wm.status as server-sent events.
 *
 * Each client gets its own Kafka consumer with partitions assigned by hand
 * (no group membership, nothing committed), so clients never split the
 * events between them.  The event id is the position in every partition,
 * "0:41,1:17,2:-1,...": the offset of the last event delivered from each.
 * A browser reconnecting sends it back as Last-Event-ID (or a script as
 * ?last_event_id=) and the stream resumes exactly after it; without one
 * it starts at the end (news from now on).  Filters: ?wave=NAME,
 * ?server=NAME.  A comment line goes out every api.sse_keepalive so
 * proxies and clients see the connection alive. */
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "config.h"
#include "json.h"
#include "kafka.h"
#include "log.h"
#include "msg.h"

#define SSE_MAX_PARTS 256
#define SSE_POLL_MS 250

struct sse {
    struct api *a;
    rd_kafka_t *rk;
    char topic[256];
    int nparts;
    int64_t pos[SSE_MAX_PARTS]; /* offset of the last event sent, -1 none */
    char wave[160], server[160];
    char *pending; /* text not yet handed to libmicrohttpd */
    size_t plen, poff;
    int idle_ms;
};

static int sse_partitions(struct sse *s, char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(s->rk, s->topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(s->rk, 0, t, &md, 5000);
    rd_kafka_topic_destroy(t);
    if (e || !md || md->topic_cnt != 1 || md->topics[0].err) {
        snprintf(err, errlen, "topic %s: %s", s->topic,
                 rd_kafka_err2str(e ? e : md && md->topic_cnt ? md->topics[0].err : e));
        if (md)
            rd_kafka_metadata_destroy(md);
        return -EIO;
    }
    s->nparts = md->topics[0].partition_cnt;
    if (s->nparts > SSE_MAX_PARTS)
        s->nparts = SSE_MAX_PARTS;
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* Start positions: from "p:o,..." when given, else the current end. */
static int sse_positions(struct sse *s, const char *last_id)
{
    for (int p = 0; p < s->nparts; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_query_watermark_offsets(s->rk, s->topic, p, &lo, &hi, 5000);
        s->pos[p] = hi - 1;
    }
    if (!last_id || !*last_id)
        return 0;
    const char *c = last_id;
    while (*c) {
        char *end;
        long p = strtol(c, &end, 10);
        if (*end != ':' || p < 0 || p >= s->nparts)
            return -EINVAL;
        long long o = strtoll(end + 1, &end, 10);
        if (o < -1 || (*end && *end != ','))
            return -EINVAL;
        s->pos[p] = o;
        c = *end ? end + 1 : end;
    }
    return 0;
}

static int sse_assign(struct sse *s)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(s->nparts);
    for (int p = 0; p < s->nparts; p++)
        rd_kafka_topic_partition_list_add(l, s->topic, p)->offset = s->pos[p] + 1;
    rd_kafka_resp_err_t e = rd_kafka_assign(s->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return e ? -EIO : 0;
}

static rd_kafka_t *sse_consumer(const struct wm_config *cfg, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char group[64];
    snprintf(group, sizeof(group), "wm-api-sse-%08x", (unsigned)random());
    if (rd_kafka_conf_set(conf, "bootstrap.servers", wm_config_str(cfg, "kafka.brokers"), err,
                          errlen) ||
        rd_kafka_conf_set(conf, "group.id", group, err, errlen) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "false", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

static void sse_free(void *arg)
{
    struct sse *s = arg;
    if (s->rk) {
        rd_kafka_consumer_close(s->rk);
        rd_kafka_destroy(s->rk);
    }
    free(s->pending);
    free(s);
}

/* "id: ...\nevent: status\ndata: {...}\n\n" for one message */
static char *sse_event(struct sse *s, const struct wm_status_msg *m, int part, int64_t off,
                       int64_t key_len, const char *key)
{
    s->pos[part] = off;
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kstr(j, "event_id", m->event_id);
    wm_json_kint(j, "time", m->time_ms);
    wm_json_kstr(j, "source", m->source);
    wm_json_kstr(j, "type", m->type);
    wm_json_kstr(j, "wave", m->wave);
    wm_json_kstr(j, "server", m->server);
    if (m->task_id)
        wm_json_kint(j, "task_id", m->task_id);
    wm_json_kstr(j, "task_kind", m->task_kind);
    wm_json_kint(j, "attempt", m->attempt);
    wm_json_kstr(j, "state", m->state);
    wm_json_kint(j, "bytes_done", m->bytes_done);
    wm_json_kint(j, "bytes_total", m->bytes_total);
    wm_json_kstr(j, "message", m->message);
    wm_json_kbool(j, "simulated", m->simulated);
    wm_json_key(j, "key");
    wm_json_strn(j, key ? key : "", key ? (size_t)key_len : 0);
    wm_json_obj_end(j);
    char id[SSE_MAX_PARTS * 24] = "";
    size_t n = 0;
    for (int p = 0; p < s->nparts && n < sizeof(id) - 24; p++)
        n += (size_t)snprintf(id + n, sizeof(id) - n, "%s%d:%lld", p ? "," : "", p,
                              (long long)s->pos[p]);
    char *out = NULL;
    if (wm_json_error(j) == 0 &&
        asprintf(&out, "id: %s\nevent: status\ndata: %s\n\n", id, wm_json_text(j)) < 0)
        out = NULL;
    wm_json_free(j);
    return out;
}

static bool sse_wanted(const struct sse *s, const struct wm_status_msg *m)
{
    if (*s->wave && (!m->wave || strcmp(m->wave, s->wave) != 0))
        return false;
    if (*s->server && (!m->server || strcmp(m->server, s->server) != 0))
        return false;
    return true;
}

/* Blocks until an event passes the filters or a keep-alive is due. */
static char *sse_next(struct sse *s)
{
    for (;;) {
        if (s->a->stopping)
            return NULL;
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(s->rk, SSE_POLL_MS);
        if (!msg) {
            s->idle_ms += SSE_POLL_MS;
            if (s->idle_ms >= s->a->sse_keepalive_ms) {
                s->idle_ms = 0;
                return strdup(": keep-alive\n\n");
            }
            continue;
        }
        char *out = NULL;
        struct wm_status_msg m = {0};
        char err[256];
        if (!msg->err && msg->partition < s->nparts &&
            wm_status_msg_decode(msg->payload, msg->len, &m, err, sizeof(err)) == 0) {
            s->pos[msg->partition] = msg->offset; /* passed even when filtered out */
            if (sse_wanted(s, &m))
                out = sse_event(s, &m, msg->partition, msg->offset, (int64_t)msg->key_len,
                                msg->key);
        }
        wm_status_msg_clear(&m);
        rd_kafka_message_destroy(msg);
        if (out) {
            s->idle_ms = 0;
            return out;
        }
    }
}

static ssize_t sse_read(void *arg, char *buf, size_t max)
{
    struct sse *s = arg;
    if (s->poff == s->plen) {
        free(s->pending);
        s->pending = sse_next(s);
        s->poff = 0;
        s->plen = s->pending ? strlen(s->pending) : 0;
        if (!s->pending)
            return -1;
    }
    size_t n = s->plen - s->poff < max ? s->plen - s->poff : max;
    memcpy(buf, s->pending + s->poff, n);
    s->poff += n;
    return (ssize_t)n;
}

int api_sse(struct api *a, const struct wm_httpd_req *req, struct wm_httpd_resp *resp,
            const struct api_caller *who)
{
    (void)who;
    char err[512];
    struct sse *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->a = a;
    wm_kafka_topic(a->cfg, "wm.status", s->topic, sizeof(s->topic));
    const char *w = wm_httpd_query(req, "wave"), *sv = wm_httpd_query(req, "server");
    snprintf(s->wave, sizeof(s->wave), "%s", w ? w : "");
    snprintf(s->server, sizeof(s->server), "%s", sv ? sv : "");
    const char *last = wm_httpd_header(req, "Last-Event-ID");
    if (!last)
        last = wm_httpd_query(req, "last_event_id");
    int rc = (s->rk = sse_consumer(a->cfg, err, sizeof(err))) ? 0 : -EIO;
    if (rc == 0)
        rc = sse_partitions(s, err, sizeof(err));
    if (rc == 0 && sse_positions(s, last) < 0) {
        sse_free(s);
        return api_error(resp, 400, "Last-Event-ID", "Last-Event-ID '%.100s' is not a stream "
                         "position (partition:offset,...)", last);
    }
    if (rc == 0)
        rc = sse_assign(s);
    if (rc < 0) {
        sse_free(s);
        return api_error(resp, 503, NULL, "event stream unavailable: %s", err);
    }
    resp->status = 200;
    resp->content_type = "text/event-stream";
    wm_httpd_add_header(resp, "Cache-Control", "no-store");
    resp->stream = sse_read;
    resp->stream_arg = s;
    resp->stream_free = sse_free;
    /* the first bytes: a retry hint, so the headers go out at once */
    s->pending = strdup("retry: 2000\n\n");
    s->plen = s->pending ? strlen(s->pending) : 0;
    return 0;
}
