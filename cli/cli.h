/* cli — the `wavemill` operator command.
 *
 *   wavemill [--config FILE] [--json] <group> <subcommand> [args...]
 *
 * cli_main.c parses the global options and dispatches on <group> through a
 * table (cli_groups[] there).  Each group lives in cli/cli_<group>.c
 * and exports one function
 *
 *   int cli_<group>(struct cli_ctx *ctx, int argc, char **argv);
 *
 * where argv[0] is the group name and argv[1] the subcommand.  It returns
 * the process exit status (CLI_OK, CLI_ERR, CLI_USAGE); it never calls
 * exit().  To add a group: write cli_<group>.c, declare its function below,
 * add one line to cli_groups[] in cli_main.c.
 *
 * Shared helpers (cli_common.c) load the config and open the database
 * lazily, print errors the same way everywhere, and write the audit log. */
#ifndef WM_CLI_H
#define WM_CLI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#ifndef WAVEMILL_VERSION
#define WAVEMILL_VERSION "0.1.0"
#endif

/* exit statuses */
#define CLI_OK 0
#define CLI_ERR 1   /* the command failed (one-line reason on stderr) */
#define CLI_USAGE 2 /* bad command line */

struct wm_config;
struct wm_pg;

struct cli_ctx {
    const char *prog;        /* "wavemill" */
    const char *config_path; /* --config, or NULL */
    bool json;               /* --json: machine-readable output on stdout */
    const char *command;     /* "db migrate", for messages; set by the group */
    struct wm_config *cfg;   /* loaded by cli_config() */
    struct wm_pg *pg;        /* opened by cli_pg() */
};

/* --- command groups (one file each) --- */
int cli_db(struct cli_ctx *ctx, int argc, char **argv);
int cli_import(struct cli_ctx *ctx, int argc, char **argv);
int cli_wave(struct cli_ctx *ctx, int argc, char **argv);
int cli_server(struct cli_ctx *ctx, int argc, char **argv);
int cli_status(struct cli_ctx *ctx, int argc, char **argv);
int cli_watch(struct cli_ctx *ctx, int argc, char **argv);
int cli_pki(struct cli_ctx *ctx, int argc, char **argv);
int cli_secret(struct cli_ctx *ctx, int argc, char **argv);
int cli_topics(struct cli_ctx *ctx, int argc, char **argv);
int cli_worker(struct cli_ctx *ctx, int argc, char **argv);
int cli_config_cmd(struct cli_ctx *ctx, int argc, char **argv); /* cli_config.c */
int cli_token(struct cli_ctx *ctx, int argc, char **argv);

/* --- shared helpers (cli_common.c) --- */

/* The loaded and validated config (defaults < --config file < WAVEMILL_*
 * environment), loaded on first use; NULL after printing the reason. */
struct wm_config *cli_config(struct cli_ctx *ctx);

/* The database connection from pg.conninfo, opened on first use; NULL after
 * printing the reason. */
struct wm_pg *cli_pg(struct cli_ctx *ctx);

/* Frees what cli_config()/cli_pg() opened. */
void cli_ctx_close(struct cli_ctx *ctx);

/* Prints "wavemill: <command>: <message>" on stderr (and, with --json, a
 * {"ok":false,"command":…,"error":…} object on stdout), through the log
 * redactor.  Returns CLI_ERR so callers can `return cli_error(...)`. */
int cli_error(struct cli_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like cli_error, for a bad command line: adds "(see wavemill --help)" and
 * returns CLI_USAGE. */
int cli_usage_error(struct cli_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends an audit_log row: actor = the OS user running the CLI, action
 * ("wave.start", …), wave and server names (NULL allowed), detail_json a
 * JSON object text (NULL = {}).  0 or negative errno (reason printed). */
int cli_audit(struct cli_ctx *ctx, const char *action, const char *wave, const char *server,
              const char *detail_json);

/* The person running the CLI: $SUDO_USER, else $USER, else the effective
 * uid's name ("uid:N" if it has no name).  Static buffer. */
const char *cli_actor(void);

/* Directory of the SQL migrations: $WAVEMILL_SQL_DIR, else
 * <dir of executable>/../schemas/sql (also ../../schemas/sql, for bin/asan/),
 * else /usr/share/wavemill/sql.  Writes the first that exists into out. */
int cli_sql_dir(char *out, size_t outlen);

#endif
