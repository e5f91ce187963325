/* ebs_export — a committed generation to an EBS snapshot; see ebs_export.h. */
#include "ebs_export.h"

#include "blockmap.h"
#include "log.h"
#include "volstate.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GIB (1024ull * 1024 * 1024)
#define SUM_LEN 32
#define SYNC_EVERY 64 /* accepted blocks between fdatasyncs of NAME.ebs.sums */

/* --- NAME.ebs --- */

struct ebs_state {
    uint64_t base_gen, base_size;
    char base_snap[EBS_ID_MAX];
    uint64_t cur_gen, cur_size, cur_parent_gen;
    char cur_snap[EBS_ID_MAX], cur_parent[EBS_ID_MAX];
};

struct job {
    const struct ebs_export_opts *o;
    char base[3072]; /* ROOT/NAME */
    struct volstate vs;
    struct ebs_state es;
    struct blockmap *plan, *prev; /* prev NULL = root snapshot */
    int img_fd, sums_fd;
    uint32_t bs, per; /* receiver block size, receiver blocks per EBS block */
    uint64_t size, nchunks, cursor, since_sync;
    struct ebs_export_progress prog;
};

static void path_of(const struct job *j, const char *suffix, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s%s", j->base, suffix);
}

static int state_load(const char *path, struct ebs_state *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0
                               : (snprintf(err, errlen, "%s: %s", path, strerror(errno)), -errno);
    char key[32], val[EBS_ID_MAX];
    int rc = 0;
    while (rc == 0 && fscanf(f, "%31s %63s", key, val) == 2) {
        uint64_t n = strtoull(val, NULL, 10);
        if (!strcmp(key, "base_gen"))
            s->base_gen = n;
        else if (!strcmp(key, "base_size"))
            s->base_size = n;
        else if (!strcmp(key, "base_snapshot"))
            snprintf(s->base_snap, sizeof(s->base_snap), "%s", val);
        else if (!strcmp(key, "cur_gen"))
            s->cur_gen = n;
        else if (!strcmp(key, "cur_size"))
            s->cur_size = n;
        else if (!strcmp(key, "cur_parent_gen"))
            s->cur_parent_gen = n;
        else if (!strcmp(key, "cur_snapshot"))
            snprintf(s->cur_snap, sizeof(s->cur_snap), "%s", val);
        else if (!strcmp(key, "cur_parent"))
            snprintf(s->cur_parent, sizeof(s->cur_parent), "%s", val);
        else
            rc = -EBADMSG, snprintf(err, errlen, "%s: unknown key %s", path, key);
    }
    fclose(f);
    return rc;
}

static int fsync_dir_of(const char *path)
{
    char dir[3072];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

/* Write tmp, fsync, rename, fsync dir: a crash leaves the old or the new. */
static int state_save(const char *path, const struct ebs_state *s, char *err, size_t errlen)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return snprintf(err, errlen, "%s: %s", tmp, strerror(errno)), -errno;
    fprintf(f, "base_gen %" PRIu64 "\nbase_size %" PRIu64 "\nbase_snapshot %s\n", s->base_gen,
            s->base_size, s->base_snap[0] ? s->base_snap : "-");
    fprintf(f, "cur_gen %" PRIu64 "\ncur_size %" PRIu64 "\ncur_parent_gen %" PRIu64 "\n",
            s->cur_gen, s->cur_size, s->cur_parent_gen);
    fprintf(f, "cur_snapshot %s\ncur_parent %s\n", s->cur_snap[0] ? s->cur_snap : "-",
            s->cur_parent[0] ? s->cur_parent : "-");
    int rc = fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -errno;
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc == 0)
        rc = fsync_dir_of(path);
    if (rc < 0)
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
    return rc;
}

/* "-" in the file stands for an empty id */
static void state_fix(struct ebs_state *s)
{
    char *ids[] = {s->base_snap, s->cur_snap, s->cur_parent};
    for (size_t i = 0; i < 3; i++)
        if (!strcmp(ids[i], "-"))
            ids[i][0] = '\0';
}

/* --- files --- */

static int copy_file(const char *src, const char *dst, char *err, size_t errlen)
{
    char tmp[4200], buf[1 << 16];
    snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
    int in = open(src, O_RDONLY), out = in < 0 ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int rc = in < 0 || out < 0 ? -errno : 0;
    ssize_t n;
    while (rc == 0 && (n = read(in, buf, sizeof(buf))) != 0) {
        if (n < 0 || write(out, buf, (size_t)n) != n)
            rc = -errno ? -errno : -EIO;
    }
    if (rc == 0 && fsync(out) < 0)
        rc = -errno;
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    if (rc == 0 && rename(tmp, dst) < 0)
        rc = -errno;
    if (rc < 0)
        snprintf(err, errlen, "copy %s -> %s: %s", src, dst, strerror(-rc));
    return rc;
}

/* The committed generation's map, copied while no commit ran: the state is
 * the same committed generation and not applying before and after. */
static int snapshot_map(struct job *j, char *err, size_t errlen)
{
    char st[3100], map[3100], plan[3100];
    path_of(j, ".state", st, sizeof(st));
    path_of(j, ".map", map, sizeof(map));
    path_of(j, ".ebs.plan.map", plan, sizeof(plan));
    int rc = copy_file(map, plan, err, errlen);
    struct volstate after;
    if (rc == 0)
        rc = volstate_load(st, &after, err, errlen);
    if (rc == 0 && (after.committed_gen != j->vs.committed_gen || after.applying)) {
        snprintf(err, errlen, "%s: a commit ran while its map was read; try again", j->o->volume);
        rc = -EBUSY;
    }
    return rc;
}

static int open_maps(struct job *j, bool with_prev, char *err, size_t errlen)
{
    char plan[3100], prev[3100];
    path_of(j, ".ebs.plan.map", plan, sizeof(plan));
    path_of(j, ".ebs.base.map", prev, sizeof(prev));
    j->plan = blockmap_open(plan, 0, 0, 0, err, errlen);
    if (!j->plan)
        return -EIO;
    if (blockmap_gen(j->plan) != j->es.cur_gen || blockmap_bs(j->plan) != j->bs) {
        snprintf(err, errlen, "%s: map of generation %" PRIu64 " expected, found %" PRIu64, plan,
                 j->es.cur_gen, blockmap_gen(j->plan));
        return -ESTALE;
    }
    if (with_prev) {
        j->prev = blockmap_open(prev, 0, 0, 0, err, errlen);
        if (!j->prev)
            return -EIO;
    }
    return 0;
}

/* --- which blocks --- */

static bool digest_is_zero(const struct repl_digest *d, uint64_t len)
{
    struct repl_digest z;
    if (!d || blockmap_digest_empty(d))
        return true;
    blockmap_zero_digest((size_t)len, &z);
    return blockmap_digest_eq(d, &z);
}

static uint64_t block_len(const struct job *j, uint64_t b)
{
    uint64_t off = b * j->bs;
    return off + j->bs > j->size ? j->size - off : j->bs;
}

/* EBS block c is put: any receiver block in it differs from the parent
 * (blocks past the parent's end count as zeros), or, for a root snapshot,
 * is not all zeros. */
static bool chunk_changed(const struct job *j, uint64_t c)
{
    uint64_t first = c * j->per, end = first + j->per, nb = blockmap_nblocks(j->plan);
    for (uint64_t b = first; b < end && b < nb; b++) {
        const struct repl_digest *d = blockmap_get(j->plan, b);
        uint64_t len = block_len(j, b);
        if (!j->prev) {
            if (!digest_is_zero(d, len))
                return true;
            continue;
        }
        const struct repl_digest *p =
            b < blockmap_nblocks(j->prev) && b * j->bs + len <= blockmap_size(j->prev)
                ? blockmap_get(j->prev, b)
                : NULL;
        if (p && !blockmap_digest_empty(p) ? !blockmap_digest_eq(d, p) : !digest_is_zero(d, len))
            return true;
    }
    return false;
}

static bool sum_get(const struct job *j, uint64_t c, uint8_t out[SUM_LEN])
{
    if (pread(j->sums_fd, out, SUM_LEN, (off_t)(c * SUM_LEN)) != SUM_LEN)
        return false;
    for (int i = 0; i < SUM_LEN; i++)
        if (out[i])
            return true;
    return false;
}

/* --- the upload's callbacks --- */

static int src_next(void *arg, uint64_t *idx)
{
    struct job *j = arg;
    uint8_t sum[SUM_LEN];
    for (; j->cursor < j->nchunks; j->cursor++) {
        uint64_t c = j->cursor;
        if (chunk_changed(j, c) && !sum_get(j, c, sum)) {
            *idx = c;
            j->cursor++;
            return 0;
        }
    }
    return 1;
}

/* Reads EBS block c and checks every receiver block in it against the plan. */
static int src_read(void *arg, uint64_t c, uint8_t *buf, char *err, size_t errlen)
{
    struct job *j = arg;
    uint64_t off = c * EBS_BLOCK_SIZE, want = EBS_BLOCK_SIZE;
    if (off + want > j->size)
        want = j->size - off;
    memset(buf, 0, EBS_BLOCK_SIZE);
    for (uint64_t got = 0; got < want;) {
        ssize_t n = pread(j->img_fd, buf + got, want - got, (off_t)(off + got));
        if (n <= 0) {
            snprintf(err, errlen, "%s.img at %" PRIu64 ": %s", j->base, off + got,
                     n < 0 ? strerror(errno) : "short image");
            return n < 0 ? -errno : -EIO;
        }
        got += (uint64_t)n;
    }
    for (uint64_t b = c * j->per, i = 0; i < j->per && b * j->bs < j->size; b++, i++) {
        struct repl_digest d;
        uint64_t len = block_len(j, b);
        blockmap_digest(buf + i * j->bs, (size_t)len, &d);
        const struct repl_digest *want_d = blockmap_get(j->plan, b);
        bool ok = want_d && !blockmap_digest_empty(want_d) ? blockmap_digest_eq(&d, want_d)
                                                           : digest_is_zero(&d, len);
        if (!ok) {
            snprintf(err, errlen,
                     "%s.img no longer holds generation %" PRIu64 " (block %" PRIu64
                     " differs): a newer sync committed; export the newer generation",
                     j->base, j->es.cur_gen, b);
            return -ESTALE;
        }
    }
    return 0;
}

static int src_done(void *arg, uint64_t c, const uint8_t sha[32], char *err, size_t errlen)
{
    struct job *j = arg;
    if (pwrite(j->sums_fd, sha, SUM_LEN, (off_t)(c * SUM_LEN)) != SUM_LEN ||
        (++j->since_sync % SYNC_EVERY == 0 && fdatasync(j->sums_fd) < 0)) {
        snprintf(err, errlen, "%s.ebs.sums: %s", j->base, strerror(errno));
        return -errno;
    }
    return 0;
}

/* --- steps --- */

/* Loads the volume's state and decides: resume, start, or already done. */
static int prepare(struct job *j, char *err, size_t errlen)
{
    char path[3100];
    path_of(j, ".state", path, sizeof(path));
    int rc = volstate_load(path, &j->vs, err, errlen);
    if (rc < 0)
        return rc;
    if (j->vs.committed_gen == 0) {
        snprintf(err, errlen, "%s: no committed generation to export", j->o->volume);
        return -ENOENT;
    }
    if (j->vs.applying) {
        snprintf(err, errlen, "%s: a commit is being applied; try again", j->o->volume);
        return -EBUSY;
    }
    uint64_t gen = j->o->generation ? j->o->generation : j->vs.committed_gen;
    if (gen != j->vs.committed_gen) {
        snprintf(err, errlen,
                 "%s: generation %" PRIu64 " is not on the receiver (committed: %" PRIu64 ")",
                 j->o->volume, gen, j->vs.committed_gen);
        return -ESTALE;
    }
    j->bs = j->vs.committed_bs;
    j->size = j->vs.committed_size;
    if (j->bs == 0 || EBS_BLOCK_SIZE % j->bs != 0) {
        snprintf(err, errlen, "%s: block size %u does not divide 512 KiB", j->o->volume, j->bs);
        return -EINVAL;
    }
    j->per = EBS_BLOCK_SIZE / j->bs;
    j->nchunks = (j->size + EBS_BLOCK_SIZE - 1) / EBS_BLOCK_SIZE;
    path_of(j, ".ebs", path, sizeof(path));
    rc = state_load(path, &j->es, err, errlen);
    state_fix(&j->es);
    return rc;
}

static void client_token(const struct job *j, char out[40])
{
    char in[512], hex[WM_SIGV4_HEX_LEN + 1];
    int n = snprintf(in, sizeof(in), "ebs|%s|", j->o->volume);
    for (int i = 0; i < 16; i++)
        n += snprintf(in + n, sizeof(in) - (size_t)n, "%02x", j->vs.uuid[i]);
    n += snprintf(in + n, sizeof(in) - (size_t)n, "|%" PRIu64 "|%s", j->es.cur_gen,
                  j->es.cur_parent);
    wm_sigv4_sha256_hex(in, (size_t)n, hex);
    snprintf(out, 40, "wm-%.32s", hex);
}

static int start_snapshot(struct job *j, struct ebs_api *a, char *err, size_t errlen)
{
    const struct ebs_export_opts *o = j->o;
    char token[40], gen[24], desc[512];
    client_token(j, token);
    snprintf(gen, sizeof(gen), "%" PRIu64, j->es.cur_gen);
    snprintf(desc, sizeof(desc), "%s", o->description ? o->description : "");
    if (!o->description)
        snprintf(desc, sizeof(desc), "wavemill volume %s generation %s", o->volume, gen);
    struct ebs_start s = {.volume_size_gib = (j->size + GIB - 1) / GIB,
                          .parent = j->es.cur_parent,
                          .client_token = token,
                          .description = desc,
                          .timeout_min = o->snapshot_timeout_min};
    if (s.volume_size_gib == 0)
        s.volume_size_gib = 1;
    s.tag_keys[s.ntags] = "wavemill:volume", s.tag_values[s.ntags++] = o->volume;
    s.tag_keys[s.ntags] = "wavemill:generation", s.tag_values[s.ntags++] = gen;
    for (size_t i = 0; i < o->ntags && s.ntags < EBS_MAX_TAGS; i++)
        s.tag_keys[s.ntags] = o->tag_keys[i], s.tag_values[s.ntags++] = o->tag_values[i];
    int rc = ebs_api_start_snapshot(a, &s, j->es.cur_snap, err, errlen);
    if (rc < 0)
        return rc;
    wm_info("ebs.started", "volume=%s gen=%s snapshot=%s parent=%s", o->volume, gen, j->es.cur_snap,
            j->es.cur_parent[0] ? j->es.cur_parent : "-");
    char path[3100];
    path_of(j, ".ebs", path, sizeof(path));
    return state_save(path, &j->es, err, errlen);
}

/* A new export of the committed generation: map snapshot, parent, sums. */
static int begin_new(struct job *j, struct ebs_api *a, char *err, size_t errlen)
{
    char path[3100];
    path_of(j, ".ebs.sums", path, sizeof(path));
    unlink(path);
    int rc = snapshot_map(j, err, errlen);
    if (rc < 0)
        return rc;
    bool chain = !j->o->force_root && j->es.base_snap[0] && j->size >= j->es.base_size;
    char prev[3100];
    path_of(j, ".ebs.base.map", prev, sizeof(prev));
    if (chain) { /* a lost base map or another block size: a new chain */
        char e2[256];
        struct blockmap *m = blockmap_open(prev, 0, 0, 0, e2, sizeof(e2));
        chain = m && blockmap_bs(m) == j->bs;
        if (m)
            blockmap_free(m);
    }
    j->es.cur_gen = j->vs.committed_gen;
    j->es.cur_size = j->size;
    j->es.cur_parent_gen = chain ? j->es.base_gen : 0;
    snprintf(j->es.cur_parent, sizeof(j->es.cur_parent), "%s", chain ? j->es.base_snap : "");
    j->es.cur_snap[0] = '\0';
    return start_snapshot(j, a, err, errlen);
}

static int open_data(struct job *j, char *err, size_t errlen)
{
    char path[3100];
    path_of(j, ".img", path, sizeof(path));
    j->img_fd = open(path, O_RDONLY);
    path_of(j, ".ebs.sums", path, sizeof(path));
    j->sums_fd = j->img_fd < 0 ? -1 : open(path, O_RDWR | O_CREAT, 0600);
    if (j->img_fd < 0 || j->sums_fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    return open_maps(j, j->es.cur_parent[0] != '\0', err, errlen);
}

/* ChangedBlocksCount and the LINEAR aggregate: SHA-256 over the blocks'
 * SHA-256 digests in block-index order. */
static int aggregate(struct job *j, uint64_t *count, uint8_t agg[32], char *err, size_t errlen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    *count = 0;
    for (uint64_t c = 0; c < j->nchunks; c++) {
        uint8_t sum[SUM_LEN];
        if (!chunk_changed(j, c))
            continue;
        if (!sum_get(j, c, sum)) {
            snprintf(err, errlen, "%s: block %" PRIu64 " was never accepted", j->base, c);
            EVP_MD_CTX_free(ctx);
            return -EIO;
        }
        EVP_DigestUpdate(ctx, sum, SUM_LEN);
        (*count)++;
    }
    EVP_DigestFinal_ex(ctx, agg, NULL);
    EVP_MD_CTX_free(ctx);
    return 0;
}

static int wait_completed(struct ebs_api *a, const char *id, const char *status, int wait_s,
                          char *err, size_t errlen)
{
    char st[32];
    snprintf(st, sizeof(st), "%s", status);
    time_t deadline = time(NULL) + (wait_s > 0 ? wait_s : 3600);
    for (long delay_ms = 500;; delay_ms = delay_ms < 15000 ? delay_ms * 2 : delay_ms) {
        if (!strcmp(st, "completed"))
            return 0;
        if (!strcmp(st, "error")) {
            snprintf(err, errlen, "snapshot %s: AWS says error", id);
            return -EIO;
        }
        if (time(NULL) >= deadline) {
            snprintf(err, errlen, "snapshot %s still %s after %d s", id, st, wait_s);
            return -ETIMEDOUT;
        }
        struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        int rc = ebs_api_snapshot_state(a, id, st, err, errlen);
        if (rc < 0)
            return rc;
    }
}

/* Complete (again, after a crash between complete and the state update:
 * a snapshot AWS already completed is fine), wait, then the generation
 * becomes the base. */
static int finish(struct job *j, struct ebs_api *a, struct ebs_export_result *res, char *err,
                  size_t errlen)
{
    uint8_t agg[32];
    char status[32] = "pending";
    int rc = aggregate(j, &res->changed_blocks, agg, err, errlen);
    if (rc < 0)
        return rc;
    ebs_base64(agg, 32, res->aggregate_b64, sizeof(res->aggregate_b64));
    rc = ebs_api_complete(a, j->es.cur_snap, res->changed_blocks, agg, status, err, errlen);
    if (rc < 0 && ebs_api_snapshot_state(a, j->es.cur_snap, status, err, errlen) == 0 &&
        !strcmp(status, "completed"))
        rc = 0;
    if (rc == 0)
        rc = wait_completed(a, j->es.cur_snap, status, j->o->wait_s, err, errlen);
    if (rc < 0)
        return rc;
    char plan[3100], prev[3100], path[3100];
    path_of(j, ".ebs.plan.map", plan, sizeof(plan));
    path_of(j, ".ebs.base.map", prev, sizeof(prev));
    path_of(j, ".ebs", path, sizeof(path));
    if (rename(plan, prev) < 0) {
        snprintf(err, errlen, "%s: %s", prev, strerror(errno));
        return -errno;
    }
    j->es.base_gen = j->es.cur_gen;
    j->es.base_size = j->es.cur_size;
    snprintf(j->es.base_snap, sizeof(j->es.base_snap), "%s", j->es.cur_snap);
    j->es.cur_gen = j->es.cur_size = j->es.cur_parent_gen = 0;
    j->es.cur_snap[0] = j->es.cur_parent[0] = '\0';
    rc = state_save(path, &j->es, err, errlen);
    path_of(j, ".ebs.sums", path, sizeof(path));
    if (rc == 0)
        unlink(path);
    return rc;
}

static void fill_result(const struct job *j, struct ebs_export_result *res)
{
    res->gen = j->es.cur_gen;
    res->parent_gen = j->es.cur_parent_gen;
    snprintf(res->snapshot, sizeof(res->snapshot), "%s", j->es.cur_snap);
    snprintf(res->parent, sizeof(res->parent), "%s", j->es.cur_parent);
    res->volume_size = j->size;
    res->volume_gib = (j->size + GIB - 1) / GIB;
}

static uint64_t count_done(const struct job *j)
{
    uint64_t n = 0;
    uint8_t sum[SUM_LEN];
    for (uint64_t c = 0; c < j->nchunks; c++)
        n += sum_get(j, c, sum);
    return n;
}

static uint64_t count_planned(const struct job *j)
{
    uint64_t n = 0;
    for (uint64_t c = 0; c < j->nchunks; c++)
        n += chunk_changed(j, c);
    return n;
}

static void on_upload(const struct ebs_upload_stats *s, void *ud)
{
    struct job *j = ud;
    j->prog.up = *s;
    if (j->o->progress)
        j->o->progress(&j->prog, j->o->ud);
}

static int run(struct job *j, struct ebs_api *a, struct ebs_export_result *res, char *err,
               size_t errlen)
{
    int rc = prepare(j, err, errlen);
    if (rc < 0)
        return rc;
    if (j->es.base_gen == j->vs.committed_gen && j->es.base_snap[0] && !j->o->force_root) {
        res->already = 1;
        res->gen = j->es.base_gen;
        snprintf(res->snapshot, sizeof(res->snapshot), "%s", j->es.base_snap);
        return 0;
    }
    bool resume = j->es.cur_gen == j->vs.committed_gen && j->es.cur_snap[0] && !j->o->force_root;
    if (!resume && (rc = begin_new(j, a, err, errlen)) < 0)
        return rc;
    if ((rc = open_data(j, err, errlen)) < 0)
        return rc;
    fill_result(j, res);
    res->resumed_blocks = resume ? count_done(j) : 0;
    j->prog = (struct ebs_export_progress){
        .gen = j->es.cur_gen, .planned = count_planned(j), .resumed = res->resumed_blocks};
    struct ebs_upload_src src = {src_next, src_read, src_done, j};
    int inflight = j->o->inflight > 0 ? j->o->inflight : EBS_EXPORT_DEFAULT_INFLIGHT;
    rc = ebs_upload_run(a, j->es.cur_snap, inflight, &src, on_upload, j, j->o->progress_ms,
                        &res->up, err, errlen);
    if (fdatasync(j->sums_fd) < 0 && rc == 0)
        rc = -errno, snprintf(err, errlen, "%s.ebs.sums: %s", j->base, strerror(errno));
    if (rc == 0)
        rc = finish(j, a, res, err, errlen);
    return rc;
}

int ebs_export_run(struct ebs_api *a, const struct ebs_export_opts *o,
                   struct ebs_export_result *res, char *err, size_t errlen)
{
    memset(res, 0, sizeof(*res));
    if (!o->root || !o->volume || strchr(o->volume, '/') || o->volume[0] == '.') {
        snprintf(err, errlen, "export: root and a volume name are required");
        return -EINVAL;
    }
    struct job j = {.o = o, .img_fd = -1, .sums_fd = -1};
    snprintf(j.base, sizeof(j.base), "%s/%s", o->root, o->volume);
    int rc = run(&j, a, res, err, errlen);
    if (j.plan)
        blockmap_free(j.plan);
    if (j.prev)
        blockmap_free(j.prev);
    if (j.img_fd >= 0)
        close(j.img_fd);
    if (j.sums_fd >= 0)
        close(j.sums_fd);
    if (rc < 0)
        wm_warn("ebs.failed", "volume=%s: %s", o->volume, err);
    return rc;
}
