/* cli_check — `wavemill wave check NAME`: the pre-flight of a wave.
 *
 * Everything that would make a server fail for a reason no retry fixes is
 * found before anything runs, for every server at once: no disks, an
 * unknown provider, an ssh transport without host, user or credential, a
 * credential missing from the store, relative disk paths.  Errors block
 * `wave start` (unless --force); warnings (a cutover window already open, a
 * default command that will be used, a transport left to the simulator for
 * a real provider) are printed and do not. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_args.h"
#include "cli_check.h"
#include "json.h"

static const char CHECK_WAVE_SQL[] =
    "SELECT w.status, (w.cutover_at IS NOT NULL AND w.cutover_at < now()) AS past,"
    " " CLI_ISO("w.cutover_at") " AS cutover_at,"
    " (SELECT count(*) FROM servers s WHERE s.wave_id = w.id) AS servers"
    " FROM waves w WHERE w.name = $1";

static const char CHECK_SERVERS_SQL[] =
    "SELECT s.name, s.target_provider AS provider, s.source_host, s.source_user, s.credential,"
    " coalesce(s.settings->>'transport', '') AS transport,"
    " coalesce(s.settings->>'replication', '') AS replication,"
    " coalesce(s.settings->>'exec_script', '') AS exec_script,"
    " s.settings ? 'stop_command' AS has_stop, s.settings ? 'start_command' AS has_start,"
    " s.settings ? 'shutdown_command' AS has_shutdown,"
    " s.settings ? 'receiver' AS has_receiver,"
    " (SELECT count(*) FROM disks d WHERE d.server_id = s.id) AS disks,"
    " (SELECT count(*) FROM disks d WHERE d.server_id = s.id AND (d.source_path NOT LIKE '/%'"
    "   OR d.source_path LIKE '%/../%' OR d.source_path LIKE '%/..')) AS bad_paths,"
    " (s.credential = '' OR EXISTS (SELECT 1 FROM credentials c WHERE c.name = s.credential))"
    "   AS credential_ok"
    " FROM servers s JOIN waves w ON w.id = s.wave_id WHERE w.name = $1 ORDER BY s.name";

static const char *const providers[] = {"sim", "aws", "exec", "libvirt", NULL};
static const char *const transports[] = {"", "sim", "ssh", "local", NULL};

struct check_out {
    struct cli_ctx *ctx;
    struct wm_json *j; /* --json: the problems array being written */
    int errors, warnings;
};

static void problem(struct check_out *o, bool error, const char *server, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void problem(struct check_out *o, bool error, const char *server, const char *fmt, ...)
{
    char msg[512], line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    *(error ? &o->errors : &o->warnings) += 1;
    if (o->j) {
        wm_json_obj_begin(o->j);
        wm_json_kstr(o->j, "level", error ? "error" : "warning");
        if (server)
            wm_json_kstr(o->j, "server", server);
        wm_json_kstr(o->j, "problem", msg);
        wm_json_obj_end(o->j);
        return;
    }
    printf("  %-7s %-24s %s\n", error ? "ERROR" : "warning", server ? server : "(wave)",
           cli_line(msg, line, sizeof(line)));
}

static bool in_set(const char *v, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(v, *set) == 0)
            return true;
    return false;
}

static bool col_true(const PGresult *r, int i, const char *col)
{
    return cli_val(r, i, col)[0] == 't';
}

static void check_transport(struct check_out *o, const PGresult *r, int i, const char *name)
{
    const char *tr = cli_val(r, i, "transport"), *prov = cli_val(r, i, "provider");
    if (!in_set(tr, transports))
        problem(o, true, name, "unknown transport '%s' (ssh, local or sim)", tr);
    if ((!*tr || strcmp(tr, "sim") == 0) && strcmp(prov, "sim") != 0)
        problem(o, false, name, "provider %s with the simulated transport: nothing reaches the "
                                "source (set transport=ssh)", prov);
    if (strcmp(tr, "ssh") == 0) {
        if (!*cli_val(r, i, "source_host"))
            problem(o, true, name, "ssh transport without source_host");
        if (!*cli_val(r, i, "source_user"))
            problem(o, true, name, "ssh transport without source_user");
        if (!*cli_val(r, i, "credential"))
            problem(o, true, name, "ssh transport without a credential");
    }
    if (strcmp(tr, "ssh") == 0 || strcmp(tr, "local") == 0) {
        if (!col_true(r, i, "has_stop"))
            problem(o, false, name, "no stop_command: 'systemctl stop --all "
                                    "wavemill-app.target' will be used");
        if (!col_true(r, i, "has_shutdown"))
            problem(o, false, name, "no shutdown_command: 'systemctl poweroff' will be used");
    }
}

static void check_server(struct check_out *o, const PGresult *r, int i)
{
    const char *name = cli_val(r, i, "name"), *prov = cli_val(r, i, "provider");
    if (cli_int(r, i, "disks") == 0)
        problem(o, true, name, "no disks");
    if (cli_int(r, i, "bad_paths") > 0)
        problem(o, true, name, "%lld disk path(s) not absolute or with '..'",
                (long long)cli_int(r, i, "bad_paths"));
    if (!in_set(prov, providers))
        problem(o, true, name, "unknown provider '%s' (sim, aws, exec, libvirt)", prov);
    if (strcmp(prov, "exec") == 0 && !*cli_val(r, i, "exec_script"))
        problem(o, false, name, "exec provider without settings.exec_script: the worker's "
                                "exec.script must be set");
    if (!col_true(r, i, "credential_ok"))
        problem(o, true, name, "credential '%s' is not in the store (wavemill secret set)",
                cli_val(r, i, "credential"));
    const char *rep = cli_val(r, i, "replication");
    if (*rep && strcmp(rep, "sim") != 0 && strcmp(rep, "wavemill") != 0)
        problem(o, true, name, "unknown replication '%s' (wavemill or sim)", rep);
    check_transport(o, r, i, name);
}

static int check_wave_row(struct check_out *o, const char *wave)
{
    const char *p[] = {wave};
    PGresult *w = cli_query(o->ctx, CHECK_WAVE_SQL, 1, p);
    if (!w)
        return CLI_ERR;
    if (PQntuples(w) == 0) {
        PQclear(w);
        return cli_error(o->ctx, "no wave named '%s'", wave);
    }
    if (cli_int(w, 0, "servers") == 0)
        problem(o, true, NULL, "the wave has no servers (import some first)");
    if (col_true(w, 0, "past") && strcmp(cli_val(w, 0, "status"), "CREATED") == 0)
        problem(o, false, NULL, "the cutover window %s is in the past: servers cut over "
                               "as soon as they are tested (wave cutover --at TIME)",
                cli_val(w, 0, "cutover_at"));
    PQclear(w);
    return CLI_OK;
}

int cli_check_wave(struct cli_ctx *ctx, const char *wave, bool quiet_ok, int *errors)
{
    struct check_out o = {.ctx = ctx};
    if (ctx->json) {
        o.j = wm_json_new();
        wm_json_obj_begin(o.j);
        wm_json_kstr(o.j, "wave", wave);
        wm_json_key(o.j, "problems");
        wm_json_arr_begin(o.j);
    } else if (!quiet_ok) {
        printf("pre-flight of wave '%s':\n", wave);
    }
    int rc = check_wave_row(&o, wave);
    const char *p[] = {wave};
    PGresult *r = rc == CLI_OK ? cli_query(ctx, CHECK_SERVERS_SQL, 1, p) : NULL;
    for (int i = 0; r && i < PQntuples(r); i++)
        check_server(&o, r, i);
    if (rc == CLI_OK && !r)
        rc = CLI_ERR;
    if (o.j) {
        wm_json_arr_end(o.j);
        wm_json_kint(o.j, "errors", o.errors);
        wm_json_kint(o.j, "warnings", o.warnings);
        wm_json_kbool(o.j, "ok", rc == CLI_OK && o.errors == 0);
        wm_json_obj_end(o.j);
        if (rc == CLI_OK && (!quiet_ok || o.errors))
            printf("%s\n", wm_json_text(o.j));
        wm_json_free(o.j);
    } else if (rc == CLI_OK && (!quiet_ok || o.errors || o.warnings)) {
        printf("wave '%s': %d server(s) checked, %d error(s), %d warning(s)\n", wave,
               r ? PQntuples(r) : 0, o.errors, o.warnings);
    }
    PQclear(r);
    *errors = o.errors;
    return rc;
}

bool cli_confirm(struct cli_ctx *ctx, bool yes, const char *question)
{
    if (yes)
        return true;
    if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO)) {
        cli_error(ctx, "%s — refusing without --yes (no terminal to confirm on)", question);
        return false;
    }
    fprintf(stderr, "%s Type 'yes' to go on: ", question);
    fflush(stderr);
    char answer[16] = "";
    if (!fgets(answer, sizeof(answer), stdin))
        return false;
    answer[strcspn(answer, "\r\n")] = '\0';
    if (strcmp(answer, "yes") == 0)
        return true;
    fprintf(stderr, "not confirmed: nothing changed\n");
    return false;
}
