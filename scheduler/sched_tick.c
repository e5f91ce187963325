/* sched_tick — the scheduler's pass over its waves (see sched_tick.h).
 * Steps 1-3 and 5-8 are single set-based statements (atomic on their own);
 * step 4 walks finished tasks in one transaction per batch because the next
 * step depends on the pipeline table, pre-skipped steps and the cutover
 * window. */
#include "sched_tick.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_events.h"
#include "sched_sql.h"
#include "pg.h"
#include "pgarr.h"
#include "pgprep.h"
#include "pipeline.h"

/* The pipeline's kind sets as array parameters, built once (the table is
 * constant); a member is NULL only if that allocation failed. */
struct kind_sets {
    const char *repl, *launch, *cutover, *repl_topic, *repeats;
};

static struct kind_sets kind_sets;
static struct wm_pgarr kind_bufs[5];
static pthread_once_t kind_sets_once = PTHREAD_ONCE_INIT;

static const char *kind_set(struct wm_pgarr *a, enum sched_kind_set which)
{
    sched_kinds_array(which, a);
    return wm_pgarr_end(a);
}

static void kind_sets_init(void)
{
    kind_sets.repl = kind_set(&kind_bufs[0], SCHED_KINDS_REPLICATION);
    kind_sets.launch = kind_set(&kind_bufs[1], SCHED_KINDS_LAUNCHING);
    kind_sets.cutover = kind_set(&kind_bufs[2], SCHED_KINDS_CUTOVER);
    kind_sets.repl_topic = kind_set(&kind_bufs[3], SCHED_KINDS_REPL_TOPIC);
    kind_sets.repeats = kind_set(&kind_bufs[4], SCHED_KINDS_REPEATS);
}

static const struct kind_sets *kinds(void)
{
    pthread_once(&kind_sets_once, kind_sets_init);
    return &kind_sets;
}

static bool kinds_ok(void)
{
    const struct kind_sets *k = kinds();
    return k->repl && k->launch && k->cutover && k->repl_topic && k->repeats;
}

/* --- 1. cutover window opened: pending delta syncs are not needed --- */
static int tick_cancel_deltas(struct wm_pg *db, const char *owned,
                              const struct sched_tick_cfg *c, long *n, char *err, size_t errlen)
{
    const char *p[] = {owned, kinds()->repeats, c->actor};
    return sched_exec(db, "cancel deltas",
                     "WITH c AS (UPDATE tasks t SET state = 'CANCELLED', finished_at = now(),"
                     "   updated_at = now() FROM waves w WHERE w.id = t.wave_id"
                     "   AND t.wave_id = ANY($1::bigint[]) AND t.kind = ANY($2::text[])"
                     "   AND t.state = 'PENDING' AND w.cutover_at <= now()"
                     "   RETURNING t.id, t.attempt)"
                     " INSERT INTO task_events (task_id, attempt, state, actor, message)"
                     " SELECT id, attempt, 'CANCELLED', $3, 'cutover window open' FROM c",
                     3, p, n, err, errlen);
}

/* --- 2. a worker that died leaves its lease to expire --- */
static int tick_expire_leases(struct wm_pg *db, const char *owned,
                              const struct sched_tick_cfg *c, long *n, char *err, size_t errlen)
{
    const char *p[] = {owned, c->actor};
    return sched_exec(db, "expire leases",
                     "WITH x AS (UPDATE tasks SET state = 'FAILED', finished_at = now(),"
                     "   error = 'lease expired (worker lost)', lease_owner = NULL,"
                     "   lease_expires = NULL, updated_at = now()"
                     "   WHERE wave_id = ANY($1::bigint[]) AND state = 'RUNNING'"
                     "   AND lease_expires < now() RETURNING id, attempt)"
                     " INSERT INTO task_events (task_id, attempt, state, actor, message)"
                     " SELECT id, attempt, 'FAILED', $2, 'lease expired (worker lost)' FROM x",
                     2, p, n, err, errlen);
}

/* --- 3. failed attempts: backoff retry, or the server fails --- */
static const char SQL_FAILED[] =
    "WITH f AS (SELECT t.id FROM tasks t WHERE t.wave_id = ANY($1::bigint[])"
    "   AND t.acted_at IS NULL AND t.state = 'FAILED' ORDER BY t.id LIMIT $5::int"
    "   FOR UPDATE SKIP LOCKED),"
    " r AS (UPDATE tasks t SET state = 'PENDING', acted_at = now(), updated_at = now(),"
    "   not_before = now() + least($3::bigint * power(2, t.attempt - 1), $4::bigint)"
    "                * interval '1 ms'"
    "   FROM f WHERE t.id = f.id AND t.id = ANY (ARRAY(SELECT id FROM f))"
    "   AND t.attempt < t.max_attempts"
    "   RETURNING t.id, t.attempt, t.max_attempts, t.not_before),"
    " re AS (INSERT INTO task_events (task_id, attempt, state, actor, message)"
    "   SELECT id, attempt, 'PENDING', $2, 'retry ' || (attempt + 1) || '/' || max_attempts"
    "   || ' after ' || round(extract(epoch FROM not_before - now()) * 1000) || ' ms' FROM r),"
    " g AS (UPDATE tasks t SET acted_at = now() FROM f"
    "   WHERE t.id = f.id AND t.id = ANY (ARRAY(SELECT id FROM f))"
    "   AND t.attempt >= t.max_attempts"
    "   RETURNING t.id, t.server_id, t.kind, t.error, t.attempt),"
    " s AS (UPDATE servers s SET lifecycle = 'FAILED', updated_at = now(),"
    "   error = g.kind || ' failed after ' || g.attempt || ' attempts: '"
    "           || coalesce(g.error, 'unknown error')"
    "   FROM g WHERE s.id = g.server_id AND s.lifecycle <> 'DONE'"
    "   RETURNING s.name, s.wave_id, s.error)"
    " SELECT 'r', NULL, NULL, NULL FROM r"
    " UNION ALL SELECT 'f', s.name, w.name, s.error FROM s JOIN waves w ON w.id = s.wave_id";

static int tick_failed(struct wm_pg *db, const char *owned, const struct sched_tick_cfg *c,
                       struct sched_events *ev, struct sched_tick_stats *st, bool *more,
                       char *err, size_t errlen)
{
    char b[24], bmax[24], lim[16];
    snprintf(b, sizeof(b), "%lld", (long long)c->retry_backoff_ms);
    snprintf(bmax, sizeof(bmax), "%lld", (long long)c->retry_backoff_max_ms);
    snprintf(lim, sizeof(lim), "%d", c->batch);
    const char *p[] = {owned, c->actor, b, bmax, lim};
    static const struct pgprep failed = {"wm_sched_failed", SQL_FAILED, 5};
    PGresult *r = pgprep_query(db, &failed, p, err, errlen);
    if (!r)
        return -EIO;
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        if (PQgetvalue(r, i, 0)[0] == 'r') {
            st->retried++;
            continue;
        }
        st->failed++;
        sched_events_add(ev, "server", PQgetvalue(r, i, 2), PQgetvalue(r, i, 1), "FAILED",
                        PQgetvalue(r, i, 3));
    }
    PQclear(r);
    if (n >= c->batch)
        *more = true;
    return 0;
}

/* --- 5. started waves: servers without a step get the first task --- */
static int tick_kickoff(struct wm_pg *db, const char *owned, const struct sched_tick_cfg *c,
                        long *n, char *err, size_t errlen)
{
    const struct pipeline_step *first = pipeline_first();
    char maxa[16];
    snprintf(maxa, sizeof(maxa), "%d", c->max_attempts);
    const char *p[] = {owned, first->kind, first->lifecycle, maxa, c->actor};
    return sched_exec(db, "kick off servers",
                     "WITH s AS (UPDATE servers s SET current_step = $2, lifecycle = $3,"
                     "   updated_at = now() FROM waves w WHERE w.id = s.wave_id"
                     "   AND w.status = 'RUNNING' AND s.wave_id = ANY($1::bigint[])"
                     "   AND s.current_step IS NULL AND s.lifecycle NOT IN ('DONE', 'FAILED')"
                     "   RETURNING s.id, s.wave_id, w.priority),"
                     " t AS (INSERT INTO tasks (server_id, wave_id, kind, max_attempts, priority)"
                     "   SELECT id, wave_id, $2, $4::int, priority FROM s ON CONFLICT DO NOTHING"
                     "   RETURNING id)"
                     " INSERT INTO task_events (task_id, attempt, state, actor)"
                     " SELECT id, 0, 'PENDING', $5 FROM t",
                     5, p, n, err, errlen);
}

/* --- 6. issue due tasks within the limits, priority first --- */
/* Cost follows what is issued, not the backlog: room (max_queued minus the
 * tasks waiting unclaimed, capped by the batch) bounds a top-N of the due
 * candidates whose class still has room in their wave, in priority order;
 * the per-wave and global limits are then applied exactly within those.
 * tasks.priority (the wave's, copied at creation) lets the candidates come
 * straight off tasks_pending_order_idx in order. */
static const char SQL_ISSUE[] =
    "WITH live AS (SELECT wave_id, (kind = ANY($2::text[])) AS rep, count(*) AS n FROM tasks"
    "   WHERE state IN ('QUEUED', 'RUNNING')"
    "   AND (kind = ANY($2::text[]) OR kind = ANY($3::text[])) GROUP BY 1, 2),"
    " room AS (SELECT least($6::int, greatest(0, $9::int"
    "   - (SELECT count(*) FROM tasks WHERE state = 'QUEUED'))) AS n,"
    "   greatest(0, $5::int - coalesce((SELECT sum(n) FROM live WHERE rep), 0)) AS grep),"
    " cap AS (SELECT w.id, w.priority, w.cutover_at,"
    "   w.max_parallel - coalesce((SELECT sum(n) FROM live l"
    "     WHERE l.wave_id = w.id AND l.rep), 0) AS rep_room,"
    "   w.max_launching - coalesce((SELECT sum(n) FROM live l"
    "     WHERE l.wave_id = w.id AND NOT l.rep), 0) AS launch_room"
    "   FROM waves w WHERE w.id = ANY($1::bigint[]) AND w.status = 'RUNNING'),"
    " cand AS (SELECT t.id, t.wave_id, t.priority, t.not_before, c.rep_room, c.launch_room,"
    "   CASE WHEN t.kind = ANY($2::text[]) THEN 1"
    "   WHEN t.kind = ANY($3::text[]) THEN 2 ELSE 0 END AS cls"
    "   FROM tasks t JOIN cap c ON c.id = t.wave_id"
    "   WHERE t.state = 'PENDING' AND t.not_before <= now()"
    "   AND (NOT t.kind = ANY($4::text[]) OR c.cutover_at <= now())"
    "   AND CASE WHEN t.kind = ANY($2::text[]) THEN c.rep_room > 0"
    "            AND (SELECT grep FROM room) > 0"
    "       WHEN t.kind = ANY($3::text[]) THEN c.launch_room > 0 ELSE true END"
    "   ORDER BY t.priority DESC, t.not_before, t.id LIMIT (SELECT n FROM room) * 4),"
    " ranked AS (SELECT c.*, row_number() OVER (PARTITION BY c.wave_id, c.cls"
    "   ORDER BY c.priority DESC, c.not_before, c.id) AS rn FROM cand c),"
    " fit AS (SELECT r.* FROM ranked r WHERE r.cls = 0"
    "   OR (r.cls = 1 AND r.rn <= r.rep_room) OR (r.cls = 2 AND r.rn <= r.launch_room)),"
    " glob AS (SELECT f.*, sum(CASE WHEN f.cls = 1 THEN 1 ELSE 0 END) OVER"
    "   (ORDER BY f.priority DESC, f.not_before, f.id) AS grn FROM fit f),"
    " pick AS (SELECT id FROM glob WHERE cls <> 1 OR grn <= (SELECT grep FROM room)"
    "   ORDER BY priority DESC, not_before, id LIMIT (SELECT n FROM room)),"
    " upd AS (UPDATE tasks t SET state = 'QUEUED', attempt = t.attempt + 1,"
    "   published_at = NULL, claimed_at = NULL, finished_at = NULL, acted_at = NULL,"
    "   error = NULL, lease_owner = NULL, lease_expires = NULL, bytes_done = 0,"
    "   updated_at = now() FROM pick WHERE t.id = pick.id AND t.state = 'PENDING'"
    "   AND t.id = ANY (ARRAY(SELECT id FROM pick))"
    "   RETURNING t.id, t.attempt, t.kind),"
    " ob AS (INSERT INTO task_outbox (task_id, attempt, topic) SELECT id, attempt,"
    "   CASE WHEN kind = ANY($7::text[]) THEN 'wm.tasks.replication'"
    "   ELSE 'wm.tasks.control' END FROM upd)"
    " INSERT INTO task_events (task_id, attempt, state, actor)"
    " SELECT id, attempt, 'QUEUED', $8 FROM upd";

static int tick_issue(struct wm_pg *db, const char *owned, const struct sched_tick_cfg *c,
                      long *n, char *err, size_t errlen)
{
    char glim[16], lim[16], qlim[16];
    snprintf(glim, sizeof(glim), "%d", c->max_replicating);
    snprintf(lim, sizeof(lim), "%d", c->batch);
    snprintf(qlim, sizeof(qlim), "%d", c->max_queued);
    const struct kind_sets *k = kinds();
    const char *p[] = {owned, k->repl, k->launch, k->cutover, glim, lim, k->repl_topic, c->actor,
                       qlim};
    static const struct pgprep issue = {"wm_sched_issue", SQL_ISSUE, 9};
    PGresult *r = pgprep_query(db, &issue, p, err, errlen);
    if (!r)
        return -EIO;
    *n = strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

/* --- 7. waves whose servers are all DONE --- */
static int tick_waves_done(struct wm_pg *db, const char *owned, struct sched_events *ev,
                           long *n, char *err, size_t errlen)
{
    const char *p[] = {owned};
    PGresult *r = sched_query(db, "waves done",
                             "UPDATE waves w SET status = 'DONE', finished_at = now(),"
                             " updated_at = now() WHERE w.id = ANY($1::bigint[])"
                             " AND w.status = 'RUNNING' AND NOT EXISTS (SELECT 1 FROM servers s"
                             " WHERE s.wave_id = w.id AND s.lifecycle <> 'DONE') RETURNING w.name",
                             1, p, err, errlen);
    if (!r)
        return -EIO;
    *n = PQntuples(r);
    for (int i = 0; i < PQntuples(r); i++)
        sched_events_add(ev, "wave", PQgetvalue(r, i, 0), NULL, "DONE", NULL);
    PQclear(r);
    return 0;
}

/* --- 8. safety net for a message the broker lost --- */
static int tick_requeue(struct wm_pg *db, const char *owned, const struct sched_tick_cfg *c,
                        long *n, char *err, size_t errlen)
{
    char after[24];
    snprintf(after, sizeof(after), "%lld", (long long)c->requeue_after_ms);
    const char *p[] = {owned, after, kinds()->repl_topic};
    return sched_exec(db, "requeue",
                     "WITH q AS (UPDATE tasks t SET updated_at = now()"
                     "   WHERE t.wave_id = ANY($1::bigint[]) AND t.state = 'QUEUED'"
                     "   AND t.updated_at < now() - $2::bigint * interval '1 ms'"
                     "   AND NOT EXISTS (SELECT 1 FROM task_outbox o WHERE o.task_id = t.id)"
                     "   RETURNING t.id, t.attempt, t.kind)"
                     " INSERT INTO task_outbox (task_id, attempt, topic) SELECT id, attempt,"
                     " CASE WHEN kind = ANY($3::text[]) THEN 'wm.tasks.replication'"
                     " ELSE 'wm.tasks.control' END FROM q",
                     3, p, n, err, errlen);
}

/* Steps 1, 2 and 5: the scans a completion event cannot make necessary. */
static int tick_full_only(struct wm_pg *db, const char *owned, const struct sched_tick_cfg *c,
                          struct sched_tick_stats *st, char *err, size_t errlen)
{
    long n = 0;
    int rc;
    if ((rc = tick_cancel_deltas(db, owned, c, &n, err, errlen)) < 0)
        return rc;
    st->cancelled += n;
    if ((rc = tick_expire_leases(db, owned, c, &n, err, errlen)) < 0)
        return rc;
    st->expired += n;
    if ((rc = tick_kickoff(db, owned, c, &n, err, errlen)) < 0)
        return rc;
    st->created += n;
    return 0;
}

int sched_tick_run(struct wm_pg *db, const char *owned, const struct sched_tick_cfg *c, bool full,
                  struct sched_events *ev, struct sched_tick_stats *st, bool *more, char *err,
                  size_t errlen)
{
    *more = false;
    if (strcmp(owned, "{}") == 0)
        return 0;
    if (!kinds_ok()) {
        snprintf(err, errlen, "tick: out of memory");
        return -ENOMEM;
    }
    long n = 0, done = 0;
    int rc;
    if (full && (rc = tick_full_only(db, owned, c, st, err, errlen)) < 0)
        return rc;
    if ((rc = tick_failed(db, owned, c, ev, st, more, err, errlen)) < 0)
        return rc;
    if ((rc = sched_tick_advance(db, owned, c, ev, &n, &done, more, err, errlen)) < 0)
        return rc;
    st->acted += n;
    if ((rc = tick_issue(db, owned, c, &n, err, errlen)) < 0)
        return rc;
    st->issued += n;
    if (n >= c->batch)
        *more = true;
    if (full || done > 0) {
        if ((rc = tick_waves_done(db, owned, ev, &n, err, errlen)) < 0)
            return rc;
        st->waves_done += n;
    }
    if (full) {
        if ((rc = tick_requeue(db, owned, c, &n, err, errlen)) < 0)
            return rc;
        st->requeued += n;
    }
    return 0;
}
