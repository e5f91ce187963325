/* driver_repl — the replication driver "wavemill": the real replicator
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
 * Where things are: repl.* config keys (declared by repl_driver_declare),
 * overridable per server in servers.settings: agent_dir, agent_host (the
 * address the agent listens on and workers dial; default source_host),
 * agent_port, receiver. */
#ifndef WM_DRIVER_REPL_H
#define WM_DRIVER_REPL_H

#include <stddef.h>

#include "driver.h"

struct wm_config;

/* Declares the repl.* keys. */
int repl_driver_declare(struct wm_config *cfg, char *err, size_t errlen);

extern const struct replication_driver repl_wavemill_driver;

#endif
