/* rspace — may a BEGIN of this size be staged under the receiver's root?
 *
 * Before BEGIN_OK the receiver makes sure the pending generation can be
 * written in full: the declared size is at most the configured maximum (a
 * 30-byte frame must not create an 8 TiB staging file) and the file system
 * has room for what staging still has to allocate.  Without the check a
 * full disk shows up mid-sync, or as SIGBUS through a mapped digest map. */
#ifndef REPL_RSPACE_H
#define REPL_RSPACE_H

#include <stddef.h>
#include <stdint.h>

#define RSPACE_DEFAULT_MAX ((uint64_t)16 << 40) /* 16 TiB, ext4's largest file */

struct rvol;

/* 0 when a BEGIN of size/bs (full: a new image is staged) fits; -EFBIG
 * when size exceeds max_bytes, -ENOSPC when the file system of the
 * volume's root lacks the room, with the sentence in err. */
int rspace_check(const struct rvol *v, uint64_t size, uint32_t bs, int full, uint64_t max_bytes,
                 char *err, size_t errlen);

#endif
