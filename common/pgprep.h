/* pgprep — hot statements as named prepared statements.
 *
 * The orchestrator's hot paths (claim, finish, advance, issue) are large
 * statements executed hundreds of times a second; planning them each time
 * cost more than running them.  pgprep prepares each statement once per
 * database session (again after wm_pg reconnected: the session is
 * recognised by its backend pid) and executes it with text parameters.
 * The SQL is always a constant of the program, never built from input.
 *
 * Each thread keeps its own registry (a wm_pg is used by one thread).
 * Used by libworker and, through it, by wavemill-scheduler. */
#ifndef WM_PGPREP_H
#define WM_PGPREP_H

#include <libpq-fe.h>
#include <stddef.h>

struct wm_pg;

struct pgprep {
    const char *name; /* unique per program */
    const char *sql;
    int nparams;
};

/* Like wm_pg_query.  A failed statement sets err (with its SQLSTATE) and
 * returns NULL; a broken connection is handed to wm_pg (it reconnects) by
 * running the statement unprepared once. */
PGresult *pgprep_query(struct wm_pg *db, const struct pgprep *st, const char *const *params,
                       char *err, size_t errlen);

/* SQLSTATE of the last pgprep_query failure on this thread ("" if none). */
const char *pgprep_sqlstate(void);

#endif
