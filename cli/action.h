/* action — every operator action, one implementation for two front ends:
 * the wavemill CLI and wavemill-api call action_run() and only differ in
 * how they read arguments and print the outcome.
 *
 * An action is a row of the table in action.c: its name ("wave.start"),
 * what it targets (a wave or a server, by name), the role an API token
 * needs, the parameters it takes, whether the dashboard asks for
 * confirmation, and one function.  Adding an action is that function and
 * that row; the API route (POST /api/v1/waves/NAME/actions/start) and the
 * dashboard button come from the table.
 *
 * action_run():
 *   - checks the parameters against the row (unknown -> -EINVAL naming the
 *     field in res->field);
 *   - runs the function (each is one transaction: cli_ops or one
 *     statement);
 *   - when something changed, appends the audit_log row with the identity
 *     (actor, source "cli"/"api", token id) and the parameters as detail,
 *     and publishes the wave's (or server's) state on wm.status, keyed by
 *     its id, with the identity as source ("api:operator1").
 * Errors as cli_ops.h: -ENOENT no such wave/server, -EINVAL bad argument,
 * -EALREADY nothing to do (res->changed false, not an error for the
 * caller to report as a failure), -EPERM not allowed from the current
 * state (the API's 409), -EEXIST already exists (409), -EIO database. */
#ifndef ACTION_H
#define ACTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apitoken.h"

struct wm_pg;

enum action_target { ACTION_WAVE, ACTION_SERVER };

#define ACTION_MAX_PARAMS 6

/* name=value pairs (values as text; NULL = not given) */
struct action_params {
    const char *name[ACTION_MAX_PARAMS];
    const char *value[ACTION_MAX_PARAMS];
    int n;
};

/* Who asks: source is "cli" or "api"; actor a person or token name;
 * token_id the API token's id (0 for the CLI).  status (may be NULL): where
 * the wave or server event of a change goes (status_topic, keyed by the
 * wave or server id, source "<source>:<actor>"); the caller flushes. */
struct wm_kafka_producer;
struct action_who {
    const char *source;
    const char *actor;
    int64_t token_id;
    struct wm_kafka_producer *status;
    const char *status_topic;
};

struct action_result {
    bool changed;
    char note[256];  /* e.g. "opens at 2026-11-22T03:00:00Z" */
    char field[32];  /* the parameter at fault for -EINVAL, else "" */
};

struct action_def {
    const char *name;          /* "wave.start" */
    const char *verb;          /* "start": the API path segment */
    enum action_target target;
    enum wm_role role;         /* needed by an API token */
    bool confirm;              /* the dashboard asks before doing it */
    const char *params;        /* comma-separated names it accepts, "" for none */
    const char *help;
    int (*run)(struct wm_pg *db, const char *target, const struct action_params *p,
               const struct action_who *who, struct action_result *res, char *err,
               size_t errlen);
};

/* The table, in display order. */
const struct action_def *action_table(size_t *n);
/* By target and verb ("wave", "pause"), or by full name when verb is NULL. */
const struct action_def *action_find(enum action_target t, const char *verb);
const struct action_def *action_by_name(const char *name);

/* The value of parameter name, or NULL. */
const char *action_param(const struct action_params *p, const char *name);

int action_run(struct wm_pg *db, const struct action_def *a, const char *target,
               const struct action_params *p, const struct action_who *who,
               struct action_result *res, char *err, size_t errlen);

/* The intake import (inventory.h): upsert of f and its audit row in one
 * transaction; a dry run rolls back once the counts are known.  0 or
 * negative with err (naming the line of a refused row). */
struct inv_file;
struct inv_summary;
int action_import(struct wm_pg *db, const struct inv_file *f, bool dry_run,
                  const struct action_who *who, struct inv_summary *sum, char *err,
                  size_t errlen);

/* The counts of an import as a JSON object (file, rows, dry_run, waves,
 * applications, servers, disks); malloc'd, NULL when out of memory. */
char *action_import_json(const struct inv_file *f, bool dry_run, const struct inv_summary *s);

/* Appends an audit_log row (also used for refusals: result "refused"). */
int action_audit(struct wm_pg *db, const struct action_who *who, const char *action,
                 const char *wave, const char *server, const char *detail_json,
                 const char *result, char *err, size_t errlen);

#endif
