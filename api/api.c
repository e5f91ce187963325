/* api — context, database pool, authentication, replies (see api.h). */
#include "api.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "json.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "pg.h"

static const struct wm_config_key api_keys[] = {
    {"api.listen", WM_CFG_STRING, "127.0.0.1:8480", 0, 0, false,
     "HOST:PORT of the API and dashboard; plain HTTP only on loopback"},
    {"api.cert_file", WM_CFG_STRING, NULL, 0, 0, false,
     "PEM certificate for HTTPS (e.g. a factory PKI identity's cert.pem)"},
    {"api.key_file", WM_CFG_STRING, NULL, 0, 0, false, "PEM private key for HTTPS"},
    {"api.www_dir", WM_CFG_STRING, NULL, 0, 0, false,
     "dashboard files (default: api/www beside the binary's ../)"},
    {"api.db_conns", WM_CFG_INT, "4", 1, API_MAX_DB, false, "PostgreSQL connections"},
    {"api.sse_keepalive", WM_CFG_DURATION, "15s", 100, 600000, false,
     "comment line sent on an idle event stream"},
};

int api_declare(struct wm_config *cfg, char *err, size_t errlen)
{
    return wm_config_declare(cfg, api_keys, sizeof(api_keys) / sizeof(api_keys[0]), err, errlen);
}

/* --- pool --- */

struct wm_pg *api_db_get(struct api *a)
{
    pthread_mutex_lock(&a->mu);
    for (;;) {
        for (int i = 0; i < a->ndb; i++)
            if (!a->busy[i]) {
                a->busy[i] = true;
                pthread_mutex_unlock(&a->mu);
                return a->db[i];
            }
        pthread_cond_wait(&a->cv, &a->mu);
    }
}

void api_db_put(struct api *a, struct wm_pg *db)
{
    pthread_mutex_lock(&a->mu);
    for (int i = 0; i < a->ndb; i++)
        if (a->db[i] == db)
            a->busy[i] = false;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* --- replies --- */

int api_json(struct wm_httpd_resp *resp, int status, struct wm_json *j)
{
    if (wm_json_error(j))
        return -ENOMEM;
    char *body = strdup(wm_json_text(j));
    if (!body)
        return -ENOMEM;
    wm_httpd_reply_owned(resp, status, "application/json", body, strlen(body));
    wm_httpd_add_header(resp, "Cache-Control", "no-store");
    return 0;
}

int api_error(struct wm_httpd_resp *resp, int status, const char *field, const char *fmt, ...)
{
    char msg[1024], safe[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    wm_redact(msg, safe, sizeof(safe));
    struct wm_json *j = wm_json_new();
    wm_json_obj_begin(j);
    wm_json_kstr(j, "error", safe);
    if (field && *field)
        wm_json_kstr(j, "field", field);
    wm_json_obj_end(j);
    int rc = api_json(resp, status, j);
    wm_json_free(j);
    return rc;
}

int api_errno_status(int rc)
{
    switch (rc) {
    case 0:
    case -EALREADY:
        return 200;
    case -ENOENT:
        return 404;
    case -EINVAL:
        return 400;
    case -EPERM:
    case -EEXIST:
        return 409;
    default:
        return 500;
    }
}

int api_segments(const char *path, char seg[][160], int max)
{
    const char *p = path + strlen("/api/v1/");
    int n = 0;
    while (*p && n < max) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len >= 160)
            return -1;
        memcpy(seg[n], p, len);
        seg[n][len] = '\0';
        n++;
        if (!e)
            break;
        p = e + 1;
    }
    return *p && n == max ? -1 : n;
}

/* --- authentication --- */

int api_auth(struct api *a, const struct wm_httpd_req *req, struct wm_httpd_resp *resp,
             enum wm_role need, bool allow_query, struct api_caller *who)
{
    const char *t = wm_httpd_header(req, "Authorization");
    if (!t && allow_query)
        t = wm_httpd_query(req, "token");
    if (!t) {
        wm_httpd_add_header(resp, "WWW-Authenticate", "Bearer realm=\"wavemill\"");
        api_error(resp, 401, NULL, "missing token (Authorization: Bearer <token>)");
        return -EACCES;
    }
    char err[256];
    struct wm_pg *db = api_db_get(a);
    int rc = wm_apitoken_check(db, t, &who->tok, err, sizeof(err));
    api_db_put(a, db);
    if (rc == -EACCES) {
        wm_httpd_add_header(resp, "WWW-Authenticate", "Bearer realm=\"wavemill\"");
        api_error(resp, 401, NULL, "%s", err);
        return rc;
    }
    if (rc < 0) {
        api_error(resp, 503, NULL, "database: %s", err);
        return rc;
    }
    if (!wm_apitoken_allows(who->tok.role, need)) {
        api_error(resp, 403, NULL, "token '%s' has role %s; this needs %s", who->tok.name,
                  wm_role_name(who->tok.role), wm_role_name(need));
        return -EPERM;
    }
    return 0;
}

/* --- dispatch --- */

static int api_dispatch(const struct wm_httpd_req *req, struct wm_httpd_resp *resp, void *arg)
{
    struct api *a = arg;
    char seg[8][160];
    int n = api_segments(req->path, seg, 8);
    if (n <= 0)
        return api_error(resp, 404, NULL, "no such resource: %s", req->path);
    bool get = strcmp(req->method, "GET") == 0;
    if (get && strcmp(seg[0], "stream") == 0 && n == 1) {
        struct api_caller who;
        if (api_auth(a, req, resp, WM_ROLE_VIEWER, true, &who) < 0)
            return 0;
        return api_sse(a, req, resp, &who);
    }
    if (get) {
        struct api_caller who;
        if (api_auth(a, req, resp, WM_ROLE_VIEWER, false, &who) < 0)
            return 0;
        return api_read_route(a, req, resp, seg, n, &who);
    }
    if (strcmp(req->method, "POST") == 0 || strcmp(req->method, "DELETE") == 0)
        return api_act_route(a, req, resp, seg, n);
    return api_error(resp, 405, NULL, "method %s not allowed", req->method);
}

/* --- readiness --- */

static int ready_pg(void *arg, char *err, size_t errlen)
{
    struct api *a = arg;
    struct wm_pg *db = api_db_get(a);
    int rc = wm_pg_exec(db, "SELECT 1", 0, NULL, NULL, err, errlen);
    api_db_put(a, db);
    return rc < 0 ? -EIO : 0;
}

static int ready_kafka(void *arg, char *err, size_t errlen)
{
    struct api *a = arg;
    char e[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", wm_config_str(a->cfg, "kafka.brokers"), e,
                      sizeof(e));
    rd_kafka_conf_set(conf, "log_level", "0", e, sizeof(e));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    if (!rk) {
        snprintf(err, errlen, "%s", e);
        return -EIO;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t ke = rd_kafka_metadata(rk, 0, NULL, &md, 3000);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    if (ke) {
        snprintf(err, errlen, "%s", rd_kafka_err2str(ke));
        return -EIO;
    }
    return 0;
}

/* --- metrics from PostgreSQL, at scrape time --- */

/* Sets gauge name{labels} from the rows of sql: label columns first, the
 * value last.  The family is cleared first so vanished series go. */
static void gauge_from_sql(struct wm_metrics *m, struct wm_pg *db, const char *name,
                           const char *help, const char *labels, int nlabels, const char *sql)
{
    char err[256];
    PGresult *r = wm_pg_query(db, sql, 0, NULL, err, sizeof(err));
    if (!r)
        return;
    struct wm_metric *g = wm_metrics_gauge(m, name, help, labels);
    wm_metric_clear(g);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *v[4] = {0};
        for (int c = 0; c < nlabels && c < 4; c++)
            v[c] = PQgetvalue(r, i, c);
        wm_metric_set(g, strtod(PQgetvalue(r, i, nlabels), NULL), v);
    }
    PQclear(r);
}

static void collect_pg(struct wm_metrics *m, void *arg)
{
    struct api *a = arg;
    struct wm_pg *db = api_db_get(a);
    gauge_from_sql(m, db, "wm_tasks", "Tasks by kind and state", "kind,state", 2,
                   "SELECT kind, state, count(*) FROM tasks GROUP BY 1, 2");
    gauge_from_sql(m, db, "wm_task_queue_depth",
                   "Tasks waiting in PostgreSQL (PENDING: not issued yet, QUEUED: published)",
                   "state", 1,
                   "SELECT s, count(t.id) FROM unnest(ARRAY['PENDING','QUEUED','RUNNING']) s"
                   " LEFT JOIN tasks t ON t.state = s GROUP BY s");
    gauge_from_sql(m, db, "wm_wave_servers", "Servers by wave and lifecycle", "wave,lifecycle", 2,
                   "SELECT w.name, s.lifecycle, count(*) FROM servers s JOIN waves w"
                   " ON w.id = s.wave_id GROUP BY 1, 2");
    gauge_from_sql(m, db, "wm_disk_replicated_bytes", "Bytes of a disk replicated", "server,disk",
                   2, "SELECT s.name, d.source_path, d.replicated_bytes FROM disks d JOIN servers"
                      " s ON s.id = d.server_id");
    gauge_from_sql(m, db, "wm_disk_backlog_bytes", "Bytes of a disk changed and not yet sent",
                   "server,disk", 2,
                   "SELECT s.name, d.source_path, d.backlog_bytes FROM disks d JOIN servers s"
                   " ON s.id = d.server_id");
    gauge_from_sql(m, db, "wm_disk_rate_bytes_per_second", "Replication rate of a disk (last sync)",
                   "server,disk", 2,
                   "SELECT s.name, d.source_path, d.rate_bytes_per_s FROM disks d JOIN servers s"
                   " ON s.id = d.server_id");
    gauge_from_sql(m, db, "wm_task_bytes_done", "Bytes moved by running tasks", "server,kind", 2,
                   "SELECT s.name, t.kind, t.bytes_done FROM tasks t JOIN servers s ON s.id ="
                   " t.server_id WHERE t.state = 'RUNNING'");
    api_db_put(a, db);
}

/* --- life --- */

static void default_www(struct api *a)
{
    const char *dir = wm_config_str(a->cfg, "api.www_dir");
    if (dir && *dir) {
        snprintf(a->www_dir, sizeof(a->www_dir), "%s", dir);
        return;
    }
    char exe[PATH_MAX - 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    /* bin/wavemill-api -> api/www; bin/asan/wavemill-api -> ../../api/www */
    snprintf(a->www_dir, sizeof(a->www_dir), "%s/../api/www", exe);
    if (access(a->www_dir, R_OK) != 0)
        snprintf(a->www_dir, sizeof(a->www_dir), "%s/../../api/www", exe);
}

static int open_pool(struct api *a, char *err, size_t errlen)
{
    a->ndb = (int)wm_config_int(a->cfg, "api.db_conns");
    for (int i = 0; i < a->ndb; i++)
        if (!(a->db[i] = wm_pg_new(a->cfg, err, errlen)))
            return -EIO;
    return 0;
}

struct api *api_new(const struct wm_config *cfg, struct wm_metrics *m, char *err, size_t errlen)
{
    struct api *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->cfg = cfg;
    a->metrics = m;
    a->sse_keepalive_ms = (int)wm_config_int(cfg, "api.sse_keepalive");
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    default_www(a);
    struct wm_httpd_opts o = {.listen = wm_config_str(cfg, "api.listen"),
                              .cert_file = wm_config_str(cfg, "api.cert_file"),
                              .key_file = wm_config_str(cfg, "api.key_file"),
                              .plain_loopback_only = true,
                              .max_body = 8u << 20,
                              .metrics = m};
    wm_kafka_topic(cfg, WM_TOPIC_STATUS, a->status_topic, sizeof(a->status_topic));
    if (open_pool(a, err, errlen) < 0 || !(a->httpd = wm_httpd_new(&o, err, errlen)) ||
        !(a->status = wm_kafka_producer_new(cfg, err, errlen))) {
        api_free(a);
        return NULL;
    }
    wm_httpd_route(a->httpd, NULL, "/api/v1/", api_dispatch, a);
    wm_httpd_ops(a->httpd, m);
    wm_metrics_on_scrape(m, collect_pg, a);
    wm_httpd_ready_check(a->httpd, "postgresql", ready_pg, a);
    wm_httpd_ready_check(a->httpd, "kafka", ready_kafka, a);
    wm_httpd_route(a->httpd, "GET", "/", api_www, a);
    wm_httpd_route(a->httpd, "GET", "/ui/", api_www, a);
    return a;
}

int api_start(struct api *a, char *err, size_t errlen)
{
    return wm_httpd_start(a->httpd, err, errlen);
}

void api_free(struct api *a)
{
    if (!a)
        return;
    a->stopping = 1;
    wm_httpd_free(a->httpd);
    for (int i = 0; i < a->ndb; i++)
        wm_pg_free(a->db[i]);
    if (a->status) {
        wm_kafka_flush(a->status, 2000);
        wm_kafka_producer_free(a->status);
    }
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    free(a);
}
