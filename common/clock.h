/* clock — milliseconds, the one copy: a monotonic clock for deadlines and
 * intervals, the wall clock for timestamps that leave the process (events,
 * rows), and a sleep that is not cut short by signals. */
#ifndef WM_CLOCK_H
#define WM_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in ms: for timeouts, deadlines, rates. */
int64_t wm_mono_ms(void);

/* CLOCK_REALTIME in ms since the epoch: for timestamps in messages. */
int64_t wm_wall_ms(void);

/* Sleeps ms (nothing for ms <= 0), resuming after EINTR. */
void wm_sleep_ms(int64_t ms);

#endif
