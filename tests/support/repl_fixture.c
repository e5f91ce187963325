/* Shared repl test set-up; see repl_fixture.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "receiver.h"
#include "repl_fixture.h"
#include "tls.h"
#include "tls_fixture.h"

#define MAX_RECEIVERS 4

struct served {
    struct receiver *rcv;
    char addr[64];
    int fd;
    volatile sig_atomic_t *stop;
};

/* static: a serving thread outlives the set-up that started it */
static struct served served[MAX_RECEIVERS];
static int nserved;

int repl_fixture_pki(char *pki, size_t pkicap, char *root, size_t rootcap, int with_worker)
{
    if (tls_fixture_new(pki, pkicap) < 0 || tls_fixture_issue(pki, "agent1", "agent", 0, 0) < 0 ||
        tls_fixture_issue(pki, "recv1", "receiver", 0, 0) < 0 ||
        (with_worker && tls_fixture_issue(pki, "worker1", "worker", 0, 0) < 0))
        return -1;
    snprintf(root, rootcap, "%s/root", pki);
    mkdir(root, 0700);
    return 0;
}

int repl_fixture_listen(char *addr, size_t addrcap)
{
    char err[256];
    int fd = wm_tcp_listen("127.0.0.1:0", 16, err, sizeof(err));
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&a, &al) < 0)
        return -1;
    snprintf(addr, addrcap, "127.0.0.1:%u", ntohs(a.sin_port));
    return fd;
}

static void *serve_thread(void *arg)
{
    struct served *s = arg;
    receiver_serve(s->rcv, s->fd, s->stop);
    return NULL;
}

int repl_fixture_receiver(const char *pki, const char *root, char *addr, size_t addrcap,
                          volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    if (nserved == MAX_RECEIVERS) {
        snprintf(err, errlen, "more than %d receivers", MAX_RECEIVERS);
        return -1;
    }
    struct served *s = &served[nserved];
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/recv1", pki);
    struct receiver_opts o = {.root = root, .io_timeout_ms = 10000};
    o.tls = wm_tls_ctx_new(dir, WM_TLS_SERVER, err, errlen);
    s->rcv = o.tls ? receiver_new(&o, err, errlen) : NULL;
    s->fd = repl_fixture_listen(addr, addrcap);
    s->stop = stop;
    if (!s->rcv || s->fd < 0)
        return -1;
    snprintf(s->addr, sizeof(s->addr), "%s", addr);
    nserved++;
    pthread_t t;
    if (pthread_create(&t, NULL, serve_thread, s) != 0)
        return -1;
    pthread_detach(t);
    return 0;
}

int repl_fixture_receiver_idle(const char *addr, int timeout_ms)
{
    for (int i = 0; i < nserved; i++)
        if (strcmp(served[i].addr, addr) == 0)
            return receiver_drain(served[i].rcv, timeout_ms);
    return -ENOENT;
}

int repl_fixture_random_file(const char *path, size_t size, int zero_gap)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600), ufd = open("/dev/urandom", O_RDONLY);
    char *b = malloc(size);
    int ok = fd >= 0 && ufd >= 0 && b && read(ufd, b, size) == (ssize_t)size;
    if (ok) {
        if (zero_gap)
            memset(b + size / 3, 0, size / 6);
        ok = write(fd, b, size) == (ssize_t)size;
    }
    free(b);
    if (fd >= 0)
        close(fd);
    if (ufd >= 0)
        close(ufd);
    return ok ? 0 : -1;
}
