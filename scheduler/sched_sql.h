/* sched_sql — small helpers the orchestrator's SQL code shares: the pipeline's
 * kind sets as array parameters, statements with errors, result accessors. */
#ifndef SCHED_SQL_H
#define SCHED_SQL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wm_pg;

/* LISTEN channel the scheduler wakes up on (payload: wave name or ""); the
 * operator's actions (cli/cli_ops.c) NOTIFY it after their transaction. */
#define SCHED_NOTIFY_CHANNEL "wm_orch"

/* Appends to a the pipeline kinds matching a predicate, e.g. every
 * replication kind: {initial_sync,delta_sync,final_delta_sync}. */
enum sched_kind_set { SCHED_KINDS_REPLICATION, SCHED_KINDS_LAUNCHING, SCHED_KINDS_CUTOVER,
                     SCHED_KINDS_REPL_TOPIC, SCHED_KINDS_REPEATS, SCHED_KINDS_UNDOABLE,
                     SCHED_KINDS_APPROVAL, SCHED_KINDS_FINALIZE };
struct wm_pgarr;
void sched_kinds_array(enum sched_kind_set which, struct wm_pgarr *a);

/* wm_pg_exec / wm_pg_query with -EIO on failure and "what: pg message" in err. */
int sched_exec(struct wm_pg *db, const char *what, const char *sql, int n,
              const char *const *params, long *rows, char *err, size_t errlen);
PGresult *sched_query(struct wm_pg *db, const char *what, const char *sql, int n,
                     const char *const *params, char *err, size_t errlen);

int64_t sched_get_i64(const PGresult *r, int row, int col);

#endif
