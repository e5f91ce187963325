/* pipeline — the default pipeline (see pipeline.h). */
#include "pipeline.h"

#include <string.h>

#include "kafka.h"

#define CTL WM_TOPIC_TASKS_CONTROL
#define REP WM_TOPIC_TASKS_REPLICATION

/* kind, topic, lifecycle while running (NULL: unchanged), lifecycle after,
 * waits_cutover, repeats, replication, launching, undoable, waits_approval,
 * waits_finalize, aux.
 *
 * Cutover order: the source keeps its data until the target answers —
 * services stopped, final delta, cutover instance launched, network/DNS
 * moved, the application validated, and only then the source shut down.
 * Until shutdown_source succeeds a failure rolls back (rollback_cutover:
 * network restored, instance terminated, services started again). */
#define STEP(k, t, lc, af, w, r, rep, l, u, a, f, x) {k, t, lc, af, w, r, rep, l, u, a, f, x}
static const struct pipeline_step steps[] = {
    [PIPE_PREREQ_CHECK] = STEP("prereq_check", CTL, "NOT_READY", NULL, 0, 0, 0, 0, 0, 0, 0, 0),
    [PIPE_AGENT_INSTALL] = STEP("agent_install", CTL, "NOT_READY", NULL, 0, 0, 0, 0, 0, 0, 0, 0),
    [PIPE_INITIAL_SYNC] = STEP("initial_sync", REP, "NOT_READY", NULL, 0, 0, 1, 0, 0, 0, 0, 0),
    [PIPE_VERIFY_REPLICATION] = STEP("verify_replication", CTL, "NOT_READY", "READY_FOR_TEST",
                                     0, 0, 0, 0, 0, 0, 0, 0),
    [PIPE_LAUNCH_TEST] = STEP("launch_test", CTL, "TESTING", NULL, 0, 0, 0, 1, 0, 0, 0, 0),
    [PIPE_VERIFY_TEST] = STEP("verify_test", CTL, "TESTING", "READY_FOR_CUTOVER",
                              0, 0, 0, 0, 0, 0, 0, 0),
    [PIPE_DELTA_SYNC] = STEP("delta_sync", REP, "READY_FOR_CUTOVER", NULL, 0, 1, 1, 0, 0, 0, 0, 0),
    [PIPE_STOP_SOURCE_SERVICES] = STEP("stop_source_services", CTL, "CUTTING_OVER", NULL,
                                       1, 0, 0, 0, 1, 1, 0, 0),
    [PIPE_FINAL_DELTA_SYNC] = STEP("final_delta_sync", REP, "CUTTING_OVER", NULL,
                                   1, 0, 1, 0, 1, 0, 0, 0),
    [PIPE_LAUNCH_CUTOVER] = STEP("launch_cutover", CTL, "CUTTING_OVER", "CUTOVER",
                                 1, 0, 0, 1, 1, 0, 0, 0),
    [PIPE_POST_CUTOVER] = STEP("post_cutover", CTL, "CUTOVER", NULL, 0, 0, 0, 0, 1, 0, 0, 0),
    [PIPE_VALIDATE] = STEP("validate", CTL, "CUTOVER", NULL, 0, 0, 0, 0, 1, 0, 0, 0),
    [PIPE_SHUTDOWN_SOURCE] = STEP("shutdown_source", CTL, NULL, NULL, 1, 0, 0, 0, 0, 0, 0, 0),
    [PIPE_CMDB_UPDATE] = STEP("cmdb_update", CTL, "POST_MIGRATION", NULL, 0, 0, 0, 0, 0, 0, 0, 0),
    [PIPE_DECOMMISSION] = STEP("decommission", CTL, "POST_MIGRATION", "DONE",
                               0, 0, 0, 0, 0, 0, 1, 0),
    [PIPE_ROLLBACK_CUTOVER] = STEP("rollback_cutover", CTL, "ROLLING_BACK", NULL,
                                   0, 0, 0, 0, 0, 0, 0, 1),
};
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))
_Static_assert(NSTEPS == PIPE_NSTEPS, "one row per enum pipeline_kind");

const struct pipeline_step *pipeline_steps(size_t *n)
{
    *n = NSTEPS;
    return steps;
}

const struct pipeline_step *pipeline_find(const char *kind, size_t *index)
{
    if (!kind)
        return NULL;
    for (size_t i = 0; i < NSTEPS; i++) {
        if (strcmp(steps[i].kind, kind) == 0) {
            if (index)
                *index = i;
            return &steps[i];
        }
    }
    return NULL;
}

int pipeline_position(size_t index, enum pipeline_shutdown policy)
{
    if (index >= NSTEPS || steps[index].aux)
        return 0;
    int pos = (int)index + 1;
    if (policy != PIPE_SHUTDOWN_AFTER_FINAL_DELTA)
        return pos;
    /* shutdown_source moves up to right after final_delta_sync */
    if (index == PIPE_SHUTDOWN_SOURCE)
        return PIPE_FINAL_DELTA_SYNC + 2;
    if (index > PIPE_FINAL_DELTA_SYNC && index < PIPE_SHUTDOWN_SOURCE)
        return pos + 1;
    return pos;
}

static const char *const shutdown_names[] = {
    [PIPE_SHUTDOWN_AFTER_VALIDATE] = "after_validate",
    [PIPE_SHUTDOWN_AFTER_FINAL_DELTA] = "after_final_delta",
};

const char *pipeline_shutdown_name(enum pipeline_shutdown policy)
{
    return shutdown_names[policy == PIPE_SHUTDOWN_AFTER_FINAL_DELTA];
}

int pipeline_shutdown_parse(const char *name)
{
    for (int i = 0; name && i < 2; i++)
        if (strcmp(name, shutdown_names[i]) == 0)
            return i;
    return -1;
}

const struct pipeline_step *pipeline_next(const char *kind)
{
    size_t i;
    if (!pipeline_find(kind, &i) || steps[i].aux || i + 1 >= NSTEPS || steps[i + 1].aux)
        return NULL;
    return &steps[i + 1];
}

const struct pipeline_step *pipeline_first(void)
{
    return &steps[0];
}

const char *pipeline_topic(const char *kind)
{
    const struct pipeline_step *s = pipeline_find(kind, NULL);
    return s ? s->topic : CTL;
}
