/* api_act — POST/DELETE endpoints: operator actions through the same
 * action layer as the CLI (scheduler/action.h), intake upload, tokens. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "action.h"
#include "api.h"
#include "inventory.h"
#include "json.h"
#include "jsonr.h"
#include "kafka.h"
#include "pg.h"

/* --- body parameters --- */

struct body {
    struct wm_jsonr *doc;
    char num[ACTION_MAX_PARAMS][32];
};

/* The body (a JSON object of strings and integers, or empty) into p;
 * skip names one member to leave out (the wave name of a create). */
static int body_params(const struct wm_httpd_req *req, struct wm_httpd_resp *resp,
                       struct body *b, struct action_params *p, const char *skip)
{
    memset(p, 0, sizeof(*p));
    if (req->body_len == 0)
        return 0;
    char err[256];
    b->doc = wm_jsonr_parse(req->body, req->body_len, NULL, NULL, err, sizeof(err));
    const struct wm_jsonr_val *root = wm_jsonr_root(b->doc);
    if (!b->doc || wm_jsonr_type(root) != WM_JSONR_OBJECT)
        return api_error(resp, 400, "body", "body: %s", b->doc ? "not a JSON object" : err),
               -EINVAL;
    for (size_t i = 0; i < wm_jsonr_len(root); i++) {
        const char *k = wm_jsonr_key_at(root, i);
        const struct wm_jsonr_val *v = wm_jsonr_at(root, i);
        if (skip && strcmp(k, skip) == 0)
            continue;
        if (p->n == ACTION_MAX_PARAMS)
            return api_error(resp, 400, k, "too many parameters"), -EINVAL;
        int64_t iv;
        if (wm_jsonr_type(v) == WM_JSONR_STRING) {
            p->value[p->n] = wm_jsonr_str(v);
        } else if (wm_jsonr_int(v, &iv)) {
            snprintf(b->num[p->n], sizeof(b->num[0]), "%lld", (long long)iv);
            p->value[p->n] = b->num[p->n];
        } else {
            return api_error(resp, 400, k, "%s must be a string or an integer", k), -EINVAL;
        }
        p->name[p->n++] = k;
    }
    return 0;
}

/* --- actions --- */

static int action_reply(struct wm_httpd_resp *resp, const struct action_def *d,
                        const char *target, int rc, const struct action_result *res,
                        const char *err)
{
    int status = api_errno_status(rc);
    if (status >= 400)
        return api_error(resp, status, res->field, "%s", *err ? err : strerror(-rc));
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kbool(j, "ok", true);
    wm_json_kstr(j, "action", d->name);
    wm_json_kstr(j, d->target == ACTION_WAVE ? "wave" : "server", target);
    wm_json_kbool(j, "changed", rc == 0);
    wm_json_kstr(j, "note", rc == 0 ? (*res->note ? res->note : NULL) : err);
    wm_json_obj_end(j);
    int r = api_json(resp, rc == 0 && strcmp(d->verb, "create") == 0 ? 201 : 200, j);
    wm_json_free(j);
    return r;
}

static int do_action(struct api *a, const struct wm_httpd_req *req, struct wm_httpd_resp *resp,
                     const struct action_def *d, const char *target, const char *skip)
{
    struct api_caller who;
    int rc = api_auth(a, req, resp, d->role, false, &who);
    struct action_who aw = {"api", who.tok.name, who.tok.id, a->status, a->status_topic};
    if (rc == -EPERM) { /* a known token without the role: on the record */
        char err[256];
        struct wm_pg *db = api_db_get(a);
        bool wave = d->target == ACTION_WAVE;
        action_audit(db, &aw, d->name, wave ? target : NULL, wave ? NULL : target, NULL,
                     "refused", err, sizeof(err));
        api_db_put(a, db);
    }
    if (rc < 0)
        return 0;
    struct body b = {0};
    struct action_params p;
    if (body_params(req, resp, &b, &p, skip) < 0) {
        wm_jsonr_free(b.doc);
        return 0;
    }
    struct action_result res;
    char err[1024];
    struct wm_pg *db = api_db_get(a);
    rc = action_run(db, d, target, &p, &aw, &res, err, sizeof(err));
    api_db_put(a, db);
    if (rc == 0)
        wm_kafka_flush(a->status, 2000);
    rc = action_reply(resp, d, target, rc, &res, err);
    wm_jsonr_free(b.doc);
    return rc;
}

/* POST /waves {"name": ...}: the name comes from the body */
static int wave_create(struct api *a, const struct wm_httpd_req *req, struct wm_httpd_resp *resp)
{
    char err[256];
    struct wm_jsonr *doc = wm_jsonr_parse(req->body, req->body_len, NULL, NULL, err, sizeof(err));
    const char *name = wm_jsonr_str(wm_jsonr_get(wm_jsonr_root(doc), "name"));
    char copy[160];
    snprintf(copy, sizeof(copy), "%s", name ? name : "");
    wm_jsonr_free(doc);
    if (!name || !*name)
        return api_error(resp, 400, "name", "the wave needs a name");
    return do_action(a, req, resp, action_find(ACTION_WAVE, "create"), copy, "name");
}

/* --- intake --- */

static int summary_reply(struct wm_httpd_resp *resp, const struct inv_file *f, bool dry,
                         const struct inv_summary *s)
{
    char *j = action_import_json(f, dry, s);
    char *body = NULL;
    if (!j || asprintf(&body, "{\"ok\":true,%s", j + 1) < 0) {
        free(j);
        return -ENOMEM;
    }
    free(j);
    wm_httpd_reply_owned(resp, dry ? 200 : 201, "application/json", body, strlen(body));
    return 0;
}

/* "intake.csv:12: why" -> 12, else 0 */
static long error_line(const char *err)
{
    const char *c = strchr(err, ':');
    return c ? strtol(c + 1, NULL, 10) : 0;
}

static bool query_true(const struct wm_httpd_req *req, const char *name)
{
    const char *v = wm_httpd_query(req, name);
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || *v == '\0');
}

static int intake(struct api *a, const struct wm_httpd_req *req, struct wm_httpd_resp *resp)
{
    struct api_caller who;
    if (api_auth(a, req, resp, WM_ROLE_OPERATOR, false, &who) < 0)
        return 0;
    bool dry = query_true(req, "dry_run");
    char err[1024];
    struct inv_file *f =
        inv_parse("intake.csv", req->body, req->body_len,
                  query_true(req, "ignore_unknown") ? INV_IGNORE_UNKNOWN : 0, err, sizeof(err));
    if (!f) {
        struct wm_json *j = wm_json_new();
        wm_json_obj_begin(j);
        wm_json_kstr(j, "error", err);
        wm_json_kstr(j, "field", "body");
        wm_json_kint(j, "line", error_line(err));
        wm_json_obj_end(j);
        int rc = api_json(resp, 400, j);
        wm_json_free(j);
        return rc;
    }
    struct inv_summary sum = {0};
    struct action_who aw = {"api", who.tok.name, who.tok.id, NULL, NULL};
    struct wm_pg *db = api_db_get(a);
    int rc = action_import(db, f, dry, &aw, &sum, err, sizeof(err));
    api_db_put(a, db);
    rc = rc == 0 ? summary_reply(resp, f, dry, &sum)
                 : api_error(resp, 400, "body", "%s (nothing imported)", err);
    inv_free(f);
    return rc;
}

/* --- tokens (admin) --- */

static int token_create(struct api *a, const struct wm_httpd_req *req, struct wm_httpd_resp *resp,
                        const struct api_caller *who)
{
    struct body b = {0};
    struct action_params p;
    if (body_params(req, resp, &b, &p, NULL) < 0) {
        wm_jsonr_free(b.doc);
        return 0;
    }
    const char *name = action_param(&p, "name"), *role = action_param(&p, "role"),
               *exp = action_param(&p, "expires_s");
    char tok[WM_APITOKEN_LEN + 1], err[512], *end = NULL;
    long long ttl = exp ? strtoll(exp, &end, 10) : 0;
    int rc = -EINVAL;
    const char *field = !name                                             ? "name"
                        : !role || wm_role_parse(role) == WM_ROLE_NONE    ? "role"
                        : exp && (!*exp || *end || ttl <= 0 || ttl > 36500LL * 86400) ? "expires_s"
                                                                          : NULL;
    if (!field) {
        struct wm_pg *db = api_db_get(a);
        rc = wm_apitoken_create(db, name, role, ttl, who->tok.name,
                                tok, sizeof(tok), NULL, err, sizeof(err));
        struct action_who aw = {"api", who->tok.name, who->tok.id, NULL, NULL};
        char detail[160];
        snprintf(detail, sizeof(detail), "{\"token\":\"%s\",\"role\":\"%s\"}", name, role);
        if (rc == 0)
            action_audit(db, &aw, "token.create", NULL, NULL, detail, "ok", err, sizeof(err));
        api_db_put(a, db);
    }
    if (field)
        rc = api_error(resp, 400, field, "%s: give %s", field,
                       strcmp(field, "role") == 0        ? "viewer, operator or admin"
                       : strcmp(field, "expires_s") == 0 ? "seconds until it expires (> 0)"
                                                         : "a name");
    else if (rc < 0)
        rc = api_error(resp, rc == -EEXIST ? 409 : rc == -EINVAL ? 400 : 500,
                       rc == -EINVAL ? "name" : NULL, "%s", err);
    else
        /* the one response that carries a secret: the new token, once, to an admin */
        rc = wm_httpd_reply(resp, 201, "application/json",
                            "{\"name\":\"%s\",\"role\":\"%s\",\"token\":\"%s\"}", name, role, tok);
    explicit_bzero(tok, sizeof(tok));
    wm_jsonr_free(b.doc);
    return rc;
}

static int token_revoke(struct api *a, struct wm_httpd_resp *resp, const char *name,
                        const struct api_caller *who)
{
    char err[512];
    struct wm_pg *db = api_db_get(a);
    int rc = wm_apitoken_revoke(db, name, err, sizeof(err));
    if (rc == 0) {
        struct action_who aw = {"api", who->tok.name, who->tok.id, NULL, NULL};
        char detail[160];
        snprintf(detail, sizeof(detail), "{\"token\":\"%s\"}", name);
        action_audit(db, &aw, "token.revoke", NULL, NULL, detail, "ok", err, sizeof(err));
    }
    api_db_put(a, db);
    if (rc < 0)
        return api_error(resp, rc == -ENOENT ? 404 : 500, NULL, "%s", err);
    return wm_httpd_reply(resp, 200, "application/json", "{\"ok\":true,\"revoked\":\"%s\"}",
                          name);
}

static int tokens(struct api *a, const struct wm_httpd_req *req, struct wm_httpd_resp *resp,
                  char seg[][160], int n)
{
    struct api_caller who;
    if (api_auth(a, req, resp, WM_ROLE_ADMIN, false, &who) < 0)
        return 0;
    bool post = strcmp(req->method, "POST") == 0;
    if (post && n == 1)
        return token_create(a, req, resp, &who);
    if (!post && n == 2)
        return token_revoke(a, resp, seg[1], &who);
    return api_error(resp, 404, NULL, "no such resource: %s", req->path);
}

int api_act_route(struct api *a, const struct wm_httpd_req *req, struct wm_httpd_resp *resp,
                  char seg[][160], int n)
{
    bool post = strcmp(req->method, "POST") == 0;
    if (strcmp(seg[0], "tokens") == 0)
        return tokens(a, req, resp, seg, n);
    if (post && n == 1 && strcmp(seg[0], "waves") == 0)
        return wave_create(a, req, resp);
    if (post && n == 1 && strcmp(seg[0], "intake") == 0)
        return intake(a, req, resp);
    if (post && n == 4 && strcmp(seg[2], "actions") == 0) {
        enum action_target t = strcmp(seg[0], "waves") == 0     ? ACTION_WAVE
                               : strcmp(seg[0], "servers") == 0 ? ACTION_SERVER
                                                                : (enum action_target)-1;
        const struct action_def *d = (int)t >= 0 ? action_find(t, seg[3]) : NULL;
        if (d && strcmp(d->verb, "create") != 0)
            return do_action(a, req, resp, d, seg[1], NULL);
        return api_error(resp, 404, "action", "no action '%s' on %s", seg[3], seg[0]);
    }
    return api_error(resp, 404, NULL, "no such resource: %s %s", req->method, req->path);
}
