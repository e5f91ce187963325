/* admit — receiver admission control (see admit.h). */
#include "admit.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "frame.h"
#include "log.h"
#include "proto.h"
#include "xport.h"

struct admit {
    pthread_mutex_t mu;
    int streams, streams_peak, streams_cap, files_cap;
    int files_reserved; /* admitted BEGINs still opening their staging files */
    uint64_t busy, busy_sec, busy_this_sec, busy_last_sec;
};

static int admit_default_files(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return 1024 - 64;
    return rl.rlim_cur > 128 ? (int)rl.rlim_cur - 64 : 64;
}

struct admit *admit_new(const struct admit_limits *l, char *err, size_t errlen)
{
    struct admit *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    uint64_t mem = l->mem_bytes ? l->mem_bytes : (uint64_t)1 << 30;
    a->streams_cap = l->streams > 0 ? l->streams : 64;
    if ((uint64_t)a->streams_cap * ADMIT_STREAM_MEM > mem)
        a->streams_cap = (int)(mem / ADMIT_STREAM_MEM);
    a->files_cap = l->files > 0 ? l->files : admit_default_files();
    if (a->streams_cap < 1 || a->files_cap < 16) {
        snprintf(err, errlen, "capacity too small: %d streams (memory %llu bytes), %d files",
                 a->streams_cap, (unsigned long long)mem, a->files_cap);
        free(a);
        return NULL;
    }
    pthread_mutex_init(&a->mu, NULL);
    return a;
}

void admit_free(struct admit *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* Under mu: counts a BUSY answer and says when to come back. */
static int admit_busy(struct admit *a)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t sec = (uint64_t)ts.tv_sec;
    if (sec != a->busy_sec) {
        a->busy_last_sec = sec == a->busy_sec + 1 ? a->busy_this_sec : 0;
        a->busy_this_sec = 0;
        a->busy_sec = sec;
    }
    a->busy++;
    a->busy_this_sec++;
    uint64_t rate = a->busy_last_sec > a->busy_this_sec ? a->busy_last_sec : a->busy_this_sec;
    uint64_t ms = ADMIT_RETRY_MIN_MS + rate * 1000 / ADMIT_BUSY_RATE;
    return ms > ADMIT_RETRY_MAX_MS ? ADMIT_RETRY_MAX_MS : (int)ms;
}

int admit_stream(struct admit *a, int *retry_ms)
{
    pthread_mutex_lock(&a->mu);
    int rc = 0;
    if (a->streams >= a->streams_cap) {
        *retry_ms = admit_busy(a);
        rc = -EBUSY;
    } else if (++a->streams > a->streams_peak) {
        a->streams_peak = a->streams;
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

void admit_stream_end(struct admit *a)
{
    pthread_mutex_lock(&a->mu);
    a->streams--;
    pthread_mutex_unlock(&a->mu);
}

/* Descriptors this process has open (/proc/self/fd), -1 if unknown. */
static int admit_files_open(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own */
}

int admit_begin(struct admit *a, int files, int conns, int max_conns, int *retry_ms)
{
    int open = admit_files_open();
    pthread_mutex_lock(&a->mu);
    int rc = 0;
    /* what is open now (sockets included), what other BEGINs are opening,
     * and this one's.  Sockets accepted later are not reserved for: the
     * accept loop (guard.c) survives running out of descriptors, and a
     * connection cap above the descriptor limit must not make every BEGIN
     * busy for ever. */
    (void)conns;
    (void)max_conns;
    if (open >= 0 && open + a->files_reserved + files + ADMIT_FILES_SPARE > a->files_cap) {
        *retry_ms = admit_busy(a);
        rc = -EBUSY;
    } else {
        a->files_reserved += files;
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

void admit_begin_end(struct admit *a, int files)
{
    pthread_mutex_lock(&a->mu);
    a->files_reserved -= files;
    pthread_mutex_unlock(&a->mu);
}

void admit_get_stats(struct admit *a, struct admit_stats *out)
{
    int open = admit_files_open();
    pthread_mutex_lock(&a->mu);
    *out = (struct admit_stats){.streams = a->streams,
                                .streams_peak = a->streams_peak,
                                .streams_cap = a->streams_cap,
                                .files_open = open,
                                .files_cap = a->files_cap,
                                .busy = a->busy};
    pthread_mutex_unlock(&a->mu);
}

void admit_send_busy(struct xport *x, int retry_ms, const char *what)
{
    struct proto_busy b = {.retry_ms = (uint32_t)retry_ms};
    snprintf(b.text, sizeof(b.text), "receiver busy (%s), retry after %d ms", what, retry_ms);
    uint8_t buf[PROTO_TEXT_MAX + 16];
    long n = proto_busy_encode(&b, buf, sizeof(buf));
    wm_debug("repl.busy", "peer=%s what=%s retry_ms=%d", x->peer_name, what, retry_ms);
    if (n > 0)
        frame_send(x, FRAME_BUSY, buf, (uint32_t)n);
}
