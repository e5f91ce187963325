/* sched_events — buffered scheduler status events (see sched_events.h). */
#include "sched_events.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "msg.h"

#define EVENTS_MAX 50000

struct sched_ev {
    char *type, *wave, *server, *state, *message;
    int64_t key_id;
    bool simulated;
};

struct sched_events {
    char topic[256];
    char source[128];
    struct sched_ev *v;
    size_t n, dropped;
    uint64_t seq;
};

struct sched_events *sched_events_new(const struct wm_config *cfg, const char *source)
{
    struct sched_events *ev = calloc(1, sizeof(*ev));
    if (!ev)
        return NULL;
    ev->v = calloc(EVENTS_MAX, sizeof(*ev->v));
    if (!ev->v) {
        free(ev);
        return NULL;
    }
    wm_kafka_topic(cfg, WM_TOPIC_STATUS, ev->topic, sizeof(ev->topic));
    snprintf(ev->source, sizeof(ev->source), "%s", source);
    return ev;
}

static void ev_clear(struct sched_ev *e)
{
    free(e->type);
    free(e->wave);
    free(e->server);
    free(e->state);
    free(e->message);
    memset(e, 0, sizeof(*e));
}

void sched_events_discard(struct sched_events *ev)
{
    for (size_t i = 0; i < ev->n; i++)
        ev_clear(&ev->v[i]);
    ev->n = 0;
}

void sched_events_free(struct sched_events *ev)
{
    if (!ev)
        return;
    sched_events_discard(ev);
    free(ev->v);
    free(ev);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void sched_events_add(struct sched_events *ev, const char *type, int64_t key_id, const char *wave,
                     const char *server, const char *state, const char *message,
                     bool simulated)
{
    if (ev->n >= EVENTS_MAX) {
        ev->dropped++;
        return;
    }
    struct sched_ev *e = &ev->v[ev->n++];
    e->type = dup_or_null(type);
    e->wave = dup_or_null(wave);
    e->server = dup_or_null(server);
    e->state = dup_or_null(state);
    e->message = dup_or_null(message);
    e->key_id = key_id;
    e->simulated = simulated;
}

/* Unique per process run: source + time + sequence, formatted as a UUID. */
static void ev_uuid(struct sched_events *ev, char *buf, size_t len)
{
    uint64_t a = ((uint64_t)wm_wall_ms() << 16) ^ (uint64_t)(uintptr_t)ev ^ (uint64_t)getpid();
    uint64_t b = ++ev->seq;
    snprintf(buf, len, "%08x-%04x-4%03x-8%03x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff, (unsigned)(b >> 48) & 0xfff,
             (unsigned long long)(b & 0xffffffffffffULL));
}

static void ev_send_one(struct sched_events *ev, struct wm_kafka_producer *p, struct sched_ev *e)
{
    char id[40], err[256];
    ev_uuid(ev, id, sizeof(id));
    struct wm_status_msg m = {.event_id = id, .time_ms = wm_wall_ms(), .source = ev->source,
                              .type = e->type, .wave = e->wave, .server = e->server,
                              .state = e->state, .message = e->message,
                              .simulated = e->simulated};
    uint8_t *buf = NULL;
    size_t len = 0;
    if (wm_status_msg_encode(&m, &buf, &len, err, sizeof(err)) < 0) {
        wm_warn("sched.event_encode_failed", "err=\"%s\"", err);
        return;
    }
    char key[24];
    snprintf(key, sizeof(key), "%lld", (long long)e->key_id);
    if (wm_kafka_send(p, ev->topic, key, strlen(key), buf, len, NULL, 0, err, sizeof(err)) < 0)
        wm_warn("sched.event_send_failed", "err=\"%s\"", err);
    free(buf);
}

size_t sched_events_send(struct sched_events *ev, struct wm_kafka_producer *p)
{
    size_t n = ev->n;
    for (size_t i = 0; i < n; i++)
        ev_send_one(ev, p, &ev->v[i]);
    if (ev->dropped) {
        wm_warn("sched.events_dropped", "count=%zu", ev->dropped);
        ev->dropped = 0;
    }
    sched_events_discard(ev);
    return n;
}
