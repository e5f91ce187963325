/* rsnap — a consistent copy of a receiver volume's committed generation,
 * taken by another process (the libvirt provider) while syncs go on.
 *
 * The receiver holds an exclusive flock(2) on ROOT/NAME.lock while a commit
 * makes a generation visible in NAME.img (rvol_commit, the replay in
 * rvol_open); rsnap_copy holds it shared while it reads NAME.state and
 * copies NAME.img.  So the copy is always exactly one committed generation:
 * never a half-applied delta, and the replica itself is only read.  Blocks
 * of a delta still being received live in NAME.stage/journals, not in
 * NAME.img, so streaming goes on during the copy; only a commit waits.
 *
 * The copy is a reflink (FICLONE) where the filesystem has it (btrfs, xfs:
 * instant, no space), else a sparse copy (copy_file_range over the data
 * extents).  It goes to DST.tmp, is fsynced and renamed to DST. */
#ifndef REPL_RSNAP_H
#define REPL_RSNAP_H

#include <stddef.h>
#include <stdint.h>

/* ROOT/NAME.lock, the file both sides lock (out must hold 4200 bytes). */
void rsnap_lock_path(const char *root, const char *name, char *out, size_t outlen);

/* Opens and flocks ROOT/NAME.lock (how = LOCK_SH or LOCK_EX); the fd to
 * pass to rsnap_unlock, or a negative errno. */
int rsnap_lock(const char *root, const char *name, int how);
void rsnap_unlock(int fd);

/* Copies the committed generation of volume NAME under ROOT to dst.  0
 * with *gen (and *reflinked = 1 when it was a reflink), -ENOENT when the
 * volume has no committed generation, -EAGAIN when a commit's apply is
 * unfinished (the receiver replays it when it next opens the volume),
 * else a negative errno; the reason in err. */
int rsnap_copy(const char *root, const char *name, const char *dst, uint64_t *gen, int *reflinked,
               char *err, size_t errlen);

#endif
