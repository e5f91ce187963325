/* ebs_upload — PutSnapshotBlock of many 512 KiB blocks with N requests in
 * flight on one libcurl multi handle (connections kept and reused).
 *
 * The caller hands out the blocks (next), fills each one's data (read) and
 * makes each accepted block durable (done) — in that order for a block,
 * from this thread only.  A throttled (429, Throttling…, 5xx) or cut
 * request is resent from its buffer after an exponential backoff with full
 * jitter (the api's backoff, per block); a block done() was called for is
 * never sent again.  Any other answer, or a block that is still throttled
 * after the last attempt, stops the run: requests in flight finish, no new
 * block starts, and the error is returned. */
#ifndef REPL_EBS_UPLOAD_H
#define REPL_EBS_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "ebs_api.h"

#define EBS_UPLOAD_MAX_INFLIGHT 64

struct ebs_upload_src {
    /* The next block index to put: 0 with *idx, 1 when none remain. */
    int (*next)(void *arg, uint64_t *idx);
    /* Fills buf (EBS_BLOCK_SIZE bytes) with block idx.  0 or -errno with err. */
    int (*read)(void *arg, uint64_t idx, uint8_t *buf, char *err, size_t errlen);
    /* Block idx was accepted with this SHA-256; persist it.  0 or -errno. */
    int (*done)(void *arg, uint64_t idx, const uint8_t sha256[32], char *err, size_t errlen);
    void *arg;
};

struct ebs_upload_stats {
    uint64_t blocks, bytes; /* accepted in this run */
    uint64_t retries;       /* resends after throttling / 5xx / transport errors */
    double seconds;
};

/* Called at most every progress_ms (and once at the end). */
typedef void (*ebs_upload_progress_fn)(const struct ebs_upload_stats *s, void *ud);

int ebs_upload_run(const struct ebs_api *a, const char *snapshot_id, int inflight,
                   const struct ebs_upload_src *src, ebs_upload_progress_fn progress, void *ud,
                   int progress_ms, struct ebs_upload_stats *st, char *err, size_t errlen);

#endif
