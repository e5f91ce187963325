/* inventory_db — validated rows → PostgreSQL upserts (see inventory.h).
 *
 * Servers and disks go in chunks of CHUNK rows, each column as one array
 * parameter unnested by the statement, so a 10,000-server file is a few
 * dozen statements rather than tens of thousands of round trips.
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
#include "pgarr.h"

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

/* --- PostgreSQL array literals (pgarr.h), one per column, built a chunk at a time --- */

/* The literal of a list of strings, as one element of another array. */
static void arr_list(struct wm_pgarr *a, char *const *items, size_t n)
{
    struct wm_pgarr inner = {0};
    for (size_t i = 0; i < n; i++)
        wm_pgarr_text(&inner, items[i]);
    const char *lit = wm_pgarr_end(&inner);
    if (lit)
        wm_pgarr_text(a, lit);
    else
        a->oom = true;
    wm_pgarr_free(&inner);
}

/* A JSON object of key/value pairs (tags, settings). */
static void arr_kv(struct wm_pgarr *a, const struct inv_tag *kv, size_t n)
{
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    for (size_t i = 0; i < n; i++)
        wm_json_kstr(j, kv[i].key, kv[i].value);
    wm_json_obj_end(j);
    if (wm_json_error(j))
        a->oom = true;
    else
        wm_pgarr_text(a, wm_json_text(j));
    wm_json_free(j);
}

/* --- servers and disks, in chunks of CHUNK rows: three statements each --- */

#define CHUNK 500

enum scol {
    S_NAME, S_WAVE, S_APP, S_FQDN, S_OSF, S_OSV, S_HOST, S_PORT, S_USER, S_CRED,
    S_PROVIDER, S_INSTANCE, S_SUBNET, S_SGS, S_TSGS, S_TAGS, S_SETTINGS, S_NCOLS
};
enum dcol { D_SERVER, D_PATH, D_SIZE, D_NCOLS };

struct chunk {
    struct wm_pgarr s[S_NCOLS];
    struct wm_pgarr d[D_NCOLS];
    const char *sp[S_NCOLS];
    const char *dp[D_NCOLS + 1];
};

/* A server that already has tasks stays in its wave (see inventory.h). */
static const char MOVES_SQL[] =
    "SELECT f.name, w.name FROM unnest($1::text[], $2::bigint[]) AS f(name, wave_id) "
    "JOIN servers s ON s.name = f.name JOIN waves w ON w.id = s.wave_id "
    "WHERE s.wave_id <> f.wave_id "
    "AND EXISTS (SELECT 1 FROM tasks t WHERE t.server_id = s.id) FOR UPDATE OF s";

/* New rows are inserted, changed rows updated, unchanged rows left alone
 * (and not returned). */
static const char SERVERS_SQL[] =
    "INSERT INTO servers (name, wave_id, application_id, fqdn, os_family, os_version, "
    "source_host, source_port, source_user, credential, target_provider, instance_type, "
    "subnet_id, security_group_ids, test_security_group_ids, tags, settings) "
    "SELECT name, wave_id, app_id, fqdn, osf, osv, host, port, usr, cred, provider, itype, "
    "subnet, sgs::text[], tsgs::text[], tags::jsonb, sset::jsonb "
    "FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], "
    "$7::text[], $8::int[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], "
    "$14::text[], $15::text[], $16::text[], $17::text[]) AS f(name, wave_id, app_id, fqdn, osf, "
    "osv, host, port, usr, cred, provider, itype, subnet, sgs, tsgs, tags, sset) "
    "ON CONFLICT (name) DO UPDATE SET wave_id = EXCLUDED.wave_id, "
    "application_id = EXCLUDED.application_id, fqdn = EXCLUDED.fqdn, "
    "os_family = EXCLUDED.os_family, os_version = EXCLUDED.os_version, "
    "source_host = EXCLUDED.source_host, source_port = EXCLUDED.source_port, "
    "source_user = EXCLUDED.source_user, credential = EXCLUDED.credential, "
    "target_provider = EXCLUDED.target_provider, instance_type = EXCLUDED.instance_type, "
    "subnet_id = EXCLUDED.subnet_id, security_group_ids = EXCLUDED.security_group_ids, "
    "test_security_group_ids = EXCLUDED.test_security_group_ids, tags = EXCLUDED.tags, "
    "settings = servers.settings || EXCLUDED.settings, updated_at = now() "
    "WHERE (servers.wave_id, servers.application_id, servers.fqdn, servers.os_family, "
    "servers.os_version, servers.source_host, servers.source_port, servers.source_user, "
    "servers.credential, servers.target_provider, servers.instance_type, servers.subnet_id, "
    "servers.security_group_ids, servers.test_security_group_ids, servers.tags, "
    "servers.settings) "
    "IS DISTINCT FROM (EXCLUDED.wave_id, EXCLUDED.application_id, EXCLUDED.fqdn, "
    "EXCLUDED.os_family, EXCLUDED.os_version, EXCLUDED.source_host, EXCLUDED.source_port, "
    "EXCLUDED.source_user, EXCLUDED.credential, EXCLUDED.target_provider, "
    "EXCLUDED.instance_type, EXCLUDED.subnet_id, EXCLUDED.security_group_ids, "
    "EXCLUDED.test_security_group_ids, EXCLUDED.tags, servers.settings || EXCLUDED.settings) "
    "RETURNING (xmax = 0)";

/* The listed disks of the chunk's servers are upserted (a disk without a
 * size keeps the size already known — prereq_check measures it); their
 * other disks are removed.  Returns (removed, created, updated). */
static const char DISKS_SQL[] =
    "WITH srv AS (SELECT id, name FROM servers WHERE name = ANY ($4::text[])), "
    "k AS (SELECT srv.id AS server_id, f.path, f.size "
    "FROM unnest($1::text[], $2::text[], $3::bigint[]) AS f(server, path, size) "
    "JOIN srv ON srv.name = f.server), "
    "del AS (DELETE FROM disks d USING srv WHERE d.server_id = srv.id AND NOT EXISTS "
    "(SELECT 1 FROM k WHERE k.server_id = d.server_id AND k.path = d.source_path) RETURNING 1), "
    "sized AS (INSERT INTO disks (server_id, source_path, size_bytes) "
    "SELECT server_id, path, size FROM k WHERE size IS NOT NULL "
    "ON CONFLICT (server_id, source_path) DO UPDATE SET size_bytes = EXCLUDED.size_bytes "
    "WHERE disks.size_bytes <> EXCLUDED.size_bytes RETURNING (xmax = 0) AS created), "
    "unsized AS (INSERT INTO disks (server_id, source_path) "
    "SELECT server_id, path FROM k WHERE size IS NULL "
    "ON CONFLICT (server_id, source_path) DO NOTHING RETURNING true AS created) "
    "SELECT (SELECT count(*) FROM del), "
    "(SELECT count(*) FILTER (WHERE created) FROM (SELECT created FROM sized UNION ALL "
    "SELECT created FROM unsized) c), "
    "(SELECT count(*) FILTER (WHERE NOT created) FROM sized)";

static void add_server(struct chunk *c, const struct inv_row *r, int64_t wave, int64_t app)
{
    const char *texts[S_NCOLS] = {
        [S_NAME] = r->server, [S_FQDN] = r->fqdn, [S_OSF] = r->os_family,
        [S_OSV] = r->os_version, [S_HOST] = r->source_host, [S_USER] = r->source_user,
        [S_CRED] = r->credential, [S_PROVIDER] = r->provider,
        [S_INSTANCE] = r->instance_type, [S_SUBNET] = r->subnet_id};
    for (int i = 0; i < S_NCOLS; i++)
        if (texts[i])
            wm_pgarr_text(&c->s[i], texts[i]);
    wm_pgarr_int(&c->s[S_WAVE], wave, false);
    wm_pgarr_int(&c->s[S_APP], app, false);
    wm_pgarr_int(&c->s[S_PORT], r->source_port, false);
    arr_list(&c->s[S_SGS], r->sgs, r->nsgs);
    arr_list(&c->s[S_TSGS], r->test_sgs, r->ntest_sgs);
    arr_kv(&c->s[S_TAGS], r->tags, r->ntags);
    arr_kv(&c->s[S_SETTINGS], r->settings, r->nsettings);
    for (size_t i = 0; i < r->ndisks; i++) {
        wm_pgarr_text(&c->d[D_SERVER], r->server);
        wm_pgarr_text(&c->d[D_PATH], r->disks[i].path);
        wm_pgarr_int(&c->d[D_SIZE], r->disks[i].size, r->disks[i].size < 0);
    }
}

/* Closes every column literal; -ENOMEM if one could not be built. */
static int chunk_end(struct import *im, struct chunk *c)
{
    bool ok = true;
    for (int i = 0; i < S_NCOLS; i++)
        ok &= (c->sp[i] = wm_pgarr_end(&c->s[i])) != NULL;
    for (int i = 0; i < D_NCOLS; i++)
        ok &= (c->dp[i] = wm_pgarr_end(&c->d[i])) != NULL;
    c->dp[D_NCOLS] = c->sp[S_NAME];
    if (!ok)
        snprintf(im->err, im->errlen, "out of memory");
    return ok ? 0 : -ENOMEM;
}

static void chunk_reset(struct chunk *c)
{
    for (int i = 0; i < S_NCOLS; i++)
        wm_pgarr_reset(&c->s[i]);
    for (int i = 0; i < D_NCOLS; i++)
        wm_pgarr_reset(&c->d[i]);
}

static void chunk_free(struct chunk *c)
{
    for (int i = 0; i < S_NCOLS; i++)
        wm_pgarr_free(&c->s[i]);
    for (int i = 0; i < D_NCOLS; i++)
        wm_pgarr_free(&c->d[i]);
}

/* Refuses the chunk if a server with tasks would change wave; names the
 * first such row of the file. */
static int check_moves(struct import *im, const struct inv_file *f, size_t from, size_t to,
                       const struct chunk *c)
{
    const char *p[] = {c->sp[S_NAME], c->sp[S_WAVE]};
    PGresult *res = wm_pg_query(im->db, MOVES_SQL, 2, p, im->err, im->errlen);
    if (!res)
        return -EIO;
    int rc = 0;
    for (size_t i = from; i < to && PQntuples(res) > 0 && rc == 0; i++) {
        const struct inv_row *r = &f->rows[i];
        for (int k = 0; k < PQntuples(res) && rc == 0; k++) {
            if (strcmp(PQgetvalue(res, k, 0), r->server) != 0)
                continue;
            snprintf(im->err, im->errlen,
                     "%s:%d: column wave_name: server '%s' is in wave '%s' and has tasks; it "
                     "cannot move to wave '%s'",
                     f->name, r->line, r->server, PQgetvalue(res, k, 1), r->wave);
            rc = -EINVAL;
        }
    }
    PQclear(res);
    return rc;
}

static int write_servers(struct import *im, size_t nrows, const struct chunk *c)
{
    PGresult *res = wm_pg_query(im->db, SERVERS_SQL, S_NCOLS, c->sp, im->err, im->errlen);
    if (!res)
        return -EIO;
    long changed = PQntuples(res);
    for (long i = 0; i < changed; i++) {
        if (PQgetvalue(res, (int)i, 0)[0] == 't')
            im->sum->servers_created++;
        else
            im->sum->servers_updated++;
    }
    im->sum->servers_unchanged += (long)nrows - changed;
    PQclear(res);
    return 0;
}

static int write_disks(struct import *im, const struct chunk *c)
{
    PGresult *res = wm_pg_query(im->db, DISKS_SQL, D_NCOLS + 1, c->dp, im->err, im->errlen);
    if (!res)
        return -EIO;
    if (PQntuples(res) == 1) {
        im->sum->disks_removed += atol(PQgetvalue(res, 0, 0));
        im->sum->disks_created += atol(PQgetvalue(res, 0, 1));
        im->sum->disks_updated += atol(PQgetvalue(res, 0, 2));
    }
    PQclear(res);
    return 0;
}

/* Rows [from, to): waves and applications first (cached by name), then
 * the three chunk statements. */
static int import_chunk(struct import *im, const struct inv_file *f, size_t from, size_t to,
                        struct chunk *c)
{
    chunk_reset(c);
    for (size_t i = from; i < to; i++) {
        const struct inv_row *r = &f->rows[i];
        int64_t wave = wave_id(im, r->wave);
        int64_t app = wave ? app_id(im, r->app, wave) : 0;
        if (!wave || !app) {
            char why[512];
            snprintf(why, sizeof(why), "%s", im->err);
            snprintf(im->err, im->errlen, "%s:%d: %s", f->name, r->line, why);
            return -EIO;
        }
        add_server(c, r, wave, app);
    }
    int rc = chunk_end(im, c);
    if (rc == 0)
        rc = check_moves(im, f, from, to, c);
    if (rc == 0)
        rc = write_servers(im, to - from, c);
    if (rc == 0)
        rc = write_disks(im, c);
    if (rc == -EIO) {
        char why[512];
        snprintf(why, sizeof(why), "%s", im->err);
        snprintf(im->err, im->errlen, "%s: rows on lines %d-%d: %s", f->name,
                 f->rows[from].line, f->rows[to - 1].line, why);
    }
    return rc;
}

int inv_upsert(struct wm_pg *db, const struct inv_file *f, struct inv_summary *sum, char *err,
               size_t errlen)
{
    struct import im = {.db = db, .sum = sum, .err = err, .errlen = errlen};
    struct chunk c = {0};
    memset(sum, 0, sizeof(*sum));
    int rc = 0;
    for (size_t i = 0; i < f->nrows && rc == 0; i += CHUNK) {
        size_t to = i + CHUNK < f->nrows ? i + CHUNK : f->nrows;
        rc = import_chunk(&im, f, i, to, &c);
    }
    chunk_free(&c);
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
