/* frame — wire format: headers, whole frames, BLOCKS batches (see frame.h). */
#include "frame.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "codec.h"
#include "xport.h"

static const uint8_t frame_magic[4] = {'W', 'M', 'R', '1'};

void frame_hdr_encode(uint8_t out[FRAME_HDR_LEN], uint8_t type, uint32_t len)
{
    struct codec_wr w;
    codec_wr_init(&w, out, FRAME_HDR_LEN);
    codec_put_bytes(&w, frame_magic, 4);
    codec_put_u8(&w, type);
    codec_put_u8(&w, 0);
    codec_put_u16(&w, 0);
    codec_put_u32(&w, len);
}

int frame_hdr_decode(const uint8_t in[FRAME_HDR_LEN], uint8_t *type, uint32_t *len, char *err,
                     size_t errlen)
{
    struct codec_rd r;
    uint8_t magic[4];
    codec_rd_init(&r, in, FRAME_HDR_LEN);
    codec_get_bytes(&r, magic, 4);
    *type = codec_get_u8(&r);
    uint8_t flags = codec_get_u8(&r);
    uint16_t resv = codec_get_u16(&r);
    *len = codec_get_u32(&r);
    if (memcmp(magic, frame_magic, 4) != 0 || flags != 0 || resv != 0) {
        snprintf(err, errlen, "not a wavemill frame (bad magic or reserved bits)");
        return -EPROTO;
    }
    if (*len > FRAME_MAX_PAYLOAD) {
        snprintf(err, errlen, "frame too large: %" PRIu32 " bytes (max %u)", *len,
                 FRAME_MAX_PAYLOAD);
        return -EMSGSIZE;
    }
    return 0;
}

int frame_send(struct xport *x, uint8_t type, const void *payload, uint32_t len)
{
    uint8_t hdr[FRAME_HDR_LEN];
    frame_hdr_encode(hdr, type, len);
    int rc = xport_write(x, hdr, sizeof(hdr));
    if (rc == 0 && len)
        rc = xport_write(x, payload, len);
    return rc;
}

int frame_recv(struct xport *x, uint8_t *type, uint8_t **buf, size_t *cap, uint32_t max, char *err,
               size_t errlen)
{
    uint8_t hdr[FRAME_HDR_LEN];
    uint32_t len;
    int rc = xport_read(x, hdr, sizeof(hdr));
    if (rc < 0) {
        snprintf(err, errlen, "%s", rc == -ENODATA ? "connection closed" : strerror(-rc));
        return rc;
    }
    if ((rc = frame_hdr_decode(hdr, type, &len, err, errlen)) < 0)
        return rc;
    if (len > max) {
        snprintf(err, errlen, "frame too large: %" PRIu32 " bytes (max %" PRIu32 ")", len, max);
        return -EMSGSIZE;
    }
    if (len > *cap) {
        uint8_t *nb = realloc(*buf, len);
        if (!nb) {
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        *buf = nb;
        *cap = len;
    }
    if (len && (rc = xport_read(x, *buf, len)) < 0) {
        snprintf(err, errlen, "%s", rc == -ENODATA ? "connection closed" : strerror(-rc));
        return rc == -ENODATA ? -ECONNRESET : rc;
    }
    return (int)len;
}

void frame_entry_get(const struct frame_blocks *fb, uint32_t i, struct frame_entry *e)
{
    struct codec_rd r;
    codec_rd_init(&r, fb->entries + (size_t)i * FRAME_ENTRY_LEN, FRAME_ENTRY_LEN);
    e->off = codec_get_u64(&r);
    e->len = codec_get_u32(&r);
    e->kind = codec_get_u8(&r);
    codec_get_ref(&r, 3);
    codec_get_bytes(&r, e->digest.b, BLOCKMAP_DIGEST);
}

/* One entry against the bounds and the previous entry's end. */
static int frame_entry_check(const struct frame_entry *e, const uint8_t *pad,
                             const struct frame_bounds *b, uint64_t *prev_end, uint64_t *data,
                             char *err, size_t errlen)
{
    uint64_t end = e->off + e->len;
    int tail = end == b->size;
    if (pad[0] | pad[1] | pad[2] || e->len == 0 || end < e->off || e->off < *prev_end ||
        e->off < b->start || end > b->end || e->off % b->bs != 0) {
        snprintf(err, errlen, "block entry at %" PRIu64 " out of order or out of range", e->off);
        return -EBADMSG;
    }
    if (e->kind == FRAME_KIND_DATA) {
        if (e->len > b->bs || (e->len != b->bs && !tail)) {
            snprintf(err, errlen, "data block at %" PRIu64 " has bad length %" PRIu32, e->off,
                     e->len);
            return -EBADMSG;
        }
        *data += e->len;
    } else if (e->kind != FRAME_KIND_ZERO || (e->len % b->bs != 0 && !tail)) {
        snprintf(err, errlen, "block entry at %" PRIu64 " has bad kind or length", e->off);
        return -EBADMSG;
    }
    *prev_end = end;
    return 0;
}

int frame_blocks_decode(const uint8_t *p, size_t len, const struct frame_bounds *b,
                        uint64_t prev_covered, struct frame_blocks *out, char *err, size_t errlen)
{
    struct codec_rd r;
    codec_rd_init(&r, p, len);
    out->covered_end = codec_get_u64(&r);
    out->nentries = codec_get_u32(&r);
    out->raw_len = codec_get_u32(&r);
    out->comp_len = codec_get_u32(&r);
    if (!codec_rd_ok(&r, 0) || out->nentries > FRAME_MAX_ENTRIES || out->raw_len > FRAME_MAX_RAW ||
        b->bs == 0 || len - r.pos != (uint64_t)out->nentries * FRAME_ENTRY_LEN + out->comp_len) {
        snprintf(err, errlen, "malformed blocks frame (sizes do not add up)");
        return -EBADMSG;
    }
    out->entries = p + r.pos;
    out->comp = out->entries + (size_t)out->nentries * FRAME_ENTRY_LEN;
    uint64_t prev_end = 0, data = 0;
    for (uint32_t i = 0; i < out->nentries; i++) {
        struct frame_entry e;
        frame_entry_get(out, i, &e);
        const uint8_t *pad = out->entries + (size_t)i * FRAME_ENTRY_LEN + 13;
        if (frame_entry_check(&e, pad, b, &prev_end, &data, err, errlen) < 0)
            return -EBADMSG;
    }
    if (data != out->raw_len || (out->raw_len == 0) != (out->comp_len == 0)) {
        snprintf(err, errlen, "malformed blocks frame (data length mismatch)");
        return -EBADMSG;
    }
    if (out->covered_end < prev_end || out->covered_end < prev_covered ||
        out->covered_end > b->end) {
        snprintf(err, errlen, "blocks frame coverage %" PRIu64 " out of range", out->covered_end);
        return -EBADMSG;
    }
    return 0;
}

int frame_blocks_verify(const struct frame_blocks *fb, void *zdctx, uint8_t *raw, size_t rawcap,
                        char *err, size_t errlen)
{
    if (fb->raw_len > rawcap) {
        snprintf(err, errlen, "blocks frame raw length too large");
        return -EBADMSG;
    }
    if (fb->raw_len) {
        size_t n = ZSTD_decompressDCtx(zdctx, raw, fb->raw_len, fb->comp, fb->comp_len);
        if (ZSTD_isError(n) || n != fb->raw_len) {
            snprintf(err, errlen, "blocks frame does not decompress: %s",
                     ZSTD_isError(n) ? ZSTD_getErrorName(n) : "length mismatch");
            return -EBADMSG;
        }
    }
    size_t pos = 0;
    for (uint32_t i = 0; i < fb->nentries; i++) {
        struct frame_entry e;
        frame_entry_get(fb, i, &e);
        if (e.kind != FRAME_KIND_DATA)
            continue;
        struct repl_digest d;
        blockmap_digest(raw + pos, e.len, &d);
        if (!blockmap_digest_eq(&d, &e.digest)) {
            snprintf(err, errlen, "digest mismatch for block at offset %" PRIu64, e.off);
            return -EBADMSG;
        }
        pos += e.len;
    }
    return 0;
}

size_t frame_blocks_bound(uint32_t n, uint32_t rawlen)
{
    return FRAME_BLOCKS_HDR + (size_t)n * FRAME_ENTRY_LEN + ZSTD_compressBound(rawlen);
}

long frame_blocks_encode(uint8_t *out, size_t outcap, uint64_t covered_end,
                         const struct frame_entry *ents, uint32_t n, const uint8_t *raw,
                         uint32_t rawlen, void *zcctx, int level)
{
    size_t head = FRAME_BLOCKS_HDR + (size_t)n * FRAME_ENTRY_LEN;
    if (outcap < head)
        return -ENOSPC;
    size_t comp = 0;
    if (rawlen) {
        comp = ZSTD_compressCCtx(zcctx, out + head, outcap - head, raw, rawlen, level);
        if (ZSTD_isError(comp))
            return -EIO;
    }
    struct codec_wr w;
    codec_wr_init(&w, out, head);
    codec_put_u64(&w, covered_end);
    codec_put_u32(&w, n);
    codec_put_u32(&w, rawlen);
    codec_put_u32(&w, (uint32_t)comp);
    static const uint8_t pad[3];
    for (uint32_t i = 0; i < n; i++) {
        codec_put_u64(&w, ents[i].off);
        codec_put_u32(&w, ents[i].len);
        codec_put_u8(&w, ents[i].kind);
        codec_put_bytes(&w, pad, 3);
        codec_put_bytes(&w, ents[i].digest.b, BLOCKMAP_DIGEST);
    }
    return w.bad ? -ENOSPC : (long)(head + comp);
}
