/* sync — one sync of one disk to a receiver, end to end (agent side):
 * BEGIN (open or resume the pending generation), make sure a committed
 * digest map is at hand (own state or fetched from the receiver), run the
 * streams, COMMIT, then keep the new map for the next delta.  Also verify.
 *
 * The agent's maps live in state_dir as VOLUME@TARGET.map (last committed
 * generation) and VOLUME@TARGET.pending.map (being built). */
#ifndef REPL_SYNC_H
#define REPL_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct xport;

struct wm_tls_ctx;

typedef void (*sync_progress_fn)(const struct proto_progress *p, int final, void *ud);

struct sync_opts {
    const char *disk, *volume, *to, *state_dir;
    struct wm_tls_ctx *tls; /* NULL: plain TCP (tests) */
    uint16_t streams;
    uint32_t bs;
    int level;
    uint64_t bwlimit; /* bytes/s for the whole sync, 0 = none */
    int full;
    int no_commit; /* stage every range, leave the generation pending (a later
                      sync resumes it, checks it and commits; tests, pre-staging) */
    int io_timeout_ms;
    int max_failures;
    int busy_wait_ms;          /* longest total wait for a busy receiver (0: none) */
    uint64_t busy_deadline_ms; /* set by sync_run from busy_wait_ms */
    int progress_ms;
    sync_progress_fn progress;
    void *ud;
    volatile int *cancel;
};

/* Where a sync's wall time went (ms), for profiles and the log. */
enum sync_phase {
    SYNC_PH_BEGIN,   /* BEGIN, including waits for capacity */
    SYNC_PH_MAPS,    /* committed map (own or fetched), pending map, staged digests */
    SYNC_PH_STREAMS, /* scan, compress, send, range checkpoints */
    SYNC_PH_COMMIT,  /* COMMIT until the receiver answered */
    SYNC_PH_KEEP,    /* keeping the new map for the next delta */
    SYNC_PHASES
};

struct sync_result {
    uint64_t gen;
    int mode; /* PROTO_MODE_* */
    int resumed;
    int fetched_map;
    /* resumed: the ranges an earlier run checkpointed, read again and
     * compared with what the receiver staged before commit (the price of
     * exactness): bytes read, bytes re-sent, wall time of the streams */
    uint64_t recheck_read, recheck_sent, recheck_ms;
    uint32_t busy_waits; /* BUSY answers waited out (receiver full, not failures) */
    uint32_t phase_ms[SYNC_PHASES];
    struct proto_progress prog;
};

void sync_opts_defaults(struct sync_opts *o);
/* 0 once the receiver committed the new generation; -errno with err. */
int sync_run(const struct sync_opts *o, struct sync_result *res, char *err, size_t errlen);

/* One request on a fresh connection to o->to; returns the open transport
 * after a reply of type want (payload in *rb, length *rlen), or NULL with
 * err (*code = the receiver's error code when it answered ERROR, or
 * PROTO_E_BUSY with *busy_ms when it answered BUSY). */
struct xport *sync_call(const struct sync_opts *o, uint8_t type, const uint8_t *p, long n,
                        uint8_t want, uint8_t **rb, size_t *cap, int *rlen, int *code,
                        uint32_t *busy_ms, char *err, size_t errlen);

/* Size of a file or block device. */
int sync_source_size(int fd, uint64_t *size);

#endif
