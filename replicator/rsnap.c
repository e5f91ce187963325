/* rsnap — a copy of a committed generation (see rsnap.h). */
#include "rsnap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "volstate.h"

void rsnap_lock_path(const char *root, const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s.lock", root, name);
}

int rsnap_lock(const char *root, const char *name, int how)
{
    char p[4200];
    rsnap_lock_path(root, name, p, sizeof(p));
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    while (flock(fd, how) < 0) {
        if (errno != EINTR) {
            int rc = -errno;
            close(fd);
            return rc;
        }
    }
    return fd;
}

void rsnap_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

/* Copies the data extents of in to out (holes stay holes). */
static int copy_sparse(int in, int out, off_t size)
{
    off_t pos = 0;
    while (pos < size) {
        off_t data = lseek(in, pos, SEEK_DATA);
        if (data < 0)
            return errno == ENXIO ? 0 : -errno; /* only a hole is left */
        off_t hole = lseek(in, data, SEEK_HOLE);
        if (hole < 0)
            return -errno;
        off_t src = data, dst = data;
        while (src < hole) {
            ssize_t n = copy_file_range(in, &src, out, &dst, (size_t)(hole - src), 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return n < 0 ? -errno : -EIO;
        }
        pos = hole;
    }
    return 0;
}

/* img (open) into tmp: reflink, else the sparse copy. */
static int copy_image(int img, const char *tmp, off_t size, int *reflinked, char *err,
                      size_t errlen)
{
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        snprintf(err, errlen, "create %.300s: %s", tmp, strerror(errno));
        return -errno;
    }
    int rc = 0;
    *reflinked = ioctl(out, FICLONE, img) == 0;
    if (!*reflinked) {
        if (ftruncate(out, size) < 0 || (rc = copy_sparse(img, out, size)) < 0) {
            rc = rc < 0 ? rc : -errno;
            snprintf(err, errlen, "copy into %.300s: %s", tmp, strerror(-rc));
        }
    }
    if (rc == 0 && fsync(out) < 0) {
        rc = -errno;
        snprintf(err, errlen, "fsync %.300s: %s", tmp, strerror(-rc));
    }
    close(out);
    return rc;
}

/* Under the shared lock: the state says which generation NAME.img holds. */
static int copy_locked(const char *root, const char *name, const char *dst, uint64_t *gen,
                       int *reflinked, char *err, size_t errlen)
{
    char p[4200], tmp[4200];
    struct volstate st;
    snprintf(p, sizeof(p), "%s/%s.state", root, name);
    int rc = volstate_load(p, &st, err, errlen);
    if (rc < 0)
        return rc;
    if (st.applying) {
        snprintf(err, errlen, "volume %s: a commit of generation %llu is unfinished", name,
                 (unsigned long long)st.pending_gen);
        return -EAGAIN;
    }
    if (st.committed_gen == 0) {
        snprintf(err, errlen, "volume %s has no committed generation yet", name);
        return -ENOENT;
    }
    snprintf(p, sizeof(p), "%s/%s.img", root, name);
    int img = open(p, O_RDONLY | O_CLOEXEC);
    if (img < 0) {
        rc = -errno;
        snprintf(err, errlen, "open %.300s: %s", p, strerror(-rc));
        return rc;
    }
    snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
    rc = copy_image(img, tmp, (off_t)st.committed_size, reflinked, err, errlen);
    close(img);
    if (rc == 0 && rename(tmp, dst) < 0) {
        rc = -errno;
        snprintf(err, errlen, "rename to %.300s: %s", dst, strerror(-rc));
    }
    if (rc < 0)
        unlink(tmp);
    else
        *gen = st.committed_gen;
    return rc;
}

int rsnap_copy(const char *root, const char *name, const char *dst, uint64_t *gen, int *reflinked,
               char *err, size_t errlen)
{
    int fd = rsnap_lock(root, name, LOCK_SH);
    if (fd < 0) {
        snprintf(err, errlen, "lock %s/%s.lock: %s", root, name, strerror(-fd));
        return fd;
    }
    int rc = copy_locked(root, name, dst, gen, reflinked, err, errlen);
    rsnap_unlock(fd);
    return rc;
}
