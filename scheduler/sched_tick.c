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
    const char *repl, *launch, *cutover, *repl_topic, *repeats, *undoable, *approval, *finalize;
};

static struct kind_sets kind_sets;
static struct wm_pgarr kind_bufs[8];
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
    kind_sets.undoable = kind_set(&kind_bufs[5], SCHED_KINDS_UNDOABLE);
    kind_sets.approval = kind_set(&kind_bufs[6], SCHED_KINDS_APPROVAL);
    kind_sets.finalize = kind_set(&kind_bufs[7], SCHED_KINDS_FINALIZE);
}

static const struct kind_sets *kinds(void)
{
    pthread_once(&kind_sets_once, kind_sets_init);
    return &kind_sets;
}

static bool kinds_ok(void)
{
    const struct kind_sets *k = kinds();
    return k->repl && k->launch && k->cutover && k->repl_topic && k->repeats && k->undoable &&
           k->approval && k->finalize;
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

/* --- 2. a worker that died leaves its lease to expire ---
 * A lost worker is not the task's fault: the attempt is given back
 * (max_attempts + 1, as a release does) and counted in lost_leases; a task
 * that has lost max_lost_leases workers is a poison task and fails for good. */
static int tick_expire_leases(struct wm_pg *db, const char *owned,
                              const struct sched_tick_cfg *c, long *n, char *err, size_t errlen)
{
    char maxl[16];
    snprintf(maxl, sizeof(maxl), "%d", c->max_lost_leases);
    const char *p[] = {owned, c->actor, maxl};
    return sched_exec(db, "expire leases",
                     "WITH x AS (UPDATE tasks SET state = 'FAILED', finished_at = now(),"
                     "   lost_leases = lost_leases + 1,"
                     "   max_attempts = max_attempts"
                     "     + CASE WHEN lost_leases + 1 < $3::int THEN 1 ELSE 0 END,"
                     "   error_permanent = (lost_leases + 1 >= $3::int),"
                     "   error = CASE WHEN lost_leases + 1 >= $3::int"
                     "     THEN 'poison task: ' || (lost_leases + 1) || ' workers lost while"
                     " running it' ELSE 'lease expired (worker lost; not counted as an attempt)'"
                     "     END, lease_owner = NULL, lease_expires = NULL, updated_at = now()"
                     "   WHERE wave_id = ANY($1::bigint[]) AND state = 'RUNNING'"
                     "   AND lease_expires < now() RETURNING id, attempt, error)"
                     " INSERT INTO task_events (task_id, attempt, state, actor, message)"
                     " SELECT id, attempt, 'FAILED', $2, error FROM x",
                     3, p, n, err, errlen);
}

/* --- 3. failed attempts: backoff retry, or the server fails --- */
/* A failure is retried while attempts remain and the handler did not call it
 * permanent.  Out of retries, a cutover step that may still be undone (the
 * source was not shut down) rolls the server back: lifecycle ROLLING_BACK
 * and a rollback_cutover task; anything else fails the server. */
static const char SQL_FAILED[] =
    "WITH f AS (SELECT t.id FROM tasks t WHERE t.wave_id = ANY($1::bigint[])"
    "   AND t.acted_at IS NULL AND t.state = 'FAILED' ORDER BY t.id LIMIT $5::int"
    "   FOR UPDATE SKIP LOCKED),"
    " r AS (UPDATE tasks t SET state = 'PENDING', acted_at = now(), updated_at = now(),"
    "   not_before = now() + least($3::bigint"
    "     * power(2, greatest(t.attempt - t.lost_leases, 1) - 1), $4::bigint) * interval '1 ms'"
    "   FROM f WHERE t.id = f.id AND t.id = ANY (ARRAY(SELECT id FROM f))"
    "   AND t.attempt < t.max_attempts AND NOT t.error_permanent"
    "   RETURNING t.id, t.attempt, t.max_attempts, t.lost_leases, t.not_before),"
    " re AS (INSERT INTO task_events (task_id, attempt, state, actor, message)"
    "   SELECT id, attempt, 'PENDING', $2, 'retry ' || (attempt + 1 - lost_leases) || '/'"
    "   || (max_attempts - lost_leases)"
    "   || ' after ' || round(extract(epoch FROM not_before - now()) * 1000) || ' ms' FROM r),"
    " g AS (UPDATE tasks t SET acted_at = now() FROM f"
    "   WHERE t.id = f.id AND t.id = ANY (ARRAY(SELECT id FROM f))"
    "   AND (t.attempt >= t.max_attempts OR t.error_permanent)"
    "   RETURNING t.id, t.server_id, t.wave_id, t.priority, t.kind, t.error,"
    "   t.attempt - t.lost_leases AS used, t.error_permanent),"
    " gr AS (SELECT g.*, (g.kind = ANY($6::text[]) AND s.source_down_at IS NULL"
    "   AND s.lifecycle NOT IN ('DONE', 'FAILED', 'ROLLING_BACK')) AS rb,"
    "   g.kind || CASE WHEN g.error_permanent THEN ' failed (not retried): '"
    "   ELSE ' failed after ' || g.used || ' attempts: ' END"
    "   || coalesce(g.error, 'unknown error') AS why"
    "   FROM g JOIN servers s ON s.id = g.server_id),"
    " b AS (UPDATE servers s SET lifecycle = 'ROLLING_BACK', current_step = $7,"
    "   updated_at = now(), error = gr.why || '; rolling the cutover back'"
    "   FROM gr WHERE s.id = gr.server_id AND gr.rb"
    "   RETURNING s.id, s.name, s.wave_id, s.error, s.target_provider),"
    " bt AS (INSERT INTO tasks (server_id, wave_id, kind, max_attempts, priority, params)"
    "   SELECT gr.server_id, gr.wave_id, $7, $8::int, gr.priority,"
    "   jsonb_build_object('to', 'READY_FOR_CUTOVER', 'reason', gr.why) FROM gr WHERE gr.rb"
    "   ON CONFLICT DO NOTHING RETURNING id),"
    " be AS (INSERT INTO task_events (task_id, attempt, state, actor, message)"
    "   SELECT id, 0, 'PENDING', $2, 'automatic rollback' FROM bt),"
    " s AS (UPDATE servers s SET lifecycle = 'FAILED', updated_at = now(), error = gr.why"
    "   FROM gr WHERE s.id = gr.server_id AND NOT gr.rb AND s.lifecycle <> 'DONE'"
    "   RETURNING s.id, s.name, s.wave_id, s.error, s.target_provider)"
    " SELECT 'r', NULL, NULL, NULL, NULL, NULL FROM r"
    " UNION ALL SELECT 'f', s.name, w.name, s.error, s.id::text,"
    " (s.target_provider = 'sim')::text FROM s JOIN waves w ON w.id = s.wave_id"
    " UNION ALL SELECT 'b', b.name, w.name, b.error, b.id::text,"
    " (b.target_provider = 'sim')::text FROM b JOIN waves w ON w.id = b.wave_id";

static int tick_failed(struct wm_pg *db, const char *owned, const struct sched_tick_cfg *c,
                       struct sched_events *ev, struct sched_tick_stats *st, bool *more,
                       char *err, size_t errlen)
{
    char b[24], bmax[24], lim[16];
    snprintf(b, sizeof(b), "%lld", (long long)c->retry_backoff_ms);
    snprintf(bmax, sizeof(bmax), "%lld", (long long)c->retry_backoff_max_ms);
    snprintf(lim, sizeof(lim), "%d", c->batch);
    char maxa[16];
    snprintf(maxa, sizeof(maxa), "%d", c->max_attempts);
    const char *p[] = {owned, c->actor, b, bmax, lim, kinds()->undoable,
                       pipeline_steps(&(size_t){0})[PIPE_ROLLBACK_CUTOVER].kind, maxa};
    static const struct pgprep failed = {"wm_sched_failed", SQL_FAILED, 8};
    PGresult *r = pgprep_query(db, &failed, p, err, errlen);
    if (!r)
        return -EIO;
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        char what = PQgetvalue(r, i, 0)[0];
        if (what == 'r') {
            st->retried++;
            continue;
        }
        if (what == 'b')
            st->rolled_back++;
        else
            st->failed++;
        sched_events_add(ev, "server", strtoll(PQgetvalue(r, i, 4), NULL, 10),
                         PQgetvalue(r, i, 2), PQgetvalue(r, i, 1),
                         what == 'b' ? "ROLLING_BACK" : "FAILED", PQgetvalue(r, i, 3),
                         strcmp(PQgetvalue(r, i, 5), "true") == 0);
    }
    PQclear(r);
    if (n >= c->batch)
        *more = true;
    return 0;
}

/* --- 4b. finished rollbacks: the server is back where the rollback said
 * (params.to), held until the operator approves its cutover again; the
 * reason stays in servers.error for `status` --- */
static const char SQL_ROLLED_BACK[] =
    "WITH f AS (SELECT t.id, t.server_id, t.wave_id, t.priority, t.state,"
    "   coalesce(t.params->>'to', 'READY_FOR_CUTOVER') AS dest,"
    "   (s.current_step = t.kind AND t.id = (SELECT max(k.id) FROM tasks k"
    "    WHERE k.server_id = t.server_id AND k.kind = t.kind)) AS cur"
    "   FROM tasks t JOIN servers s ON s.id = t.server_id"
    "   WHERE t.wave_id = ANY($1::bigint[]) AND t.acted_at IS NULL AND t.kind = $2"
    "   AND t.state IN ('SUCCEEDED', 'SKIPPED', 'CANCELLED')"
    "   ORDER BY t.id LIMIT $3::int FOR UPDATE OF t SKIP LOCKED),"
    " a AS (UPDATE tasks t SET acted_at = now() WHERE t.id = ANY (ARRAY(SELECT id FROM f))),"
    " n AS (SELECT f.*, CASE WHEN f.dest = 'READY_FOR_TEST' THEN $4 ELSE $5 END AS next_kind"
    "   FROM f WHERE f.cur AND f.state IN ('SUCCEEDED', 'SKIPPED')),"
    " s AS (UPDATE servers s SET lifecycle = n.dest, current_step = n.next_kind,"
    "   cutover_hold = true, approved_at = NULL, updated_at = now(),"
    "   error = replace(coalesce(s.error, 'reverted by the operator'),"
    "                   'rolling the cutover back', 'cutover rolled back')"
    "   FROM n WHERE s.id = n.server_id"
    "   RETURNING s.id, s.name, s.wave_id, s.lifecycle, s.error, s.target_provider),"
    " i AS (INSERT INTO tasks (server_id, wave_id, kind, max_attempts, priority)"
    "   SELECT server_id, wave_id, next_kind, $6::int, priority FROM n"
    "   ON CONFLICT DO NOTHING RETURNING id),"
    " e AS (INSERT INTO task_events (task_id, attempt, state, actor)"
    "   SELECT id, 0, 'PENDING', $7 FROM i)"
    " SELECT s.name, w.name, s.lifecycle, s.error, s.id::text, (s.target_provider = 'sim')::text"
    " FROM s JOIN waves w ON w.id = s.wave_id";

static int tick_rolled_back(struct wm_pg *db, const char *owned, const struct sched_tick_cfg *c,
                            struct sched_events *ev, long *n, char *err, size_t errlen)
{
    const struct pipeline_step *st = pipeline_steps(&(size_t){0});
    char lim[16], maxa[16];
    snprintf(lim, sizeof(lim), "%d", c->batch);
    snprintf(maxa, sizeof(maxa), "%d", c->max_attempts);
    const char *p[] = {owned, st[PIPE_ROLLBACK_CUTOVER].kind, lim, st[PIPE_LAUNCH_TEST].kind,
                       st[PIPE_DELTA_SYNC].kind, maxa, c->actor};
    static const struct pgprep rolled = {"wm_sched_rolled_back", SQL_ROLLED_BACK, 7};
    PGresult *r = pgprep_query(db, &rolled, p, err, errlen);
    if (!r)
        return -EIO;
    *n = PQntuples(r);
    for (int i = 0; i < PQntuples(r); i++)
        sched_events_add(ev, "server", strtoll(PQgetvalue(r, i, 4), NULL, 10), PQgetvalue(r, i, 1),
                         PQgetvalue(r, i, 0), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
                         strcmp(PQgetvalue(r, i, 5), "true") == 0);
    PQclear(r);
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
    " cap AS (SELECT w.id, w.priority, w.cutover_at, w.require_approval, w.finalize_after,"
    "   w.max_parallel - coalesce((SELECT sum(n) FROM live l"
    "     WHERE l.wave_id = w.id AND l.rep), 0) AS rep_room,"
    "   w.max_launching - coalesce((SELECT sum(n) FROM live l"
    "     WHERE l.wave_id = w.id AND NOT l.rep), 0) AS launch_room"
    "   FROM waves w WHERE w.id = ANY($1::bigint[]) AND w.status = 'RUNNING'),"
    " cand AS (SELECT t.id, t.wave_id, t.priority, t.not_before, c.rep_room, c.launch_room,"
    "   CASE WHEN t.kind = ANY($2::text[]) THEN 1"
    "   WHEN t.kind = ANY($3::text[]) THEN 2 ELSE 0 END AS cls"
    "   FROM tasks t JOIN cap c ON c.id = t.wave_id JOIN servers s ON s.id = t.server_id"
    "   WHERE t.state = 'PENDING' AND t.not_before <= now()"
    "   AND (NOT t.kind = ANY($4::text[]) OR c.cutover_at <= now())"
    "   AND (NOT t.kind = ANY($10::text[]) OR (NOT s.cutover_hold"
    "        AND (NOT c.require_approval OR s.approved_at IS NOT NULL)))"
    "   AND (NOT t.kind = ANY($11::text[]) OR s.finalized_at IS NOT NULL"
    "        OR t.created_at + c.finalize_after <= now())"
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
    "   RETURNING t.id, t.attempt, t.kind, t.server_id),"
    " lc AS (UPDATE servers s SET lifecycle = $12, updated_at = now() FROM upd"
    "   WHERE s.id = upd.server_id AND upd.kind = ANY($10::text[])"
    "   AND s.lifecycle = 'READY_FOR_CUTOVER'),"
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
                       qlim, k->approval, k->finalize,
                       pipeline_steps(&(size_t){0})[PIPE_STOP_SOURCE_SERVICES].lifecycle};
    static const struct pgprep issue = {"wm_sched_issue", SQL_ISSUE, 12};
    PGresult *r = pgprep_query(db, &issue, p, err, errlen);
    if (!r)
        return -EIO;
    *n = strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return 0;
}

/* --- 7. waves whose servers all finished: DONE when every server is DONE,
 * FAILED when some failed (an operator's retry runs the wave again) --- */
static int tick_waves_done(struct wm_pg *db, const char *owned, struct sched_events *ev,
                           long *n, char *err, size_t errlen)
{
    const char *p[] = {owned};
    PGresult *r = sched_query(db, "waves done",
                             "UPDATE waves w SET finished_at = now(), updated_at = now(),"
                             " status = CASE WHEN EXISTS (SELECT 1 FROM servers s"
                             "   WHERE s.wave_id = w.id AND s.lifecycle = 'FAILED')"
                             "   THEN 'FAILED' ELSE 'DONE' END"
                             " WHERE w.id = ANY($1::bigint[]) AND w.status = 'RUNNING'"
                             " AND EXISTS (SELECT 1 FROM servers s WHERE s.wave_id = w.id)"
                             " AND NOT EXISTS (SELECT 1 FROM servers s"
                             " WHERE s.wave_id = w.id AND s.lifecycle NOT IN ('DONE', 'FAILED'))"
                             " RETURNING w.name, w.status, w.id, NOT EXISTS (SELECT 1 FROM servers s"
                             " WHERE s.wave_id = w.id AND s.target_provider <> 'sim') AS sim",
                             1, p, err, errlen);
    if (!r)
        return -EIO;
    *n = PQntuples(r);
    for (int i = 0; i < PQntuples(r); i++)
        sched_events_add(ev, "wave", strtoll(PQgetvalue(r, i, 2), NULL, 10), PQgetvalue(r, i, 0),
                         NULL, PQgetvalue(r, i, 1), NULL, PQgetvalue(r, i, 3)[0] == 't');
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
    if ((rc = tick_rolled_back(db, owned, c, ev, &n, err, errlen)) < 0)
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
