/* orch_advance — step 4 of a scheduler pass (see orch_tick.h): servers whose
 * current step finished move to their next step.  One transaction per batch;
 * the rows are locked (SKIP LOCKED) so two schedulers never act twice on one
 * completion, and the next task is created in the same transaction that
 * marks the completion acted on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "orch_events.h"
#include "orch_sql.h"
#include "orch_tick.h"
#include "pg.h"
#include "pipeline.h"

enum { F_ID, F_SERVER_ID, F_KIND, F_STATE, F_SERVER, F_WAVE, F_LIFECYCLE, F_STEP, F_OPEN,
       F_PRESKIP };

static const char SQL_FINISHED[] =
    "SELECT t.id, t.server_id, t.kind, t.state, s.name, w.name, s.lifecycle,"
    " coalesce(s.current_step, ''),"
    " (w.cutover_at IS NOT NULL AND w.cutover_at <= now()),"
    " coalesce((SELECT string_agg(k.kind, ',') FROM tasks k WHERE k.server_id = t.server_id"
    "   AND k.state = 'SKIPPED' AND k.attempt = 0 AND k.id <> t.id), '')"
    " FROM tasks t JOIN servers s ON s.id = t.server_id JOIN waves w ON w.id = t.wave_id"
    " WHERE t.wave_id = ANY($1::bigint[]) AND t.acted_at IS NULL"
    " AND t.state IN ('SUCCEEDED', 'SKIPPED', 'CANCELLED')"
    " ORDER BY t.id LIMIT $2::int FOR UPDATE OF t SKIP LOCKED";

static const char SQL_NEXT[] =
    "WITH a AS (UPDATE tasks SET acted_at = now() WHERE id = $1),"
    " s AS (UPDATE servers SET current_step = coalesce($3, current_step), lifecycle = $4,"
    "   error = NULL, last_delta_at = CASE WHEN $6::bool THEN now() ELSE last_delta_at END,"
    "   updated_at = now() WHERE id = $2 RETURNING id, wave_id),"
    " t AS (INSERT INTO tasks (server_id, wave_id, kind, max_attempts, not_before)"
    "   SELECT id, wave_id, $3, $5::int, now() + $7::bigint * interval '1 ms' FROM s"
    "   WHERE $3::text IS NOT NULL ON CONFLICT DO NOTHING RETURNING id)"
    " INSERT INTO task_events (task_id, attempt, state, actor)"
    " SELECT id, 0, 'PENDING', $8 FROM t";

struct next_step {
    const struct pipeline_step *step; /* NULL: pipeline finished */
    const char *lifecycle;
    int64_t delay_ms;
    bool delta_done;
};

static bool preskipped(const char *list, const char *kind)
{
    size_t k = strlen(kind);
    for (const char *p = list; (p = strstr(p, kind)) != NULL; p += k) {
        bool start = p == list || p[-1] == ',';
        bool end = p[k] == '\0' || p[k] == ',';
        if (start && end)
            return true;
    }
    return false;
}

/* The pipeline decision for one finished task of the server's current step. */
static void next_of(const PGresult *r, int i, const struct orch_tick_cfg *c,
                    struct next_step *nx)
{
    const char *kind = PQgetvalue(r, i, F_KIND), *state = PQgetvalue(r, i, F_STATE);
    bool open = PQgetvalue(r, i, F_OPEN)[0] == 't';
    const struct pipeline_step *cur = pipeline_find(kind, NULL);
    bool ok = strcmp(state, "SUCCEEDED") == 0;
    memset(nx, 0, sizeof(*nx));
    nx->delta_done = cur && cur->repeats && ok;
    if (cur && cur->repeats && ok && !open) {
        nx->step = cur; /* another delta sync, one interval later */
        nx->delay_ms = c->delta_interval_ms;
    } else {
        nx->step = pipeline_next(kind);
        while (nx->step && (preskipped(PQgetvalue(r, i, F_PRESKIP), nx->step->kind) ||
                            (nx->step->repeats && open)))
            nx->step = pipeline_next(nx->step->kind);
    }
    if (!nx->step)
        nx->lifecycle = "DONE";
    else if (nx->step->waits_cutover && !open)
        nx->lifecycle = "READY_FOR_CUTOVER";
    else
        nx->lifecycle = nx->step->lifecycle;
}

static int mark_acted(struct wm_pg *db, const char *id, char *err, size_t errlen)
{
    const char *p[] = {id};
    return orch_exec(db, "mark acted", "UPDATE tasks SET acted_at = now() WHERE id = $1", 1, p,
                     NULL, err, errlen);
}

static int advance_one(struct wm_pg *db, const PGresult *r, int i, const struct orch_tick_cfg *c,
                       struct orch_events *ev, char *err, size_t errlen)
{
    const char *lifecycle = PQgetvalue(r, i, F_LIFECYCLE);
    bool current = strcmp(PQgetvalue(r, i, F_KIND), PQgetvalue(r, i, F_STEP)) == 0;
    if (!current || strcmp(lifecycle, "DONE") == 0 || strcmp(lifecycle, "FAILED") == 0)
        return mark_acted(db, PQgetvalue(r, i, F_ID), err, errlen); /* stale: nothing to do */
    struct next_step nx;
    next_of(r, i, c, &nx);
    char maxa[16], delay[24];
    snprintf(maxa, sizeof(maxa), "%d", c->max_attempts);
    snprintf(delay, sizeof(delay), "%lld", (long long)nx.delay_ms);
    const char *p[] = {PQgetvalue(r, i, F_ID), PQgetvalue(r, i, F_SERVER_ID),
                       nx.step ? nx.step->kind : NULL, nx.lifecycle, maxa,
                       nx.delta_done ? "t" : "f", delay, c->actor};
    int rc = orch_exec(db, "next step", SQL_NEXT, 8, p, NULL, err, errlen);
    if (rc == 0 && strcmp(lifecycle, nx.lifecycle) != 0)
        orch_events_add(ev, "server", PQgetvalue(r, i, F_WAVE), PQgetvalue(r, i, F_SERVER),
                        nx.lifecycle, nx.step ? nx.step->kind : NULL);
    return rc;
}

struct adv_arg {
    const char *owned;
    const struct orch_tick_cfg *c;
    struct orch_events *ev;
    size_t mark;
    long n;
};

static int advance_tx(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    struct adv_arg *a = arg;
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", a->c->batch);
    const char *p[] = {a->owned, lim};
    orch_events_rollback(a->ev, a->mark); /* a retried transaction starts over */
    a->n = 0;
    PGresult *r = orch_query(db, "finished tasks", SQL_FINISHED, 2, p, err, errlen);
    if (!r)
        return -EIO;
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++)
        rc = advance_one(db, r, i, a->c, a->ev, err, errlen);
    a->n = PQntuples(r);
    PQclear(r);
    return rc;
}

int orch_tick_advance(struct wm_pg *db, const char *owned, const struct orch_tick_cfg *c,
                      struct orch_events *ev, long *n, bool *more, char *err, size_t errlen)
{
    struct adv_arg a = {.owned = owned, .c = c, .ev = ev, .mark = orch_events_mark(ev)};
    int rc = wm_pg_tx(db, advance_tx, &a, err, errlen);
    if (rc != 0) {
        orch_events_rollback(ev, a.mark);
        return rc < 0 ? rc : -EIO;
    }
    *n = a.n;
    if (a.n >= c->batch)
        *more = true;
    return 0;
}
