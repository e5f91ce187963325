/* guard — connection admission and deadlines (see guard.h). */
#include "guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define GUARD_TICK_MS 250
#define GUARD_BACKOFF_MS 100
#define GUARD_LOG_EVENTS 8
#define GUARD_LOG_BURST 10 /* lines per event and second before suppressing */

struct slot {
    bool used, pending;
    int dupfd; /* the guard's own reference to the socket while pending */
    char peer[INET6_ADDRSTRLEN];
    uint64_t since, deadline;
};

struct limited {
    const char *event;
    uint64_t window_ms; /* start of the current one-second window */
    int emitted;        /* lines in it */
    unsigned long suppressed;
};

struct guard {
    struct guard_opts o;
    pthread_mutex_t mu;
    struct slot *slots;
    int used;
    struct limited logs[GUARD_LOG_EVENTS];
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct guard *guard_new(const struct guard_opts *o)
{
    struct guard *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->o = *o;
    g->o.name = o->name ? o->name : "server";
    g->o.max_conns = o->max_conns > 0 ? o->max_conns : 256;
    g->o.max_startups = o->max_startups > 0 ? o->max_startups : 64;
    g->o.max_per_peer = o->max_per_peer > 0 ? o->max_per_peer : 16;
    g->o.grace_ms = o->grace_ms > 0 ? o->grace_ms : 15000;
    g->slots = calloc((size_t)g->o.max_conns, sizeof(*g->slots));
    if (!g->slots) {
        free(g);
        return NULL;
    }
    pthread_mutex_init(&g->mu, NULL);
    return g;
}

void guard_free(struct guard *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->o.max_conns; i++)
        if (g->slots[i].pending)
            close(g->slots[i].dupfd);
    pthread_mutex_destroy(&g->mu);
    free(g->slots);
    free(g);
}

/* Whether event may be logged now (GUARD_LOG_BURST a second); *suppressed
 * gets the count left out before this line. */
static bool log_allowed(struct guard *g, const char *event, unsigned long *suppressed)
{
    uint64_t now = mono_ms();
    bool emit = true;
    *suppressed = 0;
    pthread_mutex_lock(&g->mu);
    struct limited *l = NULL;
    for (int i = 0; i < GUARD_LOG_EVENTS && !l; i++)
        if (!g->logs[i].event || strcmp(g->logs[i].event, event) == 0)
            l = &g->logs[i];
    if (l && (!l->event || now - l->window_ms >= 1000)) {
        l->event = event;
        l->window_ms = now;
        l->emitted = 0;
    }
    if (l && l->emitted >= GUARD_LOG_BURST) {
        l->suppressed++;
        emit = false;
    } else if (l) {
        l->emitted++;
        *suppressed = l->suppressed;
        l->suppressed = 0;
    }
    pthread_mutex_unlock(&g->mu);
    return emit;
}

void guard_log_limited(struct guard *g, const char *event, const char *fmt, ...)
{
    unsigned long suppressed;
    if (!log_allowed(g, event, &suppressed))
        return;
    char fields[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fields, sizeof(fields), fmt, ap);
    va_end(ap);
    wm_warn(event, "server=%s %s suppressed=%lu", g->o.name, fields, suppressed);
}

/* Cuts a first-phase connection: its thread's next read fails.  Caller
 * holds mu. */
static void slot_cut(struct slot *s)
{
    shutdown(s->dupfd, SHUT_RDWR);
    close(s->dupfd);
    s->dupfd = -1;
    s->pending = false;
}

static void guard_reap(struct guard *g)
{
    uint64_t now = mono_ms();
    int cut = 0;
    pthread_mutex_lock(&g->mu);
    for (int i = 0; i < g->o.max_conns; i++)
        if (g->slots[i].pending && now >= g->slots[i].deadline) {
            slot_cut(&g->slots[i]);
            cut++;
        }
    pthread_mutex_unlock(&g->mu);
    if (cut)
        guard_log_limited(g, "repl.conn_deadline",
                          "cut=%d reason=\"handshake and first request not done within %d ms\"",
                          cut, g->o.grace_ms);
}

static void peer_text(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    const void *a = ss->ss_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
    if (!inet_ntop(ss->ss_family == AF_INET6 ? AF_INET6 : AF_INET, a, out, (socklen_t)outlen))
        snprintf(out, outlen, "?");
}

static int pending_of(const struct guard *g, const char *peer)
{
    int n = 0;
    for (int i = 0; i < g->o.max_conns; i++)
        n += g->slots[i].pending && strcmp(g->slots[i].peer, peer) == 0;
    return n;
}

/* Makes room among first-phase connections by cutting the oldest one of
 * the heaviest peer, if that peer holds more than `mine`.  Caller holds mu. */
static bool make_room(struct guard *g, int mine)
{
    int heavy = -1, heavy_n = mine, oldest = -1;
    for (int i = 0; i < g->o.max_conns; i++) {
        if (!g->slots[i].pending)
            continue;
        int n = pending_of(g, g->slots[i].peer);
        if (n > heavy_n)
            heavy = i, heavy_n = n;
    }
    if (heavy < 0)
        return false;
    for (int i = 0; i < g->o.max_conns; i++)
        if (g->slots[i].pending && strcmp(g->slots[i].peer, g->slots[heavy].peer) == 0 &&
            (oldest < 0 || g->slots[i].since < g->slots[oldest].since))
            oldest = i;
    slot_cut(&g->slots[oldest]);
    return true;
}

/* Why a newcomer from peer is refused, or NULL.  Caller holds mu. */
static const char *admit_check(struct guard *g, const char *peer)
{
    if (g->used >= g->o.max_conns)
        return "too many connections";
    int mine = pending_of(g, peer), startups = 0;
    if (mine >= g->o.max_per_peer)
        return "too many unauthenticated connections from this address";
    for (int i = 0; i < g->o.max_conns; i++)
        startups += g->slots[i].pending;
    if (startups >= g->o.max_startups && !make_room(g, mine))
        return "too many unauthenticated connections";
    return NULL;
}

/* Takes a free slot for a pending connection.  Caller holds mu. */
static int slot_take(struct guard *g, int dupfd, const char *who)
{
    for (int i = 0; i < g->o.max_conns; i++) {
        struct slot *s = &g->slots[i];
        if (s->used)
            continue;
        uint64_t now = mono_ms();
        *s = (struct slot){.used = true,
                           .pending = true,
                           .dupfd = dupfd,
                           .since = now,
                           .deadline = now + (uint64_t)g->o.grace_ms};
        snprintf(s->peer, sizeof(s->peer), "%s", who);
        g->used++;
        return i;
    }
    return -1;
}

int guard_admit(struct guard *g, int fd, const struct sockaddr_storage *peer)
{
    char who[INET6_ADDRSTRLEN];
    peer_text(peer, who, sizeof(who));
    pthread_mutex_lock(&g->mu);
    const char *why = admit_check(g, who);
    int slot = -1, dupfd = why ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (!why && dupfd < 0)
        why = "out of descriptors";
    if (!why && (slot = slot_take(g, dupfd, who)) < 0)
        why = "no free slot";
    pthread_mutex_unlock(&g->mu);
    if (slot >= 0)
        return slot;
    if (dupfd >= 0)
        close(dupfd);
    guard_log_limited(g, "repl.conn_refused", "peer=%s reason=\"%s\"", who, why);
    return -EBUSY;
}

void guard_authed(struct guard *g, int slot)
{
    if (slot < 0)
        return;
    pthread_mutex_lock(&g->mu);
    if (g->slots[slot].pending) {
        close(g->slots[slot].dupfd);
        g->slots[slot].dupfd = -1;
        g->slots[slot].pending = false;
    }
    pthread_mutex_unlock(&g->mu);
}

void guard_leave(struct guard *g, int slot)
{
    if (slot < 0)
        return;
    guard_authed(g, slot);
    pthread_mutex_lock(&g->mu);
    g->slots[slot].used = false;
    g->used--;
    pthread_mutex_unlock(&g->mu);
}

int guard_count(struct guard *g)
{
    pthread_mutex_lock(&g->mu);
    int n = g->used;
    pthread_mutex_unlock(&g->mu);
    return n;
}

static bool accept_resource_error(int e)
{
    return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int guard_accept(struct guard *g, int listen_fd, volatile sig_atomic_t *stop,
                 struct sockaddr_storage *peer)
{
    int fl = fcntl(listen_fd, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK))
        fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK);
    while (!*stop) {
        struct pollfd p = {.fd = listen_fd, .events = POLLIN};
        int pr = poll(&p, 1, GUARD_TICK_MS);
        guard_reap(g);
        if (g->o.on_tick)
            g->o.on_tick(g->o.tick_arg);
        if (pr <= 0)
            continue;
        socklen_t len = sizeof(*peer);
        int fd = accept4(listen_fd, (struct sockaddr *)peer, &len, SOCK_CLOEXEC);
        if (fd >= 0)
            return fd;
        int e = errno;
        if (accept_resource_error(e)) {
            guard_log_limited(g, "repl.accept_failed", "err=\"%s\" (backing off)", strerror(e));
            sleep_ms(GUARD_BACKOFF_MS);
        } else if (e == EBADF || e == EINVAL || e == ENOTSOCK) {
            return -e;
        }
    }
    return -EINTR;
}
