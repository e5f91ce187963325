/* busywait — how the agent waits for a receiver that answered BUSY.
 *
 * A busy receiver is healthy but full: waiting for it is not a failure and
 * uses up no retry.  Each wait sleeps the receiver's retry-after, spread by
 * a random factor in [0.5, 1.5) so a crowd of agents does not come back in
 * step, and stretched (up to 4x) while the same caller keeps hearing BUSY.
 * All waits of one sync share one overall deadline. */
#ifndef REPL_BUSYWAIT_H
#define REPL_BUSYWAIT_H

#include <stdint.h>

struct busywait {
    uint64_t deadline_ms; /* CLOCK_MONOTONIC ms; 0 = no deadline */
    unsigned seed;
    int n; /* consecutive BUSY answers */
};

/* Absolute deadline max_wait_ms from now (0: none). */
uint64_t busywait_deadline(int max_wait_ms);
void busywait_init(struct busywait *b, uint64_t deadline_ms);
/* Sleeps before asking again.  0, -ETIMEDOUT when the deadline passed,
 * -ECANCELED when *cancel got set meanwhile. */
int busywait_sleep(struct busywait *b, uint32_t retry_ms, volatile int *cancel);
/* Admitted: the next BUSY starts from the receiver's figure again. */
void busywait_admitted(struct busywait *b);

#endif
