/* cli_ops_int — what the cli_ops*.c files share (not part of cli_ops.h). */
#ifndef CLI_OPS_INT_H
#define CLI_OPS_INT_H

#include <stddef.h>

struct wm_pg;

/* The actor recorded in task_events: actor, or "cli" when NULL or empty. */
const char *cli_ops_actor_of(const char *actor);

/* NOTIFY on SCHED_NOTIFY_CHANNEL with payload (a wave or server name; NULL
 * = ""), inside the caller's transaction.  0 or -EIO with err. */
int cli_ops_notify(struct wm_pg *db, const char *payload, char *err, size_t errlen);

#endif
