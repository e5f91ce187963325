/* pg — PostgreSQL through libpq, parameterised queries only.
 *
 * A wm_pg is one connection that reconnects by itself: when a call finds the
 * connection broken it reconnects with exponential backoff (bounded by
 * pg.reconnect_max) and reports -ECONNRESET for the failed statement; the
 * caller decides whether to retry (wm_pg_tx does, for whole transactions).
 *
 * Every query takes text parameters ($1..$n); there is no call that takes a
 * SQL string built from outside data. */
#ifndef WM_PG_H
#define WM_PG_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

struct wm_config;
struct wm_pg;

/* conninfo from pg.conninfo.  Connects now (with retries up to pg.connect_timeout). */
struct wm_pg *wm_pg_new(const struct wm_config *cfg, char *err, size_t errlen);
struct wm_pg *wm_pg_new_conninfo(const char *conninfo, char *err, size_t errlen);
void wm_pg_free(struct wm_pg *db);

/* Runs sql with nparams text params (NULL entries are SQL NULL).  On success
 * returns the result (PGRES_COMMAND_OK or PGRES_TUPLES_OK), owned by the
 * caller (PQclear).  On failure returns NULL, writes the server's message to
 * err; wm_pg_sqlstate() then gives the SQLSTATE ("40001" etc.). */
PGresult *wm_pg_query(struct wm_pg *db, const char *sql, int nparams, const char *const *params,
                      char *err, size_t errlen);

/* Same, discarding the result: 0 or negative with err.  rows gets PQcmdTuples. */
int wm_pg_exec(struct wm_pg *db, const char *sql, int nparams, const char *const *params,
               long *rows, char *err, size_t errlen);

/* SQLSTATE of the last statement if it failed ("" if it succeeded).  A
 * connection found broken without a server SQLSTATE reports "08006". */
const char *wm_pg_sqlstate(const struct wm_pg *db);

/* Outcome of the last statement: 0; -ECONNRESET when the connection was
 * found broken (it has been replaced if the server answered again within
 * pg.connect_timeout; the statement was NOT re-sent and may or may not have
 * run); -EIO for an error reported by the server (see wm_pg_sqlstate). */
int wm_pg_errno(const struct wm_pg *db);

/* "host=… port=…" of the server, for messages (never the password). */
const char *wm_pg_target(const struct wm_pg *db);

/* Overrides the limits read from config (wm_pg_new_conninfo uses defaults:
 * 10 s connect timeout, 2 s backoff cap, 5 tx retries).  Negative values
 * (and a reconnect_max of 0) keep the current one; a connect timeout of 0
 * means one attempt. */
void wm_pg_set_limits(struct wm_pg *db, int64_t connect_timeout_ms, int64_t reconnect_max_ms,
                      int tx_retries);

/* Runs fn inside BEGIN … COMMIT.  fn returns 0 to commit, non-zero to roll
 * back (that value is returned).  Serialization failures (40001, 40P01) and
 * lost connections retry the whole transaction up to pg.tx_retries times,
 * with backoff, so fn may run more than once and must be repeatable (a
 * connection lost during COMMIT leaves it unknown whether the commit
 * happened; the retry runs fn again).  Not nestable. */
typedef int (*wm_pg_tx_fn)(struct wm_pg *db, void *arg, char *err, size_t errlen);
int wm_pg_tx(struct wm_pg *db, wm_pg_tx_fn fn, void *arg, char *err, size_t errlen);

/* Applies schemas/sql/NNN_*.sql files of dir not yet recorded in
 * schema_migrations, in order, each in its own transaction.  *applied gets
 * the number applied (0 when already up to date).  The SQL text of
 * migrations is the project's own files, not outside input. */
int wm_pg_migrate(struct wm_pg *db, const char *dir, int *applied, char *err, size_t errlen);

/* *version = highest applied migration (0 if none); if dir and pending are
 * non-NULL, *pending = number of dir's files not applied yet. */
int wm_pg_migrate_status(struct wm_pg *db, const char *dir, int *version, int *pending, char *err,
                         size_t errlen);

/* The raw connection, for LISTEN/advisory locks etc.; may change after a
 * reconnect (session state such as LISTEN or session advisory locks is then
 * gone: watch wm_pg_errno() == -ECONNRESET), and is NULL while a reconnect
 * has not yet succeeded. */
PGconn *wm_pg_conn(struct wm_pg *db);

#endif
