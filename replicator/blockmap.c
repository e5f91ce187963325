/* blockmap — file-backed mmap'd digest map (see blockmap.h). */
#include "blockmap.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define BLOCKMAP_MAGIC "WMBMAP01"
#define BLOCKMAP_HDR 4096

struct blockmap_hdr {
    char magic[8];
    uint32_t version, bs;
    uint64_t size, gen, nblocks;
    uint8_t uuid[16];
    uint32_t sealed; /* 1: sum holds the entries' digest (blockmap_seal) */
    uint8_t sum[16];
};

struct blockmap {
    int fd;
    uint8_t *base; /* header + entries */
    size_t maplen;
    struct blockmap_hdr *hdr;
    struct repl_digest *ent;
};

uint64_t blockmap_count(uint64_t size, uint32_t bs)
{
    return bs ? (size + bs - 1) / bs : 0;
}

uint64_t blockmap_file_bytes(uint64_t size, uint32_t bs)
{
    return BLOCKMAP_HDR + blockmap_count(size, bs) * BLOCKMAP_DIGEST;
}

static int blockmap_map(struct blockmap *m, uint64_t nblocks, char *err, size_t errlen)
{
    size_t len = BLOCKMAP_HDR + (size_t)nblocks * BLOCKMAP_DIGEST;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        snprintf(err, errlen, "mmap digest map: %s", strerror(e));
        return -e;
    }
    m->base = p;
    m->maplen = len;
    m->hdr = p;
    m->ent = (struct repl_digest *)(m->base + BLOCKMAP_HDR);
    return 0;
}

static int blockmap_init_file(struct blockmap *m, uint32_t bs, uint64_t size, char *err,
                              size_t errlen)
{
    uint64_t n = blockmap_count(size, bs);
    /* blocks allocated now, not at the first store through the mapping: a
     * full disk then fails this call, not the daemon (SIGBUS) */
    int e = ftruncate(m->fd, 0) < 0
                ? errno
                : posix_fallocate(m->fd, 0, (off_t)(BLOCKMAP_HDR + n * BLOCKMAP_DIGEST));
    if (e) {
        snprintf(err, errlen, "size digest map: %s", strerror(e));
        return -e;
    }
    int rc = blockmap_map(m, n, err, errlen);
    if (rc < 0)
        return rc;
    memcpy(m->hdr->magic, BLOCKMAP_MAGIC, 8);
    m->hdr->version = 1;
    m->hdr->bs = bs;
    m->hdr->size = size;
    m->hdr->nblocks = n;
    return 0;
}

static int blockmap_check_file(struct blockmap *m, char *err, size_t errlen)
{
    struct stat st;
    struct blockmap_hdr h;
    if (fstat(m->fd, &st) < 0 || pread(m->fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
        snprintf(err, errlen, "digest map unreadable");
        return -EIO;
    }
    if (memcmp(h.magic, BLOCKMAP_MAGIC, 8) != 0 || h.version != 1 || h.bs == 0 ||
        h.nblocks != blockmap_count(h.size, h.bs) ||
        (uint64_t)st.st_size != BLOCKMAP_HDR + h.nblocks * BLOCKMAP_DIGEST) {
        snprintf(err, errlen, "digest map corrupt (bad header or length)");
        return -EINVAL;
    }
    return blockmap_map(m, h.nblocks, err, errlen);
}

struct blockmap *blockmap_open(const char *path, int create, uint32_t bs, uint64_t size, char *err,
                               size_t errlen)
{
    struct blockmap *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    if (m->fd < 0) {
        snprintf(err, errlen, "open %s: %s", path, strerror(errno));
        free(m);
        return NULL;
    }
    int rc =
        create ? blockmap_init_file(m, bs, size, err, errlen) : blockmap_check_file(m, err, errlen);
    if (rc < 0) {
        close(m->fd);
        free(m);
        return NULL;
    }
    return m;
}

void blockmap_free(struct blockmap *m)
{
    if (!m)
        return;
    if (m->base)
        munmap(m->base, m->maplen);
    close(m->fd);
    free(m);
}

uint32_t blockmap_bs(const struct blockmap *m)
{
    return m->hdr->bs;
}
uint64_t blockmap_size(const struct blockmap *m)
{
    return m->hdr->size;
}
uint64_t blockmap_nblocks(const struct blockmap *m)
{
    return m->hdr->nblocks;
}
uint64_t blockmap_gen(const struct blockmap *m)
{
    return m->hdr->gen;
}
const uint8_t *blockmap_uuid(const struct blockmap *m)
{
    return m->hdr->uuid;
}

void blockmap_set_gen(struct blockmap *m, uint64_t gen, const uint8_t uuid[16])
{
    m->hdr->gen = gen;
    memcpy(m->hdr->uuid, uuid, 16);
}

const struct repl_digest *blockmap_get(const struct blockmap *m, uint64_t i)
{
    return i < m->hdr->nblocks ? &m->ent[i] : NULL;
}

void blockmap_set(struct blockmap *m, uint64_t i, const struct repl_digest *d)
{
    if (i < m->hdr->nblocks)
        m->ent[i] = *d;
}

int blockmap_is_set(const struct blockmap *m, uint64_t i)
{
    return i < m->hdr->nblocks && !blockmap_digest_empty(&m->ent[i]);
}

int blockmap_resize(struct blockmap *m, uint64_t size, char *err, size_t errlen)
{
    uint64_t n = blockmap_count(size, m->hdr->bs);
    uint64_t old = m->hdr->nblocks;
    if (n < old) /* entries past the new end must not survive a later growth */
        memset(&m->ent[n], 0, (size_t)(old - n) * BLOCKMAP_DIGEST);
    int e = n > old ? posix_fallocate(m->fd, 0, (off_t)(BLOCKMAP_HDR + n * BLOCKMAP_DIGEST)) : 0;
    if (e) {
        snprintf(err, errlen, "grow digest map: %s", strerror(e));
        return -e;
    }
    m->hdr->size = size;
    m->hdr->nblocks = n;
    munmap(m->base, m->maplen);
    m->base = NULL;
    if (n < old && ftruncate(m->fd, (off_t)(BLOCKMAP_HDR + n * BLOCKMAP_DIGEST)) < 0) {
        snprintf(err, errlen, "shrink digest map: %s", strerror(errno));
        return -errno;
    }
    return blockmap_map(m, n, err, errlen);
}

static void blockmap_sum(const struct blockmap *m, uint8_t out[16])
{
    XXH128_hash_t h = XXH3_128bits(m->ent, (size_t)m->hdr->nblocks * BLOCKMAP_DIGEST);
    XXH128_canonicalFromHash((XXH128_canonical_t *)out, h);
}

void blockmap_seal(struct blockmap *m)
{
    blockmap_sum(m, m->hdr->sum);
    m->hdr->sealed = 1;
}

int blockmap_seal_ok(const struct blockmap *m)
{
    uint8_t sum[16];
    if (m->hdr->sealed != 1)
        return 0;
    blockmap_sum(m, sum);
    return memcmp(sum, m->hdr->sum, 16) == 0;
}

int blockmap_sync(struct blockmap *m)
{
    if (msync(m->base, m->maplen, MS_SYNC) < 0)
        return -errno;
    return 0;
}

void blockmap_digest(const void *data, size_t len, struct repl_digest *out)
{
    XXH128_hash_t h = XXH3_128bits(data, len);
    XXH128_canonicalFromHash((XXH128_canonical_t *)out->b, h);
}

static pthread_once_t zero_once = PTHREAD_ONCE_INIT;
static struct repl_digest zero_cache[21]; /* lengths 2^0 .. 2^20 */

static void zero_init(void)
{
    void *z = calloc(1, 1u << 20);
    if (!z)
        abort(); /* 1 MiB at startup; nothing sensible to do without it */
    for (int i = 0; i <= 20; i++)
        blockmap_digest(z, (size_t)1 << i, &zero_cache[i]);
    free(z);
}

void blockmap_zero_digest(size_t len, struct repl_digest *out)
{
    pthread_once(&zero_once, zero_init);
    if (len && (len & (len - 1)) == 0 && len <= (1u << 20)) {
        *out = zero_cache[__builtin_ctzl(len)];
        return;
    }
    void *z = calloc(1, len ? len : 1);
    if (!z)
        abort();
    blockmap_digest(z, len, out);
    free(z);
}

int blockmap_digest_eq(const struct repl_digest *a, const struct repl_digest *b)
{
    return memcmp(a->b, b->b, BLOCKMAP_DIGEST) == 0;
}

int blockmap_digest_empty(const struct repl_digest *d)
{
    static const struct repl_digest empty;
    return blockmap_digest_eq(d, &empty);
}
