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
    "WITH p AS (SELECT * FROM unnest($2::text[], $3::text[], $4::bool[], $5::bool[])"
    "   WITH ORDINALITY AS p(kind, lifecycle, waits, repeats, ord)),"
    " f AS (SELECT t.id, t.server_id, t.wave_id, w.priority, t.kind, t.state,"
    "   s.lifecycle AS old_lc,"
    "   s.name AS server, w.name AS wave,"
    "   (w.cutover_at IS NOT NULL AND w.cutover_at <= now()) AS open,"
    "   (t.kind = s.current_step AND s.lifecycle NOT IN ('DONE', 'FAILED')"
    "    AND t.id = (SELECT max(k.id) FROM tasks k WHERE k.server_id = t.server_id"
    "                AND k.kind = t.kind)) AS cur"
    "   FROM tasks t JOIN servers s ON s.id = t.server_id JOIN waves w ON w.id = t.wave_id"
    "   WHERE t.wave_id = ANY($1::bigint[]) AND t.acted_at IS NULL"
    "   AND t.state IN ('SUCCEEDED', 'SKIPPED', 'CANCELLED')"
    "   ORDER BY t.id LIMIT $6::int FOR UPDATE OF t SKIP LOCKED),"
    " d AS (SELECT f.*, pc.ord AS cur_ord,"
    "   coalesce(pc.repeats AND f.state = 'SUCCEEDED', false) AS delta_done,"
    "   coalesce(pc.repeats AND f.state = 'SUCCEEDED' AND NOT f.open, false) AS again"
    "   FROM f LEFT JOIN p pc ON pc.kind = f.kind),"
    " x AS (SELECT d.*, CASE WHEN d.again THEN d.cur_ord ELSE"
    "   (SELECT min(q.ord) FROM p q WHERE q.ord > d.cur_ord AND NOT (q.repeats AND d.open)"
    "    AND NOT EXISTS (SELECT 1 FROM tasks k WHERE k.server_id = d.server_id"
    "      AND k.kind = q.kind AND k.state = 'SKIPPED' AND k.attempt = 0 AND k.id <> d.id))"
    "   END AS next_ord FROM d),"
    " n AS (SELECT x.*, q.kind AS next_kind,"
    "   CASE WHEN q.kind IS NULL THEN 'DONE'"
    "   WHEN q.waits AND NOT x.open THEN 'READY_FOR_CUTOVER' ELSE q.lifecycle END AS new_lc"
    "   FROM x LEFT JOIN p q ON q.ord = x.next_ord),"
    " a AS (UPDATE tasks t SET acted_at = now() WHERE t.id = ANY (ARRAY(SELECT id FROM f))),"
    " s AS (UPDATE servers s SET current_step = coalesce(n.next_kind, s.current_step),"
    "   lifecycle = n.new_lc, error = NULL, updated_at = now(),"
    "   last_delta_at = CASE WHEN n.delta_done THEN now() ELSE s.last_delta_at END"
    "   FROM n WHERE s.id = n.server_id AND n.cur"
    "   AND s.id = ANY (ARRAY(SELECT server_id FROM n WHERE cur))),"
    " i AS (INSERT INTO tasks (server_id, wave_id, kind, max_attempts, not_before, priority)"
    "   SELECT n.server_id, n.wave_id, n.next_kind, $7::int,"
    "   now() + CASE WHEN n.again THEN $8::bigint ELSE 0 END * interval '1 ms', n.priority"
    "   FROM n WHERE n.cur AND n.next_kind IS NOT NULL ON CONFLICT DO NOTHING RETURNING id),"
    " e AS (INSERT INTO task_events (task_id, attempt, state, actor)"
    "   SELECT id, 0, 'PENDING', $9 FROM i)"
    " SELECT n.cur, n.wave, n.server, n.new_lc, n.old_lc, n.next_kind FROM n";

/* The pipeline table as four array parameters, built once (the table is
 * constant); a member is NULL only if that allocation failed. */
struct pipeline_arrays {
    const char *kinds, *lifecycles, *waits, *repeats;
};

static struct pipeline_arrays parrs;
static struct wm_pgarr parr_bufs[4];
static pthread_once_t parrs_once = PTHREAD_ONCE_INIT;

static void pipeline_arrays_init(void)
{
    size_t n;
    const struct pipeline_step *st = pipeline_steps(&n);
    for (size_t i = 0; i < n; i++) {
        wm_pgarr_text(&parr_bufs[0], st[i].kind);
        wm_pgarr_text(&parr_bufs[1], st[i].lifecycle);
        wm_pgarr_bool(&parr_bufs[2], st[i].waits_cutover);
        wm_pgarr_bool(&parr_bufs[3], st[i].repeats);
    }
    parrs.kinds = wm_pgarr_end(&parr_bufs[0]);
    parrs.lifecycles = wm_pgarr_end(&parr_bufs[1]);
    parrs.waits = wm_pgarr_end(&parr_bufs[2]);
    parrs.repeats = wm_pgarr_end(&parr_bufs[3]);
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
    if (!pa->kinds || !pa->lifecycles || !pa->waits || !pa->repeats) {
        snprintf(err, errlen, "advance: out of memory");
        return -ENOMEM;
    }
    char lim[16], maxa[16], delay[24];
    snprintf(lim, sizeof(lim), "%d", c->batch);
    snprintf(maxa, sizeof(maxa), "%d", c->max_attempts);
    snprintf(delay, sizeof(delay), "%lld", (long long)c->delta_interval_ms);
    const char *p[] = {owned, pa->kinds, pa->lifecycles, pa->waits, pa->repeats,
                       lim, maxa, delay, c->actor};
    static const struct pgprep advance = {"wm_sched_advance", SQL_ADVANCE, 9};
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
        sched_events_add(ev, "server", PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
                        PQgetvalue(r, i, 3), PQgetisnull(r, i, 5) ? NULL : PQgetvalue(r, i, 5));
    }
    PQclear(r);
    if (*n >= c->batch)
        *more = true;
    return 0;
}
