/* api_read — the GET endpoints (see api.h).
 *
 * Each endpoint is one parameterised query whose columns become the JSON
 * members (numbers, booleans and json/jsonb typed as such); lists use
 * keyset pagination: ?limit=1..500 (default 100) and ?after=<id>, with
 * "next_after" in the reply (null on the last page).  Filters are query
 * parameters compared for equality, NULL when absent. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "action.h"
#include "api.h"
#include "json.h"
#include "pg.h"

#define ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define PAGE_MAX 500

/* --- rows to JSON --- */

static void value_json(struct wm_json *j, const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col)) {
        wm_json_null(j);
        return;
    }
    const char *v = PQgetvalue(r, row, col);
    switch (PQftype(r, col)) {
    case 16: /* bool */
        wm_json_bool(j, v[0] == 't');
        break;
    case 20: /* int8 */
    case 21: /* int2 */
    case 23: /* int4 */
        wm_json_int(j, strtoll(v, NULL, 10));
        break;
    case 700: /* float4 */
    case 701: /* float8 */
    case 1700: /* numeric */
        wm_json_double(j, strtod(v, NULL));
        break;
    case 114:  /* json */
    case 3802: /* jsonb */
        wm_json_raw(j, v);
        break;
    default:
        wm_json_str(j, v);
    }
}

static void row_json(struct wm_json *j, const PGresult *r, int row)
{
    wm_json_obj_begin(j);
    for (int c = 0; c < PQnfields(r); c++) {
        wm_json_key(j, PQfname(r, c));
        value_json(j, r, row, c);
    }
    wm_json_obj_end(j);
}

/* --- pagination --- */

struct page {
    char after[24], limit[16]; /* as text parameters */
    long n;
};

static int page_parse(const struct wm_httpd_req *req, struct wm_httpd_resp *resp, struct page *pg)
{
    const char *l = wm_httpd_query(req, "limit"), *a = wm_httpd_query(req, "after");
    char *end;
    long n = l ? strtol(l, &end, 10) : 100;
    if (l && (!*l || *end || n < 1 || n > PAGE_MAX))
        return api_error(resp, 400, "limit", "limit must be an integer from 1 to %d", PAGE_MAX),
               -EINVAL;
    long long after = a ? strtoll(a, &end, 10) : 0;
    if (a && (!*a || *end || after < 0))
        return api_error(resp, 400, "after", "after must be a non-negative id"), -EINVAL;
    pg->n = n;
    snprintf(pg->after, sizeof(pg->after), "%lld", after);
    snprintf(pg->limit, sizeof(pg->limit), "%ld", n + 1); /* one more: is there a next page? */
    return 0;
}

/* Runs sql with params (the page's after and limit must be $1 and $2) and
 * replies {"items": [...], "next_after": id|null}; the id column is "id". */
static int reply_page(struct api *a, struct wm_httpd_resp *resp, const char *sql, int n,
                      const char **params, const struct page *pg)
{
    params[0] = pg->after;
    params[1] = pg->limit;
    char err[512];
    struct wm_pg *db = api_db_get(a);
    PGresult *r = wm_pg_query(db, sql, n, params, err, sizeof(err));
    api_db_put(a, db);
    if (!r)
        return api_error(resp, 500, NULL, "database: %s", err);
    int rows = PQntuples(r), shown = rows > pg->n ? (int)pg->n : rows;
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_key(j, "items");
    wm_json_arr_begin(j);
    for (int i = 0; i < shown; i++)
        row_json(j, r, i);
    wm_json_arr_end(j);
    wm_json_key(j, "next_after");
    int idc = PQfnumber(r, "id");
    if (rows > pg->n && idc >= 0)
        wm_json_int(j, strtoll(PQgetvalue(r, shown - 1, idc), NULL, 10));
    else
        wm_json_null(j);
    wm_json_obj_end(j);
    PQclear(r);
    int rc = api_json(resp, 200, j);
    wm_json_free(j);
    return rc;
}

/* One row or 404. */
static int reply_one(struct api *a, struct wm_httpd_resp *resp, const char *sql,
                     const char *key, const char *what)
{
    char err[512];
    const char *p[] = {key};
    struct wm_pg *db = api_db_get(a);
    PGresult *r = wm_pg_query(db, sql, 1, p, err, sizeof(err));
    api_db_put(a, db);
    if (!r)
        return api_error(resp, 500, NULL, "database: %s", err);
    if (PQntuples(r) != 1) {
        PQclear(r);
        return api_error(resp, 404, NULL, "no %s named '%s'", what, key);
    }
    struct wm_json *j = wm_json_new();
    row_json(j, r, 0);
    PQclear(r);
    int rc = api_json(resp, 200, j);
    wm_json_free(j);
    return rc;
}

/* --- the queries --- */

#define WAVE_COLS                                                                                  \
    "w.id, w.name, w.status, w.priority, w.max_parallel, w.max_launching, " ISO(                   \
        "w.cutover_at") " AS cutover_at, " ISO("w.started_at") " AS started_at, " ISO(             \
        "w.finished_at") " AS finished_at, " ISO("w.created_at") " AS created_at, "                \
                             "(SELECT count(*) FROM servers s WHERE s.wave_id = w.id) AS servers," \
                             " COALESCE((SELECT jsonb_object_agg(lifecycle, n) FROM (SELECT "      \
                             "lifecycle, count(*) n FROM servers s WHERE s.wave_id = w.id GROUP "  \
                             "BY 1) x), '{}') AS lifecycle_counts,"                                \
                             " (SELECT COALESCE(sum(d.size_bytes), 0) FROM disks d JOIN servers s" \
                             " ON s.id = d.server_id WHERE s.wave_id = w.id) AS bytes_total,"      \
                             " (SELECT COALESCE(sum(LEAST(d.replicated_bytes, d.size_bytes)), 0)"  \
                             " FROM disks d JOIN servers s ON s.id = d.server_id WHERE s.wave_id " \
                             "= w.id) AS bytes_replicated"

#define DISK_JSON                                                                                  \
    "jsonb_build_object('id', d.id, 'source_path', d.source_path, 'size_bytes', d.size_bytes,"     \
    " 'replicated_bytes', d.replicated_bytes, 'backlog_bytes', d.backlog_bytes,"                   \
    " 'rate_bytes_per_s', d.rate_bytes_per_s, 'replication_state', d.replication_state,"           \
    " 'generation', d.generation, 'last_sync_at', " ISO("d.last_sync_at") ","                      \
    " 'target_volume', d.target_volume, 'eta_s', CASE WHEN d.rate_bytes_per_s > 0 AND "           \
    "d.size_bytes > d.replicated_bytes THEN (d.size_bytes - d.replicated_bytes) / "                \
    "d.rate_bytes_per_s END)"

/* settings (driver options) and credentials never leave the database */
#define SERVER_COLS                                                                                \
    "s.id, s.name, w.name AS wave, a.name AS application, s.fqdn, s.os_family, s.os_version,"      \
    " s.source_host, s.target_provider, s.instance_type, s.lifecycle, s.replication_state,"       \
    " s.current_step, s.error, s.test_instance_id, s.test_instance_address, s.instance_id,"       \
    " s.instance_address, s.validation, " ISO("s.last_delta_at") " AS last_delta_at, " ISO(       \
        "s.updated_at") " AS updated_at, COALESCE((SELECT jsonb_agg(" DISK_JSON                    \
                        " ORDER BY d.id) FROM disks d WHERE d.server_id = s.id), '[]') AS disks," \
                        " (SELECT jsonb_build_object('id', t.id, 'kind', t.kind, 'state', "       \
                        "t.state, 'bytes_done', t.bytes_done, 'bytes_total', t.bytes_total, "     \
                        "'simulated', s.target_provider = 'sim') FROM tasks t WHERE t.server_id " \
                        "= s.id AND t.state IN ('QUEUED','RUNNING') ORDER BY t.id DESC LIMIT 1)" \
                        " AS running_task"
#define SERVER_FROM                                                                                \
    " FROM servers s JOIN waves w ON w.id = s.wave_id LEFT JOIN applications a ON a.id = "         \
    "s.application_id"

#define TASK_COLS                                                                                  \
    "t.id, s.name AS server, w.name AS wave, t.kind, t.state, t.attempt, t.max_attempts,"          \
    " t.error, t.bytes_done, t.bytes_total, t.lease_owner, " ISO("t.created_at") " AS created_at," \
    " " ISO("t.claimed_at") " AS claimed_at, " ISO("t.finished_at") " AS finished_at"
#define TASK_FROM " FROM tasks t JOIN servers s ON s.id = t.server_id JOIN waves w ON w.id = t.wave_id"

static int list_waves(struct api *a, const struct wm_httpd_req *req, struct wm_httpd_resp *resp,
                      const struct page *pg)
{
    const char *p[] = {NULL, NULL, wm_httpd_query(req, "status")};
    return reply_page(a, resp,
                      "SELECT " WAVE_COLS " FROM waves w WHERE w.id > $1::bigint AND ($3::text IS"
                      " NULL OR w.status = $3) ORDER BY w.id LIMIT $2::int",
                      3, p, pg);
}

static int list_apps(struct api *a, const struct wm_httpd_req *req, struct wm_httpd_resp *resp,
                     const struct page *pg)
{
    const char *p[] = {NULL, NULL, wm_httpd_query(req, "wave")};
    return reply_page(a, resp,
                      "SELECT ap.id, ap.name, w.name AS wave, (SELECT count(*) FROM servers s"
                      " WHERE s.application_id = ap.id) AS servers FROM applications ap LEFT"
                      " JOIN waves w ON w.id = ap.wave_id WHERE ap.id > $1::bigint AND ($3::text"
                      " IS NULL OR w.name = $3) ORDER BY ap.id LIMIT $2::int",
                      3, p, pg);
}

static int list_servers(struct api *a, const struct wm_httpd_req *req,
                        struct wm_httpd_resp *resp, const struct page *pg, const char *wave)
{
    const char *p[] = {NULL, NULL, wave ? wave : wm_httpd_query(req, "wave"),
                       wm_httpd_query(req, "lifecycle"), wm_httpd_query(req, "application")};
    return reply_page(a, resp,
                      "SELECT " SERVER_COLS SERVER_FROM " WHERE s.id > $1::bigint AND ($3::text"
                      " IS NULL OR w.name = $3) AND ($4::text IS NULL OR s.lifecycle = $4) AND"
                      " ($5::text IS NULL OR a.name = $5) ORDER BY s.id LIMIT $2::int",
                      5, p, pg);
}

static int list_disks(struct api *a, const struct wm_httpd_req *req, struct wm_httpd_resp *resp,
                      const struct page *pg)
{
    const char *p[] = {NULL, NULL, wm_httpd_query(req, "server"), wm_httpd_query(req, "wave")};
    return reply_page(a, resp,
                      "SELECT d.id, s.name AS server, w.name AS wave, d.source_path, d.size_bytes,"
                      " d.replicated_bytes, d.backlog_bytes, d.rate_bytes_per_s,"
                      " d.replication_state, d.generation, " ISO("d.last_sync_at") " AS "
                      "last_sync_at, d.target_volume FROM disks d JOIN servers s ON s.id ="
                      " d.server_id JOIN waves w ON w.id = s.wave_id WHERE d.id > $1::bigint AND"
                      " ($3::text IS NULL OR s.name = $3) AND ($4::text IS NULL OR w.name = $4)"
                      " ORDER BY d.id LIMIT $2::int",
                      4, p, pg);
}

static int list_tasks(struct api *a, const struct wm_httpd_req *req, struct wm_httpd_resp *resp,
                      const struct page *pg, const char *server)
{
    const char *p[] = {NULL,
                       NULL,
                       server ? server : wm_httpd_query(req, "server"),
                       wm_httpd_query(req, "wave"),
                       wm_httpd_query(req, "state"),
                       wm_httpd_query(req, "kind")};
    return reply_page(a, resp,
                      "SELECT " TASK_COLS TASK_FROM " WHERE t.id > $1::bigint AND ($3::text IS"
                      " NULL OR s.name = $3) AND ($4::text IS NULL OR w.name = $4) AND ($5::text"
                      " IS NULL OR t.state = $5) AND ($6::text IS NULL OR t.kind = $6)"
                      " ORDER BY t.id LIMIT $2::int",
                      6, p, pg);
}

/* task_events: the timeline of a server (or of one task) */
static int list_events(struct api *a, const struct wm_httpd_req *req, struct wm_httpd_resp *resp,
                       const struct page *pg, const char *server, const char *task)
{
    const char *p[] = {NULL, NULL, server ? server : wm_httpd_query(req, "server"), task,
                       wm_httpd_query(req, "wave")};
    return reply_page(a, resp,
                      "SELECT e.id, e.task_id, t.kind, e.attempt, e.state, e.actor, e.message,"
                      " " ISO("e.at") " AS at, s.name AS server, w.name AS wave FROM task_events"
                      " e JOIN tasks t ON t.id = e.task_id JOIN servers s ON s.id = t.server_id"
                      " JOIN waves w ON w.id = t.wave_id WHERE e.id > $1::bigint AND ($3::text"
                      " IS NULL OR s.name = $3) AND ($4::bigint IS NULL OR e.task_id = $4) AND"
                      " ($5::text IS NULL OR w.name = $5) ORDER BY e.id LIMIT $2::int",
                      5, p, pg);
}

static int list_audit(struct api *a, struct wm_httpd_resp *resp, const struct page *pg)
{
    const char *p[] = {NULL, NULL};
    return reply_page(a, resp,
                      "SELECT l.id, " ISO("l.at") " AS at, l.actor, l.action, l.wave, l.server,"
                      " l.detail, l.source, l.result, t.name AS token FROM audit_log l LEFT JOIN"
                      " api_tokens t ON t.id = l.token_id WHERE l.id > $1::bigint ORDER BY l.id"
                      " LIMIT $2::int",
                      2, p, pg);
}

static int list_tokens(struct api *a, struct wm_httpd_resp *resp, const struct page *pg)
{
    const char *p[] = {NULL, NULL};
    return reply_page(a, resp,
                      "SELECT id, name, role, created_by, " ISO("created_at") " AS created_at, " ISO(
                          "expires_at") " AS expires_at, " ISO("revoked_at") " AS revoked_at, " ISO("last_used_at") " AS "
                                                                                                 "last_used_at"
                                                                                                 " FROM api_tokens WHERE id > $1::bigint ORDER BY id LIMIT $2::int",
                      2, p, pg);
}

static int list_actions(struct wm_httpd_resp *resp)
{
    size_t n;
    const struct action_def *t = action_table(&n);
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_key(j, "items");
    wm_json_arr_begin(j);
    for (size_t i = 0; i < n; i++) {
        wm_json_obj_begin(j);
        wm_json_kstr(j, "name", t[i].name);
        wm_json_kstr(j, "verb", t[i].verb);
        wm_json_kstr(j, "target", t[i].target == ACTION_WAVE ? "wave" : "server");
        wm_json_kstr(j, "role", wm_role_name(t[i].role));
        wm_json_kbool(j, "confirm", t[i].confirm);
        wm_json_kstr(j, "params", t[i].params);
        wm_json_kstr(j, "help", t[i].help);
        wm_json_obj_end(j);
    }
    wm_json_arr_end(j);
    wm_json_obj_end(j);
    int rc = api_json(resp, 200, j);
    wm_json_free(j);
    return rc;
}

static int whoami(struct wm_httpd_resp *resp, const struct api_caller *who)
{
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kstr(j, "name", who->tok.name);
    wm_json_kstr(j, "role", wm_role_name(who->tok.role));
    wm_json_obj_end(j);
    int rc = api_json(resp, 200, j);
    wm_json_free(j);
    return rc;
}

int api_read_route(struct api *a, const struct wm_httpd_req *req, struct wm_httpd_resp *resp,
                   char seg[][160], int n, const struct api_caller *who)
{
    const char *r = seg[0];
    const char *sub = n > 2 ? seg[2] : ""; /* one name for it: gcc's overread check under
                                           * -fsanitize loses the array's bound */
    struct page pg;
    if (page_parse(req, resp, &pg) < 0)
        return 0;
    if (n == 1 && strcmp(r, "whoami") == 0)
        return whoami(resp, who);
    if (n == 1 && strcmp(r, "actions") == 0)
        return list_actions(resp);
    if (n == 1 && strcmp(r, "waves") == 0)
        return list_waves(a, req, resp, &pg);
    if (n == 2 && strcmp(r, "waves") == 0)
        return reply_one(a, resp, "SELECT " WAVE_COLS " FROM waves w WHERE w.name = $1", seg[1],
                         "wave");
    if (n == 3 && strcmp(r, "waves") == 0 && strcmp(sub, "servers") == 0)
        return list_servers(a, req, resp, &pg, seg[1]);
    if (n == 1 && strcmp(r, "applications") == 0)
        return list_apps(a, req, resp, &pg);
    if (n == 1 && strcmp(r, "servers") == 0)
        return list_servers(a, req, resp, &pg, NULL);
    if (n == 2 && strcmp(r, "servers") == 0)
        return reply_one(a, resp, "SELECT " SERVER_COLS SERVER_FROM " WHERE s.name = $1", seg[1],
                         "server");
    if (n == 3 && strcmp(r, "servers") == 0 && strcmp(sub, "tasks") == 0)
        return list_tasks(a, req, resp, &pg, seg[1]);
    if (n == 3 && strcmp(r, "servers") == 0 && strcmp(sub, "events") == 0)
        return list_events(a, req, resp, &pg, seg[1], NULL);
    if (n == 1 && strcmp(r, "disks") == 0)
        return list_disks(a, req, resp, &pg);
    if (n == 1 && strcmp(r, "tasks") == 0)
        return list_tasks(a, req, resp, &pg, NULL);
    if (n == 3 && strcmp(r, "tasks") == 0 && strcmp(sub, "events") == 0) {
        char *end;
        strtoll(seg[1], &end, 10);
        if (!*seg[1] || *end)
            return api_error(resp, 400, "id", "task id must be a number");
        return list_events(a, req, resp, &pg, NULL, seg[1]);
    }
    if (n == 1 && strcmp(r, "events") == 0)
        return list_events(a, req, resp, &pg, NULL, NULL);
    if (n == 1 && (strcmp(r, "audit") == 0 || strcmp(r, "tokens") == 0)) {
        if (!wm_apitoken_allows(who->tok.role, WM_ROLE_ADMIN))
            return api_error(resp, 403, NULL, "token '%s' has role %s; this needs admin",
                             who->tok.name, wm_role_name(who->tok.role));
        return strcmp(r, "audit") == 0 ? list_audit(a, resp, &pg) : list_tokens(a, resp, &pg);
    }
    return api_error(resp, 404, NULL, "no such resource: %s", req->path);
}
