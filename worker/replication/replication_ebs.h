/* replication_ebs — after a sync commits, each disk's generation goes to
 * an EBS snapshot.  The worker never touches the bytes: it asks the
 * receiver's control port (`wavemill-receiver serve --control`, see
 * replicator/ebs_control.h) with its worker certificate, and records the
 * progress (task progress -> wm.status; ebs_snapshots rows: blocks and
 * bytes uploaded, rate) and the result (snapshot id, parent, state) in
 * PostgreSQL, where launch_test / launch_cutover find the chain.
 *
 * Enabled by ebs.receiver_control (HOST:PORT; servers.settings
 * receiver_control overrides); empty = no export.  A new attempt of the
 * task re-attaches to an export still running on the receiver, and a
 * finished one is not repeated (the receiver answers "already"). */
#ifndef WM_REPLICATION_EBS_H
#define WM_REPLICATION_EBS_H

#include <stddef.h>
#include <stdint.h>

struct wm_config;
struct wm_pg;
struct task_ctx;

/* Declares ebs.receiver_control, ebs.endpoint, ebs.ec2_endpoint,
 * ebs.region, ebs.inflight, ebs.attempts. */
int replication_ebs_declare(struct wm_config *cfg, char *err, size_t errlen);

struct replication_ebs_disk {
    const char *id;     /* disks.id */
    const char *volume; /* the receiver volume */
    int64_t gen;        /* the generation just committed */
};

/* The receiver's control address for the task's server into out ("" =
 * export disabled): servers.settings receiver_control, else the config. */
void replication_ebs_control(struct task_ctx *t, char *out, size_t outlen);

/* Exports every disk (in order) through control.  0, -ECANCELED, or
 * negative errno after task_fail. */
int replication_ebs_export(struct task_ctx *t, struct wm_pg *db, const char *control,
                           const char *server, const struct replication_ebs_disk *disks, int n);

#endif
