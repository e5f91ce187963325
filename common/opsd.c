/* opsd — /metrics, /healthz, /readyz for a daemon (see opsd.h). */
#include "opsd.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "pg.h"

#define OPSD_MAX_GAUGES 16

struct sql_gauge {
    const char *name, *help, *labels, *sql;
    int nlabels;
};

struct wm_opsd {
    const struct wm_config *cfg;
    struct wm_metrics *m;
    struct wm_httpd *h;
    pthread_mutex_t mu; /* the connection and the gauge list */
    struct wm_pg *db;
    struct sql_gauge g[OPSD_MAX_GAUGES];
    int ng;
};

static const struct wm_config_key opsd_keys[] = {
    {"metrics.listen", WM_CFG_STRING, "", 0, 0, false,
     "HOST:PORT for /metrics, /healthz, /readyz (empty: none)"},
};

int wm_opsd_declare(struct wm_config *cfg, char *err, size_t errlen)
{
    return wm_config_declare(cfg, opsd_keys, 1, err, errlen);
}

/* The endpoint's connection, opened on first use; called with mu held. */
static struct wm_pg *opsd_db(struct wm_opsd *o, char *err, size_t errlen)
{
    if (!o->db && (o->db = wm_pg_new(o->cfg, err, errlen)))
        wm_pg_set_limits(o->db, 3000, -1, -1);
    return o->db;
}

static int ready_pg(void *arg, char *err, size_t errlen)
{
    struct wm_opsd *o = arg;
    pthread_mutex_lock(&o->mu);
    struct wm_pg *db = opsd_db(o, err, errlen);
    int rc = db ? wm_pg_exec(db, "SELECT 1", 0, NULL, NULL, err, errlen) : -EIO;
    pthread_mutex_unlock(&o->mu);
    return rc < 0 ? -EIO : 0;
}

static int ready_kafka(void *arg, char *err, size_t errlen)
{
    struct wm_opsd *o = arg;
    char e[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", wm_config_str(o->cfg, "kafka.brokers"), e,
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

static void gauge_read(struct wm_opsd *o, struct wm_pg *db, const struct sql_gauge *g)
{
    char err[256];
    PGresult *r = wm_pg_query(db, g->sql, 0, NULL, err, sizeof(err));
    if (!r)
        return;
    struct wm_metric *f = wm_metrics_gauge(o->m, g->name, g->help, g->labels);
    wm_metric_clear(f);
    for (int i = 0; i < PQntuples(r); i++) {
        const char *v[8] = {0};
        for (int c = 0; c < g->nlabels && c < 8; c++)
            v[c] = PQgetvalue(r, i, c);
        wm_metric_set(f, strtod(PQgetvalue(r, i, g->nlabels), NULL), v);
    }
    PQclear(r);
}

static void collect(struct wm_metrics *m, void *arg)
{
    (void)m;
    struct wm_opsd *o = arg;
    char err[256];
    pthread_mutex_lock(&o->mu);
    struct wm_pg *db = o->ng ? opsd_db(o, err, sizeof(err)) : NULL;
    for (int i = 0; db && i < o->ng; i++)
        gauge_read(o, db, &o->g[i]);
    pthread_mutex_unlock(&o->mu);
}

int wm_opsd_sql_gauge(struct wm_opsd *o, const char *name, const char *help, const char *labels,
                      const char *sql)
{
    if (!o)
        return 0;
    pthread_mutex_lock(&o->mu);
    int rc = o->ng < OPSD_MAX_GAUGES ? 0 : -E2BIG;
    if (rc == 0) {
        int n = labels && *labels ? 1 : 0;
        for (const char *c = labels; c && *c; c++)
            n += *c == ',';
        o->g[o->ng++] = (struct sql_gauge){name, help, labels, sql, n};
    }
    pthread_mutex_unlock(&o->mu);
    return rc;
}

struct wm_opsd *wm_opsd_start(const struct wm_config *cfg, struct wm_metrics *m, char *err,
                              size_t errlen)
{
    err[0] = '\0';
    const char *listen = wm_config_str(cfg, "metrics.listen");
    if (!listen || !*listen)
        return NULL;
    struct wm_opsd *o = calloc(1, sizeof(*o));
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    o->cfg = cfg;
    o->m = m;
    pthread_mutex_init(&o->mu, NULL);
    struct wm_httpd_opts ho = {.listen = listen, .metrics = m, .max_conns = 16};
    if (!(o->h = wm_httpd_new(&ho, err, errlen)) || wm_httpd_ops(o->h, m) < 0 ||
        wm_httpd_ready_check(o->h, "postgresql", ready_pg, o) < 0 ||
        wm_httpd_ready_check(o->h, "kafka", ready_kafka, o) < 0 ||
        wm_metrics_on_scrape(m, collect, o) < 0 || wm_httpd_start(o->h, err, errlen) < 0) {
        if (!*err)
            snprintf(err, errlen, "metrics.listen %s: cannot serve", listen);
        wm_opsd_stop(o);
        return NULL;
    }
    return o;
}

void wm_opsd_stop(struct wm_opsd *o)
{
    if (!o)
        return;
    wm_httpd_free(o->h);
    wm_pg_free(o->db);
    pthread_mutex_destroy(&o->mu);
    free(o);
}
