/* control — resident agent: jobs and control connections (see control.h). */
#include "control.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ebs_control.h"
#include "frame.h"
#include "guard.h"
#include "log.h"
#include "proto.h"
#include "sync.h"
#include "verify.h"
#include "xport.h"

struct control_job {
    struct proto_ctl_req req;
    const struct control_opts *o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct proto_progress prog;
    uint64_t prog_seq;
    int done;
    time_t done_at;
    struct proto_ctl_result result;
    int refs; /* connections watching + 1 for the job thread */
    struct control_job *next;
};

static pthread_mutex_t jobs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct control_job *jobs;

static void job_unref(struct control_job *j)
{
    pthread_mutex_lock(&jobs_mu);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&jobs_mu);
    if (last) {
        pthread_mutex_destroy(&j->mu);
        pthread_cond_destroy(&j->cv);
        free(j);
    }
}

static void job_progress(const struct proto_progress *p, int final, void *ud)
{
    struct control_job *j = ud;
    (void) final;
    pthread_mutex_lock(&j->mu);
    j->prog = *p;
    j->prog_seq++;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static void job_execute(struct control_job *j, struct proto_ctl_result *res)
{
    if (j->req.op == PROTO_CTL_EBS_EXPORT) {
        ebs_control_execute(&j->req, j->o->root, job_progress, j, j->o->progress_ms, res);
        return;
    }
    struct sync_opts so;
    sync_opts_defaults(&so);
    so.disk = j->req.disk;
    so.volume = j->req.volume;
    so.to = j->req.to;
    so.state_dir = j->o->state_dir;
    so.tls = j->o->client_tls;
    if (j->req.streams)
        so.streams = j->req.streams;
    if (j->req.bs)
        so.bs = j->req.bs;
    if (j->req.level)
        so.level = j->req.level;
    so.bwlimit = j->req.bwlimit;
    so.full = j->req.full;
    so.progress = job_progress;
    so.ud = j;
    so.progress_ms = j->o->progress_ms;
    if (j->req.op == PROTO_CTL_SYNC) {
        struct sync_result r;
        res->rc = sync_run(&so, &r, res->text, sizeof(res->text));
        res->gen = r.gen;
        res->prog = r.prog;
        if (res->rc == 0)
            snprintf(res->text, sizeof(res->text), "committed generation %llu",
                     (unsigned long long)r.gen);
    } else {
        struct verify_result v;
        res->rc = verify_run(&so, j->req.sha256, &v, res->text, sizeof(res->text));
        res->gen = v.gen;
        if (res->rc == 1)
            snprintf(res->text, sizeof(res->text),
                     "target differs: %llu of %llu blocks, size %llu vs %llu",
                     (unsigned long long)v.mismatched, (unsigned long long)v.blocks,
                     (unsigned long long)v.size_dst, (unsigned long long)v.size_src);
        else if (res->rc == 0)
            snprintf(res->text, sizeof(res->text), "target equals source at generation %llu",
                     (unsigned long long)v.gen);
    }
}

static void *job_thread(void *arg)
{
    struct control_job *j = arg;
    struct proto_ctl_result res = {0};
    job_execute(j, &res);
    wm_info("repl.job_done", "volume=%s op=%u rc=%d text=\"%s\"", j->req.volume, j->req.op, res.rc,
            res.text);
    pthread_mutex_lock(&j->mu);
    j->result = res;
    j->done = 1;
    j->done_at = time(NULL);
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    job_unref(j);
    return NULL;
}

/* A running job of the same operation is joined (two syncs of one volume
 * would only fight); a finished one only by the same request id. */
static int job_same(struct control_job *j, const struct proto_ctl_req *b)
{
    const struct proto_ctl_req *a = &j->req;
    pthread_mutex_lock(&j->mu);
    int done = j->done;
    pthread_mutex_unlock(&j->mu);
    if (done)
        return b->id[0] && strcmp(a->id, b->id) == 0;
    return a->op == b->op && strcmp(a->volume, b->volume) == 0 && strcmp(a->to, b->to) == 0;
}

/* Drops finished jobs older than CONTROL_KEEP_S; caller holds jobs_mu. */
static void jobs_reap(void)
{
    time_t now = time(NULL);
    for (struct control_job **p = &jobs; *p;) {
        struct control_job *j = *p;
        pthread_mutex_lock(&j->mu);
        int old = j->done && now - j->done_at > CONTROL_KEEP_S;
        pthread_mutex_unlock(&j->mu);
        if (old) {
            *p = j->next;
            if (--j->refs == 0) {
                pthread_mutex_destroy(&j->mu);
                pthread_cond_destroy(&j->cv);
                free(j);
            }
        } else {
            p = &j->next;
        }
    }
}

/* The running (or recently finished) job for req, or a new one.  The
 * returned job holds a reference for the caller. */
static struct control_job *job_attach(const struct control_opts *o, const struct proto_ctl_req *req,
                                      int *attached)
{
    pthread_mutex_lock(&jobs_mu);
    jobs_reap();
    struct control_job *j = jobs;
    while (j && !job_same(j, req))
        j = j->next;
    if (j) {
        j->refs++;
        *attached = 1;
        pthread_mutex_unlock(&jobs_mu);
        return j;
    }
    *attached = 0;
    j = calloc(1, sizeof(*j));
    pthread_t t;
    if (j) {
        j->req = *req;
        j->o = o;
        pthread_mutex_init(&j->mu, NULL);
        pthread_cond_init(&j->cv, NULL);
        j->refs = 3; /* list, job thread, caller */
        if (pthread_create(&t, NULL, job_thread, j) == 0) {
            pthread_detach(t);
            j->next = jobs;
            jobs = j;
        } else {
            free(j);
            j = NULL;
        }
    }
    pthread_mutex_unlock(&jobs_mu);
    return j;
}

static int ctl_send(struct xport *x, uint8_t type, const void *m)
{
    uint8_t buf[1024];
    long n = type == FRAME_CTL_PROGRESS ? proto_progress_encode(m, buf, sizeof(buf))
                                        : proto_ctl_result_encode(m, buf, sizeof(buf));
    return n < 0 ? (int)n : frame_send(x, type, buf, (uint32_t)n);
}

/* Streams the job's progress to the connection until its result. */
static int ctl_watch(struct control_job *j, struct xport *x, int progress_ms)
{
    uint64_t seen = 0;
    int rc = 0;
    pthread_mutex_lock(&j->mu);
    while (rc == 0 && !j->done) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += progress_ms / 1000 + 1;
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
        if (j->prog_seq != seen && !j->done) {
            struct proto_progress p = j->prog;
            seen = j->prog_seq;
            pthread_mutex_unlock(&j->mu);
            rc = ctl_send(x, FRAME_CTL_PROGRESS, &p);
            pthread_mutex_lock(&j->mu);
        }
    }
    struct proto_ctl_result res = j->result;
    pthread_mutex_unlock(&j->mu);
    return rc == 0 ? ctl_send(x, FRAME_CTL_RESULT, &res) : rc;
}

static void ctl_refuse(struct xport *x, const char *why)
{
    struct proto_ctl_result res = {.rc = -EPERM};
    snprintf(res.text, sizeof(res.text), "%s", why);
    wm_warn("repl.control_refused", "peer=%s reason=\"%s\"", x->peer_name, why);
    ctl_send(x, FRAME_CTL_RESULT, &res);
}

struct ctl_conn {
    const struct control_opts *o;
    struct guard *g;
    int fd, slot;
};

/* Reads and answers the one request of a control connection. */
static void ctl_serve_conn(struct ctl_conn *c, struct xport *x)
{
    char err[512];
    uint8_t *buf = NULL, type;
    size_t cap = 0;
    struct proto_ctl_req req;
    int n = frame_recv(x, &type, &buf, &cap, 65536, err, sizeof(err));
    guard_authed(c->g, c->slot);
    if (c->o->server_tls && strcmp(x->peer_role, "worker") != 0)
        ctl_refuse(x, "certificate role may not drive the agent");
    else if (n < 0 || type != FRAME_CTL_REQ || proto_ctl_req_decode(buf, (size_t)n, &req) < 0 ||
             !proto_volume_valid(req.volume) || !req.disk[0] || !req.to[0])
        ctl_refuse(x, "invalid control request");
    else if ((req.op == PROTO_CTL_EBS_EXPORT) != (c->o->root != NULL))
        ctl_refuse(x, c->o->root ? "a receiver only runs EBS exports"
                                 : "EBS exports run on the receiver");
    else {
        int attached;
        struct control_job *j = job_attach(c->o, &req, &attached);
        wm_info("repl.control_request", "peer=%s volume=%s op=%u attached=%d", x->peer_name,
                req.volume, req.op, attached);
        if (!j)
            ctl_refuse(x, "cannot start job");
        else if (ctl_watch(j, x, c->o->progress_ms) < 0)
            wm_info("repl.control_dropped", "volume=%s (job continues)", req.volume);
        if (j)
            job_unref(j);
    }
    free(buf);
}

static void *ctl_conn_thread(void *arg)
{
    struct ctl_conn c = *(struct ctl_conn *)arg;
    free(arg);
    char err[512];
    struct xport *x = xport_accept(c.fd, c.o->server_tls, err, sizeof(err));
    if (x) {
        ctl_serve_conn(&c, x);
        xport_free(x);
    } else {
        guard_log_limited(c.g, "repl.control_handshake_failed", "reason=\"%s\"", err);
    }
    guard_leave(c.g, c.slot);
    return NULL;
}

static bool ctl_start(struct ctl_conn *proto)
{
    struct timeval tv = {60, 0};
    setsockopt(proto->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(proto->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct ctl_conn *c = malloc(sizeof(*c));
    pthread_t t;
    if (!c)
        return false;
    *c = *proto;
    if (pthread_create(&t, NULL, ctl_conn_thread, c) == 0) {
        pthread_detach(t);
        return true;
    }
    free(c);
    return false;
}

int control_serve(const struct control_opts *o, int listen_fd, volatile sig_atomic_t *stop)
{
    struct guard_opts go = {.name = "control",
                            .max_conns = o->max_conns ? o->max_conns : 32,
                            .max_startups = o->max_startups ? o->max_startups : 16,
                            .max_per_peer = o->max_per_peer ? o->max_per_peer : 8,
                            .grace_ms = o->grace_ms};
    struct guard *g = guard_new(&go);
    if (!g)
        return -ENOMEM;
    int rc = 0;
    for (;;) {
        struct sockaddr_storage peer;
        int fd = guard_accept(g, listen_fd, stop, &peer);
        if (fd < 0) {
            rc = fd == -EINTR ? 0 : fd;
            break;
        }
        struct ctl_conn c = {o, g, fd, guard_admit(g, fd, &peer)};
        if (c.slot >= 0 && ctl_start(&c))
            continue;
        if (c.slot >= 0) {
            guard_leave(g, c.slot);
            guard_log_limited(g, "repl.control_refused", "reason=\"no thread\"");
        }
        close(fd);
    }
    /* connection threads still running keep using g: it is left to the
     * process's exit, as the job table is */
    return rc;
}
