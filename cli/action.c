/* action — the operator actions table and its runner (see action.h). */
#include "action.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inventory.h"
#include "json.h"
#include "kafka.h"
#include "log.h"
#include "msg.h"
#include "cli_ops.h"
#include "pg.h"

/* --- parameters --- */

const char *action_param(const struct action_params *p, const char *name)
{
    for (int i = 0; p && i < p->n; i++)
        if (strcmp(p->name[i], name) == 0)
            return p->value[i];
    return NULL;
}

static int bad_field(struct action_result *res, const char *field, char *err, size_t errlen,
                     const char *why)
{
    snprintf(res->field, sizeof(res->field), "%s", field);
    snprintf(err, errlen, "%s: %s", field, why);
    return -EINVAL;
}

/* An integer parameter in [min, max], when given. */
static int int_param(const struct action_params *p, const char *name, long min, long max,
                     struct action_result *res, char *err, size_t errlen)
{
    const char *v = action_param(p, name);
    if (!v)
        return 0;
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < min || n > max) {
        char why[96];
        snprintf(why, sizeof(why), "must be an integer from %ld to %ld", min, max);
        return bad_field(res, name, err, errlen, why);
    }
    return 0;
}

/* A timestamp parameter PostgreSQL accepts, when given. */
static int time_param(struct wm_pg *db, const struct action_params *p, const char *name,
                      struct action_result *res, char *err, size_t errlen)
{
    const char *v = action_param(p, name);
    if (!v)
        return 0;
    const char *q[] = {v};
    char e[256];
    PGresult *r = wm_pg_query(db, "SELECT $1::timestamptz", 1, q, e, sizeof(e));
    if (r) {
        PQclear(r);
        return 0;
    }
    if (wm_pg_errno(db) != -EIO || strncmp(wm_pg_sqlstate(db), "22", 2) != 0) {
        snprintf(err, errlen, "%s", e);
        return -EIO;
    }
    return bad_field(res, name, err, errlen,
                     "not a time (give e.g. 2026-11-22T03:00:00Z or now)");
}

static const char *ops_actor(const struct action_who *who, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%s", who->source, who->actor);
    return buf;
}

/* --- waves --- */

/* One statement returning a row when it wrote one. */
static int one_row(struct wm_pg *db, const char *sql, int n, const char *const *params,
                   char *err, size_t errlen)
{
    PGresult *r = wm_pg_query(db, sql, n, params, err, errlen);
    if (!r)
        return -EIO;
    int found = PQntuples(r) == 1;
    PQclear(r);
    return found;
}

static int wave_limits(const struct action_params *p, struct action_result *res, char *err,
                       size_t errlen)
{
    int rc = int_param(p, "max_parallel", 1, 100000, res, err, errlen);
    if (rc == 0)
        rc = int_param(p, "max_launching", 1, 100000, res, err, errlen);
    if (rc == 0)
        rc = int_param(p, "priority", -1000000, 1000000, res, err, errlen);
    return rc;
}

static int act_wave_create(struct wm_pg *db, const char *wave, const struct action_params *p,
                           const struct action_who *who, struct action_result *res, char *err,
                           size_t errlen)
{
    (void)who;
    if (!*wave || strlen(wave) > 128)
        return bad_field(res, "name", err, errlen, "1 to 128 characters");
    int rc = wave_limits(p, res, err, errlen);
    if (rc == 0)
        rc = time_param(db, p, "cutover_at", res, err, errlen);
    if (rc < 0)
        return rc;
    const char *q[] = {wave, action_param(p, "cutover_at"), action_param(p, "max_parallel"),
                       action_param(p, "max_launching"), action_param(p, "priority")};
    rc = one_row(db,
                 "INSERT INTO waves (name, cutover_at, max_parallel, max_launching, priority) "
                 "VALUES ($1, $2::timestamptz, COALESCE($3::int, 10), COALESCE($4::int, 10), "
                 "COALESCE($5::int, 0)) ON CONFLICT (name) DO NOTHING RETURNING id",
                 5, q, err, errlen);
    if (rc == 0) {
        snprintf(err, errlen, "wave '%s' already exists (change it with 'wave set')", wave);
        return -EEXIST;
    }
    return rc < 0 ? rc : 0;
}

static int act_wave_set(struct wm_pg *db, const char *wave, const struct action_params *p,
                        const struct action_who *who, struct action_result *res, char *err,
                        size_t errlen)
{
    (void)who;
    int rc = wave_limits(p, res, err, errlen);
    if (rc < 0)
        return rc;
    if (!p || p->n == 0)
        return bad_field(res, "max_parallel", err, errlen,
                         "nothing to set (max_parallel, max_launching, priority)");
    const char *q[] = {wave, action_param(p, "max_parallel"), action_param(p, "max_launching"),
                       action_param(p, "priority")};
    rc = one_row(db,
                 "UPDATE waves SET max_parallel = COALESCE($2::int, max_parallel), "
                 "max_launching = COALESCE($3::int, max_launching), "
                 "priority = COALESCE($4::int, priority), updated_at = now() "
                 "WHERE name = $1 RETURNING id",
                 4, q, err, errlen);
    if (rc == 0) {
        snprintf(err, errlen, "no wave named '%s'", wave);
        return -ENOENT;
    }
    return rc < 0 ? rc : 0;
}

typedef int (*wave_op_fn)(struct wm_pg *, const char *, const char *, char *, size_t);

static int wave_op(wave_op_fn fn, struct wm_pg *db, const char *wave,
                   const struct action_who *who, char *err, size_t errlen)
{
    char actor[160];
    return fn(db, wave, ops_actor(who, actor, sizeof(actor)), err, errlen);
}

static int act_wave_start(struct wm_pg *db, const char *wave, const struct action_params *p,
                          const struct action_who *who, struct action_result *res, char *err,
                          size_t errlen)
{
    (void)p, (void)res;
    return wave_op(cli_ops_wave_start, db, wave, who, err, errlen);
}

static int act_wave_pause(struct wm_pg *db, const char *wave, const struct action_params *p,
                          const struct action_who *who, struct action_result *res, char *err,
                          size_t errlen)
{
    (void)p, (void)res;
    return wave_op(cli_ops_wave_pause, db, wave, who, err, errlen);
}

static int act_wave_resume(struct wm_pg *db, const char *wave, const struct action_params *p,
                           const struct action_who *who, struct action_result *res, char *err,
                           size_t errlen)
{
    (void)p, (void)res;
    return wave_op(cli_ops_wave_resume, db, wave, who, err, errlen);
}

static int act_wave_cutover(struct wm_pg *db, const char *wave, const struct action_params *p,
                            const struct action_who *who, struct action_result *res, char *err,
                            size_t errlen)
{
    int rc = time_param(db, p, "at", res, err, errlen);
    char actor[160];
    if (rc == 0)
        rc = cli_ops_wave_set_cutover(db, wave, action_param(p, "at"),
                                   ops_actor(who, actor, sizeof(actor)), err, errlen);
    if (rc < 0)
        return rc;
    const char *q[] = {wave};
    PGresult *r = wm_pg_query(db,
                              "SELECT to_char(cutover_at AT TIME ZONE 'UTC',"
                              " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM waves WHERE name = $1",
                              1, q, err, errlen);
    if (r && PQntuples(r) == 1)
        snprintf(res->note, sizeof(res->note), "opens at %s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

/* --- servers --- */

static int act_server_retry(struct wm_pg *db, const char *server, const struct action_params *p,
                            const struct action_who *who, struct action_result *res, char *err,
                            size_t errlen)
{
    (void)p, (void)res;
    char actor[160];
    return cli_ops_server_retry(db, server, ops_actor(who, actor, sizeof(actor)), err, errlen);
}

static int act_server_skip(struct wm_pg *db, const char *server, const struct action_params *p,
                           const struct action_who *who, struct action_result *res, char *err,
                           size_t errlen)
{
    const char *kind = action_param(p, "task");
    if (!kind || !*kind)
        return bad_field(res, "task", err, errlen, "which pipeline step to skip?");
    char actor[160];
    int rc = cli_ops_server_skip(db, server, kind, ops_actor(who, actor, sizeof(actor)), err,
                              errlen);
    if (rc == -EINVAL)
        snprintf(res->field, sizeof(res->field), "task");
    return rc;
}

static int act_server_approve(struct wm_pg *db, const char *server,
                              const struct action_params *p, const struct action_who *who,
                              struct action_result *res, char *err, size_t errlen)
{
    (void)p, (void)res;
    char actor[160];
    return cli_ops_server_approve(db, server, ops_actor(who, actor, sizeof(actor)), err, errlen);
}

/* to: READY_FOR_CUTOVER (default, "cutover") or READY_FOR_TEST ("testing") */
static int act_server_revert(struct wm_pg *db, const char *server, const struct action_params *p,
                             const struct action_who *who, struct action_result *res, char *err,
                             size_t errlen)
{
    const char *to = action_param(p, "to"), *force = action_param(p, "force");
    if (!to || strcmp(to, "cutover") == 0 || strcmp(to, "READY_FOR_CUTOVER") == 0)
        to = "READY_FOR_CUTOVER";
    else if (strcmp(to, "testing") == 0 || strcmp(to, "READY_FOR_TEST") == 0)
        to = "READY_FOR_TEST";
    else
        return bad_field(res, "to", err, errlen, "testing or cutover");
    bool f = force && (strcmp(force, "true") == 0 || strcmp(force, "1") == 0);
    char actor[160];
    return cli_ops_server_revert(db, server, to, f, ops_actor(who, actor, sizeof(actor)), err,
                                 errlen);
}

static int act_server_finalize(struct wm_pg *db, const char *server,
                               const struct action_params *p, const struct action_who *who,
                               struct action_result *res, char *err, size_t errlen)
{
    (void)p, (void)res;
    char actor[160];
    return cli_ops_server_finalize(db, server, ops_actor(who, actor, sizeof(actor)), err, errlen);
}

/* --- the table --- */

static const struct action_def actions[] = {
    {"wave.create", "create", ACTION_WAVE, WM_ROLE_OPERATOR, false,
     "cutover_at,max_parallel,max_launching,priority", "plan a new wave", act_wave_create},
    {"wave.set", "set", ACTION_WAVE, WM_ROLE_OPERATOR, false, "max_parallel,max_launching,priority",
     "change a wave's limits or priority", act_wave_set},
    {"wave.start", "start", ACTION_WAVE, WM_ROLE_OPERATOR, false, "", "start the wave",
     act_wave_start},
    {"wave.pause", "pause", ACTION_WAVE, WM_ROLE_OPERATOR, false, "",
     "issue no new task for the wave", act_wave_pause},
    {"wave.resume", "resume", ACTION_WAVE, WM_ROLE_OPERATOR, false, "", "resume a paused wave",
     act_wave_resume},
    {"wave.cutover", "cutover", ACTION_WAVE, WM_ROLE_OPERATOR, true, "at",
     "set or bring forward the cutover window", act_wave_cutover},
    {"server.retry", "retry", ACTION_SERVER, WM_ROLE_OPERATOR, false, "",
     "give a FAILED server's failed step new attempts", act_server_retry},
    {"server.skip", "skip", ACTION_SERVER, WM_ROLE_OPERATOR, true, "task",
     "pass over one pipeline step", act_server_skip},
    {"server.approve", "approve", ACTION_SERVER, WM_ROLE_OPERATOR, false, "",
     "let a server held for approval go on to cutover", act_server_approve},
    {"server.revert", "revert", ACTION_SERVER, WM_ROLE_OPERATOR, true, "to,force",
     "roll a server back to testing or to ready-for-cutover", act_server_revert},
    {"server.finalize", "finalize", ACTION_SERVER, WM_ROLE_OPERATOR, true, "",
     "finalize a cut-over server (no revert after this)", act_server_finalize},
};

const struct action_def *action_table(size_t *n)
{
    *n = sizeof(actions) / sizeof(actions[0]);
    return actions;
}

const struct action_def *action_find(enum action_target t, const char *verb)
{
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
        if (actions[i].target == t && strcmp(actions[i].verb, verb) == 0)
            return &actions[i];
    return NULL;
}

const struct action_def *action_by_name(const char *name)
{
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
        if (strcmp(actions[i].name, name) == 0)
            return &actions[i];
    return NULL;
}

/* --- running --- */

static bool param_allowed(const struct action_def *a, const char *name)
{
    size_t n = strlen(name);
    for (const char *s = a->params; *s;) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == n && strncmp(s, name, n) == 0)
            return true;
        s += len + (e ? 1 : 0);
    }
    return false;
}

int action_audit(struct wm_pg *db, const struct action_who *who, const char *action,
                 const char *wave, const char *server, const char *detail_json,
                 const char *result, char *err, size_t errlen)
{
    char tok[32];
    snprintf(tok, sizeof(tok), "%" PRId64, who->token_id);
    const char *q[] = {who->actor, action,  wave, server, detail_json ? detail_json : "{}",
                       who->source, who->token_id ? tok : NULL, result};
    return wm_pg_exec(db,
                      "INSERT INTO audit_log (actor, action, wave, server, detail, source,"
                      " token_id, result) VALUES ($1, $2, COALESCE($3, (SELECT w.name FROM"
                      " servers s JOIN waves w ON w.id = s.wave_id WHERE s.name = $4)), $4,"
                      " $5::jsonb, $6, $7::bigint, $8)",
                      8, q, NULL, err, errlen);
}

static char *params_json(const struct action_params *p, const char *note)
{
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    for (int i = 0; p && i < p->n; i++)
        wm_json_kstr(j, p->name[i], p->value[i]);
    if (note && *note)
        wm_json_kstr(j, "note", note);
    wm_json_obj_end(j);
    char *s = wm_json_error(j) ? NULL : strdup(wm_json_text(j));
    wm_json_free(j);
    return s;
}

/* The state of the wave or server after a change, on wm.status. */
static void action_publish(struct wm_pg *db, const struct action_def *a, const char *target,
                           const struct action_who *who, const struct action_result *res)
{
    if (!who->status || !who->status_topic)
        return;
    bool wave = a->target == ACTION_WAVE;
    const char *q[] = {target};
    char err[256];
    PGresult *r = wm_pg_query(
        db,
        wave ? "SELECT w.id, w.status, w.name, EXISTS (SELECT 1 FROM servers s WHERE s.wave_id ="
               " w.id) AND NOT EXISTS (SELECT 1 FROM servers s WHERE s.wave_id = w.id AND"
               " s.target_provider <> 'sim') FROM waves w WHERE w.name = $1"
             : "SELECT s.id, s.lifecycle, w.name, s.target_provider = 'sim' FROM servers s JOIN"
               " waves w ON w.id = s.wave_id WHERE s.name = $1",
        1, q, err, sizeof(err));
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        return;
    }
    char source[192], message[768];
    snprintf(source, sizeof(source), "%s:%s", who->source, who->actor);
    snprintf(message, sizeof(message), "%s by %s%s%s", a->name, source, *res->note ? ": " : "",
             res->note);
    struct wm_status_msg m = {.source = source, .type = wave ? "wave" : "server",
                              .wave = PQgetvalue(r, 0, 2), .server = wave ? NULL : (char *)target,
                              .state = PQgetvalue(r, 0, 1), .message = message,
                              .simulated = PQgetvalue(r, 0, 3)[0] == 't'};
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m.time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    uint8_t *buf = NULL;
    size_t len = 0;
    const char *key = PQgetvalue(r, 0, 0);
    if (wm_status_msg_encode(&m, &buf, &len, err, sizeof(err)) < 0 ||
        wm_kafka_send(who->status, who->status_topic, key, strlen(key), buf, len, NULL, 0, err,
                      sizeof(err)) < 0)
        wm_warn("action.event_failed", "action=%s target=%s err=\"%s\"", a->name, target, err);
    free(buf);
    PQclear(r);
}

int action_run(struct wm_pg *db, const struct action_def *a, const char *target,
               const struct action_params *p, const struct action_who *who,
               struct action_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof(*res));
    err[0] = '\0';
    for (int i = 0; p && i < p->n; i++)
        if (!param_allowed(a, p->name[i]))
            return bad_field(res, p->name[i], err, errlen, "not a parameter of this action");
    int rc = a->run(db, target, p, who, res, err, errlen);
    if (rc < 0)
        return rc;
    res->changed = true;
    char *detail = params_json(p, res->note);
    char aerr[512];
    bool wave = a->target == ACTION_WAVE;
    action_publish(db, a, target, who, res);
    if (action_audit(db, who, a->name, wave ? target : NULL, wave ? NULL : target, detail, "ok",
                     aerr, sizeof(aerr)) < 0) {
        snprintf(err, errlen, "done, but the audit log failed: %s", aerr);
        rc = -EIO;
    }
    free(detail);
    return rc;
}

/* --- intake --- */

struct import_run {
    const struct inv_file *f;
    bool dry_run;
    const struct action_who *who;
    struct inv_summary *sum;
};

static void counts(struct wm_json *j, const char *key, const char *const *names,
                   const long *vals, int n)
{
    wm_json_key(j, key);
    wm_json_obj_begin(j);
    for (int i = 0; i < n; i++)
        wm_json_kint(j, names[i], vals[i]);
    wm_json_obj_end(j);
}

char *action_import_json(const struct inv_file *f, bool dry_run, const struct inv_summary *s)
{
    static const char *const wv[] = {"created", "existing"};
    static const char *const cu[] = {"created", "updated", "unchanged"};
    static const char *const dk[] = {"created", "updated", "removed"};
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kstr(j, "file", f->name);
    wm_json_kint(j, "rows", (int64_t)f->nrows);
    wm_json_kbool(j, "dry_run", dry_run);
    counts(j, "waves", wv, (long[]){s->waves_created, s->waves_existing}, 2);
    counts(j, "applications", cu, (long[]){s->apps_created, s->apps_updated, s->apps_unchanged}, 3);
    counts(j, "servers", cu,
           (long[]){s->servers_created, s->servers_updated, s->servers_unchanged}, 3);
    counts(j, "disks", dk, (long[]){s->disks_created, s->disks_updated, s->disks_removed}, 3);
    wm_json_obj_end(j);
    char *out = wm_json_error(j) ? NULL : strdup(wm_json_text(j));
    wm_json_free(j);
    return out;
}

static int import_tx(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    struct import_run *run = arg;
    int rc = inv_upsert(db, run->f, run->sum, err, errlen);
    if (rc)
        return rc;
    if (run->dry_run)
        return 1; /* roll back: nothing written */
    char *detail = action_import_json(run->f, false, run->sum);
    if (!detail) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    rc = action_audit(db, run->who, "import", NULL, NULL, detail, "ok", err, errlen);
    free(detail);
    return rc;
}

int action_import(struct wm_pg *db, const struct inv_file *f, bool dry_run,
                  const struct action_who *who, struct inv_summary *sum, char *err,
                  size_t errlen)
{
    struct import_run run = {f, dry_run, who, sum};
    int rc = wm_pg_tx(db, import_tx, &run, err, errlen);
    return rc == 1 && dry_run ? 0 : rc;
}
