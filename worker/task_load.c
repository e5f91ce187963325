/* task_load — the task context, loaded once per task on the task's one
 * connection (see task.h).
 *
 * A task message is a notification ("task N attempt A is ready"): the claim
 * (worker_loop.c) only takes a row whose kind, server and wave are the ones
 * the message names, and everything the handler then does comes from the
 * rows read here — which drivers run, the inventory facts a provider works
 * from, the server's settings, its disks and its credential. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "config.h"
#include "log.h"
#include "msg.h"
#include "pg.h"
#include "secrets.h"
#include "task.h"

static const char SQL_TASK[] =
    "SELECT t.kind, t.server_id, t.wave_id, s.name, w.name, t.params::text"
    " FROM tasks t JOIN servers s ON s.id = t.server_id JOIN waves w ON w.id = t.wave_id"
    " WHERE t.id = $1 AND t.attempt = $2";

/* columns in enum task_server_field order */
static const char SQL_SERVER[] =
    "SELECT name, fqdn, os_family, source_host, source_port::text, source_user, credential,"
    " target_provider, instance_type, subnet_id, array_to_string(security_group_ids, ','),"
    " array_to_string(test_security_group_ids, ','), tags::text FROM servers WHERE id = $1";

static const char SQL_SETTINGS[] =
    "SELECT e.key, e.value FROM servers s JOIN waves w ON w.id = s.wave_id,"
    " jsonb_each_text(w.settings || s.settings) e WHERE s.id = $1";

static const char SQL_DISKS[] =
    "SELECT id, source_path, target_volume, size_bytes, receiver FROM disks WHERE server_id = $1"
    " ORDER BY id";

struct wm_pg *task_db(struct task_ctx *t)
{
    char err[256];
    if (t->db)
        return t->db;
    if (!t->conninfo) {
        task_fail(t, "database: no connection settings");
        return NULL;
    }
    t->db = wm_pg_new_conninfo(t->conninfo, err, sizeof(err));
    if (!t->db)
        task_fail(t, "database: %s", err);
    return t->db;
}

static PGresult *load_rows(struct task_ctx *t, const char *what, const char *sql, const char *sid)
{
    char err[256];
    const char *p[] = {sid};
    PGresult *r = wm_pg_query(t->db, sql, 1, p, err, sizeof(err));
    if (!r)
        task_fail(t, "reading the %s of server %s: %s", what, sid, err);
    return r;
}

void task_server_free(struct task_server *s)
{
    if (!s)
        return;
    PQclear(s->row);
    PQclear(s->settings);
    PQclear(s->disks);
    wm_secret_free(s->key);
    free(s);
}

int task_server_load(struct task_ctx *t)
{
    char sid[24];
    if (t->server)
        return 0;
    if (!task_db(t))
        return -EIO;
    struct task_server *s = calloc(1, sizeof(*s));
    if (!s)
        return task_fail(t, "out of memory");
    snprintf(sid, sizeof(sid), "%lld", (long long)t->msg.server_id);
    int rc = (s->row = load_rows(t, "inventory row", SQL_SERVER, sid)) ? 0 : -EIO;
    if (rc == 0 && PQntuples(s->row) != 1)
        rc = task_fail(t, "server %s is not in the inventory", sid);
    if (rc == 0 && !(s->settings = load_rows(t, "settings", SQL_SETTINGS, sid)))
        rc = -EIO;
    if (rc == 0 && !(s->disks = load_rows(t, "disks", SQL_DISKS, sid)))
        rc = -EIO;
    if (rc < 0) {
        task_server_free(s);
        return rc;
    }
    t->server = s;
    return 0;
}

const char *task_server_str(struct task_ctx *t, enum task_server_field f)
{
    if (task_server_load(t) < 0 || f < 0 || f >= TS_NFIELDS)
        return "";
    return PQgetvalue(t->server->row, 0, (int)f);
}

const char *task_setting(struct task_ctx *t, const char *key)
{
    if (!key || task_server_load(t) < 0)
        return NULL;
    PGresult *r = t->server->settings;
    for (int i = 0; i < PQntuples(r); i++)
        if (strcmp(PQgetvalue(r, i, 0), key) == 0 && !PQgetisnull(r, i, 1))
            return *PQgetvalue(r, i, 1) ? PQgetvalue(r, i, 1) : NULL;
    return NULL;
}

int task_disks(struct task_ctx *t, int *n)
{
    *n = 0;
    int rc = task_server_load(t);
    if (rc == 0)
        *n = PQntuples(t->server->disks);
    return rc;
}

const char *task_disk_str(const struct task_ctx *t, int i, int col)
{
    if (!t->server || i < 0 || i >= PQntuples(t->server->disks) || col < 0 || col > 4)
        return "";
    return PQgetvalue(t->server->disks, i, col);
}

int64_t task_disk_size(const struct task_ctx *t, int i)
{
    return strtoll(task_disk_str(t, i, 3), NULL, 10);
}

int task_secret_get(struct task_ctx *t, const char *name, struct wm_secret **out)
{
    char err[256];
    *out = NULL;
    if (!task_db(t))
        return -EIO;
    const char *mk = wm_config_str(t->cfg, "secrets.master_key");
    struct wm_secrets *st = wm_secrets_open(t->db, mk && *mk ? mk : NULL, err, sizeof(err));
    int rc = st ? wm_secrets_get(st, name, out, err, sizeof(err)) : -EIO;
    wm_secrets_close(st);
    return rc < 0 ? task_fail(t, "credential %s: %s", name, err) : 0;
}

int task_credential(struct task_ctx *t, const char **key, size_t *len)
{
    *key = NULL;
    *len = 0;
    const char *name = task_server_str(t, TS_CREDENTIAL);
    if (!t->server)
        return -EIO;
    if (!*name)
        return 0;
    if (!t->server->key && task_secret_get(t, name, &t->server->key) < 0)
        return -EIO;
    *key = wm_secret_reveal(t->server->key, len);
    return 0;
}

/* --- the parameters, from the rows --- */

#define TASK_PARAMS_MAX 16

struct params {
    struct wm_kv kv[TASK_PARAMS_MAX];
    size_t n;
};

static void params_add(struct params *p, const char *key, const char *value)
{
    if (value && p->n < TASK_PARAMS_MAX)
        p->kv[p->n++] = (struct wm_kv){(char *)key, (char *)value};
}

/* Driver choice travels with the server: a sim server is sim all the way;
 * otherwise servers.settings may name the transport / replication drivers
 * (ssh and wavemill by default). */
static void params_drivers(struct task_ctx *t, struct params *p)
{
    const char *prov = task_server_str(t, TS_PROVIDER);
    bool sim = strcmp(prov, "sim") == 0;
    const char *tr = task_setting(t, "transport"), *rep = task_setting(t, "replication");
    params_add(p, "provider", prov);
    params_add(p, "transport", tr ? tr : sim ? "sim" : "ssh");
    params_add(p, "replication", rep ? rep : sim ? "sim" : "wavemill");
}

/* The inventory facts a provider step works from (the exec provider's
 * documented params), non-empty ones only; a sim server needs none. */
static void params_inventory(struct task_ctx *t, struct params *p)
{
    static const struct {
        const char *key;
        enum task_server_field f;
    } cols[] = {{"fqdn", TS_FQDN},
                {"instance_type", TS_INSTANCE_TYPE},
                {"subnet_id", TS_SUBNET_ID},
                {"security_group_ids", TS_SECURITY_GROUP_IDS},
                {"test_security_group_ids", TS_TEST_SECURITY_GROUP_IDS},
                {"tags", TS_TAGS}};
    if (strcmp(task_server_str(t, TS_PROVIDER), "sim") == 0)
        return;
    for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
        const char *v = task_server_str(t, cols[i].f);
        if (*v && strcmp(v, "{}") != 0)
            params_add(p, cols[i].key, v);
    }
    params_add(p, "exec_script", task_setting(t, "exec_script"));
    params_add(p, "exec_timeout_s", task_setting(t, "exec_timeout_s"));
}

/* Replaces the message's strings and parameters by copies of the rows'. */
static int msg_from_rows(struct wm_task_msg *m, const PGresult *r, const struct params *p)
{
    struct wm_kv *kv = calloc(p->n ? p->n : 1, sizeof(*kv));
    char *kind = strdup(PQgetvalue(r, 0, 0)), *server = strdup(PQgetvalue(r, 0, 3));
    char *wave = strdup(PQgetvalue(r, 0, 4));
    bool ok = kv && kind && server && wave;
    for (size_t i = 0; ok && i < p->n; i++) {
        kv[i].key = strdup(p->kv[i].key);
        kv[i].value = strdup(p->kv[i].value);
        ok = kv[i].key && kv[i].value;
    }
    if (!ok) {
        for (size_t i = 0; kv && i < p->n; i++) {
            free(kv[i].key);
            free(kv[i].value);
        }
        free(kv);
        free(kind);
        free(server);
        free(wave);
        return -ENOMEM;
    }
    int64_t id = m->task_id, wave_id = m->wave_id, server_id = m->server_id, dl = m->deadline_ms,
            pub = m->published_ms;
    int32_t att = m->attempt;
    wm_task_msg_clear(m);
    *m = (struct wm_task_msg){.task_id = id,
                              .attempt = att,
                              .wave_id = wave_id,
                              .wave = wave,
                              .server_id = server_id,
                              .server = server,
                              .kind = kind,
                              .params = kv,
                              .nparams = p->n,
                              .deadline_ms = dl,
                              .published_ms = pub};
    return 0;
}

/* The claimed row must be the one the message named (the claim already
 * required it; this guards a row changed under us). */
static int row_matches(struct task_ctx *t, const PGresult *r)
{
    const struct wm_task_msg *m = &t->msg;
    if (strcmp(PQgetvalue(r, 0, 0), m->kind ? m->kind : "") != 0 ||
        strtoll(PQgetvalue(r, 0, 1), NULL, 10) != m->server_id ||
        strtoll(PQgetvalue(r, 0, 2), NULL, 10) != m->wave_id)
        return task_fail(t,
                         "task %lld: the row (kind %s, server %s, wave %s) is not the one the"
                         " message named (kind %s, server %lld, wave %lld)",
                         (long long)m->task_id, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
                         PQgetvalue(r, 0, 2), m->kind ? m->kind : "", (long long)m->server_id,
                         (long long)m->wave_id);
    return 0;
}

int task_load(struct task_ctx *t)
{
    char id[24], att[16], err[256];
    if (!task_db(t))
        return -EIO;
    snprintf(id, sizeof(id), "%lld", (long long)t->msg.task_id);
    snprintf(att, sizeof(att), "%d", (int)t->msg.attempt);
    const char *p[] = {id, att};
    PGresult *r = wm_pg_query(t->db, SQL_TASK, 2, p, err, sizeof(err));
    if (!r)
        return task_fail(t, "reading task %s: %s", id, err);
    int rc =
        PQntuples(r) == 1 ? 0 : task_fail(t, "task %s attempt %s is not in the database", id, att);
    rc = rc < 0 ? rc : row_matches(t, r);
    rc = rc < 0 ? rc : task_server_load(t);
    if (rc == 0) {
        struct params ps = {.n = 0};
        params_drivers(t, &ps);
        params_inventory(t, &ps);
        const char *tp = PQgetvalue(r, 0, 5);
        if (strcmp(tp, "{}") != 0)
            params_add(&ps, "params_json", tp);
        if (msg_from_rows(&t->msg, r, &ps) < 0)
            rc = task_fail(t, "out of memory");
    }
    PQclear(r);
    return rc;
}
