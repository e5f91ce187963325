/* worker_int — the struct the worker's parts (loop, pool, reporter) share.
 * Their functions are in worker_pool.h and worker_report.h: the loop calls
 * both, the pool calls the reporter, the reporter calls the pool only through
 * the hooks the loop gave it. */
#ifndef WM_WORKER_INT_H
#define WM_WORKER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <librdkafka/rdkafka.h>

#include "handlers.h"
#include "task.h"
#include "worker.h"

struct wm_pg;
struct wm_kafka_consumer;
struct wm_kafka_producer;

/* What the reporter's heartbeat needs from the pool, given to
 * reporter_start by the loop: the pool calls the reporter (reporter_submit),
 * never the other way round. */
struct reporter_hooks {
    /* Copies (id, attempt) of the active tasks; returns how many (<= max). */
    size_t (*active)(struct worker *w, int64_t *ids, int32_t *attempts, size_t max);
    /* Sets stop on the active task (id, attempt) (its lease was lost). */
    void (*cancel)(struct worker *w, int64_t id, int32_t attempt);
};

struct worker {
    const struct wm_config *cfg;
    char id[96], actor[128];
    char conninfo[512];
    char topic_status[256], topic_dlq[256];
    int slots;
    int64_t lease_ms, heartbeat_ms, grace_ms;

    struct wm_pg *db; /* main thread: claims */
    struct wm_kafka_consumer *cons;
    struct wm_kafka_producer *prod;
    rd_kafka_queue_t *cq; /* the consumer's queue: slots wake the loop with a yield */

    /* polled, not yet claimed (FIFO): claimed only when a slot is free, so a
     * lease never ticks for a task that waits; fetching pauses above
     * buf_high and resumes below buf_low */
    rd_kafka_message_t **buf;
    size_t bcap, blen, buf_high, buf_low;

    /* pool: claimed tasks wait in queue, run on threads */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t *threads;
    int nthreads;
    struct task_ctx **queue; /* ring */
    size_t qcap, qhead, qlen;
    struct task_ctx **active; /* claimed, not finished: heartbeat renews them */
    size_t acap, nactive;
    atomic_int busy;          /* claimed and not finished */
    atomic_int pool_stop;

    /* reporter */
    struct reporter_hooks rhooks;
    pthread_t reporter;
    pthread_mutex_t rmu;
    pthread_cond_t rcv;
    struct task_ctx **done;
    size_t dcap, ndone;
    atomic_int reporter_stop;
    struct wm_pg *rdb;

    struct {
        atomic_uint_least64_t claimed, dropped, succeeded, failed, released, refused, dlq;
    } st;
};

#endif
