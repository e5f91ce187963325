/* blockmap — file-backed digest map: one XXH3-128 digest per block.
 *
 * The file is a 4 KiB header (magic, block size, volume size, generation,
 * lineage uuid) followed by 16-byte digests, mmap'd shared so a
 * multi-terabyte disk's map never has to sit in memory and a killed process
 * leaves what it wrote in the page cache.  An all-zero digest means "no
 * entry" (XXH3-128 of real data being exactly zero is not a concern). */
#ifndef REPL_BLOCKMAP_H
#define REPL_BLOCKMAP_H

#include <stddef.h>
#include <stdint.h>

#define BLOCKMAP_DIGEST 16

struct repl_digest {
    uint8_t b[BLOCKMAP_DIGEST];
};

struct blockmap;

/* Opens PATH.  create: make (or truncate) it for bs/size with every entry
 * empty and generation 0.  Otherwise the file must exist and be valid.
 * NULL with err on failure. */
struct blockmap *blockmap_open(const char *path, int create, uint32_t bs, uint64_t size, char *err,
                               size_t errlen);
void blockmap_free(struct blockmap *m);

uint32_t blockmap_bs(const struct blockmap *m);
uint64_t blockmap_size(const struct blockmap *m);
uint64_t blockmap_nblocks(const struct blockmap *m);
uint64_t blockmap_gen(const struct blockmap *m);
const uint8_t *blockmap_uuid(const struct blockmap *m);
void blockmap_set_gen(struct blockmap *m, uint64_t gen, const uint8_t uuid[16]);

/* Entry i (i < nblocks).  get returns NULL past the end. */
const struct repl_digest *blockmap_get(const struct blockmap *m, uint64_t i);
void blockmap_set(struct blockmap *m, uint64_t i, const struct repl_digest *d);
int blockmap_is_set(const struct blockmap *m, uint64_t i);

/* Grows or shrinks to a new volume size (new entries empty). */
int blockmap_resize(struct blockmap *m, uint64_t size, char *err, size_t errlen);
/* msync: durable once this returns 0. */
int blockmap_sync(struct blockmap *m);
/* Instead of durability, detection: seal stores a digest of all entries
 * in the header; seal_ok is 1 when the entries still match it (a map
 * written without msync and cut short by a crash fails it).  Modifying an
 * entry afterwards breaks the seal until the next blockmap_seal. */
void blockmap_seal(struct blockmap *m);
int blockmap_seal_ok(const struct blockmap *m);

/* --- digests --- */
void blockmap_digest(const void *data, size_t len, struct repl_digest *out);
/* Digest of len zero bytes (cached for the common lengths). */
void blockmap_zero_digest(size_t len, struct repl_digest *out);
int blockmap_digest_eq(const struct repl_digest *a, const struct repl_digest *b);
int blockmap_digest_empty(const struct repl_digest *d);
/* Blocks of bs covering size bytes. */
uint64_t blockmap_count(uint64_t size, uint32_t bs);
/* Bytes of the map file of a disk of size bytes in blocks of bs. */
uint64_t blockmap_file_bytes(uint64_t size, uint32_t bs);

#endif
