/* admit — the receiver's admission control: how much work it takes on at
 * once, and the cheap answer beyond that.
 *
 * Capacity has three dimensions: data streams at once, the memory those
 * streams may use (each holds a decompression buffer of FRAME_MAX_RAW plus
 * its frame buffer: ADMIT_STREAM_MEM is counted per stream), and open files
 * (sockets plus the staging files of every volume with a pending
 * generation).  A STREAM beyond the stream/memory capacity, or a BEGIN that
 * would open staging files past the file budget, is answered BUSY (retry
 * after N ms, see proto.h) and the connection closes: no buffer is
 * allocated, no file opened, no volume state touched.  N grows with the
 * number of BUSY answers of the last second, so a crowd of waiting agents
 * polls at a rate the receiver can afford (~ADMIT_BUSY_RATE handshakes/s). */
#ifndef REPL_ADMIT_H
#define REPL_ADMIT_H

#include <stddef.h>
#include <stdint.h>

#define ADMIT_STREAM_MEM (6u << 20)
#define ADMIT_BUSY_RATE 100
#define ADMIT_RETRY_MIN_MS 200
#define ADMIT_RETRY_MAX_MS 10000
#define ADMIT_FILES_SPARE 32 /* listener, log, /proc, state and map files commit opens */

struct xport;

struct admit_limits {
    int streams;        /* data streams at once (0: 64) */
    uint64_t mem_bytes; /* memory for streams (0: 1 GiB) */
    int files;          /* open files (0: RLIMIT_NOFILE's soft limit - 64) */
};

struct admit_stats {
    int streams, streams_peak, streams_cap;
    int files_open, files_cap;
    uint64_t busy; /* BUSY answers so far */
};

struct admit;

struct admit *admit_new(const struct admit_limits *l, char *err, size_t errlen);
void admit_free(struct admit *a);

/* A data stream: 0 when admitted (then admit_stream_end), -EBUSY with
 * *retry_ms when the receiver is full. */
int admit_stream(struct admit *a, int *retry_ms);
void admit_stream_end(struct admit *a);

/* A BEGIN that may open up to files staging files: -EBUSY with *retry_ms
 * when the open files would pass the budget.  conns/max_conns: sockets
 * open now and at most; room stays for all of them, so open files never
 * pass the budget however the connections come and go. */
int admit_begin(struct admit *a, int files, int conns, int max_conns, int *retry_ms);
/* The admitted BEGIN has opened its files (they count as open now). */
void admit_begin_end(struct admit *a, int files);

void admit_get_stats(struct admit *a, struct admit_stats *out);

/* Answers BUSY (retry after retry_ms, what is full) on x. */
void admit_send_busy(struct xport *x, int retry_ms, const char *what);

#endif
