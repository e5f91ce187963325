/* watch_table — the state table of `wavemill watch` (see watch_table.h). */
#include "watch_table.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "msg.h"

#define BAR 20

struct row {
    char server[96], wave[96], lifecycle[24], task[32], state[16], message[120];
    int64_t done, total;
    bool simulated;
};

struct wave {
    char name[96], status[16];
};

struct watch_table {
    struct row *rows;
    int nrows, dropped;
    struct wave waves[WATCH_TABLE_MAX_WAVES];
    int nwaves;
    char filter[96];
    int64_t events;
};

struct watch_table *watch_table_new(void)
{
    struct watch_table *t = calloc(1, sizeof(*t));
    if (t && !(t->rows = calloc(WATCH_TABLE_MAX_ROWS, sizeof(*t->rows)))) {
        free(t);
        t = NULL;
    }
    return t;
}

void watch_table_free(struct watch_table *t)
{
    if (t)
        free(t->rows);
    free(t);
}

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

static struct wave *wave_get(struct watch_table *t, const char *name)
{
    for (int i = 0; i < t->nwaves; i++)
        if (strcmp(t->waves[i].name, name) == 0)
            return &t->waves[i];
    if (t->nwaves == WATCH_TABLE_MAX_WAVES)
        return NULL;
    struct wave *w = &t->waves[t->nwaves++];
    copy(w->name, sizeof(w->name), name);
    return w;
}

static struct row *row_get(struct watch_table *t, const char *server)
{
    for (int i = 0; i < t->nrows; i++)
        if (strcmp(t->rows[i].server, server) == 0)
            return &t->rows[i];
    if (t->nrows == WATCH_TABLE_MAX_ROWS) {
        t->dropped++;
        return NULL;
    }
    struct row *r = &t->rows[t->nrows++];
    copy(r->server, sizeof(r->server), server);
    return r;
}

/* task and progress events: the running step and its bytes */
static void row_task(struct row *r, const struct wm_status_msg *m)
{
    if (strcmp(r->task, m->task_kind ? m->task_kind : "") != 0)
        r->done = r->total = 0; /* a new step: its own bar */
    copy(r->task, sizeof(r->task), m->task_kind);
    copy(r->state, sizeof(r->state), m->state);
    if (m->bytes_total > 0 || strcmp(m->type, "progress") == 0)
        r->done = m->bytes_done, r->total = m->bytes_total;
    if (m->state && strcmp(m->state, "FAILED") == 0 && m->message)
        wm_redact(m->message, r->message, sizeof(r->message));
}

bool watch_table_apply(struct watch_table *t, const struct wm_status_msg *m)
{
    t->events++;
    if (!m->type || !m->state)
        return false;
    if (m->wave) {
        struct wave *w = wave_get(t, m->wave);
        if (w && strcmp(m->type, "wave") == 0)
            copy(w->status, sizeof(w->status), m->state);
    }
    if (!m->server || strcmp(m->type, "wave") == 0)
        return true;
    struct row *r = row_get(t, m->server);
    if (!r)
        return false;
    copy(r->wave, sizeof(r->wave), m->wave);
    r->simulated = r->simulated || m->simulated;
    if (strcmp(m->type, "server") == 0) {
        copy(r->lifecycle, sizeof(r->lifecycle), m->state);
        if (m->message && strcmp(m->state, "FAILED") == 0)
            wm_redact(m->message, r->message, sizeof(r->message));
    } else {
        row_task(r, m);
    }
    return true;
}

void watch_table_filter(struct watch_table *t, const char *wave)
{
    copy(t->filter, sizeof(t->filter), wave);
}

const char *watch_table_next_wave(struct watch_table *t)
{
    int at = -1;
    for (int i = 0; i < t->nwaves && *t->filter; i++)
        if (strcmp(t->waves[i].name, t->filter) == 0)
            at = i;
    if (at + 1 >= t->nwaves) {
        t->filter[0] = '\0';
        return NULL;
    }
    copy(t->filter, sizeof(t->filter), t->waves[at + 1].name);
    return t->filter;
}

static void bar(char *buf, size_t len, int64_t done, int64_t total)
{
    char b[BAR + 1];
    int pct = total > 0 ? (int)((done > total ? total : done) * 100 / total) : 0;
    for (int i = 0; i < BAR; i++)
        b[i] = i < pct * BAR / 100 ? '#' : '.';
    b[BAR] = '\0';
    if (total > 0)
        snprintf(buf, len, "[%s] %3d%%", b, pct);
    else
        snprintf(buf, len, "%*s", BAR + 7, "");
}

static void draw_waves(const struct watch_table *t, FILE *out, int *line)
{
    for (int i = 0; i < t->nwaves; i++) {
        int n = 0, done = 0, failed = 0;
        for (int k = 0; k < t->nrows; k++) {
            if (strcmp(t->rows[k].wave, t->waves[i].name) != 0)
                continue;
            n++;
            done += strcmp(t->rows[k].lifecycle, "DONE") == 0;
            failed += strcmp(t->rows[k].lifecycle, "FAILED") == 0;
        }
        fprintf(out, "wave %-24.24s %-8s servers %d  done %d  failed %d%s\n", t->waves[i].name,
                *t->waves[i].status ? t->waves[i].status : "?", n, done, failed,
                strcmp(t->waves[i].name, t->filter) == 0 ? "  <- shown" : "");
        (*line)++;
    }
}

void watch_table_draw(const struct watch_table *t, FILE *out, int rows, int cols)
{
    (void)cols;
    int line = 3;
    fputs("\x1b[H\x1b[2J", out); /* home, clear */
    fprintf(out, "wavemill watch — %lld events, %d servers%s   keys: w next wave, a all, q quit\n",
            (long long)t->events, t->nrows, *t->filter ? "" : " (all waves)");
    draw_waves(t, out, &line);
    fprintf(out, "\n%-24s %-18s %-18s %-26s %-10s %s\n", "SERVER", "WAVE", "LIFECYCLE", "STEP",
            "", "PROGRESS");
    int shown = 0, hidden = 0;
    for (int i = 0; i < t->nrows; i++) {
        const struct row *r = &t->rows[i];
        if (*t->filter && strcmp(r->wave, t->filter) != 0)
            continue;
        if (line >= rows - 2) {
            hidden++;
            continue;
        }
        char b[64], step[64];
        bar(b, sizeof(b), r->done, r->total);
        snprintf(step, sizeof(step), "%s %s", r->task, r->state);
        fprintf(out, "%-24.24s %-18.18s %-18.18s %-37.37s %s%s%s%s\n", r->server, r->wave,
                *r->lifecycle ? r->lifecycle : "-", step, b, r->simulated ? " [sim]" : "",
                *r->message ? "  " : "", r->message);
        shown++, line++;
    }
    if (hidden || t->dropped)
        fprintf(out, "... %d more servers not shown%s\n", hidden + t->dropped,
                t->dropped ? " (table full)" : "");
    fflush(out);
}
