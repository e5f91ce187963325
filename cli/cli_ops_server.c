/* cli_ops (servers) — server retry and skip (see cli_ops.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_ops.h"
#include "cli_ops_int.h"
#include "sched_sql.h"
#include "pg.h"
#include "pipeline.h"

#define CLI_OPS_RETRY_BUDGET 3

struct srv_arg {
    const char *server;
    const char *kind;
    const char *actor;
};

struct srv_row {
    char id[24], wave_id[24], lifecycle[32], step[64];
};

/* Locks the server row and reads what retry/skip decide on. */
static int server_lock(struct wm_pg *db, const char *name, struct srv_row *s, char *err,
                       size_t errlen)
{
    const char *p[] = {name};
    PGresult *r = sched_query(db, "server lookup",
                             "SELECT s.id, s.wave_id, s.lifecycle, coalesce(s.current_step, ''),"
                             " w.name FROM servers s JOIN waves w ON w.id = s.wave_id"
                             " WHERE s.name = $1 FOR UPDATE OF s",
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
    PQclear(r);
    return 0;
}

/* Server back to the lifecycle its current step runs in (a step that keeps
 * the lifecycle — shutdown_source — runs after the cutover instance is up),
 * error cleared, and its wave running again if it had finished FAILED. */
static int server_unfail(struct wm_pg *db, const struct srv_row *s, char *err, size_t errlen)
{
    const struct pipeline_step *st = pipeline_find(s->step, NULL);
    const char *lc = !st ? "NOT_READY" : st->lifecycle ? st->lifecycle : "CUTOVER";
    const char *p[] = {s->id, lc, s->wave_id};
    int rc = sched_exec(db, "server update",
                       "UPDATE servers SET lifecycle = $2, error = NULL, updated_at = now()"
                       " WHERE id = $1",
                       2, p, NULL, err, errlen);
    if (rc == 0)
        rc = sched_exec(db, "wave reopen",
                       "UPDATE waves SET status = 'RUNNING', finished_at = NULL,"
                       " updated_at = now() WHERE id = $1 AND status = 'FAILED'",
                       1, p + 2, NULL, err, errlen);
    return rc;
}

static int retry_tx(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    const struct srv_arg *a = arg;
    struct srv_row s;
    int rc = server_lock(db, a->server, &s, err, errlen);
    if (rc < 0)
        return rc;
    if (strcmp(s.lifecycle, "FAILED") != 0) {
        snprintf(err, errlen, "server '%s' is %s, not FAILED", a->server, s.lifecycle);
        return -EPERM;
    }
    char budget[16];
    snprintf(budget, sizeof(budget), "%d", CLI_OPS_RETRY_BUDGET);
    const char *p[] = {s.id, s.step, budget, cli_ops_actor_of(a->actor)};
    rc = sched_exec(db, "task retry",
                   "WITH t AS (SELECT id FROM tasks WHERE server_id = $1 AND kind = $2"
                   "   ORDER BY id DESC LIMIT 1),"
                   " u AS (UPDATE tasks SET state = 'PENDING', not_before = now(),"
                   "   max_attempts = attempt + $3::int, acted_at = NULL, updated_at = now()"
                   "   WHERE id = (SELECT id FROM t) AND state = 'FAILED' RETURNING id, attempt)"
                   " INSERT INTO task_events (task_id, attempt, state, actor, message)"
                   " SELECT id, attempt, 'PENDING', $4, 'operator retry' FROM u",
                   4, p, NULL, err, errlen);
    if (rc < 0)
        return rc;
    rc = server_unfail(db, &s, err, errlen);
    return rc < 0 ? rc : cli_ops_notify(db, a->server, err, errlen);
}

/* A live task of the kind, or the failed one the server is stuck at,
 * becomes SKIPPED (not acted on yet: the scheduler moves the server on). */
static int skip_current(struct wm_pg *db, const struct srv_row *s, const struct srv_arg *a,
                        long *rows, char *err, size_t errlen)
{
    const char *failed_ok = strcmp(s->lifecycle, "FAILED") == 0 && strcmp(s->step, a->kind) == 0
                                ? "t" : "f";
    const char *p[] = {s->id, a->kind, failed_ok, cli_ops_actor_of(a->actor)};
    return sched_exec(db, "task skip",
                     "WITH t AS (SELECT id FROM tasks WHERE server_id = $1 AND kind = $2"
                     "   AND (state IN ('PENDING', 'QUEUED', 'RUNNING')"
                     "        OR ($3::bool AND state = 'FAILED'))"
                     "   ORDER BY id DESC LIMIT 1 FOR UPDATE),"
                     " u AS (UPDATE tasks SET state = 'SKIPPED', finished_at = now(),"
                     "   lease_owner = NULL, lease_expires = NULL, acted_at = NULL,"
                     "   updated_at = now() WHERE id = (SELECT id FROM t) RETURNING id, attempt),"
                     " o AS (DELETE FROM task_outbox WHERE task_id IN (SELECT id FROM u))"
                     " INSERT INTO task_events (task_id, attempt, state, actor, message)"
                     " SELECT id, attempt, 'SKIPPED', $4, 'skipped by operator' FROM u",
                     4, p, rows, err, errlen);
}

/* A step the server has not reached: a SKIPPED row with attempt 0 that the
 * scheduler passes over when it gets there. */
static int skip_ahead(struct wm_pg *db, const struct srv_row *s, const struct srv_arg *a,
                      char *err, size_t errlen)
{
    const char *p[] = {s->id, s->wave_id, a->kind, cli_ops_actor_of(a->actor)};
    long rows = 0;
    int rc = sched_exec(db, "task pre-skip",
                       "WITH i AS (INSERT INTO tasks (server_id, wave_id, kind, state, attempt,"
                       "   finished_at, acted_at)"
                       "   SELECT $1, $2, $3, 'SKIPPED', 0, now(), now() WHERE NOT EXISTS"
                       "   (SELECT 1 FROM tasks WHERE server_id = $1 AND kind = $3"
                       "    AND state = 'SKIPPED' AND attempt = 0) RETURNING id)"
                       " INSERT INTO task_events (task_id, attempt, state, actor, message)"
                       " SELECT id, 0, 'SKIPPED', $4, 'skipped by operator ahead of time' FROM i",
                       4, p, &rows, err, errlen);
    if (rc == 0 && rows == 0) {
        snprintf(err, errlen, "step %s is already marked skipped", a->kind);
        return -EALREADY;
    }
    return rc;
}

static int skip_tx(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    const struct srv_arg *a = arg;
    struct srv_row s;
    size_t want, at = 0;
    if (!pipeline_find(a->kind, &want)) {
        snprintf(err, errlen, "'%s' is not a pipeline step", a->kind);
        return -EINVAL;
    }
    int rc = server_lock(db, a->server, &s, err, errlen);
    if (rc < 0)
        return rc;
    long rows = 0;
    if ((rc = skip_current(db, &s, a, &rows, err, errlen)) < 0)
        return rc;
    if (rows > 0) {
        if (strcmp(s.lifecycle, "FAILED") == 0 && (rc = server_unfail(db, &s, err, errlen)) < 0)
            return rc;
        return cli_ops_notify(db, a->server, err, errlen);
    }
    bool reached = *s.step && pipeline_find(s.step, &at) && at >= want;
    if (reached || strcmp(s.lifecycle, "DONE") == 0) {
        snprintf(err, errlen, "server '%s' is already past step %s", a->server, a->kind);
        return -EALREADY;
    }
    return skip_ahead(db, &s, a, err, errlen);
}

int cli_ops_server_retry(struct wm_pg *db, const char *server, const char *actor, char *err,
                      size_t errlen)
{
    struct srv_arg a = {.server = server, .actor = actor};
    return wm_pg_tx(db, retry_tx, &a, err, errlen);
}

int cli_ops_server_skip(struct wm_pg *db, const char *server, const char *kind, const char *actor,
                     char *err, size_t errlen)
{
    struct srv_arg a = {.server = server, .kind = kind, .actor = actor};
    return wm_pg_tx(db, skip_tx, &a, err, errlen);
}
