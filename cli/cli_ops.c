/* cli_ops — operator state changes (see cli_ops.h).  Each public call is
 * one wm_pg_tx; the closures below run inside it. */
#include "cli_ops.h"
#include "cli_ops_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sched_sql.h"
#include "pg.h"
#include "pipeline.h"

/* the attempts a retried task gets on top of those it used */
struct op_arg {
    const char *wave;
    const char *server;
    const char *kind;
    const char *at;
    const char *actor;
};

const char *cli_ops_actor_of(const char *actor)
{
    return actor && *actor ? actor : "cli";
}

int cli_ops_notify(struct wm_pg *db, const char *payload, char *err, size_t errlen)
{
    const char *p[] = {SCHED_NOTIFY_CHANNEL, payload ? payload : ""};
    PGresult *r = sched_query(db, "notify", "SELECT pg_notify($1, $2)", 2, p, err, errlen);
    if (!r)
        return -EIO;
    PQclear(r);
    return 0;
}

/* Why a conditional wave update changed nothing: no wave, or its status. */
static int wave_refusal(struct wm_pg *db, const char *wave, const char *want, const char *verb,
                        char *err, size_t errlen)
{
    const char *p[] = {wave};
    PGresult *r = sched_query(db, "wave lookup", "SELECT status FROM waves WHERE name = $1", 1,
                             p, err, errlen);
    if (!r)
        return -EIO;
    int rc;
    if (PQntuples(r) == 0) {
        snprintf(err, errlen, "no wave named '%s'", wave);
        rc = -ENOENT;
    } else if (strcmp(PQgetvalue(r, 0, 0), want) == 0) {
        snprintf(err, errlen, "wave '%s' is already %s", wave, want);
        rc = -EALREADY;
    } else {
        snprintf(err, errlen, "cannot %s wave '%s': it is %s", verb, wave, PQgetvalue(r, 0, 0));
        rc = -EPERM;
    }
    PQclear(r);
    return rc;
}

static int wave_status_tx(struct wm_pg *db, const struct op_arg *a, const char *from,
                          const char *to, const char *verb, char *err, size_t errlen)
{
    const char *p[] = {a->wave, from, to};
    long rows = 0;
    int rc = sched_exec(db, "wave update",
                       "UPDATE waves SET status = $3, updated_at = now(),"
                       " started_at = CASE WHEN $3 = 'RUNNING' THEN coalesce(started_at, now())"
                       " ELSE started_at END WHERE name = $1 AND status = $2",
                       3, p, &rows, err, errlen);
    if (rc < 0)
        return rc;
    if (rows == 0)
        return wave_refusal(db, a->wave, to, verb, err, errlen);
    return cli_ops_notify(db, a->wave, err, errlen);
}

/* An empty wave has nothing to run: it is refused, not started and DONE. */
static int start_tx(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    const struct op_arg *a = arg;
    const char *p[] = {a->wave};
    PGresult *r = sched_query(db, "wave servers",
                             "SELECT count(s.id) FROM waves w LEFT JOIN servers s"
                             " ON s.wave_id = w.id WHERE w.name = $1 GROUP BY w.id",
                             1, p, err, errlen);
    if (!r)
        return -EIO;
    bool empty = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "0") == 0;
    PQclear(r);
    if (empty) {
        snprintf(err, errlen, "wave '%s' has no servers: nothing to start", a->wave);
        return -EPERM;
    }
    return wave_status_tx(db, arg, "CREATED", "RUNNING", "start", err, errlen);
}

static int resume_tx(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    return wave_status_tx(db, arg, "PAUSED", "RUNNING", "resume", err, errlen);
}

/* Published-but-unclaimed tasks go back to PENDING: the worker's claim
 * (state = 'QUEUED') then drops their messages.  The attempt they used is
 * given back (max_attempts + 1) since it never ran. */
static int pause_tx(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    const struct op_arg *a = arg;
    int rc = wave_status_tx(db, a, "RUNNING", "PAUSED", "pause", err, errlen);
    if (rc < 0)
        return rc;
    const char *p[] = {a->wave, cli_ops_actor_of(a->actor)};
    return sched_exec(db, "pause tasks",
                     "WITH q AS (UPDATE tasks t SET state = 'PENDING', not_before = now(),"
                     "   max_attempts = t.max_attempts + 1, updated_at = now()"
                     "   FROM waves w WHERE w.name = $1 AND t.wave_id = w.id AND t.state = 'QUEUED'"
                     "   RETURNING t.id, t.attempt),"
                     " o AS (DELETE FROM task_outbox WHERE task_id IN (SELECT id FROM q))"
                     " INSERT INTO task_events (task_id, attempt, state, actor, message)"
                     " SELECT id, attempt, 'PENDING', $2, 'wave paused before the task was claimed'"
                     " FROM q",
                     2, p, NULL, err, errlen);
}

static int cutover_tx(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    const struct op_arg *a = arg;
    const char *p[] = {a->wave, a->at};
    long rows = 0;
    char e[512];
    if (wm_pg_exec(db,
                   "UPDATE waves SET cutover_at = coalesce($2::timestamptz, now()),"
                   " updated_at = now() WHERE name = $1",
                   2, p, &rows, e, sizeof(e)) < 0) {
        const char *st = wm_pg_sqlstate(db);
        bool bad_time = st && strncmp(st, "22", 2) == 0;
        snprintf(err, errlen, "%s: %s", bad_time ? "bad cutover time" : "wave update", e);
        return bad_time ? -EINVAL : -EIO;
    }
    if (rows == 0) {
        snprintf(err, errlen, "no wave named '%s'", a->wave);
        return -ENOENT;
    }
    return cli_ops_notify(db, a->wave, err, errlen);
}

int cli_ops_wave_start(struct wm_pg *db, const char *wave, const char *actor, char *err,
                    size_t errlen)
{
    struct op_arg a = {.wave = wave, .actor = actor};
    return wm_pg_tx(db, start_tx, &a, err, errlen);
}

int cli_ops_wave_pause(struct wm_pg *db, const char *wave, const char *actor, char *err,
                    size_t errlen)
{
    struct op_arg a = {.wave = wave, .actor = actor};
    return wm_pg_tx(db, pause_tx, &a, err, errlen);
}

int cli_ops_wave_resume(struct wm_pg *db, const char *wave, const char *actor, char *err,
                     size_t errlen)
{
    struct op_arg a = {.wave = wave, .actor = actor};
    return wm_pg_tx(db, resume_tx, &a, err, errlen);
}

int cli_ops_wave_set_cutover(struct wm_pg *db, const char *wave, const char *at, const char *actor,
                          char *err, size_t errlen)
{
    struct op_arg a = {.wave = wave, .at = at, .actor = actor};
    return wm_pg_tx(db, cutover_tx, &a, err, errlen);
}
