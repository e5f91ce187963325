/* sender — one stream of a sync (see sender.h). */
#include "sender.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "busywait.h"
#include "clock.h"
#include "frame.h"
#include "log.h"
#include "ratelimit.h"
#include "scan.h"
#include "xport.h"

int sender_error_text(const uint8_t *p, size_t len, char *err, size_t errlen)
{
    struct proto_error e;
    if (proto_error_decode(p, len, &e) < 0) {
        snprintf(err, errlen, "receiver sent a malformed error");
        return PROTO_E_FRAME;
    }
    snprintf(err, errlen, "receiver: %.480s", e.text);
    return (int)e.code;
}

int sender_busy_text(const uint8_t *p, size_t len, uint32_t *retry_ms, char *err, size_t errlen)
{
    struct proto_busy b;
    if (proto_busy_decode(p, len, &b) < 0) {
        snprintf(err, errlen, "receiver sent a malformed busy answer");
        return PROTO_E_FRAME;
    }
    snprintf(err, errlen, "receiver: %.480s", b.text);
    *retry_ms = b.retry_ms;
    return PROTO_E_BUSY;
}

/* Connects and claims the range; fills s->range with the checkpoint.
 * *busy_ms > 0 when the receiver answered BUSY. */
static struct xport *stream_open(struct sender_stream *s, int *fatal, uint32_t *busy_ms)
{
    const struct sender_conf *c = s->c;
    struct xport *x =
        xport_dial_role(c->to, c->tls, c->io_timeout_ms, "receiver", s->err, sizeof(s->err));
    if (!x)
        return NULL;
    struct proto_stream req = {.gen = c->gen, .epoch = c->epoch, .idx = s->idx};
    snprintf(req.volume, sizeof(req.volume), "%s", c->volume);
    uint8_t buf[512], *rb = NULL, type;
    size_t cap = 0;
    long n = proto_stream_encode(&req, buf, sizeof(buf));
    int rc = frame_send(x, FRAME_STREAM, buf, (uint32_t)n);
    if (rc == 0)
        rc = frame_recv(x, &type, &rb, &cap, 65536, s->err, sizeof(s->err));
    if (rc >= 0 && type == FRAME_ERROR) {
        int code = sender_error_text(rb, (size_t)rc, s->err, sizeof(s->err));
        *fatal = code != PROTO_E_IO;
        rc = -EPROTO;
    } else if (rc >= 0 && type == FRAME_BUSY) {
        *fatal = sender_busy_text(rb, (size_t)rc, busy_ms, s->err, sizeof(s->err)) != PROTO_E_BUSY;
        if (!*busy_ms)
            *busy_ms = 1;
        rc = -EBUSY;
    } else if (rc >= 0 &&
               (type != FRAME_STREAM_OK || proto_range_decode(rb, (size_t)rc, &s->range) < 0)) {
        snprintf(s->err, sizeof(s->err), "bad reply to stream request");
        rc = -EPROTO;
    } else if (rc < 0 && !s->err[0]) {
        snprintf(s->err, sizeof(s->err), "stream request: %s", strerror(-rc));
    }
    free(rb);
    if (rc < 0) {
        xport_free(x);
        return NULL;
    }
    return x;
}

/* Compresses and writes one batch. */
static int stream_send_batch(struct sender_stream *s, struct xport *x, uint8_t type,
                             struct scan_batch *b, ZSTD_CCtx *cctx, uint8_t *out, size_t outcap)
{
    const struct sender_conf *c = s->c;
    long n = frame_blocks_encode(out + FRAME_HDR_LEN, outcap - FRAME_HDR_LEN, b->covered_end,
                                 b->ents, b->n, b->raw, b->rawlen, cctx, c->level);
    if (n < 0)
        return (int)n;
    frame_hdr_encode(out, type, (uint32_t)n);
    ratelimit_take(c->rl, (uint64_t)n + FRAME_HDR_LEN);
    int rc = xport_write(x, out, (size_t)n + FRAME_HDR_LEN);
    if (rc == 0) {
        atomic_fetch_add(&c->stats->sent, b->rawlen);
        atomic_fetch_add(&c->stats->wire, (uint64_t)n + FRAME_HDR_LEN);
        if (type == FRAME_REPAIR)
            atomic_fetch_add(&c->stats->recheck_sent, b->rawlen);
    }
    return rc;
}

static int stream_finish(struct sender_stream *s, struct xport *x)
{
    uint8_t buf[64], *rb = NULL, type;
    size_t cap = 0;
    struct proto_range done = s->range;
    done.done = s->range.end;
    long n = proto_range_encode(&done, buf, sizeof(buf));
    int rc = frame_send(x, FRAME_RANGE_DONE, buf, (uint32_t)n);
    if (rc == 0)
        rc = frame_recv(x, &type, &rb, &cap, 65536, s->err, sizeof(s->err));
    if (rc >= 0 && type == FRAME_ERROR) {
        sender_error_text(rb, (size_t)rc, s->err, sizeof(s->err));
        rc = -EPROTO;
    } else if (rc >= 0 && type != FRAME_RANGE_OK) {
        rc = -EPROTO;
    }
    free(rb);
    return rc < 0 ? rc : 0;
}

/* Pumps batches from the scanner to the connection until the last one. */
static int stream_pump(struct sender_stream *s, struct xport *x, uint8_t type, struct scan_queue *q)
{
    size_t outcap = FRAME_HDR_LEN + frame_blocks_bound(FRAME_MAX_ENTRIES, FRAME_MAX_RAW);
    uint8_t *out = malloc(outcap);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    int rc = out && cctx ? 0 : -ENOMEM;
    for (int last = 0; rc == 0 && !last;) {
        struct scan_batch *b = scan_queue_pop(q);
        last = b->last;
        if (last < 0)
            rc = -EIO;
        else if (s->c->cancel && *s->c->cancel)
            rc = -ECANCELED;
        else
            rc = stream_send_batch(s, x, type, b, cctx, out, outcap);
        scan_queue_release(q, b);
    }
    free(out);
    ZSTD_freeCCtx(cctx);
    return rc;
}

/* Scans [start, end) against cmap and sends what differs as frames of
 * type (BLOCKS, or REPAIR below the resumed checkpoint). */
static int stream_scan(struct sender_stream *s, struct xport *x, uint8_t type, uint64_t start,
                       uint64_t end, const struct blockmap *cmap, _Atomic uint64_t *pos)
{
    const struct sender_conf *c = s->c;
    struct scan_queue q;
    struct scan_job job = {.fd = c->src_fd,
                           .size = c->size,
                           .bs = c->bs,
                           .start = start,
                           .end = end,
                           .cmap = cmap,
                           .pmap = c->pmap,
                           .q = &q,
                           .pos = pos};
    if (scan_queue_init(&q, c->bs, c->batch_raw) < 0) {
        scan_queue_destroy(&q);
        return -ENOMEM;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, scan_run, &job) != 0) {
        scan_queue_destroy(&q);
        return -EAGAIN;
    }
    int rc = stream_pump(s, x, type, &q);
    if (rc < 0)
        scan_queue_abort(&q);
    pthread_join(t, NULL);
    if (job.err < 0 && job.err != -ECANCELED) {
        snprintf(s->err, sizeof(s->err), "read source: %s", strerror(-job.err));
        rc = job.err;
    } else if (rc < 0) {
        snprintf(s->err, sizeof(s->err), "send: %s", strerror(-rc));
    }
    scan_queue_destroy(&q);
    return rc;
}

/* One connection's worth of work: the resumed part again (until repairs
 * are checkpointed), then scan from the checkpoint and send. */
static int stream_attempt(struct sender_stream *s, struct xport *x)
{
    const struct sender_conf *c = s->c;
    int rc = 0;
    if (!s->rechecked && s->recheck_end > s->range.start && c->smap) {
        _Atomic uint64_t rpos = s->range.start;
        rc = stream_scan(s, x, FRAME_REPAIR, s->range.start, s->recheck_end, c->smap, &rpos);
        atomic_fetch_add(&c->stats->recheck_read, atomic_load(&rpos) - s->range.start);
        s->repairs_sent = rc == 0;
    }
    if (rc == 0 && s->range.done < s->range.end)
        rc = stream_scan(s, x, FRAME_BLOCKS, s->range.done, s->range.end, c->cmap, &s->pos);
    if (rc == 0)
        rc = stream_finish(s, x);
    if (rc == 0)
        s->rechecked = 1; /* RANGE_OK: the receiver checkpointed the repairs */
    return rc;
}

/* Waits for capacity after a BUSY answer (not a failure).  0, or -errno
 * when the sync's deadline passed or it was cancelled. */
static int stream_wait_busy(struct sender_stream *s, struct busywait *bw, uint32_t busy_ms)
{
    const struct sender_conf *c = s->c;
    atomic_fetch_add(&c->stats->waiting, 1);
    atomic_fetch_add(&c->stats->busy_waits, 1);
    int rc = busywait_sleep(bw, busy_ms, c->cancel);
    atomic_fetch_sub(&c->stats->waiting, 1);
    if (rc == -ETIMEDOUT)
        snprintf(s->err, sizeof(s->err), "receiver busy for longer than %d s",
                 c->busy_wait_ms / 1000);
    return rc;
}

void *sender_run(void *arg)
{
    struct sender_stream *s = arg;
    const struct sender_conf *c = s->c;
    uint64_t best = s->range.done;
    int failures = 0;
    struct busywait bw;
    busywait_init(&bw, c->busy_deadline_ms);
    for (;;) {
        int fatal = 0;
        uint32_t busy_ms = 0;
        s->err[0] = '\0';
        uint64_t was = s->range.done;
        struct xport *x = stream_open(s, &fatal, &busy_ms);
        if (!x && busy_ms && !fatal) {
            if ((s->rc = stream_wait_busy(s, &bw, busy_ms)) < 0)
                break;
            continue;
        }
        busywait_admitted(&bw);
        int connected = x != NULL;
        /* the range moved on: a checkpoint after this run's repairs (they
         * precede every BLOCKS frame) made them durable */
        if (x && s->range.done > was && s->recheck_end && !s->rechecked && s->repairs_sent)
            s->rechecked = 1;
        s->rc = x ? stream_attempt(s, x) : -ECONNREFUSED;
        xport_free(x);
        if (s->rc == 0 || fatal || s->rc == -EIO || (c->cancel && *c->cancel))
            break;
        if (connected && s->range.done > best) /* the receiver kept what we sent: keep going */
            best = s->range.done, failures = 0;
        else if (++failures >= c->max_failures)
            break;
        wm_warn("repl.stream_retry",
                "volume=%s range=%u done=%" PRIu64 " failures=%d reason=\"%s\"", c->volume, s->idx,
                s->range.done, failures, s->err);
        wm_sleep_ms(100 << (failures < 5 ? failures : 5));
    }
    if (s->rc < 0 && !s->err[0])
        snprintf(s->err, sizeof(s->err), "%s", strerror(-s->rc));
    return NULL;
}
