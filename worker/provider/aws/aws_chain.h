/* aws_chain — what the aws provider launches from: each replicated disk's
 * EBS snapshot from the chain the receiver's exports recorded
 * (ebs_snapshots, schemas/sql/060_ebs_snapshots.sql), and the image made
 * of them.
 *
 *   launch_test     the latest completed snapshot of every disk;
 *   launch_cutover  the snapshot of every disk's final generation
 *                   (disks.generation after the final delta sync).
 * Disks go in inventory order (disks.id): the first is the root device.
 * Per server (servers.settings), with the aws.* config as defaults:
 *   device_names  JSON array, e.g. ["/dev/xvda","/dev/xvdb"]  (default:
 *                 /dev/xvda, then /dev/xvdb, /dev/xvdc …)
 *   volume_type   gp3 | gp2 | io2 …          (aws.volume_type, gp3)
 *   ena           true | false               (aws.ena, true)
 *   boot_mode     uefi | legacy-bios | ""    (aws.boot_mode, "" = AWS decides)
 *   architecture  x86_64 | arm64             (x86_64) */
#ifndef WM_AWS_CHAIN_H
#define WM_AWS_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "driver.h"
#include "provider/aws/aws_ec2.h"

struct wm_config;
struct task_ctx;

int aws_chain_declare(struct wm_config *cfg, char *err, size_t errlen);

struct aws_chain_image {
    size_t n;
    char disk_id[AWS_EC2_MAX_MAPPINGS][24];
    int64_t gen[AWS_EC2_MAX_MAPPINGS];
    char snapshot[AWS_EC2_MAX_MAPPINGS][AWS_EC2_ID_LEN];
    char device[AWS_EC2_MAX_MAPPINGS][64];
    char volume_type[32], boot_mode[32], architecture[32];
    int ena;
    struct aws_ec2_mapping maps[AWS_EC2_MAX_MAPPINGS];
    struct aws_ec2_image img; /* points into the above; name/description set by the caller */
};

/* The snapshots and image settings for kind.  A disk without the snapshot
 * kind needs fails the task naming the disk and generation.  0 or
 * negative errno after task_fail. */
int aws_chain_image_for(struct task_ctx *t, enum launch_kind kind, struct aws_chain_image *out);

/* Records an image registered from the chain (ebs_images). */
int aws_chain_image_saved(struct task_ctx *t, enum launch_kind kind, const char *image_id,
                          const struct aws_chain_image *ci);

/* decommission: deregisters the server's test images and deletes the
 * snapshots no kept image needs, keeping the aws.snapshot_retention
 * newest completed snapshots of each disk (and the cutover image's).
 * 0 or negative errno after task_fail. */
int aws_chain_cleanup(struct task_ctx *t, struct aws_client *c);

#endif
