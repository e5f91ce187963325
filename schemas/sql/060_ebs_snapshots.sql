-- 060: the EBS snapshot chain of every replicated disk (aws provider).
-- The receiver exports each committed generation of a disk to an EBS
-- snapshot through the EBS direct APIs (replicator/ebs_export.h); its
-- parent is the disk's previous exported snapshot, so only the 512 KiB
-- blocks changed since then are uploaded.  One row per exported
-- generation: any worker finds a disk's latest completed snapshot here
-- (launch_test) or the one of a given generation (launch_cutover), and
-- decommission knows which snapshots and images it may delete.
CREATE TABLE ebs_snapshots (
    disk_id             bigint NOT NULL REFERENCES disks(id) ON DELETE CASCADE,
    generation          bigint NOT NULL CHECK (generation > 0),
    snapshot_id         text NOT NULL DEFAULT ''             -- '' while the export starts
                        CHECK (snapshot_id = '' OR snapshot_id LIKE 'snap-%'),
    parent_snapshot_id  text NOT NULL DEFAULT '',          -- '' = root of a chain
    parent_generation   bigint NOT NULL DEFAULT 0,
    state               text NOT NULL DEFAULT 'uploading'
                        CHECK (state IN ('uploading', 'completed', 'error', 'deleted')),
    volume_size_bytes   bigint NOT NULL DEFAULT 0 CHECK (volume_size_bytes >= 0),
    changed_blocks      bigint NOT NULL DEFAULT 0,          -- ChangedBlocksCount (512 KiB blocks)
    blocks_uploaded     bigint NOT NULL DEFAULT 0,          -- put by the run that completed it
    bytes_uploaded      bigint NOT NULL DEFAULT 0,
    rate_bytes_per_s    bigint NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    completed_at        timestamptz,
    PRIMARY KEY (disk_id, generation)
);
CREATE UNIQUE INDEX ebs_snapshots_id ON ebs_snapshots (snapshot_id) WHERE snapshot_id <> '';
CREATE INDEX ebs_snapshots_latest ON ebs_snapshots (disk_id, generation DESC)
    WHERE state = 'completed';

-- The images launch_test / launch_cutover registered from those snapshots
-- (deregistered by decommission unless still needed).
CREATE TABLE ebs_images (
    image_id     text PRIMARY KEY CHECK (image_id LIKE 'ami-%'),
    server_id    bigint NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    purpose      text NOT NULL CHECK (purpose IN ('test', 'cutover')),
    snapshot_ids text[] NOT NULL,                  -- root first, in device order
    state        text NOT NULL DEFAULT 'available' CHECK (state IN ('available', 'deregistered')),
    created_at   timestamptz NOT NULL DEFAULT now()
);
