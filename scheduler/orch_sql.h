/* orch_sql — small helpers the orchestrator's SQL code shares: a growable
 * text buffer for array parameters ('{1,2,3}') and result accessors. */
#ifndef ORCH_SQL_H
#define ORCH_SQL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wm_pg;

struct orch_buf {
    char *s;
    size_t len, cap;
    bool oom;
};

void orch_buf_init(struct orch_buf *b);
void orch_buf_free(struct orch_buf *b);
void orch_buf_reset(struct orch_buf *b);
void orch_buf_addf(struct orch_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text, "" when empty; NULL after an allocation failure. */
const char *orch_buf_str(const struct orch_buf *b);

/* Array literal of the pipeline kinds matching a predicate, e.g. every
 * replication kind: '{initial_sync,delta_sync,final_delta_sync}'. */
enum orch_kind_set { ORCH_KINDS_REPLICATION, ORCH_KINDS_LAUNCHING, ORCH_KINDS_CUTOVER,
                     ORCH_KINDS_REPL_TOPIC };
void orch_kinds_array(enum orch_kind_set which, char *buf, size_t len);

/* wm_pg_exec / wm_pg_query with -EIO on failure and "what: pg message" in err. */
int orch_exec(struct wm_pg *db, const char *what, const char *sql, int n,
              const char *const *params, long *rows, char *err, size_t errlen);
PGresult *orch_query(struct wm_pg *db, const char *what, const char *sql, int n,
                     const char *const *params, char *err, size_t errlen);

int64_t orch_get_i64(const PGresult *r, int row, int col);

#endif
