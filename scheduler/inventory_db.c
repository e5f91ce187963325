/* inventory_db — validated rows → PostgreSQL upserts (see inventory.h).
 *
 * Counts come from the statements themselves: "RETURNING (xmax = 0)" is
 * true for a row this statement inserted, and the ON CONFLICT … WHERE …
 * IS DISTINCT FROM clause returns nothing for a row that did not change,
 * so re-importing an unchanged file writes nothing and reports it. */
#include "inventory.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "pg.h"

/* A small name -> id cache, so each wave and application is written once
 * per import however many rows name it. */
struct idcache {
    const char **names;
    int64_t *ids;
    size_t n, cap;
};

static int64_t cache_get(const struct idcache *c, const char *name)
{
    for (size_t i = c->n; i-- > 0;) /* rows of one wave are usually together */
        if (strcmp(c->names[i], name) == 0)
            return c->ids[i];
    return 0;
}

static int cache_put(struct idcache *c, const char *name, int64_t id)
{
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 16;
        const char **nn = realloc(c->names, ncap * sizeof(*nn));
        if (!nn)
            return -ENOMEM;
        c->names = nn;
        int64_t *ni = realloc(c->ids, ncap * sizeof(*ni));
        if (!ni)
            return -ENOMEM;
        c->ids = ni;
        c->cap = ncap;
    }
    c->names[c->n] = name;
    c->ids[c->n++] = id;
    return 0;
}

static void cache_free(struct idcache *c)
{
    free(c->names);
    free(c->ids);
}

struct import {
    struct wm_pg *db;
    struct inv_summary *sum;
    struct idcache waves, apps;
    const char *fname; /* for messages */
    char *err;
    size_t errlen;
};

/* Runs an upsert returning (id, created); when it returned no row (an
 * unchanged existing row) looks the id up with find_sql($1 = params[0]).
 * *state: 1 created, 2 updated, 0 unchanged.  Returns the id or 0. */
static int64_t upsert_id(struct import *im, const char *sql, int n, const char *const *p,
                         const char *find_sql, int *state)
{
    PGresult *r = wm_pg_query(im->db, sql, n, p, im->err, im->errlen);
    if (!r)
        return 0;
    int64_t id = 0;
    if (PQntuples(r) == 1) {
        id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        *state = PQgetvalue(r, 0, 1)[0] == 't' ? 1 : 2;
    }
    PQclear(r);
    if (id)
        return id;
    *state = 0;
    r = wm_pg_query(im->db, find_sql, 1, p, im->err, im->errlen);
    if (!r)
        return 0;
    if (PQntuples(r) == 1)
        id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        snprintf(im->err, im->errlen, "'%s' vanished during the import", p[0]);
    PQclear(r);
    return id;
}

static int64_t wave_id(struct import *im, const char *name)
{
    int64_t id = cache_get(&im->waves, name);
    if (id)
        return id;
    int state;
    const char *p[] = {name};
    id = upsert_id(im,
                   "INSERT INTO waves (name) VALUES ($1) ON CONFLICT (name) DO NOTHING "
                   "RETURNING id, true",
                   1, p, "SELECT id FROM waves WHERE name = $1", &state);
    if (!id)
        return 0;
    if (state == 1)
        im->sum->waves_created++;
    else
        im->sum->waves_existing++;
    if (cache_put(&im->waves, name, id)) {
        snprintf(im->err, im->errlen, "out of memory");
        return 0;
    }
    return id;
}

static int64_t app_id(struct import *im, const char *name, int64_t wave)
{
    int64_t id = cache_get(&im->apps, name);
    if (id)
        return id;
    char wbuf[24];
    snprintf(wbuf, sizeof(wbuf), "%" PRId64, wave);
    const char *p[] = {name, wbuf};
    int state;
    id = upsert_id(im,
                   "INSERT INTO applications (name, wave_id) VALUES ($1, $2) "
                   "ON CONFLICT (name) DO UPDATE SET wave_id = EXCLUDED.wave_id, updated_at = now() "
                   "WHERE applications.wave_id IS DISTINCT FROM EXCLUDED.wave_id "
                   "RETURNING id, (xmax = 0)",
                   2, p, "SELECT id FROM applications WHERE name = $1", &state);
    if (!id)
        return 0;
    long *counts[] = {&im->sum->apps_unchanged, &im->sum->apps_created, &im->sum->apps_updated};
    (*counts[state])++;
    if (cache_put(&im->apps, name, id)) {
        snprintf(im->err, im->errlen, "out of memory");
        return 0;
    }
    return id;
}

/* PostgreSQL array literal {"a","b"} with " and \ escaped. */
static char *pg_array(char *const *items, size_t n)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += 2 * strlen(items[i]) + 3;
    char *out = malloc(cap), *w = out;
    if (!out)
        return NULL;
    *w++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *w++ = ',';
        *w++ = '"';
        for (const char *s = items[i]; *s; s++) {
            if (*s == '"' || *s == '\\')
                *w++ = '\\';
            *w++ = *s;
        }
        *w++ = '"';
    }
    *w++ = '}';
    *w = '\0';
    return out;
}

static char *tags_json(const struct inv_row *r)
{
    struct wm_json *j = wm_json_new();
    if (!j)
        return NULL;
    wm_json_obj_begin(j);
    for (size_t i = 0; i < r->ntags; i++)
        wm_json_kstr(j, r->tags[i].key, r->tags[i].value);
    wm_json_obj_end(j);
    char *out = wm_json_error(j) ? NULL : strdup(wm_json_text(j));
    wm_json_free(j);
    return out;
}

/* A server already in another wave may only move before it has tasks. */
static int check_move(struct import *im, const struct inv_row *r, int64_t wave)
{
    const char *p[] = {r->server};
    PGresult *res = wm_pg_query(im->db,
                                "SELECT s.wave_id, w.name, "
                                "EXISTS (SELECT 1 FROM tasks t WHERE t.server_id = s.id) "
                                "FROM servers s JOIN waves w ON w.id = s.wave_id "
                                "WHERE s.name = $1 FOR UPDATE OF s",
                                1, p, im->err, im->errlen);
    if (!res)
        return -EIO;
    int rc = 0;
    if (PQntuples(res) == 1 && strtoll(PQgetvalue(res, 0, 0), NULL, 10) != wave &&
        PQgetvalue(res, 0, 2)[0] == 't') {
        snprintf(im->err, im->errlen,
                 "%s:%d: column wave_name: server '%s' is in wave '%s' and has tasks; it "
                 "cannot move to wave '%s'",
                 im->fname, r->line, r->server, PQgetvalue(res, 0, 1), r->wave);
        rc = -EINVAL;
    }
    PQclear(res);
    return rc;
}

/* One round trip whatever happens: the CTE returns the new or changed row;
 * an unchanged existing row is found in the statement's snapshot. */
static const char SERVER_UPSERT[] =
    "WITH up AS (INSERT INTO servers (name, wave_id, application_id, fqdn, os_family, os_version, "
    "source_host, source_port, source_user, credential, target_provider, instance_type, "
    "subnet_id, security_group_ids, test_security_group_ids, tags) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::text[], $15::text[], "
    "$16::jsonb) "
    "ON CONFLICT (name) DO UPDATE SET wave_id = EXCLUDED.wave_id, "
    "application_id = EXCLUDED.application_id, fqdn = EXCLUDED.fqdn, "
    "os_family = EXCLUDED.os_family, os_version = EXCLUDED.os_version, "
    "source_host = EXCLUDED.source_host, source_port = EXCLUDED.source_port, "
    "source_user = EXCLUDED.source_user, credential = EXCLUDED.credential, "
    "target_provider = EXCLUDED.target_provider, instance_type = EXCLUDED.instance_type, "
    "subnet_id = EXCLUDED.subnet_id, security_group_ids = EXCLUDED.security_group_ids, "
    "test_security_group_ids = EXCLUDED.test_security_group_ids, tags = EXCLUDED.tags, "
    "updated_at = now() "
    "WHERE (servers.wave_id, servers.application_id, servers.fqdn, servers.os_family, "
    "servers.os_version, servers.source_host, servers.source_port, servers.source_user, "
    "servers.credential, servers.target_provider, servers.instance_type, servers.subnet_id, "
    "servers.security_group_ids, servers.test_security_group_ids, servers.tags) "
    "IS DISTINCT FROM (EXCLUDED.wave_id, EXCLUDED.application_id, EXCLUDED.fqdn, "
    "EXCLUDED.os_family, EXCLUDED.os_version, EXCLUDED.source_host, EXCLUDED.source_port, "
    "EXCLUDED.source_user, EXCLUDED.credential, EXCLUDED.target_provider, "
    "EXCLUDED.instance_type, EXCLUDED.subnet_id, EXCLUDED.security_group_ids, "
    "EXCLUDED.test_security_group_ids, EXCLUDED.tags) "
    "RETURNING id, (xmax = 0) AS created) "
    "SELECT id, CASE WHEN created THEN 1 ELSE 2 END FROM up "
    "UNION ALL SELECT id, 0 FROM servers WHERE name = $1 AND NOT EXISTS (SELECT 1 FROM up)";

static int64_t server_id(struct import *im, const struct inv_row *r, int64_t wave, int64_t app)
{
    char wbuf[24], abuf[24], pbuf[16];
    snprintf(wbuf, sizeof(wbuf), "%" PRId64, wave);
    snprintf(abuf, sizeof(abuf), "%" PRId64, app);
    snprintf(pbuf, sizeof(pbuf), "%d", r->source_port);
    char *sgs = pg_array(r->sgs, r->nsgs), *tsgs = pg_array(r->test_sgs, r->ntest_sgs);
    char *tags = tags_json(r);
    int64_t id = 0;
    if (!sgs || !tsgs || !tags) {
        snprintf(im->err, im->errlen, "out of memory");
        goto out;
    }
    const char *p[] = {r->server, wbuf, abuf, r->fqdn, r->os_family, r->os_version,
                       r->source_host, pbuf, r->source_user, r->credential, r->provider,
                       r->instance_type, r->subnet_id, sgs, tsgs, tags};
    PGresult *res = wm_pg_query(im->db, SERVER_UPSERT, 16, p, im->err, im->errlen);
    if (!res)
        goto out;
    if (PQntuples(res) == 1) {
        id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        long *counts[] = {&im->sum->servers_unchanged, &im->sum->servers_created,
                          &im->sum->servers_updated};
        (*counts[atoi(PQgetvalue(res, 0, 1)) % 3])++;
    } else {
        snprintf(im->err, im->errlen, "server '%s' vanished during the import", r->server);
    }
    PQclear(res);
out:
    free(sgs);
    free(tsgs);
    free(tags);
    return id;
}

/* Disks of one server in one statement: the listed paths are upserted (a
 * disk without a size keeps the size already known — prereq_check measures
 * it), the others are removed. */
static const char DISKS_SYNC[] =
    "WITH keep AS (SELECT * FROM unnest($2::text[], $3::bigint[]) AS k(path, size)), "
    "del AS (DELETE FROM disks WHERE server_id = $1 "
    "AND NOT (source_path = ANY ($2::text[])) RETURNING 1), "
    "sized AS (INSERT INTO disks (server_id, source_path, size_bytes) "
    "SELECT $1, path, size FROM keep WHERE size IS NOT NULL "
    "ON CONFLICT (server_id, source_path) DO UPDATE SET size_bytes = EXCLUDED.size_bytes "
    "WHERE disks.size_bytes <> EXCLUDED.size_bytes RETURNING (xmax = 0) AS created), "
    "unsized AS (INSERT INTO disks (server_id, source_path) "
    "SELECT $1, path FROM keep WHERE size IS NULL "
    "ON CONFLICT (server_id, source_path) DO NOTHING RETURNING true AS created) "
    "SELECT (SELECT count(*) FROM del), "
    "(SELECT count(*) FILTER (WHERE created) FROM (SELECT created FROM sized UNION ALL "
    "SELECT created FROM unsized) c), "
    "(SELECT count(*) FILTER (WHERE NOT created) FROM sized)";

/* PostgreSQL bigint[] literal of the sizes, NULL where none was given. */
static char *sizes_array(const struct inv_row *r)
{
    char *out = malloc(r->ndisks * 24 + 3), *w = out;
    if (!out)
        return NULL;
    *w++ = '{';
    for (size_t i = 0; i < r->ndisks; i++) {
        if (r->disks[i].size >= 0)
            w += sprintf(w, "%s%" PRId64, i ? "," : "", r->disks[i].size);
        else
            w += sprintf(w, "%sNULL", i ? "," : "");
    }
    strcpy(w, "}");
    return out;
}

static int sync_disks(struct import *im, const struct inv_row *r, int64_t server)
{
    char sbuf[24];
    snprintf(sbuf, sizeof(sbuf), "%" PRId64, server);
    char **paths = calloc(r->ndisks + 1, sizeof(*paths));
    for (size_t i = 0; paths && i < r->ndisks; i++)
        paths[i] = r->disks[i].path;
    char *arr = paths ? pg_array(paths, r->ndisks) : NULL, *sizes = sizes_array(r);
    free(paths);
    int rc = -ENOMEM;
    if (arr && sizes) {
        const char *p[] = {sbuf, arr, sizes};
        PGresult *res = wm_pg_query(im->db, DISKS_SYNC, 3, p, im->err, im->errlen);
        rc = res ? 0 : -EIO;
        if (res && PQntuples(res) == 1) {
            im->sum->disks_removed += atol(PQgetvalue(res, 0, 0));
            im->sum->disks_created += atol(PQgetvalue(res, 0, 1));
            im->sum->disks_updated += atol(PQgetvalue(res, 0, 2));
        }
        PQclear(res);
    } else {
        snprintf(im->err, im->errlen, "out of memory");
    }
    free(arr);
    free(sizes);
    return rc;
}

static int import_row(struct import *im, const struct inv_row *r)
{
    int64_t wave = wave_id(im, r->wave);
    int64_t app = wave ? app_id(im, r->app, wave) : 0;
    if (!wave || !app)
        return -EIO;
    int rc = check_move(im, r, wave);
    if (rc)
        return rc;
    int64_t server = server_id(im, r, wave, app);
    if (!server)
        return -EIO;
    return sync_disks(im, r, server);
}

int inv_upsert(struct wm_pg *db, const struct inv_file *f, struct inv_summary *sum, char *err,
               size_t errlen)
{
    struct import im = {.db = db, .sum = sum, .fname = f->name, .err = err, .errlen = errlen};
    memset(sum, 0, sizeof(*sum));
    int rc = 0;
    for (size_t i = 0; i < f->nrows && rc == 0; i++) {
        rc = import_row(&im, &f->rows[i]);
        if (rc && rc != -EINVAL) {
            /* a database failure: say which row it was on */
            char why[512];
            snprintf(why, sizeof(why), "%s", err);
            snprintf(err, errlen, "%s:%d: %s", f->name, f->rows[i].line, why);
        }
    }
    cache_free(&im.waves);
    cache_free(&im.apps);
    return rc;
}

void inv_summary_format(const struct inv_summary *s, char *buf, size_t len)
{
    snprintf(buf, len,
             "waves: %ld created, %ld existing; applications: %ld created, %ld updated, "
             "%ld unchanged; servers: %ld created, %ld updated, %ld unchanged; disks: %ld "
             "created, %ld updated, %ld removed",
             s->waves_created, s->waves_existing, s->apps_created, s->apps_updated,
             s->apps_unchanged, s->servers_created, s->servers_updated, s->servers_unchanged,
             s->disks_created, s->disks_updated, s->disks_removed);
}
