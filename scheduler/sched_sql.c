/* sched_sql — helpers shared by the orchestrator's SQL code. */
#include "sched_sql.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "pg.h"
#include "pgarr.h"
#include "pipeline.h"

void sched_kinds_array(enum sched_kind_set which, struct wm_pgarr *a)
{
    size_t n;
    const struct pipeline_step *st = pipeline_steps(&n);
    for (size_t i = 0; i < n; i++) {
        bool in = (which == SCHED_KINDS_REPLICATION && st[i].replication) ||
                  (which == SCHED_KINDS_LAUNCHING && st[i].launching) ||
                  (which == SCHED_KINDS_CUTOVER && st[i].waits_cutover) ||
                  (which == SCHED_KINDS_REPEATS && st[i].repeats) ||
                  (which == SCHED_KINDS_UNDOABLE && st[i].undoable) ||
                  (which == SCHED_KINDS_APPROVAL && st[i].waits_approval) ||
                  (which == SCHED_KINDS_FINALIZE && st[i].waits_finalize) ||
                  (which == SCHED_KINDS_REPL_TOPIC &&
                   strcmp(st[i].topic, WM_TOPIC_TASKS_REPLICATION) == 0);
        if (in)
            wm_pgarr_text(a, st[i].kind);
    }
}

int sched_exec(struct wm_pg *db, const char *what, const char *sql, int n,
              const char *const *params, long *rows, char *err, size_t errlen)
{
    char e[512];
    if (wm_pg_exec(db, sql, n, params, rows, e, sizeof(e)) < 0) {
        snprintf(err, errlen, "%s: %s", what, e);
        return -EIO;
    }
    return 0;
}

PGresult *sched_query(struct wm_pg *db, const char *what, const char *sql, int n,
                     const char *const *params, char *err, size_t errlen)
{
    char e[512];
    PGresult *r = wm_pg_query(db, sql, n, params, e, sizeof(e));
    if (!r)
        snprintf(err, errlen, "%s: %s", what, e);
    return r;
}

int64_t sched_get_i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}
