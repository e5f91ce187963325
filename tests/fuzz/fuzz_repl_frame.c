/* libFuzzer target: the receiver's frame decoders on hostile bytes.
 * Input: 12-byte frame header, 16 bytes of bounds (block size exponent,
 * volume size, range), then a BLOCKS payload.  Every decoder must refuse
 * or accept without reading out of bounds, and an accepted frame's data
 * must verify against its digests. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "frame.h"
#include "journal.h"

static ZSTD_DCtx *dctx;
static uint8_t *raw;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    if (!dctx) {
        dctx = ZSTD_createDCtx();
        raw = malloc(FRAME_MAX_RAW);
    }
    if (size < FRAME_HDR_LEN + 16)
        return 0;
    uint8_t type;
    uint32_t len;
    frame_hdr_decode(data, &type, &len, err, sizeof(err));
    const uint8_t *b = data + FRAME_HDR_LEN;
    struct frame_bounds fb_bounds;
    fb_bounds.bs = 512u << (b[0] % 12);
    uint64_t v[3];
    memcpy(v, b + 1, 15 < sizeof(v) ? 15 : sizeof(v));
    fb_bounds.size = (v[0] & 0xffffffffffULL);
    fb_bounds.start = (v[1] & 0xffffffffULL) % (fb_bounds.size + 1);
    fb_bounds.start -= fb_bounds.start % fb_bounds.bs;
    fb_bounds.end =
        fb_bounds.start + ((v[2] & 0xffffffULL) % (fb_bounds.size - fb_bounds.start + 1));
    const uint8_t *p = b + 16;
    size_t n = size - FRAME_HDR_LEN - 16;
    struct frame_blocks fb;
    if (frame_blocks_decode(p, n, &fb_bounds, 0, &fb, err, sizeof(err)) == 0) {
        if (frame_blocks_verify(&fb, dctx, raw, FRAME_MAX_RAW, err, sizeof(err)) == 0) {
            /* accepted: every entry is inside the range, data adds up */
            uint64_t data_len = 0;
            for (uint32_t i = 0; i < fb.nentries; i++) {
                struct frame_entry e;
                frame_entry_get(&fb, i, &e);
                if (e.off < fb_bounds.start || e.off + e.len > fb_bounds.end)
                    abort();
                if (e.kind == FRAME_KIND_DATA)
                    data_len += e.len;
            }
            if (data_len != fb.raw_len)
                abort();
        }
    }
    return 0;
}
