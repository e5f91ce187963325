/* proto — the session messages carried in frames (see frame.h for types).
 *
 * A connection to the receiver starts with one request naming the volume:
 *   BEGIN   -> BEGIN_OK    open or resume the pending generation
 *   STREAM  -> STREAM_OK   then BLOCKS..., RANGE_DONE -> RANGE_OK
 *   COMMIT  -> COMMIT_OK   make the pending generation the committed one
 *   MAP_REQ -> MAP_INFO, MAP_CHUNK..., MAP_END   (digest map or verify)
 *   PMAP_REQ -> MAP_INFO, MAP_CHUNK..., MAP_END  (pending generation as staged)
 * A stream resuming a checkpoint an earlier run left may start with REPAIR
 * frames (BLOCKS below its checkpoint) before its BLOCKS.
 * and any request may be answered by ERROR (code, sentence).  BEGIN and
 * STREAM may be answered by BUSY (retry after N ms, sentence): the receiver
 * is healthy but full; the agent waits and asks again (not a failure).
 * The agent's control connection (worker -> agent serve) uses
 *   CTL_REQ -> CTL_PROGRESS..., CTL_RESULT.
 * Decoders are strict: every field present, nothing left over. */
#ifndef REPL_PROTO_H
#define REPL_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_MAX_RANGES 64
#define PROTO_NAME_MAX 128
#define PROTO_TEXT_MAX 512
#define PROTO_MAP_CHUNK 65536 /* digests per MAP_CHUNK frame */

enum proto_mode { PROTO_MODE_FULL = 1, PROTO_MODE_DELTA = 2 };
enum proto_err {
    PROTO_E_INVALID = 1, /* bad request: never retried */
    PROTO_E_STALE,       /* another session took the volume over */
    PROTO_E_STATE,       /* request does not fit the volume's state */
    PROTO_E_IO,          /* receiver-side failure: retry later */
    PROTO_E_FRAME,       /* frame refused (corrupt, oversized, digest) */
    PROTO_E_AUTH,        /* peer certificate role not allowed */
    PROTO_E_BUSY = 100,  /* not on the wire: the reply was BUSY (frame.h) */
};
enum proto_ctl_op { PROTO_CTL_SYNC = 1, PROTO_CTL_VERIFY = 2, PROTO_CTL_EBS_EXPORT = 3 };

struct proto_range {
    uint64_t start, end, done;
};

struct proto_begin {
    char volume[PROTO_NAME_MAX];
    uint64_t size;
    uint32_t bs;
    uint16_t nranges;
    uint8_t full;
};

struct proto_begin_ok {
    uint64_t committed_gen, committed_size;
    uint8_t uuid[16];
    uint32_t committed_bs;
    uint64_t pending_gen, epoch;
    uint8_t mode;
    uint16_t nranges;
    struct proto_range ranges[PROTO_MAX_RANGES];
};

struct proto_stream {
    char volume[PROTO_NAME_MAX];
    uint64_t gen, epoch;
    uint16_t idx;
};

struct proto_commit {
    char volume[PROTO_NAME_MAX];
    uint64_t gen, epoch;
};

struct proto_gen {
    uint64_t gen;
    uint8_t uuid[16];
};

struct proto_map_req {
    char volume[PROTO_NAME_MAX];
    uint8_t rehash, sha256;
};

struct proto_map_info {
    uint64_t gen, size, nblocks;
    uint8_t uuid[16];
    uint32_t bs;
};

struct proto_map_end {
    uint8_t has_sha;
    uint8_t sha[32];
};

struct proto_error {
    uint32_t code;
    char text[PROTO_TEXT_MAX];
};

struct proto_busy {
    uint32_t retry_ms;
    char text[PROTO_TEXT_MAX];
};

struct proto_ctl_req {
    uint8_t op, full, sha256;
    char id[PROTO_NAME_MAX]; /* caller's request id: same id = same job */
    char disk[1024], volume[PROTO_NAME_MAX], to[256];
    uint16_t streams;
    uint32_t bs;
    int32_t level;
    uint64_t bwlimit;
};

struct proto_progress {
    uint64_t scanned, sent, wire, total, rate, eta_s, gen;
    uint32_t waiting; /* requests/streams waiting for receiver capacity (BUSY) */
};

struct proto_ctl_result {
    int32_t rc;
    uint64_t gen;
    struct proto_progress prog;
    char text[PROTO_TEXT_MAX];
};

/* Encoders return the payload length, or -EMSGSIZE when cap is too small.
 * Decoders return 0 or -EBADMSG. */
long proto_begin_encode(const struct proto_begin *m, uint8_t *buf, size_t cap);
int proto_begin_decode(const uint8_t *p, size_t len, struct proto_begin *m);
long proto_begin_ok_encode(const struct proto_begin_ok *m, uint8_t *buf, size_t cap);
int proto_begin_ok_decode(const uint8_t *p, size_t len, struct proto_begin_ok *m);
long proto_stream_encode(const struct proto_stream *m, uint8_t *buf, size_t cap);
int proto_stream_decode(const uint8_t *p, size_t len, struct proto_stream *m);
long proto_range_encode(const struct proto_range *m, uint8_t *buf, size_t cap);
int proto_range_decode(const uint8_t *p, size_t len, struct proto_range *m);
long proto_commit_encode(const struct proto_commit *m, uint8_t *buf, size_t cap);
int proto_commit_decode(const uint8_t *p, size_t len, struct proto_commit *m);
long proto_gen_encode(const struct proto_gen *m, uint8_t *buf, size_t cap);
int proto_gen_decode(const uint8_t *p, size_t len, struct proto_gen *m);
long proto_map_req_encode(const struct proto_map_req *m, uint8_t *buf, size_t cap);
int proto_map_req_decode(const uint8_t *p, size_t len, struct proto_map_req *m);
long proto_map_info_encode(const struct proto_map_info *m, uint8_t *buf, size_t cap);
int proto_map_info_decode(const uint8_t *p, size_t len, struct proto_map_info *m);
long proto_map_end_encode(const struct proto_map_end *m, uint8_t *buf, size_t cap);
int proto_map_end_decode(const uint8_t *p, size_t len, struct proto_map_end *m);
long proto_error_encode(const struct proto_error *m, uint8_t *buf, size_t cap);
int proto_error_decode(const uint8_t *p, size_t len, struct proto_error *m);
long proto_busy_encode(const struct proto_busy *m, uint8_t *buf, size_t cap);
int proto_busy_decode(const uint8_t *p, size_t len, struct proto_busy *m);
long proto_ctl_req_encode(const struct proto_ctl_req *m, uint8_t *buf, size_t cap);
int proto_ctl_req_decode(const uint8_t *p, size_t len, struct proto_ctl_req *m);
long proto_progress_encode(const struct proto_progress *m, uint8_t *buf, size_t cap);
int proto_progress_decode(const uint8_t *p, size_t len, struct proto_progress *m);
long proto_ctl_result_encode(const struct proto_ctl_result *m, uint8_t *buf, size_t cap);
int proto_ctl_result_decode(const uint8_t *p, size_t len, struct proto_ctl_result *m);

/* MAP_CHUNK header: u64 first block, u32 count, then count x 16 bytes. */
int proto_map_chunk_decode(const uint8_t *p, size_t len, uint64_t *first, uint32_t *n,
                           const uint8_t **digests);

/* A volume name safe to use as a file name under the receiver's root:
 * 1-100 of [A-Za-z0-9._-], not starting with '.' or '-'.  1 if valid. */
int proto_volume_valid(const char *name);

#endif
