/* volstate — the receiver's per-volume state file ROOT/NAME.state.
 *
 * It says which generation is committed and, while a sync is under way,
 * the pending generation with each range's checkpoint (every block of the
 * range below `done` is durable in the staging file).  Text, one key per
 * line, replaced atomically (write tmp, fsync, rename, fsync dir) so a
 * crash leaves either the old or the new state, never a mix. */
#ifndef REPL_VOLSTATE_H
#define REPL_VOLSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct volstate {
    uint64_t committed_gen, committed_size;
    uint32_t committed_bs;
    uint8_t uuid[16];
    uint64_t epoch;
    int pending;  /* a generation is being received */
    int applying; /* commit started: replay the apply step on recovery */
    uint64_t pending_gen, pending_size;
    uint32_t pending_bs;
    uint8_t mode; /* PROTO_MODE_FULL / PROTO_MODE_DELTA */
    uint16_t nranges;
    struct proto_range ranges[PROTO_MAX_RANGES];
    uint64_t jlen[PROTO_MAX_RANGES]; /* delta: journal bytes durable at the checkpoint */
};

/* Missing file: *st zeroed, returns 0 (a volume never synced). */
int volstate_load(const char *path, struct volstate *st, char *err, size_t errlen);
int volstate_save(const char *path, const struct volstate *st, char *err, size_t errlen);

/* Splits size into n ranges of whole blocks (n >= 1); returns the count
 * (fewer when the volume has fewer blocks than n, at least 1). */
uint16_t volstate_split(uint64_t size, uint32_t bs, uint16_t n, struct proto_range *out);

#endif
