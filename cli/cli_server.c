/* cli_server — `wavemill server show NAME [--json]` and the actions on one
 * or more servers (names, or --failed --wave W for every FAILED server of a
 * wave):
 *   server retry NAME...                 a FAILED server's step again
 *   server skip NAME... --task KIND      a step done by hand / not needed
 *   server approve NAME...               ready for cutover (after testing)
 *   server revert NAME... [--to testing|cutover] [--force]
 *   server finalize NAME...              accept the cutover
 *   server set|unset NAME|--wave W ...   per-server settings (cli_settings.c)
 *
 * Each runs through the action layer (action.h: the code wavemill-api runs
 * too; it calls cli_ops.h, writes the audit_log row and publishes the
 * server's new state); this file adds the checks a person needs (is KIND a
 * pipeline step?) and the output. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"
#include "json.h"
#include "action.h"
#include "cli_ops.h"
#include "cli_settings.h"
#include "pipeline.h"
#include "pg.h"

#define SERVER_MAX_NAME 255
/* tasks shown: the latest ones (delta syncs repeat and would flood) */
#define SERVER_MAX_TASKS 200

static const char SERVER_SQL[] =
    "SELECT s.id, s.name, w.name AS wave, a.name AS application, s.fqdn, s.os_family, "
    "s.os_version, s.source_host, s.source_port, s.source_user, s.credential, "
    "s.target_provider, s.instance_type, s.subnet_id, "
    "array_to_json(s.security_group_ids)::text AS sgs_json, "
    "array_to_string(s.security_group_ids, ',') AS sgs, "
    "array_to_json(s.test_security_group_ids)::text AS test_sgs_json, "
    "array_to_string(s.test_security_group_ids, ',') AS test_sgs, "
    "s.tags::text AS tags, s.lifecycle, s.replication_state, s.current_step, s.error, "
    CLI_ISO("s.last_delta_at") " AS last_delta_at, " CLI_ISO("s.created_at") " AS created_at, "
    CLI_ISO("s.updated_at") " AS updated_at "
    "FROM servers s JOIN waves w ON w.id = s.wave_id "
    "LEFT JOIN applications a ON a.id = s.application_id WHERE s.name = $1";

static const char DISKS_SQL[] =
    "SELECT source_path, size_bytes, block_size, generation, replicated_bytes, backlog_bytes, "
    "rate_bytes_per_s, replication_state, target_volume, "
    CLI_ISO("last_sync_at") " AS last_sync_at "
    "FROM disks WHERE server_id = $1 ORDER BY source_path";

static const char TASKS_SQL[] =
    "SELECT * FROM (SELECT t.id, t.kind, t.state, t.attempt, t.max_attempts, t.lease_owner, "
    "t.error, " CLI_ISO("t.not_before") " AS not_before, "
    CLI_ISO("t.created_at") " AS created_at, " CLI_ISO("t.finished_at") " AS finished_at, "
    "(SELECT e.message FROM task_events e WHERE e.task_id = t.id AND e.state = 'FAILED' "
    "AND e.message IS NOT NULL ORDER BY e.id DESC LIMIT 1) AS last_failure "
    "FROM tasks t WHERE t.server_id = $1 ORDER BY t.id DESC LIMIT $2) x ORDER BY id";

static const char *nullable(const PGresult *r, int i, const char *col)
{
    return cli_isnull(r, i, col) ? NULL : cli_val(r, i, col);
}

/* --- show --- */

static void server_json(struct wm_json *j, const PGresult *s)
{
    static const char *const text_cols[] = {
        "name", "wave", "application", "fqdn", "os_family", "os_version", "source_host",
        "source_user", "credential", "target_provider", "instance_type", "subnet_id",
        "lifecycle", "replication_state", "current_step", "error", "last_delta_at",
        "created_at", "updated_at"};
    for (size_t i = 0; i < sizeof(text_cols) / sizeof(text_cols[0]); i++)
        wm_json_kstr(j, text_cols[i], nullable(s, 0, text_cols[i]));
    wm_json_kint(j, "source_port", cli_int(s, 0, "source_port"));
    wm_json_kraw(j, "security_group_ids", cli_val(s, 0, "sgs_json"));
    wm_json_kraw(j, "test_security_group_ids", cli_val(s, 0, "test_sgs_json"));
    wm_json_kraw(j, "tags", cli_val(s, 0, "tags"));
}

static void disks_json(struct wm_json *j, const PGresult *d)
{
    static const char *const int_cols[] = {"size_bytes", "block_size", "generation",
                                           "replicated_bytes", "backlog_bytes",
                                           "rate_bytes_per_s"};
    wm_json_arr_begin(j);
    for (int i = 0; i < PQntuples(d); i++) {
        wm_json_obj_begin(j);
        wm_json_kstr(j, "source_path", cli_val(d, i, "source_path"));
        for (size_t k = 0; k < sizeof(int_cols) / sizeof(int_cols[0]); k++)
            wm_json_kint(j, int_cols[k], cli_int(d, i, int_cols[k]));
        wm_json_kstr(j, "replication_state", cli_val(d, i, "replication_state"));
        wm_json_kstr(j, "target_volume", cli_val(d, i, "target_volume"));
        wm_json_kstr(j, "last_sync_at", nullable(d, i, "last_sync_at"));
        wm_json_obj_end(j);
    }
    wm_json_arr_end(j);
}

static void tasks_json(struct wm_json *j, const PGresult *t)
{
    static const char *const text_cols[] = {"kind", "state", "lease_owner", "error",
                                            "last_failure", "not_before", "created_at",
                                            "finished_at"};
    wm_json_arr_begin(j);
    for (int i = 0; i < PQntuples(t); i++) {
        wm_json_obj_begin(j);
        wm_json_kint(j, "id", cli_int(t, i, "id"));
        wm_json_kint(j, "attempt", cli_int(t, i, "attempt"));
        wm_json_kint(j, "max_attempts", cli_int(t, i, "max_attempts"));
        for (size_t k = 0; k < sizeof(text_cols) / sizeof(text_cols[0]); k++)
            wm_json_kstr(j, text_cols[k], nullable(t, i, text_cols[k]));
        wm_json_obj_end(j);
    }
    wm_json_arr_end(j);
}

static int show_json(struct cli_ctx *ctx, const PGresult *s, const PGresult *d,
                     const PGresult *t, const PGresult *st)
{
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kbool(j, "ok", true);
    wm_json_key(j, "server");
    wm_json_obj_begin(j);
    server_json(j, s);
    wm_json_key(j, "disks");
    disks_json(j, d);
    wm_json_key(j, "tasks");
    tasks_json(j, t);
    wm_json_key(j, "settings");
    cli_settings_json(j, st);
    wm_json_obj_end(j);
    wm_json_obj_end(j);
    int rc = cli_print_json(ctx, j);
    wm_json_free(j);
    return rc;
}

static const char *dash(const char *s)
{
    return s && *s ? s : "-";
}

static void show_print(const PGresult *s, const PGresult *d, const PGresult *t,
                       const PGresult *st)
{
    char line[1024];
    printf("server %s  wave %s  application %s\n", cli_val(s, 0, "name"), cli_val(s, 0, "wave"),
           dash(cli_val(s, 0, "application")));
    printf("  lifecycle %s  step %s  replication %s\n", cli_val(s, 0, "lifecycle"),
           dash(cli_val(s, 0, "current_step")), cli_val(s, 0, "replication_state"));
    if (*cli_val(s, 0, "error"))
        printf("  error: %s\n", cli_line(cli_val(s, 0, "error"), line, sizeof(line)));
    printf("  fqdn %s  os %s %s\n", dash(cli_val(s, 0, "fqdn")), cli_val(s, 0, "os_family"),
           cli_val(s, 0, "os_version"));
    printf("  source %s@%s:%s  credential %s\n", dash(cli_val(s, 0, "source_user")),
           cli_val(s, 0, "source_host"), cli_val(s, 0, "source_port"),
           dash(cli_val(s, 0, "credential")));
    printf("  target %s  instance %s  subnet %s  sg %s  test-sg %s\n",
           cli_val(s, 0, "target_provider"), dash(cli_val(s, 0, "instance_type")),
           dash(cli_val(s, 0, "subnet_id")), dash(cli_val(s, 0, "sgs")),
           dash(cli_val(s, 0, "test_sgs")));
    printf("  tags %s  last delta %s\n", cli_val(s, 0, "tags"),
           dash(cli_val(s, 0, "last_delta_at")));
    cli_settings_print(st);
    printf("  disks:\n");
    for (int i = 0; i < PQntuples(d); i++) {
        char a[32], b[32], c[32];
        printf("    %-28s %-12s gen %-4s replicated %s of %s, backlog %s, last sync %s\n",
               cli_val(d, i, "source_path"), cli_val(d, i, "replication_state"),
               cli_val(d, i, "generation"),
               cli_fmt_bytes(cli_int(d, i, "replicated_bytes"), a, sizeof(a)),
               cli_fmt_bytes(cli_int(d, i, "size_bytes"), b, sizeof(b)),
               cli_fmt_bytes(cli_int(d, i, "backlog_bytes"), c, sizeof(c)),
               dash(cli_val(d, i, "last_sync_at")));
    }
    printf("  tasks:\n");
    for (int i = 0; i < PQntuples(t); i++) {
        const char *e = *cli_val(t, i, "error") ? cli_val(t, i, "error")
                                                 : cli_val(t, i, "last_failure");
        printf("    %-8s %-22s %-10s attempt %s/%s%s%s\n", cli_val(t, i, "id"),
               cli_val(t, i, "kind"), cli_val(t, i, "state"), cli_val(t, i, "attempt"),
               cli_val(t, i, "max_attempts"), *e ? "  last error: " : "",
               cli_line(e, line, sizeof(line)));
    }
}

static int server_show(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "server show";
    const char *name = NULL;
    int rc = cli_args_name(ctx, argc, argv, NULL, 0, "server", SERVER_MAX_NAME,
                           "server show NAME [--json]", &name);
    if (rc != CLI_OK)
        return rc;
    const char *p[] = {name};
    PGresult *s = cli_query(ctx, SERVER_SQL, 1, p), *d = NULL, *t = NULL;
    if (!s)
        return CLI_ERR;
    if (PQntuples(s) == 0) {
        PQclear(s);
        return cli_error(ctx, "no server named '%s'", name);
    }
    char lim[16];
    snprintf(lim, sizeof(lim), "%d", SERVER_MAX_TASKS);
    const char *pid[] = {cli_val(s, 0, "id"), lim};
    d = cli_query(ctx, DISKS_SQL, 1, pid);
    t = d ? cli_query(ctx, TASKS_SQL, 2, pid) : NULL;
    PGresult *st = t ? cli_settings_query(ctx, name) : NULL;
    if (!st)
        rc = CLI_ERR;
    else if (ctx->json)
        rc = show_json(ctx, s, d, t, st);
    else
        show_print(s, d, t, st);
    PQclear(st);
    PQclear(t);
    PQclear(d);
    PQclear(s);
    return rc;
}

/* --- actions on one or more servers: retry, skip, approve, revert, finalize --- */

enum srv_action { ACT_RETRY, ACT_SKIP, ACT_APPROVE, ACT_REVERT, ACT_FINALIZE };

struct srv_action_def {
    const char *verb;   /* "retry" */
    const char *audit;  /* "server.retry" */
    const char *done;   /* printed when it changed something */
};

static const struct srv_action_def actions[] = {
    [ACT_RETRY] = {"retry", "server.retry", "failed step queued again with new attempts"},
    [ACT_SKIP] = {"skip", "server.skip", "step skipped"},
    [ACT_APPROVE] = {"approve", "server.approve", "approved for cutover"},
    [ACT_REVERT] = {"revert", "server.revert", "rolling back"},
    [ACT_FINALIZE] = {"finalize", "server.finalize", "cutover finalized; decommission may run"},
};

struct srv_request {
    enum srv_action act;
    const char *kind;  /* skip: the step */
    const char *to;    /* revert: READY_FOR_TEST / READY_FOR_CUTOVER */
    bool force;        /* revert after the source was shut down */
};

static int report(struct cli_ctx *ctx, const struct srv_request *q, const char *name,
                  bool changed, const char *note)
{
    const struct srv_action_def *d = &actions[q->act];
    /* the action layer (action.c) wrote the audit row */
    if (ctx->json) {
        struct wm_json *j = wm_json_new();
        wm_json_obj_begin(j);
        wm_json_kbool(j, "ok", true);
        wm_json_kstr(j, "action", d->audit);
        wm_json_kstr(j, "server", name);
        if (q->kind)
            wm_json_kstr(j, "task", q->kind);
        if (q->to)
            wm_json_kstr(j, "to", q->to);
        wm_json_kbool(j, "changed", changed);
        wm_json_kstr(j, "note", note);
        wm_json_obj_end(j);
        int rc = cli_print_json(ctx, j);
        wm_json_free(j);
        return rc;
    }
    if (changed && q->kind)
        printf("server '%s': step %s skipped\n", name, q->kind);
    else if (changed)
        printf("server '%s': %s\n", name, d->done);
    else
        printf("server '%s': %s (nothing changed)\n", name, note);
    return CLI_OK;
}

static int run_action(struct cli_ctx *ctx, struct wm_pg *db, const struct srv_request *q,
                      const char *name)
{
    (void)db; /* cli_action() takes the CLI's connection */
    char err[1024] = "";
    struct action_params p = {.n = 0};
    if (q->kind)
        p.name[p.n] = "task", p.value[p.n++] = q->kind;
    if (q->to) {
        p.name[p.n] = "to", p.value[p.n++] = q->to;
        p.name[p.n] = "force", p.value[p.n++] = q->force ? "true" : "false";
    }
    struct action_result res;
    int rc = cli_action(ctx, actions[q->act].audit, name, &p, &res, err, sizeof(err));
    if (rc == -ENOTCONN)
        return CLI_ERR;
    if (rc == -ENOENT)
        return cli_error(ctx, "no server named '%s'", name);
    if (rc == -EALREADY)
        return report(ctx, q, name, false, *err ? err : "already done");
    if (rc < 0)
        return cli_error(ctx, "%s", *err ? err : strerror(-rc));
    return report(ctx, q, name, true, NULL);
}

static int bad_kind(struct cli_ctx *ctx, const char *kind)
{
    size_t n;
    const struct pipeline_step *steps = pipeline_steps(&n);
    char list[1024] = "";
    for (size_t i = 0; i < n; i++) {
        size_t used = strlen(list);
        snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", steps[i].kind);
    }
    return cli_usage_error(ctx, "'%s' is not a pipeline step (%s)", kind, list);
}

/* The servers of wave an action applies to: --failed, the FAILED ones;
 * --all, those in a state where the action means something. */
static PGresult *wave_servers(struct cli_ctx *ctx, const char *wave, bool failed,
                              const struct srv_request *q)
{
    static const char *const where[] = {
        [ACT_RETRY] = "s.lifecycle = 'FAILED'",
        [ACT_SKIP] = "s.lifecycle = 'FAILED'",
        [ACT_APPROVE] = "s.lifecycle IN ('READY_FOR_TEST', 'TESTING', 'READY_FOR_CUTOVER')"
                        " AND (s.approved_at IS NULL OR s.cutover_hold)",
        [ACT_REVERT] = "s.finalized_at IS NULL AND s.lifecycle IN ('TESTING', "
                       "'READY_FOR_CUTOVER', 'CUTTING_OVER', 'CUTOVER', 'POST_MIGRATION', "
                       "'FAILED') AND ($2 = 'READY_FOR_TEST' OR s.lifecycle NOT IN "
                       "('TESTING', 'READY_FOR_CUTOVER'))",
        [ACT_FINALIZE] = "s.finalized_at IS NULL AND s.lifecycle IN ('CUTOVER', "
                         "'POST_MIGRATION')",
    };
    char sql[768];
    snprintf(sql, sizeof(sql),
             "SELECT s.name FROM servers s JOIN waves w ON w.id = s.wave_id"
             " WHERE w.name = $1 AND ($2 = $2) AND %s ORDER BY s.name",
             failed ? "s.lifecycle = 'FAILED'" : where[q->act]);
    const char *p[] = {wave, q->to ? q->to : ""};
    return cli_query(ctx, sql, 2, p);
}

static int check_request(struct cli_ctx *ctx, struct srv_request *q, const char *to)
{
    if (q->act == ACT_SKIP && !q->kind)
        return cli_usage_error(ctx, "which step? (--task KIND)");
    if (q->act == ACT_SKIP && !pipeline_find(q->kind, NULL))
        return bad_kind(ctx, q->kind);
    if (q->act == ACT_REVERT) {
        if (!to || strcmp(to, "cutover") == 0 || strcmp(to, "READY_FOR_CUTOVER") == 0)
            q->to = "READY_FOR_CUTOVER";
        else if (strcmp(to, "testing") == 0 || strcmp(to, "READY_FOR_TEST") == 0)
            q->to = "READY_FOR_TEST";
        else
            return cli_usage_error(ctx, "--to: '%s' is not testing or cutover", to);
    }
    return CLI_OK;
}

#define SERVER_MAX_NAMES 1000

/* server VERB NAME... [--failed --wave W] [--task KIND] [--to testing|cutover] [--force] */
static int server_action(struct cli_ctx *ctx, int argc, char **argv, enum srv_action act)
{
    static char command[64];
    snprintf(command, sizeof(command), "server %s", actions[act].verb);
    ctx->command = command;
    struct srv_request q = {.act = act};
    const char *names[SERVER_MAX_NAMES], *wave = NULL, *to = NULL;
    bool failed = false, all = false;
    const struct cli_opt opts[] = {{"--task", &q.kind, NULL}, {"--to", &to, NULL},
                                   {"--force", NULL, &q.force}, {"--failed", NULL, &failed},
                                   {"--all", NULL, &all}, {"--wave", &wave, NULL}};
    int npos, rc = cli_args_parse(ctx, argc, argv, 2, opts, 6, names, SERVER_MAX_NAMES, &npos);
    if (rc != CLI_OK || (rc = check_request(ctx, &q, to)) != CLI_OK)
        return rc;
    if ((failed || all) && !wave)
        return cli_usage_error(ctx, "--failed and --all need --wave NAME");
    if (npos == 0 && !failed && !all)
        return cli_usage_error(ctx, "which server? (wavemill server %s NAME... or --failed "
                                    "--wave W)",
                               actions[act].verb);
    struct wm_pg *db = cli_pg(ctx);
    if (!db)
        return CLI_ERR;
    PGresult *f = failed || all ? wave_servers(ctx, wave, failed, &q) : NULL;
    if ((failed || all) && !f)
        return CLI_ERR;
    failed = failed || all;
    int worst = CLI_OK, total = npos + (f ? PQntuples(f) : 0);
    for (int i = 0; i < total; i++) {
        const char *name = i < npos ? names[i] : PQgetvalue(f, i - npos, 0);
        if (strlen(name) > SERVER_MAX_NAME) {
            worst = cli_usage_error(ctx, "server name longer than %d bytes", SERVER_MAX_NAME);
            continue;
        }
        if ((rc = run_action(ctx, db, &q, name)) != CLI_OK)
            worst = rc;
    }
    if (failed && total == 0 && !ctx->json)
        printf("wave '%s' has no server to %s (nothing changed)\n", wave, actions[act].verb);
    PQclear(f);
    return worst;
}

int cli_server(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "server";
    if (argc < 2)
        return cli_usage_error(ctx, "server what? (show, retry, skip, approve, revert, "
                                    "finalize, set, unset)");
    const char *sub = argv[1];
    if (strcmp(sub, "show") == 0)
        return server_show(ctx, argc, argv);
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
        if (strcmp(sub, actions[i].verb) == 0)
            return server_action(ctx, argc, argv, (enum srv_action)i);
    if (strcmp(sub, "set") == 0 || strcmp(sub, "unset") == 0)
        return cli_settings_set(ctx, argc, argv, strcmp(sub, "unset") == 0);
    return cli_usage_error(ctx, "unknown subcommand 'server %s'", sub);
}
