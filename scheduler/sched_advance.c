/* sched_advance — step 4 of a scheduler pass (see sched_tick.h): servers whose
 * current step finished move to their next step.
 *
 * One statement per batch, so it is atomic and costs one round trip however
 * many servers move: the finished tasks are locked (SKIP LOCKED: two
 * schedulers never act twice on one completion), marked acted on, their
 * servers moved to the next step and the next tasks created (PENDING) with
 * their task_events.  The pipeline table travels as array parameters, so
 * pipeline.c stays the one place that defines it.
 *
 * Next step: a successful delta_sync repeats (after scheduler.delta_interval)
 * while the cutover window is closed; otherwise the first later step that
 * was not skipped ahead of time by the operator, passing over delta_sync
 * once the window is open.  A finished task that is not the server's
 * current step (stale) is only marked acted on. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_events.h"
#include "sched_sql.h"
#include "sched_tick.h"
#include "pg.h"
#include "pgarr.h"
#include "pgprep.h"
#include "pipeline.h"

static const char SQL_ADVANCE[] =
    "WITH p AS (SELECT * FROM unnest($2::text[], $3::text[], $4::bool[], $5::bool[],"
    "   $10::int[], $11::int[]) AS p(kind, lifecycle, waits, repeats, ord_v, ord_f)),"
    " f AS (SELECT t.id, t.server_id, t.wave_id, w.priority, t.kind, t.state,"
    "   s.lifecycle AS old_lc,"
    "   s.name AS server, w.name AS wave, s.target_provider = 'sim' AS sim,"
    "   (w.source_shutdown = 'after_final_delta') AS early,"
    "   (s.cutover_hold OR (w.require_approval AND s.approved_at IS NULL)) AS held,"
    "   (w.cutover_at IS NOT NULL AND w.cutover_at <= now()) AS open,"
    "   (t.kind = s.current_step AND s.lifecycle NOT IN ('DONE', 'FAILED')"
    "    AND t.id = (SELECT max(k.id) FROM tasks k WHERE k.server_id = t.server_id"
    "                AND k.kind = t.kind)) AS cur"
    "   FROM tasks t JOIN servers s ON s.id = t.server_id JOIN waves w ON w.id = t.wave_id"
    "   WHERE t.wave_id = ANY($1::bigint[]) AND t.acted_at IS NULL"
    "   AND t.state IN ('SUCCEEDED', 'SKIPPED', 'CANCELLED') AND t.kind = ANY($2::text[])"
    "   ORDER BY t.id LIMIT $6::int FOR UPDATE OF t SKIP LOCKED),"
    " d AS (SELECT f.*, CASE WHEN f.early THEN pc.ord_f ELSE pc.ord_v END AS cur_ord,"
    "   coalesce(pc.repeats AND f.state = 'SUCCEEDED', false) AS delta_done,"
    "   coalesce(pc.repeats AND f.state = 'SUCCEEDED' AND NOT f.open, false) AS again"
    "   FROM f LEFT JOIN p pc ON pc.kind = f.kind),"
    " x AS (SELECT d.*, CASE WHEN d.again THEN d.cur_ord ELSE"
    "   (SELECT min(CASE WHEN d.early THEN q.ord_f ELSE q.ord_v END) FROM p q"
    "    WHERE CASE WHEN d.early THEN q.ord_f ELSE q.ord_v END > d.cur_ord"
    "    AND NOT (q.repeats AND d.open)"
    "    AND NOT EXISTS (SELECT 1 FROM tasks k WHERE k.server_id = d.server_id"
    "      AND k.kind = q.kind AND k.state = 'SKIPPED' AND k.attempt = 0 AND k.id <> d.id))"
    "   END AS next_ord FROM d),"
    " n AS (SELECT x.*, q.kind AS next_kind,"
    "   CASE WHEN q.kind IS NULL THEN 'DONE'"
    "   WHEN q.waits AND (NOT x.open OR (x.held AND q.kind = ANY($12::text[])))"
    "     THEN 'READY_FOR_CUTOVER'"
    "   ELSE coalesce(q.lifecycle, x.old_lc) END AS new_lc"
    "   FROM x LEFT JOIN p q ON CASE WHEN x.early THEN q.ord_f ELSE q.ord_v END = x.next_ord),"
    " a AS (UPDATE tasks t SET acted_at = now() WHERE t.id = ANY (ARRAY(SELECT id FROM f))),"
    " s AS (UPDATE servers s SET current_step = coalesce(n.next_kind, s.current_step),"
    "   lifecycle = n.new_lc, error = CASE WHEN s.cutover_hold THEN s.error END,"
    "   updated_at = now(),"
    "   last_delta_at = CASE WHEN n.delta_done THEN now() ELSE s.last_delta_at END,"
    "   source_down_at = CASE WHEN n.kind = $13 AND n.state = 'SUCCEEDED' THEN now()"
    "     ELSE s.source_down_at END"
    "   FROM n WHERE s.id = n.server_id AND n.cur"
    "   AND s.id = ANY (ARRAY(SELECT server_id FROM n WHERE cur))),"
    " i AS (INSERT INTO tasks (server_id, wave_id, kind, max_attempts, not_before, priority)"
    "   SELECT n.server_id, n.wave_id, n.next_kind, $7::int,"
    "   now() + CASE WHEN n.again THEN $8::bigint ELSE 0 END * interval '1 ms', n.priority"
    "   FROM n WHERE n.cur AND n.next_kind IS NOT NULL ON CONFLICT DO NOTHING RETURNING id),"
    " e AS (INSERT INTO task_events (task_id, attempt, state, actor)"
    "   SELECT id, 0, 'PENDING', $9 FROM i)"
    " SELECT n.cur, n.wave, n.server, n.new_lc, n.old_lc, n.next_kind, n.server_id, n.sim FROM n";

/* The pipeline's sequence as array parameters (kinds, lifecycles, waits,
 * repeats, position under either shutdown policy, the approval-gated kinds),
 * built once (the table is constant); a member is NULL only if that
 * allocation failed. */
struct pipeline_arrays {
    const char *kinds, *lifecycles, *waits, *repeats, *ord_v, *ord_f, *gated;
};

static struct pipeline_arrays parrs;
static struct wm_pgarr parr_bufs[7];
static pthread_once_t parrs_once = PTHREAD_ONCE_INIT;

static void pipeline_arrays_init(void)
{
    size_t n;
    const struct pipeline_step *st = pipeline_steps(&n);
    for (size_t i = 0; i < n; i++) {
        if (st[i].aux)
            continue;
        wm_pgarr_text(&parr_bufs[0], st[i].kind);
        wm_pgarr_text(&parr_bufs[1], st[i].lifecycle);
        wm_pgarr_bool(&parr_bufs[2], st[i].waits_cutover);
        wm_pgarr_bool(&parr_bufs[3], st[i].repeats);
        wm_pgarr_int(&parr_bufs[4], pipeline_position(i, PIPE_SHUTDOWN_AFTER_VALIDATE), false);
        wm_pgarr_int(&parr_bufs[5], pipeline_position(i, PIPE_SHUTDOWN_AFTER_FINAL_DELTA), false);
        if (st[i].waits_approval)
            wm_pgarr_text(&parr_bufs[6], st[i].kind);
    }
    parrs.kinds = wm_pgarr_end(&parr_bufs[0]);
    parrs.lifecycles = wm_pgarr_end(&parr_bufs[1]);
    parrs.waits = wm_pgarr_end(&parr_bufs[2]);
    parrs.repeats = wm_pgarr_end(&parr_bufs[3]);
    parrs.ord_v = wm_pgarr_end(&parr_bufs[4]);
    parrs.ord_f = wm_pgarr_end(&parr_bufs[5]);
    parrs.gated = wm_pgarr_end(&parr_bufs[6]);
}

static const struct pipeline_arrays *pipeline_arrays(void)
{
    pthread_once(&parrs_once, pipeline_arrays_init);
    return &parrs;
}

int sched_tick_advance(struct wm_pg *db, const char *owned, const struct sched_tick_cfg *c,
                      struct sched_events *ev, long *n, long *done, bool *more, char *err,
                      size_t errlen)
{
    const struct pipeline_arrays *pa = pipeline_arrays();
    if (!pa->kinds || !pa->lifecycles || !pa->waits || !pa->repeats || !pa->ord_v ||
        !pa->ord_f || !pa->gated) {
        snprintf(err, errlen, "advance: out of memory");
        return -ENOMEM;
    }
    char lim[16], maxa[16], delay[24];
    snprintf(lim, sizeof(lim), "%d", c->batch);
    snprintf(maxa, sizeof(maxa), "%d", c->max_attempts);
    snprintf(delay, sizeof(delay), "%lld", (long long)c->delta_interval_ms);
    const char *p[] = {owned, pa->kinds, pa->lifecycles, pa->waits, pa->repeats,
                       lim, maxa, delay, c->actor, pa->ord_v, pa->ord_f, pa->gated,
                       pipeline_steps(&(size_t){0})[PIPE_SHUTDOWN_SOURCE].kind};
    static const struct pgprep advance = {"wm_sched_advance", SQL_ADVANCE, 13};
    PGresult *r = pgprep_query(db, &advance, p, err, errlen);
    if (!r)
        return -EIO;
    *n = PQntuples(r);
    *done = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        if (PQgetvalue(r, i, 0)[0] != 't' || strcmp(PQgetvalue(r, i, 3), PQgetvalue(r, i, 4)) == 0)
            continue;
        if (strcmp(PQgetvalue(r, i, 3), "DONE") == 0)
            (*done)++;
        sched_events_add(ev, "server", strtoll(PQgetvalue(r, i, 6), NULL, 10), PQgetvalue(r, i, 1),
                        PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
                        PQgetisnull(r, i, 5) ? NULL : PQgetvalue(r, i, 5),
                        PQgetvalue(r, i, 7)[0] == 't');
    }
    PQclear(r);
    if (*n >= c->batch)
        *more = true;
    return 0;
}
