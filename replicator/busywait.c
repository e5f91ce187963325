/* busywait — waiting for a busy receiver (see busywait.h). */
#include "busywait.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

static uint64_t busywait_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t busywait_deadline(int max_wait_ms)
{
    return max_wait_ms > 0 ? busywait_now() + (uint64_t)max_wait_ms : 0;
}

void busywait_init(struct busywait *b, uint64_t deadline_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    b->deadline_ms = deadline_ms;
    b->seed = (unsigned)ts.tv_nsec ^ (unsigned)(uintptr_t)b;
    b->n = 0;
}

int busywait_sleep(struct busywait *b, uint32_t retry_ms, volatile int *cancel)
{
    int stretch = b->n < 6 ? 2 + b->n : 8; /* halves: 1x .. 4x */
    b->n++;
    uint64_t ms = (uint64_t)retry_ms * (uint64_t)stretch / 2;
    ms = ms / 2 + (uint64_t)rand_r(&b->seed) % (ms + 1); /* [0.5, 1.5) x */
    if (ms < 10)
        ms = 10;
    uint64_t now = busywait_now();
    if (b->deadline_ms && now >= b->deadline_ms)
        return -ETIMEDOUT;
    if (b->deadline_ms && now + ms > b->deadline_ms)
        ms = b->deadline_ms - now;
    for (uint64_t slept = 0; slept < ms; slept += 100) { /* stay responsive to cancel */
        if (cancel && *cancel)
            return -ECANCELED;
        uint64_t step = ms - slept < 100 ? ms - slept : 100;
        struct timespec ts = {(time_t)(step / 1000), (long)(step % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

void busywait_admitted(struct busywait *b)
{
    b->n = 0;
}
