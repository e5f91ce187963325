/* scan — reads one range of the source once, in large sequential reads,
 * hashes every block, compares with the committed digest map and hands
 * batches of changed blocks to the sender through a bounded queue.
 *
 * The source is mapped window by window (read with pread if it cannot be
 * mapped); a source that shrinks while it is mapped would raise SIGBUS, so
 * image files must not be truncated during a sync.
 *
 * Zero blocks are recognised by their digest (equal to the digest of a
 * zero block of that length) and travel as ZERO runs, never as data. */
#ifndef REPL_SCAN_H
#define REPL_SCAN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "blockmap.h"
#include "frame.h"

#define SCAN_CHUNK (16u << 20)
#define SCAN_BATCH_RAW (1u << 20)
#define SCAN_QUEUE 4

struct scan_batch {
    struct frame_entry *ents;
    uint32_t n, rawlen, rawcap;
    uint8_t *raw;
    uint64_t covered_end;
    int last; /* the range is fully covered */
};

/* Bounded queue of batches plus the pool they come from. */
struct scan_queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct scan_batch *full[SCAN_QUEUE + 2], *free[SCAN_QUEUE + 2];
    int nfull, nfree, head;
    int aborted; /* consumer gave up: producer stops */
};

struct scan_job {
    int fd;        /* source, borrowed */
    uint64_t size; /* source size */
    uint32_t bs;
    uint64_t start, end;         /* range; scanning starts at start */
    const struct blockmap *cmap; /* committed map, NULL = send everything */
    struct blockmap *pmap;       /* pending map, written as blocks are hashed */
    struct scan_queue *q;
    _Atomic uint64_t *pos; /* progress: offset reached */
    int err;               /* result (negative errno) */
};

/* batch_raw: data bytes per batch (0 = SCAN_BATCH_RAW, the maximum); at
 * least one block. */
int scan_queue_init(struct scan_queue *q, uint32_t bs, uint32_t batch_raw);
void scan_queue_destroy(struct scan_queue *q);
/* Consumer side: next batch (blocking), then give it back. */
struct scan_batch *scan_queue_pop(struct scan_queue *q);
void scan_queue_release(struct scan_queue *q, struct scan_batch *b);
void scan_queue_abort(struct scan_queue *q);

/* Runs the scan (thread body: arg is a struct scan_job). */
void *scan_run(void *arg);

#endif
