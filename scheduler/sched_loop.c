/* sched_loop — the scheduler daemon's loop (see sched_loop.h). */
#include "sched_loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "sched_events.h"
#include "sched_outbox.h"
#include "sched_own.h"
#include "sched_sql.h"
#include "sched_tick.h"
#include "pg.h"

#define MS(x) ((int64_t)(x) * 1000)
#define SCHED_POLL_MAX_MS 50   /* longest wait between looks at NOTIFY / timers */
#define SCHED_DRAIN_MAX 10000  /* status events read per wake-up, at most */
#define SCHED_QUICK_MS 200     /* a quick pass at least this often: due retries, delta syncs */

static const struct wm_config_key loop_keys[] = {
    {"scheduler.id", WM_CFG_STRING, "", 0, 0, false,
     "instance name (default host-pid); in task_events as scheduler:<id>"},
    {"scheduler.reconcile_interval", WM_CFG_DURATION, "2s", 10, MS(3600), false,
     "full pass from PostgreSQL at least this often (a lost event only delays)"},
    {"scheduler.ownership_interval", WM_CFG_DURATION, "1s", 10, MS(600), false,
     "how often to take free waves / release finished ones"},
    {"scheduler.delta_interval", WM_CFG_DURATION, "10m", 0, MS(86400), false,
     "delta syncs repeat this often until the cutover window opens"},
    {"scheduler.max_replicating", WM_CFG_INT, "200", 1, 1000000, false,
     "global limit: replication tasks in flight over all waves"},
    {"scheduler.max_queued", WM_CFG_INT, "500", 1, 1000000, false,
     "global: published tasks not yet claimed; more wait in PostgreSQL (backpressure)"},
    {"scheduler.max_attempts", WM_CFG_INT, "3", 1, 1000, false, "attempts per task"},
    {"scheduler.max_lost_leases", WM_CFG_INT, "3", 1, 1000, false,
     "workers a task may lose (lease expired) before it fails as a poison task"},
    {"scheduler.retry_backoff", WM_CFG_DURATION, "2s", 0, MS(86400), false,
     "delay before the 2nd attempt; doubles per attempt"},
    {"scheduler.retry_backoff_max", WM_CFG_DURATION, "5m", 0, MS(86400), false,
     "upper bound of the retry delay"},
    {"scheduler.requeue_after", WM_CFG_DURATION, "2m", MS(1), MS(86400), false,
     "re-publish a QUEUED task nobody claimed for this long"},
    {"scheduler.batch", WM_CFG_INT, "1000", 1, 100000, false,
     "rows per statement / outbox batch"},
};

struct sched_loop {
    const struct wm_config *cfg;
    char id[96], actor[128];
    struct wm_pg *db;
    int listen_pid;
    struct sched_own *own;
    struct wm_kafka_producer *prod;
    struct wm_kafka_consumer *status;
    struct sched_events *ev;
    struct sched_tick_cfg tc;
    struct sched_tick_stats st;
    struct wm_metrics *metrics; /* borrowed; NULL = none */
};

void sched_loop_set_metrics(struct sched_loop *s, struct wm_metrics *m)
{
    s->metrics = m;
}

/* The pass counters as Prometheus counters (mirrors of s->st). */
static void loop_metrics(struct sched_loop *s)
{
    if (!s->metrics)
        return;
    const struct sched_tick_stats *t = &s->st;
    const struct {
        const char *what;
        long v;
    } c[] = {{"acted", t->acted},     {"issued", t->issued},       {"created", t->created},
             {"retried", t->retried}, {"failed", t->failed},       {"lease_expired", t->expired},
             {"cancelled", t->cancelled}, {"waves_done", t->waves_done},
             {"requeued", t->requeued}};
    struct wm_metric *f = wm_metrics_counter(
        s->metrics, "wm_sched_tasks_total",
        "Scheduler decisions: tasks acted on, issued, created, retried, failed, lease expiries,"
        " cancelled, requeued; waves done",
        "what");
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
        wm_metric_set(f, (double)c[i].v, (const char *[]){c[i].what});
    wm_metric_set(wm_metrics_gauge(s->metrics, "wm_sched_waves_owned", "Waves this scheduler owns",
                                   NULL),
                  (double)sched_own_count(s->own), NULL);
}

int sched_loop_declare(struct wm_config *cfg, char *err, size_t errlen)
{
    return wm_config_declare(cfg, loop_keys, sizeof(loop_keys) / sizeof(loop_keys[0]), err,
                             errlen);
}

static void loop_tick_cfg(struct sched_loop *s)
{
    const struct wm_config *c = s->cfg;
    s->tc = (struct sched_tick_cfg){
        .actor = s->actor,
        .delta_interval_ms = wm_config_int(c, "scheduler.delta_interval"),
        .retry_backoff_ms = wm_config_int(c, "scheduler.retry_backoff"),
        .retry_backoff_max_ms = wm_config_int(c, "scheduler.retry_backoff_max"),
        .requeue_after_ms = wm_config_int(c, "scheduler.requeue_after"),
        .max_attempts = (int)wm_config_int(c, "scheduler.max_attempts"),
        .max_lost_leases = (int)wm_config_int(c, "scheduler.max_lost_leases"),
        .max_replicating = (int)wm_config_int(c, "scheduler.max_replicating"),
        .max_queued = (int)wm_config_int(c, "scheduler.max_queued"),
        .batch = (int)wm_config_int(c, "scheduler.batch"),
    };
}

static struct wm_kafka_consumer *loop_status_consumer(struct sched_loop *s, char *err,
                                                       size_t errlen)
{
    char topic[256], group[200];
    wm_kafka_topic(s->cfg, WM_TOPIC_STATUS, topic, sizeof(topic));
    /* a group of its own: every scheduler hears every completion */
    snprintf(group, sizeof(group), "%swavemill-scheduler-%s",
             wm_config_str(s->cfg, "kafka.topic_prefix"), s->id);
    const char *topics[] = {topic};
    return wm_kafka_consumer_new(s->cfg, group, topics, 1, 1, err, errlen);
}

struct sched_loop *sched_loop_new(const struct wm_config *cfg, char *err, size_t errlen)
{
    struct sched_loop *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = cfg;
    const char *id = wm_config_str(cfg, "scheduler.id");
    char host[64] = "host";
    gethostname(host, sizeof(host) - 1);
    if (id && *id)
        snprintf(s->id, sizeof(s->id), "%s", id);
    else
        snprintf(s->id, sizeof(s->id), "%s-%d", host, (int)getpid());
    snprintf(s->actor, sizeof(s->actor), "scheduler:%s", s->id);
    loop_tick_cfg(s);
    if (!(s->db = wm_pg_new(cfg, err, errlen)) ||
        !(s->own = sched_own_new(cfg, s->id, err, errlen)) ||
        !(s->prod = wm_kafka_producer_new(cfg, err, errlen)) ||
        !(s->status = loop_status_consumer(s, err, errlen)) ||
        !(s->ev = sched_events_new(cfg, s->actor))) {
        if (!*err)
            snprintf(err, errlen, "out of memory");
        sched_loop_free(s);
        return NULL;
    }
    return s;
}

void sched_loop_free(struct sched_loop *s)
{
    if (!s)
        return;
    if (s->status)
        wm_kafka_consumer_free(s->status);
    if (s->prod)
        wm_kafka_producer_free(s->prod);
    sched_events_free(s->ev);
    sched_own_free(s->own);
    wm_pg_free(s->db);
    free(s);
}

/* LISTEN again whenever the session is new (first time or reconnected). */
static void loop_listen(struct sched_loop *s)
{
    PGconn *conn = wm_pg_conn(s->db);
    if (!conn || PQstatus(conn) != CONNECTION_OK || PQbackendPID(conn) == s->listen_pid)
        return;
    char err[256];
    if (wm_pg_exec(s->db, "LISTEN " SCHED_NOTIFY_CHANNEL, 0, NULL, NULL, err, sizeof(err)) == 0)
        s->listen_pid = PQbackendPID(wm_pg_conn(s->db));
}

static bool loop_notified(struct sched_loop *s)
{
    PGconn *conn = wm_pg_conn(s->db);
    bool got = false;
    if (!conn || !PQconsumeInput(conn))
        return false;
    PGnotify *n;
    while ((n = PQnotifies(conn)) != NULL) {
        got = true;
        PQfreemem(n);
    }
    return got;
}

/* Reads what wm.status has; true if a task reached a final state. */
static bool loop_drain_status(struct sched_loop *s, int timeout_ms)
{
    bool wake = false;
    for (int i = 0; i < SCHED_DRAIN_MAX; i++) {
        rd_kafka_message_t *m = wm_kafka_poll(s->status, i == 0 ? timeout_ms : 0);
        if (!m)
            break;
        struct wm_status_msg st;
        char err[256];
        if (wm_status_msg_decode(m->payload, m->len, &st, err, sizeof(err)) == 0) {
            if (st.type && strcmp(st.type, "task") == 0 && st.state &&
                strcmp(st.state, "RUNNING") != 0)
                wake = true;
            wm_status_msg_clear(&st);
        }
        wm_kafka_consumer_done(s->status, m);
    }
    return wake;
}

static void loop_publish(struct sched_loop *s)
{
    char err[512];
    long sent = 0;
    do {
        if (sched_outbox_publish(s->db, s->prod, s->cfg, sched_own_array(s->own), s->tc.batch,
                                &sent, err, sizeof(err)) < 0) {
            wm_warn("sched.outbox_failed", "err=\"%s\"", err);
            return;
        }
    } while (sent >= s->tc.batch);
}

/* One pass; returns true when more work is waiting. */
static bool loop_pass(struct sched_loop *s, bool full)
{
    char err[512];
    bool more = false;
    if (sched_tick_run(s->db, sched_own_array(s->own), &s->tc, full, s->ev, &s->st, &more, err,
                      sizeof(err)) < 0) {
        wm_warn("sched.pass_failed", "err=\"%s\"", err);
        more = false;
    }
    sched_events_send(s->ev, s->prod); /* what committed */
    loop_publish(s);
    return more;
}

/* Returns true when the set of owned waves changed. */
static bool loop_own(struct sched_loop *s)
{
    char err[512];
    size_t before = sched_own_count(s->own);
    int n = sched_own_refresh(s->own, err, sizeof(err));
    if (n < 0) {
        wm_warn("sched.ownership_failed", "err=\"%s\"", err);
        return false;
    }
    if ((size_t)n == before)
        return false;
    wm_info("sched.owned", "waves=%d ids=%s", n, sched_own_array(s->own));
    return true;
}

static void loop_log_stats(struct sched_loop *s)
{
    const struct sched_tick_stats *t = &s->st;
    wm_info("sched.stats",
            "owned=%zu acted=%ld issued=%ld created=%ld retried=%ld failed=%ld expired=%ld"
            " cancelled=%ld waves_done=%ld requeued=%ld",
            sched_own_count(s->own), t->acted, t->issued, t->created, t->retried, t->failed,
            t->expired, t->cancelled, t->waves_done, t->requeued);
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int sched_loop_run(struct sched_loop *s, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    int64_t own_every = wm_config_int(s->cfg, "scheduler.ownership_interval");
    int64_t full_every = wm_config_int(s->cfg, "scheduler.reconcile_interval");
    int64_t next_own = 0, next_full = 0, next_quick = 0, next_stats = wm_mono_ms() + 10000;
    bool work = true;
    wm_info("sched.start", "id=%s", s->id);
    while (!*stop) {
        int64_t now = wm_mono_ms();
        if (now >= next_own) {
            if (loop_own(s))
                next_full = now; /* new waves: a full pass at once */
            next_own = now + own_every;
        }
        loop_listen(s);
        bool full = now >= next_full;
        if (work || full || now >= next_quick) {
            work = loop_pass(s, full);
            loop_metrics(s);
            if (full)
                next_full = now + full_every;
            next_quick = now + SCHED_QUICK_MS;
        }
        if (now >= next_stats) {
            loop_log_stats(s);
            next_stats = now + 10000;
        }
        int64_t due = min64(min64(next_full, next_quick), next_own);
        int64_t wait = work ? 0 : min64(SCHED_POLL_MAX_MS, due - now);
        if (loop_drain_status(s, wait > 0 ? (int)wait : 0))
            work = true;
        if (loop_notified(s)) /* an operator changed something: look at everything */
            next_full = wm_mono_ms();
        wm_kafka_producer_poll(s->prod);
    }
    loop_log_stats(s);
    wm_info("sched.stop", "id=%s", s->id);
    return 0;
}
