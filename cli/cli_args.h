/* cli_args — option parsing and value formats shared by the operator
 * command groups (import, wave, server, status, watch).
 *
 * Options may come anywhere after the subcommand, as "--opt VALUE" or
 * "--opt=VALUE"; "--json" is accepted there too (same as the global one). */
#ifndef WM_CLI_ARGS_H
#define WM_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

struct cli_ctx;

struct cli_opt {
    const char *name;   /* "--max-parallel" */
    const char **value; /* set for an option that takes a value */
    bool *flag;         /* set for a flag */
};

/* Parses argv[first..] into opts and up to maxpos positionals.  Returns
 * CLI_OK, or CLI_USAGE after printing the reason.  *npos gets the count. */
int cli_args_parse(struct cli_ctx *ctx, int argc, char **argv, int first,
                   const struct cli_opt *opts, size_t nopts, const char **pos, int maxpos,
                   int *npos);

/* A subcommand taking exactly one NAME of a `what` ("server", "wave") of at
 * most maxlen bytes, plus opts: cli_args_parse() from argv[2], then the name
 * checked ("which server? (wavemill USAGE)" when missing).  CLI_OK or
 * CLI_USAGE (reason printed). */
int cli_args_name(struct cli_ctx *ctx, int argc, char **argv, const struct cli_opt *opts,
                  size_t nopts, const char *what, int maxlen, const char *usage, const char **name);

/* Integer option value in [min, max]; CLI_OK or CLI_USAGE (reason printed). */
int cli_args_int(struct cli_ctx *ctx, const char *opt, const char *text, long min, long max,
                 long *out);

/* A time argument for a timestamptz parameter:
 *   "+30s", "+10m", "+2h", "+1d"  relative to now (computed here, UTC)
 *   "now"
 *   ISO 8601: "2026-11-22T03:00:00Z", "2026-11-22 03:00+01:00" (without an
 *   offset the time is UTC)
 * Writes the text to pass to PostgreSQL into out.  0 or -EINVAL with err. */
int cli_args_time(const char *in, char *out, size_t outlen, char *err, size_t errlen);

/* s made safe for one line of terminal output (control characters escaped,
 * registered secrets masked), into buf.  Returns buf. */
const char *cli_line(const char *s, char *buf, size_t len);

/* "1.2 GiB", "512 B" (powers of 1024). */
const char *cli_fmt_bytes(int64_t n, char *buf, size_t len);

/* Runs a parameterised query on ctx's database; NULL after printing the
 * reason (with cli_error).  The result is the caller's (PQclear). */
PGresult *cli_query(struct cli_ctx *ctx, const char *sql, int n, const char *const *params);

/* Column value by name ("" for NULL), and as an integer (0 for NULL). */
const char *cli_val(const PGresult *r, int row, const char *col);
int64_t cli_int(const PGresult *r, int row, const char *col);
bool cli_isnull(const PGresult *r, int row, const char *col);

/* --- shared views (cli_status.c): one summary row per wave --- */
struct wm_json;

/* SQL expression text: a timestamptz column as ISO 8601 UTC text. */
#define CLI_ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* Summary rows of every wave, or of the wave named wave (NULL = all):
 * fields, servers by lifecycle, task counts, bytes.  NULL after printing
 * the reason. */
PGresult *cli_wave_summaries(struct cli_ctx *ctx, const char *wave);
/* One summary row as a JSON object / as a human block on stdout. */
void cli_wave_summary_json(struct wm_json *j, const PGresult *r, int row);
void cli_wave_summary_print(const PGresult *r, int row);
/* Servers of a summary row in lifecycle state ("DONE"). */
int64_t cli_lifecycle_count(const PGresult *r, int row, const char *lifecycle);

/* Prints j (with "ok": true already in it) on stdout, or reports its error. */
int cli_print_json(struct cli_ctx *ctx, struct wm_json *j);

/* Runs operator action name (scheduler/action.h, the code the API runs
 * too) on target as the person at the CLI: source "cli", actor
 * cli_actor().  Returns action_run()'s result; -ENOTCONN when the database
 * could not be opened (reason printed). */
struct action_params;
struct action_result;
int cli_action(struct cli_ctx *ctx, const char *name, const char *target,
               const struct action_params *p, struct action_result *res, char *err,
               size_t errlen);

/* The actor recorded in task_events for operator actions: "cli:<user>". */
const char *cli_ops_actor(void);

#endif
