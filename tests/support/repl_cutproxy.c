/* repl_cutproxy — cutting TCP proxy for tests (see repl_cutproxy.h). */
#include "repl_cutproxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls.h"

struct repl_cutproxy {
    char target[64];
    uint64_t cut_after, step;
    int lfd;
    atomic_int stop;
    atomic_uint cuts, conns;
    atomic_uint cut_gen;     /* bumped by cut_now: relays end */
    atomic_uint_fast64_t up; /* bytes forwarded client -> target */
    pthread_t thread;
};

struct cut_relay {
    struct repl_cutproxy *p;
    int a, b;
    uint64_t budget;
};

/* Moves what is readable on from to to; returns bytes moved, or -1 at EOF/error. */
static long relay_once(int from, int to)
{
    char buf[65536];
    ssize_t n = read(from, buf, sizeof(buf));
    if (n <= 0)
        return -1;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        off += w;
    }
    return n;
}

static void *relay_thread(void *arg)
{
    struct cut_relay r = *(struct cut_relay *)arg;
    free(arg);
    uint64_t moved = 0;
    unsigned gen = atomic_load(&r.p->cut_gen);
    struct pollfd pf[2] = {{.fd = r.a, .events = POLLIN}, {.fd = r.b, .events = POLLIN}};
    while (moved < r.budget) {
        if (poll(pf, 2, 50) < 0)
            break;
        if (atomic_load(&r.p->cut_gen) != gen) {
            moved = r.budget;
            break;
        }
        long n = 0;
        if (pf[0].revents && (n = relay_once(r.a, r.b)) < 0)
            break;
        moved += (uint64_t)n;
        atomic_fetch_add(&r.p->up, (uint64_t)n);
        if (pf[1].revents && (n = relay_once(r.b, r.a)) < 0)
            break;
        moved += (uint64_t)n;
    }
    if (moved >= r.budget) {
        /* a hard cut: nothing more flows; what was delivered is delivered
         * (give the peers a moment to read it), then RST on both sides */
        atomic_fetch_add(&r.p->cuts, 1);
        usleep(300000);
        struct linger lg = {1, 0};
        setsockopt(r.a, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        setsockopt(r.b, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    } else {
        /* one side closed: pass the close on gracefully */
        shutdown(r.a, SHUT_WR);
        shutdown(r.b, SHUT_WR);
    }
    close(r.a);
    close(r.b);
    return NULL;
}

static void *accept_thread(void *arg)
{
    struct repl_cutproxy *p = arg;
    char err[256];
    while (!atomic_load(&p->stop)) {
        struct pollfd pf = {.fd = p->lfd, .events = POLLIN};
        if (poll(&pf, 1, 200) <= 0)
            continue;
        int a = accept(p->lfd, NULL, NULL);
        if (a < 0)
            continue;
        int b = wm_tcp_connect(p->target, 5000, 0, err, sizeof(err));
        struct cut_relay *r = b >= 0 ? malloc(sizeof(*r)) : NULL;
        pthread_t t;
        if (!r) {
            close(a);
            if (b >= 0)
                close(b);
            continue;
        }
        unsigned k = atomic_fetch_add(&p->conns, 1);
        *r = (struct cut_relay){p, a, b, p->cut_after + k * p->step};
        if (pthread_create(&t, NULL, relay_thread, r) == 0)
            pthread_detach(t);
        else
            close(a), close(b), free(r);
    }
    return NULL;
}

struct repl_cutproxy *repl_cutproxy_start(const char *target, uint64_t cut_after, uint64_t step,
                                          char *listen_out, size_t outlen)
{
    char err[256];
    struct repl_cutproxy *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    snprintf(p->target, sizeof(p->target), "%s", target);
    p->cut_after = cut_after;
    p->step = step;
    p->lfd = wm_tcp_listen("127.0.0.1:0", 16, err, sizeof(err));
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    if (p->lfd < 0 || getsockname(p->lfd, (struct sockaddr *)&sa, &sl) < 0 ||
        pthread_create(&p->thread, NULL, accept_thread, p) != 0) {
        if (p->lfd >= 0)
            close(p->lfd);
        free(p);
        return NULL;
    }
    snprintf(listen_out, outlen, "127.0.0.1:%u", ntohs(sa.sin_port));
    return p;
}

void repl_cutproxy_cut_now(struct repl_cutproxy *p)
{
    atomic_fetch_add(&p->cut_gen, 1);
}

uint64_t repl_cutproxy_bytes_up(struct repl_cutproxy *p)
{
    return atomic_load(&p->up);
}

unsigned repl_cutproxy_cuts(struct repl_cutproxy *p)
{
    return atomic_load(&p->cuts);
}

void repl_cutproxy_stop(struct repl_cutproxy *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    close(p->lfd);
    free(p);
}
