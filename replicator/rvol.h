/* rvol — one volume on the receiver: its state, staging files and the
 * operations sessions run on it (begin, write blocks, checkpoint, commit,
 * apply).  See receiver.h for the files and why staging.
 *
 * Locking: mu guards st and owners; stage_lock is held shared while a
 * stream writes staged blocks and exclusively while staging files are
 * created, discarded or applied; img_lock is held shared by readers of the
 * committed image/map and exclusively by commit. */
#ifndef REPL_RVOL_H
#define REPL_RVOL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "blockmap.h"
#include "frame.h"
#include "proto.h"
#include "volstate.h"

struct rvol {
    char name[PROTO_NAME_MAX];
    char root[3072];
    int refs;                        /* receiver table references (its mutex) */
    uint64_t idle_since_ms;          /* when refs last dropped to 0 */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_rwlock_t stage_lock, img_lock;
    struct volstate st;
    int staged;                      /* staging files of the pending generation open */
    int stage_fd;                    /* full: NAME.stage */
    struct blockmap *stage_map;      /* full: NAME.stage.map */
    int jfd[PROTO_MAX_RANGES];       /* delta: NAME.journal.<range> */
    uint64_t jpos[PROTO_MAX_RANGES]; /* delta: append position */
    uint64_t owner[PROTO_MAX_RANGES];
    uint64_t token_seq;
    uint32_t ms_save, ms_apply; /* last commit: state saved, journals replayed */
    struct rvol *next;
};

/* Loads state (and replays an interrupted apply).  NULL with err. */
struct rvol *rvol_open(const char *root, const char *name, char *err, size_t errlen);
void rvol_free(struct rvol *v);
void rvol_path(const struct rvol *v, const char *suffix, char *out, size_t outlen);

/* Opens or resumes the pending generation for a BEGIN; fills the reply.
 * Returns 0 or -errno with err. */
int rvol_begin(struct rvol *v, const struct proto_begin *req, struct proto_begin_ok *out, char *err,
               size_t errlen);

/* Claims range idx for a stream of (gen, epoch); *token identifies the
 * claim.  -ESTALE when the session is no longer current. */
int rvol_claim(struct rvol *v, uint64_t gen, uint64_t epoch, uint16_t idx, uint64_t *token,
               struct proto_range *range, char *err, size_t errlen);
void rvol_release(struct rvol *v, uint16_t idx, uint64_t token);

/* Writes a verified BLOCKS frame (raw = its decompressed data) of range idx
 * into staging.  -ESTALE if the epoch moved on or the range was claimed by
 * another connection. */
int rvol_write(struct rvol *v, uint64_t epoch, uint16_t idx, uint64_t token,
               const struct frame_blocks *fb, const uint8_t *raw, char *err, size_t errlen);
/* Makes everything below covered durable and records it for range idx
 * (with the journal's length, which repaired blocks may have grown while
 * covered stayed put). */
int rvol_checkpoint(struct rvol *v, uint64_t epoch, uint16_t idx, uint64_t token, uint64_t covered,
                    char *err, size_t errlen);

/* The digests of the pending generation as staged so far (what a resumed
 * sync checks the source against): a full sync's staging map, or a delta's
 * committed map with its checkpointed journals laid over it.  *out is a new
 * anonymous map (caller frees); info gets the pending generation.
 * -ENOENT when no generation is pending; -errno with err. */
int rvol_pending_digests(struct rvol *v, struct proto_map_info *info, struct blockmap **out,
                         char *err, size_t errlen);

/* Commits the pending generation (all ranges done).  Idempotent: a commit
 * of the already committed generation succeeds.  reply(arg, out) is called
 * once the generation is durable (staging fsynced, state "applying") and
 * visible in NAME.img, before the image's own fdatasync: a crash after it
 * replays the apply, so the answer holds.  Returns 0 (reply called) or
 * -errno with err (reply not called). */
int rvol_commit(struct rvol *v, const struct proto_commit *req, struct proto_gen *out,
                void (*reply)(void *arg, const struct proto_gen *g), void *arg, char *err,
                size_t errlen);

#endif
