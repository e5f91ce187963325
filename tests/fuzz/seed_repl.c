/* Writes valid inputs for the replicator fuzz targets (seed corpora):
 *   seed_repl DIR_FRAME DIR_PROTO */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "frame.h"
#include "proto.h"

static void put(const char *dir, const char *name, const void *a, size_t an, const void *b,
                size_t bn)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        exit(1);
    fwrite(a, 1, an, f);
    fwrite(b, 1, bn, f);
    fclose(f);
}

static void seed_frames(const char *dir)
{
    uint8_t raw[8192], out[65536], pre[FRAME_HDR_LEN + 16] = {0};
    for (int i = 0; i < 8192; i++)
        raw[i] = (uint8_t)(i % 251);
    struct frame_entry e[3] = {{.off = 0, .len = 4096, .kind = FRAME_KIND_DATA},
                               {.off = 4096, .len = 4096, .kind = FRAME_KIND_DATA},
                               {.off = 8192, .len = 8192, .kind = FRAME_KIND_ZERO}};
    blockmap_digest(raw, 4096, &e[0].digest);
    blockmap_digest(raw + 4096, 4096, &e[1].digest);
    ZSTD_CCtx *z = ZSTD_createCCtx();
    long n = frame_blocks_encode(out, sizeof(out), 16384, e, 3, raw, 8192, z, 1);
    frame_hdr_encode(pre, FRAME_BLOCKS, (uint32_t)n);
    pre[FRAME_HDR_LEN] = 3; /* bs 4096 */
    uint64_t size = 1 << 20, start = 0, end = 0xffffff;
    memcpy(pre + FRAME_HDR_LEN + 1, &size, 5);
    memcpy(pre + FRAME_HDR_LEN + 6, &start, 4);
    memcpy(pre + FRAME_HDR_LEN + 10, &end, 3);
    put(dir, "blocks3", pre, sizeof(pre), out, (size_t)n);
    n = frame_blocks_encode(out, sizeof(out), 4096, e, 1, raw, 4096, z, 1);
    put(dir, "blocks1", pre, sizeof(pre), out, (size_t)n);
    ZSTD_freeCCtx(z);
}

static void seed_proto(const char *dir)
{
    uint8_t buf[4096];
    struct proto_begin b = {.volume = "vol1", .size = 1 << 20, .bs = 4096, .nranges = 2};
    uint8_t k = 0;
    long n = proto_begin_encode(&b, buf, sizeof(buf));
    put(dir, "begin", &k, 1, buf, (size_t)n);
    struct proto_begin_ok o = {.committed_gen = 1, .pending_gen = 2, .mode = 2, .nranges = 1};
    o.ranges[0] = (struct proto_range){0, 100, 50};
    n = proto_begin_ok_encode(&o, buf, sizeof(buf));
    k = 1;
    put(dir, "begin_ok", &k, 1, buf, (size_t)n);
    struct proto_ctl_req c = {.op = 1, .id = "x", .disk = "/d", .volume = "v", .to = "h:1"};
    n = proto_ctl_req_encode(&c, buf, sizeof(buf));
    k = 10;
    put(dir, "ctl_req", &k, 1, buf, (size_t)n);
    struct proto_error e = {.code = 5, .text = "frame refused"};
    n = proto_error_encode(&e, buf, sizeof(buf));
    k = 9;
    put(dir, "error", &k, 1, buf, (size_t)n);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    seed_frames(argv[1]);
    seed_proto(argv[2]);
    return 0;
}
