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
struct transport_driver;
struct provider_driver;
struct replication_driver;

enum task_result {
    TASK_OK = 0,       /* step done */
    TASK_FAILED = 1,   /* attempt failed; error says why (the scheduler retries) */
    TASK_RELEASED = 2, /* stopped before finishing (shutdown): give the task back */
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

    enum task_result result;
    char error[512];
    struct wm_pg *db;            /* lazily opened by task_checkpoint_save */
    int64_t started_ms;
};

/* Reports progress (cheap: the worker batches it into PostgreSQL and wm.status). */
void task_progress(struct task_ctx *t, int64_t done, int64_t total);

/* True when the handler must return (TASK_RELEASED) at its next checkpoint. */
bool task_should_stop(const struct task_ctx *t);

/* Records why the attempt failed (redacted of secrets); returns -EIO so a
 * handler can `return task_fail(t, ...)`. */
int task_fail(struct task_ctx *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes json as tasks.checkpoint for this attempt (synchronously, only if
 * this worker still holds the lease).  0, -ESTALE (lease lost) or -EIO. */
int task_checkpoint_save(struct task_ctx *t, const char *json);

/* Task parameter (from the message) or NULL. */
const char *task_param(const struct task_ctx *t, const char *key);

/* Frees everything a task_ctx owns, and the ctx. */
void task_ctx_free(struct task_ctx *t);

#endif
