/* orch_sql — small helpers the orchestrator's SQL code shares: the pipeline's
 * kind sets as array parameters, statements with errors, result accessors. */
#ifndef ORCH_SQL_H
#define ORCH_SQL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wm_pg;

/* LISTEN channel the scheduler wakes up on (payload: wave name or ""); the
 * operator's actions (cli/cli_ops.c) NOTIFY it after their transaction. */
#define ORCH_NOTIFY_CHANNEL "wm_orch"

/* Appends to a the pipeline kinds matching a predicate, e.g. every
 * replication kind: {initial_sync,delta_sync,final_delta_sync}. */
enum orch_kind_set { ORCH_KINDS_REPLICATION, ORCH_KINDS_LAUNCHING, ORCH_KINDS_CUTOVER,
                     ORCH_KINDS_REPL_TOPIC, ORCH_KINDS_REPEATS };
struct wm_pgarr;
void orch_kinds_array(enum orch_kind_set which, struct wm_pgarr *a);

/* wm_pg_exec / wm_pg_query with -EIO on failure and "what: pg message" in err. */
int orch_exec(struct wm_pg *db, const char *what, const char *sql, int n,
              const char *const *params, long *rows, char *err, size_t errlen);
PGresult *orch_query(struct wm_pg *db, const char *what, const char *sql, int n,
                     const char *const *params, char *err, size_t errlen);

int64_t orch_get_i64(const PGresult *r, int row, int col);

#endif
