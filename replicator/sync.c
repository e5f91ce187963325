/* sync — end-to-end sync and verify on the agent side (see sync.h). */
#include "sync.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "blockmap.h"
#include "busywait.h"
#include "clock.h"
#include "frame.h"
#include "log.h"
#include "ratelimit.h"
#include "sender.h"
#include "xport.h"

void sync_opts_defaults(struct sync_opts *o)
{
    memset(o, 0, sizeof(*o));
    /* two streams keep two cores compressing on a full sync; more rarely
     * pay on the source (each stream is a reader and a sender thread) */
    o->streams = sysconf(_SC_NPROCESSORS_ONLN) >= 2 ? 2 : 1;
    o->bs = 4096;
    o->level = 1;
    o->io_timeout_ms = 60000;
    o->max_failures = 5;
    o->busy_wait_ms = 3600 * 1000;
    o->progress_ms = 1000;
}

int sync_source_size(int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISBLK(st.st_mode))
        return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
    if (!S_ISREG(st.st_mode))
        return -EINVAL;
    *size = (uint64_t)st.st_size;
    return 0;
}

/* One request/reply exchange on a fresh connection.  Returns the open
 * transport (for replies that continue) or NULL; *code is the receiver's
 * error code when it answered ERROR (0 otherwise). */
struct xport *sync_call(const struct sync_opts *o, uint8_t type, const uint8_t *p, long n,
                        uint8_t want, uint8_t **rb, size_t *cap, int *rlen, int *code,
                        uint32_t *busy_ms, char *err, size_t errlen)
{
    *code = 0;
    struct xport *x = xport_dial_role(o->to, o->tls, o->io_timeout_ms, "receiver", err, errlen);
    if (!x)
        return NULL;
    uint8_t t;
    int rc = frame_send(x, type, p, (uint32_t)n);
    if (rc < 0)
        snprintf(err, errlen, "send request: %s", strerror(-rc));
    else if ((rc = frame_recv(x, &t, rb, cap, FRAME_MAX_PAYLOAD, err, errlen)) >= 0 &&
             t == FRAME_ERROR)
        *code = sender_error_text(*rb, (size_t)rc, err, errlen), rc = -EPROTO;
    else if (rc >= 0 && t == FRAME_BUSY && busy_ms)
        *code = sender_busy_text(*rb, (size_t)rc, busy_ms, err, errlen), rc = -EBUSY;
    else if (rc >= 0 && t != want)
        snprintf(err, errlen, "unexpected reply type %u", t), rc = -EPROTO;
    if (rc < 0) {
        xport_free(x);
        return NULL;
    }
    *rlen = rc;
    return x;
}

/* Tells the caller's progress that the sync waits for capacity. */
static void sync_report_waiting(const struct sync_opts *o, uint32_t waiting)
{
    if (o->progress) {
        struct proto_progress p = {.waiting = waiting};
        o->progress(&p, 0, o->ud);
    }
}

/* sync_call with retries while the receiver is unreachable, and waits
 * (not counted as failures) while it is busy, up to the sync's deadline. */
static int sync_rpc(const struct sync_opts *o, uint8_t type, const uint8_t *p, long n, uint8_t want,
                    uint8_t **rb, size_t *cap, int *rlen, uint32_t *waits, char *err, size_t errlen)
{
    struct busywait bw;
    busywait_init(&bw, o->busy_deadline_ms);
    for (int attempt = 1;;) {
        int code;
        uint32_t busy_ms = 0;
        struct xport *x =
            sync_call(o, type, p, n, want, rb, cap, rlen, &code, &busy_ms, err, errlen);
        if (x) {
            xport_free(x);
            return 0;
        }
        if (code == PROTO_E_BUSY) {
            sync_report_waiting(o, 1);
            (*waits)++;
            int rc = busywait_sleep(&bw, busy_ms, o->cancel);
            if (rc < 0) {
                snprintf(err, errlen, "receiver busy for longer than %d s", o->busy_wait_ms / 1000);
                return rc;
            }
            continue;
        }
        if ((code && code != PROTO_E_IO) || attempt >= o->max_failures || (o->cancel && *o->cancel))
            return -EPROTO;
        wm_warn("repl.retry", "volume=%s attempt=%d reason=\"%s\"", o->volume, attempt, err);
        wm_sleep_ms(200 << (attempt < 4 ? attempt : 4));
        attempt++;
    }
}

static void map_path(const struct sync_opts *o, const char *suffix, char *out, size_t outlen)
{
    char to[256];
    snprintf(to, sizeof(to), "%s", o->to);
    for (char *c = to; *c; c++)
        if (*c == '/' || *c == ':')
            *c = '_';
    snprintf(out, outlen, "%s/%s@%s%s", o->state_dir, o->volume, to, suffix);
}

static int mkdir_p(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", dir);
    for (char *c = tmp + 1; *c; c++)
        if (*c == '/') {
            *c = '\0';
            mkdir(tmp, 0700);
            *c = '/';
        }
    return mkdir(tmp, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

/* Reads MAP_CHUNKs into m until MAP_END. */
static int sync_read_map(struct xport *x, struct blockmap *m, struct proto_map_end *end, char *err,
                         size_t errlen)
{
    uint8_t *rb = NULL, t;
    size_t cap = 0;
    uint64_t next = 0;
    int rc;
    while ((rc = frame_recv(x, &t, &rb, &cap, FRAME_MAX_PAYLOAD, err, errlen)) >= 0) {
        uint64_t first;
        uint32_t n;
        const uint8_t *d;
        if (t == FRAME_MAP_END) {
            rc = proto_map_end_decode(rb, (size_t)rc, end) < 0 || next != blockmap_nblocks(m)
                     ? -EPROTO
                     : 0;
            break;
        }
        if (t != FRAME_MAP_CHUNK || proto_map_chunk_decode(rb, (size_t)rc, &first, &n, &d) < 0 ||
            first != next || first + n > blockmap_nblocks(m)) {
            rc = t == FRAME_ERROR ? (sender_error_text(rb, (size_t)rc, err, errlen), -EPROTO)
                                  : -EPROTO;
            break;
        }
        for (uint32_t i = 0; i < n; i++)
            blockmap_set(m, first + i, (const struct repl_digest *)(d + (size_t)i * 16));
        next += n;
    }
    if (rc == -EPROTO && !err[0])
        snprintf(err, errlen, "malformed digest map from receiver");
    free(rb);
    return rc;
}

/* Fetches digests from the receiver (request type: MAP_REQ for the
 * committed map, PMAP_REQ for the pending generation as staged) into a new
 * map at tmp; it must be generation want_gen of lineage uuid. */
static struct blockmap *sync_fetch_digests(const struct sync_opts *o, uint8_t type,
                                           uint64_t want_gen, const uint8_t uuid[16],
                                           const char *tmp, char *err, size_t errlen)
{
    struct proto_map_req req = {0};
    snprintf(req.volume, sizeof(req.volume), "%s", o->volume);
    uint8_t buf[512], *rb = NULL;
    size_t cap = 0;
    int rlen, code;
    long n = proto_map_req_encode(&req, buf, sizeof(buf));
    struct xport *x =
        sync_call(o, type, buf, n, FRAME_MAP_INFO, &rb, &cap, &rlen, &code, NULL, err, errlen);
    struct proto_map_info info;
    struct blockmap *m = NULL;
    if (x && (proto_map_info_decode(rb, (size_t)rlen, &info) < 0 || info.gen != want_gen ||
              info.bs != o->bs || memcmp(info.uuid, uuid, 16) != 0)) {
        snprintf(err, errlen, "receiver's digest map is not generation %" PRIu64, want_gen);
    } else if (x && (m = blockmap_open(tmp, 1, info.bs, info.size, err, errlen))) {
        struct proto_map_end end;
        int rc = sync_read_map(x, m, &end, err, errlen);
        if (rc == 0)
            blockmap_set_gen(m, info.gen, info.uuid);
        if (rc < 0) {
            blockmap_free(m);
            m = NULL;
            unlink(tmp);
        }
    }
    free(rb);
    xport_free(x);
    return m;
}

/* Fetches the receiver's committed map into the agent's state. */
static struct blockmap *sync_fetch_map(const struct sync_opts *o, const struct proto_begin_ok *bo,
                                       char *err, size_t errlen)
{
    char path[4200], tmp[4300];
    map_path(o, ".map", path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    struct blockmap *m =
        sync_fetch_digests(o, FRAME_MAP_REQ, bo->committed_gen, bo->uuid, tmp, err, errlen);
    if (m)
        blockmap_seal(m);
    if (m && rename(tmp, path) < 0) {
        snprintf(err, errlen, "keep digest map %s: %s", path, strerror(errno));
        blockmap_free(m);
        unlink(tmp);
        return NULL;
    }
    return m;
}

/* Resumed: the receiver's digests of what it has staged, to check the
 * ranges checkpointed by an earlier run against the source (the agent's own
 * pending map cannot say what the receiver kept).  NULL when nothing was
 * checkpointed before (*needed = 0) or on failure (*needed = 1, err). */
static struct blockmap *sync_staged_map(const struct sync_opts *o, const struct proto_begin_ok *bo,
                                        int *needed, char *err, size_t errlen)
{
    *needed = 0;
    for (uint16_t i = 0; i < bo->nranges; i++)
        *needed |= bo->ranges[i].done > bo->ranges[i].start;
    if (!*needed)
        return NULL;
    char path[4200];
    map_path(o, ".staged.map", path, sizeof(path));
    for (int attempt = 1;; attempt++) {
        struct blockmap *m =
            sync_fetch_digests(o, FRAME_PMAP_REQ, bo->pending_gen, bo->uuid, path, err, errlen);
        unlink(path); /* only this run's mapping uses it */
        if (m || attempt >= o->max_failures || (o->cancel && *o->cancel))
            return m;
        wm_warn("repl.retry", "volume=%s attempt=%d reason=\"%s\"", o->volume, attempt, err);
        wm_sleep_ms(200 << (attempt < 4 ? attempt : 4));
    }
}

/* The committed map for a delta: the agent's own if it is the receiver's
 * committed generation, else the receiver's. */
static struct blockmap *sync_committed_map(const struct sync_opts *o,
                                           const struct proto_begin_ok *bo, int *fetched, char *err,
                                           size_t errlen)
{
    char path[4200];
    map_path(o, ".map", path, sizeof(path));
    struct blockmap *m = blockmap_open(path, 0, 0, 0, err, errlen);
    if (m && blockmap_gen(m) == bo->committed_gen && blockmap_bs(m) == o->bs &&
        blockmap_size(m) == bo->committed_size && memcmp(blockmap_uuid(m), bo->uuid, 16) == 0 &&
        blockmap_seal_ok(m))
        return m;
    blockmap_free(m);
    *fetched = 1;
    wm_info("repl.map_fetch", "volume=%s gen=%" PRIu64 " reason=%s", o->volume, bo->committed_gen,
            m ? "stale" : "missing");
    for (int attempt = 1;; attempt++) {
        if ((m = sync_fetch_map(o, bo, err, errlen)) || attempt >= o->max_failures ||
            (o->cancel && *o->cancel))
            return m;
        wm_warn("repl.retry", "volume=%s attempt=%d reason=\"%s\"", o->volume, attempt, err);
        wm_sleep_ms(200 << (attempt < 4 ? attempt : 4));
    }
}

/* The map being built for the pending generation; *partial when blocks
 * checkpointed by an earlier run are not in it. */
static struct blockmap *sync_pending_map(const struct sync_opts *o, const struct proto_begin_ok *bo,
                                         uint64_t size, int *partial, char *err, size_t errlen)
{
    char path[4200];
    map_path(o, ".pending.map", path, sizeof(path));
    struct blockmap *m = blockmap_open(path, 0, 0, 0, err, errlen);
    if (m && blockmap_gen(m) == bo->pending_gen && blockmap_bs(m) == o->bs &&
        blockmap_size(m) == size && memcmp(blockmap_uuid(m), bo->uuid, 16) == 0)
        return m;
    blockmap_free(m);
    *partial = 0;
    for (uint16_t i = 0; i < bo->nranges; i++)
        if (bo->ranges[i].done > bo->ranges[i].start)
            *partial = 1;
    if ((m = blockmap_open(path, 1, o->bs, size, err, errlen)))
        blockmap_set_gen(m, bo->pending_gen, bo->uuid);
    return m;
}

struct sync_run_ctx {
    const struct sync_opts *o;
    uint64_t size, start_ms, scanned0;
    struct sender_stream st[PROTO_MAX_RANGES];
    uint16_t n;
    struct sender_stats stats;
    uint64_t gen;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
};

static void sync_snapshot(struct sync_run_ctx *c, struct proto_progress *p)
{
    uint64_t scanned = 0;
    for (uint16_t i = 0; i < c->n; i++)
        scanned += atomic_load(&c->st[i].pos) - c->st[i].range.start;
    uint64_t ms = wm_mono_ms() - c->start_ms;
    *p = (struct proto_progress){.scanned = scanned,
                                 .sent = atomic_load(&c->stats.sent),
                                 .wire = atomic_load(&c->stats.wire),
                                 .total = c->size,
                                 .gen = c->gen,
                                 .waiting = (uint32_t)atomic_load(&c->stats.waiting)};
    p->rate = ms && scanned > c->scanned0 ? (scanned - c->scanned0) * 1000 / ms : 0;
    p->eta_s = p->rate ? (c->size - scanned) / p->rate : 0;
}

static void *sync_progress_thread(void *arg)
{
    struct sync_run_ctx *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->done) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += c->o->progress_ms / 1000;
        ts.tv_nsec += (long)(c->o->progress_ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000)
            ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        if (c->done)
            break;
        struct proto_progress p;
        sync_snapshot(c, &p);
        c->o->progress(&p, 0, c->o->ud);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Runs every range's stream on its own thread; 0 when all ranges are done. */
static int sync_streams(struct sync_run_ctx *c, struct sender_conf *conf, char *err, size_t errlen)
{
    pthread_t th[PROTO_MAX_RANGES], pt;
    uint16_t started = 0;
    int rc = 0, prog = c->o->progress != NULL;
    if (prog && pthread_create(&pt, NULL, sync_progress_thread, c) != 0)
        prog = 0;
    for (; started < c->n; started++)
        if (pthread_create(&th[started], NULL, sender_run, &c->st[started]) != 0)
            break;
    for (uint16_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_lock(&c->mu);
    c->done = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (prog)
        pthread_join(pt, NULL);
    for (uint16_t i = 0; i < c->n && rc == 0; i++)
        if (i >= started || c->st[i].rc < 0) {
            snprintf(err, errlen, "stream %u: %s", i, i >= started ? "no thread" : c->st[i].err);
            rc = i >= started ? -EAGAIN : c->st[i].rc;
        }
    (void)conf;
    return rc;
}

static int sync_begin(const struct sync_opts *o, uint64_t size, struct proto_begin_ok *bo,
                      uint32_t *waits, char *err, size_t errlen)
{
    struct proto_begin req = {
        .size = size, .bs = o->bs, .nranges = o->streams, .full = (uint8_t)o->full};
    snprintf(req.volume, sizeof(req.volume), "%s", o->volume);
    uint8_t buf[512], *rb = NULL;
    size_t cap = 0;
    int rlen;
    long n = proto_begin_encode(&req, buf, sizeof(buf));
    int rc = sync_rpc(o, FRAME_BEGIN, buf, n, FRAME_BEGIN_OK, &rb, &cap, &rlen, waits, err, errlen);
    if (rc == 0 && proto_begin_ok_decode(rb, (size_t)rlen, bo) < 0) {
        snprintf(err, errlen, "malformed begin reply");
        rc = -EPROTO;
    }
    free(rb);
    return rc;
}

static int sync_commit(const struct sync_opts *o, const struct proto_begin_ok *bo,
                       struct proto_gen *g, char *err, size_t errlen)
{
    struct proto_commit req = {.gen = bo->pending_gen, .epoch = bo->epoch};
    snprintf(req.volume, sizeof(req.volume), "%s", o->volume);
    uint8_t buf[512], *rb = NULL;
    size_t cap = 0;
    int rlen;
    long n = proto_commit_encode(&req, buf, sizeof(buf));
    struct sync_opts lo = *o;
    lo.io_timeout_ms = 0; /* applying a large delta may take a while */
    uint32_t waits = 0;   /* COMMIT is never answered BUSY */
    int rc =
        sync_rpc(&lo, FRAME_COMMIT, buf, n, FRAME_COMMIT_OK, &rb, &cap, &rlen, &waits, err, errlen);
    if (rc == 0 && (proto_gen_decode(rb, (size_t)rlen, g) < 0 || g->gen != bo->pending_gen)) {
        snprintf(err, errlen, "malformed commit reply");
        rc = -EPROTO;
    }
    free(rb);
    return rc;
}

/* After the commit: the pending map becomes the committed one, unless it
 * misses blocks (then both go, and the next delta fetches the receiver's). */
static void sync_keep_map(const struct sync_opts *o, struct blockmap *pm, const struct proto_gen *g,
                          int partial)
{
    char pend[4200], path[4200];
    map_path(o, ".pending.map", pend, sizeof(pend));
    map_path(o, ".map", path, sizeof(path));
    if (partial) {
        unlink(pend);
        unlink(path);
        return;
    }
    /* sealed, not msync'ed: a map a crash cut short fails its seal and the
     * next delta fetches the receiver's (a synchronous msync of the whole
     * map was the largest fixed cost of a small delta) */
    blockmap_set_gen(pm, g->gen, g->uuid);
    blockmap_seal(pm);
    unlink(path); /* renaming over it would make ext4 flush the new map now */
    rename(pend, path);
}

/* Under a tight --bwlimit, smaller frames: a frame then never waits for
 * its tokens much longer than ~1/4 s, far inside the receiver's io timeout. */
static uint32_t sync_batch_raw(const struct sync_opts *o)
{
    uint64_t per_stream = o->bwlimit / (o->streams ? o->streams : 1);
    if (!o->bwlimit || per_stream / 4 >= (1u << 20))
        return 0;
    return per_stream / 4 < 65536 ? 65536 : (uint32_t)(per_stream / 4);
}

static int sync_do(const struct sync_opts *o, int fd, uint64_t size, struct sync_result *res,
                   char *err, size_t errlen)
{
    struct proto_begin_ok bo;
    uint64_t t = (uint64_t)wm_mono_ms();
    int rc = sync_begin(o, size, &bo, &res->busy_waits, err, errlen);
    res->phase_ms[SYNC_PH_BEGIN] = (uint32_t)((uint64_t)wm_mono_ms() - t);
    if (rc < 0)
        return rc;
    t = (uint64_t)wm_mono_ms();
    res->mode = bo.mode;
    struct blockmap *cm = NULL, *pm = NULL, *sm = NULL;
    int partial = 0, recheck = 0;
    if (bo.mode == PROTO_MODE_DELTA &&
        !(cm = sync_committed_map(o, &bo, &res->fetched_map, err, errlen)))
        return -EIO;
    if (!(pm = sync_pending_map(o, &bo, size, &partial, err, errlen)) ||
        (!(sm = sync_staged_map(o, &bo, &recheck, err, errlen)) && recheck)) {
        blockmap_free(cm);
        blockmap_free(pm);
        return -EIO;
    }
    res->phase_ms[SYNC_PH_MAPS] = (uint32_t)((uint64_t)wm_mono_ms() - t);
    struct sync_run_ctx *c = calloc(1, sizeof(*c));
    struct ratelimit *rl = ratelimit_new(o->bwlimit);
    struct sender_conf conf = {.to = o->to,
                               .volume = o->volume,
                               .tls = o->tls,
                               .io_timeout_ms = o->io_timeout_ms,
                               .max_failures = o->max_failures,
                               .busy_deadline_ms = o->busy_deadline_ms,
                               .busy_wait_ms = o->busy_wait_ms,
                               .level = o->level,
                               .src_fd = fd,
                               .size = size,
                               .bs = o->bs,
                               .gen = bo.pending_gen,
                               .epoch = bo.epoch,
                               .cmap = cm,
                               .smap = sm,
                               .pmap = pm,
                               .rl = rl,
                               .cancel = o->cancel,
                               .batch_raw = sync_batch_raw(o)};
    rc = c ? 0 : -ENOMEM;
    if (c) {
        *c = (struct sync_run_ctx){
            .o = o, .size = size, .n = bo.nranges, .gen = bo.pending_gen, .start_ms = wm_mono_ms()};
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cv, NULL);
        conf.stats = &c->stats;
        for (uint16_t i = 0; i < c->n; i++) {
            c->st[i].c = &conf;
            c->st[i].idx = i;
            c->st[i].range = bo.ranges[i];
            atomic_store(&c->st[i].pos, bo.ranges[i].done);
            c->st[i].recheck_end = sm ? bo.ranges[i].done : 0;
            c->scanned0 += bo.ranges[i].done - bo.ranges[i].start;
            res->resumed |= bo.ranges[i].done > bo.ranges[i].start;
        }
        rc = sync_streams(c, &conf, err, errlen);
        res->recheck_read = atomic_load(&c->stats.recheck_read);
        res->recheck_sent = atomic_load(&c->stats.recheck_sent);
        res->busy_waits += atomic_load(&c->stats.busy_waits);
        res->recheck_ms = recheck ? (uint64_t)wm_mono_ms() - c->start_ms : 0;
        if (rc == 0 && recheck) /* the pending map now has every block */
            partial = 0;
        res->phase_ms[SYNC_PH_STREAMS] = (uint32_t)((uint64_t)wm_mono_ms() - c->start_ms);
    }
    struct proto_gen g;
    t = (uint64_t)wm_mono_ms();
    if (rc == 0 && o->no_commit) {
        res->gen = 0;
    } else if (rc == 0 && (rc = sync_commit(o, &bo, &g, err, errlen)) == 0) {
        res->phase_ms[SYNC_PH_COMMIT] = (uint32_t)((uint64_t)wm_mono_ms() - t);
        t = (uint64_t)wm_mono_ms();
        sync_keep_map(o, pm, &g, partial);
        res->phase_ms[SYNC_PH_KEEP] = (uint32_t)((uint64_t)wm_mono_ms() - t);
        res->gen = g.gen;
    }
    if (c) {
        sync_snapshot(c, &res->prog);
        res->prog.gen = bo.pending_gen;
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv);
    }
    free(c);
    ratelimit_free(rl);
    blockmap_free(cm);
    blockmap_free(sm);
    blockmap_free(pm);
    return rc;
}

int sync_run(const struct sync_opts *o, struct sync_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof(*res));
    err[0] = '\0';
    if (!proto_volume_valid(o->volume)) {
        snprintf(err, errlen, "invalid volume name '%s'", o->volume);
        return -EINVAL;
    }
    int fd = open(o->disk, O_RDONLY | O_CLOEXEC);
    uint64_t size = 0;
    int rc = fd < 0 ? -errno : sync_source_size(fd, &size);
    if (rc < 0) {
        snprintf(err, errlen, "source %s: %s", o->disk, strerror(-rc));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    struct sync_opts lo = *o;
    lo.busy_deadline_ms = busywait_deadline(o->busy_wait_ms);
    if ((rc = mkdir_p(o->state_dir)) < 0)
        snprintf(err, errlen, "state dir %s: %s", o->state_dir, strerror(-rc));
    else
        rc = sync_do(&lo, fd, size, res, err, errlen);
    close(fd);
    if (rc == 0 && o->progress)
        o->progress(&res->prog, 1, o->ud);
    return rc;
}
