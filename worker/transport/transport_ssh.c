/* transport_ssh — see transport_ssh.h. */
#include "transport/transport_ssh.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define SSH_LOG_MAX 4096
#define KNOWN_HOSTS_MAX (1 << 20)

struct ssh_transport {
    struct transport base;
    char host[256];
    int port;
    char user[64];
    char key_file[PATH_MAX];
    char known_hosts[PATH_MAX];
    int connect_timeout_s;
    char ssh_path[PATH_MAX];
};

static const struct transport_ops ssh_ops;

bool transport_ssh_host_ok(const char *h)
{
    if (!h || !*h || *h == '-' || strlen(h) >= 256)
        return false;
    for (; *h; h++)
        if (!isalnum((unsigned char)*h) && !strchr(".-_:", *h))
            return false;
    return true;
}

static bool user_ok(const char *u)
{
    if (!u || !*u || *u == '-' || strlen(u) >= 64)
        return false;
    for (; *u; u++)
        if (!isalnum((unsigned char)*u) && !strchr("._-", *u))
            return false;
    return true;
}

static int copy_str(char *dst, size_t cap, const char *src, const char *what, char *err,
                    size_t errlen)
{
    if (!src || snprintf(dst, cap, "%s", src) >= (int)cap) {
        snprintf(err, errlen, "ssh transport: %s missing or too long", what);
        return -EINVAL;
    }
    return 0;
}

struct transport *transport_ssh_new(const struct transport_ssh_config *cfg, char *err,
                                    size_t errlen)
{
    const char *user = cfg->user ? cfg->user : "root";
    if (!transport_ssh_host_ok(cfg->host)) {
        snprintf(err, errlen, "ssh transport: bad host name");
        return NULL;
    }
    if (!user_ok(user) || cfg->port < 0 || cfg->port > 65535 || cfg->connect_timeout_s < 0) {
        snprintf(err, errlen, "ssh transport: bad user, port or connect timeout for %s", cfg->host);
        return NULL;
    }
    char memkey[64];
    snprintf(memkey, sizeof memkey, "/proc/%d/fd/%d", (int)getpid(), cfg->key_fd);
    const char *key_file = cfg->key_fd > 2 ? memkey : cfg->key_file;
    if (!key_file || access(key_file, R_OK) != 0) {
        snprintf(err, errlen, "ssh transport: key file %s is not readable",
                 cfg->key_file ? cfg->key_file : "(none)");
        return NULL;
    }
    struct ssh_transport *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base.ops = &ssh_ops;
    s->port = cfg->port ? cfg->port : 22;
    s->connect_timeout_s = cfg->connect_timeout_s ? cfg->connect_timeout_s : 10;
    if (copy_str(s->host, sizeof s->host, cfg->host, "host", err, errlen) < 0 ||
        copy_str(s->user, sizeof s->user, user, "user", err, errlen) < 0 ||
        copy_str(s->key_file, sizeof s->key_file, key_file, "key file", err, errlen) < 0 ||
        copy_str(s->known_hosts, sizeof s->known_hosts, cfg->known_hosts, "known_hosts", err,
                 errlen) < 0 ||
        copy_str(s->ssh_path, sizeof s->ssh_path, cfg->ssh_path ? cfg->ssh_path : "/usr/bin/ssh",
                 "ssh path", err, errlen) < 0) {
        free(s);
        return NULL;
    }
    return &s->base;
}

static void ssh_free(struct transport *tp)
{
    free(tp);
}

/* A private file for ssh -E; the caller unlinks it after ssh ended. */
static int log_open(char *path, size_t cap)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, cap, "%s/wm-ssh-XXXXXX", dir && *dir ? dir : "/tmp");
    return mkostemp(path, O_CLOEXEC);
}

static void log_read(int fd, char *buf, size_t cap)
{
    ssize_t n = pread(fd, buf, cap - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
}

/* ssh's log (and exit 255) -> a negative errno and a sentence, or 0 when
 * ssh itself did not fail (the remote command exited 255). */
static int classify(const struct ssh_transport *s, const char *log, char *err, size_t errlen)
{
    const char *hp = s->host;
    int port = s->port;
    if (strstr(log, "REMOTE HOST IDENTIFICATION HAS CHANGED"))
        return snprintf(err, errlen, "host key verification failed for %s:%d (key changed?)", hp,
                        port),
               -EKEYREJECTED;
    if (strstr(log, "Host key verification failed"))
        return snprintf(err, errlen,
                        "host key verification failed for %s:%d (host not pinned in %s)", hp, port,
                        s->known_hosts),
               -EKEYREJECTED;
    if (strstr(log, "Permission denied"))
        return snprintf(err, errlen, "permission denied (publickey) for %s@%s:%d", s->user, hp,
                        port),
               -EACCES;
    if (strstr(log, "timed out"))
        return snprintf(err, errlen, "connection timed out to %s:%d (after %d s)", hp, port,
                        s->connect_timeout_s),
               -ETIMEDOUT;
    if (strstr(log, "Connection refused"))
        return snprintf(err, errlen, "connection refused by %s:%d", hp, port), -ECONNREFUSED;
    if (strstr(log, "No route to host"))
        return snprintf(err, errlen, "no route to host %s:%d", hp, port), -EHOSTUNREACH;
    if (strstr(log, "Network is unreachable"))
        return snprintf(err, errlen, "network unreachable for %s:%d", hp, port), -ENETUNREACH;
    if (strstr(log, "Could not resolve hostname"))
        return snprintf(err, errlen, "cannot resolve host name %s", hp), -EHOSTUNREACH;
    if (*log) {
        size_t n = strcspn(log, "\r\n");
        return snprintf(err, errlen, "ssh to %s:%d failed: %.*s", hp, port,
                        (int)(n > 300 ? 300 : n), log),
               -EIO;
    }
    return 0;
}

/* cmd wrapped so that the source stops it too, shortly after our own
 * timeout: killing the local ssh alone would leave a hung command running
 * there.  Without coreutils' timeout on the source, cmd runs unwrapped.
 * Returns a malloc'ed string, NULL if out of memory. */
static char *remote_bounded(const char *cmd, int timeout_ms)
{
    size_t cap = strlen(cmd) * 4 + 256;
    char *q = calloc(1, cap), *w = malloc(cap + 256);
    if (!q || !w || transport_shell_quote(q, cap, cmd) < 0) {
        free(q), free(w);
        return NULL;
    }
    int secs = timeout_ms / 1000 + 2;
    snprintf(w, cap + 256,
             "if command -v timeout >/dev/null 2>&1; then exec timeout -k 2 %d sh -c %s; "
             "else exec sh -c %s; fi",
             secs, q, q);
    free(q);
    return w;
}

/* Runs "ssh ... host cmd" with stdin from stdin_path. */
static int ssh_exec(struct ssh_transport *s, const char *cmd, const char *stdin_path,
                    int timeout_ms, char *out, size_t outcap, struct transport_result *res,
                    char *err, size_t errlen)
{
    char logpath[PATH_MAX], kh[PATH_MAX + 32], cto[48], port[16], log[SSH_LOG_MAX];
    char *bounded = remote_bounded(cmd, timeout_ms);
    if (!bounded)
        return snprintf(err, errlen, "out of memory"), -ENOMEM;
    int logfd = log_open(logpath, sizeof logpath);
    if (logfd < 0) {
        int e = errno;
        free(bounded);
        return snprintf(err, errlen, "ssh log file: %s", strerror(e)), -e;
    }
    snprintf(kh, sizeof kh, "UserKnownHostsFile=%s", s->known_hosts);
    snprintf(cto, sizeof cto, "ConnectTimeout=%d", s->connect_timeout_s);
    snprintf(port, sizeof port, "%d", s->port);
    const char *argv[] = {s->ssh_path, "-F",
                          "/dev/null", "-E",
                          logpath,     "-T",
                          "-o",        "BatchMode=yes",
                          "-o",        "StrictHostKeyChecking=yes",
                          "-o",        kh,
                          "-o",        "GlobalKnownHostsFile=/dev/null",
                          "-o",        "CheckHostIP=no",
                          "-o",        "UpdateHostKeys=no",
                          "-o",        cto,
                          "-o",        "IdentitiesOnly=yes",
                          "-o",        "IdentityAgent=none",
                          "-o",        "ServerAliveInterval=5",
                          "-o",        "ServerAliveCountMax=3",
                          "-o",        "LogLevel=ERROR",
                          "-i",        s->key_file,
                          "-p",        port,
                          "-l",        s->user,
                          "--",        s->host,
                          bounded,     NULL};
    struct transport_spawn sp = {argv, stdin_path, timeout_ms};
    int rc = transport_spawn_run(&sp, out, outcap, res, err, errlen);
    free(bounded);
    log_read(logfd, log, sizeof log);
    close(logfd);
    unlink(logpath);
    if (rc == -ETIMEDOUT) {
        snprintf(err, errlen, "command on %s:%d timed out after %d ms (ssh killed)", s->host,
                 s->port, timeout_ms);
        return rc;
    }
    if (rc < 0 || res->exit_code != 255)
        return rc;
    return classify(s, log, err, errlen);
}

static int ssh_run(struct transport *tp, const char *cmd, int timeout_ms, char *out, size_t outcap,
                   struct transport_result *res, char *err, size_t errlen)
{
    return ssh_exec((struct ssh_transport *)tp, cmd, NULL, timeout_ms, out, outcap, res, err,
                    errlen);
}

static int ssh_push(struct transport *tp, const char *local, const char *remote, unsigned mode,
                    int timeout_ms, char *err, size_t errlen)
{
    struct ssh_transport *s = (struct ssh_transport *)tp;
    struct stat st;
    if (access(local, R_OK) != 0 || stat(local, &st) != 0) {
        int e = errno;
        return snprintf(err, errlen, "cannot read %s: %s", local, strerror(e)), -e;
    }
    char tmp[PATH_MAX + 16], qtmp[2 * PATH_MAX] = "", qrem[2 * PATH_MAX] = "";
    char cmd[7 * PATH_MAX], out[256];
    snprintf(tmp, sizeof tmp, "%s.wm-tmp", remote);
    if (transport_shell_quote(qtmp, sizeof qtmp, tmp) < 0 ||
        transport_shell_quote(qrem, sizeof qrem, remote) < 0)
        return snprintf(err, errlen, "remote path too long: %.200s", remote), -ENAMETOOLONG;
    /* A connection cut mid-copy ends cat with EOF as if all was sent:
     * the size check keeps such a half file from being renamed into place. */
    long long size = (long long)st.st_size;
    int w = snprintf(cmd, sizeof cmd,
                     "umask 077 && cat > %s && n=$(wc -c < %s) && if [ \"$n\" -ne %lld ]; then "
                     "rm -f %s; echo \"copy incomplete: $n of %lld bytes\" >&2; exit 1; fi && "
                     "chmod %04o %s && mv -f %s %s",
                     qtmp, qtmp, size, qtmp, size, mode & 07777, qtmp, qtmp, qrem);
    if (w < 0 || (size_t)w >= sizeof cmd)
        return snprintf(err, errlen, "remote path too long: %.200s", remote), -ENAMETOOLONG;
    struct transport_result *res = malloc(sizeof *res);
    if (!res)
        return snprintf(err, errlen, "out of memory"), -ENOMEM;
    int rc = ssh_exec(s, cmd, local, timeout_ms, out, sizeof out, res, err, errlen);
    if (rc == 0 && res->exit_code != 0) {
        snprintf(err, errlen, "copy to %s:%s failed (exit %d): %.300s", s->host, remote,
                 res->exit_code, res->errout);
        rc = -EIO;
    }
    free(res);
    return rc;
}

static const struct transport_ops ssh_ops = {"ssh", ssh_run, ssh_push, ssh_free};

/* --- known_hosts --- */

/* true if the line's host field (comma-separated patterns) names spec */
static bool line_names(const char *line, const char *spec)
{
    size_t flen = strcspn(line, " \t"), slen = strlen(spec);
    const char *p = line, *end = line + flen;
    while (p < end) {
        const char *c = memchr(p, ',', (size_t)(end - p));
        size_t len = (size_t)((c ? c : end) - p);
        if (len == slen && memcmp(p, spec, len) == 0)
            return true;
        p += len + 1;
    }
    return false;
}

static int read_small(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    *buf = NULL, *len = 0;
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        return e == ENOENT ? 0 : (snprintf(err, errlen, "%s: %s", path, strerror(e)), -e);
    }
    *buf = malloc(KNOWN_HOSTS_MAX + 1);
    if (!*buf)
        return fclose(f), snprintf(err, errlen, "out of memory"), -ENOMEM;
    *len = fread(*buf, 1, KNOWN_HOSTS_MAX + 1, f);
    fclose(f);
    if (*len > KNOWN_HOSTS_MAX)
        return snprintf(err, errlen, "%s is larger than 1 MiB", path), -EFBIG;
    (*buf)[*len] = '\0';
    return 0;
}

/* Writes the kept lines of old plus the new entry to f. */
static void write_entries(FILE *f, const char *old, const char *spec, const char *entry)
{
    for (const char *p = old; p && *p;) {
        size_t n = strcspn(p, "\n");
        char line[8192];
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line - 1 ? n : sizeof line - 1), p);
        if (!line_names(line, spec) && n > 0)
            fprintf(f, "%.*s\n", (int)n, p);
        p += n + (p[n] == '\n');
    }
    fprintf(f, "%s %s\n", spec, entry);
}

static int pin_locked(const char *known_hosts, const char *host, int port, const char *pubkey,
                      char *err, size_t errlen)
{
    char spec[300], type[64], blob[8192];
    if (!transport_ssh_host_ok(host) || port <= 0 || port > 65535)
        return snprintf(err, errlen, "pin host: bad host or port"), -EINVAL;
    bool parsed = pubkey && sscanf(pubkey, "%63s %8191s", type, blob) == 2;
    if (!parsed || (strncmp(type, "ssh-", 4) != 0 && strncmp(type, "ecdsa-", 6) != 0))
        return snprintf(err, errlen, "pin host: %s: not an ssh public key", host), -EINVAL;
    if (port == 22)
        snprintf(spec, sizeof spec, "%s", host);
    else
        snprintf(spec, sizeof spec, "[%s]:%d", host, port);
    char entry[8300], tmp[PATH_MAX], *old;
    size_t oldlen;
    snprintf(entry, sizeof entry, "%s %s", type, blob);
    int rc = read_small(known_hosts, &old, &oldlen, err, errlen);
    if (rc < 0)
        return free(old), rc;
    snprintf(tmp, sizeof tmp, "%s.wm-tmp.%d", known_hosts, (int)getpid());
    FILE *f = fopen(tmp, "we");
    if (!f) {
        rc = -errno;
        snprintf(err, errlen, "pin host: %s: %s", tmp, strerror(errno));
        return free(old), rc;
    }
    write_entries(f, old, spec, entry);
    free(old);
    bool bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad = (fclose(f) != 0) || bad;
    if (bad || rename(tmp, known_hosts) != 0) {
        rc = -errno;
        snprintf(err, errlen, "pin host: writing %s: %s", known_hosts, strerror(errno));
        unlink(tmp);
        return rc;
    }
    return 0;
}

/* Serialised with other pinners (and tests/hosts/host) by flock on
 * known_hosts.lock: the rewrite is read-modify-write. */
int transport_ssh_pin_host(const char *known_hosts, const char *host, int port, const char *pubkey,
                           char *err, size_t errlen)
{
    char lock[PATH_MAX];
    if (!known_hosts || snprintf(lock, sizeof lock, "%s.lock", known_hosts) >= (int)sizeof lock)
        return snprintf(err, errlen, "pin host: bad known_hosts path"), -EINVAL;
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        return snprintf(err, errlen, "pin host: %s: %s", lock, strerror(e)), -e;
    }
    while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
        ;
    int rc = pin_locked(known_hosts, host, port, pubkey, err, errlen);
    close(fd); /* releases the lock */
    return rc;
}
