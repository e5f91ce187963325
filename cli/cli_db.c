/* cli_db — `wavemill db migrate` and `wavemill db status`: the schema of
 * the factory's PostgreSQL database (schemas/sql/NNN_*.sql, see pg.h). */
#include "cli.h"
#include "cli_args.h"

#include "json.h"
#include "pg.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Parses [--dir DIR] of a db subcommand (argv[0] = the subcommand) into
 * dir (defaulting to cli_sql_dir()).  CLI_OK or CLI_USAGE/CLI_ERR. */
static int db_parse_dir(struct cli_ctx *ctx, int argc, char **argv, char *dir, size_t dirlen)
{
    const char *given = NULL;
    const struct cli_opt opts[] = {{"--dir", &given, NULL}};
    int npos, rc = cli_args_parse(ctx, argc, argv, 1, opts, 1, NULL, 0, &npos);
    if (rc != CLI_OK)
        return rc;
    if (given) {
        snprintf(dir, dirlen, "%s", given);
        return CLI_OK;
    }
    if (cli_sql_dir(dir, dirlen) < 0)
        return cli_error(ctx, "no migrations directory found (set WAVEMILL_SQL_DIR or use --dir)");
    return CLI_OK;
}

static void db_print_json(const char *cmd, int applied, int version, int pending, const char *dir)
{
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kbool(j, "ok", true);
    wm_json_kstr(j, "command", cmd);
    if (applied >= 0)
        wm_json_kint(j, "applied", applied);
    wm_json_kint(j, "version", version);
    if (pending >= 0)
        wm_json_kint(j, "pending", pending);
    wm_json_kstr(j, "dir", dir);
    wm_json_obj_end(j);
    if (wm_json_error(j) == 0)
        puts(wm_json_text(j));
    wm_json_free(j);
}

/* A migrations directory other than the project's may not create audit_log;
 * migrating such a database is still a success. */
static bool db_has_audit_log(struct wm_pg *db)
{
    char err[256];
    PGresult *res = wm_pg_query(db, "SELECT to_regclass('audit_log') IS NOT NULL", 0, NULL, err,
                                sizeof(err));
    bool yes = res && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return yes;
}

static int db_migrate(struct cli_ctx *ctx, int argc, char **argv)
{
    char dir[PATH_MAX], err[1024];
    int rc = db_parse_dir(ctx, argc, argv, dir, sizeof(dir));
    if (rc != CLI_OK)
        return rc;
    struct wm_pg *db = cli_pg(ctx);
    if (!db)
        return CLI_ERR;
    int applied = 0, version = 0;
    if (wm_pg_migrate(db, dir, &applied, err, sizeof(err)) < 0)
        return cli_error(ctx, "%s", err);
    if (wm_pg_migrate_status(db, NULL, &version, NULL, err, sizeof(err)) < 0)
        return cli_error(ctx, "%s", err);
    if (applied > 0 && db_has_audit_log(db)) {
        char detail[64];
        snprintf(detail, sizeof(detail), "{\"applied\": %d, \"version\": %d}", applied, version);
        if (cli_audit(ctx, "db.migrate", NULL, NULL, detail) < 0)
            return CLI_ERR;
    }
    if (ctx->json)
        db_print_json("db migrate", applied, version, -1, dir);
    else if (applied > 0)
        printf("applied %d migration%s (now at version %d)\n", applied, applied == 1 ? "" : "s",
               version);
    else
        printf("up to date (version %d)\n", version);
    return CLI_OK;
}

static int db_status(struct cli_ctx *ctx, int argc, char **argv)
{
    char dir[PATH_MAX], err[1024];
    int rc = db_parse_dir(ctx, argc, argv, dir, sizeof(dir));
    if (rc != CLI_OK)
        return rc;
    struct wm_pg *db = cli_pg(ctx);
    if (!db)
        return CLI_ERR;
    int version = 0, pending = 0;
    if (wm_pg_migrate_status(db, dir, &version, &pending, err, sizeof(err)) < 0)
        return cli_error(ctx, "%s", err);
    if (ctx->json)
        db_print_json("db status", -1, version, pending, dir);
    else
        printf("database at %s: version %d, %d pending migration%s in %s\n", wm_pg_target(db),
               version, pending, pending == 1 ? "" : "s", dir);
    return CLI_OK;
}

int cli_db(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct {
        const char *name, *command;
        int (*run)(struct cli_ctx *, int, char **);
    } subs[] = {{"migrate", "db migrate", db_migrate}, {"status", "db status", db_status}};
    ctx->command = "db";
    if (argc < 2)
        return cli_usage_error(ctx, "missing subcommand (migrate, status)");
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
        if (strcmp(argv[1], subs[i].name) == 0) {
            ctx->command = subs[i].command;
            return subs[i].run(ctx, argc - 1, argv + 1);
        }
    }
    return cli_usage_error(ctx, "unknown subcommand '%s'", argv[1]);
}
