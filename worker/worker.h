/* worker — wavemill-worker: a stateless task runner.
 *
 * One consumer (group worker.group) on both task topics; tasks run on a
 * pool of worker.slots threads while the main thread keeps polling Kafka,
 * pausing its partitions while every slot is busy.  A task is claimed in
 * PostgreSQL with a conditional update on (task id, attempt, QUEUED) before
 * it runs; a message whose claim fails is a duplicate or stale and is
 * dropped.  Leases are renewed by heartbeat; completions, progress and
 * releases are written by a reporter thread in batches and published to
 * wm.status.  Undecodable messages go to wm.dlq with the reason. */
#ifndef WM_WORKER_H
#define WM_WORKER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct wm_config;
struct worker;

/* Declares worker.* and sim.* keys. */
int worker_declare(struct wm_config *cfg, char *err, size_t errlen);

struct worker *worker_new(const struct wm_config *cfg, char *err, size_t errlen);
void worker_free(struct worker *w);

/* Runs until *stop; then stops taking work, lets running tasks finish for
 * worker.shutdown_grace, releases the rest and returns 0. */
int worker_run(struct worker *w, volatile sig_atomic_t *stop, char *err, size_t errlen);

struct worker_stats {
    uint64_t claimed, dropped, succeeded, failed, released, refused, dlq;
};
void worker_get_stats(struct worker *w, struct worker_stats *st);
/* Exports the counters above (wm_worker_tasks_total{what}) and the busy
 * slots into m at each scrape; m must not outlive w's collectors' use. */
struct wm_metrics;
int worker_set_metrics(struct worker *w, struct wm_metrics *m);

#endif
