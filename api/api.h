/* api — wavemill-api: the REST API under /api/v1/, the live event stream
 * and the dashboard, over common/httpd.
 *
 * Files:
 *   api.c        context, database pool, authentication, JSON replies
 *   api_read.c   GET endpoints: waves, applications, servers, disks, tasks,
 *                events, audit, actions (filters, keyset pagination)
 *   api_act.c    POST endpoints: operator actions (scheduler/action.h, the
 *                code the CLI runs), intake upload, tokens
 *   api_sse.c    GET /api/v1/stream: wm.status as server-sent events
 *   api_www.c    the dashboard's static files (api/www/)
 *
 * Every /api/v1/ request carries "Authorization: Bearer <token>" (the
 * stream also accepts ?token=, as browsers' EventSource cannot set
 * headers).  401 without a valid token, 403 when its role is not enough
 * (also written to audit_log as refused for actions).  Errors are JSON:
 * {"error": "...", "field": "..."}.  Nothing returned carries a secret:
 * credential values, token hashes and server settings are never selected. */
#ifndef API_H
#define API_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apitoken.h"
#include "httpd.h"

struct wm_config;
struct wm_json;
struct wm_kafka_producer;
struct wm_metrics;
struct wm_pg;

#define API_MAX_DB 8

struct api {
    const struct wm_config *cfg;
    struct wm_metrics *metrics;
    struct wm_httpd *httpd;
    char www_dir[PATH_MAX + 32];
    int sse_keepalive_ms;
    /* a small pool: libpq connections are not thread-safe, handlers run
     * one thread per client */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct wm_pg *db[API_MAX_DB];
    bool busy[API_MAX_DB];
    int ndb;
    volatile int stopping;
    struct wm_kafka_producer *status; /* wave/server events of actions */
    char status_topic[256];
};

/* Authenticated caller of one request. */
struct api_caller {
    struct wm_apitoken tok;
};

/* --- api.c --- */
int api_declare(struct wm_config *cfg, char *err, size_t errlen);
struct api *api_new(const struct wm_config *cfg, struct wm_metrics *m, char *err, size_t errlen);
int api_start(struct api *a, char *err, size_t errlen);
void api_free(struct api *a);

struct wm_pg *api_db_get(struct api *a);
void api_db_put(struct api *a, struct wm_pg *db);

/* Checks the token of req (header, or ?token= when allow_query) and its
 * role.  0 with *who filled; otherwise the 401/403 reply is already in
 * resp and the return is -EACCES/-EPERM. */
int api_auth(struct api *a, const struct wm_httpd_req *req, struct wm_httpd_resp *resp,
             enum wm_role need, bool allow_query, struct api_caller *who);

/* {"error": msg, "field": field} with status. Returns 0. */
int api_error(struct wm_httpd_resp *resp, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sends j (finished) as the body with status; frees nothing. Returns 0. */
int api_json(struct wm_httpd_resp *resp, int status, struct wm_json *j);
/* The status for an action/orch errno (-ENOENT 404, -EINVAL 400, -EPERM
 * and -EEXIST 409, -EALREADY 200, else 500). */
int api_errno_status(int rc);

/* Splits "/api/v1/waves/w1/actions/start" after the prefix into at most
 * max segments (percent-decoding is libmicrohttpd's); returns the count. */
int api_segments(const char *path, char seg[][160], int max);

/* --- the endpoints --- */
int api_read_route(struct api *a, const struct wm_httpd_req *req, struct wm_httpd_resp *resp,
                   char seg[][160], int nseg, const struct api_caller *who);
int api_act_route(struct api *a, const struct wm_httpd_req *req, struct wm_httpd_resp *resp,
                  char seg[][160], int nseg);
int api_sse(struct api *a, const struct wm_httpd_req *req, struct wm_httpd_resp *resp,
            const struct api_caller *who);
int api_www(const struct wm_httpd_req *req, struct wm_httpd_resp *resp, void *arg);

#endif
