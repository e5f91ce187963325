/* cli_settings — per-server settings without SQL:
 *   wavemill server set NAME key=value...          a server's settings / columns
 *   wavemill server set --wave WAVE key=value...   the defaults of a wave's servers
 *   wavemill server unset NAME|--wave WAVE key...
 * and the "settings" part of `server show`: every key of common/srvset.h
 * with its effective value and where it comes from (server, wave, default).
 *
 * A key is a per-server setting (srvset.h, validated by wm_srvset_check and
 * stored in servers.settings / waves.settings) or, for a server, one of
 * the intake columns below (validated by the intake's own code,
 * inv_check_field).  All keys of one command are checked before anything
 * is written; the change and its audit_log row are one transaction. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"
#include "cli_settings.h"
#include "inventory.h"
#include "json.h"
#include "pg.h"
#include "pgarr.h"
#include "srvset.h"

#define SET_MAX_KEYS 64

/* Intake columns `server set` changes: the column, its SQL cast, what
 * unset puts back (NULL: cannot be unset). */
static const struct {
    const char *key, *cast, *unset;
} set_columns[] = {
    {"source_host", "text", NULL},
    {"source_port", "int", "22"},
    {"source_user", "text", ""},
    {"credential", "text", ""},
    {"target_provider", "text", NULL},
    {"instance_type", "text", ""},
    {"subnet_id", "text", ""},
    {"security_group_ids", "text[]", "{}"},
    {"test_security_group_ids", "text[]", "{}"},
    {"server_fqdn", "text", ""},
};

struct set_req {
    bool wave;        /* --wave: the target is a wave */
    const char *name; /* server or wave */
    struct wm_pgarr set_keys, set_vals, unset_keys;
    struct wm_pgarr col_keys, col_vals; /* columns (servers only) */
    char *owned[SET_MAX_KEYS];
    size_t nowned;
    struct wm_json *detail;
};

static int column_index(const char *key)
{
    for (size_t i = 0; i < sizeof(set_columns) / sizeof(set_columns[0]); i++)
        if (strcmp(set_columns[i].key, key) == 0)
            return (int)i;
    return -1;
}

static int unknown_key(struct cli_ctx *ctx, const char *key, bool wave)
{
    size_t n;
    const struct wm_srvset *all = wm_srvset_all(&n);
    char list[1024] = "";
    for (size_t i = 0; i < n; i++) {
        size_t u = strlen(list);
        snprintf(list + u, sizeof(list) - u, "%s%s", i ? ", " : "", all[i].key);
    }
    if (!wave)
        for (size_t i = 0; i < sizeof(set_columns) / sizeof(set_columns[0]); i++) {
            size_t u = strlen(list);
            snprintf(list + u, sizeof(list) - u, ", %s", set_columns[i].key);
        }
    return cli_usage_error(ctx, "unknown key '%s' (keys: %s)", key, list);
}

/* One key=value (or key, for unset): checked, then added to the request. */
static int add_arg(struct cli_ctx *ctx, struct set_req *q, const char *arg, bool unset)
{
    char key[64], why[512];
    const char *eq = strchr(arg, '=');
    if (unset == (eq != NULL) || (eq ? (size_t)(eq - arg) : strlen(arg)) >= sizeof(key))
        return cli_usage_error(ctx, unset ? "'%s': unset takes key names" : "'%s' is not key=value",
                               arg);
    snprintf(key, sizeof(key), "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
    const char *value = eq ? eq + 1 : NULL;
    const struct wm_srvset *ss = wm_srvset_find(key);
    int col = ss || q->wave ? -1 : column_index(key);
    if (!ss && col < 0)
        return unknown_key(ctx, key, q->wave);
    if (ss && !unset && wm_srvset_check(ss, value, why, sizeof(why)) < 0)
        return cli_usage_error(ctx, "%s", why);
    if (ss) {
        wm_pgarr_text(unset ? &q->unset_keys : &q->set_keys, key);
        if (!unset)
            wm_pgarr_text(&q->set_vals, value);
    } else {
        char *stored = NULL;
        if (unset && !set_columns[col].unset)
            return cli_usage_error(ctx, "%s cannot be unset (every server has one)", key);
        if (!unset && inv_check_field(key, value, &stored, why, sizeof(why)) < 0)
            return cli_usage_error(ctx, "%s: %s", key, why);
        if (q->nowned == SET_MAX_KEYS) {
            free(stored);
            return cli_usage_error(ctx, "more than %d keys", SET_MAX_KEYS);
        }
        if (stored)
            q->owned[q->nowned++] = stored;
        wm_pgarr_text(&q->col_keys, key);
        wm_pgarr_text(&q->col_vals, unset ? set_columns[col].unset : stored);
    }
    wm_json_kstr(q->detail, key, unset ? NULL : value);
    return CLI_OK;
}

/* Settings: jsonb merge and key removal; columns: one UPDATE per column
 * (names from set_columns, never from the command line). */
static int apply_tx(struct wm_pg *db, void *arg, char *err, size_t errlen)
{
    struct set_req *q = arg;
    const char *p[] = {q->name, wm_pgarr_end(&q->set_keys), wm_pgarr_end(&q->set_vals),
                       wm_pgarr_end(&q->unset_keys)};
    char sql[512];
    snprintf(sql, sizeof(sql),
             "UPDATE %s SET settings = (settings || coalesce((SELECT jsonb_object_agg(k, v) "
             "FROM unnest($2::text[], $3::text[]) AS u(k, v)), '{}')) - $4::text[]%s "
             "WHERE name = $1",
             q->wave ? "waves" : "servers", q->wave ? "" : ", updated_at = now()");
    PGresult *r = wm_pg_query(db, sql, 4, p, err, errlen);
    if (!r)
        return -EIO;
    int n = atoi(PQcmdTuples(r));
    PQclear(r);
    if (n != 1) {
        snprintf(err, errlen, "no %s named '%s'", q->wave ? "wave" : "server", q->name);
        return -ENOENT;
    }
    /* columns: the literal arrays hold key i / value i */
    const char *ck = wm_pgarr_end(&q->col_keys), *cv = wm_pgarr_end(&q->col_vals);
    for (size_t i = 0; i < sizeof(set_columns) / sizeof(set_columns[0]); i++) {
        const char *c = set_columns[i].key, *dbcol = strcmp(c, "server_fqdn") ? c : "fqdn";
        snprintf(sql, sizeof(sql),
                 "UPDATE servers SET %s = (SELECT v FROM unnest($2::text[], $3::text[]) "
                 "AS u(k, v) WHERE k = $4)::%s WHERE name = $1 AND $4 = ANY($2::text[])",
                 dbcol, set_columns[i].cast);
        const char *cp[] = {q->name, ck, cv, c};
        if (!(r = wm_pg_query(db, sql, 4, cp, err, errlen)))
            return -EIO;
        PQclear(r);
    }
    return 0;
}

static void req_free(struct set_req *q)
{
    struct wm_pgarr *arrs[] = {&q->set_keys, &q->set_vals, &q->unset_keys, &q->col_keys,
                               &q->col_vals};
    for (size_t i = 0; i < sizeof(arrs) / sizeof(arrs[0]); i++)
        wm_pgarr_free(arrs[i]);
    for (size_t i = 0; i < q->nowned; i++)
        free(q->owned[i]);
    wm_json_free(q->detail);
}

static int parse_target(struct cli_ctx *ctx, int argc, char **argv, struct set_req *q, int *first)
{
    int i = 2;
    if (i < argc && strncmp(argv[i], "--wave", 6) == 0) {
        q->wave = true;
        if (argv[i][6] == '=')
            q->name = argv[i] + 7;
        else if (argv[i][6] == '\0' && i + 1 < argc)
            q->name = argv[++i];
        i++;
    } else if (i < argc && argv[i][0] != '-') {
        q->name = argv[i++];
    }
    if (!q->name || !*q->name || strlen(q->name) > 255)
        return cli_usage_error(ctx, "which server? (wavemill %s NAME|--wave WAVE key%s...)",
                               ctx->command, strstr(ctx->command, "unset") ? "" : "=value");
    if (i >= argc)
        return cli_usage_error(ctx, "nothing to %s",
                               strstr(ctx->command, "unset") ? "unset" : "set");
    *first = i;
    return CLI_OK;
}

static int print_json(struct cli_ctx *ctx, const struct set_req *q, bool unset)
{
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kbool(j, "ok", true);
    wm_json_kstr(j, q->wave ? "wave" : "server", q->name);
    wm_json_kraw(j, unset ? "unset" : "set", wm_json_text(q->detail));
    wm_json_obj_end(j);
    int rc = cli_print_json(ctx, j);
    wm_json_free(j);
    return rc;
}

int cli_settings_set(struct cli_ctx *ctx, int argc, char **argv, bool unset)
{
    ctx->command = unset ? "server unset" : "server set";
    struct set_req q = {.detail = wm_json_new()};
    int first = argc, rc = parse_target(ctx, argc, argv, &q, &first);
    wm_json_obj_begin(q.detail);
    for (int i = first; rc == CLI_OK && i < argc; i++)
        rc = add_arg(ctx, &q, argv[i], unset);
    wm_json_obj_end(q.detail);
    struct wm_pg *db = rc == CLI_OK ? cli_pg(ctx) : NULL;
    if (rc == CLI_OK && !db)
        rc = CLI_ERR;
    if (rc == CLI_OK) {
        char err[1024] = "";
        int trc = wm_pg_tx(db, apply_tx, &q, err, sizeof(err));
        if (trc == 0)
            trc = cli_audit(ctx, unset ? "server.unset" : "server.set", q.wave ? q.name : NULL,
                            q.wave ? NULL : q.name, wm_json_text(q.detail));
        if (trc < 0)
            rc = *err ? cli_error(ctx, "%s", err) : CLI_ERR;
        else if (ctx->json)
            rc = print_json(ctx, &q, unset);
        else
            printf("%s '%s': %d key%s %s\n", q.wave ? "wave" : "server", q.name, argc - first,
                   argc - first == 1 ? "" : "s", unset ? "unset" : "set");
    }
    req_free(&q);
    return rc;
}

/* --- the effective settings, for server show --- */

static const char EFFECTIVE_SQL[] =
    "SELECT u.k, s.settings->>u.k AS srv, w.settings->>u.k AS wave "
    "FROM servers s JOIN waves w ON w.id = s.wave_id, "
    "unnest($2::text[]) WITH ORDINALITY AS u(k, i) WHERE s.name = $1 ORDER BY u.i";

PGresult *cli_settings_query(struct cli_ctx *ctx, const char *server)
{
    size_t n;
    const struct wm_srvset *all = wm_srvset_all(&n);
    struct wm_pgarr keys = {0};
    for (size_t i = 0; i < n; i++)
        wm_pgarr_text(&keys, all[i].key);
    const char *p[] = {server, wm_pgarr_end(&keys)};
    PGresult *r = p[1] ? cli_query(ctx, EFFECTIVE_SQL, 2, p) : NULL;
    wm_pgarr_free(&keys);
    return r;
}

/* Value and origin of row i: server, wave, or the default. */
static const char *effective(const PGresult *r, int i, const char **from, char *def, size_t deflen)
{
    if (!PQgetisnull(r, i, 1)) {
        *from = "server";
        return PQgetvalue(r, i, 1);
    }
    if (!PQgetisnull(r, i, 2)) {
        *from = "wave";
        return PQgetvalue(r, i, 2);
    }
    const struct wm_srvset *s = wm_srvset_find(PQgetvalue(r, i, 0));
    *from = "default";
    if (s && s->def_from)
        snprintf(def, deflen, "%s%s(worker config %s)", s->def, *s->def ? " " : "", s->def_from);
    else
        snprintf(def, deflen, "%s", s && *s->def ? s->def : "-");
    return def;
}

void cli_settings_json(struct wm_json *j, const PGresult *r)
{
    wm_json_obj_begin(j);
    for (int i = 0; r && i < PQntuples(r); i++) {
        const char *from;
        char def[256];
        const char *v = effective(r, i, &from, def, sizeof(def));
        wm_json_key(j, PQgetvalue(r, i, 0));
        wm_json_obj_begin(j);
        wm_json_kstr(j, "value", strcmp(from, "default") == 0 ? NULL : v);
        wm_json_kstr(j, "from", from);
        wm_json_kstr(j, "default", strcmp(from, "default") == 0 ? v : NULL);
        wm_json_obj_end(j);
    }
    wm_json_obj_end(j);
}

void cli_settings_print(const PGresult *r)
{
    printf("  settings (value  [from server, wave or default]):\n");
    for (int i = 0; r && i < PQntuples(r); i++) {
        const char *from;
        char def[256], line[512];
        const char *v = effective(r, i, &from, def, sizeof(def));
        printf("    %-16s %s  [%s]\n", PQgetvalue(r, i, 0), cli_line(v, line, sizeof(line)), from);
    }
}
