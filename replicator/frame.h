/* frame — the replicator's wire format.
 *
 * Every message is a frame: a 12-byte header (magic "WMR1", type, flags,
 * reserved 0, payload length u32 LE) then the payload.  The payload length
 * has a hard maximum (FRAME_MAX_PAYLOAD) checked before anything is
 * allocated.  A BLOCKS frame carries a batch of blocks of one range:
 *
 *   u64 covered_end   every block of the range below this has been sent
 *   u32 nentries, u32 raw_len, u32 comp_len
 *   nentries x { u64 offset, u32 len, u8 kind, 3 x u8 0, 16-byte digest }
 *   comp_len bytes: zstd frame of the DATA blocks' bytes, in entry order
 *
 * kind DATA: one block (len = block size, or less for the volume's tail);
 * kind ZERO: a run of zero blocks, a hole on the target (digest unused).
 * The decoder is strict: sizes must add up exactly, entries are ordered,
 * aligned and inside the range, and every DATA digest is checked after
 * decompression before any byte is handed to the caller. */
#ifndef REPL_FRAME_H
#define REPL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "blockmap.h"

struct xport;

#define FRAME_HDR_LEN 12
#define FRAME_MAX_PAYLOAD (8u << 20)
#define FRAME_MAX_ENTRIES 8192u
#define FRAME_MAX_RAW (4u << 20)
#define FRAME_ENTRY_LEN 32
#define FRAME_BLOCKS_HDR 20

enum frame_type {
    FRAME_BEGIN = 1,
    FRAME_BEGIN_OK,
    FRAME_STREAM,
    FRAME_STREAM_OK,
    FRAME_BLOCKS,
    FRAME_RANGE_DONE,
    FRAME_RANGE_OK,
    FRAME_COMMIT,
    FRAME_COMMIT_OK,
    FRAME_MAP_REQ,
    FRAME_MAP_INFO,
    FRAME_MAP_CHUNK,
    FRAME_MAP_END,
    FRAME_ERROR,
    FRAME_PMAP_REQ, /* digests of the pending generation as staged (resume) */
    FRAME_REPAIR,   /* BLOCKS re-sent below a resumed range's checkpoint */
    FRAME_BUSY,     /* the receiver is full: retry after N ms (admit.h) */
    FRAME_CTL_REQ = 32,
    FRAME_CTL_PROGRESS,
    FRAME_CTL_RESULT,
};

enum frame_kind { FRAME_KIND_DATA = 1, FRAME_KIND_ZERO = 2 };

struct frame_entry {
    uint64_t off;
    uint32_t len;
    uint8_t kind;
    struct repl_digest digest;
};

struct frame_blocks {
    uint64_t covered_end;
    uint32_t nentries, raw_len, comp_len;
    const uint8_t *entries; /* borrowed from the payload */
    const uint8_t *comp;    /* borrowed from the payload */
};

/* What a BLOCKS frame may touch: block size, volume size, and the range. */
struct frame_bounds {
    uint32_t bs;
    uint64_t size, start, end;
};

/* --- header --- */
void frame_hdr_encode(uint8_t out[FRAME_HDR_LEN], uint8_t type, uint32_t len);
/* 0, or -EPROTO (bad magic/reserved) / -EMSGSIZE (len > max) with err. */
int frame_hdr_decode(const uint8_t in[FRAME_HDR_LEN], uint8_t *type, uint32_t *len, char *err,
                     size_t errlen);

/* --- whole frames over a transport --- */
int frame_send(struct xport *x, uint8_t type, const void *payload, uint32_t len);
/* Reads one frame into *buf (grown as needed, up to max).  Returns the
 * payload length (>= 0) and sets *type, or a negative errno with err. */
int frame_recv(struct xport *x, uint8_t *type, uint8_t **buf, size_t *cap, uint32_t max, char *err,
               size_t errlen);

/* --- BLOCKS --- */
void frame_entry_get(const struct frame_blocks *fb, uint32_t i, struct frame_entry *e);
/* Parses and checks structure and bounds (not digests).  prev_covered is the
 * previous frame's covered_end (coverage never moves back). */
int frame_blocks_decode(const uint8_t *p, size_t len, const struct frame_bounds *b,
                        uint64_t prev_covered, struct frame_blocks *out, char *err, size_t errlen);
/* Decompresses into raw (capacity rawcap >= raw_len) and checks every DATA
 * digest.  0 or -EBADMSG with err naming the offending block. */
int frame_blocks_verify(const struct frame_blocks *fb, void *zdctx, uint8_t *raw, size_t rawcap,
                        char *err, size_t errlen);

/* Encoder side: entries (count n) and the raw DATA bytes (rawlen) into out
 * (capacity outcap); zcctx is a ZSTD_CCtx.  Returns the payload length or
 * a negative errno. */
long frame_blocks_encode(uint8_t *out, size_t outcap, uint64_t covered_end,
                         const struct frame_entry *ents, uint32_t n, const uint8_t *raw,
                         uint32_t rawlen, void *zcctx, int level);
/* Worst-case payload size for n entries and rawlen bytes. */
size_t frame_blocks_bound(uint32_t n, uint32_t rawlen);

#endif
