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
 * err, and sets *sqlstate (if non-NULL, 6 bytes) — "40001" etc. */
PGresult *wm_pg_query(struct wm_pg *db, const char *sql, int nparams, const char *const *params,
                      char *err, size_t errlen);

/* Same, discarding the result: 0 or negative with err.  rows gets PQcmdTuples. */
int wm_pg_exec(struct wm_pg *db, const char *sql, int nparams, const char *const *params,
               long *rows, char *err, size_t errlen);

/* SQLSTATE of the last failed statement ("" if none). */
const char *wm_pg_sqlstate(const struct wm_pg *db);

/* Runs fn inside BEGIN … COMMIT.  fn returns 0 to commit, non-zero to roll
 * back (that value is returned).  Serialization failures (40001, 40P01) and
 * lost connections retry the whole transaction up to pg.tx_retries times. */
typedef int (*wm_pg_tx_fn)(struct wm_pg *db, void *arg, char *err, size_t errlen);
int wm_pg_tx(struct wm_pg *db, wm_pg_tx_fn fn, void *arg, char *err, size_t errlen);

/* Applies schemas/sql/NNN_*.sql files of dir not yet recorded in
 * schema_migrations, in order, each in its own transaction.  *applied gets
 * the number applied (0 when already up to date).  The SQL text of
 * migrations is the project's own files, not outside input. */
int wm_pg_migrate(struct wm_pg *db, const char *dir, int *applied, char *err, size_t errlen);

/* The raw connection, for LISTEN/advisory locks etc.; may change after a reconnect. */
PGconn *wm_pg_conn(struct wm_pg *db);

#endif
