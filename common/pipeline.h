/* pipeline — the default per-server pipeline as a table, the one place the
 * scheduler (which issues the steps) and the worker (whose handler table is
 * indexed by enum pipeline_kind) read it.
 *
 * Each step is a task kind, the topic its task travels on (replication
 * kinds on wm.tasks.replication, everything else on wm.tasks.control), the
 * server lifecycle state while the step runs and the one it reaches when the
 * step succeeds, and whether the step waits for the wave's cutover window.
 * delta_sync is the one repeating step: it runs every
 * scheduler.delta_interval while the cutover window is not open yet, and is
 * passed over once it is. */
#ifndef PIPELINE_H
#define PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

/* The steps in pipeline order; the position of a step in pipeline_steps(). */
enum pipeline_kind {
    PIPE_PREREQ_CHECK,
    PIPE_AGENT_INSTALL,
    PIPE_INITIAL_SYNC,
    PIPE_VERIFY_REPLICATION,
    PIPE_LAUNCH_TEST,
    PIPE_VERIFY_TEST,
    PIPE_DELTA_SYNC,
    PIPE_STOP_SOURCE_SERVICES,
    PIPE_FINAL_DELTA_SYNC,
    PIPE_LAUNCH_CUTOVER,
    PIPE_POST_CUTOVER,
    PIPE_VALIDATE,
    PIPE_SHUTDOWN_SOURCE,
    PIPE_CMDB_UPDATE,
    PIPE_DECOMMISSION,
    /* not in the sequence: issued when a cutover step fails for good before
     * the source was shut down, or when the operator reverts */
    PIPE_ROLLBACK_CUTOVER,
    PIPE_NSTEPS
};

/* When the source is shut down (waves.source_shutdown). */
enum pipeline_shutdown {
    PIPE_SHUTDOWN_AFTER_VALIDATE,    /* default: the target answers first */
    PIPE_SHUTDOWN_AFTER_FINAL_DELTA, /* sources that must never run twice */
};

struct pipeline_step {
    const char *kind;
    const char *topic;      /* logical topic (WM_TOPIC_TASKS_*) */
    const char *lifecycle;  /* server lifecycle while this step runs */
    const char *after;      /* lifecycle once it succeeded (NULL: unchanged) */
    bool waits_cutover;     /* not issued before waves.cutover_at */
    bool repeats;           /* delta_sync: repeats until the window opens */
    bool replication;       /* counts against waves.max_parallel */
    bool launching;         /* counts against waves.max_launching */
    bool undoable;          /* failing for good before the source is shut
                             * down rolls the cutover back */
    bool waits_approval;    /* not issued while the server is held (rolled
                             * back) or unapproved in a wave that requires it */
    bool waits_finalize;    /* not issued before the operator's finalize (or
                             * the wave's soak time) */
    bool aux;               /* not in the sequence (rollback_cutover) */
};

/* Every step, the sequence in order then the aux steps; *n gets their
 * number (PIPE_NSTEPS). */
const struct pipeline_step *pipeline_steps(size_t *n);

/* Step of kind, or NULL if kind is not in the pipeline; *index (if not
 * NULL) gets its position. */
const struct pipeline_step *pipeline_find(const char *kind, size_t *index);

/* 1-based position of step index in the sequence under policy (where
 * shutdown_source runs); 0 for an aux step. */
int pipeline_position(size_t index, enum pipeline_shutdown policy);

/* Name of a policy as stored in waves.source_shutdown, and back (-1 for an
 * unknown name). */
const char *pipeline_shutdown_name(enum pipeline_shutdown policy);
int pipeline_shutdown_parse(const char *name);

/* The sequence step after kind under the default policy (NULL after the
 * last one, for an aux or unknown kind). */
const struct pipeline_step *pipeline_next(const char *kind);

/* The first step. */
const struct pipeline_step *pipeline_first(void);

/* Logical topic of a task kind (control for unknown kinds). */
const char *pipeline_topic(const char *kind);

#endif
