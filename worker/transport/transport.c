/* transport — dispatch to the ssh/local implementations, and the one
 * bounded child-process runner both of them use.
 *
 * posix_spawn rather than fork: workers run tasks on threads, and between
 * fork and exec only async-signal-safe calls are allowed. */
#include "transport/transport.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int transport_run(struct transport *tp, const char *cmd, int timeout_ms, char *out, size_t outcap,
                  struct transport_result *res, char *err, size_t errlen)
{
    if (!tp || !cmd || !out || outcap == 0 || !res || timeout_ms <= 0) {
        snprintf(err, errlen, "transport_run: bad arguments");
        return -EINVAL;
    }
    return tp->ops->run(tp, cmd, timeout_ms, out, outcap, res, err, errlen);
}

int transport_push(struct transport *tp, const char *local, const char *remote, unsigned mode,
                   int timeout_ms, char *err, size_t errlen)
{
    if (!tp || !local || !remote || !*remote || timeout_ms <= 0) {
        snprintf(err, errlen, "transport_push: bad arguments");
        return -EINVAL;
    }
    return tp->ops->push(tp, local, remote, mode, timeout_ms, err, errlen);
}

const char *transport_name(const struct transport *tp)
{
    return tp ? tp->ops->name : "none";
}

void transport_free(struct transport *tp)
{
    if (tp)
        tp->ops->free(tp);
}

int transport_shell_quote(char *buf, size_t buflen, const char *s)
{
    size_t n = strlen(buf);
    if (n + 1 >= buflen)
        return -ENAMETOOLONG;
    buf[n++] = '\'';
    for (; *s; s++) {
        const char *piece = *s == '\'' ? "'\\''" : NULL; /* close, escaped quote, reopen */
        size_t plen = piece ? 4 : 1;
        if (n + plen + 2 > buflen)
            return -ENAMETOOLONG;
        if (piece)
            memcpy(buf + n, piece, plen);
        else
            buf[n] = *s;
        n += plen;
    }
    buf[n++] = '\'';
    buf[n] = '\0';
    return 0;
}

/* Where one pipe's bytes go: kept up to cap-1, the rest read and dropped so
 * the child never blocks on a full pipe. */
struct sink {
    int fd;
    char *buf;
    size_t cap, len;
    bool truncated;
};

static void sink_read(struct sink *s)
{
    char tmp[8192];
    ssize_t r = read(s->fd, tmp, sizeof tmp);
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (r <= 0) {
        close(s->fd);
        s->fd = -1;
        return;
    }
    size_t room = s->cap - 1 - s->len, take = (size_t)r < room ? (size_t)r : room;
    memcpy(s->buf + s->len, tmp, take);
    s->len += take;
    s->buf[s->len] = '\0';
    if (take < (size_t)r)
        s->truncated = true;
}

static int spawn_child(const struct transport_spawn *sp, int outfd, int errfd, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, dflt;
    sigemptyset(&none);
    sigemptyset(&dflt);
    int sigs[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGALRM, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&dflt, sigs[i]);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, sp->stdin_path ? sp->stdin_path : "/dev/null",
                                     O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, outfd, 1);
    posix_spawn_file_actions_adddup2(&fa, errfd, 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&at, 0); /* own group: a timeout kills it all */
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &dflt);
    int rc = posix_spawn(pid, sp->argv[0], &fa, &at, (char *const *)sp->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    return -rc;
}

/* Reads both pipes until EOF on both and the child's exit, or the deadline.
 * Returns 0 with *status set, or -ETIMEDOUT. */
static int collect(pid_t pid, struct sink *o, struct sink *e, long long deadline, int *status)
{
    for (;;) {
        long long left = deadline - wm_mono_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        if (o->fd < 0 && e->fd < 0) {
            pid_t w = waitpid(pid, status, WNOHANG);
            if (w == pid)
                return 0;
            /* pipes closed but the child lives on: poll its exit */
            struct timespec ts = {0, 10 * 1000000};
            nanosleep(&ts, NULL);
            continue;
        }
        struct pollfd p[2] = {{o->fd, POLLIN, 0}, {e->fd, POLLIN, 0}};
        int n = poll(p, 2, left > 1000 ? 1000 : (int)left);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n <= 0)
            continue;
        if (p[0].revents)
            sink_read(o);
        if (p[1].revents)
            sink_read(e);
    }
}

int transport_spawn_run(const struct transport_spawn *sp, char *out, size_t outcap,
                        struct transport_result *res, char *err, size_t errlen)
{
    int po[2], pe[2];
    memset(res, 0, sizeof *res);
    out[0] = '\0';
    if (pipe2(po, O_CLOEXEC) < 0) {
        int e = errno;
        return snprintf(err, errlen, "pipe: %s", strerror(e)), -e;
    }
    if (pipe2(pe, O_CLOEXEC) < 0) {
        int e = errno;
        close(po[0]), close(po[1]);
        return snprintf(err, errlen, "pipe: %s", strerror(e)), -e;
    }
    pid_t pid;
    int rc = spawn_child(sp, po[1], pe[1], &pid);
    close(po[1]), close(pe[1]);
    if (rc < 0) {
        close(po[0]), close(pe[0]);
        snprintf(err, errlen, "cannot run %s: %s", sp->argv[0], strerror(-rc));
        return rc;
    }
    struct sink o = {po[0], out, outcap, 0, false};
    struct sink e = {pe[0], res->errout, sizeof res->errout, 0, false};
    int status = 0;
    rc = collect(pid, &o, &e, wm_mono_ms() + sp->timeout_ms, &status);
    if (rc < 0) {
        kill(-pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    if (o.fd >= 0)
        close(o.fd);
    if (e.fd >= 0)
        close(e.fd);
    res->out_len = o.len;
    res->out_truncated = o.truncated;
    if (WIFEXITED(status))
        res->exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        res->exit_code = 128 + WTERMSIG(status);
    if (rc == -ETIMEDOUT)
        snprintf(err, errlen, "timed out after %d ms (killed)", sp->timeout_ms);
    else if (rc < 0)
        snprintf(err, errlen, "waiting for %s: %s", sp->argv[0], strerror(-rc));
    return rc;
}
