/* orch_httppeer — a Python http.server peer for tests (see the header). */
#include "orch_httppeer.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* $WM_REPO, else the first directory above this program holding the peer. */
static void peer_path(char *out, size_t outlen)
{
    const char *env = getenv("WM_REPO");
    char exe[512];
    struct stat st;

    if (env && *env) {
        snprintf(out, outlen, "%s/tests/peers/http_peer.py", env);
        return;
    }
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    for (char *slash; (slash = strrchr(exe, '/')) != NULL && slash != exe;) {
        *slash = '\0';
        snprintf(out, outlen, "%s/tests/peers/http_peer.py", exe);
        if (stat(out, &st) == 0)
            return;
    }
    snprintf(out, outlen, "tests/peers/http_peer.py");
}

static void child_exec(const struct orch_httppeer *p, const char *script, int outfd,
                       const char *const *extra)
{
    const char *argv[32] = {"python3", script, "--record", p->record};
    int n = 4;

    for (; extra && *extra && n < 30; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    dup2(outfd, 1);
    close(outfd);
    execvp("python3", (char *const *)argv);
    _exit(127);
}

/* Reads "PORT n" from the peer within 10 s. */
static int read_port(int fd)
{
    char buf[128];
    size_t len = 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    for (int waited = 0; waited < 10000 && len < sizeof(buf) - 1; waited += 100) {
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t got = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (got <= 0)
            return -1;
        len += (size_t)got;
        buf[len] = '\0';
        int port;
        if (strchr(buf, '\n') && sscanf(buf, "PORT %d", &port) == 1)
            return port;
    }
    return -1;
}

int orch_httppeer_start(struct orch_httppeer *p, const char *const *extra)
{
    char script[600];
    int fds[2];

    memset(p, 0, sizeof(*p));
    snprintf(p->dir, sizeof(p->dir), "/tmp/wm_httppeer_XXXXXX");
    if (!mkdtemp(p->dir) || pipe(fds) < 0) {
        perror("httppeer");
        return -1;
    }
    snprintf(p->record, sizeof(p->record), "%s/requests.jsonl", p->dir);
    peer_path(script, sizeof(script));
    p->pid = fork();
    if (p->pid == 0) {
        close(fds[0]);
        child_exec(p, script, fds[1], extra);
    }
    close(fds[1]);
    p->port = p->pid > 0 ? read_port(fds[0]) : -1;
    close(fds[0]);
    if (p->port <= 0) {
        fprintf(stderr, "httppeer: %s did not start\n", script);
        orch_httppeer_stop(p);
        return -1;
    }
    return 0;
}

void orch_httppeer_stop(struct orch_httppeer *p)
{
    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        int st, reaped = 0;
        for (int i = 0; i < 300 && !reaped; i++) {
            reaped = waitpid(p->pid, &st, WNOHANG) == p->pid;
            if (!reaped)
                usleep(10 * 1000);
        }
        if (!reaped) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &st, 0);
        }
        p->pid = 0;
    }
    if (p->dir[0]) {
        unlink(p->record);
        rmdir(p->dir);
        p->dir[0] = '\0';
    }
}

char *orch_httppeer_records(const struct orch_httppeer *p)
{
    FILE *f = fopen(p->record, "r");
    if (!f)
        return strdup("");
    char *buf = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, 4096, f);
        len += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

int orch_httppeer_count(const struct orch_httppeer *p)
{
    char *s = orch_httppeer_records(p);
    int n = 0;
    for (char *c = s; c && *c; c++)
        n += *c == '\n';
    free(s);
    return n;
}
