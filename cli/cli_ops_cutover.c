/* cli_ops (cutover) — approve, revert and finalize of a server (see
 * cli_ops.h).  Each is one transaction on the locked server row; the
 * scheduler does the work they ask for (a rollback_cutover task, the
 * cutover issued after an approval, decommission after a finalize). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_ops.h"
#include "cli_ops_int.h"
#include "pg.h"
#include "pipeline.h"
#include "sched_sql.h"

struct cut_row {
    char id[24], wave_id[24], lifecycle[32], step[64], source_down[40];
    bool approved, held, finalized;
};

struct cut_arg {
    const char *server;
    const char *to; /* revert: READY_FOR_TEST or READY_FOR_CUTOVER */
    bool force;
    const char *actor;
};

static int cut_lock(struct wm_pg *db, const char *name, struct cut_row *s, char *err,
                    size_t errlen)
{
    const char *p[] = {name};
    PGresult *r = sched_query(db, "server lookup",
                             "SELECT id, wave_id, lifecycle, coalesce(current_step, ''),"
                             " coalesce(to_char(source_down_at AT TIME ZONE 'UTC',"
                             "   'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''),"
                             " approved_at IS NOT NULL, cutover_hold, finalized_at IS NOT NULL"
                             " FROM servers WHERE name = $1 FOR UPDATE",
                             1, p, err, errlen);
    if (!r)
        return -EIO;
    if (PQntuples(r) == 0) {
        PQclear(r);
        snprintf(err, errlen, "no server named '%s'", name);
        return -ENOENT;
    }
    snprintf(s->id, sizeof(s->id), "%s", PQgetvalue(r, 0, 0));
    snprintf(s->wave_id, sizeof(s->wave_id), "%s", PQgetvalue(r, 0, 1));
    snprintf(s->lifecycle, sizeof(s->lifecycle), "%s", PQgetvalue(r, 0, 2));
    snprintf(s->step, sizeof(s->step), "%s", PQgetvalue(r, 0, 3));
    snprintf(s->source_down, sizeof(s->source_down), "%s", PQgetvalue(r, 0, 4));
    s->approved = PQgetvalue(r, 0, 5)[0] == 't';
    s->held = PQgetvalue(r, 0, 6)[0] == 't';
    s->finalized = PQgetvalue(r, 0, 7)[0] == 't';
    PQclear(r);
    return 0;
}

static bool lifecycle_in(const char *lc, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(lc, *set) == 0)
            return true;
    return false;
}

/* --- approve --- */

static int approve_tx(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    const struct cut_arg *a = arg;
    static const char *const ok[] = {"READY_FOR_TEST", "TESTING", "READY_FOR_CUTOVER", NULL};
    struct cut_row s;
    int rc = cut_lock(db, a->server, &s, err, errlen);
    if (rc < 0)
        return rc;
    if (!lifecycle_in(s.lifecycle, ok)) {
        snprintf(err, errlen, "server '%s' is %s: approve marks a tested server ready for "
                              "cutover (READY_FOR_TEST, TESTING or READY_FOR_CUTOVER)",
                 a->server, s.lifecycle);
        return -EPERM;
    }
    if (s.approved && !s.held) {
        snprintf(err, errlen, "server '%s' is already approved for cutover", a->server);
        return -EALREADY;
    }
    const char *p[] = {s.id};
    rc = sched_exec(db, "server approve",
                   "UPDATE servers SET approved_at = now(), updated_at = now(),"
                   " error = CASE WHEN cutover_hold THEN NULL ELSE error END,"
                   " cutover_hold = false WHERE id = $1",
                   1, p, NULL, err, errlen);
    return rc < 0 ? rc : cli_ops_notify(db, a->server, err, errlen);
}

int cli_ops_server_approve(struct wm_pg *db, const char *server, const char *actor, char *err,
                           size_t errlen)
{
    struct cut_arg a = {.server = server, .actor = actor};
    return wm_pg_tx(db, approve_tx, &a, err, errlen);
}

/* --- revert --- */

/* Whether the server is past the point a revert to `to` goes back to. */
static bool revert_allowed(const struct cut_row *s, const char *to)
{
    static const char *const after_test[] = {"TESTING", "READY_FOR_CUTOVER", "CUTTING_OVER",
                                             "CUTOVER", "POST_MIGRATION", "FAILED", NULL};
    static const char *const after_cut[] = {"CUTTING_OVER", "CUTOVER", "POST_MIGRATION",
                                            "FAILED", NULL};
    if (strcmp(to, "READY_FOR_TEST") == 0)
        return lifecycle_in(s->lifecycle, after_test);
    return lifecycle_in(s->lifecycle, after_cut);
}

static int revert_refusal(const struct cut_arg *a, const struct cut_row *s, char *err,
                          size_t errlen)
{
    if (s->finalized || strcmp(s->lifecycle, "DONE") == 0) {
        snprintf(err, errlen, "server '%s' was finalized: its migration cannot be reverted",
                 a->server);
        return -EPERM;
    }
    if (strcmp(s->lifecycle, "ROLLING_BACK") == 0) {
        snprintf(err, errlen, "server '%s' is already rolling back", a->server);
        return -EALREADY;
    }
    if (s->source_down[0] && !a->force) {
        snprintf(err, errlen, "server '%s': the source was shut down at %s; power it on, "
                              "then revert with --force",
                 a->server, s->source_down);
        return -EPERM;
    }
    if (strcmp(s->lifecycle, a->to) == 0) {
        snprintf(err, errlen, "server '%s' is already %s", a->server, a->to);
        return -EALREADY;
    }
    if (!revert_allowed(s, a->to)) {
        snprintf(err, errlen, "server '%s' is %s: nothing to revert to %s", a->server,
                 s->lifecycle, a->to);
        return -EPERM;
    }
    return 0;
}

/* Live tasks of the server end (a worker still running one finds its
 * completion refused), then one rollback_cutover task takes it back. */
static int revert_tasks(struct wm_pg *db, const struct cut_arg *a, const struct cut_row *s,
                        char *err, size_t errlen)
{
    const char *rb = pipeline_steps(&(size_t){0})[PIPE_ROLLBACK_CUTOVER].kind;
    const char *p[] = {s->id, cli_ops_actor_of(a->actor), rb, s->wave_id, a->to};
    return sched_exec(
        db, "revert tasks",
        "WITH c AS (UPDATE tasks SET state = 'CANCELLED', finished_at = now(),"
        "   lease_owner = NULL, lease_expires = NULL, acted_at = now(), updated_at = now()"
        "   WHERE server_id = $1 AND state IN ('PENDING', 'QUEUED', 'RUNNING')"
        "   RETURNING id, attempt),"
        " o AS (DELETE FROM task_outbox WHERE task_id IN (SELECT id FROM c)),"
        " ce AS (INSERT INTO task_events (task_id, attempt, state, actor, message)"
        "   SELECT id, attempt, 'CANCELLED', $2, 'revert by operator' FROM c),"
        " n AS (INSERT INTO tasks (server_id, wave_id, kind, priority, params)"
        "   SELECT $1::bigint, $4::bigint, $3, w.priority,"
        "   jsonb_build_object('to', $5::text, 'reason', 'revert by operator')"
        "   FROM waves w WHERE w.id = $4::bigint RETURNING id)"
        " INSERT INTO task_events (task_id, attempt, state, actor, message)"
        " SELECT id, 0, 'PENDING', $2, 'revert to ' || $5 FROM n",
        5, p, NULL, err, errlen);
}

static int revert_tx(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    const struct cut_arg *a = arg;
    struct cut_row s;
    int rc = cut_lock(db, a->server, &s, err, errlen);
    if (rc < 0 || (rc = revert_refusal(a, &s, err, errlen)) < 0)
        return rc;
    if ((rc = revert_tasks(db, a, &s, err, errlen)) < 0)
        return rc;
    const char *rb = pipeline_steps(&(size_t){0})[PIPE_ROLLBACK_CUTOVER].kind;
    char why[160];
    snprintf(why, sizeof(why), "revert to %s by %s", a->to, cli_ops_actor_of(a->actor));
    const char *p[] = {s.id, rb, why};
    rc = sched_exec(db, "server revert",
                   "UPDATE servers SET lifecycle = 'ROLLING_BACK', current_step = $2,"
                   " error = $3, approved_at = NULL, updated_at = now() WHERE id = $1",
                   3, p, NULL, err, errlen);
    return rc < 0 ? rc : cli_ops_notify(db, a->server, err, errlen);
}

int cli_ops_server_revert(struct wm_pg *db, const char *server, const char *to, bool force,
                          const char *actor, char *err, size_t errlen)
{
    if (!to || (strcmp(to, "READY_FOR_TEST") != 0 && strcmp(to, "READY_FOR_CUTOVER") != 0)) {
        snprintf(err, errlen, "revert goes to READY_FOR_TEST or READY_FOR_CUTOVER, not '%s'",
                 to ? to : "");
        return -EINVAL;
    }
    struct cut_arg a = {.server = server, .to = to, .force = force, .actor = actor};
    return wm_pg_tx(db, revert_tx, &a, err, errlen);
}

/* --- finalize --- */

static int finalize_tx(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    const struct cut_arg *a = arg;
    static const char *const ok[] = {"CUTOVER", "POST_MIGRATION", NULL};
    struct cut_row s;
    int rc = cut_lock(db, a->server, &s, err, errlen);
    if (rc < 0)
        return rc;
    if (s.finalized || strcmp(s.lifecycle, "DONE") == 0) {
        snprintf(err, errlen, "server '%s' is already finalized", a->server);
        return -EALREADY;
    }
    if (!lifecycle_in(s.lifecycle, ok)) {
        snprintf(err, errlen, "server '%s' is %s: finalize accepts a cutover (CUTOVER or "
                              "POST_MIGRATION)",
                 a->server, s.lifecycle);
        return -EPERM;
    }
    const char *p[] = {s.id};
    rc = sched_exec(db, "server finalize",
                   "UPDATE servers SET finalized_at = now(), updated_at = now() WHERE id = $1",
                   1, p, NULL, err, errlen);
    return rc < 0 ? rc : cli_ops_notify(db, a->server, err, errlen);
}

int cli_ops_server_finalize(struct wm_pg *db, const char *server, const char *actor, char *err,
                            size_t errlen)
{
    struct cut_arg a = {.server = server, .actor = actor};
    return wm_pg_tx(db, finalize_tx, &a, err, errlen);
}
