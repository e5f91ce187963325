/* worker_report — the reporter thread: writes finished tasks' outcomes and
 * status events, renews the active tasks' leases (heartbeat). */
#ifndef WM_WORKER_REPORT_H
#define WM_WORKER_REPORT_H

#include "worker_int.h"

/* Starts the reporter; hooks (copied) are how its heartbeat reaches the pool. */
int reporter_start(struct worker *w, const struct reporter_hooks *hooks, char *err, size_t errlen);
void reporter_submit(struct worker *w, struct task_ctx *t); /* takes ownership */
void reporter_stop_join(struct worker *w);                  /* writes what is left, then stops */

/* status events (worker_report.c) */
void worker_publish_task(struct worker *w, const struct task_ctx *t, const char *type,
                         const char *state, const char *message);

#endif
