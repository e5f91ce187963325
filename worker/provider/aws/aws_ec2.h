/* aws_ec2 — the EC2 query API calls the aws provider needs (Version
 * 2016-11-15, form-encoded POST, XML answers), over an aws_client made for
 * service "ec2" (aws.h).  Errors as in aws.h: 0 or negative errno with AWS's
 * code and message in err.
 *
 * Steps that create things are idempotent where the migration needs it:
 *   - a security group that already exists (same name) is looked up and
 *     returned; an ingress rule that already exists counts as added;
 *   - aws_ec2_run_instances() first looks for a live instance tagged with
 *     the launch's client token and returns it, and passes the token as
 *     ClientToken, so a retried launch never launches twice;
 *   - an image name already registered returns that image. */
#ifndef WM_AWS_EC2_H
#define WM_AWS_EC2_H

#include <stddef.h>

struct aws_client;

#define AWS_EC2_VERSION "2016-11-15"
#define AWS_EC2_ID_LEN 64
#define AWS_EC2_MAX_GROUPS 8
#define AWS_EC2_MAX_TAGS 16
/* the tag that carries a launch's client token (AWS also keeps ClientToken,
 * but not every endpoint filters on it) */
#define AWS_EC2_TOKEN_TAG "wavemill:client-token"

/* --- security groups --- */

/* Creates group name (in vpc_id, may be NULL) or finds the existing one. */
int aws_ec2_create_security_group(struct aws_client *c, const char *name, const char *description,
                                  const char *vpc_id, char group_id[AWS_EC2_ID_LEN], char *err,
                                  size_t errlen);

/* Allows protocol ("tcp", "udp", "icmp", "-1") ports [from, to] from cidr. */
int aws_ec2_authorize_ingress(struct aws_client *c, const char *group_id, const char *protocol,
                              int from_port, int to_port, const char *cidr, char *err,
                              size_t errlen);

/* --- volumes, snapshots, images --- */

int aws_ec2_create_volume(struct aws_client *c, const char *availability_zone, int size_gib,
                          char volume_id[AWS_EC2_ID_LEN], char *err, size_t errlen);
int aws_ec2_create_snapshot(struct aws_client *c, const char *volume_id, const char *description,
                            char snapshot_id[AWS_EC2_ID_LEN], char *err, size_t errlen);
/* Registers an EBS-backed image whose root device (/dev/sda1 if NULL) is
 * snapshot_id; an existing image of the same name is returned instead. */
int aws_ec2_register_image(struct aws_client *c, const char *name, const char *snapshot_id,
                           const char *root_device, char image_id[AWS_EC2_ID_LEN], char *err,
                           size_t errlen);

/* An image of several EBS snapshots (root first): RegisterImage with a
 * BlockDeviceMapping per disk, EnaSupport and BootMode as given; an
 * existing image of the same name is returned instead. */
#define AWS_EC2_MAX_MAPPINGS 16
struct aws_ec2_mapping {
    const char *device;      /* "/dev/xvda" */
    const char *snapshot_id; /* "snap-…" */
    const char *volume_type; /* "gp3"; NULL = the API's default */
};
struct aws_ec2_image {
    const char *name, *description;
    const char *architecture; /* "x86_64" */
    const char *boot_mode;    /* "uefi", "legacy-bios", NULL = not set */
    int ena;                  /* EnaSupport */
    const struct aws_ec2_mapping *maps;
    size_t nmaps; /* 1..AWS_EC2_MAX_MAPPINGS; maps[0] is the root device */
};
int aws_ec2_register_image_disks(struct aws_client *c, const struct aws_ec2_image *img,
                                 char image_id[AWS_EC2_ID_LEN], char *err, size_t errlen);
/* DeregisterImage; an image already gone is fine. */
int aws_ec2_deregister_image(struct aws_client *c, const char *image_id, char *err, size_t errlen);
/* DeleteSnapshot; a snapshot already gone is fine. */
int aws_ec2_delete_snapshot(struct aws_client *c, const char *snapshot_id, char *err,
                            size_t errlen);

/* --- instances --- */

struct aws_ec2_launch {
    const char *image_id;
    const char *instance_type; /* "t3.micro" */
    const char *subnet_id;     /* NULL = default */
    const char *const *group_ids;
    size_t ngroups;            /* at most AWS_EC2_MAX_GROUPS */
    const char *client_token;  /* required: stable per server and purpose */
    const char *wave, *server; /* tags wave=, server= */
    const char *purpose;       /* "test" or "cutover": tag purpose= */
};

struct aws_ec2_tag {
    char key[128], value[256];
};

struct aws_ec2_instance {
    char id[AWS_EC2_ID_LEN];
    char state[32]; /* pending, running, stopping, stopped, shutting-down, terminated */
    char private_ip[64];
    char group_ids[AWS_EC2_MAX_GROUPS][AWS_EC2_ID_LEN];
    int ngroups;
    struct aws_ec2_tag tags[AWS_EC2_MAX_TAGS];
    int ntags;
};

/* Launches one instance, or returns the live one already launched with the
 * same client token (*reused = 1 then; reused may be NULL). */
int aws_ec2_run_instances(struct aws_client *c, const struct aws_ec2_launch *l,
                          char instance_id[AWS_EC2_ID_LEN], int *reused, char *err, size_t errlen);

/* The instance id; -ENOENT if AWS does not know it. */
int aws_ec2_describe_instance(struct aws_client *c, const char *instance_id,
                              struct aws_ec2_instance *out, char *err, size_t errlen);

/* Live (not terminated or shutting down) instances tagged with token: up to
 * max into out, *count = how many there are. */
int aws_ec2_find_by_token(struct aws_client *c, const char *token, struct aws_ec2_instance *out,
                          int max, int *count, char *err, size_t errlen);

/* Polls until the instance is running (every poll_ms, at most timeout_ms):
 * 0, -ETIMEDOUT, or -EIO if it went to a state it cannot come back from. */
int aws_ec2_wait_running(struct aws_client *c, const char *instance_id, long timeout_ms,
                         long poll_ms, struct aws_ec2_instance *out, char *err, size_t errlen);

int aws_ec2_terminate_instance(struct aws_client *c, const char *instance_id, char *err,
                               size_t errlen);

/* Replaces the instance's security groups with group_ids (cutover swap). */
int aws_ec2_modify_groups(struct aws_client *c, const char *instance_id,
                          const char *const *group_ids, size_t ngroups, char *err, size_t errlen);

/* The value of tag key of inst, or NULL. */
const char *aws_ec2_tag(const struct aws_ec2_instance *inst, const char *key);

#endif
