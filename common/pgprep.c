/* pgprep — prepared hot statements (see pgprep.h). */
#include "pgprep.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "pg.h"

#define PGPREP_MAX 64 /* (session, statement) pairs remembered per thread */

struct prep_entry {
    int pid;
    const struct pgprep *st;
};

static _Thread_local struct prep_entry reg[PGPREP_MAX];
static _Thread_local size_t nreg;
static _Thread_local char last_state[6];

const char *pgprep_sqlstate(void)
{
    return last_state;
}

static bool prepared(int pid, const struct pgprep *st)
{
    for (size_t i = 0; i < nreg; i++)
        if (reg[i].pid == pid && reg[i].st == st)
            return true;
    return false;
}

static void remember(int pid, const struct pgprep *st)
{
    if (nreg == PGPREP_MAX)
        nreg = 0; /* forget all: they are prepared again on next use */
    reg[nreg++] = (struct prep_entry){pid, st};
}

static void set_failure(PGconn *conn, PGresult *r, const char *what, char *err, size_t errlen)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(last_state, sizeof(last_state), "%s", state ? state : "");
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(conn);
    size_t n = strcspn(msg, "\n");
    snprintf(err, errlen, "%s: %.*s (SQLSTATE %s)", what, (int)n, msg,
             last_state[0] ? last_state : "-");
}

static bool result_ok(const PGresult *r)
{
    ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

PGresult *pgprep_query(struct wm_pg *db, const struct pgprep *st, const char *const *params,
                       char *err, size_t errlen)
{
    PGconn *conn = wm_pg_conn(db);
    last_state[0] = '\0';
    if (!conn || PQstatus(conn) != CONNECTION_OK) /* wm_pg reconnects */
        return wm_pg_query(db, st->sql, st->nparams, params, err, errlen);
    int pid = PQbackendPID(conn);
    if (!prepared(pid, st)) {
        PGresult *r = PQprepare(conn, st->name, st->sql, st->nparams, NULL);
        if (!result_ok(r)) {
            set_failure(conn, r, st->name, err, errlen);
            PQclear(r);
            if (PQstatus(conn) != CONNECTION_OK)
                return wm_pg_query(db, st->sql, st->nparams, params, err, errlen);
            return NULL;
        }
        PQclear(r);
        remember(pid, st);
    }
    PGresult *r = PQexecPrepared(conn, st->name, st->nparams, params, NULL, NULL, 0);
    if (result_ok(r))
        return r;
    set_failure(conn, r, st->name, err, errlen);
    PQclear(r);
    if (PQstatus(conn) != CONNECTION_OK)
        return wm_pg_query(db, st->sql, st->nparams, params, err, errlen);
    return NULL;
}
