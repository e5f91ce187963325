/* repl_fanin — many agents syncing at once against one receiver or a pool
 * (load generator for tests/integration/repl_fanin.sh and
 * tests/bench/fanin; not a test by itself).
 *
 *   repl_fanin --agents N --size BYTES --dir WORK --tls-dir AGENT_TLS_DIR
 *              --to ADDR[,ADDR] --roots ROOT[,ROOT] [--pids PID[,PID]]
 *              [--streams S] [--busy-wait SECONDS] [--prefix NAME]
 *
 * Makes N random sources of BYTES (each with a zero run) under WORK/src,
 * runs N syncs at once in threads (one agent each: sync_run, the agent's
 * code path), disk i to receiver i mod K, then compares every target image
 * with its source.  While they run it samples each receiver process in
 * --pids (peak RSS from VmHWM, open descriptors from /proc/PID/fd).
 * Prints one line of key=value and exits 0 only when every sync succeeded
 * and every target equals its source. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sync.h"
#include "tls.h"

#define MAX_RECV 8

struct fanin {
    int agents, streams, busy_wait, nto, nroots, npids;
    size_t size;
    const char *dir, *tls_dir, *prefix;
    char *to[MAX_RECV], *roots[MAX_RECV];
    int pids[MAX_RECV];
    struct wm_tls_ctx *tls;
    atomic_int failures, busy_waits;
    volatile int done;
    long peak_fds[MAX_RECV], peak_rss_kb[MAX_RECV];
};

struct agent {
    struct fanin *f;
    int i;
    char src[1100], state[600], volume[64];
    int rc;
    char err[512];
};

static int split(char *s, char **out, int max)
{
    int n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ","))
        out[n++] = tok;
    return n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int make_source(const char *path, size_t size)
{
    uint8_t *buf = malloc(size);
    if (!buf)
        return -1;
    for (size_t got = 0; got < size;) {
        ssize_t r = getrandom(buf + got, size - got, 0);
        if (r <= 0)
            return free(buf), -1;
        got += (size_t)r;
    }
    memset(buf + size / 3, 0, size / 6);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int rc = fd >= 0 && write(fd, buf, size) == (ssize_t)size ? 0 : -1;
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        char x[65536], y[65536];
        size_t na = fread(x, 1, sizeof(x), fa), nb = fread(y, 1, sizeof(y), fb);
        same = na == nb && memcmp(x, y, na) == 0;
        if (na == 0 || na < sizeof(x))
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

static void *agent_run(void *arg)
{
    struct agent *a = arg;
    struct fanin *f = a->f;
    struct sync_opts so;
    struct sync_result res;
    sync_opts_defaults(&so);
    so.disk = a->src;
    so.volume = a->volume;
    so.to = f->to[a->i % f->nto];
    so.state_dir = a->state;
    so.tls = f->tls;
    so.streams = (uint16_t)f->streams;
    so.busy_wait_ms = f->busy_wait * 1000;
    a->rc = sync_run(&so, &res, a->err, sizeof(a->err));
    if (a->rc < 0)
        atomic_fetch_add(&f->failures, 1);
    atomic_fetch_add(&f->busy_waits, (int)res.busy_waits);
    return NULL;
}

static long count_fds(int pid)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/fd", pid);
    DIR *d = opendir(p);
    if (!d)
        return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static long status_kb(int pid, const char *key)
{
    char p[64], line[256];
    snprintf(p, sizeof(p), "/proc/%d/status", pid);
    FILE *fp = fopen(p, "r");
    long v = -1;
    size_t kl = strlen(key);
    while (fp && fgets(line, sizeof(line), fp))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':')
            v = strtol(line + kl + 1, NULL, 10);
    if (fp)
        fclose(fp);
    return v;
}

static void sample(struct fanin *f)
{
    for (int k = 0; k < f->npids; k++) {
        long fds = count_fds(f->pids[k]), hwm = status_kb(f->pids[k], "VmHWM");
        if (fds > f->peak_fds[k])
            f->peak_fds[k] = fds;
        if (hwm > f->peak_rss_kb[k])
            f->peak_rss_kb[k] = hwm;
    }
}

static void *monitor_run(void *arg)
{
    struct fanin *f = arg;
    while (!f->done) {
        sample(f);
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    sample(f);
    return NULL;
}

static int parse(int argc, char **argv, struct fanin *f)
{
    static const struct option opts[] = {{"agents", 1, 0, 'n'},
                                         {"size", 1, 0, 's'},
                                         {"dir", 1, 0, 'd'},
                                         {"tls-dir", 1, 0, 't'},
                                         {"to", 1, 0, 'o'},
                                         {"roots", 1, 0, 'r'},
                                         {"pids", 1, 0, 'p'},
                                         {"streams", 1, 0, 'S'},
                                         {"busy-wait", 1, 0, 'b'},
                                         {"prefix", 1, 0, 'x'},
                                         {0, 0, 0, 0}};
    char *pids[MAX_RECV];
    int c;
    *f = (struct fanin){
        .agents = 100, .size = 256 << 10, .streams = 1, .busy_wait = 600, .prefix = "fanin"};
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            f->agents = atoi(optarg);
            break;
        case 's':
            f->size = strtoull(optarg, NULL, 10);
            break;
        case 'd':
            f->dir = optarg;
            break;
        case 't':
            f->tls_dir = optarg;
            break;
        case 'o':
            f->nto = split(optarg, f->to, MAX_RECV);
            break;
        case 'r':
            f->nroots = split(optarg, f->roots, MAX_RECV);
            break;
        case 'p':
            f->npids = split(optarg, pids, MAX_RECV);
            for (int k = 0; k < f->npids; k++)
                f->pids[k] = atoi(pids[k]);
            break;
        case 'S':
            f->streams = atoi(optarg);
            break;
        case 'b':
            f->busy_wait = atoi(optarg);
            break;
        case 'x':
            f->prefix = optarg;
            break;
        default:
            return -1;
        }
    }
    return f->dir && f->tls_dir && f->nto > 0 && f->nroots == f->nto && f->agents > 0 &&
                   f->size >= 4096 && f->streams >= 1
               ? 0
               : -1;
}

/* Runs every agent at once; returns the wall time. */
static double run_agents(struct fanin *f, struct agent *ag)
{
    pthread_t *th = calloc((size_t)f->agents, sizeof(*th)), mon;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 256 << 10);
    pthread_create(&mon, NULL, monitor_run, f);
    double t0 = now_s();
    for (int i = 0; i < f->agents; i++)
        if (pthread_create(&th[i], &at, agent_run, &ag[i]) != 0) {
            fprintf(stderr, "repl_fanin: no thread for agent %d\n", i);
            exit(2);
        }
    for (int i = 0; i < f->agents; i++)
        pthread_join(th[i], NULL);
    double wall = now_s() - t0;
    f->done = 1;
    pthread_join(mon, NULL);
    pthread_attr_destroy(&at);
    free(th);
    return wall;
}

int main(int argc, char **argv)
{
    struct fanin f;
    char err[512];
    if (parse(argc, argv, &f) < 0) {
        fprintf(stderr, "usage: repl_fanin --agents N --size BYTES --dir WORK --tls-dir DIR "
                        "--to ADDR[,ADDR] --roots ROOT[,ROOT] [--pids PID[,PID]] [--streams S] "
                        "[--busy-wait SECONDS] [--prefix NAME]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    wm_log_set_level(WM_LOG_ERROR);
    if (!(f.tls = wm_tls_ctx_new(f.tls_dir, WM_TLS_CLIENT, err, sizeof(err)))) {
        fprintf(stderr, "repl_fanin: %s\n", err);
        return 2;
    }
    char srcdir[1000];
    snprintf(srcdir, sizeof(srcdir), "%s/src", f.dir);
    mkdir(f.dir, 0700);
    mkdir(srcdir, 0700);
    struct agent *ag = calloc((size_t)f.agents, sizeof(*ag));
    for (int i = 0; i < f.agents; i++) {
        ag[i] = (struct agent){.f = &f, .i = i};
        snprintf(ag[i].volume, sizeof(ag[i].volume), "%s-%d", f.prefix, i);
        snprintf(ag[i].src, sizeof(ag[i].src), "%s/%s.img", srcdir, ag[i].volume);
        snprintf(ag[i].state, sizeof(ag[i].state), "%s/state", f.dir);
        if (make_source(ag[i].src, f.size) < 0) {
            fprintf(stderr, "repl_fanin: cannot write %s\n", ag[i].src);
            return 2;
        }
    }
    double wall = run_agents(&f, ag);
    int differ = 0, shown = 0;
    for (int i = 0; i < f.agents; i++) {
        char img[1024];
        snprintf(img, sizeof(img), "%s/%s.img", f.roots[i % f.nroots], ag[i].volume);
        if (ag[i].rc < 0 && shown++ < 5)
            fprintf(stderr, "repl_fanin: %s failed: %s\n", ag[i].volume, ag[i].err);
        else if (ag[i].rc == 0 && !same_file(ag[i].src, img))
            differ++, fprintf(stderr, "repl_fanin: %s differs from its source\n", ag[i].volume);
    }
    printf("agents=%d receivers=%d size=%zu wall_s=%.2f failures=%d differ=%d busy_waits=%d",
           f.agents, f.nto, f.size, wall, atomic_load(&f.failures), differ,
           atomic_load(&f.busy_waits));
    for (int k = 0; k < f.npids; k++)
        printf(" r%d_peak_rss_mib=%.1f r%d_peak_fds=%ld", k, f.peak_rss_kb[k] / 1024.0, k,
               f.peak_fds[k]);
    printf("\n");
    wm_tls_ctx_free(f.tls);
    free(ag);
    return atomic_load(&f.failures) || differ ? 1 : 0;
}
