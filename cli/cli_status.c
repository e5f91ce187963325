/* cli_status — `wavemill status [--wave NAME] [--json]`, and the per-wave
 * summary that `wave show` shares.
 *
 * Read-only: one statement per view, so the numbers of one wave are
 * consistent with each other. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"
#include "json.h"

static const char *const lifecycles[] = {
    "NOT_READY", "READY_FOR_TEST", "TESTING", "READY_FOR_CUTOVER", "CUTTING_OVER",
    "CUTOVER",   "POST_MIGRATION", "DONE",    "FAILED",            "PAUSED",
};
#define NLIFECYCLES (sizeof(lifecycles) / sizeof(lifecycles[0]))

static const char *const task_states[] = {"pending", "queued", "running", "failed",
                                          "succeeded", "skipped", "cancelled"};
#define NTASK_STATES (sizeof(task_states) / sizeof(task_states[0]))

/* aliases are lower case: PQfnumber folds unquoted names */
#define LC(X, x) ", count(*) FILTER (WHERE s.lifecycle = '" X "') AS lc_" x
#define TS(x, X) ", count(*) FILTER (WHERE t.state = '" X "') AS tasks_" x

/* The SQL text is built from constants only; the wave name is $1. */
static const char SUMMARY_SQL[] =
    "SELECT w.id, w.name, w.status, w.priority, w.max_parallel, w.max_launching, "
    CLI_ISO("w.cutover_at") " AS cutover_at, "
    "(w.cutover_at IS NOT NULL AND w.cutover_at <= now()) AS cutover_open, "
    CLI_ISO("w.started_at") " AS started_at, " CLI_ISO("w.finished_at") " AS finished_at, "
    CLI_ISO("w.created_at") " AS created_at, sc.*, tc.*, dc.* "
    "FROM waves w "
    "LEFT JOIN LATERAL (SELECT count(*) AS servers" LC("NOT_READY", "not_ready") LC("READY_FOR_TEST", "ready_for_test")
    LC("TESTING", "testing") LC("READY_FOR_CUTOVER", "ready_for_cutover") LC("CUTTING_OVER", "cutting_over") LC("CUTOVER", "cutover")
    LC("POST_MIGRATION", "post_migration") LC("DONE", "done") LC("FAILED", "failed") LC("PAUSED", "paused")
    " FROM servers s WHERE s.wave_id = w.id) sc ON true "
    "LEFT JOIN LATERAL (SELECT count(*) AS tasks" TS("pending", "PENDING") TS("queued", "QUEUED")
    TS("running", "RUNNING") TS("failed", "FAILED") TS("succeeded", "SUCCEEDED")
    TS("skipped", "SKIPPED") TS("cancelled", "CANCELLED")
    " FROM tasks t WHERE t.wave_id = w.id) tc ON true "
    "LEFT JOIN LATERAL (SELECT count(d.id) AS disks, "
    "COALESCE(sum(d.size_bytes), 0) AS size_bytes, "
    "COALESCE(sum(d.replicated_bytes), 0) AS replicated_bytes, "
    "COALESCE(sum(d.backlog_bytes), 0) AS backlog_bytes "
    "FROM disks d JOIN servers s ON s.id = d.server_id WHERE s.wave_id = w.id) dc ON true "
    "WHERE ($1::text IS NULL OR w.name = $1) "
    "ORDER BY w.priority DESC, w.name";

int64_t cli_lifecycle_count(const PGresult *r, int row, const char *lifecycle)
{
    char col[40];
    size_t i = 0;
    for (; lifecycle[i] && i < sizeof(col) - 4; i++)
        col[i + 3] = (char)tolower((unsigned char)lifecycle[i]);
    memcpy(col, "lc_", 3);
    col[i + 3] = '\0';
    return cli_int(r, row, col);
}

PGresult *cli_wave_summaries(struct cli_ctx *ctx, const char *wave)
{
    const char *p[] = {wave};
    return cli_query(ctx, SUMMARY_SQL, 1, p);
}

static void json_nullable_str(struct wm_json *j, const char *key, const PGresult *r, int row)
{
    wm_json_key(j, key);
    if (cli_isnull(r, row, key))
        wm_json_null(j);
    else
        wm_json_str(j, cli_val(r, row, key));
}

void cli_wave_summary_json(struct wm_json *j, const PGresult *r, int row)
{
    wm_json_obj_begin(j);
    wm_json_kstr(j, "name", cli_val(r, row, "name"));
    wm_json_kstr(j, "status", cli_val(r, row, "status"));
    wm_json_kint(j, "priority", cli_int(r, row, "priority"));
    wm_json_kint(j, "max_parallel", cli_int(r, row, "max_parallel"));
    wm_json_kint(j, "max_launching", cli_int(r, row, "max_launching"));
    json_nullable_str(j, "cutover_at", r, row);
    wm_json_kbool(j, "cutover_open", cli_val(r, row, "cutover_open")[0] == 't');
    json_nullable_str(j, "started_at", r, row);
    json_nullable_str(j, "finished_at", r, row);
    json_nullable_str(j, "created_at", r, row);
    wm_json_kint(j, "servers", cli_int(r, row, "servers"));
    wm_json_key(j, "servers_by_lifecycle");
    wm_json_obj_begin(j);
    for (size_t i = 0; i < NLIFECYCLES; i++)
        wm_json_kint(j, lifecycles[i], cli_lifecycle_count(r, row, lifecycles[i]));
    wm_json_obj_end(j);
    wm_json_key(j, "tasks");
    wm_json_obj_begin(j);
    for (size_t i = 0; i < NTASK_STATES; i++) {
        char col[32];
        snprintf(col, sizeof(col), "tasks_%s", task_states[i]);
        wm_json_kint(j, task_states[i], cli_int(r, row, col));
    }
    wm_json_obj_end(j);
    wm_json_kint(j, "disks", cli_int(r, row, "disks"));
    wm_json_kint(j, "size_bytes", cli_int(r, row, "size_bytes"));
    wm_json_kint(j, "replicated_bytes", cli_int(r, row, "replicated_bytes"));
    wm_json_kint(j, "backlog_bytes", cli_int(r, row, "backlog_bytes"));
    wm_json_obj_end(j);
}

void cli_wave_summary_print(const PGresult *r, int row)
{
    const char *cut = cli_val(r, row, "cutover_at");
    printf("wave %s  %s  priority %lld  max-parallel %lld  cutover %s%s\n",
           cli_val(r, row, "name"), cli_val(r, row, "status"),
           (long long)cli_int(r, row, "priority"), (long long)cli_int(r, row, "max_parallel"),
           *cut ? cut : "not set", cli_val(r, row, "cutover_open")[0] == 't' ? " (open)" : "");
    printf("  servers %lld:", (long long)cli_int(r, row, "servers"));
    int shown = 0;
    for (size_t i = 0; i < NLIFECYCLES; i++) {
        int64_t n = cli_lifecycle_count(r, row, lifecycles[i]);
        if (n)
            printf("%s %s %lld", shown++ ? "," : "", lifecycles[i], (long long)n);
    }
    printf("\n  tasks: %lld running, %lld failed, %lld queued, %lld pending, %lld succeeded\n",
           (long long)cli_int(r, row, "tasks_running"), (long long)cli_int(r, row, "tasks_failed"),
           (long long)cli_int(r, row, "tasks_queued"), (long long)cli_int(r, row, "tasks_pending"),
           (long long)cli_int(r, row, "tasks_succeeded"));
    char a[32], b[32], c[32];
    printf("  replicated %s of %s (backlog %s) on %lld disks\n",
           cli_fmt_bytes(cli_int(r, row, "replicated_bytes"), a, sizeof(a)),
           cli_fmt_bytes(cli_int(r, row, "size_bytes"), b, sizeof(b)),
           cli_fmt_bytes(cli_int(r, row, "backlog_bytes"), c, sizeof(c)),
           (long long)cli_int(r, row, "disks"));
}

int cli_print_json(struct cli_ctx *ctx, struct wm_json *j)
{
    if (wm_json_error(j))
        return cli_error(ctx, "could not build the JSON output");
    puts(wm_json_text(j));
    return CLI_OK;
}

/* --- per-server rows of one wave --- */

static const char SERVERS_SQL[] =
    "SELECT s.name, s.lifecycle, s.current_step, s.replication_state, s.error, "
    "(s.cutover_hold OR (w.require_approval AND s.approved_at IS NULL "
    " AND s.lifecycle = 'READY_FOR_CUTOVER')) AS held, "
    "COALESCE(d.size, 0) AS size_bytes, COALESCE(d.replicated, 0) AS replicated_bytes, "
    "COALESCE(d.backlog, 0) AS backlog_bytes, t.kind AS task_kind, t.state AS task_state, "
    "t.attempt AS task_attempt, t.lease_owner AS task_worker, "
    "to_char(t.claimed_at AT TIME ZONE 'UTC', 'HH24:MI:SS') AS task_since, "
    "CASE WHEN t.claimed_at IS NULL THEN NULL ELSE "
    "floor(extract(epoch FROM now() - t.claimed_at))::bigint END AS task_secs "
    "FROM servers s JOIN waves w ON w.id = s.wave_id "
    "LEFT JOIN LATERAL (SELECT sum(size_bytes) AS size, sum(replicated_bytes) AS replicated, "
    "sum(backlog_bytes) AS backlog FROM disks WHERE server_id = s.id) d ON true "
    "LEFT JOIN LATERAL (SELECT kind, state, attempt, lease_owner, claimed_at FROM tasks "
    "WHERE server_id = s.id "
    "AND state IN ('PENDING', 'QUEUED', 'RUNNING', 'FAILED') ORDER BY id DESC LIMIT 1) t "
    "ON true WHERE w.name = $1 ORDER BY s.name LIMIT 100000";

static void server_row_json(struct wm_json *j, const PGresult *r, int i)
{
    wm_json_obj_begin(j);
    wm_json_kstr(j, "name", cli_val(r, i, "name"));
    wm_json_kstr(j, "lifecycle", cli_val(r, i, "lifecycle"));
    wm_json_kstr(j, "current_step", cli_isnull(r, i, "current_step") ? NULL
                                                                      : cli_val(r, i, "current_step"));
    wm_json_kstr(j, "replication_state", cli_val(r, i, "replication_state"));
    wm_json_kint(j, "size_bytes", cli_int(r, i, "size_bytes"));
    wm_json_kint(j, "replicated_bytes", cli_int(r, i, "replicated_bytes"));
    wm_json_kint(j, "backlog_bytes", cli_int(r, i, "backlog_bytes"));
    wm_json_key(j, "task");
    if (cli_isnull(r, i, "task_kind")) {
        wm_json_null(j);
    } else {
        wm_json_obj_begin(j);
        wm_json_kstr(j, "kind", cli_val(r, i, "task_kind"));
        wm_json_kstr(j, "state", cli_val(r, i, "task_state"));
        wm_json_kint(j, "attempt", cli_int(r, i, "task_attempt"));
        if (strcmp(cli_val(r, i, "task_state"), "RUNNING") == 0) {
            wm_json_kstr(j, "worker", cli_val(r, i, "task_worker"));
            wm_json_kint(j, "running_s", cli_int(r, i, "task_secs"));
        }
        wm_json_obj_end(j);
    }
    wm_json_kstr(j, "error", cli_isnull(r, i, "error") ? NULL : cli_val(r, i, "error"));
    wm_json_kbool(j, "held_for_approval", cli_val(r, i, "held")[0] == 't');
    wm_json_obj_end(j);
}

static void server_rows_print(const PGresult *r)
{
    printf("  %-24s %-18s %-20s %-12s %-21s %s\n", "SERVER", "LIFECYCLE", "STEP", "REPLICATION",
           "REPLICATED", "TASK");
    for (int i = 0; i < PQntuples(r); i++) {
        char a[32], b[32], rep[48], task[192] = "-", line[1024];
        snprintf(rep, sizeof(rep), "%s/%s",
                 cli_fmt_bytes(cli_int(r, i, "replicated_bytes"), a, sizeof(a)),
                 cli_fmt_bytes(cli_int(r, i, "size_bytes"), b, sizeof(b)));
        bool running = strcmp(cli_val(r, i, "task_state"), "RUNNING") == 0;
        if (!cli_isnull(r, i, "task_kind") && running)
            snprintf(task, sizeof(task), "%s#%s RUNNING on %s since %s (%llds)",
                     cli_val(r, i, "task_kind"), cli_val(r, i, "task_attempt"),
                     cli_val(r, i, "task_worker"), cli_val(r, i, "task_since"),
                     (long long)cli_int(r, i, "task_secs"));
        else if (!cli_isnull(r, i, "task_kind"))
            snprintf(task, sizeof(task), "%s#%s %s%s", cli_val(r, i, "task_kind"),
                     cli_val(r, i, "task_attempt"), cli_val(r, i, "task_state"),
                     cli_val(r, i, "held")[0] == 't' ? " (held: server approve)" : "");
        const char *step = cli_val(r, i, "current_step");
        printf("  %-24s %-18s %-20s %-12s %-21s %s\n", cli_val(r, i, "name"),
               cli_val(r, i, "lifecycle"), *step ? step : "-", cli_val(r, i, "replication_state"),
               rep, task);
        if (!cli_isnull(r, i, "error") && *cli_val(r, i, "error"))
            printf("    error: %s\n", cli_line(cli_val(r, i, "error"), line, sizeof(line)));
    }
}

/* --- per-receiver load (a pool of receivers, disks.receiver) --- */

/* A disk is syncing while its backlog is not zero (progress rows); its
 * rate then is the current one. */
static const char RECEIVERS_SQL[] =
    "SELECT receiver, count(*) AS disks, "
    "count(*) FILTER (WHERE backlog_bytes > 0 AND replication_state <> 'STALLED') AS syncing, "
    "COALESCE(sum(rate_bytes_per_s) FILTER (WHERE backlog_bytes > 0 AND "
    "replication_state <> 'STALLED'), 0) AS rate, COALESCE(sum(replicated_bytes), 0) AS bytes "
    "FROM disks WHERE receiver <> '' GROUP BY receiver ORDER BY receiver LIMIT 1000";

static void receivers_json(struct wm_json *j, const PGresult *r)
{
    wm_json_key(j, "receivers");
    wm_json_arr_begin(j);
    for (int i = 0; i < PQntuples(r); i++) {
        wm_json_obj_begin(j);
        wm_json_kstr(j, "receiver", cli_val(r, i, "receiver"));
        wm_json_kint(j, "disks", cli_int(r, i, "disks"));
        wm_json_kint(j, "syncing", cli_int(r, i, "syncing"));
        wm_json_kint(j, "bytes_per_s", cli_int(r, i, "rate"));
        wm_json_kint(j, "replicated_bytes", cli_int(r, i, "bytes"));
        wm_json_obj_end(j);
    }
    wm_json_arr_end(j);
}

static void receivers_print(const PGresult *r)
{
    if (PQntuples(r) == 0)
        return;
    printf("receivers (each syncing disk runs repl.streams streams):\n");
    printf("  %-32s %7s %8s %12s %12s\n", "RECEIVER", "DISKS", "SYNCING", "RATE/s", "REPLICATED");
    for (int i = 0; i < PQntuples(r); i++) {
        char a[32], b[32];
        printf("  %-32s %7lld %8lld %12s %12s\n", cli_val(r, i, "receiver"),
               (long long)cli_int(r, i, "disks"), (long long)cli_int(r, i, "syncing"),
               cli_fmt_bytes(cli_int(r, i, "rate"), a, sizeof(a)),
               cli_fmt_bytes(cli_int(r, i, "bytes"), b, sizeof(b)));
    }
}

/* --- the command --- */

static int status_json(struct cli_ctx *ctx, const PGresult *w, const PGresult *servers,
                       const PGresult *receivers)
{
    struct wm_json *j = wm_json_new();
    if (!j)
        return cli_error(ctx, "out of memory");
    wm_json_obj_begin(j);
    wm_json_kbool(j, "ok", true);
    wm_json_key(j, "waves");
    wm_json_arr_begin(j);
    for (int i = 0; i < PQntuples(w); i++)
        cli_wave_summary_json(j, w, i);
    wm_json_arr_end(j);
    if (servers) {
        wm_json_key(j, "servers");
        wm_json_arr_begin(j);
        for (int i = 0; i < PQntuples(servers); i++)
            server_row_json(j, servers, i);
        wm_json_arr_end(j);
    }
    if (receivers)
        receivers_json(j, receivers);
    wm_json_obj_end(j);
    int rc = cli_print_json(ctx, j);
    wm_json_free(j);
    return rc;
}

int cli_status(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "status";
    const char *wave = NULL;
    const struct cli_opt opts[] = {{"--wave", &wave, NULL}};
    const char *pos[1];
    int npos, rc = cli_args_parse(ctx, argc, argv, 1, opts, 1, pos, 0, &npos);
    if (rc != CLI_OK)
        return rc;
    PGresult *w = cli_wave_summaries(ctx, wave);
    if (!w)
        return CLI_ERR;
    if (wave && PQntuples(w) == 0) {
        PQclear(w);
        return cli_error(ctx, "no wave named '%s'", wave);
    }
    PGresult *servers = NULL;
    if (wave) {
        const char *p[] = {wave};
        servers = cli_query(ctx, SERVERS_SQL, 1, p);
        if (!servers) {
            PQclear(w);
            return CLI_ERR;
        }
    }
    PGresult *receivers = cli_query(ctx, RECEIVERS_SQL, 0, NULL);
    if (ctx->json) {
        rc = status_json(ctx, w, servers, receivers);
    } else {
        if (PQntuples(w) == 0)
            printf("no waves (create one with 'wavemill wave create' or 'wavemill import')\n");
        for (int i = 0; i < PQntuples(w); i++)
            cli_wave_summary_print(w, i);
        if (servers)
            server_rows_print(servers);
        if (receivers)
            receivers_print(receivers);
        rc = CLI_OK;
    }
    PQclear(receivers);
    PQclear(servers);
    PQclear(w);
    return rc;
}
