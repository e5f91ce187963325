/* handlers — the worker's step handlers, one per pipeline step, in a table
 * indexed by common/pipeline.h's enum pipeline_kind.  Each handler calls
 * driver operations only, so the same handler serves sim and real drivers. */
#ifndef WORKER_HANDLERS_H
#define WORKER_HANDLERS_H

#include <stdbool.h>
#include <stddef.h>

#include "task.h"

/* Selects the drivers and runs the handler of t->msg.kind. */
enum task_result handler_run(struct task_ctx *t);

/* Whether kind is a pipeline step with a handler. */
bool handler_exists(const char *kind);

/* Number of handlers in the table (non-empty slots). */
size_t handler_count(void);

#endif
