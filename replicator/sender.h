/* sender — the agent side of one stream: connect, claim the range, then a
 * reader thread (scan) feeds batches to this thread, which compresses them
 * into BLOCKS frames and writes them; RANGE_DONE ends the range.
 *
 * Exact resume: when the sync resumed a generation an earlier run left, the
 * part of the range checkpointed before this run ([start, recheck_end)) is
 * read again and compared with the receiver's staged digests (smap); what
 * differs goes as REPAIR frames before anything else, so the committed
 * generation is the source as this run read it.  A cut
 * connection is retried from the receiver's checkpoint for as long as
 * attempts keep making progress. */
#ifndef REPL_SENDER_H
#define REPL_SENDER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct blockmap;
struct ratelimit;
struct wm_tls_ctx;

/* Counters shared by the streams of one sync. */
struct sender_stats {
    _Atomic uint64_t sent; /* bytes of changed blocks' data sent */
    _Atomic uint64_t wire; /* frame bytes written (compressed) */
    _Atomic uint64_t recheck_read; /* resumed ranges read again before commit */
    _Atomic uint64_t recheck_sent; /* ... and re-sent because the source changed */
    _Atomic uint32_t waiting;      /* streams waiting for receiver capacity */
    _Atomic uint32_t busy_waits;   /* BUSY answers waited out */
};

struct sender_conf {
    const char *to, *volume;
    struct wm_tls_ctx *tls;
    int io_timeout_ms;
    int max_failures;   /* consecutive attempts without progress */
    uint64_t busy_deadline_ms; /* waits for a busy receiver end then (busywait.h) */
    int busy_wait_ms;
    int level;          /* zstd level */
    uint32_t batch_raw; /* data bytes per frame (0 = default) */
    int src_fd;
    uint64_t size;
    uint32_t bs;
    uint64_t gen, epoch;
    const struct blockmap *cmap; /* NULL: full */
    const struct blockmap *smap; /* resumed: the receiver's staged digests */
    struct blockmap *pmap;
    struct ratelimit *rl;
    struct sender_stats *stats;
    volatile int *cancel;
};

struct sender_stream {
    const struct sender_conf *c;
    uint16_t idx;
    struct proto_range range;
    uint64_t recheck_end; /* resumed: [range.start, recheck_end) is checked again */
    int repairs_sent;     /* an attempt sent every repair */
    int rechecked;        /* ... and the receiver has checkpointed them */
    _Atomic uint64_t pos; /* scan progress */
    int rc;
    char err[512];
};

/* Thread body: arg is a struct sender_stream; result in rc/err. */
void *sender_run(void *arg);

/* Reads an ERROR frame's payload into err; returns the proto_err code. */
int sender_error_text(const uint8_t *p, size_t len, char *err, size_t errlen);
/* Reads a BUSY frame's payload (retry-after to *retry_ms, text to err);
 * returns PROTO_E_BUSY, or PROTO_E_FRAME when it is malformed. */
int sender_busy_text(const uint8_t *p, size_t len, uint32_t *retry_ms, char *err, size_t errlen);

#endif
