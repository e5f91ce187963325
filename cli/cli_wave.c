/* cli_wave — `wavemill wave create|set|list|show|check|start|pause|resume|
 * cutover|approve|revert|finalize`.
 *
 * start runs the pre-flight (cli_check.c) first and refuses on errors
 * unless --force; cutover prints its plan and, when the window opens within
 * ten minutes, asks for confirmation on a terminal (--yes for scripts,
 * --dry-run prints the plan only); approve/revert/finalize act on every
 * server of the wave they apply to (cli_server.c's server actions).
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
#include "action.h"
#include "cli_ops.h"
#include "cli_check.h"
#include "pg.h"
#include "pipeline.h"

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
    /* wave.create of the action layer: the API's code too (audit row and
     * the "created" event on wm.status) */
    const char *names[] = {"cutover_at", "max_parallel", "max_launching", "priority"};
    const char *vals[] = {cutover ? at : NULL, maxp, maxl, prio};
    struct action_params p = {.n = 0};
    for (int i = 0; i < 4; i++)
        if (vals[i])
            p.name[p.n] = names[i], p.value[p.n++] = vals[i];
    struct action_result res;
    rc = cli_action(ctx, "wave.create", name, &p, &res, err, sizeof(err));
    if (rc == -ENOTCONN)
        return CLI_ERR;
    if (rc < 0)
        return cli_error(ctx, "%s", err);
    if (!ctx->json) {
        printf("wave '%s' created\n", name);
        return CLI_OK;
    }
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kbool(j, "ok", true);
    wm_json_kstr(j, "action", "wave.create");
    wm_json_kstr(j, "wave", name);
    wm_json_obj_end(j);
    rc = cli_print_json(ctx, j);
    wm_json_free(j);
    return rc;
}

/* --require-approval yes|no, --source-shutdown POLICY, --finalize-after
 * manual|N[smhd]: into SQL parameter text (NULL = not given). */
struct cutover_opts {
    const char *approval, *shutdown, *finalize;
    char finalize_iv[48];
    bool finalize_manual;
};

static int check_cutover_opts(struct cli_ctx *ctx, struct cutover_opts *c)
{
    if (c->approval && strcmp(c->approval, "yes") != 0 && strcmp(c->approval, "no") != 0)
        return cli_usage_error(ctx, "--require-approval: '%s' is not yes or no", c->approval);
    if (c->shutdown && pipeline_shutdown_parse(c->shutdown) < 0)
        return cli_usage_error(ctx, "--source-shutdown: '%s' is not after_validate or "
                                    "after_final_delta", c->shutdown);
    if (!c->finalize)
        return CLI_OK;
    if (strcmp(c->finalize, "manual") == 0) {
        c->finalize_manual = true;
        return CLI_OK;
    }
    char *end;
    long v = strtol(c->finalize, &end, 10);
    const char *unit = *end == 's' ? "seconds" : *end == 'm' ? "minutes" : *end == 'h' ? "hours"
                     : *end == 'd' ? "days" : NULL;
    if (end == c->finalize || v < 0 || v > 365 * 24 * 3600 || !unit || end[1])
        return cli_usage_error(ctx, "--finalize-after: '%s' is not 'manual' or N followed by "
                                    "s, m, h or d", c->finalize);
    snprintf(c->finalize_iv, sizeof(c->finalize_iv), "%ld %s", v, unit);
    return CLI_OK;
}

static int wave_set(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "wave set";
    const char *maxp = NULL, *maxl = NULL, *prio = NULL, *name = NULL;
    struct cutover_opts c = {0};
    const struct cli_opt opts[] = {{"--max-parallel", &maxp, NULL},
                                   {"--max-launching", &maxl, NULL},
                                   {"--priority", &prio, NULL},
                                   {"--require-approval", &c.approval, NULL},
                                   {"--source-shutdown", &c.shutdown, NULL},
                                   {"--finalize-after", &c.finalize, NULL}};
    int rc = cli_args_name(ctx, argc, argv, opts, 6, "wave", WAVE_MAX_NAME,
                           "wave set NAME [--max-parallel N] ...", &name);
    if (rc == CLI_OK)
        rc = check_limits(ctx, maxp, maxl, prio);
    if (rc == CLI_OK)
        rc = check_cutover_opts(ctx, &c);
    if (rc != CLI_OK)
        return rc;
    if (!maxp && !maxl && !prio && !c.approval && !c.shutdown && !c.finalize)
        return cli_usage_error(ctx, "nothing to set (--max-parallel, --max-launching, "
                                    "--priority, --require-approval, --source-shutdown, "
                                    "--finalize-after)");
    const char *p[] = {name, maxp, maxl, prio, c.approval ? (*c.approval == 'y' ? "t" : "f") : NULL,
                       c.shutdown, c.finalize ? "t" : "f",
                       c.finalize && !c.finalize_manual ? c.finalize_iv : NULL};
    struct wave_write w = {
        .ctx = ctx, .params = p, .nparams = 8, .action = "wave.set", .wave = name,
        .sql = "UPDATE waves SET max_parallel = COALESCE($2::int, max_parallel), "
               "max_launching = COALESCE($3::int, max_launching), "
               "priority = COALESCE($4::int, priority), "
               "require_approval = COALESCE($5::bool, require_approval), "
               "source_shutdown = COALESCE($6, source_shutdown), "
               "finalize_after = CASE WHEN $7::bool THEN $8::interval ELSE finalize_after END, "
               "updated_at = now() WHERE name = $1 RETURNING id"};
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

/* Through the action layer (action.c): the same code wavemill-api runs,
 * which also writes the audit row and publishes the wave's new state. */
static int call_op(struct cli_ctx *ctx, enum wave_op op, const char *name, const char *at,
                   char *err, size_t errlen)
{
    struct action_params p = {{"at"}, {at}, at ? 1 : 0};
    struct action_result res;
    return cli_action(ctx, ops[op].action, name, &p, &res, err, errlen);
}

static int report_op(struct cli_ctx *ctx, enum wave_op op, const char *name, const char *at,
                     bool changed, const char *note)
{
    (void)at; /* the action layer wrote the audit row */
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

/* What a cutover at `at` will do, for the confirmation and --dry-run:
 * the servers it reaches now, the order of the steps, what waits. */
static int cutover_plan(struct cli_ctx *ctx, const char *name, const char *at, bool *imminent)
{
    const char *p[] = {name, at ? at : "now"};
    PGresult *r = cli_query(
        ctx,
        "SELECT w.source_shutdown, w.require_approval,"
        " ($2::timestamptz <= now() + interval '10 minutes') AS imminent,"
        " count(*) FILTER (WHERE s.lifecycle = 'READY_FOR_CUTOVER') AS ready,"
        " count(*) FILTER (WHERE s.lifecycle = 'READY_FOR_CUTOVER' AND (s.cutover_hold OR"
        "   (w.require_approval AND s.approved_at IS NULL))) AS waiting,"
        " count(*) FILTER (WHERE s.lifecycle IN ('NOT_READY', 'READY_FOR_TEST', 'TESTING'))"
        "   AS later, count(s.id) AS servers"
        " FROM waves w LEFT JOIN servers s ON s.wave_id = w.id WHERE w.name = $1"
        " GROUP BY w.id",
        2, p);
    if (!r)
        return CLI_ERR;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return cli_error(ctx, "no wave named '%s'", name);
    }
    bool early = strcmp(cli_val(r, 0, "source_shutdown"), "after_final_delta") == 0;
    *imminent = cli_val(r, 0, "imminent")[0] == 't';
    FILE *out = ctx->json ? stderr : stdout;
    fprintf(out, "cutover of wave '%s' at %s: %lld of %lld server(s) ready now", name,
           at ? at : "now", (long long)cli_int(r, 0, "ready"), (long long)cli_int(r, 0, "servers"));
    if (cli_int(r, 0, "waiting"))
        fprintf(out, " (%lld waiting for 'approve')", (long long)cli_int(r, 0, "waiting"));
    if (cli_int(r, 0, "later"))
        fprintf(out, ", %lld cut over once tested", (long long)cli_int(r, 0, "later"));
    fprintf(out, "\n  per server: stop source services -> final delta (verified)%s -> launch cutover "
           "instance -> network/DNS -> validate%s\n",
           early ? " -> shut the source down" : "", early ? "" : " -> shut the source down");
    fprintf(out, "  until the source is shut down a failure rolls the server back (services started "
           "again, cutover instance removed)\n");
    PQclear(r);
    return CLI_OK;
}

/* wave start: the pre-flight first; errors refuse unless --force. */
static int start_preflight(struct cli_ctx *ctx, const char *name, bool force)
{
    int errors = 0;
    int rc = cli_check_wave(ctx, name, true, &errors);
    if (rc != CLI_OK)
        return rc;
    if (errors && !force)
        return cli_error(ctx, "wave '%s' has %d pre-flight error(s) (listed above); fix them "
                              "or start with --force", name, errors);
    return CLI_OK;
}

static int wave_op_cmd(struct cli_ctx *ctx, int argc, char **argv, enum wave_op op)
{
    ctx->command = ops[op].command;
    const char *name = NULL, *at_arg = NULL;
    bool force = false, yes = false, dry = false;
    const struct cli_opt opts[] = {{"--at", &at_arg, NULL},
                                   {"--yes", NULL, &yes},
                                   {"--dry-run", NULL, &dry},
                                   {"--force", NULL, &force}};
    const struct cli_opt *o = op == OP_START ? opts + 3 : opts;
    size_t no = op == OP_CUTOVER ? 3 : op == OP_START ? 1 : 0;
    int rc = cli_args_name(ctx, argc, argv, o, no, "wave", WAVE_MAX_NAME,
                           op == OP_CUTOVER ? "wave cutover NAME [--at TIME] [--yes] [--dry-run]"
                                            : "wave start|pause|resume NAME", &name);
    if (rc != CLI_OK)
        return rc;
    char at[64], err[1024];
    if (at_arg && cli_args_time(at_arg, at, sizeof(at), err, sizeof(err)))
        return cli_usage_error(ctx, "--at: %s", err);
    if (op == OP_START && (rc = start_preflight(ctx, name, force)) != CLI_OK)
        return rc;
    if (op == OP_CUTOVER) {
        bool imminent = false;
        if ((rc = cutover_plan(ctx, name, at_arg ? at : NULL, &imminent)) != CLI_OK || dry)
            return rc;
        if (imminent && !cli_confirm(ctx, yes, "The cutover window opens now."))
            return CLI_ERR;
    }
    struct wm_pg *db = cli_pg(ctx);
    if (!db)
        return CLI_ERR;
    err[0] = '\0';
    rc = call_op(ctx, op, name, at_arg ? at : NULL, err, sizeof(err));
    if (rc == -ENOTCONN)
        return CLI_ERR;
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

static int wave_check(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "wave check";
    const char *name = NULL;
    int errors = 0, rc = cli_args_name(ctx, argc, argv, NULL, 0, "wave", WAVE_MAX_NAME,
                                       "wave check NAME", &name);
    if (rc != CLI_OK || (rc = cli_check_wave(ctx, name, false, &errors)) != CLI_OK)
        return rc;
    return errors ? CLI_ERR : CLI_OK;
}

/* wave approve|revert|finalize NAME [--to testing|cutover] [--force] [--yes]:
 * the server action on every server of the wave it applies to. */
static int wave_servers_cmd(struct cli_ctx *ctx, int argc, char **argv, const char *verb)
{
    static char command[48];
    snprintf(command, sizeof(command), "wave %s", verb);
    ctx->command = command;
    const char *name = NULL, *to = NULL;
    bool force = false, yes = false;
    const struct cli_opt opts[] = {{"--to", &to, NULL}, {"--force", NULL, &force},
                                   {"--yes", NULL, &yes}};
    bool revert = strcmp(verb, "revert") == 0;
    int rc = cli_args_name(ctx, argc, argv, opts, revert ? 3 : 0, "wave", WAVE_MAX_NAME,
                           revert ? "wave revert NAME [--to testing|cutover] [--force] [--yes]"
                                  : "wave approve|finalize NAME", &name);
    if (rc != CLI_OK)
        return rc;
    const char *p[] = {name};
    PGresult *r = cli_query(ctx, "SELECT 1 FROM waves WHERE name = $1", 1, p);
    if (!r)
        return CLI_ERR;
    bool found = PQntuples(r) == 1;
    PQclear(r);
    if (!found)
        return cli_error(ctx, "no wave named '%s'", name);
    if (revert && !cli_confirm(ctx, yes, "Every server of the wave not finalized yet will be "
                                         "rolled back."))
        return CLI_ERR;
    char *args[] = {"server", (char *)verb, "--all", "--wave", (char *)name,
                    "--to", (char *)(to ? to : "cutover"), force ? "--force" : NULL, NULL};
    int n = revert ? (force ? 8 : 7) : 5;
    return cli_server(ctx, n, args);
}

int cli_wave(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "wave";
    if (argc < 2)
        return cli_usage_error(ctx, "wave what? (create, set, list, show, check, start, pause, "
                                    "resume, cutover, approve, revert, finalize)");
    const char *sub = argv[1];
    if (strcmp(sub, "check") == 0)
        return wave_check(ctx, argc, argv);
    if (strcmp(sub, "approve") == 0 || strcmp(sub, "revert") == 0 ||
        strcmp(sub, "finalize") == 0)
        return wave_servers_cmd(ctx, argc, argv, sub);
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
