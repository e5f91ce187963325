/* receiver — connections and the volume table (see receiver.h). */
#include "receiver.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "clock.h"
#include "frame.h"
#include "guard.h"
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "rspace.h"
#include "rvol.h"
#include "tls.h"
#include "xport.h"

#define REQ_MAX 65536
/* opening one more volume closes every idle one past this many open */
#define RECEIVER_IDLE_VOLS 32
#define VOLUME_RULE                                                                                \
    "invalid volume name '%.100s': 1-100 characters of A-Z a-z 0-9 . _ -, not starting with . or " \
    "- "                                                                                           \
    "(names may not leave the receiver's root)"

struct receiver {
    struct receiver_opts o;
    char root[3072];
    pthread_mutex_t mu;
    struct rvol *vols;
    int nconns;
    struct guard *guard;
    struct admit *adm;
    struct wm_metric *m_conns_total, *m_bytes, *m_wire, *m_refused, *m_commits, *m_gen;
};

static void receiver_vols_trim(void *arg);

static void receiver_collect(struct wm_metrics *m, void *arg)
{
    struct receiver *r = arg;
    pthread_mutex_lock(&r->mu);
    int n = r->nconns;
    pthread_mutex_unlock(&r->mu);
    wm_metric_set(wm_metrics_gauge(m, "wm_repl_connections_open",
                                   "Replication connections being served", NULL),
                  n, NULL);
}

static void receiver_metrics(struct receiver *r, struct wm_metrics *m)
{
    if (!m)
        return;
    r->m_conns_total = wm_metrics_counter(m, "wm_repl_connections_total",
                                          "Replication connections accepted", NULL);
    r->m_bytes = wm_metrics_counter(m, "wm_repl_received_bytes_total",
                                    "Block bytes written to staging (uncompressed)", "volume");
    r->m_wire = wm_metrics_counter(m, "wm_repl_wire_bytes_total",
                                   "Block frame bytes received (compressed)", "volume");
    r->m_refused = wm_metrics_counter(m, "wm_repl_frames_refused_total",
                                      "Frames refused (bad framing, digest mismatch)", NULL);
    r->m_commits = wm_metrics_counter(m, "wm_repl_commits_total",
                                      "Generations committed", "volume");
    r->m_gen = wm_metrics_gauge(m, "wm_repl_committed_generation",
                                "Last committed generation", "volume");
    wm_metrics_on_scrape(m, receiver_collect, r);
}

struct receiver *receiver_new(const struct receiver_opts *o, char *err, size_t errlen)
{
    struct stat sb;
    if (stat(o->root, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "root %s is not a directory", o->root);
        return NULL;
    }
    struct receiver *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->o = *o;
    snprintf(r->root, sizeof(r->root), "%s", o->root);
    r->o.root = r->root;
    if (!r->o.ckpt_bytes)
        r->o.ckpt_bytes = 64u << 20;
    if (!r->o.ckpt_ms)
        r->o.ckpt_ms = 2000;
    if (!(r->adm = admit_new(&o->capacity, err, errlen))) {
        free(r);
        return NULL;
    }
    struct admit_stats cap;
    admit_get_stats(r->adm, &cap);
    if (!r->o.max_conns) /* room for every admitted stream plus BUSY answers */
        r->o.max_conns = 2 * cap.streams_cap + 64 > 256 ? 2 * cap.streams_cap + 64 : 256;
    if (!r->o.max_volume)
        r->o.max_volume = RSPACE_DEFAULT_MAX;
    if (!r->o.vol_idle_ms)
        r->o.vol_idle_ms = 30000;
    struct guard_opts go = {.name = "receiver",
                            .max_conns = r->o.max_conns,
                            .max_startups = r->o.max_startups,
                            .max_per_peer = r->o.max_per_peer,
                            .grace_ms = r->o.grace_ms,
                            .on_tick = receiver_vols_trim,
                            .tick_arg = r};
    if (!(r->guard = guard_new(&go))) {
        admit_free(r->adm);
        free(r);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    receiver_metrics(r, o->metrics);
    return r;
}

void receiver_free(struct receiver *r)
{
    if (!r)
        return;
    while (r->vols) {
        struct rvol *v = r->vols;
        r->vols = v->next;
        rvol_free(v);
    }
    guard_free(r->guard);
    admit_free(r->adm);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* The table serialises opening so one volume has one rvol; a caller holds a
 * reference (v->refs, under r->mu) until receiver_vol_put.  A volume no
 * one holds keeps its files open for vol_idle_ms, so the streams of one
 * sync do not reopen them, then receiver_vols_trim closes it: the daemon's
 * descriptors are bounded by the volumes in use, not by those ever seen. */
/* Closes volumes no one holds that have been idle for vol_idle_ms, or all
 * of them when force.  Caller holds r->mu. */
static int vols_trim_locked(struct receiver *r, bool force)
{
    uint64_t now = (uint64_t)wm_mono_ms();
    int open = 0;
    for (struct rvol **pp = &r->vols; *pp;) {
        struct rvol *v = *pp;
        if (v->refs == 0 && (force || now - v->idle_since_ms >= (uint64_t)r->o.vol_idle_ms)) {
            *pp = v->next;
            rvol_free(v); /* state is on disk; the next use reopens it */
        } else {
            pp = &v->next;
            open++;
        }
    }
    return open;
}

static struct rvol *receiver_vol(struct receiver *r, const char *name, char *err, size_t errlen)
{
    pthread_mutex_lock(&r->mu);
    struct rvol *v = r->vols;
    int open = 0;
    while (v && strcmp(v->name, name) != 0)
        v = v->next, open++;
    if (!v && open >= RECEIVER_IDLE_VOLS)
        vols_trim_locked(r, true);
    if (!v && (v = rvol_open(r->root, name, err, errlen))) {
        v->next = r->vols;
        r->vols = v;
    }
    if (v)
        v->refs++;
    pthread_mutex_unlock(&r->mu);
    return v;
}

static void receiver_vol_put(struct receiver *r, struct rvol *v)
{
    if (!v)
        return;
    pthread_mutex_lock(&r->mu);
    v->refs--;
    v->idle_since_ms = (uint64_t)wm_mono_ms();
    pthread_mutex_unlock(&r->mu);
}

static void receiver_vols_trim(void *arg)
{
    struct receiver *r = arg;
    pthread_mutex_lock(&r->mu);
    vols_trim_locked(r, false);
    pthread_mutex_unlock(&r->mu);
}

int receiver_open_volumes(struct receiver *r)
{
    int n = 0;
    pthread_mutex_lock(&r->mu);
    for (struct rvol *v = r->vols; v; v = v->next)
        n++;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void send_error(struct xport *x, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The reply names files by their name only: the receiver's directories
 * (its root) are none of the peer's business.  Every "/dir/.../name" in
 * text becomes "name"; the log line keeps the full text. */
static void hide_dirs(const char *text, char *out, size_t cap)
{
    size_t o = 0;
    for (const char *p = text; *p && o + 1 < cap;) {
        bool starts = *p == '/' && (p == text || p[-1] == ' ' || p[-1] == '\'' || p[-1] == '(');
        if (!starts) {
            out[o++] = *p++;
            continue;
        }
        const char *end = p + strcspn(p, " :'),"), *base = p;
        for (const char *q = p; q < end; q++)
            if (*q == '/')
                base = q + 1;
        p = base;
    }
    out[o] = '\0';
}

static void send_error(struct xport *x, uint32_t code, const char *fmt, ...)
{
    struct proto_error e = {.code = code};
    char text[PROTO_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    hide_dirs(text, e.text, sizeof(e.text));
    uint8_t buf[PROTO_TEXT_MAX + 16];
    long n = proto_error_encode(&e, buf, sizeof(buf));
    wm_warn("repl.refused", "peer=%s code=%u reason=\"%s\"", x->peer_name, code, text);
    if (n > 0)
        frame_send(x, FRAME_ERROR, buf, (uint32_t)n);
}

/* Size and free-space bounds before anything is staged (rspace.h); the mode
 * is the one rvol_begin will pick. */
static int begin_space(struct receiver *r, struct rvol *v, const struct proto_begin *req, char *err,
                       size_t errlen)
{
    pthread_mutex_lock(&v->mu);
    int full = req->full || v->st.committed_gen == 0 || v->st.committed_bs != req->bs;
    pthread_mutex_unlock(&v->mu);
    return rspace_check(v, req->size, req->bs, full, r->o.max_volume, err, errlen);
}

/* One identity per source: an agent certificate bound to volumes (pki.h)
 * may write, read the map of and verify only those; an unbound one only
 * when the receiver does not require bindings.  Refused with PROTO_E_AUTH. */
static bool volume_allowed(struct receiver *r, struct xport *x, const char *volume)
{
    bool bound_ok = x->peer_volumes > 0 || !r->o.require_bound || !r->o.tls;
    if (bound_ok && xport_may_volume(x, volume))
        return true;
    if (!bound_ok)
        send_error(x, PROTO_E_AUTH,
                   "certificate '%s' is not bound to any volume (issue it with --server "
                   "and --volume)",
                   x->peer_name);
    else
        send_error(x, PROTO_E_AUTH, "certificate '%s'%s%s may not touch volume '%s'", x->peer_name,
                   x->peer_server[0] ? " of server " : "", x->peer_server, volume);
    return false;
}

static void handle_begin(struct receiver *r, struct xport *x, const uint8_t *p, size_t len)
{
    struct proto_begin req;
    struct proto_begin_ok ok;
    char err[512];
    if (proto_begin_decode(p, len, &req) < 0 || req.bs < 512 || req.bs > (1u << 20) ||
        (req.bs & (req.bs - 1)) || req.nranges == 0 || req.nranges > PROTO_MAX_RANGES) {
        send_error(x, PROTO_E_INVALID, "invalid begin request (block size or streams)");
        return;
    }
    if (!proto_volume_valid(req.volume)) {
        send_error(x, PROTO_E_INVALID, VOLUME_RULE, req.volume);
        return;
    }
    if (!volume_allowed(r, x, req.volume))
        return;
    /* staging of a full sync: image + map; of a delta: a journal per range */
    int retry_ms, files = req.nranges > 2 ? req.nranges : 2;
    pthread_mutex_lock(&r->mu);
    int conns = r->nconns;
    pthread_mutex_unlock(&r->mu);
    if (admit_begin(r->adm, files, conns, r->o.max_conns, &retry_ms) < 0) {
        admit_send_busy(x, retry_ms, "open files");
        return;
    }
    struct rvol *v = receiver_vol(r, req.volume, err, sizeof(err));
    int rc = v ? begin_space(r, v, &req, err, sizeof(err)) : -EIO;
    if (rc == 0)
        rc = rvol_begin(v, &req, &ok, err, sizeof(err));
    receiver_vol_put(r, v);
    admit_begin_end(r->adm, files);
    if (rc < 0) {
        send_error(x, rc == -EFBIG ? PROTO_E_INVALID : PROTO_E_IO, "%s", err);
        return;
    }
    uint8_t buf[4096];
    long n = proto_begin_ok_encode(&ok, buf, sizeof(buf));
    if (n > 0)
        frame_send(x, FRAME_BEGIN_OK, buf, (uint32_t)n);
}

struct stream_ctx {
    struct receiver *r;
    struct xport *x;
    struct rvol *v;
    struct proto_stream req;
    struct proto_range range;
    uint64_t token, covered, ckpt_at, bytes_since, ckpt_ms;
    uint64_t claimed_done, repair_covered; /* REPAIR frames: [range.start, claimed_done) */
    int repaired;                          /* repaired blocks not yet checkpointed */
    uint8_t *buf, *raw;
    size_t cap;
    ZSTD_DCtx *dctx;
};

static int stream_checkpoint(struct stream_ctx *s)
{
    char err[512];
    if (s->covered <= s->ckpt_at && !s->repaired)
        return 0;
    int rc =
        rvol_checkpoint(s->v, s->req.epoch, s->req.idx, s->token, s->covered, err, sizeof(err));
    if (rc < 0 && rc != -ESTALE)
        wm_error("repl.checkpoint_failed", "volume=%s err=\"%s\"", s->v->name, err);
    s->ckpt_at = s->covered;
    s->repaired = 0;
    s->bytes_since = 0;
    s->ckpt_ms = wm_mono_ms();
    return rc;
}

/* One BLOCKS (or REPAIR) frame: decode, decompress, verify every digest,
 * then write.  Nothing of a refused frame reaches the staging file.  REPAIR
 * frames re-send blocks below the checkpoint this connection resumed from
 * (a resumed sync found them changed at the source); they come before any
 * BLOCKS frame, so a checkpoint that moves the range on also covers them. */
static int stream_blocks(struct stream_ctx *s, int repair, const uint8_t *p, size_t len)
{
    char err[512];
    struct frame_bounds b = {s->v->st.pending_bs, s->v->st.pending_size, s->range.start,
                             repair ? s->claimed_done : s->range.end};
    struct frame_blocks fb;
    if (repair && s->covered != s->claimed_done) {
        send_error(s->x, PROTO_E_FRAME, "repair frame after the range moved on");
        return -EBADMSG;
    }
    if (frame_blocks_decode(p, len, &b, repair ? s->repair_covered : s->covered, &fb, err,
                            sizeof(err)) < 0 ||
        frame_blocks_verify(&fb, s->dctx, s->raw, FRAME_MAX_RAW, err, sizeof(err)) < 0) {
        send_error(s->x, PROTO_E_FRAME, "frame refused: %s", err);
        wm_metric_add(s->r->m_refused, 1, NULL);
        return -EBADMSG;
    }
    int rc = rvol_write(s->v, s->req.epoch, s->req.idx, s->token, &fb, s->raw, err, sizeof(err));
    if (rc < 0) {
        send_error(s->x, rc == -ESTALE ? PROTO_E_STALE : PROTO_E_IO, "%s", err);
        return rc;
    }
    const char *vol[] = {s->v->name};
    wm_metric_add(s->r->m_bytes, (double)fb.raw_len, vol);
    wm_metric_add(s->r->m_wire, (double)len, vol);
    if (repair) {
        s->repair_covered = fb.covered_end;
        s->repaired |= fb.nentries > 0;
        return 0;
    }
    s->bytes_since += fb.raw_len + (fb.covered_end - s->covered) / 64;
    s->covered = fb.covered_end;
    if (s->bytes_since >= s->r->o.ckpt_bytes || wm_mono_ms() - s->ckpt_ms >= (uint64_t)s->r->o.ckpt_ms)
        return stream_checkpoint(s) == -ESTALE ? -ESTALE : 0;
    return 0;
}

static int stream_range_done(struct stream_ctx *s, const uint8_t *p, size_t len)
{
    struct proto_range rg;
    if (proto_range_decode(p, len, &rg) < 0 || rg.done != s->range.end ||
        s->covered != s->range.end) {
        send_error(s->x, PROTO_E_FRAME, "range done before all its blocks were sent");
        return -EBADMSG;
    }
    int rc = stream_checkpoint(s);
    if (rc < 0) {
        send_error(s->x, rc == -ESTALE ? PROTO_E_STALE : PROTO_E_IO, "checkpoint failed");
        return rc;
    }
    rg = s->range;
    rg.done = s->covered;
    uint8_t buf[64];
    long n = proto_range_encode(&rg, buf, sizeof(buf));
    frame_send(s->x, FRAME_RANGE_OK, buf, (uint32_t)n);
    return 1;
}

static void stream_loop(struct stream_ctx *s)
{
    char err[512];
    for (;;) {
        uint8_t type;
        int n = frame_recv(s->x, &type, &s->buf, &s->cap, FRAME_MAX_PAYLOAD, err, sizeof(err));
        if (n < 0) {
            if (n == -EMSGSIZE || n == -EPROTO)
                send_error(s->x, PROTO_E_FRAME, "frame refused: %s", err);
            else
                wm_info("repl.stream_closed", "volume=%s range=%u reason=\"%s\"", s->v->name,
                        s->req.idx, err);
            return;
        }
        int rc;
        if (type == FRAME_BLOCKS || type == FRAME_REPAIR)
            rc = stream_blocks(s, type == FRAME_REPAIR, s->buf, (size_t)n);
        else if (type == FRAME_RANGE_DONE)
            rc = stream_range_done(s, s->buf, (size_t)n);
        else {
            send_error(s->x, PROTO_E_FRAME, "unexpected frame type %u in a stream", type);
            rc = -EPROTO;
        }
        if (rc != 0)
            return;
    }
}

static void stream_serve(struct receiver *r, struct xport *x, const uint8_t *p, size_t len);

/* A data stream takes a slot of the receiver's capacity while it runs. */
static void handle_stream(struct receiver *r, struct xport *x, const uint8_t *p, size_t len)
{
    int retry_ms;
    if (admit_stream(r->adm, &retry_ms) < 0) {
        admit_send_busy(x, retry_ms, "streams");
        return;
    }
    stream_serve(r, x, p, len);
    admit_stream_end(r->adm);
}

static void stream_serve(struct receiver *r, struct xport *x, const uint8_t *p, size_t len)
{
    struct stream_ctx s = {.r = r, .x = x};
    char err[512];
    if (proto_stream_decode(p, len, &s.req) < 0 || !proto_volume_valid(s.req.volume)) {
        send_error(x, PROTO_E_INVALID, "invalid stream request or volume name '%.100s'",
                   s.req.volume);
        return;
    }
    if (!volume_allowed(r, x, s.req.volume))
        return;
    if (!(s.v = receiver_vol(r, s.req.volume, err, sizeof(err)))) {
        send_error(x, PROTO_E_IO, "%s", err);
        return;
    }
    if (rvol_claim(s.v, s.req.gen, s.req.epoch, s.req.idx, &s.token, &s.range, err, sizeof(err)) <
        0) {
        send_error(x, PROTO_E_STALE, "%s", err);
        receiver_vol_put(r, s.v);
        return;
    }
    s.covered = s.ckpt_at = s.claimed_done = s.range.done;
    s.repair_covered = s.range.start;
    s.ckpt_ms = wm_mono_ms();
    s.raw = malloc(FRAME_MAX_RAW);
    s.dctx = ZSTD_createDCtx();
    uint8_t buf[64];
    long n = proto_range_encode(&s.range, buf, sizeof(buf));
    if (s.raw && s.dctx && frame_send(x, FRAME_STREAM_OK, buf, (uint32_t)n) == 0)
        stream_loop(&s);
    stream_checkpoint(&s); /* whatever arrived intact is kept, even on a cut */
    rvol_release(s.v, s.req.idx, s.token);
    receiver_vol_put(r, s.v);
    free(s.raw);
    free(s.buf);
    ZSTD_freeDCtx(s.dctx);
}

static void commit_reply(void *arg, const struct proto_gen *g)
{
    uint8_t buf[64];
    long n = proto_gen_encode(g, buf, sizeof(buf));
    frame_send(arg, FRAME_COMMIT_OK, buf, (uint32_t)n);
}

static void handle_commit(struct receiver *r, struct xport *x, const uint8_t *p, size_t len)
{
    struct proto_commit req;
    struct proto_gen ok;
    char err[512];
    if (proto_commit_decode(p, len, &req) < 0 || !proto_volume_valid(req.volume)) {
        send_error(x, PROTO_E_INVALID, "invalid commit request or volume name '%.100s'",
                   req.volume);
        return;
    }
    if (!volume_allowed(r, x, req.volume))
        return;
    struct rvol *v = receiver_vol(r, req.volume, err, sizeof(err));
    int rc = v ? rvol_commit(v, &req, &ok, commit_reply, x, err, sizeof(err)) : -EIO;
    if (rc == 0) {
        const char *vol[] = {req.volume};
        wm_metric_add(r->m_commits, 1, vol);
        wm_metric_set(r->m_gen, (double)ok.gen, vol);
    }
    receiver_vol_put(r, v);
    if (rc < 0)
        send_error(x,
                   rc == -ESTALE   ? PROTO_E_STALE
                   : rc == -EAGAIN ? PROTO_E_STATE
                                   : PROTO_E_IO,
                   "%s", err);
}

/* MAP_CHUNK batching of digests for map/verify replies. */
struct map_out {
    struct xport *x;
    uint8_t *buf;
    uint64_t first;
    uint32_t n;
};

static int map_flush(struct map_out *m)
{
    if (m->n == 0)
        return 0;
    uint8_t *p = m->buf;
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(m->first >> (8 * i));
    for (int i = 0; i < 4; i++)
        p[8 + i] = (uint8_t)(m->n >> (8 * i));
    int rc = frame_send(m->x, FRAME_MAP_CHUNK, p, 12 + m->n * 16);
    m->first += m->n;
    m->n = 0;
    return rc;
}

static int map_add(struct map_out *m, const struct repl_digest *d)
{
    memcpy(m->buf + 12 + (size_t)m->n * 16, d->b, 16);
    if (++m->n == PROTO_MAP_CHUNK)
        return map_flush(m);
    return 0;
}

static int map_from_blockmap(struct map_out *m, const struct blockmap *map)
{
    int rc = 0;
    for (uint64_t i = 0; rc == 0 && i < blockmap_nblocks(map); i++)
        rc = map_add(m, blockmap_get(map, i));
    return rc;
}

static int map_from_file(struct rvol *v, struct map_out *m, uint64_t gen, char *err, size_t errlen)
{
    char p[4200];
    rvol_path(v, ".map", p, sizeof(p));
    struct blockmap *map = blockmap_open(p, 0, 0, 0, err, errlen);
    if (!map)
        return -EIO;
    int rc = 0;
    if (blockmap_gen(map) != gen) {
        snprintf(err, errlen, "digest map of %s is not at generation %" PRIu64, v->name, gen);
        rc = -EIO;
    }
    if (rc == 0)
        rc = map_from_blockmap(m, map);
    blockmap_free(map);
    return rc;
}

/* Re-reads the committed image: digests (and SHA-256) of what is on disk. */
static int map_from_image(struct rvol *v, struct map_out *m, uint64_t size, uint32_t bs,
                          EVP_MD_CTX *sha, char *err, size_t errlen)
{
    char p[4200];
    rvol_path(v, ".img", p, sizeof(p));
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    size_t chunk = (size_t)8 << 20;
    uint8_t *buf = malloc(chunk);
    int rc = fd < 0 || !buf ? -EIO : 0;
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (uint64_t off = 0; rc == 0 && off < size;) {
        size_t n = size - off < chunk ? (size_t)(size - off) : chunk;
        if (pread(fd, buf, n, (off_t)off) != (ssize_t)n) {
            rc = -EIO;
            break;
        }
        if (sha)
            EVP_DigestUpdate(sha, buf, n);
        for (size_t b = 0; rc == 0 && b < n; b += bs) {
            struct repl_digest d;
            blockmap_digest(buf + b, n - b < bs ? n - b : bs, &d);
            rc = map_add(m, &d);
        }
        off += n;
    }
    if (rc == -EIO)
        snprintf(err, errlen, "read image %.300s: %s", p, strerror(errno));
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

static int map_send(struct rvol *v, struct xport *x, const struct proto_map_req *req, char *err,
                    size_t errlen)
{
    pthread_mutex_lock(&v->mu);
    struct proto_map_info info = {
        .gen = v->st.committed_gen, .size = v->st.committed_size, .bs = v->st.committed_bs};
    memcpy(info.uuid, v->st.uuid, 16);
    pthread_mutex_unlock(&v->mu);
    if (info.gen == 0) {
        snprintf(err, errlen, "volume %s has no committed generation", v->name);
        return -ENOENT;
    }
    info.nblocks = blockmap_count(info.size, info.bs);
    uint8_t hdr[128];
    long n = proto_map_info_encode(&info, hdr, sizeof(hdr));
    struct map_out m = {.x = x, .buf = malloc(12 + (size_t)PROTO_MAP_CHUNK * 16)};
    EVP_MD_CTX *sha = req->sha256 ? EVP_MD_CTX_new() : NULL;
    if (sha)
        EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
    int rc = m.buf ? frame_send(x, FRAME_MAP_INFO, hdr, (uint32_t)n) : -ENOMEM;
    if (rc == 0)
        rc = req->rehash ? map_from_image(v, &m, info.size, info.bs, sha, err, errlen)
                         : map_from_file(v, &m, info.gen, err, errlen);
    if (rc == 0)
        rc = map_flush(&m);
    struct proto_map_end end = {.has_sha = sha != NULL};
    if (sha)
        EVP_DigestFinal_ex(sha, end.sha, NULL);
    if (rc == 0 && (n = proto_map_end_encode(&end, hdr, sizeof(hdr))) > 0)
        rc = frame_send(x, FRAME_MAP_END, hdr, (uint32_t)n);
    EVP_MD_CTX_free(sha);
    free(m.buf);
    return rc;
}

static void handle_map(struct receiver *r, struct xport *x, const uint8_t *p, size_t len)
{
    struct proto_map_req req;
    char err[512] = "";
    if (proto_map_req_decode(p, len, &req) < 0 || !proto_volume_valid(req.volume)) {
        send_error(x, PROTO_E_INVALID, "invalid map request or volume name '%.100s'", req.volume);
        return;
    }
    if (!volume_allowed(r, x, req.volume))
        return;
    struct rvol *v = receiver_vol(r, req.volume, err, sizeof(err));
    if (!v) {
        send_error(x, PROTO_E_IO, "%s", err);
        return;
    }
    pthread_rwlock_rdlock(&v->img_lock);
    int rc = map_send(v, x, &req, err, sizeof(err));
    pthread_rwlock_unlock(&v->img_lock);
    receiver_vol_put(r, v);
    if (rc < 0 && err[0])
        send_error(x, rc == -ENOENT ? PROTO_E_STATE : PROTO_E_IO, "%s", err);
}

static void receiver_handle_slot(struct receiver *r, struct xport *x, int slot);

/* PMAP_REQ: the pending generation's digests as staged, for a resumed
 * sync to check the source against (MAP_INFO, MAP_CHUNK..., MAP_END). */
static void handle_pending_map(struct receiver *r, struct xport *x, const uint8_t *p, size_t len)
{
    struct proto_map_req req;
    struct proto_map_info info;
    struct blockmap *map = NULL;
    char err[512] = "";
    if (proto_map_req_decode(p, len, &req) < 0 || !proto_volume_valid(req.volume)) {
        send_error(x, PROTO_E_INVALID, "invalid map request or volume name '%.100s'", req.volume);
        return;
    }
    if (!volume_allowed(r, x, req.volume))
        return;
    struct rvol *v = receiver_vol(r, req.volume, err, sizeof(err));
    int rc = v ? rvol_pending_digests(v, &info, &map, err, sizeof(err)) : -EIO;
    receiver_vol_put(r, v);
    if (rc < 0) {
        send_error(x, rc == -ENOENT ? PROTO_E_STATE : PROTO_E_IO, "%s", err);
        return;
    }
    uint8_t hdr[128];
    long n = proto_map_info_encode(&info, hdr, sizeof(hdr));
    struct map_out m = {.x = x, .buf = malloc(12 + (size_t)PROTO_MAP_CHUNK * 16)};
    struct proto_map_end end = {0};
    rc = m.buf ? frame_send(x, FRAME_MAP_INFO, hdr, (uint32_t)n) : -ENOMEM;
    if (rc == 0 && (rc = map_from_blockmap(&m, map)) == 0)
        rc = map_flush(&m);
    if (rc == 0 && (n = proto_map_end_encode(&end, hdr, sizeof(hdr))) > 0)
        frame_send(x, FRAME_MAP_END, hdr, (uint32_t)n);
    free(m.buf);
    blockmap_free(map);
}

void receiver_handle(struct receiver *r, struct xport *x)
{
    receiver_handle_slot(r, x, -1);
}

/* slot: the connection's guard slot; its deadline ends with the first
 * request read. */
static void receiver_handle_slot(struct receiver *r, struct xport *x, int slot)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    uint8_t type;
    char err[512];
    if (r->o.tls && strcmp(x->peer_role, "agent") != 0) {
        send_error(x, PROTO_E_AUTH, "certificate role '%s' may not send volumes", x->peer_role);
        xport_free(x);
        return;
    }
    int n = frame_recv(x, &type, &buf, &cap, REQ_MAX, err, sizeof(err));
    guard_authed(r->guard, slot);
    if (n < 0) {
        if (n != -ENODATA)
            send_error(x, PROTO_E_FRAME, "request refused: %s", err);
    } else if (type == FRAME_BEGIN) {
        handle_begin(r, x, buf, (size_t)n);
    } else if (type == FRAME_STREAM) {
        handle_stream(r, x, buf, (size_t)n);
    } else if (type == FRAME_COMMIT) {
        handle_commit(r, x, buf, (size_t)n);
    } else if (type == FRAME_MAP_REQ) {
        handle_map(r, x, buf, (size_t)n);
    } else if (type == FRAME_PMAP_REQ) {
        handle_pending_map(r, x, buf, (size_t)n);
    } else {
        send_error(x, PROTO_E_FRAME, "unexpected request frame type %u", type);
    }
    free(buf);
    xport_free(x);
}

struct conn_arg {
    struct receiver *r;
    int fd, slot;
};

static void *conn_thread(void *p)
{
    struct conn_arg a = *(struct conn_arg *)p;
    free(p);
    char err[512];
    struct timeval tv = {a.r->o.io_timeout_ms / 1000, (a.r->o.io_timeout_ms % 1000) * 1000};
    setsockopt(a.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(a.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct xport *x = xport_accept(a.fd, a.r->o.tls, err, sizeof(err));
    if (x)
        receiver_handle_slot(a.r, x, a.slot);
    else
        guard_log_limited(a.r->guard, "repl.handshake_failed", "reason=\"%s\"", err);
    guard_leave(a.r->guard, a.slot);
    pthread_mutex_lock(&a.r->mu);
    a.r->nconns--;
    pthread_mutex_unlock(&a.r->mu);
    return NULL;
}

/* At the connection cap, leaves new connections in the listen backlog
 * (they wait there at no cost) until one ends. */
static void receiver_wait_conn_slot(struct receiver *r, volatile sig_atomic_t *stop)
{
    pthread_mutex_lock(&r->mu);
    while (r->nconns >= r->o.max_conns && !*stop) {
        pthread_mutex_unlock(&r->mu);
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&r->mu);
    }
    pthread_mutex_unlock(&r->mu);
}

/* A thread for an admitted connection; false (nothing started) if none. */
static bool conn_start(struct receiver *r, int fd, int slot)
{
    struct conn_arg *a = malloc(sizeof(*a));
    if (!a)
        return false;
    *a = (struct conn_arg){r, fd, slot};
    pthread_mutex_lock(&r->mu);
    r->nconns++;
    pthread_mutex_unlock(&r->mu);
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &at, conn_thread, a);
    pthread_attr_destroy(&at);
    if (rc == 0)
        return true;
    pthread_mutex_lock(&r->mu);
    r->nconns--;
    pthread_mutex_unlock(&r->mu);
    free(a);
    return false;
}

int receiver_serve(struct receiver *r, int listen_fd, volatile sig_atomic_t *stop)
{
    for (;;) {
        receiver_wait_conn_slot(r, stop); /* at the cap, the backlog waits */
        struct sockaddr_storage peer;
        int fd = guard_accept(r->guard, listen_fd, stop, &peer);
        if (fd == -EINTR)
            return 0;
        if (fd < 0)
            return fd;
        int slot = guard_admit(r->guard, fd, &peer);
        if (slot >= 0 && conn_start(r, fd, slot)) {
            wm_metric_add(r->m_conns_total, 1, NULL);
            continue;
        }
        if (slot >= 0) {
            guard_leave(r->guard, slot);
            guard_log_limited(r->guard, "repl.conn_refused", "reason=\"no thread\"");
        }
        close(fd);
    }
}

void receiver_load(struct receiver *r, struct admit_stats *out)
{
    admit_get_stats(r->adm, out);
}

int receiver_drain(struct receiver *r, int timeout_ms)
{
    for (int waited = 0;; waited += 20) {
        pthread_mutex_lock(&r->mu);
        int n = r->nconns;
        pthread_mutex_unlock(&r->mu);
        if (n == 0)
            return 0;
        if (waited >= timeout_ms)
            return -ETIMEDOUT;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}
