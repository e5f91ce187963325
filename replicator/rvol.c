/* rvol — receiver volume operations (see rvol.h, receiver.h). */
#include "rvol.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "rsnap.h"

static uint64_t rvol_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void rvol_path(const struct rvol *v, const char *suffix, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%s%s", v->root, v->name, suffix);
}

static int rvol_save(struct rvol *v, char *err, size_t errlen)
{
    char p[4200];
    rvol_path(v, ".state", p, sizeof(p));
    return volstate_save(p, &v->st, err, errlen);
}

static void rvol_close_stage(struct rvol *v)
{
    blockmap_free(v->stage_map);
    v->stage_map = NULL;
    if (v->stage_fd >= 0)
        close(v->stage_fd);
    v->stage_fd = -1;
    for (int i = 0; i < PROTO_MAX_RANGES; i++) {
        if (v->jfd[i] >= 0)
            close(v->jfd[i]);
        v->jfd[i] = -1;
    }
    v->staged = 0;
}

static void rvol_journal_path(const struct rvol *v, int i, char *out, size_t outlen)
{
    char sfx[32];
    snprintf(sfx, sizeof(sfx), ".journal.%d", i);
    rvol_path(v, sfx, out, outlen);
}

/* Full: the new image being built, sized, and its map.  Delta: one journal
 * per range.  create: fresh files; otherwise the existing ones. */
static int rvol_open_stage(struct rvol *v, int create, char *err, size_t errlen)
{
    char p[4200];
    int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0);
    rvol_close_stage(v);
    if (v->st.mode == PROTO_MODE_DELTA) {
        for (uint16_t i = 0; i < v->st.nranges; i++) {
            rvol_journal_path(v, i, p, sizeof(p));
            if ((v->jfd[i] = open(p, flags, 0600)) < 0) {
                snprintf(err, errlen, "journal %s: %s", p, strerror(errno));
                return -EIO;
            }
            v->jpos[i] = v->st.jlen[i];
        }
        v->staged = 1;
        return 0;
    }
    rvol_path(v, ".stage", p, sizeof(p));
    v->stage_fd = open(p, flags, 0600);
    if (v->stage_fd < 0 || (create && ftruncate(v->stage_fd, (off_t)v->st.pending_size) < 0)) {
        snprintf(err, errlen, "staging file %s: %s", p, strerror(errno));
        return -EIO;
    }
    rvol_path(v, ".stage.map", p, sizeof(p));
    v->stage_map = blockmap_open(p, create, v->st.pending_bs, v->st.pending_size, err, errlen);
    v->staged = v->stage_map != NULL;
    return v->staged ? 0 : -EIO;
}

static void rvol_unlink_stage(struct rvol *v)
{
    char p[4200];
    rvol_path(v, ".stage", p, sizeof(p));
    unlink(p);
    rvol_path(v, ".stage.map", p, sizeof(p));
    unlink(p);
    for (int i = 0; i < PROTO_MAX_RANGES; i++) {
        rvol_journal_path(v, i, p, sizeof(p));
        unlink(p);
    }
}

#define RVOL_APPLY_THREADS 4

struct rvol_applier {
    struct rvol *v;
    int ifd, first, step, rc;
    struct blockmap *map;
    char err[256];
};

static void *rvol_applier_run(void *arg)
{
    struct rvol_applier *a = arg;
    struct rvol *v = a->v;
    for (int i = a->first; i < v->st.nranges && a->rc == 0; i += a->step)
        a->rc = journal_apply(v->jfd[i], v->st.jlen[i], a->ifd, a->map, v->st.pending_size, a->err,
                              sizeof(a->err));
    return NULL;
}

/* Replays every range's journal, a few ranges at once: their blocks and
 * map entries are disjoint, and a delta's random small writes are bound by
 * per-write filesystem work, which spreads over cores. */
static int rvol_apply_journals(struct rvol *v, int ifd, struct blockmap *map, char *err,
                               size_t errlen)
{
    struct rvol_applier a[RVOL_APPLY_THREADS];
    pthread_t th[RVOL_APPLY_THREADS];
    int n = v->st.nranges < RVOL_APPLY_THREADS ? v->st.nranges : RVOL_APPLY_THREADS, started = 0;
    for (int k = 0; k < n; k++)
        a[k] = (struct rvol_applier){.v = v, .ifd = ifd, .first = k, .step = n, .map = map};
    for (; started < n - 1; started++) /* the last share runs on this thread */
        if (pthread_create(&th[started], NULL, rvol_applier_run, &a[started]) != 0)
            break;
    for (int k = started; k < n; k++) /* what got no thread of its own */
        rvol_applier_run(&a[k]);
    int rc = 0;
    for (int k = 0; k < n; k++) {
        if (k < started)
            pthread_join(th[k], NULL);
        if (a[k].rc < 0 && rc == 0) {
            rc = a[k].rc;
            snprintf(err, errlen, "%s", a[k].err);
        }
    }
    return rc;
}

/* Delta apply, visible part: replay the journals into NAME.img and its map
 * (page cache).  Durable part: fdatasync the image, stamp and msync the map. */
static int rvol_apply_delta(struct rvol *v, int durable, char *err, size_t errlen)
{
    char p[4200];
    rvol_path(v, ".img", p, sizeof(p));
    int ifd = open(p, O_RDWR | O_CLOEXEC);
    if (ifd < 0 || (!durable && ftruncate(ifd, (off_t)v->st.pending_size) < 0)) {
        snprintf(err, errlen, "open image %.300s: %s", p, strerror(errno));
        if (ifd >= 0)
            close(ifd);
        return -EIO;
    }
    rvol_path(v, ".map", p, sizeof(p));
    struct blockmap *map = blockmap_open(p, 0, 0, 0, err, errlen);
    int rc = map ? 0 : -EIO;
    if (rc == 0 && !durable && (rc = blockmap_resize(map, v->st.pending_size, err, errlen)) == 0) {
        rc = rvol_apply_journals(v, ifd, map, err, errlen);
    } else if (rc == 0 && durable) {
        if (fdatasync(ifd) < 0) {
            rc = -errno;
            snprintf(err, errlen, "fdatasync image: %s", strerror(-rc));
        } else {
            blockmap_set_gen(map, v->st.pending_gen, v->st.uuid);
            rc = blockmap_sync(map);
        }
    }
    blockmap_free(map);
    close(ifd);
    return rc;
}

/* Full apply: the staging file becomes the image (rename is atomic).  Each
 * step is skipped when a replay finds it already done. */
static int rvol_apply_full(struct rvol *v, char *err, size_t errlen)
{
    char s[4200], d[4200];
    rvol_close_stage(v);
    rvol_path(v, ".stage", s, sizeof(s));
    rvol_path(v, ".img", d, sizeof(d));
    int fd = open(s, O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        int r = fsync(fd);
        close(fd);
        if (r < 0 || rename(s, d) < 0)
            goto fail;
    }
    rvol_path(v, ".stage.map", s, sizeof(s));
    rvol_path(v, ".map", d, sizeof(d));
    if (access(s, F_OK) != 0)
        return 0;
    struct blockmap *m = blockmap_open(s, 0, 0, 0, err, errlen);
    if (!m)
        return -EIO;
    blockmap_set_gen(m, v->st.pending_gen, v->st.uuid);
    int r = blockmap_sync(m);
    blockmap_free(m);
    if (r < 0 || rename(s, d) < 0)
        goto fail;
    return 0;
fail:
    snprintf(err, errlen, "commit %s: %s", s, strerror(errno));
    return -EIO;
}

/* The visible half of applying: afterwards NAME.img reads as the new
 * generation.  Caller holds all locks and has saved st.applying = 1. */
static int rvol_apply_visible(struct rvol *v, char *err, size_t errlen)
{
    if (v->st.mode == PROTO_MODE_FULL)
        return rvol_apply_full(v, err, errlen);
    if (!v->staged) {
        int rc = rvol_open_stage(v, 0, err, errlen);
        if (rc < 0)
            return rc;
    }
    return rvol_apply_delta(v, 0, err, errlen);
}

/* The durable half: image and map on disk, then the state records the
 * generation and the staging files go. */
static int rvol_apply_finish(struct rvol *v, char *err, size_t errlen)
{
    int rc = v->st.mode == PROTO_MODE_DELTA ? rvol_apply_delta(v, 1, err, errlen) : 0;
    if (rc < 0)
        return rc;
    rvol_close_stage(v);
    v->st.committed_gen = v->st.pending_gen;
    v->st.committed_size = v->st.pending_size;
    v->st.committed_bs = v->st.pending_bs;
    v->st.pending = v->st.applying = 0;
    v->st.nranges = 0;
    if ((rc = rvol_save(v, err, errlen)) < 0)
        return rc;
    rvol_unlink_stage(v);
    wm_info("repl.committed", "volume=%s gen=%" PRIu64 " size=%" PRIu64, v->name,
            v->st.committed_gen, v->st.committed_size);
    return 0;
}

struct rvol *rvol_open(const char *root, const char *name, char *err, size_t errlen)
{
    struct rvol *v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(v->name, sizeof(v->name), "%s", name);
    snprintf(v->root, sizeof(v->root), "%s", root);
    v->stage_fd = -1;
    for (int i = 0; i < PROTO_MAX_RANGES; i++)
        v->jfd[i] = -1;
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->cv, NULL);
    pthread_rwlock_init(&v->stage_lock, NULL);
    pthread_rwlock_init(&v->img_lock, NULL);
    char p[4200];
    rvol_path(v, ".state", p, sizeof(p));
    int rc = volstate_load(p, &v->st, err, errlen);
    if (rc == 0 && v->st.applying) {
        wm_warn("repl.apply_replay", "volume=%s gen=%" PRIu64, name, v->st.pending_gen);
        int xfd = rsnap_lock(v->root, v->name, LOCK_EX); /* readers wait for the replay */
        if (xfd < 0) {
            snprintf(err, errlen, "lock %s.lock: %s", name, strerror(-xfd));
            rc = xfd;
        } else if ((rc = rvol_apply_visible(v, err, errlen)) == 0) {
            rc = rvol_apply_finish(v, err, errlen);
        }
        rsnap_unlock(xfd);
    }
    if (rc == 0 && v->st.pending)
        rc = rvol_open_stage(v, 0, err, errlen);
    if (rc < 0) {
        rvol_free(v);
        return NULL;
    }
    return v;
}

void rvol_free(struct rvol *v)
{
    if (!v)
        return;
    rvol_close_stage(v);
    pthread_mutex_destroy(&v->mu);
    pthread_cond_destroy(&v->cv);
    pthread_rwlock_destroy(&v->stage_lock);
    pthread_rwlock_destroy(&v->img_lock);
    free(v);
}

static int rvol_pending_matches(const struct rvol *v, const struct proto_begin *req, uint8_t mode,
                                const struct proto_range *rg, uint16_t n)
{
    const struct volstate *s = &v->st;
    if (!s->pending || s->pending_size != req->size || s->pending_bs != req->bs ||
        s->mode != mode || s->nranges != n || !v->staged)
        return 0;
    for (uint16_t i = 0; i < n; i++)
        if (s->ranges[i].start != rg[i].start || s->ranges[i].end != rg[i].end)
            return 0;
    return 1;
}

/* Discards any pending generation and starts a fresh one. */
static int rvol_new_pending(struct rvol *v, const struct proto_begin *req, uint8_t mode,
                            const struct proto_range *rg, uint16_t n, char *err, size_t errlen)
{
    rvol_close_stage(v);
    rvol_unlink_stage(v);
    struct volstate *s = &v->st;
    static const uint8_t nouuid[16];
    if (memcmp(s->uuid, nouuid, 16) == 0 && getrandom(s->uuid, 16, 0) != 16)
        return -EIO;
    s->pending = 1;
    s->applying = 0;
    s->pending_gen = s->committed_gen + 1;
    s->pending_size = req->size;
    s->pending_bs = req->bs;
    s->mode = mode;
    s->nranges = n;
    memcpy(s->ranges, rg, n * sizeof(*rg));
    memset(s->jlen, 0, sizeof(s->jlen));
    return rvol_open_stage(v, 1, err, errlen);
}

int rvol_begin(struct rvol *v, const struct proto_begin *req, struct proto_begin_ok *out, char *err,
               size_t errlen)
{
    struct proto_range rg[PROTO_MAX_RANGES];
    uint16_t n = volstate_split(req->size, req->bs, req->nranges, rg);
    pthread_rwlock_wrlock(&v->stage_lock);
    pthread_mutex_lock(&v->mu);
    struct volstate *s = &v->st;
    if (s->applying) { /* an earlier commit did not finish: finish it first */
        int rc = rvol_apply_visible(v, err, errlen);
        if (rc == 0)
            rc = rvol_apply_finish(v, err, errlen);
        if (rc < 0) {
            pthread_mutex_unlock(&v->mu);
            pthread_rwlock_unlock(&v->stage_lock);
            return rc;
        }
    }
    uint8_t mode = req->full || s->committed_gen == 0 || s->committed_bs != req->bs
                       ? PROTO_MODE_FULL
                       : PROTO_MODE_DELTA;
    int rc = 0, resumed = rvol_pending_matches(v, req, mode, rg, n);
    if (!resumed)
        rc = rvol_new_pending(v, req, mode, rg, n, err, errlen);
    s->epoch++;
    if (rc == 0)
        rc = rvol_save(v, err, errlen);
    if (rc == 0) {
        *out = (struct proto_begin_ok){.committed_gen = s->committed_gen,
                                       .committed_size = s->committed_size,
                                       .committed_bs = s->committed_bs,
                                       .pending_gen = s->pending_gen,
                                       .epoch = s->epoch,
                                       .mode = s->mode,
                                       .nranges = s->nranges};
        memcpy(out->uuid, s->uuid, 16);
        memcpy(out->ranges, s->ranges, s->nranges * sizeof(s->ranges[0]));
        wm_info("repl.begin", "volume=%s gen=%" PRIu64 " mode=%s resumed=%d epoch=%" PRIu64,
                v->name, s->pending_gen, mode == PROTO_MODE_FULL ? "full" : "delta", resumed,
                s->epoch);
    }
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->mu);
    pthread_rwlock_unlock(&v->stage_lock);
    return rc;
}

int rvol_claim(struct rvol *v, uint64_t gen, uint64_t epoch, uint16_t idx, uint64_t *token,
               struct proto_range *range, char *err, size_t errlen)
{
    if (idx >= PROTO_MAX_RANGES) {
        snprintf(err, errlen, "range index %u out of bounds", idx);
        return -ESTALE;
    }
    pthread_mutex_lock(&v->mu);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 3; /* a cut connection's handler may still be checkpointing */
    while (v->owner[idx] && v->st.epoch == epoch &&
           pthread_cond_timedwait(&v->cv, &v->mu, &until) == 0)
        ;
    pthread_mutex_unlock(&v->mu);
    /* exclusive against writers: the old owner's last append is finished */
    pthread_rwlock_wrlock(&v->stage_lock);
    pthread_mutex_lock(&v->mu);
    int rc = 0;
    if (!v->st.pending || v->st.pending_gen != gen || v->st.epoch != epoch ||
        idx >= v->st.nranges) {
        snprintf(err, errlen,
                 "stale session for volume %s (another sync took over or it committed)", v->name);
        rc = -ESTALE;
    } else {
        v->owner[idx] = *token = ++v->token_seq;
        *range = v->st.ranges[idx];
        /* the journal keeps only what the checkpoint covers */
        if (v->st.mode == PROTO_MODE_DELTA && v->jfd[idx] >= 0) {
            v->jpos[idx] = v->st.jlen[idx];
            if (ftruncate(v->jfd[idx], (off_t)v->jpos[idx]) < 0)
                rc = -errno, snprintf(err, errlen, "truncate journal: %s", strerror(-rc));
        }
    }
    pthread_mutex_unlock(&v->mu);
    pthread_rwlock_unlock(&v->stage_lock);
    return rc;
}

void rvol_release(struct rvol *v, uint16_t idx, uint64_t token)
{
    pthread_mutex_lock(&v->mu);
    if (idx < PROTO_MAX_RANGES && v->owner[idx] == token)
        v->owner[idx] = 0;
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->mu);
}

static int rvol_is_owner(struct rvol *v, uint16_t idx, uint64_t token)
{
    pthread_mutex_lock(&v->mu);
    int mine = v->owner[idx] == token;
    pthread_mutex_unlock(&v->mu);
    return mine;
}

int rvol_write(struct rvol *v, uint64_t epoch, uint16_t idx, uint64_t token,
               const struct frame_blocks *fb, const uint8_t *raw, char *err, size_t errlen)
{
    pthread_rwlock_rdlock(&v->stage_lock);
    int rc = -ESTALE;
    if (v->st.epoch == epoch && v->staged && rvol_is_owner(v, idx, token))
        rc = v->st.mode == PROTO_MODE_DELTA
                 ? journal_append(v->jfd[idx], &v->jpos[idx], fb, raw)
                 : journal_write_blocks(fb, raw, v->stage_fd, v->stage_map, v->st.pending_size);
    pthread_rwlock_unlock(&v->stage_lock);
    if (rc == -ESTALE)
        snprintf(err, errlen, "stale session for volume %s", v->name);
    else if (rc < 0)
        snprintf(err, errlen, "write staging for %s: %s", v->name, strerror(-rc));
    return rc;
}

int rvol_checkpoint(struct rvol *v, uint64_t epoch, uint16_t idx, uint64_t token, uint64_t covered,
                    char *err, size_t errlen)
{
    pthread_rwlock_rdlock(&v->stage_lock);
    int rc = -ESTALE;
    if (v->st.epoch == epoch && v->staged) {
        int delta = v->st.mode == PROTO_MODE_DELTA;
        if (delta)
            rc = fdatasync(v->jfd[idx]) < 0 ? -errno : 0;
        else
            rc = fdatasync(v->stage_fd) < 0 ? -errno : blockmap_sync(v->stage_map);
        pthread_mutex_lock(&v->mu);
        if (rc == 0 && v->owner[idx] == token && v->st.epoch == epoch &&
            (covered > v->st.ranges[idx].done || (delta && v->jpos[idx] != v->st.jlen[idx]))) {
            if (covered > v->st.ranges[idx].done)
                v->st.ranges[idx].done = covered;
            if (delta)
                v->st.jlen[idx] = v->jpos[idx];
            rc = rvol_save(v, err, errlen);
        }
        pthread_mutex_unlock(&v->mu);
    }
    pthread_rwlock_unlock(&v->stage_lock);
    if (rc < 0 && rc != -ESTALE)
        snprintf(err, errlen, "checkpoint %s: %s", v->name, strerror(-rc));
    return rc;
}

/* A map of size/bs that unlinks itself (only the mapping keeps it). */
static struct blockmap *rvol_scratch_map(struct rvol *v, uint32_t bs, uint64_t size, char *err,
                                         size_t errlen)
{
    static _Atomic unsigned long seq;
    char p[4200], sfx[64];
    snprintf(sfx, sizeof(sfx), ".digests.%lu", (unsigned long)atomic_fetch_add(&seq, 1));
    rvol_path(v, sfx, p, sizeof(p));
    struct blockmap *m = blockmap_open(p, 1, bs, size, err, errlen);
    unlink(p);
    return m;
}

/* Copies src's entries (as many as both hold) into dst. */
static void rvol_copy_map(struct blockmap *dst, const struct blockmap *src)
{
    uint64_t n = blockmap_nblocks(src);
    if (n > blockmap_nblocks(dst))
        n = blockmap_nblocks(dst);
    for (uint64_t i = 0; i < n; i++)
        blockmap_set(dst, i, blockmap_get(src, i));
}

/* Delta: the committed map, then each range's checkpointed journal. */
static int rvol_delta_digests(struct rvol *v, struct blockmap *out, char *err, size_t errlen)
{
    char p[4200];
    rvol_path(v, ".map", p, sizeof(p));
    struct blockmap *cm = blockmap_open(p, 0, 0, 0, err, errlen);
    if (!cm)
        return -EIO;
    int rc = 0;
    if (blockmap_bs(cm) == blockmap_bs(out))
        rvol_copy_map(out, cm);
    blockmap_free(cm);
    for (uint16_t i = 0; i < v->st.nranges && rc == 0; i++)
        rc = journal_digests(v->jfd[i], v->st.jlen[i], out, v->st.pending_size, err, errlen);
    return rc;
}

int rvol_pending_digests(struct rvol *v, struct proto_map_info *info, struct blockmap **out,
                         char *err, size_t errlen)
{
    *out = NULL;
    pthread_rwlock_rdlock(&v->stage_lock); /* no commit or new pending meanwhile */
    pthread_mutex_lock(&v->mu);
    const struct volstate *s = &v->st;
    int rc = 0;
    if (!s->pending || !v->staged) {
        snprintf(err, errlen, "volume %s has no pending generation", v->name);
        rc = -ENOENT;
    } else if (!(*out = rvol_scratch_map(v, s->pending_bs, s->pending_size, err, errlen))) {
        rc = -EIO;
    } else if (s->mode == PROTO_MODE_FULL) {
        rvol_copy_map(*out, v->stage_map);
    } else {
        rc = rvol_delta_digests(v, *out, err, errlen);
    }
    if (rc == 0) {
        *info = (struct proto_map_info){.gen = s->pending_gen,
                                        .size = s->pending_size,
                                        .nblocks = blockmap_count(s->pending_size, s->pending_bs),
                                        .bs = s->pending_bs};
        memcpy(info->uuid, s->uuid, 16);
    } else {
        blockmap_free(*out);
        *out = NULL;
    }
    pthread_mutex_unlock(&v->mu);
    pthread_rwlock_unlock(&v->stage_lock);
    return rc;
}

int rvol_commit(struct rvol *v, const struct proto_commit *req, struct proto_gen *out,
                void (*reply)(void *arg, const struct proto_gen *g), void *arg, char *err,
                size_t errlen)
{
    pthread_rwlock_wrlock(&v->img_lock);
    pthread_rwlock_wrlock(&v->stage_lock);
    pthread_mutex_lock(&v->mu);
    struct volstate *s = &v->st;
    int rc = 0, applied = 0, xfd = -1;
    if (!s->pending || s->pending_gen != req->gen) {
        if (s->committed_gen != req->gen) {
            snprintf(err, errlen, "nothing to commit at generation %" PRIu64, req->gen);
            rc = -ESTALE;
        }
    } else if (s->epoch != req->epoch) {
        snprintf(err, errlen, "stale session for volume %s", v->name);
        rc = -ESTALE;
    } else {
        for (uint16_t i = 0; i < s->nranges && rc == 0; i++)
            if (s->ranges[i].done != s->ranges[i].end) {
                snprintf(err, errlen, "range %u not complete", i);
                rc = -EAGAIN;
            }
        /* other processes' copies (rsnap_copy) see the old generation or
         * the new one, never the apply in between */
        if (rc == 0 && (xfd = rsnap_lock(v->root, v->name, LOCK_EX)) < 0) {
            snprintf(err, errlen, "lock %s.lock: %s", v->name, strerror(-xfd));
            rc = xfd;
        }
        if (rc == 0)
            s->applying = 1;
        uint64_t t0 = rvol_ms();
        if (rc == 0 && (rc = rvol_save(v, err, errlen)) == 0) {
            v->ms_save = (uint32_t)(rvol_ms() - t0);
            rc = rvol_apply_visible(v, err, errlen);
            v->ms_apply = (uint32_t)(rvol_ms() - t0) - v->ms_save;
        }
        applied = rc == 0;
    }
    out->gen = applied ? s->pending_gen : s->committed_gen;
    memcpy(out->uuid, s->uuid, 16);
    if (rc == 0)
        reply(arg, out);
    uint64_t t1 = rvol_ms();
    if (applied && (rc = rvol_apply_finish(v, err, errlen)) < 0)
        wm_error("repl.commit_finish_failed", "volume=%s err=\"%s\" (replayed on next open)",
                 v->name, err);
    if (applied)
        wm_info("repl.commit_times",
                "volume=%s gen=%" PRIu64 " save_ms=%" PRIu32 " apply_ms=%" PRIu32
                " durable_ms=%" PRIu64 " (after the answer)",
                v->name, out->gen, v->ms_save, v->ms_apply, rvol_ms() - t1);
    rsnap_unlock(xfd);
    pthread_mutex_unlock(&v->mu);
    pthread_rwlock_unlock(&v->stage_lock);
    pthread_rwlock_unlock(&v->img_lock);
    return applied ? 0 : rc;
}
