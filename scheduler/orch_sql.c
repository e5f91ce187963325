/* orch_sql — helpers shared by the orchestrator's SQL code. */
#include "orch_sql.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "pg.h"
#include "pipeline.h"

void orch_buf_init(struct orch_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void orch_buf_free(struct orch_buf *b)
{
    free(b->s);
    memset(b, 0, sizeof(*b));
}

void orch_buf_reset(struct orch_buf *b)
{
    b->len = 0;
    if (b->s)
        b->s[0] = '\0';
}

static bool buf_reserve(struct orch_buf *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = true;
        return false;
    }
    b->s = s;
    b->cap = cap;
    return true;
}

void orch_buf_addf(struct orch_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *orch_buf_str(const struct orch_buf *b)
{
    if (b->oom)
        return NULL;
    return b->s ? b->s : "";
}

void orch_kinds_array(enum orch_kind_set which, char *buf, size_t len)
{
    size_t n, off = 0;
    const struct pipeline_step *st = pipeline_steps(&n);
    off += (size_t)snprintf(buf, len, "{");
    for (size_t i = 0; i < n && off < len; i++) {
        bool in = (which == ORCH_KINDS_REPLICATION && st[i].replication) ||
                  (which == ORCH_KINDS_LAUNCHING && st[i].launching) ||
                  (which == ORCH_KINDS_CUTOVER && st[i].waits_cutover) ||
                  (which == ORCH_KINDS_REPL_TOPIC &&
                   strcmp(st[i].topic, WM_TOPIC_TASKS_REPLICATION) == 0);
        if (in)
            off += (size_t)snprintf(buf + off, len - off, "%s%s", off > 1 ? "," : "", st[i].kind);
    }
    if (off < len)
        snprintf(buf + off, len - off, "}");
}

int orch_exec(struct wm_pg *db, const char *what, const char *sql, int n,
              const char *const *params, long *rows, char *err, size_t errlen)
{
    char e[512];
    if (wm_pg_exec(db, sql, n, params, rows, e, sizeof(e)) < 0) {
        snprintf(err, errlen, "%s: %s", what, e);
        return -EIO;
    }
    return 0;
}

PGresult *orch_query(struct wm_pg *db, const char *what, const char *sql, int n,
                     const char *const *params, char *err, size_t errlen)
{
    char e[512];
    PGresult *r = wm_pg_query(db, sql, n, params, e, sizeof(e));
    if (!r)
        snprintf(err, errlen, "%s: %s", what, e);
    return r;
}

int64_t orch_get_i64(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return 0;
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}
