/* cli_wave — `wavemill wave create|set|list|show|start|pause|resume|cutover`.
 *
 * create/set/list/show talk to PostgreSQL directly; the state changes
 * (start, pause, resume, cutover) are cli_ops.h calls, so the CLI and the
 * scheduler agree on what each transition means.  Every change writes an
 * audit_log row. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"
#include "json.h"
#include "cli_ops.h"
#include "pg.h"

#define WAVE_MAX_NAME 128

/* --- create / set: one statement and its audit row in one transaction --- */

struct wave_write {
    struct cli_ctx *ctx;
    const char *sql;
    const char *const *params;
    int nparams;
    const char *action, *wave;
    char *detail;
    bool found;
};

static int wave_write_tx(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    struct wave_write *w = arg;
    PGresult *r = wm_pg_query(db, w->sql, w->nparams, w->params, err, errlen);
    if (!r)
        return -EIO;
    w->found = PQntuples(r) == 1;
    PQclear(r);
    if (!w->found)
        return 1; /* nothing written: nothing to audit */
    return cli_audit(w->ctx, w->action, w->wave, NULL, w->detail) ? -EIO : 0;
}

static char *wave_detail(const char *cutover, const char *maxp, const char *maxl,
                         const char *prio)
{
    struct wm_json *j = wm_json_new();
    if (!j)
        return NULL;
    wm_json_obj_begin(j);
    if (cutover)
        wm_json_kstr(j, "cutover_at", cutover);
    if (maxp)
        wm_json_kint(j, "max_parallel", atol(maxp));
    if (maxl)
        wm_json_kint(j, "max_launching", atol(maxl));
    if (prio)
        wm_json_kint(j, "priority", atol(prio));
    wm_json_obj_end(j);
    char *s = wm_json_error(j) ? NULL : strdup(wm_json_text(j));
    wm_json_free(j);
    return s;
}

/* Checks the numeric options (NULL = not given). */
static int check_limits(struct cli_ctx *ctx, const char *maxp, const char *maxl,
                        const char *prio)
{
    long v;
    if (maxp && cli_args_int(ctx, "--max-parallel", maxp, 1, 100000, &v) != CLI_OK)
        return CLI_USAGE;
    if (maxl && cli_args_int(ctx, "--max-launching", maxl, 1, 100000, &v) != CLI_OK)
        return CLI_USAGE;
    if (prio && cli_args_int(ctx, "--priority", prio, -1000000, 1000000, &v) != CLI_OK)
        return CLI_USAGE;
    return CLI_OK;
}

static int run_wave_write(struct cli_ctx *ctx, struct wave_write *w, const char *done_msg,
                          const char *missing_msg)
{
    struct wm_pg *db = cli_pg(ctx);
    if (!db)
        return CLI_ERR;
    char err[1024];
    int rc = wm_pg_tx(db, wave_write_tx, w, err, sizeof(err));
    if (rc < 0)
        return cli_error(ctx, "%s", err);
    if (!w->found)
        return cli_error(ctx, missing_msg, w->wave);
    if (!ctx->json) {
        printf(done_msg, w->wave);
        return CLI_OK;
    }
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kbool(j, "ok", true);
    wm_json_kstr(j, "action", w->action);
    wm_json_kstr(j, "wave", w->wave);
    wm_json_obj_end(j);
    rc = cli_print_json(ctx, j);
    wm_json_free(j);
    return rc;
}

static int wave_create(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "wave create";
    const char *cutover = NULL, *maxp = NULL, *maxl = NULL, *prio = NULL, *name = NULL;
    const struct cli_opt opts[] = {{"--cutover-at", &cutover, NULL},
                                   {"--max-parallel", &maxp, NULL},
                                   {"--max-launching", &maxl, NULL},
                                   {"--priority", &prio, NULL}};
    int rc = cli_args_name(ctx, argc, argv, opts, 4, "wave", WAVE_MAX_NAME,
                           "wave create NAME [--cutover-at TIME] ...", &name);
    if (rc == CLI_OK)
        rc = check_limits(ctx, maxp, maxl, prio);
    if (rc != CLI_OK)
        return rc;
    char at[64], err[256];
    if (cutover && cli_args_time(cutover, at, sizeof(at), err, sizeof(err)))
        return cli_usage_error(ctx, "--cutover-at: %s", err);
    if (!*name)
        return cli_usage_error(ctx, "the wave name is empty");
    const char *p[] = {name, cutover ? at : NULL, maxp, maxl, prio};
    struct wave_write w = {
        .ctx = ctx, .params = p, .nparams = 5, .action = "wave.create", .wave = name,
        .sql = "INSERT INTO waves (name, cutover_at, max_parallel, max_launching, priority) "
               "VALUES ($1, $2::timestamptz, COALESCE($3::int, 10), COALESCE($4::int, 10), "
               "COALESCE($5::int, 0)) ON CONFLICT (name) DO NOTHING RETURNING id"};
    w.detail = wave_detail(cutover ? at : NULL, maxp, maxl, prio);
    rc = run_wave_write(ctx, &w, "wave '%s' created\n",
                        "wave '%s' already exists (change it with 'wave set')");
    free(w.detail);
    return rc;
}

static int wave_set(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "wave set";
    const char *maxp = NULL, *maxl = NULL, *prio = NULL, *name = NULL;
    const struct cli_opt opts[] = {{"--max-parallel", &maxp, NULL},
                                   {"--max-launching", &maxl, NULL},
                                   {"--priority", &prio, NULL}};
    int rc = cli_args_name(ctx, argc, argv, opts, 3, "wave", WAVE_MAX_NAME,
                           "wave set NAME [--max-parallel N] ...", &name);
    if (rc == CLI_OK)
        rc = check_limits(ctx, maxp, maxl, prio);
    if (rc != CLI_OK)
        return rc;
    if (!maxp && !maxl && !prio)
        return cli_usage_error(ctx, "nothing to set (--max-parallel, --max-launching, --priority)");
    const char *p[] = {name, maxp, maxl, prio};
    struct wave_write w = {
        .ctx = ctx, .params = p, .nparams = 4, .action = "wave.set", .wave = name,
        .sql = "UPDATE waves SET max_parallel = COALESCE($2::int, max_parallel), "
               "max_launching = COALESCE($3::int, max_launching), "
               "priority = COALESCE($4::int, priority), updated_at = now() "
               "WHERE name = $1 RETURNING id"};
    w.detail = wave_detail(NULL, maxp, maxl, prio);
    rc = run_wave_write(ctx, &w, "wave '%s' updated\n", "no wave named '%s'");
    free(w.detail);
    return rc;
}

/* --- list / show --- */

static int wave_list(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "wave list";
    const char *pos[1];
    int npos, rc = cli_args_parse(ctx, argc, argv, 2, NULL, 0, pos, 0, &npos);
    if (rc != CLI_OK)
        return rc;
    PGresult *r = cli_wave_summaries(ctx, NULL);
    if (!r)
        return CLI_ERR;
    if (ctx->json) {
        struct wm_json *j = wm_json_new();
        wm_json_obj_begin(j);
        wm_json_kbool(j, "ok", true);
        wm_json_key(j, "waves");
        wm_json_arr_begin(j);
        for (int i = 0; i < PQntuples(r); i++)
            cli_wave_summary_json(j, r, i);
        wm_json_arr_end(j);
        wm_json_obj_end(j);
        rc = cli_print_json(ctx, j);
        wm_json_free(j);
    } else {
        printf("%-24s %-8s %8s %7s %6s %6s %8s  %s\n", "WAVE", "STATUS", "PRIORITY", "SERVERS",
               "DONE", "FAILED", "PARALLEL", "CUTOVER");
        for (int i = 0; i < PQntuples(r); i++) {
            const char *cut = cli_val(r, i, "cutover_at");
            printf("%-24s %-8s %8s %7s %6lld %6lld %8s  %s\n", cli_val(r, i, "name"),
                   cli_val(r, i, "status"), cli_val(r, i, "priority"), cli_val(r, i, "servers"),
                   (long long)cli_lifecycle_count(r, i, "DONE"),
                   (long long)cli_lifecycle_count(r, i, "FAILED"),
                   cli_val(r, i, "max_parallel"), *cut ? cut : "-");
        }
    }
    PQclear(r);
    return rc;
}

static const char TASKS_SQL[] =
    "SELECT t.id, s.name AS server, t.kind, t.state, t.attempt, t.max_attempts, "
    "t.lease_owner, t.error, " CLI_ISO("t.updated_at") " AS updated_at "
    "FROM tasks t JOIN servers s ON s.id = t.server_id "
    "WHERE t.wave_id = $1 AND t.state IN ('RUNNING', 'FAILED') "
    "ORDER BY t.state DESC, s.name, t.id LIMIT 1000";

static void task_json(struct wm_json *j, const PGresult *t, int i)
{
    wm_json_obj_begin(j);
    wm_json_kint(j, "id", cli_int(t, i, "id"));
    wm_json_kstr(j, "server", cli_val(t, i, "server"));
    wm_json_kstr(j, "kind", cli_val(t, i, "kind"));
    wm_json_kint(j, "attempt", cli_int(t, i, "attempt"));
    wm_json_kint(j, "max_attempts", cli_int(t, i, "max_attempts"));
    wm_json_kstr(j, "lease_owner", cli_isnull(t, i, "lease_owner") ? NULL
                                                                   : cli_val(t, i, "lease_owner"));
    wm_json_kstr(j, "error", cli_isnull(t, i, "error") ? NULL : cli_val(t, i, "error"));
    wm_json_kstr(j, "updated_at", cli_val(t, i, "updated_at"));
    wm_json_obj_end(j);
}

static int show_json(struct cli_ctx *ctx, const PGresult *w, const PGresult *t)
{
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kbool(j, "ok", true);
    wm_json_key(j, "wave");
    cli_wave_summary_json(j, w, 0);
    static const char *const states[] = {"RUNNING", "FAILED"};
    static const char *const keys[] = {"running_tasks", "failed_tasks"};
    for (int k = 0; k < 2; k++) {
        wm_json_key(j, keys[k]);
        wm_json_arr_begin(j);
        for (int i = 0; i < PQntuples(t); i++)
            if (strcmp(cli_val(t, i, "state"), states[k]) == 0)
                task_json(j, t, i);
        wm_json_arr_end(j);
    }
    wm_json_obj_end(j);
    int rc = cli_print_json(ctx, j);
    wm_json_free(j);
    return rc;
}

static void show_print(const PGresult *w, const PGresult *t)
{
    cli_wave_summary_print(w, 0);
    const char *started = cli_val(w, 0, "started_at"), *fin = cli_val(w, 0, "finished_at");
    printf("  created %s, started %s, finished %s\n", cli_val(w, 0, "created_at"),
           *started ? started : "-", *fin ? fin : "-");
    if (PQntuples(t) == 0)
        return;
    printf("  %-8s %-24s %-20s %-8s %s\n", "TASK", "SERVER", "KIND", "ATTEMPT", "STATE / ERROR");
    for (int i = 0; i < PQntuples(t); i++) {
        char att[32], line[1024];
        snprintf(att, sizeof(att), "%s/%s", cli_val(t, i, "attempt"),
                 cli_val(t, i, "max_attempts"));
        const char *state = cli_val(t, i, "state");
        printf("  %-8s %-24s %-20s %-8s %s%s%s\n", cli_val(t, i, "id"), cli_val(t, i, "server"),
               cli_val(t, i, "kind"), att, state,
               strcmp(state, "RUNNING") == 0 ? " on " : ": ",
               cli_line(strcmp(state, "RUNNING") == 0 ? cli_val(t, i, "lease_owner")
                                                      : cli_val(t, i, "error"),
                        line, sizeof(line)));
    }
}

static int wave_show(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "wave show";
    const char *name = NULL;
    int rc = cli_args_name(ctx, argc, argv, NULL, 0, "wave", WAVE_MAX_NAME,
                           "wave show NAME [--json]", &name);
    if (rc != CLI_OK)
        return rc;
    PGresult *w = cli_wave_summaries(ctx, name);
    if (!w)
        return CLI_ERR;
    if (PQntuples(w) == 0) {
        PQclear(w);
        return cli_error(ctx, "no wave named '%s'", name);
    }
    const char *p[] = {cli_val(w, 0, "id")};
    PGresult *t = cli_query(ctx, TASKS_SQL, 1, p);
    if (t) {
        if (ctx->json)
            rc = show_json(ctx, w, t);
        else
            show_print(w, t);
    } else {
        rc = CLI_ERR;
    }
    PQclear(t);
    PQclear(w);
    return rc;
}

/* --- state changes through cli_ops --- */

enum wave_op { OP_START, OP_PAUSE, OP_RESUME, OP_CUTOVER };

static const struct {
    const char *command, *action, *done;
} ops[] = {
    [OP_START] = {"wave start", "wave.start", "started"},
    [OP_PAUSE] = {"wave pause", "wave.pause", "paused"},
    [OP_RESUME] = {"wave resume", "wave.resume", "resumed"},
    [OP_CUTOVER] = {"wave cutover", "wave.cutover", "cutover window set"},
};

static int call_op(struct wm_pg *db, enum wave_op op, const char *name, const char *at, char *err,
                   size_t errlen)
{
    const char *actor = cli_ops_actor();
    switch (op) {
    case OP_START:
        return cli_ops_wave_start(db, name, actor, err, errlen);
    case OP_PAUSE:
        return cli_ops_wave_pause(db, name, actor, err, errlen);
    case OP_RESUME:
        return cli_ops_wave_resume(db, name, actor, err, errlen);
    case OP_CUTOVER:
        return cli_ops_wave_set_cutover(db, name, at, actor, err, errlen);
    }
    return -EINVAL;
}

static int report_op(struct cli_ctx *ctx, enum wave_op op, const char *name, const char *at,
                     bool changed, const char *note)
{
    if (changed) {
        char detail[160] = "{}";
        if (op == OP_CUTOVER)
            snprintf(detail, sizeof(detail), "{\"at\":\"%s\"}", at ? at : "now");
        if (cli_audit(ctx, ops[op].action, name, NULL, detail))
            return CLI_ERR;
    }
    if (ctx->json) {
        struct wm_json *j = wm_json_new();
        wm_json_obj_begin(j);
        wm_json_kbool(j, "ok", true);
        wm_json_kstr(j, "action", ops[op].action);
        wm_json_kstr(j, "wave", name);
        wm_json_kbool(j, "changed", changed);
        wm_json_kstr(j, "note", note);
        wm_json_obj_end(j);
        int rc = cli_print_json(ctx, j);
        wm_json_free(j);
        return rc;
    }
    if (changed)
        printf("wave '%s' %s%s%s\n", name, ops[op].done, note ? ": " : "", note ? note : "");
    else
        printf("%s (nothing changed)\n", note);
    return CLI_OK;
}

/* Time the cutover window opens now, as text, for the confirmation line. */
static void cutover_text(struct cli_ctx *ctx, const char *name, char *out, size_t len)
{
    const char *p[] = {name};
    PGresult *r = cli_query(ctx, "SELECT " CLI_ISO("cutover_at") " AS c FROM waves WHERE name = $1",
                            1, p);
    snprintf(out, len, "%s", r && PQntuples(r) == 1 ? cli_val(r, 0, "c") : "?");
    PQclear(r);
}

static int wave_op_cmd(struct cli_ctx *ctx, int argc, char **argv, enum wave_op op)
{
    ctx->command = ops[op].command;
    const char *name = NULL, *at_arg = NULL;
    const struct cli_opt opts[] = {{"--at", &at_arg, NULL}};
    int rc = cli_args_name(ctx, argc, argv, opts, op == OP_CUTOVER ? 1 : 0, "wave", WAVE_MAX_NAME,
                           op == OP_CUTOVER ? "wave cutover NAME [--at TIME]"
                                                         : "wave start|pause|resume NAME", &name);
    if (rc != CLI_OK)
        return rc;
    char at[64], err[1024];
    if (at_arg && cli_args_time(at_arg, at, sizeof(at), err, sizeof(err)))
        return cli_usage_error(ctx, "--at: %s", err);
    struct wm_pg *db = cli_pg(ctx);
    if (!db)
        return CLI_ERR;
    err[0] = '\0';
    rc = call_op(db, op, name, at_arg ? at : NULL, err, sizeof(err));
    if (rc == -ENOENT)
        return cli_error(ctx, "no wave named '%s'", name);
    if (rc == -EALREADY)
        return report_op(ctx, op, name, NULL, false, *err ? err : "already in that state");
    if (rc < 0)
        return cli_error(ctx, "%s", *err ? err : strerror(-rc));
    char note[96] = "";
    if (op == OP_CUTOVER) {
        cutover_text(ctx, name, at, sizeof(at));
        snprintf(note, sizeof(note), "opens at %s", at);
    }
    return report_op(ctx, op, name, op == OP_CUTOVER ? at : NULL, true, *note ? note : NULL);
}

int cli_wave(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "wave";
    if (argc < 2)
        return cli_usage_error(ctx, "wave what? (create, set, list, show, start, pause, resume, "
                                    "cutover)");
    const char *sub = argv[1];
    if (strcmp(sub, "create") == 0)
        return wave_create(ctx, argc, argv);
    if (strcmp(sub, "set") == 0)
        return wave_set(ctx, argc, argv);
    if (strcmp(sub, "list") == 0)
        return wave_list(ctx, argc, argv);
    if (strcmp(sub, "show") == 0)
        return wave_show(ctx, argc, argv);
    if (strcmp(sub, "start") == 0)
        return wave_op_cmd(ctx, argc, argv, OP_START);
    if (strcmp(sub, "pause") == 0)
        return wave_op_cmd(ctx, argc, argv, OP_PAUSE);
    if (strcmp(sub, "resume") == 0)
        return wave_op_cmd(ctx, argc, argv, OP_RESUME);
    if (strcmp(sub, "cutover") == 0)
        return wave_op_cmd(ctx, argc, argv, OP_CUTOVER);
    return cli_usage_error(ctx, "unknown subcommand 'wave %s'", sub);
}
