/* rspace — see rspace.h */
#include "rspace.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "blockmap.h"
#include "rvol.h"

/* Bytes already allocated to the volume's file with this suffix. */
static uint64_t allocated(const struct rvol *v, const char *suffix)
{
    char p[4200];
    struct stat sb;
    rvol_path(v, suffix, p, sizeof(p));
    return stat(p, &sb) == 0 ? (uint64_t)sb.st_blocks * 512 : 0;
}

/* What staging may still allocate: a full sync writes up to the whole image
 * and its map (minus what a resumed stage already holds); a delta journals
 * changed blocks, of which we know no bound but the map's growth. */
static uint64_t space_needed(const struct rvol *v, uint64_t size, uint32_t bs, int full)
{
    uint64_t map = 4096 + blockmap_count(size, bs) * 16;
    if (!full)
        return map;
    uint64_t need = size + map, have = allocated(v, ".stage") + allocated(v, ".stage.map");
    return need > have ? need - have : 0;
}

int rspace_check(const struct rvol *v, uint64_t size, uint32_t bs, int full, uint64_t max_bytes,
                 char *err, size_t errlen)
{
    if (size > max_bytes) {
        snprintf(err, errlen,
                 "volume %s: size %" PRIu64 " exceeds the receiver's maximum volume size %" PRIu64
                 " (--max-volume-size)",
                 v->name, size, max_bytes);
        return -EFBIG;
    }
    struct statvfs fs;
    if (statvfs(v->root, &fs) < 0) {
        snprintf(err, errlen, "cannot check free space for volume %s", v->name);
        return -EIO;
    }
    uint64_t avail = (uint64_t)fs.f_bavail * fs.f_frsize, need = space_needed(v, size, bs, full);
    if (need > avail) {
        snprintf(err, errlen,
                 "not enough free space for volume %s: staging needs %" PRIu64 " bytes, %" PRIu64
                 " are free",
                 v->name, need, avail);
        return -ENOSPC;
    }
    return 0;
}
