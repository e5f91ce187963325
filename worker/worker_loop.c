/* worker_loop — the worker's main thread: poll, decode, claim, dispatch,
 * pause/resume, dead-letter, shutdown (see worker.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "clock.h"
#include "driver.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "pg.h"
#include "pgarr.h"
#include "pgprep.h"
#include "worker_int.h"
#include "worker_pool.h"
#include "worker_report.h"

#define MS(x) ((int64_t)(x) * 1000)
#define POLL_MS 100
#define CLAIM_BATCH_MAX 256

static const struct wm_config_key worker_keys[] = {
    {"worker.id", WM_CFG_STRING, "", 0, 0, false,
     "instance name (default host-pid): lease owner and worker:<id> in events"},
    {"worker.slots", WM_CFG_INT, "8", 1, 1024, false, "tasks run at once (threads)"},
    {"worker.group", WM_CFG_STRING, "wavemill-workers", 0, 0, false,
     "consumer group shared by all workers"},
    {"worker.lease", WM_CFG_DURATION, "30s", 100, MS(86400), false,
     "a claimed task's lease; the scheduler re-issues it after expiry"},
    {"worker.heartbeat", WM_CFG_DURATION, "0", 0, MS(3600), false,
     "lease renewal period (0: a third of worker.lease)"},
    {"worker.buffer", WM_CFG_INT, "0", 0, 1000000, false,
     "messages held unclaimed before fetching pauses (0: 64 per slot, at least 256)"},
    {"worker.shutdown_grace", WM_CFG_DURATION, "20s", 0, MS(3600), false,
     "on SIGTERM, how long running tasks may finish before they are released"},
};

int worker_declare(struct wm_config *cfg, char *err, size_t errlen)
{
    int rc = wm_config_declare(cfg, worker_keys, sizeof(worker_keys) / sizeof(worker_keys[0]),
                               err, errlen);
    return rc < 0 ? rc : driver_declare(cfg, err, errlen);
}

static void worker_settings(struct worker *w)
{
    const struct wm_config *c = w->cfg;
    const char *id = wm_config_str(c, "worker.id");
    char host[64] = "host";
    gethostname(host, sizeof(host) - 1);
    if (id && *id)
        snprintf(w->id, sizeof(w->id), "%s", id);
    else
        snprintf(w->id, sizeof(w->id), "%s-%d", host, (int)getpid());
    snprintf(w->actor, sizeof(w->actor), "worker:%s", w->id);
    snprintf(w->conninfo, sizeof(w->conninfo), "%s", wm_config_str(c, "pg.conninfo"));
    w->slots = (int)wm_config_int(c, "worker.slots");
    w->lease_ms = wm_config_int(c, "worker.lease");
    w->heartbeat_ms = wm_config_int(c, "worker.heartbeat");
    if (w->heartbeat_ms <= 0)
        w->heartbeat_ms = w->lease_ms / 3 > 0 ? w->lease_ms / 3 : 1;
    w->grace_ms = wm_config_int(c, "worker.shutdown_grace");
    wm_kafka_topic(c, WM_TOPIC_STATUS, w->topic_status, sizeof(w->topic_status));
    wm_kafka_topic(c, WM_TOPIC_DLQ, w->topic_dlq, sizeof(w->topic_dlq));
}

static struct wm_kafka_consumer *worker_consumer(struct worker *w, char *err, size_t errlen)
{
    char ctl[256], rep[256], group[256];
    wm_kafka_topic(w->cfg, WM_TOPIC_TASKS_CONTROL, ctl, sizeof(ctl));
    wm_kafka_topic(w->cfg, WM_TOPIC_TASKS_REPLICATION, rep, sizeof(rep));
    snprintf(group, sizeof(group), "%s%s", wm_config_str(w->cfg, "kafka.topic_prefix"),
             wm_config_str(w->cfg, "worker.group"));
    const char *topics[] = {ctl, rep};
    return wm_kafka_consumer_new(w->cfg, group, topics, 2, 0, err, errlen);
}

struct worker *worker_new(const struct wm_config *cfg, char *err, size_t errlen)
{
    struct worker *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->cfg = cfg;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_mutex_init(&w->rmu, NULL);
    pthread_cond_init(&w->rcv, NULL);
    worker_settings(w);
    if (sim_configure(cfg, err, errlen) < 0 || !(w->db = wm_pg_new(cfg, err, errlen)) ||
        !(w->prod = wm_kafka_producer_new(cfg, err, errlen)) ||
        !(w->cons = worker_consumer(w, err, errlen))) {
        worker_free(w);
        return NULL;
    }
    w->cq = rd_kafka_queue_get_consumer(wm_kafka_consumer_handle(w->cons));
    int64_t buffer = wm_config_int(cfg, "worker.buffer");
    if (buffer <= 0)
        buffer = w->slots * 64 > 256 ? w->slots * 64 : 256;
    w->buf_high = (size_t)buffer;
    w->buf_low = w->buf_high / 4;
    return w;
}

void worker_free(struct worker *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->blen; i++)
        wm_kafka_message_free(w->buf[i]);
    free(w->buf);
    if (w->cq)
        rd_kafka_queue_destroy(w->cq);
    if (w->cons)
        wm_kafka_consumer_free(w->cons);
    if (w->prod)
        wm_kafka_producer_free(w->prod);
    wm_pg_free(w->db);
    wm_pg_free(w->rdb);
    free(w->queue);
    free(w->active);
    free(w->threads);
    free(w->done);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->rmu);
    pthread_cond_destroy(&w->rcv);
    free(w);
}

void worker_get_stats(struct worker *w, struct worker_stats *st)
{
    st->claimed = atomic_load(&w->st.claimed);
    st->dropped = atomic_load(&w->st.dropped);
    st->succeeded = atomic_load(&w->st.succeeded);
    st->failed = atomic_load(&w->st.failed);
    st->released = atomic_load(&w->st.released);
    st->refused = atomic_load(&w->st.refused);
    st->dlq = atomic_load(&w->st.dlq);
}

/* The worker's counters at scrape time (mirrors of w->st) and its busy slots. */
static void worker_collect(struct wm_metrics *m, void *arg)
{
    struct worker *w = arg;
    struct worker_stats st;
    worker_get_stats(w, &st);
    const struct {
        const char *what;
        uint64_t v;
    } c[] = {{"claimed", st.claimed},   {"dropped", st.dropped},   {"succeeded", st.succeeded},
             {"failed", st.failed},     {"released", st.released}, {"refused", st.refused},
             {"dead_lettered", st.dlq}};
    struct wm_metric *f = wm_metrics_counter(
        m, "wm_worker_tasks_total",
        "Task messages claimed, dropped (claim lost), finished (succeeded/failed), released at"
        " shutdown, refused (completion refused), dead-lettered",
        "what");
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
        wm_metric_set(f, (double)c[i].v, (const char *[]){c[i].what});
    wm_metric_set(wm_metrics_gauge(m, "wm_worker_slots_busy", "Tasks running now", NULL),
                  atomic_load(&w->busy), NULL);
    wm_metric_set(wm_metrics_gauge(m, "wm_worker_slots", "Task slots", NULL), w->slots, NULL);
}

int worker_set_metrics(struct worker *w, struct wm_metrics *m)
{
    return wm_metrics_on_scrape(m, worker_collect, w);
}

/* An undecodable message: to wm.dlq with the reason, then its offset is
 * stored like any handled message's. */
static void worker_dead_letter(struct worker *w, rd_kafka_message_t *m, const char *why)
{
    char part[16], off[24], err[256];
    const char *topic = rd_kafka_topic_name(m->rkt);
    snprintf(part, sizeof(part), "%d", (int)m->partition);
    snprintf(off, sizeof(off), "%lld", (long long)m->offset);
    struct wm_kafka_header h[] = {
        {"wm.error", why, strlen(why)},
        {"wm.source_topic", topic, strlen(topic)},
        {"wm.source_partition", part, strlen(part)},
        {"wm.source_offset", off, strlen(off)},
        {"wm.worker", w->id, strlen(w->id)},
    };
    int rc = wm_kafka_send(w->prod, w->topic_dlq, m->key, m->key_len, m->payload, m->len, h,
                           sizeof(h) / sizeof(h[0]), err, sizeof(err));
    if (rc == 0)
        rc = wm_kafka_flush(w->prod, 10000);
    wm_warn("worker.dead_letter", "topic=%s partition=%s offset=%s reason=\"%s\" sent=%s", topic,
            part, off, why, rc == 0 ? "yes" : "no");
    atomic_fetch_add(&w->st.dlq, 1);
}

/* Rows are locked in id order (as every multi-row update of tasks does), so
 * concurrent batches never deadlock.  published_at comes from the message:
 * when the scheduler sent it.  A row is claimed only if it is the one the
 * message names (kind, server, wave): a message that disagrees with its row
 * claims nothing (worker_dispatch dead-letters it). */
static const char SQL_CLAIM[] =
    "WITH m AS (SELECT DISTINCT ON (id, att, kind, srv, wave) * FROM unnest($1::bigint[],"
    "   $2::int[], $6::bigint[], $7::text[], $8::bigint[], $9::bigint[])"
    "   AS m(id, att, pub, kind, srv, wave) ORDER BY id, att, kind, srv, wave),"
    " l AS (SELECT t.id, m.pub FROM tasks t JOIN m ON t.id = m.id AND t.attempt = m.att"
    "   AND t.kind = m.kind AND t.server_id = m.srv AND t.wave_id = m.wave"
    "   WHERE t.state = 'QUEUED' ORDER BY t.id FOR UPDATE OF t),"
    " c AS (UPDATE tasks t SET state = 'RUNNING', lease_owner = $3,"
    "   lease_expires = now() + $4::bigint * interval '1 ms', claimed_at = now(),"
    "   published_at = to_timestamp(l.pub / 1000.0), updated_at = now()"
    "   FROM l WHERE t.id = l.id AND t.state = 'QUEUED' AND t.id = ANY (ARRAY(SELECT id FROM l))"
    "   RETURNING t.id, t.attempt, t.checkpoint::text),"
    " e AS (INSERT INTO task_events (task_id, attempt, state, actor)"
    "   SELECT id, attempt, 'RUNNING', $5 FROM c)"
    " SELECT id, attempt, checkpoint FROM c";

/* Claims every decoded task of the batch with one statement.  Returns the
 * result (claimed rows) or NULL after logging. */
static PGresult *worker_claim(struct worker *w, struct task_ctx **t, size_t n)
{
    struct wm_pgarr ia = {0}, aa = {0}, pa = {0}, ka = {0}, sa = {0}, wa = {0};
    char lease[24], err[512];
    for (size_t i = 0; i < n; i++) {
        if (!t[i])
            continue;
        wm_pgarr_int(&ia, t[i]->msg.task_id, false);
        wm_pgarr_int(&aa, t[i]->msg.attempt, false);
        wm_pgarr_int(&pa, t[i]->msg.published_ms, false);
        wm_pgarr_text(&ka, t[i]->msg.kind ? t[i]->msg.kind : "");
        wm_pgarr_int(&sa, t[i]->msg.server_id, false);
        wm_pgarr_int(&wa, t[i]->msg.wave_id, false);
    }
    const char *ids = wm_pgarr_end(&ia), *atts = wm_pgarr_end(&aa), *pubs = wm_pgarr_end(&pa);
    const char *kinds = wm_pgarr_end(&ka), *srvs = wm_pgarr_end(&sa), *waves = wm_pgarr_end(&wa);
    PGresult *r = NULL;
    if (!ids || !atts || !pubs || !kinds || !srvs || !waves) {
        wm_warn("worker.claim_failed", "err=\"out of memory\"");
        goto out;
    }
    snprintf(lease, sizeof(lease), "%lld", (long long)w->lease_ms);
    const char *p[] = {ids, atts, w->id, lease, w->actor, pubs, kinds, srvs, waves};
    for (int attempt = 0; attempt < 3 && !r; attempt++) {
        static const struct pgprep claim = {"wm_worker_claim", SQL_CLAIM, 9};
        r = pgprep_query(w->db, &claim, p, err, sizeof(err));
        if (!r) {
            wm_warn("worker.claim_failed", "attempt=%d err=\"%s\"", attempt + 1, err);
            usleep(300000);
        }
    }
out:
    wm_pgarr_free(&ia);
    wm_pgarr_free(&aa);
    wm_pgarr_free(&pa);
    wm_pgarr_free(&ka);
    wm_pgarr_free(&sa);
    wm_pgarr_free(&wa);
    return r;
}

/* The claim failed (database unreachable): consume these messages again
 * later instead of losing them — seek each partition back. */
static void worker_rewind(struct worker *w, rd_kafka_message_t **m, size_t n)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_topic_partition_t *p =
            rd_kafka_topic_partition_list_find(l, rd_kafka_topic_name(m[i]->rkt), m[i]->partition);
        if (!p)
            rd_kafka_topic_partition_list_add(l, rd_kafka_topic_name(m[i]->rkt), m[i]->partition)
                ->offset = m[i]->offset;
        else if (m[i]->offset < p->offset)
            p->offset = m[i]->offset;
    }
    rd_kafka_error_t *e = rd_kafka_seek_partitions(wm_kafka_consumer_handle(w->cons), l, 5000);
    if (e) {
        wm_warn("worker.rewind_failed", "err=\"%s\"", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(l);
    for (size_t i = 0; i < n; i++)
        wm_kafka_message_free(m[i]);
}

static struct task_ctx *worker_decode(struct worker *w, rd_kafka_message_t *m)
{
    char err[256];
    struct task_ctx *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    if (wm_task_msg_decode(m->payload, m->len, &t->msg, err, sizeof(err)) < 0) {
        free(t);
        worker_dead_letter(w, m, err);
        return NULL;
    }
    t->cfg = w->cfg;
    t->worker_id = w->id;
    t->conninfo = w->conninfo;
    return t;
}

static const char SQL_ROWS[] =
    "SELECT id, kind, server_id, wave_id FROM tasks WHERE id = ANY($1::bigint[])";

/* Why the row of an unclaimed message disagrees with the message (into
 * why), or "" when it agrees or does not exist (a stale duplicate). */
static void row_disagrees(const PGresult *rows, const struct task_ctx *t, char *why, size_t cap)
{
    why[0] = '\0';
    for (int k = 0; rows && k < PQntuples(rows); k++) {
        if (strtoll(PQgetvalue(rows, k, 0), NULL, 10) != t->msg.task_id)
            continue;
        const char *kind = PQgetvalue(rows, k, 1);
        int64_t srv = strtoll(PQgetvalue(rows, k, 2), NULL, 10);
        int64_t wave = strtoll(PQgetvalue(rows, k, 3), NULL, 10);
        if (strcmp(kind, t->msg.kind ? t->msg.kind : "") != 0 || srv != t->msg.server_id ||
            wave != t->msg.wave_id)
            snprintf(why, cap,
                     "task %lld: the message says kind %.64s server %lld wave %lld, the row says"
                     " kind %.64s server %lld wave %lld; not run",
                     (long long)t->msg.task_id, t->msg.kind ? t->msg.kind : "",
                     (long long)t->msg.server_id, (long long)t->msg.wave_id, kind, (long long)srv,
                     (long long)wave);
        return;
    }
}

/* The rows of the messages that claimed nothing: a message that disagrees
 * with its row is forged or from elsewhere and goes to wm.dlq with the
 * reason; the others are duplicates or stale and are dropped. */
static void worker_unclaimed(struct worker *w, struct task_ctx **t, rd_kafka_message_t **m,
                             size_t n)
{
    struct wm_pgarr ia = {0};
    char err[256], why[512];
    for (size_t i = 0; i < n; i++)
        if (t[i])
            wm_pgarr_int(&ia, t[i]->msg.task_id, false);
    const char *ids = wm_pgarr_end(&ia);
    const char *p[] = {ids};
    PGresult *rows = ids ? wm_pg_query(w->db, SQL_ROWS, 1, p, err, sizeof(err)) : NULL;
    if (!rows)
        wm_warn("worker.unclaimed_check_failed", "err=\"%s\"", ids ? err : "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!t[i])
            continue;
        row_disagrees(rows, t[i], why, sizeof(why));
        if (why[0]) {
            worker_dead_letter(w, m[i], why);
        } else {
            atomic_fetch_add(&w->st.dropped, 1);
            wm_info("task.dropped", "task=%lld attempt=%d reason=\"not QUEUED at this attempt\"",
                    (long long)t[i]->msg.task_id, (int)t[i]->msg.attempt);
        }
        task_ctx_free(t[i]);
        t[i] = NULL;
    }
    PQclear(rows);
    wm_pgarr_free(&ia);
}

/* Hands the claimed tasks to slots; the rest to worker_unclaimed. */
static void worker_dispatch(struct worker *w, struct task_ctx **t, rd_kafka_message_t **m,
                            size_t n, PGresult *r)
{
    for (int k = 0; k < PQntuples(r); k++) {
        int64_t id = strtoll(PQgetvalue(r, k, 0), NULL, 10);
        int32_t att = (int32_t)strtol(PQgetvalue(r, k, 1), NULL, 10);
        for (size_t i = 0; i < n; i++) {
            if (!t[i] || t[i]->msg.task_id != id || t[i]->msg.attempt != att)
                continue;
            t[i]->checkpoint = strdup(PQgetvalue(r, k, 2));
            atomic_fetch_add(&w->st.claimed, 1);
            wm_debug("task.claimed", "task=%lld attempt=%d kind=%s", (long long)id, (int)att,
                     t[i]->msg.kind);
            pool_submit(w, t[i]); /* RUNNING is published once its rows are loaded */
            t[i] = NULL;
            break;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (t[i]) {
            worker_unclaimed(w, t, m, n);
            break;
        }
}

static void worker_handle_batch(struct worker *w, rd_kafka_message_t **m, size_t n)
{
    struct task_ctx *t[CLAIM_BATCH_MAX];
    size_t ntasks = 0;
    for (size_t i = 0; i < n; i++)
        if ((t[i] = worker_decode(w, m[i])) != NULL)
            ntasks++;
    if (ntasks > 0) {
        PGresult *r = worker_claim(w, t, n);
        if (!r) {
            for (size_t i = 0; i < n; i++)
                task_ctx_free(t[i]);
            worker_rewind(w, m, n);
            return;
        }
        worker_dispatch(w, t, m, n, r);
        PQclear(r);
    }
    for (size_t i = 0; i < n; i++) /* the tasks are safe in PostgreSQL now */
        wm_kafka_consumer_done(w->cons, m[i]);
}

static void worker_log_stats(struct worker *w)
{
    struct worker_stats s;
    worker_get_stats(w, &s);
    wm_info("worker.stats",
            "busy=%d claimed=%llu dropped=%llu succeeded=%llu failed=%llu released=%llu"
            " refused=%llu dlq=%llu",
            atomic_load(&w->busy), (unsigned long long)s.claimed, (unsigned long long)s.dropped,
            (unsigned long long)s.succeeded, (unsigned long long)s.failed,
            (unsigned long long)s.released, (unsigned long long)s.refused,
            (unsigned long long)s.dlq);
}

/* Fetching pauses while the backlog is above buf_high and resumes below
 * buf_low; the loop keeps polling either way, so the group never sees it
 * stall (max.poll.interval.ms).  The watermarks keep pause/resume rare:
 * a resumed partition takes a while to deliver again. */
static void worker_flow(struct worker *w, bool *paused)
{
    if (w->blen >= w->buf_high && !*paused) {
        wm_kafka_consumer_pause(w->cons);
        *paused = true;
    } else if (w->blen <= w->buf_low && *paused) {
        wm_kafka_consumer_resume(w->cons);
        *paused = false;
    }
}

static int worker_buf_push(struct worker *w, rd_kafka_message_t *m)
{
    if (w->blen == w->bcap) {
        size_t cap = w->bcap ? w->bcap * 2 : 256;
        rd_kafka_message_t **b = realloc(w->buf, cap * sizeof(*b));
        if (!b) {
            wm_kafka_message_free(m); /* not stored: comes back after a restart */
            return -ENOMEM;
        }
        w->buf = b;
        w->bcap = cap;
    }
    w->buf[w->blen++] = m;
    return 0;
}

/* One poll of the consumer queue (rebalances are served inside). */
static rd_kafka_message_t *worker_poll(struct worker *w, int timeout_ms)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(wm_kafka_consumer_handle(w->cons), timeout_ms);
    if (m && m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            wm_warn("kafka.consume_error", "err=%s reason=\"%s\"", rd_kafka_err2name(m->err),
                    rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return NULL;
    }
    return m;
}

/* Claims and starts as many buffered tasks as there are free slots. */
static void worker_feed(struct worker *w)
{
    int free_slots = w->slots - atomic_load(&w->busy);
    size_t n = free_slots > 0 ? (size_t)free_slots : 0;
    if (n > w->blen)
        n = w->blen;
    if (n > CLAIM_BATCH_MAX)
        n = CLAIM_BATCH_MAX;
    if (n == 0)
        return;
    rd_kafka_message_t *m[CLAIM_BATCH_MAX];
    memcpy(m, w->buf, n * sizeof(*m));
    memmove(w->buf, w->buf + n, (w->blen - n) * sizeof(*m));
    w->blen -= n;
    worker_handle_batch(w, m, n);
}

/* Waits (polling, storing nothing) until no task is busy or ms passed. */
static void worker_wait_idle(struct worker *w, int64_t ms)
{
    int64_t until = wm_mono_ms() + ms;
    while (atomic_load(&w->busy) > 0 && wm_mono_ms() < until) {
        rd_kafka_message_t *m = wm_kafka_poll(w->cons, POLL_MS);
        if (m) /* not ours to run any more: another worker gets it */
            wm_kafka_message_free(m);
    }
}

static void worker_shutdown(struct worker *w)
{
    wm_info("worker.stopping", "busy=%d grace_ms=%lld", atomic_load(&w->busy),
            (long long)w->grace_ms);
    wm_kafka_consumer_pause(w->cons);
    for (size_t i = 0; i < w->blen; i++) /* unclaimed: another worker gets them */
        wm_kafka_message_free(w->buf[i]);
    w->blen = 0;
    pool_stop_queued(w);
    worker_wait_idle(w, w->grace_ms);
    if (atomic_load(&w->busy) > 0) {
        wm_info("worker.releasing", "busy=%d", atomic_load(&w->busy));
        pool_stop_all(w);
        worker_wait_idle(w, 10000);
    }
    pool_join(w);
    reporter_stop_join(w);
    wm_kafka_flush(w->prod, 10000);
    worker_log_stats(w);
}

int worker_run(struct worker *w, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    static const struct reporter_hooks hooks = {.active = pool_active, .cancel = pool_cancel};
    int rc = pool_start(w, err, errlen);
    if (rc < 0 || (rc = reporter_start(w, &hooks, err, errlen)) < 0)
        return rc;
    wm_info("worker.start", "id=%s slots=%d lease_ms=%lld", w->id, w->slots,
            (long long)w->lease_ms);
    bool paused = false;
    int64_t next_stats = wm_mono_ms() + 10000;
    while (!*stop) {
        worker_feed(w);
        worker_flow(w, &paused);
        bool can_run = w->slots - atomic_load(&w->busy) > 0;
        /* wait long only when there is nothing to start; a finishing slot
         * yields the queue and ends the wait early */
        int timeout = can_run && w->blen > 0 ? 0 : POLL_MS;
        rd_kafka_message_t *m = worker_poll(w, timeout);
        for (int k = 0; m && k < CLAIM_BATCH_MAX; k++) {
            worker_buf_push(w, m);
            m = worker_poll(w, 0);
        }
        if (m)
            worker_buf_push(w, m);
        wm_kafka_producer_poll(w->prod);
        if (wm_mono_ms() >= next_stats) {
            worker_log_stats(w);
            next_stats = wm_mono_ms() + 10000;
        }
    }
    worker_shutdown(w);
    return 0;
}
