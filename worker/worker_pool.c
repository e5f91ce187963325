/* worker_pool — the worker's slots: worker.slots threads running claimed
 * tasks from a queue, and the registry of active tasks the heartbeat
 * renews. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "pg.h"
#include "clock.h"
#include "driver.h"
#include "worker_pool.h"
#include "worker_report.h"

static void active_remove(struct worker *w, struct task_ctx *t)
{
    for (size_t i = 0; i < w->nactive; i++)
        if (w->active[i] == t) {
            w->active[i] = w->active[--w->nactive];
            return;
        }
}

static struct task_ctx *slot_take(struct worker *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->qlen == 0 && !atomic_load(&w->pool_stop))
        pthread_cond_wait(&w->cv, &w->mu);
    struct task_ctx *t = NULL;
    if (w->qlen > 0) {
        t = w->queue[w->qhead];
        w->qhead = (w->qhead + 1) % w->qcap;
        w->qlen--;
    }
    pthread_mutex_unlock(&w->mu);
    return t;
}

/* Loads the task's rows (they, not the message, say what to do), says
 * RUNNING on wm.status -- "simulated" already known from the drivers the
 * rows name -- and runs the handler. */
static enum task_result slot_run(struct worker *w, struct task_ctx *t)
{
    int rc = task_load(t);
    t->simulated = rc == 0 && driver_simulated(t);
    worker_publish_task(w, t, "task", "RUNNING", NULL);
    return rc < 0 ? TASK_FAILED : handler_run(t);
}

static void *slot_main(void *arg)
{
    struct worker *w = arg;
    struct task_ctx *t;
    /* The slot's connection, lent to each task it runs as the task's one
     * connection (task_db opens it on the first task that needs it): a task
     * opens no connection of its own. */
    struct wm_pg *db = NULL;
    while ((t = slot_take(w)) != NULL) {
        t->db = db;
        t->started_ms = wm_mono_ms();
        if (task_should_stop(t))
            t->result = TASK_RELEASED; /* shutting down before it started */
        else
            t->result = slot_run(w, t);
        wm_info("task.finished", "task=%lld attempt=%d kind=%s result=%s ms=%lld%s",
                (long long)t->msg.task_id, (int)t->msg.attempt, t->msg.kind,
                t->result == TASK_OK ? "ok" : t->result == TASK_FAILED ? "failed" : "released",
                (long long)(wm_mono_ms() - t->started_ms), t->simulated ? " simulated=true" : "");
        db = t->db; /* back to the slot before the reporter frees t */
        t->db = NULL;
        pthread_mutex_lock(&w->mu);
        active_remove(w, t);
        pthread_mutex_unlock(&w->mu);
        atomic_fetch_sub(&w->busy, 1);
        reporter_submit(w, t);
        if (w->cq) /* a slot is free: wake the loop if it waits in poll */
            rd_kafka_queue_yield(w->cq);
    }
    wm_pg_free(db);
    return NULL;
}

int pool_start(struct worker *w, char *err, size_t errlen)
{
    w->qcap = w->acap = (size_t)w->slots * 4 + 16;
    w->queue = calloc(w->qcap, sizeof(*w->queue));
    w->active = calloc(w->acap, sizeof(*w->active));
    w->threads = calloc((size_t)w->slots, sizeof(*w->threads));
    if (!w->queue || !w->active || !w->threads) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (int i = 0; i < w->slots; i++) {
        if (pthread_create(&w->threads[i], NULL, slot_main, w) != 0) {
            snprintf(err, errlen, "cannot start slot thread %d", i);
            return -EAGAIN;
        }
        w->nthreads++;
    }
    return 0;
}

void pool_submit(struct worker *w, struct task_ctx *t)
{
    pthread_mutex_lock(&w->mu);
    if (w->qlen >= w->qcap || w->nactive >= w->acap) {
        /* cannot happen: the loop claims at most the free slots */
        pthread_mutex_unlock(&w->mu);
        atomic_store(&t->stop, 1);
        t->result = TASK_RELEASED;
        reporter_submit(w, t);
        return;
    }
    w->queue[(w->qhead + w->qlen) % w->qcap] = t;
    w->qlen++;
    w->active[w->nactive++] = t;
    atomic_fetch_add(&w->busy, 1);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void pool_stop_queued(struct worker *w)
{
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < w->qlen; i++)
        atomic_store(&w->queue[(w->qhead + i) % w->qcap]->stop, 1);
    pthread_mutex_unlock(&w->mu);
}

void pool_stop_all(struct worker *w)
{
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < w->nactive; i++)
        atomic_store(&w->active[i]->stop, 1);
    pthread_mutex_unlock(&w->mu);
}

void pool_join(struct worker *w)
{
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->pool_stop, 1);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    w->nthreads = 0;
}

size_t pool_active(struct worker *w, int64_t *ids, int32_t *attempts, size_t max)
{
    pthread_mutex_lock(&w->mu);
    size_t n = 0;
    for (size_t i = 0; i < w->nactive && n < max; i++, n++) {
        ids[n] = w->active[i]->msg.task_id;
        attempts[n] = w->active[i]->msg.attempt;
    }
    pthread_mutex_unlock(&w->mu);
    return n;
}

void pool_cancel(struct worker *w, int64_t id, int32_t attempt)
{
    pthread_mutex_lock(&w->mu);
    for (size_t i = 0; i < w->nactive; i++)
        if (w->active[i]->msg.task_id == id && w->active[i]->msg.attempt == attempt)
            atomic_store(&w->active[i]->stop, 1);
    pthread_mutex_unlock(&w->mu);
}
