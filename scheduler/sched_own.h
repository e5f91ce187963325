/* sched_own — which waves this scheduler owns, through PostgreSQL session
 * advisory locks on a dedicated connection.
 *
 * A wave is owned while this process holds pg_try_advisory_lock(SCHED_LOCK_NS,
 * wave id) on its lock session; when the process dies its session ends and
 * the locks with it, so another scheduler's next refresh takes the wave.
 * Each scheduler takes at most a fair share (running waves / live
 * schedulers, rounded up) so that waves spread over the instances; live
 * schedulers are counted from the lock sessions' application_name. */
#ifndef SCHED_OWN_H
#define SCHED_OWN_H

#include <stddef.h>
#include <stdint.h>

struct wm_config;
struct sched_own;

#define SCHED_LOCK_NS 0x574d /* "WM": first key of every wave lock */

struct sched_own *sched_own_new(const struct wm_config *cfg, const char *instance, char *err,
                              size_t errlen);
void sched_own_free(struct sched_own *o);

/* Takes free running waves (up to the fair share), releases waves that are
 * no longer RUNNING or above the share.  If the lock session was lost, every
 * wave is dropped first (its locks are gone).  Returns the number of waves
 * owned, or negative with err. */
int sched_own_refresh(struct sched_own *o, char *err, size_t errlen);

/* Owned wave ids as a PostgreSQL array literal ("{1,5}"). */
const char *sched_own_array(const struct sched_own *o);
size_t sched_own_count(const struct sched_own *o);

#endif
