/* scan — read, hash, compare, batch (see scan.h). */
#include "scan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void batch_free(struct scan_batch *b)
{
    if (!b)
        return;
    free(b->ents);
    free(b->raw);
    free(b);
}

static struct scan_batch *batch_new(uint32_t bs, uint32_t batch_raw)
{
    struct scan_batch *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    if (batch_raw == 0 || batch_raw > SCAN_BATCH_RAW)
        batch_raw = SCAN_BATCH_RAW;
    b->rawcap = bs > batch_raw ? bs : batch_raw;
    b->ents = malloc(FRAME_MAX_ENTRIES * sizeof(*b->ents));
    b->raw = malloc(b->rawcap);
    if (!b->ents || !b->raw) {
        batch_free(b);
        return NULL;
    }
    return b;
}

int scan_queue_init(struct scan_queue *q, uint32_t bs, uint32_t batch_raw)
{
    memset(q, 0, sizeof(*q));
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    for (int i = 0; i < SCAN_QUEUE + 2; i++) {
        if (!(q->free[i] = batch_new(bs, batch_raw)))
            return -ENOMEM;
        q->nfree++;
    }
    return 0;
}

void scan_queue_destroy(struct scan_queue *q)
{
    for (int i = 0; i < q->nfree; i++)
        batch_free(q->free[i]);
    for (int i = 0; i < q->nfull; i++)
        batch_free(q->full[(q->head + i) % (SCAN_QUEUE + 2)]);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}

/* Producer: an empty batch from the pool (NULL once aborted). */
static struct scan_batch *queue_get_free(struct scan_queue *q)
{
    pthread_mutex_lock(&q->mu);
    while (!q->aborted && q->nfree == 0)
        pthread_cond_wait(&q->cv, &q->mu);
    struct scan_batch *b = q->aborted ? NULL : q->free[--q->nfree];
    pthread_mutex_unlock(&q->mu);
    if (b)
        b->n = b->rawlen = 0, b->last = 0;
    return b;
}

static void queue_push(struct scan_queue *q, struct scan_batch *b)
{
    pthread_mutex_lock(&q->mu);
    q->full[(q->head + q->nfull) % (SCAN_QUEUE + 2)] = b;
    q->nfull++;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

struct scan_batch *scan_queue_pop(struct scan_queue *q)
{
    pthread_mutex_lock(&q->mu);
    while (q->nfull == 0)
        pthread_cond_wait(&q->cv, &q->mu);
    struct scan_batch *b = q->full[q->head];
    q->head = (q->head + 1) % (SCAN_QUEUE + 2);
    q->nfull--;
    pthread_mutex_unlock(&q->mu);
    return b;
}

void scan_queue_release(struct scan_queue *q, struct scan_batch *b)
{
    pthread_mutex_lock(&q->mu);
    q->free[q->nfree++] = b;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

void scan_queue_abort(struct scan_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->aborted = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

struct scan_state {
    struct scan_job *j;
    struct scan_batch *b;
    struct repl_digest zero_bs;
};

/* Hands the current batch over (even empty: it carries coverage). */
static int scan_flush(struct scan_state *s, uint64_t covered, int last)
{
    s->b->covered_end = covered;
    s->b->last = last;
    queue_push(s->j->q, s->b);
    s->b = last ? NULL : queue_get_free(s->j->q);
    return last || s->b ? 0 : -ECANCELED;
}

static void scan_add_zero(struct scan_batch *b, uint64_t off, uint32_t len)
{
    struct frame_entry *e = b->n ? &b->ents[b->n - 1] : NULL;
    if (e && e->kind == FRAME_KIND_ZERO && e->off + e->len == off && e->len < (1u << 30)) {
        e->len += len;
        return;
    }
    b->ents[b->n++] = (struct frame_entry){.off = off, .len = len, .kind = FRAME_KIND_ZERO};
}

/* One block: hash, record, and batch it if it changed. */
static int scan_block(struct scan_state *s, const uint8_t *data, uint64_t off, uint32_t len)
{
    struct scan_job *j = s->j;
    uint64_t idx = off / j->bs;
    struct repl_digest d, z;
    blockmap_digest(data, len, &d);
    blockmap_set(j->pmap, idx, &d);
    const struct repl_digest *old = j->cmap ? blockmap_get(j->cmap, idx) : NULL;
    if (old && blockmap_digest_eq(old, &d) &&
        (off + len < j->size || blockmap_size(j->cmap) == j->size))
        return 0;
    if (len == j->bs)
        z = s->zero_bs;
    else
        blockmap_zero_digest(len, &z);
    struct scan_batch *b = s->b;
    if (blockmap_digest_eq(&d, &z)) {
        scan_add_zero(b, off, len);
    } else {
        b->ents[b->n++] =
            (struct frame_entry){.off = off, .len = len, .kind = FRAME_KIND_DATA, .digest = d};
        memcpy(b->raw + b->rawlen, data, len);
        b->rawlen += len;
    }
    if (b->n == FRAME_MAX_ENTRIES || b->rawlen + j->bs > b->rawcap)
        return scan_flush(s, off + len, 0);
    return 0;
}

static int scan_read(int fd, uint8_t *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r == 0 ? -ENODATA : -errno; /* source shrank under us */
        got += (size_t)r;
    }
    return 0;
}

/* A window of the source: mapped when possible (hashing straight from the
 * page cache, no copy: the scan then runs at memory speed), read otherwise. */
struct scan_window {
    void *map;
    size_t maplen;
    const uint8_t *data;
};

static int scan_window_get(int fd, uint8_t *buf, size_t n, uint64_t off, struct scan_window *w)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), a = off & ~(page - 1);
    w->maplen = n + (size_t)(off - a);
    w->map = mmap(NULL, w->maplen, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, (off_t)a);
    if (w->map != MAP_FAILED) {
        w->data = (const uint8_t *)w->map + (off - a);
        return 0;
    }
    w->map = NULL;
    w->data = buf;
    return scan_read(fd, buf, n, off);
}

static void scan_window_put(struct scan_window *w)
{
    if (w->map)
        munmap(w->map, w->maplen);
    w->map = NULL;
}

static int scan_range(struct scan_state *s, uint8_t *buf)
{
    struct scan_job *j = s->j;
    uint64_t last_push = j->start;
    for (uint64_t off = j->start; off < j->end;) {
        size_t n = j->end - off < SCAN_CHUNK ? (size_t)(j->end - off) : SCAN_CHUNK;
        struct scan_window w;
        int rc = scan_window_get(j->fd, buf, n, off, &w);
        for (size_t b = 0; rc == 0 && b < n; b += j->bs) {
            uint32_t len = n - b < j->bs ? (uint32_t)(n - b) : j->bs;
            rc = scan_block(s, w.data + b, off + b, len);
        }
        scan_window_put(&w);
        if (rc < 0)
            return rc;
        off += n;
        atomic_store(j->pos, off);
        /* an empty frame now and then lets the receiver checkpoint progress */
        if (off < j->end && (s->b->n || off - last_push >= (64u << 20))) {
            if ((rc = scan_flush(s, off, 0)) < 0)
                return rc;
            last_push = off;
        }
    }
    return scan_flush(s, j->end, 1);
}

void *scan_run(void *arg)
{
    struct scan_job *j = arg;
    struct scan_state s = {.j = j};
    uint8_t *buf = malloc(SCAN_CHUNK);
    blockmap_zero_digest(j->bs, &s.zero_bs);
    posix_fadvise(j->fd, (off_t)j->start, (off_t)(j->end - j->start), POSIX_FADV_SEQUENTIAL);
    s.b = buf ? queue_get_free(j->q) : NULL;
    j->err = !buf ? -ENOMEM : !s.b ? -ECANCELED : scan_range(&s, buf);
    if (s.b) /* failed mid-way: tell the consumer */
        s.b->last = -1, queue_push(j->q, s.b);
    else if (j->err < 0 && j->err != -ECANCELED) {
        struct scan_batch *b = queue_get_free(j->q);
        if (b)
            b->last = -1, queue_push(j->q, b);
    }
    free(buf);
    return NULL;
}
