/* replication — the replication driver "wavemill": the real replicator
 * behind the replication role of driver.h.
 *
 *   install_agent  pushes wavemill-agent, its certificate folder (role
 *                  agent) and a start file to the source over the task's
 *                  transport, starts `wavemill-agent serve` detached and
 *                  confirms it answers over mTLS.  Idempotent: the same
 *                  version already running is left alone; another version
 *                  is stopped and replaced.
 *   sync           asks the resident agent to sync every disk of the server
 *                  (disks table; volume <server>-disk<N> unless
 *                  target_volume says otherwise) to the receiver; progress
 *                  goes to the task (wm.status), to disks and servers.  A
 *                  new attempt re-issues the sync: the agent re-attaches to
 *                  a running job and the receiver's checkpoint resumes an
 *                  interrupted one, so nothing restarts from zero.
 *   verify         the agent's digest-map comparison, disk by disk.
 *   remove_agent   stops the agent and removes its files from the source.
 *
 * Where things are: repl.* config keys (declared by replication_declare),
 * overridable per server in servers.settings: agent_dir, agent_host (the
 * address the agent listens on and workers dial; default source_host),
 * agent_port, receiver. */
#ifndef WM_WORKER_REPLICATION_H
#define WM_WORKER_REPLICATION_H

#include <stddef.h>
#include <stdint.h>

#include "driver.h"

struct wm_config;

/* Declares the repl.* keys. */
int replication_declare(struct wm_config *cfg, char *err, size_t errlen);

/* Where the driver keeps things for the task's server, as install_agent
 * and sync will see them: the agent's folder and the free space it needs
 * there (repl.agent_space plus the disks' digest maps, from the inventory
 * sizes), the receiver (HOST:PORT, "" if none) and the disks.  For the
 * prereq_check step.  0, or negative errno after task_fail. */
#define REPL_LAYOUT_MAX_DISKS 16
struct replication_layout_disk {
    char id[24];
    char path[1024];
    int64_t size; /* bytes, as the inventory says; 0 = unknown */
};
struct replication_layout {
    char agent_dir[512];
    uint64_t agent_space;
    char receiver[256];
    int ndisks;
    struct replication_layout_disk disks[REPL_LAYOUT_MAX_DISKS];
};
struct task_ctx;
int replication_layout_get(struct task_ctx *t, struct replication_layout *l);

extern const struct replication_driver replication_wavemill_driver;

#endif
