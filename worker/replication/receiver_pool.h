/* receiver_pool — which receiver a disk replicates to (issue 15).
 *
 * A factory may run several receivers (repl.receivers, HOST:PORT,...).
 * Each disk is assigned to one, sticky (disks.receiver): its replica lives
 * there, so it never moves.  A new disk goes to the least-loaded receiver
 * (fewest disks assigned) that has room (repl.receiver_max_disks, 0 = no
 * limit).  A receiver that does not answer makes its disks wait; they are
 * never sent to another (empty) receiver. */
#ifndef WM_RECEIVER_POOL_H
#define WM_RECEIVER_POOL_H

#include <stddef.h>
#include <stdint.h>

struct wm_pg;

/* The receiver of disk_id: its recorded one, else the least-loaded of pool
 * (comma-separated) with room, recorded.  out = "" when no receiver has
 * room.  0, or -errno with err. */
int rpool_assign(struct wm_pg *db, const char *disk_id, const char *pool, int64_t max_disks,
                 char *out, size_t outlen, char *err, size_t errlen);

/* 1 when something accepts TCP connections at HOST:PORT within timeout_ms. */
int rpool_reachable(const char *addr, int timeout_ms);

#endif
