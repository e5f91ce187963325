/* ratelimit — token bucket (see ratelimit.h). */
#include "ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct ratelimit {
    pthread_mutex_t mu;
    double rate, tokens, burst;
    struct timespec last;
};

static double ts_diff(const struct timespec *a, const struct timespec *b)
{
    return (double)(a->tv_sec - b->tv_sec) + (double)(a->tv_nsec - b->tv_nsec) / 1e9;
}

struct ratelimit *ratelimit_new(uint64_t rate)
{
    if (rate == 0)
        return NULL;
    struct ratelimit *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return NULL;
    pthread_mutex_init(&rl->mu, NULL);
    rl->rate = (double)rate;
    rl->burst = rl->rate / 10; /* 100 ms of credit at most */
    clock_gettime(CLOCK_MONOTONIC, &rl->last);
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

void ratelimit_take(struct ratelimit *rl, uint64_t n)
{
    if (!rl)
        return;
    struct timespec now;
    pthread_mutex_lock(&rl->mu);
    clock_gettime(CLOCK_MONOTONIC, &now);
    rl->tokens += ts_diff(&now, &rl->last) * rl->rate;
    if (rl->tokens > rl->burst)
        rl->tokens = rl->burst;
    rl->last = now;
    rl->tokens -= (double)n;
    double wait = rl->tokens < 0 ? -rl->tokens / rl->rate : 0;
    pthread_mutex_unlock(&rl->mu);
    if (wait > 0) {
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        nanosleep(&ts, NULL);
    }
}

int64_t ratelimit_parse(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return -1;
    double mul = 1;
    switch (*end) {
    case 'k':
    case 'K':
        mul = 1024;
        end++;
        break;
    case 'm':
    case 'M':
        mul = 1024.0 * 1024;
        end++;
        break;
    case 'g':
    case 'G':
        mul = 1024.0 * 1024 * 1024;
        end++;
        break;
    case 't':
    case 'T':
        mul = 1024.0 * 1024 * 1024 * 1024;
        end++;
        break;
    default:
        break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end != '\0')
        return -1;
    return (int64_t)(v * mul);
}
