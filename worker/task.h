/* task — what a task handler sees: the task message, its checkpoint, the
 * drivers chosen for the server, and the calls to report progress, save a
 * checkpoint, fail with a reason and notice that it must stop (lease lost
 * or worker shutting down).
 *
 * A handler runs on one worker slot thread; the task_ctx belongs to the
 * worker (handlers borrow it).  Handlers are idempotent (docs/architecture.md,
 * principle 4): a re-run after a crash converges to the same world. */
#ifndef WM_TASK_H
#define WM_TASK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

struct wm_config;
struct wm_pg;
struct pg_result; /* libpq's PGresult */
struct wm_secret;
struct transport_driver;
struct provider_driver;
struct replication_driver;

enum task_result {
    TASK_OK = 0,       /* step done */
    TASK_FAILED = 1,   /* attempt failed; error says why (the scheduler retries) */
    TASK_RELEASED = 2, /* stopped before finishing (shutdown): give the task back */
};

/* What the task acts on, loaded once per task from the rows on the task's
 * connection (task_load.c): the server, its settings (servers.settings, the
 * per-server overrides of the config) and its disks, and its credential,
 * decrypted on first use.  Drivers read it instead of querying. */
enum task_server_field {
    TS_NAME,
    TS_FQDN,
    TS_OS_FAMILY,
    TS_SOURCE_HOST,
    TS_SOURCE_PORT,
    TS_SOURCE_USER,
    TS_CREDENTIAL,
    TS_PROVIDER,
    TS_INSTANCE_TYPE,
    TS_SUBNET_ID,
    TS_SECURITY_GROUP_IDS,
    TS_TEST_SECURITY_GROUP_IDS,
    TS_TAGS,
    TS_NFIELDS
};

struct task_server {
    struct pg_result *row;      /* servers row, columns in enum task_server_field order */
    struct pg_result *settings; /* (key, value) of servers.settings */
    struct pg_result *disks;    /* (id, source_path, target_volume, size_bytes) by id */
    struct wm_secret *key;      /* the credential's value once task_credential ran */
};

struct task_ctx {
    struct wm_task_msg msg;      /* owned: decoded Kafka message */
    char *checkpoint;            /* owned: tasks.checkpoint JSON at claim time */
    const struct wm_config *cfg; /* borrowed */
    const char *worker_id;       /* borrowed */
    const char *conninfo;        /* borrowed, for task_checkpoint_save */
    const struct transport_driver *transport;
    const struct provider_driver *provider;
    const struct replication_driver *replication;
    bool simulated;              /* a sim driver is doing the work */
    void *driver_state;          /* per-task scratch of the drivers (freed by them) */
    bool sim_done;               /* sim: the simulated work of this task ran */

    atomic_int stop;             /* 1: wrap up now (lease lost / shutdown) */
    atomic_int_least64_t bytes_done, bytes_total;
    atomic_int progress_dirty;
    _Atomic(const char *) note; /* what the task waits for, shown with its progress */

    enum task_result result;
    char error[512];
    bool permanent;              /* the failure will not go away by retrying */
    struct wm_pg *db;            /* the task's one connection (task_db): in the
                                  * worker the slot's, lent for the task */
    struct task_server *server;  /* owned: loaded by task_load / task_server_load */
    int64_t started_ms;
};

/* Reports progress (cheap: the worker batches it into PostgreSQL and wm.status). */
void task_progress(struct task_ctx *t, int64_t done, int64_t total);

/* A short note shown with the task's progress (e.g. "waiting for receiver
 * capacity"), NULL to clear it.  note must be a string literal (static). */
void task_progress_note(struct task_ctx *t, const char *note);

/* True when the handler must return (TASK_RELEASED) at its next checkpoint. */
bool task_should_stop(const struct task_ctx *t);

/* Records why the attempt failed (redacted of secrets); returns -EIO so a
 * handler can `return task_fail(t, ...)`. */
int task_fail(struct task_ctx *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* task_fail for a failure no retry can fix (configuration, authentication,
 * bad input, validation failed): the scheduler does not retry it. */
int task_fail_permanent(struct task_ctx *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* True for the errnos a handler returns for such failures (EINVAL, EACCES,
 * EPERM, ENOKEY, EKEYREJECTED). */
bool task_errno_permanent(int rc);

/* Writes json as tasks.checkpoint for this attempt (synchronously, only if
 * this worker still holds the lease).  0, -ESTALE (lease lost) or -EIO. */
int task_checkpoint_save(struct task_ctx *t, const char *json);

/* Task parameter or NULL.  In the worker these come from the rows
 * (task_load), never from the Kafka message. */
const char *task_param(const struct task_ctx *t, const char *key);

/* --- the task context (task_load.c) --- */

/* The task's one PostgreSQL connection, opened on first use; NULL after
 * task_fail. */
struct wm_pg *task_db(struct task_ctx *t);

/* What the worker does once it claimed the task: reads the claimed row and
 * its server (task_server_load), checks the row is the one the message
 * named, and replaces the message's parameters by those the rows give
 * (driver choices, inventory facts, tasks.params).  0 or -errno after
 * task_fail. */
int task_load(struct task_ctx *t);

/* Loads the server of t->msg.server_id, its settings and disks, once.
 * 0 or -errno after task_fail. */
int task_server_load(struct task_ctx *t);

/* A field of the loaded server ("" if absent); loads it if needed. */
const char *task_server_str(struct task_ctx *t, enum task_server_field f);

/* servers.settings->>key of the task's server, or NULL when unset or
 * empty (the caller then uses its config default).  The one resolver of
 * per-server overrides. */
const char *task_setting(struct task_ctx *t, const char *key);

/* The task's disks: *n of them; columns (id, source_path, target_volume,
 * size_bytes, receiver) through task_disk_str / task_disk_size.  0 or -errno. */
int task_disks(struct task_ctx *t, int *n);
const char *task_disk_str(const struct task_ctx *t, int i, int col);
int64_t task_disk_size(const struct task_ctx *t, int i);

/* The value of the server's credential (servers.credential), decrypted
 * once per task under secrets.master_key; *key NULL when the server names
 * none.  0 or -errno after task_fail. */
int task_credential(struct task_ctx *t, const char **key, size_t *len);

/* The value of credential `name` from the store, decrypted (the caller
 * frees it with wm_secret_free).  0 or -errno after task_fail. */
int task_secret_get(struct task_ctx *t, const char *name, struct wm_secret **out);

/* Frees the loaded server (task_ctx_free calls it). */
void task_server_free(struct task_server *s);

/* Frees everything a task_ctx owns, and the ctx. */
void task_ctx_free(struct task_ctx *t);

#endif
