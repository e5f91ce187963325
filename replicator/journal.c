/* journal — delta redo log (see journal.h). */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "blockmap.h"
#include "codec.h"

#define JOURNAL_MAGIC 0x4c4e524aU /* "JRNL" */
#define JOURNAL_HDR 16

int journal_append(int fd, uint64_t *pos, const struct frame_blocks *fb, const uint8_t *raw)
{
    uint8_t hdr[JOURNAL_HDR];
    struct codec_wr w;
    codec_wr_init(&w, hdr, sizeof(hdr));
    codec_put_u32(&w, JOURNAL_MAGIC);
    codec_put_u32(&w, fb->nentries);
    codec_put_u32(&w, fb->raw_len);
    codec_put_u32(&w, 0);
    size_t elen = (size_t)fb->nentries * FRAME_ENTRY_LEN;
    struct iovec iov[3] = {
        {hdr, sizeof(hdr)}, {(void *)fb->entries, elen}, {(void *)raw, fb->raw_len}};
    size_t total = sizeof(hdr) + elen + fb->raw_len;
    ssize_t n = pwritev(fd, iov, 3, (off_t)*pos);
    if (n != (ssize_t)total)
        return n < 0 ? -errno : -EIO;
    /* start writing it back now: the checkpoint's fdatasync then only
     * waits for the tail, not for the whole range's blocks */
    sync_file_range(fd, (off_t)*pos, (off_t)total, SYNC_FILE_RANGE_WRITE);
    *pos += total;
    return 0;
}

static int journal_read(int fd, void *buf, size_t n, uint64_t off)
{
    return pread(fd, buf, n, (off_t)off) == (ssize_t)n ? 0 : -EIO;
}

int journal_write_blocks(const struct frame_blocks *fb, const uint8_t *raw, int img_fd,
                         struct blockmap *map, uint64_t size)
{
    uint32_t bs = blockmap_bs(map);
    size_t pos = 0;
    for (uint32_t i = 0; i < fb->nentries;) {
        struct frame_entry e;
        frame_entry_get(fb, i, &e);
        if (e.off + e.len > size || e.off % bs)
            return -EBADMSG;
        if (e.kind == FRAME_KIND_ZERO) {
            struct repl_digest z;
            for (uint64_t off = e.off; off < e.off + e.len; off += bs) {
                blockmap_zero_digest(off + bs > size ? size - off : bs, &z);
                blockmap_set(map, off / bs, &z);
            }
            if (fallocate(img_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)e.off,
                          (off_t)e.len) < 0)
                return -errno;
            i++;
            continue;
        }
        uint64_t start = e.off, len = 0;
        size_t from = pos;
        while (i < fb->nentries) {
            frame_entry_get(fb, i, &e);
            if (e.kind != FRAME_KIND_DATA || e.off != start + len || pos + e.len > fb->raw_len)
                break;
            blockmap_set(map, e.off / bs, &e.digest);
            len += e.len;
            pos += e.len;
            i++;
        }
        if (len == 0)
            return -EBADMSG;
        if (pwrite(img_fd, raw + from, len, (off_t)start) != (ssize_t)len)
            return -EIO;
    }
    return pos == fb->raw_len ? 0 : -EBADMSG;
}

/* The chunk header at off: entry count and data length, checked against
 * the journal's length len. */
static int journal_chunk(int fd, uint64_t off, uint64_t len, struct frame_blocks *fb)
{
    uint8_t hdr[JOURNAL_HDR];
    struct codec_rd r;
    if (journal_read(fd, hdr, sizeof(hdr), off) < 0)
        return -EIO;
    codec_rd_init(&r, hdr, sizeof(hdr));
    uint32_t magic = codec_get_u32(&r);
    *fb = (struct frame_blocks){0};
    fb->nentries = codec_get_u32(&r);
    fb->raw_len = codec_get_u32(&r);
    size_t elen = (size_t)fb->nentries * FRAME_ENTRY_LEN;
    if (magic != JOURNAL_MAGIC || fb->nentries > FRAME_MAX_ENTRIES || fb->raw_len > FRAME_MAX_RAW ||
        off + JOURNAL_HDR + elen + fb->raw_len > len)
        return -EBADMSG;
    return 0;
}

static void journal_err(int rc, char *err, size_t errlen)
{
    snprintf(err, errlen, "replay journal: %s",
             rc == -EBADMSG ? "journal is corrupt" : strerror(-rc));
}

int journal_apply(int fd, uint64_t len, int img_fd, struct blockmap *map, uint64_t size, char *err,
                  size_t errlen)
{
    size_t cap = (size_t)FRAME_MAX_ENTRIES * FRAME_ENTRY_LEN + FRAME_MAX_RAW;
    uint8_t *buf = malloc(cap);
    int rc = buf ? 0 : -ENOMEM;
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    for (uint64_t off = 0; rc == 0 && off < len;) {
        struct frame_blocks fb;
        if ((rc = journal_chunk(fd, off, len, &fb)) < 0)
            break;
        size_t elen = (size_t)fb.nentries * FRAME_ENTRY_LEN;
        if ((rc = journal_read(fd, buf, elen + fb.raw_len, off + JOURNAL_HDR)) < 0)
            break;
        fb.entries = buf;
        rc = journal_write_blocks(&fb, buf + elen, img_fd, map, size);
        off += JOURNAL_HDR + elen + fb.raw_len;
    }
    if (rc < 0)
        journal_err(rc, err, errlen);
    free(buf);
    return rc;
}

/* One chunk's entries into the map. */
static int journal_chunk_digests(const struct frame_blocks *fb, struct blockmap *map, uint64_t size)
{
    uint32_t bs = blockmap_bs(map);
    for (uint32_t i = 0; i < fb->nentries; i++) {
        struct frame_entry e;
        frame_entry_get(fb, i, &e);
        if (e.off + e.len > size || e.off % bs)
            return -EBADMSG;
        if (e.kind == FRAME_KIND_DATA) {
            blockmap_set(map, e.off / bs, &e.digest);
            continue;
        }
        struct repl_digest z;
        for (uint64_t off = e.off; off < e.off + e.len; off += bs) {
            blockmap_zero_digest(off + bs > size ? size - off : bs, &z);
            blockmap_set(map, off / bs, &z);
        }
    }
    return 0;
}

int journal_digests(int fd, uint64_t len, struct blockmap *map, uint64_t size, char *err,
                    size_t errlen)
{
    uint8_t *buf = malloc((size_t)FRAME_MAX_ENTRIES * FRAME_ENTRY_LEN);
    int rc = buf ? 0 : -ENOMEM;
    for (uint64_t off = 0; rc == 0 && off < len;) {
        struct frame_blocks fb;
        if ((rc = journal_chunk(fd, off, len, &fb)) < 0)
            break;
        size_t elen = (size_t)fb.nentries * FRAME_ENTRY_LEN;
        if ((rc = journal_read(fd, buf, elen, off + JOURNAL_HDR)) < 0)
            break;
        fb.entries = buf;
        rc = journal_chunk_digests(&fb, map, size);
        off += JOURNAL_HDR + elen + fb.raw_len;
    }
    if (rc < 0)
        journal_err(rc, err, errlen);
    free(buf);
    return rc;
}
