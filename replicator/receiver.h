/* receiver — the target side: volumes under a root directory, one thread
 * per connection, staging + checkpoints + commit.
 *
 * Files of volume NAME under ROOT:
 *   NAME.img        the committed generation, a raw image (sparse)
 *   NAME.map        its digest map (blockmap)
 *   NAME.state      committed/pending generation and range checkpoints
 *   NAME.stage      blocks of the pending generation, at their own offsets
 *   NAME.stage.map  digests of the staged blocks ("empty" = not staged)
 *
 * Why staging: the committed image must stay intact and readable until the
 * new generation is complete.  A full sync writes the whole new image into
 * NAME.stage and commit renames it over NAME.img (atomic).  A delta sync
 * stages only the changed blocks; commit marks the state "applying", copies
 * the staged blocks into NAME.img (copy_file_range; zero blocks become
 * holes), fdatasyncs, then records the new generation.  Applying is
 * idempotent, so a crash during it is repaired by replaying it when the
 * volume is next opened.  The price is writing changed blocks twice. */
#ifndef REPL_RECEIVER_H
#define REPL_RECEIVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admit.h"

struct wm_metrics;
struct wm_tls_ctx;
struct xport;

struct receiver_opts {
    const char *root;
    struct wm_tls_ctx *tls; /* NULL: plain sockets (tests only) */
    int io_timeout_ms;      /* per read/write on data connections */
    uint64_t ckpt_bytes;    /* checkpoint a range after this many bytes covered */
    int ckpt_ms;            /* ... or after this long */
    int max_conns;          /* connections at once (0: 256, at least 2x streams + 64) */
    /* bounds against clients that never authenticate (guard.h; 0 = default) */
    int grace_ms;          /* TLS handshake + first request */
    int max_startups;      /* connections not past that yet */
    int max_per_peer;      /* ... from one address */
    uint64_t max_volume;   /* largest volume a BEGIN may declare (bytes) */
    int vol_idle_ms;       /* an unused volume's files are closed after this */
    bool require_bound;    /* refuse agent certificates not bound to volumes */
    struct admit_limits capacity; /* beyond it: BUSY, see admit.h */
    /* borrowed; NULL = no metrics.  The receiver registers:
     *   wm_repl_connections_open            gauge
     *   wm_repl_connections_total           counter
     *   wm_repl_received_bytes_total{volume}  block bytes written (uncompressed)
     *   wm_repl_wire_bytes_total{volume}      frame bytes received (compressed)
     *   wm_repl_frames_refused_total        counter
     *   wm_repl_commits_total{volume}       counter
     *   wm_repl_committed_generation{volume} gauge */
    struct wm_metrics *metrics;
};

struct receiver;

struct receiver *receiver_new(const struct receiver_opts *o, char *err, size_t errlen);
void receiver_free(struct receiver *r);

/* Serves one connection to its end; takes ownership of x. */
void receiver_handle(struct receiver *r, struct xport *x);

/* Volumes whose files are open (the table holds only volumes in use or
 * used in the last vol_idle_ms). */
int receiver_open_volumes(struct receiver *r);

/* Accept loop on a listening socket, a thread per connection, until *stop
 * is set.  Admission, deadlines and accept errors as in guard.h: running
 * out of descriptors is survived.  Returns 0, or -errno for a listen_fd
 * that is not a listening socket. */
int receiver_serve(struct receiver *r, int listen_fd, volatile sig_atomic_t *stop);

/* Current load (streams, files, BUSY answers). */
void receiver_load(struct receiver *r, struct admit_stats *out);

/* Waits up to timeout_ms for running connections to end; 0 when none is
 * left (then receiver_free is safe), -ETIMEDOUT otherwise. */
int receiver_drain(struct receiver *r, int timeout_ms);

#endif
