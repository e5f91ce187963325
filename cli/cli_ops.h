/* cli_ops — the state changes an operator asks of the orchestrator.
 *
 * The wavemill CLI calls these; wavemill-scheduler reacts to what they
 * leave in PostgreSQL (it also gets a NOTIFY on channel SCHED_NOTIFY_CHANNEL
 * so it acts at once rather than at its next reconcile).
 *
 * Every function:
 *   - runs in ONE transaction (wm_pg_tx), so it is all or nothing;
 *   - appends a task_events row for every task whose state it changes,
 *     with actor = the actor argument (NULL means "cli");
 *   - does NOT write audit_log: the caller (CLI) does that itself;
 *   - returns 0, or a negative errno with a one-line reason in err:
 *       -ENOENT   no such wave / server
 *       -EINVAL   bad argument (unknown task kind, unparsable time, …)
 *       -EALREADY already in the requested state (nothing changed)
 *       -EPERM    not allowed from the current state (e.g. start a DONE wave)
 *       -EIO      database error (message from PostgreSQL in err)
 *
 * Wave status:  CREATED --start--> RUNNING --pause--> PAUSED --resume--> RUNNING
 *               the scheduler sets DONE when every server is DONE, FAILED
 *               when every server finished and some failed (a retry makes
 *               it RUNNING again).
 * Server:       FAILED --retry--> the lifecycle state of its current step,
 *               with a fresh set of attempts for the failed task.
 *               READY_FOR_CUTOVER --approve--> cutover may run (needed when
 *               the wave requires approval, and after every rollback);
 *               TESTING..POST_MIGRATION --revert--> ROLLING_BACK -->
 *               READY_FOR_TEST / READY_FOR_CUTOVER (before finalize);
 *               CUTOVER / POST_MIGRATION --finalize--> decommission runs. */
#ifndef CLI_OPS_H
#define CLI_OPS_H

#include "sched_sql.h" /* SCHED_NOTIFY_CHANNEL */

#include <stdbool.h>
#include <stddef.h>

struct wm_pg;

/* --- waves --- */

/* CREATED -> RUNNING; sets started_at.  A PAUSED wave must be resumed
 * (-EPERM), a RUNNING one gives -EALREADY. */
int cli_ops_wave_start(struct wm_pg *db, const char *wave, const char *actor, char *err,
                    size_t errlen);

/* RUNNING -> PAUSED: no new task is issued for the wave; tasks already
 * QUEUED (published, not yet claimed) go back to PENDING so workers drop
 * their messages; RUNNING tasks finish (their results are kept). */
int cli_ops_wave_pause(struct wm_pg *db, const char *wave, const char *actor, char *err,
                    size_t errlen);

/* PAUSED -> RUNNING. */
int cli_ops_wave_resume(struct wm_pg *db, const char *wave, const char *actor, char *err,
                     size_t errlen);

/* Sets waves.cutover_at (opens or moves the cutover window).  at is a
 * PostgreSQL timestamptz literal ("2026-11-22 03:00+00", "now") or NULL
 * for now().  Bringing it forward ends the delta-sync repetition at the
 * scheduler's next pass; moving it later holds servers that have not yet
 * started cutover. */
int cli_ops_wave_set_cutover(struct wm_pg *db, const char *wave, const char *at, const char *actor,
                          char *err, size_t errlen);

/* --- servers --- */

/* FAILED server -> back to the lifecycle of its current step; the failed
 * task gets new attempts (max_attempts raised by its original budget) and
 * is issued again by the scheduler.  -EPERM unless the server is FAILED. */
int cli_ops_server_retry(struct wm_pg *db, const char *server, const char *actor, char *err,
                      size_t errlen);

/* Skips pipeline step kind for server (an operator decision: "done by
 * hand" or "not needed").  A live task of that kind (PENDING, QUEUED,
 * RUNNING) becomes SKIPPED (a worker still running it finds its completion
 * refused); a FAILED server whose failed step is kind is un-failed and moves
 * on; a step not reached yet is recorded as SKIPPED and passed over when the
 * server gets there.  -EINVAL if kind is not a pipeline step, -EALREADY if
 * that step already succeeded or was skipped. */
int cli_ops_server_skip(struct wm_pg *db, const char *server, const char *kind, const char *actor,
                     char *err, size_t errlen);

/* --- cutover (cli_ops_cutover.c) --- */

/* Marks a tested server ready for cutover (READY_FOR_TEST, TESTING or
 * READY_FOR_CUTOVER) and lifts the hold a rollback leaves.  -EALREADY when
 * approved and not held, -EPERM from other states. */
int cli_ops_server_approve(struct wm_pg *db, const char *server, const char *actor, char *err,
                           size_t errlen);

/* Takes the server back to `to` (READY_FOR_TEST or READY_FOR_CUTOVER) from
 * any later state before finalize: live tasks cancelled, a rollback_cutover
 * task (network restored, cutover instance and on a revert to testing the
 * test instance terminated, source services started), then held for a new
 * approval.  Refused (-EPERM) after finalize, and after the source was shut
 * down unless force (the operator powered it on). */
int cli_ops_server_revert(struct wm_pg *db, const char *server, const char *to, bool force,
                          const char *actor, char *err, size_t errlen);

/* Accepts the cutover (CUTOVER or POST_MIGRATION): decommission (agent
 * removed, test instances cleaned) may run.  -EALREADY when finalized. */
int cli_ops_server_finalize(struct wm_pg *db, const char *server, const char *actor, char *err,
                            size_t errlen);

#endif
