/* journal — the receiver's redo log for a delta generation.
 *
 * Each stream appends the blocks it receives to its own file
 * (NAME.journal.<range>) as chunks: a 16-byte header (magic, entry count,
 * data length), the BLOCKS frame's entries, then the blocks' data.  Writes
 * are sequential, so the checkpoint's fdatasync is cheap, and the journal
 * is truncated back to its checkpointed length when a stream resumes, so
 * it only ever holds blocks of checkpointed coverage plus the current
 * attempt's.  Commit replays the journals into NAME.img and NAME.map;
 * replay is idempotent (ranges are disjoint; within a journal later chunks
 * win). */
#ifndef REPL_JOURNAL_H
#define REPL_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

struct blockmap;

/* Appends one verified frame's entries and data at *pos (advanced). */
int journal_append(int fd, uint64_t *pos, const struct frame_blocks *fb, const uint8_t *raw);

/* Writes one frame's entries (already in memory, data in raw) into the
 * image img_fd of `size` bytes and its map: contiguous DATA blocks in one
 * pwrite, ZERO runs as holes.  Used for a chunk of a journal being replayed
 * and, in a full sync, for a received frame directly.  -EBADMSG when the
 * entries do not fit the image or raw, -errno/-EIO on a failed write. */
int journal_write_blocks(const struct frame_blocks *fb, const uint8_t *raw, int img_fd,
                         struct blockmap *map, uint64_t size);

/* Replays [0, len) of journal fd into the image (pwrite, holes for zero
 * runs) and the map.  -errno with err; a malformed journal is -EBADMSG. */
int journal_apply(int fd, uint64_t len, int img_fd, struct blockmap *map, uint64_t size, char *err,
                  size_t errlen);

/* Sets map's entries for the blocks that [0, len) of journal fd carries
 * (DATA: its digest, ZERO runs: the zero digest), reading entries only.
 * How the pending generation will read, without touching the image. */
int journal_digests(int fd, uint64_t len, struct blockmap *map, uint64_t size, char *err,
                    size_t errlen);

#endif
