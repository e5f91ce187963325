/* worker_report — the reporter thread: writes finished tasks to PostgreSQL
 * in batches (one transaction per batch, each update conditional on the
 * lease this worker holds), renews leases by heartbeat, stores progress, and
 * publishes the matching wm.status events after commit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "kafka.h"
#include "clock.h"
#include "log.h"
#include "pg.h"
#include "pgarr.h"
#include "pgprep.h"
#include "worker_report.h"

#define REPORT_BATCH_MAX 512
#define REPORT_LINGER_NS 2000000L /* 2 ms */
#define PROGRESS_EVERY_MS 1000
#define HEARTBEAT_MAX_TASKS 4096

static void uuid4(char *buf, size_t len)
{
    unsigned char b[16] = {0};
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        int64_t t = wm_wall_ms();
        memcpy(b, &t, sizeof(t));
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(buf, len,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

void worker_publish_task(struct worker *w, const struct task_ctx *t, const char *type,
                         const char *state, const char *message)
{
    char id[40], err[256];
    uuid4(id, sizeof(id));
    struct wm_status_msg m = {
        .event_id = id, .time_ms = wm_wall_ms(), .source = (char *)w->actor, .type = (char *)type,
        .wave = t->msg.wave, .server = t->msg.server, .task_id = t->msg.task_id,
        .task_kind = t->msg.kind, .attempt = t->msg.attempt, .state = (char *)state,
        .bytes_done = atomic_load(&((struct task_ctx *)t)->bytes_done),
        .bytes_total = atomic_load(&((struct task_ctx *)t)->bytes_total),
        .message = (char *)message, .simulated = t->simulated,
    };
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wm_status_msg_encode(&m, &buf, &len, err, sizeof(err)) < 0) {
        wm_warn("worker.event_encode_failed", "err=\"%s\"", err);
        return;
    }
    char key[24];
    snprintf(key, sizeof(key), "%lld", (long long)t->msg.server_id);
    if (wm_kafka_send(w->prod, w->topic_status, key, strlen(key), buf, len, NULL, 0, err,
                      sizeof(err)) < 0)
        wm_warn("worker.event_send_failed", "err=\"%s\"", err);
    free(buf);
}

void reporter_submit(struct worker *w, struct task_ctx *t)
{
    pthread_mutex_lock(&w->rmu);
    if (w->ndone == w->dcap) {
        size_t cap = w->dcap ? w->dcap * 2 : 64;
        struct task_ctx **d = realloc(w->done, cap * sizeof(*d));
        if (!d) { /* the lease expires and the scheduler re-issues: nothing is lost */
            pthread_mutex_unlock(&w->rmu);
            wm_error("worker.report_oom", "task=%lld", (long long)t->msg.task_id);
            task_ctx_free(t);
            return;
        }
        w->done = d;
        w->dcap = cap;
    }
    w->done[w->ndone++] = t;
    pthread_cond_signal(&w->rcv);
    pthread_mutex_unlock(&w->rmu);
}

/* Finished attempts, one statement per batch: the update is conditional on
 * the lease this worker holds, so a task re-issued meanwhile (lease lost)
 * is refused, never completed twice. */
static const char SQL_FINISH[] =
    "WITH m AS (SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[],"
    "   $5::bigint[], $6::bigint[], $7::text[], $10::bool[])"
    "   AS m(id, att, st, err, done, total, msg, perm)),"
    " l AS (SELECT t.id FROM tasks t JOIN m ON t.id = m.id AND t.attempt = m.att"
    "   WHERE t.lease_owner = $8 AND t.state = 'RUNNING' ORDER BY t.id FOR UPDATE OF t),"
    " u AS (UPDATE tasks t SET state = m.st, finished_at = now(), error = m.err,"
    "   error_permanent = m.perm,"
    "   lease_owner = NULL, lease_expires = NULL, bytes_done = m.done, bytes_total = m.total,"
    "   updated_at = now() FROM l, m WHERE t.id = l.id AND m.id = l.id"
    "   AND t.id = ANY (ARRAY(SELECT id FROM l))"
    "   AND t.lease_owner = $8 AND t.state = 'RUNNING' RETURNING t.id, t.attempt, m.st, m.msg),"
    " e AS (INSERT INTO task_events (task_id, attempt, state, actor, message)"
    "   SELECT id, attempt, st, $9, msg FROM u)"
    " SELECT id, attempt FROM u";

static const char SQL_RELEASE[] =
    "WITH u AS (UPDATE tasks SET state = 'PENDING', not_before = now(),"
    "   max_attempts = max_attempts + 1, lease_owner = NULL, lease_expires = NULL,"
    "   updated_at = now() WHERE id = $1 AND attempt = $2 AND lease_owner = $3"
    "   AND state = 'RUNNING' RETURNING id, attempt)"
    " INSERT INTO task_events (task_id, attempt, state, actor, message)"
    " SELECT id, attempt, 'PENDING', $4, 'released by worker (shutting down)' FROM u";

struct finish_batch {
    struct worker *w;
    struct task_ctx **t;
    bool *applied;
    size_t n;
};

static const char *result_state(const struct task_ctx *t)
{
    return t->result == TASK_OK ? "SUCCEEDED" : t->result == TASK_FAILED ? "FAILED" : "PENDING";
}

static const char *result_message(const struct task_ctx *t)
{
    if (t->result == TASK_FAILED)
        return t->error;
    return t->simulated ? "simulated" : NULL;
}

static int release_one(struct wm_pg *db, struct worker *w, struct task_ctx *t, bool *applied,
                       char *err, size_t errlen)
{
    char id[24], att[16];
    snprintf(id, sizeof(id), "%lld", (long long)t->msg.task_id);
    snprintf(att, sizeof(att), "%d", (int)t->msg.attempt);
    const char *p[] = {id, att, w->id, w->actor};
    long rows = 0;
    int rc = wm_pg_exec(db, SQL_RELEASE, 4, p, &rows, err, errlen);
    *applied = rows > 0;
    return rc < 0 ? -EIO : 0;
}

/* Every non-released task of the batch in one statement. */
static int finish_all(struct wm_pg *db, struct finish_batch *b, char *err, size_t errlen)
{
    struct wm_pgarr a[8] = {{0}};
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) {
        struct task_ctx *t = b->t[i];
        if (t->result == TASK_RELEASED)
            continue;
        wm_pgarr_int(&a[0], (int64_t)t->msg.task_id, false);
        wm_pgarr_int(&a[1], (int64_t)t->msg.attempt, false);
        wm_pgarr_text(&a[2], result_state(t));
        wm_pgarr_text(&a[3], t->result == TASK_FAILED ? t->error : NULL);
        wm_pgarr_int(&a[4], (int64_t)atomic_load(&t->bytes_done), false);
        wm_pgarr_int(&a[5], (int64_t)atomic_load(&t->bytes_total), false);
        wm_pgarr_text(&a[6], result_message(t));
        wm_pgarr_bool(&a[7], t->result == TASK_FAILED && t->permanent);
        k++;
    }
    int rc = 0;
    if (k > 0) {
        const char *p[10];
        for (int j = 0; j < 7; j++)
            p[j] = wm_pgarr_end(&a[j]);
        p[7] = b->w->id;
        p[8] = b->w->actor;
        p[9] = wm_pgarr_end(&a[7]);
        PGresult *r = NULL;
        for (int j = 0; j < 10; j++)
            if (!p[j])
                rc = -ENOMEM;
        static const struct pgprep finish = {"wm_worker_finish", SQL_FINISH, 10};
        for (int attempt = 0; rc == 0 && !r && attempt < 5; attempt++) {
            r = pgprep_query(db, &finish, p, err, errlen);
            bool retry = strcmp(pgprep_sqlstate(), "40P01") == 0 ||
                         strcmp(pgprep_sqlstate(), "40001") == 0;
            if (!r && !retry)
                rc = -EIO;
        }
        if (rc == 0 && !r)
            rc = -EIO;
        for (int row = 0; r && row < PQntuples(r); row++) {
            int64_t id = strtoll(PQgetvalue(r, row, 0), NULL, 10);
            int32_t att = (int32_t)strtol(PQgetvalue(r, row, 1), NULL, 10);
            for (size_t i = 0; i < b->n; i++)
                if (b->t[i]->msg.task_id == id && b->t[i]->msg.attempt == att)
                    b->applied[i] = true;
        }
        PQclear(r);
    }
    for (int j = 0; j < 8; j++)
        wm_pgarr_free(&a[j]);
    return rc;
}

/* Releases first (one statement each, rare), then the batch statement,
 * which is atomic on its own: no transaction around them is needed. */
static int finish_batch_run(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    struct finish_batch *b = arg;
    for (size_t i = 0; i < b->n; i++)
        b->applied[i] = false;
    for (size_t i = 0; i < b->n; i++)
        if (b->t[i]->result == TASK_RELEASED &&
            release_one(db, b->w, b->t[i], &b->applied[i], err, errlen) < 0)
            return -EIO;
    return finish_all(db, b, err, errlen);
}

static void count_result(struct worker *w, const struct task_ctx *t, bool applied)
{
    if (!applied) {
        atomic_fetch_add(&w->st.refused, 1);
        wm_warn("task.completion_refused", "task=%lld attempt=%d reason=\"lease lost\"",
                (long long)t->msg.task_id, (int)t->msg.attempt);
    } else if (t->result == TASK_OK) {
        atomic_fetch_add(&w->st.succeeded, 1);
    } else if (t->result == TASK_FAILED) {
        atomic_fetch_add(&w->st.failed, 1);
    } else {
        atomic_fetch_add(&w->st.released, 1);
    }
}

/* Writes n finished tasks in one transaction, then tells wm.status. */
static void report_completions(struct worker *w, struct task_ctx **t, size_t n)
{
    bool applied[REPORT_BATCH_MAX];
    char err[512];
    struct finish_batch b = {w, t, applied, n};
    int rc = finish_batch_run(w->rdb, &b, err, sizeof(err));
    for (size_t i = 0; i < n; i++) {
        if (rc != 0) {
            /* the lease will expire and the scheduler re-issues the task */
            wm_error("task.report_failed", "task=%lld err=\"%s\"", (long long)t[i]->msg.task_id,
                     err);
        } else {
            count_result(w, t[i], applied[i]);
            if (applied[i])
                worker_publish_task(w, t[i], "task", result_state(t[i]), result_message(t[i]));
        }
        task_ctx_free(t[i]);
    }
}

static const char SQL_HEARTBEAT[] =
    "WITH m AS (SELECT * FROM unnest($3::bigint[], $4::int[]) AS m(id, att)),"
    " l AS (SELECT t.id FROM tasks t JOIN m ON t.id = m.id AND t.attempt = m.att"
    "   WHERE t.lease_owner = $1 AND t.state = 'RUNNING' ORDER BY t.id FOR UPDATE OF t),"
    " u AS (UPDATE tasks t SET lease_expires = now() + $2::bigint * interval '1 ms' FROM l"
    "   WHERE t.id = l.id AND t.id = ANY (ARRAY(SELECT id FROM l))"
    "   AND t.lease_owner = $1 AND t.state = 'RUNNING'"
    "   RETURNING t.id, t.attempt)"
    " SELECT m.id, m.att FROM m WHERE NOT EXISTS"
    " (SELECT 1 FROM u WHERE u.id = m.id AND u.attempt = m.att)";


/* The worker's row in workers (`wavemill worker list`): seen now; a new
 * process under the same id starts its row again. */
static void presence(struct worker *w)
{
    char host[256] = "", pid[16], err[512];
    gethostname(host, sizeof(host) - 1);
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    const char *p[] = {w->id, host, pid};
    if (wm_pg_exec(w->rdb,
                   "INSERT INTO workers (id, host, pid) VALUES ($1, $2, $3::int)"
                   " ON CONFLICT (id) DO UPDATE SET seen_at = now(), host = EXCLUDED.host,"
                   " pid = EXCLUDED.pid, started_at = CASE WHEN workers.pid = EXCLUDED.pid"
                   " AND workers.host = EXCLUDED.host THEN workers.started_at ELSE now() END",
                   3, p, NULL, err, sizeof(err)) < 0)
        wm_warn("worker.presence_failed", "err=\"%s\"", err);
}

/* Renews the leases of the active tasks; a task whose lease is gone (the
 * scheduler re-issued it) is told to stop. */
static void heartbeat(struct worker *w)
{
    static int64_t ids[HEARTBEAT_MAX_TASKS];
    static int32_t atts[HEARTBEAT_MAX_TASKS];
    presence(w);
    size_t n = w->rhooks.active(w, ids, atts, HEARTBEAT_MAX_TASKS);
    if (n == 0)
        return;
    struct wm_pgarr ia = {0}, aa = {0};
    for (size_t i = 0; i < n; i++) {
        wm_pgarr_int(&ia, ids[i], false);
        wm_pgarr_int(&aa, atts[i], false);
    }
    const char *a = wm_pgarr_end(&ia), *b = wm_pgarr_end(&aa);
    char lease[24], err[512];
    snprintf(lease, sizeof(lease), "%lld", (long long)w->lease_ms);
    const char *p[] = {w->id, lease, a, b};
    PGresult *r = a && b ? wm_pg_query(w->rdb, SQL_HEARTBEAT, 4, p, err, sizeof(err)) : NULL;
    if (!r) {
        wm_warn("worker.heartbeat_failed", "err=\"%s\"", a && b ? err : "out of memory");
    } else {
        for (int i = 0; i < PQntuples(r); i++) {
            int64_t id = strtoll(PQgetvalue(r, i, 0), NULL, 10);
            int32_t att = (int32_t)strtol(PQgetvalue(r, i, 1), NULL, 10);
            wm_warn("task.lease_lost", "task=%lld attempt=%d", (long long)id, (int)att);
            w->rhooks.cancel(w, id, att);
        }
        PQclear(r);
    }
    wm_pgarr_free(&ia);
    wm_pgarr_free(&aa);
}

/* Progress of running tasks: into tasks.bytes_* and onto wm.status. */
static void progress(struct worker *w)
{
    struct task_ctx *dirty[HEARTBEAT_MAX_TASKS];
    size_t n = 0;
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < w->nactive && n < HEARTBEAT_MAX_TASKS; i++)
        if (atomic_exchange(&w->active[i]->progress_dirty, 0))
            dirty[n++] = w->active[i];
    pthread_mutex_unlock(&w->mu);
    /* only this thread frees a task_ctx, so the pointers stay valid */
    for (size_t i = 0; i < n; i++) {
        struct task_ctx *t = dirty[i];
        char id[24], att[16], done[24], total[24], err[256];
        snprintf(id, sizeof(id), "%lld", (long long)t->msg.task_id);
        snprintf(att, sizeof(att), "%d", (int)t->msg.attempt);
        snprintf(done, sizeof(done), "%lld", (long long)atomic_load(&t->bytes_done));
        snprintf(total, sizeof(total), "%lld", (long long)atomic_load(&t->bytes_total));
        const char *p[] = {id, att, w->id, done, total};
        wm_pg_exec(w->rdb,
                   "UPDATE tasks SET bytes_done = $4, bytes_total = $5 WHERE id = $1"
                   " AND attempt = $2 AND lease_owner = $3 AND state = 'RUNNING'",
                   5, p, NULL, err, sizeof(err));
        worker_publish_task(w, t, "progress", "RUNNING",
                            t->simulated ? "simulated" : atomic_load(&t->note));
    }
}

/* Takes up to REPORT_BATCH_MAX finished tasks, waiting at most wait_ms. */
static size_t reporter_take(struct worker *w, struct task_ctx **out, int64_t wait_ms,
                            bool *stop)
{
    pthread_mutex_lock(&w->rmu);
    if (w->ndone == 0 && !atomic_load(&w->reporter_stop) && wait_ms > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += wait_ms / 1000;
        ts.tv_nsec += (wait_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->rcv, &w->rmu, &ts);
    }
    if (w->ndone > 0 && w->ndone < (size_t)w->slots && !atomic_load(&w->reporter_stop)) {
        /* linger a moment: one statement for several completions costs
         * the database far less than one each */
        pthread_mutex_unlock(&w->rmu);
        struct timespec linger = {0, REPORT_LINGER_NS};
        nanosleep(&linger, NULL);
        pthread_mutex_lock(&w->rmu);
    }
    size_t n = w->ndone < REPORT_BATCH_MAX ? w->ndone : REPORT_BATCH_MAX;
    memcpy(out, w->done, n * sizeof(*out));
    memmove(w->done, w->done + n, (w->ndone - n) * sizeof(*out));
    w->ndone -= n;
    *stop = atomic_load(&w->reporter_stop) && w->ndone == 0;
    pthread_mutex_unlock(&w->rmu);
    return n;
}

static void *reporter_main(void *arg)
{
    struct worker *w = arg;
    static struct task_ctx *batch[REPORT_BATCH_MAX];
    int64_t next_hb = wm_mono_ms() + w->heartbeat_ms, next_pr = wm_mono_ms() + PROGRESS_EVERY_MS;
    for (;;) {
        int64_t now = wm_mono_ms();
        int64_t wait = (next_hb < next_pr ? next_hb : next_pr) - now;
        bool stop = false;
        size_t n = reporter_take(w, batch, wait, &stop);
        if (n > 0)
            report_completions(w, batch, n);
        now = wm_mono_ms();
        if (now >= next_hb) {
            heartbeat(w);
            next_hb = now + w->heartbeat_ms;
        }
        if (now >= next_pr) {
            progress(w);
            next_pr = now + PROGRESS_EVERY_MS;
        }
        if (stop && n == 0)
            break;
    }
    return NULL;
}

int reporter_start(struct worker *w, const struct reporter_hooks *hooks, char *err,
                   size_t errlen)
{
    w->rhooks = *hooks;
    w->rdb = wm_pg_new(w->cfg, err, errlen);
    if (!w->rdb)
        return -EIO;
    if (pthread_create(&w->reporter, NULL, reporter_main, w) != 0) {
        snprintf(err, errlen, "cannot start the reporter thread");
        return -EAGAIN;
    }
    return 0;
}

void reporter_stop_join(struct worker *w)
{
    pthread_mutex_lock(&w->rmu);
    atomic_store(&w->reporter_stop, 1);
    pthread_cond_signal(&w->rcv);
    pthread_mutex_unlock(&w->rmu);
    pthread_join(w->reporter, NULL);
}
