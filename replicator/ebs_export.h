/* ebs_export — a committed generation of a receiver volume becomes an EBS
 * snapshot, uploading only the 512 KiB blocks that changed since the
 * volume's last exported snapshot (its parent).
 *
 * Which blocks changed comes from the receiver's digest maps, not from
 * reading anything twice: at the start of an export, NAME.map (one digest
 * per receiver block of the committed generation) is copied to
 * NAME.ebs.plan.map; the map of the last exported generation is kept as
 * NAME.ebs.base.map.  A 512 KiB EBS block is put when any receiver block in
 * it differs between the two (the receiver's block size must divide
 * 512 KiB, so the mapping is exact: 300 scattered 4 KiB writes put exactly
 * the distinct 512 KiB blocks they touch).  A root snapshot (no parent)
 * puts every block that is not all zeros; a child puts a changed block even
 * when it became zeros (EBS has no "trim").  Every block read from NAME.img
 * is checked against the plan's digests, so a sync committing meanwhile
 * makes the export fail (-ESTALE) instead of uploading a mix.
 *
 * Steps: StartSnapshot (VolumeSize = size in GiB rounded up, parent = the
 * base's snapshot, ClientToken from volume, lineage and generation, tags
 * and description), PutSnapshotBlock per block (ebs_upload), then
 * CompleteSnapshot with ChangedBlocksCount and the LINEAR aggregate
 * checksum, and a wait (DescribeSnapshots) until the snapshot is completed.
 *
 * Resume: NAME.ebs (text, replaced atomically) records the base and the
 * export under way (generation, snapshot id, parent); NAME.ebs.sums holds
 * the SHA-256 of every block AWS accepted (32 bytes per block, zeros = not
 * yet), written as each answer arrives.  An export of the same generation
 * started again — after a crash, a kill or a failed run — reuses the
 * snapshot and puts only the blocks not yet accepted.  An export of another
 * generation abandons the unfinished one (its snapshot is left pending on
 * AWS, where it errors out after its timeout).
 *
 * Shrinking, a changed block size or a lost base map start a new chain (a
 * root snapshot). */
#ifndef REPL_EBS_EXPORT_H
#define REPL_EBS_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "ebs_api.h"
#include "ebs_upload.h"

#define EBS_EXPORT_DEFAULT_INFLIGHT 16

/* Progress of a run: blocks this snapshot needs, those accepted by an
 * earlier run, and this run's puts. */
struct ebs_export_progress {
    uint64_t gen, planned, resumed;
    struct ebs_upload_stats up;
};
typedef void (*ebs_export_progress_fn)(const struct ebs_export_progress *p, void *ud);

struct ebs_export_opts {
    const char *root, *volume;
    uint64_t generation; /* 0 = the committed one; else must be the committed one */
    int inflight;        /* 0 = EBS_EXPORT_DEFAULT_INFLIGHT */
    const char *description;
    const char *tag_keys[EBS_MAX_TAGS - 2], *tag_values[EBS_MAX_TAGS - 2];
    size_t ntags;
    int snapshot_timeout_min;        /* StartSnapshot Timeout; 0 = 1440 */
    int wait_s;                      /* longest wait for "completed"; 0 = 3600 */
    int force_root;                  /* ignore the base: a new chain */
    ebs_export_progress_fn progress; /* may be NULL */
    void *ud;
    int progress_ms;
};

struct ebs_export_result {
    uint64_t gen, parent_gen;                      /* parent_gen 0 = root snapshot */
    char snapshot[EBS_ID_MAX], parent[EBS_ID_MAX]; /* parent "" = root */
    uint64_t volume_size, volume_gib;
    uint64_t changed_blocks;    /* ChangedBlocksCount: blocks of this snapshot */
    uint64_t resumed_blocks;    /* of those, accepted by an earlier run */
    struct ebs_upload_stats up; /* this run's puts */
    char aggregate_b64[48];
    int already; /* the generation was exported before: nothing was sent */
};

/* Runs (or resumes) the export.  0 with res, or -errno with err:
 *   -ESTALE  the generation is not (or no longer) the committed one
 *   -EBUSY   a commit is being applied; try again
 *   -EINVAL  bad options / block size that does not divide 512 KiB
 *   others   from ebs_api / ebs_upload / the files. */
int ebs_export_run(struct ebs_api *a, const struct ebs_export_opts *o,
                   struct ebs_export_result *res, char *err, size_t errlen);

#endif
