/* The replication protocol byte for byte: one fixed vector per frame type,
 * written by hand from the wire-format table in replicator/README.md (not
 * produced by the encoders).  Each encoder must produce exactly its vector,
 * each decoder must read it back to the same values, and refuse it one
 * byte short or one byte long.  The round-trip tests (test_repl_codec.c)
 * cannot see a format that changed on both sides at once; these can. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zstd.h>

#include <cmocka.h>

#include "blockmap.h"
#include "frame.h"
#include "proto.h"

/* the header of a frame of type t with a payload of n bytes (n < 256) */
#define HDR(t, n) 'W', 'M', 'R', '1', (t), 0, 0, 0, (n), 0, 0, 0
#define U16(v) ((v)&0xff), (((v) >> 8) & 0xff)
#define U32(v) U16((v)&0xffff), U16(((v) >> 16) & 0xffff)
#define U64(v) U32((v)&0xffffffffu), U32(((uint64_t)(v) >> 32) & 0xffffffffu)
#define VOL1 U16(5), 'v', 'o', 'l', '-', '1' /* str "vol-1" */
#define UUID 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
#define PAD3 0, 0, 0
#define ZERO16 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0

static const uint8_t uuid[16] = {UUID};

/* The encoder's payload (n bytes) behind a header for type equals want;
 * want's header decodes to type and n. */
static void assert_frame(uint8_t type, const uint8_t *payload, long n, const uint8_t *want,
                         size_t wantlen)
{
    uint8_t hdr[FRAME_HDR_LEN], t;
    uint32_t len;
    char err[128];

    assert_true(n >= 0);
    assert_int_equal((size_t)n + FRAME_HDR_LEN, wantlen);
    frame_hdr_encode(hdr, type, (uint32_t)n);
    assert_memory_equal(hdr, want, FRAME_HDR_LEN);
    assert_memory_equal(payload, want + FRAME_HDR_LEN, (size_t)n);
    assert_int_equal(frame_hdr_decode(want, &t, &len, err, sizeof(err)), 0);
    assert_int_equal(t, type);
    assert_int_equal(len, (uint32_t)n);
}

/* DECODES(fn, vec, out): fn reads vec's payload into *out, and refuses it
 * one byte short and with one byte more */
#define DECODES(fn, vec, out)                                                                      \
    do {                                                                                           \
        const uint8_t *pl_ = (vec) + FRAME_HDR_LEN;                                                \
        size_t n_ = sizeof(vec) - FRAME_HDR_LEN;                                                   \
        uint8_t longer_[sizeof(vec) + 1];                                                          \
        __typeof__(*(out)) scratch_;                                                               \
        assert_int_equal(fn(pl_, n_, (out)), 0);                                                   \
        assert_int_equal(fn(pl_, n_ - 1, &scratch_), -EBADMSG);                                    \
        memcpy(longer_, pl_, n_);                                                                  \
        longer_[n_] = 0;                                                                           \
        assert_int_equal(fn(longer_, n_ + 1, &scratch_), -EBADMSG);                                \
    } while (0)

/* ------------------------------------------------------------- header */

static void test_header_layout_and_refusals(void **state)
{
    (void)state;
    uint8_t v[FRAME_HDR_LEN] = {'W', 'M', 'R', '1', 14, 0, 0, 0, U32(0x00800000)}, t;
    uint32_t len;
    char err[128];

    assert_int_equal(frame_hdr_decode(v, &t, &len, err, sizeof(err)), 0); /* 8 MiB: the max */
    assert_int_equal(t, FRAME_ERROR);
    assert_int_equal(len, 8u << 20);
    v[8] = 1; /* 8 MiB + 1 */
    assert_int_equal(frame_hdr_decode(v, &t, &len, err, sizeof(err)), -EMSGSIZE);
    v[8] = 0;
    v[3] = '2'; /* "WMR2" */
    assert_int_equal(frame_hdr_decode(v, &t, &len, err, sizeof(err)), -EPROTO);
    v[3] = '1';
    v[5] = 1; /* flags */
    assert_int_equal(frame_hdr_decode(v, &t, &len, err, sizeof(err)), -EPROTO);
    v[5] = 0;
    v[7] = 1; /* reserved */
    assert_int_equal(frame_hdr_decode(v, &t, &len, err, sizeof(err)), -EPROTO);
}

/* ------------------------------------------------------ session frames */

/* clang-format off */
static const uint8_t begin_v[] = {
    HDR(1, 22),
    VOL1,
    U64(0x100000000), /* size 4 GiB */
    U32(4096),        /* block size */
    U16(2),           /* streams */
    1,                /* full */
};
/* clang-format on */

static void test_begin(void **state)
{
    (void)state;
    struct proto_begin m = {.volume = "vol-1",
                            .size = 1ull << 32,
                            .bs = 4096,
                            .nranges = 2,
                            .full = 1},
                       d;
    uint8_t buf[256];
    assert_frame(FRAME_BEGIN, buf, proto_begin_encode(&m, buf, sizeof(buf)), begin_v,
                 sizeof(begin_v));
    DECODES(proto_begin_decode, begin_v, &d);
    assert_string_equal(d.volume, "vol-1");
    assert_true(d.size == 1ull << 32);
    assert_int_equal(d.bs, 4096);
    assert_int_equal(d.nranges, 2);
    assert_int_equal(d.full, 1);
}

/* clang-format off */
static const uint8_t begin_ok_v[] = {
    HDR(2, 103),
    U64(7),          /* committed gen */
    U64(0x40000000), /* committed size 1 GiB */
    UUID,
    U32(4096), /* committed block size */
    U64(8),    /* pending gen */
    U64(3),    /* epoch */
    2,         /* mode delta */
    U16(2),
    U64(0),
    U64(0x20000000),
    U64(0x1000), /* range 0: 4 KiB done */
    U64(0x20000000),
    U64(0x40000000),
    U64(0x20000000), /* range 1: nothing done */
};
/* clang-format on */

static void test_begin_ok(void **state)
{
    (void)state;
    struct proto_begin_ok m = {.committed_gen = 7,
                               .committed_size = 1u << 30,
                               .committed_bs = 4096,
                               .pending_gen = 8,
                               .epoch = 3,
                               .mode = PROTO_MODE_DELTA,
                               .nranges = 2,
                               .ranges = {{0, 1u << 29, 4096}, {1u << 29, 1u << 30, 1u << 29}}},
                          d;
    memcpy(m.uuid, uuid, 16);
    uint8_t buf[512];
    assert_frame(FRAME_BEGIN_OK, buf, proto_begin_ok_encode(&m, buf, sizeof(buf)), begin_ok_v,
                 sizeof(begin_ok_v));
    DECODES(proto_begin_ok_decode, begin_ok_v, &d);
    assert_int_equal(d.committed_gen, 7);
    assert_int_equal(d.committed_size, 1u << 30);
    assert_memory_equal(d.uuid, uuid, 16);
    assert_int_equal(d.committed_bs, 4096);
    assert_int_equal(d.pending_gen, 8);
    assert_int_equal(d.epoch, 3);
    assert_int_equal(d.mode, PROTO_MODE_DELTA);
    assert_int_equal(d.nranges, 2);
    assert_int_equal(d.ranges[0].done, 4096);
    assert_int_equal(d.ranges[1].start, 1u << 29);
    assert_int_equal(d.ranges[1].end, 1u << 30);
    assert_int_equal(d.ranges[1].done, 1u << 29);
}

static const uint8_t stream_v[] = {HDR(3, 25), VOL1, U64(8), /* gen */ U64(3), /* epoch */
                                   U16(1) /* range index */};

static void test_stream(void **state)
{
    (void)state;
    struct proto_stream m = {.volume = "vol-1", .gen = 8, .epoch = 3, .idx = 1}, d;
    uint8_t buf[256];
    assert_frame(FRAME_STREAM, buf, proto_stream_encode(&m, buf, sizeof(buf)), stream_v,
                 sizeof(stream_v));
    DECODES(proto_stream_decode, stream_v, &d);
    assert_string_equal(d.volume, "vol-1");
    assert_int_equal(d.gen, 8);
    assert_int_equal(d.epoch, 3);
    assert_int_equal(d.idx, 1);
}

/* STREAM_OK, RANGE_DONE and RANGE_OK all carry a range */
static const uint8_t stream_ok_v[] = {HDR(4, 24), U64(0x20000000), U64(0x40000000),
                                      U64(0x20100000) /* resumes 1 MiB in */};
static const uint8_t range_done_v[] = {HDR(6, 24), U64(0), U64(0x20000000), U64(0x20000000)};
static const uint8_t range_ok_v[] = {HDR(7, 24), U64(0), U64(0x20000000), U64(0x20000000)};

static void test_stream_ok_range_done_range_ok(void **state)
{
    (void)state;
    struct proto_range resume = {1u << 29, 1u << 30, (1u << 29) + (1u << 20)},
                       done = {0, 1u << 29, 1u << 29}, d;
    uint8_t buf[64];
    assert_frame(FRAME_STREAM_OK, buf, proto_range_encode(&resume, buf, sizeof(buf)), stream_ok_v,
                 sizeof(stream_ok_v));
    DECODES(proto_range_decode, stream_ok_v, &d);
    assert_int_equal(d.done, (1u << 29) + (1u << 20));
    assert_frame(FRAME_RANGE_DONE, buf, proto_range_encode(&done, buf, sizeof(buf)), range_done_v,
                 sizeof(range_done_v));
    assert_frame(FRAME_RANGE_OK, buf, proto_range_encode(&done, buf, sizeof(buf)), range_ok_v,
                 sizeof(range_ok_v));
    DECODES(proto_range_decode, range_ok_v, &d);
    assert_int_equal(d.start, 0);
    assert_int_equal(d.end, 1u << 29);
    assert_int_equal(d.done, 1u << 29);
    /* done outside [start, end] is refused */
    uint8_t bad[24];
    memcpy(bad, range_ok_v + FRAME_HDR_LEN, 24);
    bad[16 + 4] = 0x30; /* done 0x3020000000: past end */
    assert_int_equal(proto_range_decode(bad, sizeof(bad), &d), -EBADMSG);
}

static const uint8_t commit_v[] = {HDR(8, 23), VOL1, U64(8), U64(3)};
static const uint8_t commit_ok_v[] = {HDR(9, 24), U64(8), UUID};

static void test_commit_and_commit_ok(void **state)
{
    (void)state;
    struct proto_commit m = {.volume = "vol-1", .gen = 8, .epoch = 3}, d;
    struct proto_gen g = {.gen = 8}, gd;
    memcpy(g.uuid, uuid, 16);
    uint8_t buf[256];
    assert_frame(FRAME_COMMIT, buf, proto_commit_encode(&m, buf, sizeof(buf)), commit_v,
                 sizeof(commit_v));
    DECODES(proto_commit_decode, commit_v, &d);
    assert_string_equal(d.volume, "vol-1");
    assert_int_equal(d.gen, 8);
    assert_int_equal(d.epoch, 3);
    assert_frame(FRAME_COMMIT_OK, buf, proto_gen_encode(&g, buf, sizeof(buf)), commit_ok_v,
                 sizeof(commit_ok_v));
    DECODES(proto_gen_decode, commit_ok_v, &gd);
    assert_int_equal(gd.gen, 8);
    assert_memory_equal(gd.uuid, uuid, 16);
}

/* ------------------------------------------------------------- BLOCKS */

/* A run of two zero blocks: no data, so no zstd frame. */
/* clang-format off */
static const uint8_t blocks_zero_v[] = {
    HDR(5, 52),
    U64(0x3000), /* covered end */
    U32(1),      /* entries */
    U32(0),      /* raw length */
    U32(0),      /* compressed length */
    U64(0x1000), /* entry: offset */
    U32(0x2000), /* length: two blocks */
    2,           /* ZERO */
    PAD3,
    ZERO16,      /* digest: unused */
};
/* clang-format on */

static const struct frame_bounds bounds = {
    .bs = 4096, .size = 1u << 20, .start = 0, .end = 1u << 20};

static void test_blocks_zero_run(void **state)
{
    (void)state;
    struct frame_entry e = {.off = 0x1000, .len = 0x2000, .kind = FRAME_KIND_ZERO}, got;
    struct frame_blocks fb;
    uint8_t buf[256];
    char err[256];
    ZSTD_CCtx *z = ZSTD_createCCtx();
    long n = frame_blocks_encode(buf, sizeof(buf), 0x3000, &e, 1, NULL, 0, z, 1);
    ZSTD_freeCCtx(z);
    assert_frame(FRAME_BLOCKS, buf, n, blocks_zero_v, sizeof(blocks_zero_v));
    const uint8_t *pl = blocks_zero_v + FRAME_HDR_LEN;
    size_t len = sizeof(blocks_zero_v) - FRAME_HDR_LEN;
    assert_int_equal(frame_blocks_decode(pl, len, &bounds, 0, &fb, err, sizeof(err)), 0);
    assert_int_equal(fb.covered_end, 0x3000);
    assert_int_equal(fb.nentries, 1);
    assert_int_equal(fb.raw_len, 0);
    frame_entry_get(&fb, 0, &got);
    assert_int_equal(got.off, 0x1000);
    assert_int_equal(got.len, 0x2000);
    assert_int_equal(got.kind, FRAME_KIND_ZERO);
    assert_int_equal(frame_blocks_decode(pl, len - 1, &bounds, 0, &fb, err, sizeof(err)), -EBADMSG);
}

/* One DATA block of 4096 x 0xab.  Its zstd frame is written from RFC 8878:
 * magic, a single-segment descriptor with a 2-byte content size (stored
 * minus 256), and one last RLE block of 4096 bytes. */
#define ZSTD_RLE_4096_AB 0x28, 0xb5, 0x2f, 0xfd, 0x60, U16(4096 - 256), 0x03, 0x80, 0x00, 0xab
/* clang-format off */
static uint8_t blocks_data_v[] = {
    HDR(5, 63),
    U64(0x1000), /* covered end */
    U32(1),      /* entries */
    U32(4096),   /* raw length */
    U32(11),     /* compressed length */
    U64(0),    /* entry: offset */
    U32(4096), /* length */
    1,         /* DATA */
    PAD3,
    ZERO16,    /* digest: filled in by set_data_digest() */
    ZSTD_RLE_4096_AB,
};
/* clang-format on */
#define DATA_DIGEST_AT (FRAME_HDR_LEN + FRAME_BLOCKS_HDR + 16)

/* XXH3-128 of the block in canonical form (high 64 bits first, big-endian),
 * computed here with xxhash, not with blockmap */
static void set_data_digest(uint8_t *block)
{
    memset(block, 0xab, 4096);
    XXH128_hash_t h = XXH3_128bits(block, 4096);
    for (int i = 0; i < 8; i++) {
        blocks_data_v[DATA_DIGEST_AT + i] = (uint8_t)(h.high64 >> (56 - 8 * i));
        blocks_data_v[DATA_DIGEST_AT + 8 + i] = (uint8_t)(h.low64 >> (56 - 8 * i));
    }
}

static void test_blocks_data_block(void **state)
{
    (void)state;
    static uint8_t block[4096], raw[4096], buf[8192];
    struct frame_blocks fb;
    struct frame_entry got;
    char err[256];
    set_data_digest(block);
    const uint8_t *pl = blocks_data_v + FRAME_HDR_LEN;
    size_t len = sizeof(blocks_data_v) - FRAME_HDR_LEN;

    /* the vector decodes, decompresses and its digest checks */
    assert_int_equal(frame_blocks_decode(pl, len, &bounds, 0, &fb, err, sizeof(err)), 0);
    assert_int_equal(fb.raw_len, 4096);
    assert_int_equal(fb.comp_len, 11);
    frame_entry_get(&fb, 0, &got);
    assert_int_equal(got.kind, FRAME_KIND_DATA);
    assert_memory_equal(got.digest.b, blocks_data_v + DATA_DIGEST_AT, 16);
    ZSTD_DCtx *dz = ZSTD_createDCtx();
    assert_int_equal(frame_blocks_verify(&fb, dz, raw, sizeof(raw), err, sizeof(err)), 0);
    assert_memory_equal(raw, block, 4096);
    /* blockmap's digest is the same canonical XXH3-128 */
    struct repl_digest d;
    blockmap_digest(block, 4096, &d);
    assert_memory_equal(d.b, blocks_data_v + DATA_DIGEST_AT, 16);
    /* a digest off by one bit is refused */
    uint8_t bad[sizeof(blocks_data_v)];
    memcpy(bad, pl, len);
    bad[FRAME_BLOCKS_HDR + 16 + 15] ^= 1;
    assert_int_equal(frame_blocks_decode(bad, len, &bounds, 0, &fb, err, sizeof(err)), 0);
    assert_int_equal(frame_blocks_verify(&fb, dz, raw, sizeof(raw), err, sizeof(err)), -EBADMSG);

    /* the encoder writes the same header and entry (its zstd frame is
     * zstd's business: it must decompress to the block) */
    struct frame_entry e = {.off = 0, .len = 4096, .kind = FRAME_KIND_DATA, .digest = d};
    ZSTD_CCtx *z = ZSTD_createCCtx();
    long n = frame_blocks_encode(buf, sizeof(buf), 0x1000, &e, 1, block, 4096, z, 1);
    ZSTD_freeCCtx(z);
    assert_true(n > FRAME_BLOCKS_HDR + FRAME_ENTRY_LEN);
    assert_memory_equal(buf, pl, 16); /* covered end, entries, raw length */
    assert_memory_equal(buf + FRAME_BLOCKS_HDR, pl + FRAME_BLOCKS_HDR, FRAME_ENTRY_LEN);
    assert_int_equal(frame_blocks_decode(buf, (size_t)n, &bounds, 0, &fb, err, sizeof(err)), 0);
    assert_int_equal(frame_blocks_verify(&fb, dz, raw, sizeof(raw), err, sizeof(err)), 0);
    assert_memory_equal(raw, block, 4096);
    ZSTD_freeDCtx(dz);
}

/* ---------------------------------------------------------- map frames */

static const uint8_t map_req_v[] = {HDR(10, 9), VOL1, 1 /* rehash */, 0 /* sha256 */};
static const uint8_t map_info_v[] = {HDR(11, 44), U64(7),
                                     U64(10000),  U64(3), /* 10000 / 4096 up */
                                     UUID,        U32(4096)};

static void test_map_req_and_map_info(void **state)
{
    (void)state;
    struct proto_map_req m = {.volume = "vol-1", .rehash = 1, .sha256 = 0}, d;
    struct proto_map_info i = {.gen = 7, .size = 10000, .nblocks = 3, .bs = 4096}, id;
    memcpy(i.uuid, uuid, 16);
    uint8_t buf[256];
    assert_frame(FRAME_MAP_REQ, buf, proto_map_req_encode(&m, buf, sizeof(buf)), map_req_v,
                 sizeof(map_req_v));
    DECODES(proto_map_req_decode, map_req_v, &d);
    assert_string_equal(d.volume, "vol-1");
    assert_int_equal(d.rehash, 1);
    assert_int_equal(d.sha256, 0);
    assert_frame(FRAME_MAP_INFO, buf, proto_map_info_encode(&i, buf, sizeof(buf)), map_info_v,
                 sizeof(map_info_v));
    DECODES(proto_map_info_decode, map_info_v, &id);
    assert_int_equal(id.gen, 7);
    assert_int_equal(id.size, 10000);
    assert_int_equal(id.nblocks, 3);
    assert_memory_equal(id.uuid, uuid, 16);
    assert_int_equal(id.bs, 4096);
    /* a block count that does not match size and block size is refused */
    uint8_t bad[sizeof(map_info_v) - FRAME_HDR_LEN];
    memcpy(bad, map_info_v + FRAME_HDR_LEN, sizeof(bad));
    bad[16] = 2;
    assert_int_equal(proto_map_info_decode(bad, sizeof(bad), &id), -EBADMSG);
}

/* The receiver writes MAP_CHUNK inline; the agent's decoder is checked. */
/* clang-format off */
static const uint8_t map_chunk_v[] = {
    HDR(12, 44),
    U64(5), /* first block */
    U32(2), /* digests: blocks 5 and 6 */
    0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
};
/* clang-format on */

static void test_map_chunk(void **state)
{
    (void)state;
    const uint8_t *pl = map_chunk_v + FRAME_HDR_LEN, *dg;
    size_t len = sizeof(map_chunk_v) - FRAME_HDR_LEN;
    uint64_t first;
    uint32_t n;
    assert_int_equal(map_chunk_v[4], FRAME_MAP_CHUNK);
    assert_int_equal(proto_map_chunk_decode(pl, len, &first, &n, &dg), 0);
    assert_int_equal(first, 5);
    assert_int_equal(n, 2);
    assert_int_equal(dg[0], 0x11);
    assert_int_equal(dg[16], 0x22);
    assert_ptr_equal(dg, pl + 12);
    assert_int_equal(proto_map_chunk_decode(pl, len - 1, &first, &n, &dg), -EBADMSG);
    uint8_t big[12] = {U64(0), U32(65537)}; /* more than PROTO_MAP_CHUNK digests */
    assert_int_equal(proto_map_chunk_decode(big, sizeof(big), &first, &n, &dg), -EBADMSG);
}

/* clang-format off */
static const uint8_t map_end_v[] = {
    HDR(13, 33),
    1, /* has sha */
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
    0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
};
/* clang-format on */

static void test_map_end(void **state)
{
    (void)state;
    struct proto_map_end m = {.has_sha = 1}, d;
    for (int i = 0; i < 32; i++)
        m.sha[i] = (uint8_t)(0xa0 + i);
    uint8_t buf[64];
    assert_frame(FRAME_MAP_END, buf, proto_map_end_encode(&m, buf, sizeof(buf)), map_end_v,
                 sizeof(map_end_v));
    DECODES(proto_map_end_decode, map_end_v, &d);
    assert_int_equal(d.has_sha, 1);
    assert_memory_equal(d.sha, m.sha, 32);
}

/* clang-format off */
static const uint8_t error_v[] = {
    HDR(14, 19),
    U32(2), /* stale */
    U16(13), 's', 't', 'a', 'l', 'e', ' ', 's', 'e', 's', 's', 'i', 'o', 'n',
};
/* clang-format on */

static void test_error(void **state)
{
    (void)state;
    struct proto_error m = {.code = PROTO_E_STALE, .text = "stale session"}, d;
    uint8_t buf[64];
    assert_frame(FRAME_ERROR, buf, proto_error_encode(&m, buf, sizeof(buf)), error_v,
                 sizeof(error_v));
    DECODES(proto_error_decode, error_v, &d);
    assert_int_equal(d.code, 2);
    assert_string_equal(d.text, "stale session");
    /* a NUL inside a string is refused */
    uint8_t bad[sizeof(error_v) - FRAME_HDR_LEN];
    memcpy(bad, error_v + FRAME_HDR_LEN, sizeof(bad));
    bad[10] = 0;
    assert_int_equal(proto_error_decode(bad, sizeof(bad), &d), -EBADMSG);
}

/* ------------------------------------------------------ control frames */

/* clang-format off */
static const uint8_t ctl_req_v[] = {
    HDR(32, 60),
    1, /* op sync */
    0, /* full */
    1, /* sha256 */
    U16(5), 't', '1', '-', 'a', '2',
    U16(8), '/', 'd', 'e', 'v', '/', 'v', 'd', 'b',
    VOL1,
    U16(13), '1', '0', '.', '0', '.', '0', '.', '2', ':', '7', '0', '0', '0',
    U16(2),           /* streams */
    U32(4096),        /* block size */
    U32(0xfffffffdu), /* zstd level -3 */
    U64(10485760),    /* 10 MiB/s */
};
/* clang-format on */

static void test_ctl_req(void **state)
{
    (void)state;
    struct proto_ctl_req m = {.op = PROTO_CTL_SYNC,
                              .full = 0,
                              .sha256 = 1,
                              .id = "t1-a2",
                              .disk = "/dev/vdb",
                              .volume = "vol-1",
                              .to = "10.0.0.2:7000",
                              .streams = 2,
                              .bs = 4096,
                              .level = -3,
                              .bwlimit = 10u << 20},
                         d;
    static uint8_t buf[2048];
    assert_frame(FRAME_CTL_REQ, buf, proto_ctl_req_encode(&m, buf, sizeof(buf)), ctl_req_v,
                 sizeof(ctl_req_v));
    DECODES(proto_ctl_req_decode, ctl_req_v, &d);
    assert_int_equal(d.op, PROTO_CTL_SYNC);
    assert_int_equal(d.sha256, 1);
    assert_string_equal(d.id, "t1-a2");
    assert_string_equal(d.disk, "/dev/vdb");
    assert_string_equal(d.volume, "vol-1");
    assert_string_equal(d.to, "10.0.0.2:7000");
    assert_int_equal(d.streams, 2);
    assert_int_equal(d.bs, 4096);
    assert_int_equal(d.level, -3);
    assert_int_equal(d.bwlimit, 10u << 20);
}

#define PROGRESS_V                                                                                 \
    U64(0x0102030405060708ull),                        /* scanned */                               \
        U64(2), U64(3), U64(4), U64(5), U64(6), U64(7) /* sent wire total rate eta gen */

static const uint8_t ctl_progress_v[] = {HDR(33, 56), PROGRESS_V};
static const uint8_t ctl_result_v[] = {HDR(34, 72), U32(0xfffffffbu), /* rc -5 (-EIO) */
                                       U64(9),      PROGRESS_V,       U16(2), 'o', 'k'};

static void test_ctl_progress_and_result(void **state)
{
    (void)state;
    struct proto_progress p = {.scanned = 0x0102030405060708ull,
                               .sent = 2,
                               .wire = 3,
                               .total = 4,
                               .rate = 5,
                               .eta_s = 6,
                               .gen = 7},
                          pd;
    struct proto_ctl_result r = {.rc = -5, .gen = 9, .prog = p, .text = "ok"}, rd;
    static uint8_t buf[1024];
    assert_frame(FRAME_CTL_PROGRESS, buf, proto_progress_encode(&p, buf, sizeof(buf)),
                 ctl_progress_v, sizeof(ctl_progress_v));
    DECODES(proto_progress_decode, ctl_progress_v, &pd);
    assert_true(pd.scanned == 0x0102030405060708ull);
    assert_int_equal(pd.gen, 7);
    assert_frame(FRAME_CTL_RESULT, buf, proto_ctl_result_encode(&r, buf, sizeof(buf)), ctl_result_v,
                 sizeof(ctl_result_v));
    DECODES(proto_ctl_result_decode, ctl_result_v, &rd);
    assert_int_equal(rd.rc, -5);
    assert_int_equal(rd.gen, 9);
    assert_int_equal(rd.prog.eta_s, 6);
    assert_string_equal(rd.text, "ok");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_layout_and_refusals),
        cmocka_unit_test(test_begin),
        cmocka_unit_test(test_begin_ok),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_stream_ok_range_done_range_ok),
        cmocka_unit_test(test_commit_and_commit_ok),
        cmocka_unit_test(test_blocks_zero_run),
        cmocka_unit_test(test_blocks_data_block),
        cmocka_unit_test(test_map_req_and_map_info),
        cmocka_unit_test(test_map_chunk),
        cmocka_unit_test(test_map_end),
        cmocka_unit_test(test_error),
        cmocka_unit_test(test_ctl_req),
        cmocka_unit_test(test_ctl_progress_and_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
