/* transport_local — the "source" is this host: commands run under /bin/sh,
 * files are copied with a temp file and rename.  For development and the
 * demo without namespaces; same bounds and timeouts as ssh. */
#include "transport/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int local_run(struct transport *tp, const char *cmd, int timeout_ms, char *out,
                     size_t outcap, struct transport_result *res, char *err, size_t errlen)
{
    (void)tp;
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    struct transport_spawn sp = {argv, NULL, timeout_ms};
    int rc = transport_spawn_run(&sp, out, outcap, res, err, errlen);
    if (rc == -ETIMEDOUT)
        snprintf(err, errlen, "local command timed out after %d ms (killed)", timeout_ms);
    return rc;
}

static int copy_fd(int in, int out)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : 0;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return -errno;
            off += w;
        }
    }
}

/* The timeout is not enforced here: a local copy is bounded by the file. */
static int local_push(struct transport *tp, const char *local, const char *remote, unsigned mode,
                      int timeout_ms, char *err, size_t errlen)
{
    (void)tp, (void)timeout_ms;
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.wm-tmp", remote) >= (int)sizeof tmp)
        return snprintf(err, errlen, "path too long: %.200s", remote), -ENAMETOOLONG;
    int in = open(local, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        int e = errno;
        return snprintf(err, errlen, "cannot read %s: %s", local, strerror(e)), -e;
    }
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        int e = errno;
        close(in);
        return snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(e)), -e;
    }
    int rc = copy_fd(in, out);
    if (rc == 0 && (fchmod(out, mode & 07777) != 0 || fsync(out) != 0))
        rc = -errno;
    close(in);
    if (close(out) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, remote) != 0)
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        snprintf(err, errlen, "copy %s to %s: %s", local, remote, strerror(-rc));
    }
    return rc;
}

static void local_free(struct transport *tp)
{
    free(tp);
}

static const struct transport_ops local_ops = {"local", local_run, local_push, local_free};

struct transport *transport_local_new(char *err, size_t errlen)
{
    struct transport *tp = calloc(1, sizeof *tp);
    if (!tp) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    tp->ops = &local_ops;
    return tp;
}
