/* pipeline — the default pipeline (see pipeline.h). */
#include "pipeline.h"

#include <string.h>

#include "kafka.h"

#define CTL WM_TOPIC_TASKS_CONTROL
#define REP WM_TOPIC_TASKS_REPLICATION

/* kind, topic, lifecycle while running, lifecycle after, waits_cutover,
 * repeats, replication, launching */
static const struct pipeline_step steps[] = {
    [PIPE_PREREQ_CHECK] = {"prereq_check", CTL, "NOT_READY", NULL, false, false, false, false},
    [PIPE_AGENT_INSTALL] = {"agent_install", CTL, "NOT_READY", NULL, false, false, false, false},
    [PIPE_INITIAL_SYNC] = {"initial_sync", REP, "NOT_READY", NULL, false, false, true, false},
    [PIPE_VERIFY_REPLICATION] = {"verify_replication", CTL, "NOT_READY", "READY_FOR_TEST", false, false, false, false},
    [PIPE_LAUNCH_TEST] = {"launch_test", CTL, "TESTING", NULL, false, false, false, true},
    [PIPE_VERIFY_TEST] = {"verify_test", CTL, "TESTING", "READY_FOR_CUTOVER", false, false, false, false},
    [PIPE_DELTA_SYNC] = {"delta_sync", REP, "READY_FOR_CUTOVER", NULL, false, true, true, false},
    [PIPE_STOP_SOURCE_SERVICES] = {"stop_source_services", CTL, "CUTTING_OVER", NULL, true, false, false, false},
    [PIPE_FINAL_DELTA_SYNC] = {"final_delta_sync", REP, "CUTTING_OVER", NULL, true, false, true, false},
    [PIPE_SHUTDOWN_SOURCE] = {"shutdown_source", CTL, "CUTTING_OVER", NULL, true, false, false, false},
    [PIPE_LAUNCH_CUTOVER] = {"launch_cutover", CTL, "CUTTING_OVER", "CUTOVER", true, false, false, true},
    [PIPE_POST_CUTOVER] = {"post_cutover", CTL, "CUTOVER", NULL, false, false, false, false},
    [PIPE_VALIDATE] = {"validate", CTL, "CUTOVER", "POST_MIGRATION", false, false, false, false},
    [PIPE_CMDB_UPDATE] = {"cmdb_update", CTL, "POST_MIGRATION", NULL, false, false, false, false},
    [PIPE_DECOMMISSION] = {"decommission", CTL, "POST_MIGRATION", "DONE", false, false, false, false},
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

const struct pipeline_step *pipeline_next(const char *kind)
{
    size_t i;
    if (!pipeline_find(kind, &i) || i + 1 >= NSTEPS)
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
