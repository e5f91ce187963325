/* worker_pool — the worker's task threads: claimed tasks wait in a queue
 * and run on `slots` threads; a finished task goes to the reporter. */
#ifndef WM_WORKER_POOL_H
#define WM_WORKER_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "worker_int.h"

int pool_start(struct worker *w, char *err, size_t errlen);
void pool_submit(struct worker *w, struct task_ctx *t); /* takes ownership */
void pool_stop_queued(struct worker *w);                /* not started yet: release */
void pool_stop_all(struct worker *w);                   /* running too: ask to stop */
void pool_join(struct worker *w);
/* Copies (id, attempt) of the active tasks; returns how many (<= max). */
size_t pool_active(struct worker *w, int64_t *ids, int32_t *attempts, size_t max);
/* Sets stop on the active task (id, attempt) (its lease was lost). */
void pool_cancel(struct worker *w, int64_t id, int32_t attempt);

#endif
