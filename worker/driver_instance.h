/* driver_instance — what the real target drivers record per server in the
 * inventory (schemas/sql/020_drivers_instances.sql): the test and cutover
 * instances (id, address), the last validation report, and the provider
 * volume id of each replicated disk.  Every call uses the task's one
 * connection (task_db; a task runs on one slot thread).  Errors: negative
 * errno after task_fail(). */
#ifndef WM_DRIVER_INSTANCE_H
#define WM_DRIVER_INSTANCE_H

#include <stddef.h>

#include "driver.h"

struct task_ctx;

#define DRIVER_INSTANCE_ID_LEN 64
#define DRIVER_ADDR_LEN 64

/* Records the instance launched for kind (test / cutover). */
int driver_instance_save(struct task_ctx *t, enum launch_kind kind, const char *id,
                         const char *address);

/* The recorded instance of kind: 1 if there is one, 0 if none yet. */
int driver_instance_get(struct task_ctx *t, enum launch_kind kind, char id[DRIVER_INSTANCE_ID_LEN],
                        char address[DRIVER_ADDR_LEN]);

/* Stores a validation report (JSON) for the task's server. */
int driver_validation_save(struct task_ctx *t, const char *json);

/* The task's server's disks, in id order. */
struct driver_disk {
    char id[24];
    char source_path[256];
    long long size_bytes;
    char target_volume[256];
    char cloud_volume_id[DRIVER_INSTANCE_ID_LEN];
};
/* Up to max disks into out; *n = how many were read.  0 or negative errno. */
int driver_disks(struct task_ctx *t, struct driver_disk *out, size_t max, size_t *n);
/* Records disk_id's provider volume id. */
int driver_disk_set_cloud_volume(struct task_ctx *t, const char *disk_id, const char *volume_id);

/* The credential-store value name (under secrets.master_key); the caller
 * frees it with wm_secret_free.  0 or negative errno after task_fail (the
 * message never holds the value). */
struct wm_secret;
int driver_secret_get(struct task_ctx *t, const char *name, struct wm_secret **out);

#endif
