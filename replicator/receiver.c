/* receiver — connections and the volume table (see receiver.h). */
#include "receiver.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
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
#include "log.h"
#include "metrics.h"
#include "proto.h"
#include "rvol.h"
#include "tls.h"
#include "xport.h"

#define REQ_MAX 65536
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
    struct wm_metric *m_conns_total, *m_bytes, *m_wire, *m_refused, *m_commits, *m_gen;
};

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
    if (!r->o.max_conns)
        r->o.max_conns = 256;
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
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* Volumes stay in the table once opened (their state is small); the table
 * serialises opening so one volume has one rvol. */
static struct rvol *receiver_vol(struct receiver *r, const char *name, char *err, size_t errlen)
{
    pthread_mutex_lock(&r->mu);
    struct rvol *v = r->vols;
    while (v && strcmp(v->name, name) != 0)
        v = v->next;
    if (!v && (v = rvol_open(r->root, name, err, errlen))) {
        v->next = r->vols;
        r->vols = v;
    }
    pthread_mutex_unlock(&r->mu);
    return v;
}

static void send_error(struct xport *x, uint32_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void send_error(struct xport *x, uint32_t code, const char *fmt, ...)
{
    struct proto_error e = {.code = code};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.text, sizeof(e.text), fmt, ap);
    va_end(ap);
    uint8_t buf[PROTO_TEXT_MAX + 16];
    long n = proto_error_encode(&e, buf, sizeof(buf));
    wm_warn("repl.refused", "peer=%s code=%u reason=\"%s\"", x->peer_name, code, e.text);
    if (n > 0)
        frame_send(x, FRAME_ERROR, buf, (uint32_t)n);
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
    struct rvol *v = receiver_vol(r, req.volume, err, sizeof(err));
    if (!v || rvol_begin(v, &req, &ok, err, sizeof(err)) < 0) {
        send_error(x, PROTO_E_IO, "%s", err);
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
    uint8_t *buf, *raw;
    size_t cap;
    ZSTD_DCtx *dctx;
};

static int stream_checkpoint(struct stream_ctx *s)
{
    char err[512];
    if (s->covered <= s->ckpt_at)
        return 0;
    int rc =
        rvol_checkpoint(s->v, s->req.epoch, s->req.idx, s->token, s->covered, err, sizeof(err));
    if (rc < 0 && rc != -ESTALE)
        wm_error("repl.checkpoint_failed", "volume=%s err=\"%s\"", s->v->name, err);
    s->ckpt_at = s->covered;
    s->bytes_since = 0;
    s->ckpt_ms = wm_mono_ms();
    return rc;
}

/* One BLOCKS frame: decode, decompress, verify every digest, then write.
 * Nothing of a refused frame reaches the staging file. */
static int stream_blocks(struct stream_ctx *s, const uint8_t *p, size_t len)
{
    char err[512];
    struct frame_bounds b = {s->v->st.pending_bs, s->v->st.pending_size, s->range.start,
                             s->range.end};
    struct frame_blocks fb;
    if (frame_blocks_decode(p, len, &b, s->covered, &fb, err, sizeof(err)) < 0 ||
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
        if (type == FRAME_BLOCKS)
            rc = stream_blocks(s, s->buf, (size_t)n);
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

static void handle_stream(struct receiver *r, struct xport *x, const uint8_t *p, size_t len)
{
    struct stream_ctx s = {.r = r, .x = x};
    char err[512];
    if (proto_stream_decode(p, len, &s.req) < 0 || !proto_volume_valid(s.req.volume)) {
        send_error(x, PROTO_E_INVALID, "invalid stream request or volume name '%.100s'",
                   s.req.volume);
        return;
    }
    if (!(s.v = receiver_vol(r, s.req.volume, err, sizeof(err)))) {
        send_error(x, PROTO_E_IO, "%s", err);
        return;
    }
    if (rvol_claim(s.v, s.req.gen, s.req.epoch, s.req.idx, &s.token, &s.range, err, sizeof(err)) <
        0) {
        send_error(x, PROTO_E_STALE, "%s", err);
        return;
    }
    s.covered = s.ckpt_at = s.range.done;
    s.ckpt_ms = wm_mono_ms();
    s.raw = malloc(FRAME_MAX_RAW);
    s.dctx = ZSTD_createDCtx();
    uint8_t buf[64];
    long n = proto_range_encode(&s.range, buf, sizeof(buf));
    if (s.raw && s.dctx && frame_send(x, FRAME_STREAM_OK, buf, (uint32_t)n) == 0)
        stream_loop(&s);
    stream_checkpoint(&s); /* whatever arrived intact is kept, even on a cut */
    rvol_release(s.v, s.req.idx, s.token);
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
    struct rvol *v = receiver_vol(r, req.volume, err, sizeof(err));
    int rc = v ? rvol_commit(v, &req, &ok, commit_reply, x, err, sizeof(err)) : -EIO;
    if (rc == 0) {
        const char *vol[] = {req.volume};
        wm_metric_add(r->m_commits, 1, vol);
        wm_metric_set(r->m_gen, (double)ok.gen, vol);
    }
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
    for (uint64_t i = 0; rc == 0 && i < blockmap_nblocks(map); i++)
        rc = map_add(m, blockmap_get(map, i));
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
    struct rvol *v = receiver_vol(r, req.volume, err, sizeof(err));
    if (!v) {
        send_error(x, PROTO_E_IO, "%s", err);
        return;
    }
    pthread_rwlock_rdlock(&v->img_lock);
    int rc = map_send(v, x, &req, err, sizeof(err));
    pthread_rwlock_unlock(&v->img_lock);
    if (rc < 0 && err[0])
        send_error(x, rc == -ENOENT ? PROTO_E_STATE : PROTO_E_IO, "%s", err);
}

void receiver_handle(struct receiver *r, struct xport *x)
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
    } else {
        send_error(x, PROTO_E_FRAME, "unexpected request frame type %u", type);
    }
    free(buf);
    xport_free(x);
}

struct conn_arg {
    struct receiver *r;
    int fd;
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
        receiver_handle(a.r, x);
    else
        wm_warn("repl.handshake_failed", "reason=\"%s\"", err);
    pthread_mutex_lock(&a.r->mu);
    a.r->nconns--;
    pthread_mutex_unlock(&a.r->mu);
    return NULL;
}

int receiver_serve(struct receiver *r, int listen_fd, volatile sig_atomic_t *stop)
{
    while (!*stop) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return -errno;
        }
        pthread_mutex_lock(&r->mu);
        int full = r->nconns >= r->o.max_conns;
        if (!full)
            r->nconns++;
        pthread_mutex_unlock(&r->mu);
        wm_metric_add(r->m_conns_total, 1, NULL);
        struct conn_arg *a = full ? NULL : malloc(sizeof(*a));
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (a) {
            *a = (struct conn_arg){r, fd};
            if (pthread_create(&t, &at, conn_thread, a) == 0)
                a = NULL, fd = -1;
        }
        pthread_attr_destroy(&at);
        if (fd >= 0) {
            wm_warn("repl.conn_refused", "reason=%s", full ? "too many connections" : "no thread");
            close(fd);
            free(a);
            if (!full) {
                pthread_mutex_lock(&r->mu);
                r->nconns--;
                pthread_mutex_unlock(&r->mu);
            }
        }
    }
    return 0;
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
