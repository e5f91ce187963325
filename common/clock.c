/* clock — see clock.h. */
#include "clock.h"

#include <errno.h>
#include <time.h>

static int64_t ms_of(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t wm_mono_ms(void)
{
    return ms_of(CLOCK_MONOTONIC);
}

int64_t wm_wall_ms(void)
{
    return ms_of(CLOCK_REALTIME);
}

void wm_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}
