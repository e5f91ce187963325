/* metrics — Prometheus text-format registry (see metrics.h). */
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define NBUCKETS 256
#define MAX_COLLECTORS 16
/* joins label values inside a series key (a control character no label
 * value of ours carries) */
#define KEY_SEP '\x1f'

struct series {
    struct series *next_bucket;
    struct series *next; /* first-use order */
    char *key;           /* values joined by KEY_SEP */
    char **values;
    double v;
};

struct wm_metric {
    struct wm_metrics *reg;
    struct wm_metric *next;
    char *name, *help;
    enum wm_metric_type type;
    int nlabels;
    char *labels[WM_METRICS_MAX_LABELS];
    struct series *buckets[NBUCKETS];
    struct series *first, *last;
    size_t nseries;
};

struct collector {
    wm_metrics_collect_fn fn;
    void *arg;
};

struct wm_metrics {
    pthread_mutex_t mu;
    struct wm_metric *first, *last;
    struct collector coll[MAX_COLLECTORS];
    int ncoll;
    struct wm_metric *dropped;
};

/* --- names --- */

static bool name_ok(const char *s, bool colon)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || (colon && c == ':');
        if (!ok)
            return false;
    }
    return true;
}

/* Splits "a,b" into f->labels; false on a bad or reserved (__) name. */
static bool labels_parse(struct wm_metric *f, const char *labels)
{
    if (!labels || !*labels)
        return true;
    const char *p = labels;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (f->nlabels == WM_METRICS_MAX_LABELS || n == 0 || n > 64)
            return false;
        char *l = strndup(p, n);
        if (!l)
            return false;
        f->labels[f->nlabels++] = l;
        if (!name_ok(l, false) || strncmp(l, "__", 2) == 0)
            return false;
        p += n + (e ? 1 : 0);
    }
    return true;
}

static void series_clear(struct wm_metric *f);

static void family_free(struct wm_metric *f)
{
    series_clear(f);
    for (int i = 0; i < f->nlabels; i++)
        free(f->labels[i]);
    free(f->name);
    free(f->help);
    free(f);
}

/* --- registry --- */

struct wm_metrics *wm_metrics_new(void)
{
    struct wm_metrics *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->dropped = wm_metrics_counter(m, "wm_metrics_dropped_series_total",
                                    "Series not recorded because a family was full", NULL);
    return m;
}

void wm_metrics_free(struct wm_metrics *m)
{
    if (!m)
        return;
    while (m->first) {
        struct wm_metric *f = m->first;
        m->first = f->next;
        family_free(f);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static bool family_same_labels(const struct wm_metric *f, const char *labels)
{
    struct wm_metric probe = {0};
    bool same = labels_parse(&probe, labels) && probe.nlabels == f->nlabels;
    for (int i = 0; same && i < f->nlabels; i++)
        same = strcmp(probe.labels[i], f->labels[i]) == 0;
    for (int i = 0; i < probe.nlabels; i++)
        free(probe.labels[i]);
    return same;
}

static struct wm_metric *family_find(struct wm_metrics *m, const char *name)
{
    for (struct wm_metric *f = m->first; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static struct wm_metric *family_create(struct wm_metrics *m, const char *name,
                                       enum wm_metric_type type, const char *help,
                                       const char *labels)
{
    struct wm_metric *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->reg = m;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (!f->name || !f->help || !labels_parse(f, labels)) {
        family_free(f);
        return NULL;
    }
    if (m->last)
        m->last->next = f;
    else
        m->first = f;
    m->last = f;
    return f;
}

struct wm_metric *wm_metrics_family(struct wm_metrics *m, const char *name,
                                    enum wm_metric_type type, const char *help,
                                    const char *labels)
{
    if (!m)
        return NULL; /* no registry: updates to a NULL family are no-ops */
    if (!name_ok(name, true)) {
        wm_error("metrics.bad_family", "name=\"%s\"", name ? name : "");
        return NULL;
    }
    pthread_mutex_lock(&m->mu);
    struct wm_metric *f = family_find(m, name);
    if (f && (f->type != type || !family_same_labels(f, labels)))
        f = NULL, wm_error("metrics.family_mismatch", "name=%s", name);
    else if (!f && !(f = family_create(m, name, type, help, labels)))
        wm_error("metrics.bad_family", "name=%s labels=\"%s\"", name, labels ? labels : "");
    pthread_mutex_unlock(&m->mu);
    return f;
}

struct wm_metric *wm_metrics_counter(struct wm_metrics *m, const char *name, const char *help,
                                     const char *labels)
{
    return wm_metrics_family(m, name, WM_METRIC_COUNTER, help, labels);
}

struct wm_metric *wm_metrics_gauge(struct wm_metrics *m, const char *name, const char *help,
                                   const char *labels)
{
    return wm_metrics_family(m, name, WM_METRIC_GAUGE, help, labels);
}

int wm_metrics_on_scrape(struct wm_metrics *m, wm_metrics_collect_fn fn, void *arg)
{
    pthread_mutex_lock(&m->mu);
    int rc = m->ncoll < MAX_COLLECTORS ? 0 : -E2BIG;
    if (rc == 0)
        m->coll[m->ncoll++] = (struct collector){fn, arg};
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* --- series --- */

/* values joined by KEY_SEP, each cut at WM_METRICS_MAX_VALUE bytes */
static char *series_key(const struct wm_metric *f, const char *const *values)
{
    size_t cap = (size_t)f->nlabels * (WM_METRICS_MAX_VALUE + 1) + 1;
    char *k = malloc(cap), *p = k;
    if (!k)
        return NULL;
    for (int i = 0; i < f->nlabels; i++) {
        const char *v = values && values[i] ? values[i] : "";
        for (size_t n = 0; n < WM_METRICS_MAX_VALUE && v[n]; n++)
            *p++ = v[n] == KEY_SEP ? '?' : v[n];
        *p++ = KEY_SEP;
    }
    *p = '\0';
    return k;
}

static uint32_t key_hash(const char *k)
{
    uint32_t h = 2166136261u;
    for (; *k; k++)
        h = (h ^ (uint8_t)*k) * 16777619u;
    return h % NBUCKETS;
}

/* A series owning key (values joined by KEY_SEP) and a split copy of it. */
static struct series *series_new(struct wm_metric *f, char *key)
{
    struct series *s = calloc(1, sizeof(*s));
    char **vals = calloc((size_t)f->nlabels + 1, sizeof(char *));
    char *split = strdup(key);
    if (!s || !vals || !split) {
        free(s);
        free(vals);
        free(split);
        return NULL;
    }
    s->key = key;
    s->values = vals;
    char *p = split;
    for (int i = 0; i < f->nlabels; i++) {
        char *e = strchr(p, KEY_SEP);
        vals[i] = p;
        *e = '\0';
        p = e + 1;
    }
    vals[f->nlabels] = split; /* kept for freeing (also valid when nlabels == 0) */
    return s;
}

static void series_free(struct series *s, int nlabels)
{
    free(s->values[nlabels]);
    free(s->values);
    free(s->key);
    free(s);
}

/* Finds or creates the series; called with the registry lock held. */
static struct series *series_get(struct wm_metric *f, const char *const *values, bool create,
                                 int *rc)
{
    char *key = series_key(f, values);
    if (!key) {
        *rc = -ENOMEM;
        return NULL;
    }
    uint32_t h = key_hash(key);
    for (struct series *s = f->buckets[h]; s; s = s->next_bucket)
        if (strcmp(s->key, key) == 0) {
            free(key);
            return s;
        }
    if (!create || f->nseries >= WM_METRICS_MAX_SERIES) {
        free(key);
        *rc = create ? -E2BIG : 0;
        return NULL;
    }
    struct series *s = series_new(f, key);
    if (!s) {
        free(key);
        *rc = -ENOMEM;
        return NULL;
    }
    s->next_bucket = f->buckets[h];
    f->buckets[h] = s;
    if (f->last)
        f->last->next = s;
    else
        f->first = s;
    f->last = s;
    f->nseries++;
    return s;
}

static int metric_update(struct wm_metric *f, double v, const char *const *values, bool set)
{
    if (!f)
        return 0;
    if (f->type == WM_METRIC_COUNTER && (v < 0 || isnan(v)))
        return -EINVAL;
    struct wm_metrics *m = f->reg;
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    struct series *s = series_get(f, values, true, &rc);
    if (s && set && f->type == WM_METRIC_COUNTER && v < s->v)
        rc = -EINVAL; /* a counter never goes down */
    else if (s)
        s->v = set ? v : s->v + v;
    pthread_mutex_unlock(&m->mu);
    if (rc == -E2BIG && f != m->dropped)
        wm_metric_add(m->dropped, 1, NULL);
    return rc;
}

int wm_metric_add(struct wm_metric *f, double v, const char *const *values)
{
    return metric_update(f, v, values, false);
}

int wm_metric_set(struct wm_metric *f, double v, const char *const *values)
{
    return metric_update(f, v, values, true);
}

static void series_clear(struct wm_metric *f)
{
    while (f->first) {
        struct series *s = f->first;
        f->first = s->next;
        series_free(s, f->nlabels);
    }
    f->last = NULL;
    f->nseries = 0;
    memset(f->buckets, 0, sizeof(f->buckets));
}

void wm_metric_clear(struct wm_metric *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->reg->mu);
    series_clear(f);
    pthread_mutex_unlock(&f->reg->mu);
}

double wm_metric_get(struct wm_metric *f, const char *const *values)
{
    if (!f)
        return 0;
    int rc = 0;
    pthread_mutex_lock(&f->reg->mu);
    struct series *s = series_get(f, values, false, &rc);
    double v = s ? s->v : 0;
    pthread_mutex_unlock(&f->reg->mu);
    return v;
}

/* --- rendering --- */

struct outbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void out_add(struct outbuf *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->oom = true;
            return;
        }
        o->p = p, o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void out_str(struct outbuf *o, const char *s)
{
    out_add(o, s, strlen(s));
}

/* Escapes per the format: \\ and \n everywhere, \" inside label values. */
static void out_escaped(struct outbuf *o, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            out_str(o, "\\\\");
        else if (*s == '\n')
            out_str(o, "\\n");
        else if (*s == '"' && quote)
            out_str(o, "\\\"");
        else
            out_add(o, s, 1);
    }
}

static void out_value(struct outbuf *o, double v)
{
    char num[64];
    if (isnan(v))
        snprintf(num, sizeof(num), "NaN");
    else if (isinf(v))
        snprintf(num, sizeof(num), v > 0 ? "+Inf" : "-Inf");
    else if (v == (double)(int64_t)v && fabs(v) < 9e15)
        snprintf(num, sizeof(num), "%lld", (long long)v);
    else
        snprintf(num, sizeof(num), "%.17g", v);
    out_str(o, num);
}

static void render_family(struct outbuf *o, const struct wm_metric *f)
{
    out_str(o, "# HELP ");
    out_str(o, f->name);
    out_str(o, " ");
    out_escaped(o, f->help, false);
    out_str(o, "\n# TYPE ");
    out_str(o, f->name);
    out_str(o, f->type == WM_METRIC_COUNTER ? " counter\n" : " gauge\n");
    for (const struct series *s = f->first; s; s = s->next) {
        out_str(o, f->name);
        for (int i = 0; i < f->nlabels; i++) {
            out_str(o, i ? "," : "{");
            out_str(o, f->labels[i]);
            out_str(o, "=\"");
            out_escaped(o, s->values[i], true);
            out_str(o, "\"");
        }
        out_str(o, f->nlabels ? "} " : " ");
        out_value(o, s->v);
        out_str(o, "\n");
    }
}

char *wm_metrics_render(struct wm_metrics *m, size_t *len)
{
    pthread_mutex_lock(&m->mu);
    int n = m->ncoll;
    struct collector coll[MAX_COLLECTORS];
    memcpy(coll, m->coll, sizeof(coll));
    pthread_mutex_unlock(&m->mu);
    for (int i = 0; i < n; i++)
        coll[i].fn(m, coll[i].arg);

    struct outbuf o = {0};
    out_str(&o, "");
    pthread_mutex_lock(&m->mu);
    for (const struct wm_metric *f = m->first; f; f = f->next)
        render_family(&o, f);
    pthread_mutex_unlock(&m->mu);
    if (o.oom) {
        free(o.p);
        return NULL;
    }
    if (len)
        *len = o.len;
    return o.p;
}
