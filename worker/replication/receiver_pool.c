/* receiver_pool — sticky least-loaded receiver per disk (see receiver_pool.h). */
#include "replication/receiver_pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pg.h"
#include "pgarr.h"
#include "tls.h"

/* Least disks first, then pool order; only receivers with room.  The
 * WHERE receiver = '' makes a concurrent assignment of the same disk lose
 * (it then reads the winner's). */
static const char SQL_ASSIGN[] =
    "UPDATE disks SET receiver = coalesce(("
    "  SELECT p.r FROM unnest($2::text[]) WITH ORDINALITY AS p(r, i)"
    "  LEFT JOIN disks o ON o.receiver = p.r"
    "  GROUP BY p.r, p.i HAVING $3::bigint = 0 OR count(o.id) < $3::bigint"
    "  ORDER BY count(o.id), p.i LIMIT 1), '')"
    " WHERE id = $1 AND receiver = '' RETURNING receiver";

static int rpool_read(struct wm_pg *db, const char *sql, const char *const *p, int n, char *out,
                      size_t outlen, char *err, size_t errlen)
{
    PGresult *r = wm_pg_query(db, sql, n, p, err, errlen);
    if (!r)
        return -EIO;
    if (PQntuples(r) == 1)
        snprintf(out, outlen, "%s", PQgetvalue(r, 0, 0));
    int rows = PQntuples(r);
    PQclear(r);
    return rows;
}

int rpool_assign(struct wm_pg *db, const char *disk_id, const char *pool, int64_t max_disks,
                 char *out, size_t outlen, char *err, size_t errlen)
{
    out[0] = '\0';
    const char *id[] = {disk_id};
    int rc =
        rpool_read(db, "SELECT receiver FROM disks WHERE id = $1", id, 1, out, outlen, err, errlen);
    if (rc < 0 || out[0])
        return rc < 0 ? rc : 0;
    struct wm_pgarr a = {0};
    char *list = strdup(pool), *save = NULL;
    if (!list)
        return snprintf(err, errlen, "out of memory"), -ENOMEM;
    for (char *tok = strtok_r(list, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
        wm_pgarr_text(&a, tok);
    free(list);
    char max[24];
    snprintf(max, sizeof(max), "%lld", (long long)max_disks);
    const char *arr = wm_pgarr_end(&a);
    const char *p[] = {disk_id, arr, max};
    rc = arr ? rpool_read(db, SQL_ASSIGN, p, 3, out, outlen, err, errlen) : -ENOMEM;
    wm_pgarr_free(&a);
    if (rc == 0) /* someone else assigned it meanwhile */
        rc = rpool_read(db, "SELECT receiver FROM disks WHERE id = $1", id, 1, out, outlen, err,
                        errlen);
    return rc < 0 ? rc : 0;
}

int rpool_reachable(const char *addr, int timeout_ms)
{
    char err[256];
    int fd = wm_tcp_connect(addr, timeout_ms, timeout_ms, err, sizeof(err));
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}
