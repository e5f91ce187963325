/* driver — how task handlers reach the outside world.
 *
 * Three roles, each a table of operations; a server's task carries the
 * driver name of each role in its params (provider / transport /
 * replication, chosen by the scheduler from the server's inventory).  Real
 * drivers (ssh and local transports, aws and exec providers, the wavemill
 * replicator) plug in by adding a table to the registry in driver.c; the
 * worker loop and the handlers do not change.
 *
 * Every operation returns 0, or a negative errno after task_fail() recorded
 * the reason; -ECANCELED means it stopped because task_should_stop(). */
#ifndef WM_DRIVER_H
#define WM_DRIVER_H

#include <stdbool.h>
#include <stddef.h>

struct task_ctx;
struct wm_config;

enum replication_sync_mode { REPLICATION_SYNC_INITIAL, REPLICATION_SYNC_DELTA, REPLICATION_SYNC_FINAL };
enum launch_kind { LAUNCH_TEST, LAUNCH_CUTOVER };

/* To the source server. */
struct transport_driver {
    const char *name;
    bool simulated;
    /* Runs a command on the source; its output (truncated) into out. */
    int (*exec)(struct task_ctx *t, const char *cmd, char *out, size_t outlen);
    /* Copies a local file to path on the source. */
    int (*push)(struct task_ctx *t, const char *local, const char *remote);
};

/* The target environment: instances, network, DNS, CMDB. */
struct provider_driver {
    const char *name;
    bool simulated;
    int (*check_target)(struct task_ctx *t); /* credentials, subnet, quotas */
    /* Launches (or finds, by client token) the instance; its id into id. */
    int (*launch)(struct task_ctx *t, enum launch_kind kind, char *id, size_t idlen);
    int (*check_instance)(struct task_ctx *t, enum launch_kind kind); /* boot + health */
    int (*switch_network)(struct task_ctx *t); /* DNS record, live security groups */
    int (*cmdb_update)(struct task_ctx *t);
    int (*terminate)(struct task_ctx *t, enum launch_kind kind);
    /* Undoes switch_network (DNS back to the source, the instance back in
     * its isolated groups); idempotent.  NULL: the provider changes nothing
     * that needs undoing. */
    int (*revert_network)(struct task_ctx *t);
};

/* Block replication from the source to the target. */
struct replication_driver {
    const char *name;
    bool simulated;
    int (*install_agent)(struct task_ctx *t);
    int (*sync)(struct task_ctx *t, enum replication_sync_mode mode); /* reports progress */
    int (*verify)(struct task_ctx *t);
    int (*remove_agent)(struct task_ctx *t);
};

const struct transport_driver *driver_transport(const char *name);
const struct provider_driver *driver_provider(const char *name);
const struct replication_driver *driver_replication(const char *name);

/* Declares the config keys of every driver in this build (sim.*, ssh.*,
 * repl.*, ...). */
int driver_declare(struct wm_config *cfg, char *err, size_t errlen);

/* Picks the drivers named in the task's params (default "sim").  0, or
 * -ENOENT with the reason in the task's error. */
int driver_select(struct task_ctx *t);
/* Whether the drivers the task names include a simulated one (false when
 * one is unknown: driver_select() reports that).  No side effect, so the
 * RUNNING event published at claim time can say "simulated" already. */
bool driver_simulated(const struct task_ctx *t);

/* servers.settings->>key of the task's server (task_setting, loaded once
 * per task) into out: 1 if set, 0 if not (or the transport is simulated),
 * negative errno after task_fail. */
int driver_server_setting(struct task_ctx *t, const char *key, char *out, size_t cap);

/* --- the sim driver (sim/sim.c) --- */
/* Declares the sim.* keys. */
int sim_declare(struct wm_config *cfg, char *err, size_t errlen);
/* Reads sim.* (durations, failure rates); call once before tasks run. */
int sim_configure(const struct wm_config *cfg, char *err, size_t errlen);
extern const struct transport_driver sim_transport;
extern const struct provider_driver sim_provider;
extern const struct replication_driver sim_replication;

#endif
