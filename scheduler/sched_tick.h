/* sched_tick — one pass of the scheduler over the waves it owns: the
 * reconciler.  Everything it decides comes from PostgreSQL, so a pass after
 * a lost event, a crash or a takeover converges to the same result.
 *
 * A pass, in order:
 *   1. cancel pending delta syncs of waves whose cutover window opened;
 *   2. fail RUNNING attempts whose lease expired (worker died) without
 *      counting the attempt; a task that lost max_lost_leases workers is a
 *      poison task and fails for good;
 *   3. failed attempts: retry with exponential backoff (not_before) while
 *      attempts remain and the failure is not permanent; else a cutover
 *      step that may still be undone rolls the server back
 *      (rollback_cutover), and anything else fails the server;
 *   4. finished steps (SUCCEEDED / SKIPPED / CANCELLED): move the server to
 *      its next step, creating the next task (PENDING) in the same
 *      transaction, or DONE after the last step; finished rollbacks put
 *      the server back (READY_FOR_CUTOVER or READY_FOR_TEST), held for a
 *      new approval;
 *   5. servers of started waves without a step: create their first task;
 *   6. issue due PENDING tasks (attempt + 1, QUEUED, outbox row, event) in
 *      priority order within the per-wave and global limits, and only while
 *      fewer than max_queued tasks wait unclaimed: backlog waits in
 *      PostgreSQL (where priority still applies), not in Kafka; a cutover
 *      waits for the server's approval when held or when the wave requires
 *      one, decommission for the operator's finalize (or the soak time);
 *   7. waves whose servers all finished become DONE (or FAILED when some
 *      server failed);
 *   8. re-publish QUEUED tasks nobody claimed for scheduler.requeue_after.
 * A full pass runs every step; a quick pass (woken by a completion event)
 * runs only 3, 4 and 6 — the reaction path — plus 7 when a server reached
 * DONE, so that a stream of events does not make the scheduler rescan
 * everything each time. */
#ifndef SCHED_TICK_H
#define SCHED_TICK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wm_pg;
struct sched_events;

struct sched_tick_cfg {
    const char *actor;            /* "scheduler:<id>" for task_events */
    int64_t delta_interval_ms;
    int64_t retry_backoff_ms;     /* first retry delay; doubles per attempt */
    int64_t retry_backoff_max_ms;
    int64_t requeue_after_ms;
    int max_attempts;             /* of new tasks */
    int max_lost_leases;          /* workers a task may lose before it is a poison task */
    int max_replicating;          /* global: replication tasks in flight */
    int max_queued;               /* global: published tasks not claimed yet (backpressure) */
    int batch;                    /* rows per statement / transaction */
};

struct sched_tick_stats {
    long acted, failed, retried, rolled_back, created, issued, expired, cancelled, waves_done,
        requeued;
};

/* owned: array literal of the owned wave ids.  full: every step.
 * Returns 0 or negative with err; *more is set when a step hit its batch
 * size (call again soon). */
int sched_tick_run(struct wm_pg *db, const char *owned, const struct sched_tick_cfg *cfg,
                  bool full, struct sched_events *ev, struct sched_tick_stats *st, bool *more,
                  char *err, size_t errlen);

/* Step 4 alone (sched_advance.c): *n gets the finished tasks acted on,
 * *done the servers that reached DONE. */
int sched_tick_advance(struct wm_pg *db, const char *owned, const struct sched_tick_cfg *cfg,
                      struct sched_events *ev, long *n, long *done, bool *more, char *err,
                      size_t errlen);

#endif
