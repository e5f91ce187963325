/* cli_worker — `wavemill worker list`: the workers seen by their heartbeats
 * (table workers) and the tasks whose leases they hold. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"
#include "json.h"

static const char WORKERS_SQL[] =
    "SELECT w.id, w.host, w.pid, " CLI_ISO("w.started_at") " AS started_at,"
    " floor(extract(epoch FROM now() - w.seen_at))::bigint AS seen_s,"
    " (SELECT count(*) FROM tasks t WHERE t.lease_owner = w.id AND t.state = 'RUNNING') AS tasks,"
    " (SELECT string_agg(s.name || ':' || t.kind, ' ' ORDER BY t.id) FROM tasks t"
    "   JOIN servers s ON s.id = t.server_id"
    "   WHERE t.lease_owner = w.id AND t.state = 'RUNNING') AS holding"
    " FROM workers w WHERE w.seen_at > now() - $1::bigint * interval '1 s' ORDER BY w.id";

static int worker_list(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "worker list";
    const char *within = NULL;
    const struct cli_opt opts[] = {{"--seen-within", &within, NULL}};
    int npos;
    int rc = cli_args_parse(ctx, argc, argv, 2, opts, 1, NULL, 0, &npos);
    long secs = 60;
    if (rc == CLI_OK && within)
        rc = cli_args_int(ctx, "--seen-within", within, 1, 86400 * 30, &secs);
    if (rc != CLI_OK)
        return rc;
    char s[24];
    snprintf(s, sizeof(s), "%ld", secs);
    const char *p[] = {s};
    PGresult *r = cli_query(ctx, WORKERS_SQL, 1, p);
    if (!r)
        return CLI_ERR;
    if (ctx->json) {
        struct wm_json *j = wm_json_new();
        wm_json_obj_begin(j);
        wm_json_kbool(j, "ok", true);
        wm_json_key(j, "workers");
        wm_json_arr_begin(j);
        for (int i = 0; i < PQntuples(r); i++) {
            wm_json_obj_begin(j);
            wm_json_kstr(j, "id", cli_val(r, i, "id"));
            wm_json_kstr(j, "host", cli_val(r, i, "host"));
            wm_json_kint(j, "pid", cli_int(r, i, "pid"));
            wm_json_kstr(j, "started_at", cli_val(r, i, "started_at"));
            wm_json_kint(j, "seen_s_ago", cli_int(r, i, "seen_s"));
            wm_json_kint(j, "tasks", cli_int(r, i, "tasks"));
            wm_json_obj_end(j);
        }
        wm_json_arr_end(j);
        wm_json_obj_end(j);
        rc = cli_print_json(ctx, j);
        wm_json_free(j);
        PQclear(r);
        return rc;
    }
    printf("%-20s %-16s %-8s %-21s %-6s %-5s %s\n", "WORKER", "HOST", "PID", "STARTED", "SEEN",
           "TASKS", "HOLDING");
    for (int i = 0; i < PQntuples(r); i++) {
        char seen[16], line[512];
        snprintf(seen, sizeof(seen), "%llds", (long long)cli_int(r, i, "seen_s"));
        printf("%-20s %-16s %-8s %-21s %-6s %-5s %s\n", cli_val(r, i, "id"),
               cli_val(r, i, "host"), cli_val(r, i, "pid"), cli_val(r, i, "started_at"), seen,
               cli_val(r, i, "tasks"), cli_line(cli_val(r, i, "holding"), line, sizeof(line)));
    }
    if (PQntuples(r) == 0)
        printf("no worker seen in the last %ld s\n", secs);
    PQclear(r);
    return CLI_OK;
}

int cli_worker(struct cli_ctx *ctx, int argc, char **argv)
{
    ctx->command = "worker";
    if (argc < 2 || strcmp(argv[1], "list") != 0)
        return cli_usage_error(ctx, "worker what? (list)");
    return worker_list(ctx, argc, argv);
}
