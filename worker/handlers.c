/* handlers — one handler per pipeline step (see handlers.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "handlers.h"

#include "driver.h"
#include "jsonr.h"
#include "log.h"
#include "pipeline.h"
#include "srvset.h"
#include "steps.h"
#include "task.h"
#include "transport/transport_driver.h"
#include "worker_int.h"

typedef int (*handler_fn)(struct task_ctx *t);

static int h_prereq_check(struct task_ctx *t)
{
    if (!t->transport->simulated)
        return step_prereq(t); /* prereq.h's named checks; facts into the inventory */
    char out[1024];
    int rc = t->transport->exec(t, "uname -sr; df -Pk", out, sizeof(out));
    return rc < 0 ? rc : t->provider->check_target(t);
}

static int h_agent_install(struct task_ctx *t)
{
    return t->replication->install_agent(t);
}

static int h_initial_sync(struct task_ctx *t)
{
    return t->replication->sync(t, REPLICATION_SYNC_INITIAL);
}

static int h_verify_replication(struct task_ctx *t)
{
    return t->replication->verify(t);
}

static int h_launch_test(struct task_ctx *t)
{
    char id[128];
    return t->provider->launch(t, LAUNCH_TEST, id, sizeof(id));
}

static int h_verify_test(struct task_ctx *t)
{
    return t->provider->check_instance(t, LAUNCH_TEST);
}

static int h_delta_sync(struct task_ctx *t)
{
    return t->replication->sync(t, REPLICATION_SYNC_DELTA);
}

/* The server's command: task param, else servers.settings, else def. */
static const char *server_command(struct task_ctx *t, const char *key, char *buf, size_t cap,
                                  const char *def)
{
    const char *cmd = task_param(t, key);
    if (cmd && *cmd)
        return cmd;
    return driver_server_setting(t, key, buf, cap) > 0 ? buf : def;
}

static int h_stop_source_services(struct task_ctx *t)
{
    char out[512], buf[1024];
    const char *cmd =
        server_command(t, "stop_command", buf, sizeof(buf), wm_srvset_default("stop_command"));
    return t->transport->exec(t, cmd, out, sizeof(out));
}

static int h_final_delta_sync(struct task_ctx *t)
{
    return t->replication->sync(t, REPLICATION_SYNC_FINAL);
}

static int h_shutdown_source(struct task_ctx *t)
{
    char out[256], buf[1024];
    const char *cmd = server_command(t, "shutdown_command", buf, sizeof(buf),
                                     wm_srvset_default("shutdown_command"));
    return t->transport->exec(t, cmd, out, sizeof(out));
}

static int h_launch_cutover(struct task_ctx *t)
{
    char id[128];
    int rc = t->provider->launch(t, LAUNCH_CUTOVER, id, sizeof(id));
    return rc < 0 ? rc : t->provider->check_instance(t, LAUNCH_CUTOVER);
}

static int h_post_cutover(struct task_ctx *t)
{
    return t->provider->switch_network(t);
}

static int h_validate(struct task_ctx *t)
{
    return step_validate(t); /* check_instance, then the probes */
}

static int h_cmdb_update(struct task_ctx *t)
{
    return step_cmdb(t); /* cmdb.url when configured, else the provider's */
}

/* Where a rollback returns the server: params {"to": "READY_FOR_TEST"} for
 * an operator's revert to testing, else READY_FOR_CUTOVER. */
static bool rollback_to_testing(struct task_ctx *t)
{
    const char *js = task_param(t, "params_json");
    if (!js)
        return false;
    char err[128];
    struct wm_jsonr *d = wm_jsonr_parse(js, strlen(js), NULL, NULL, err, sizeof(err));
    const char *to = d ? wm_jsonr_str(wm_jsonr_get(wm_jsonr_root(d), "to")) : NULL;
    bool testing = to && strcmp(to, "READY_FOR_TEST") == 0;
    wm_jsonr_free(d);
    return testing;
}

/* The command that starts the source's services again: start_command, else
 * the counterpart of a "systemctl stop ..." stop command. */
static int start_command(struct task_ctx *t, char *buf, size_t cap)
{
    char stop[1024];
    const char *cmd = server_command(t, "start_command", buf, cap, NULL);
    if (cmd) {
        if (cmd != buf)
            snprintf(buf, cap, "%s", cmd);
        return 0;
    }
    const char *s =
        server_command(t, "stop_command", stop, sizeof(stop), wm_srvset_default("stop_command"));
    static const char prefix[] = "systemctl stop ";
    if (strncmp(s, prefix, sizeof(prefix) - 1) != 0)
        return task_fail_permanent(t, "rollback: no start_command set and the stop command "
                                      "'%s' has no known counterpart",
                                   s);
    s += sizeof(prefix) - 1;
    if (strncmp(s, "--all ", 6) == 0)
        s += 6;
    snprintf(buf, cap, "systemctl start %s", s);
    return 0;
}

/* Undo a cutover that did not finish (or the operator's revert): the
 * network back, the cutover instance (and on a revert to testing the test
 * instance) terminated, the source's services started again.  Every part is
 * idempotent, so a retried rollback converges. */
static int h_rollback_cutover(struct task_ctx *t)
{
    int rc = t->provider->revert_network ? t->provider->revert_network(t) : 0;
    if (rc == 0)
        rc = t->provider->terminate(t, LAUNCH_CUTOVER);
    if (rc == 0 && rollback_to_testing(t))
        rc = t->provider->terminate(t, LAUNCH_TEST);
    char cmd[1024], out[512];
    if (rc == 0)
        rc = start_command(t, cmd, sizeof(cmd));
    if (rc == 0)
        rc = t->transport->exec(t, cmd, out, sizeof(out));
    if (rc == 0)
        wm_info("rollback.done", "server=%s testing=%d", t->msg.server, rollback_to_testing(t));
    return rc;
}

static int h_decommission(struct task_ctx *t)
{
    int rc = t->replication->remove_agent(t);
    return rc < 0 ? rc : t->provider->terminate(t, LAUNCH_TEST);
}

/* Indexed by the pipeline's own enum, so a step is named once (common/
 * pipeline.c); test_worker_handlers checks every step has a handler. */
static const handler_fn handlers[PIPE_NSTEPS] = {
    [PIPE_PREREQ_CHECK] = h_prereq_check,
    [PIPE_AGENT_INSTALL] = h_agent_install,
    [PIPE_INITIAL_SYNC] = h_initial_sync,
    [PIPE_VERIFY_REPLICATION] = h_verify_replication,
    [PIPE_LAUNCH_TEST] = h_launch_test,
    [PIPE_VERIFY_TEST] = h_verify_test,
    [PIPE_DELTA_SYNC] = h_delta_sync,
    [PIPE_STOP_SOURCE_SERVICES] = h_stop_source_services,
    [PIPE_FINAL_DELTA_SYNC] = h_final_delta_sync,
    [PIPE_SHUTDOWN_SOURCE] = h_shutdown_source,
    [PIPE_LAUNCH_CUTOVER] = h_launch_cutover,
    [PIPE_POST_CUTOVER] = h_post_cutover,
    [PIPE_VALIDATE] = h_validate,
    [PIPE_CMDB_UPDATE] = h_cmdb_update,
    [PIPE_DECOMMISSION] = h_decommission,
    [PIPE_ROLLBACK_CUTOVER] = h_rollback_cutover,
};

bool handler_exists(const char *kind)
{
    size_t i;
    return pipeline_find(kind, &i) && handlers[i];
}

size_t handler_count(void)
{
    size_t n = 0;
    for (size_t i = 0; i < PIPE_NSTEPS; i++)
        n += handlers[i] != NULL;
    return n;
}

enum task_result handler_run(struct task_ctx *t)
{
    size_t step;
    handler_fn fn = pipeline_find(t->msg.kind, &step) ? handlers[step] : NULL;
    if (!fn) {
        task_fail(t, "no handler for task kind '%s'", t->msg.kind);
        return TASK_FAILED;
    }
    if (driver_select(t) < 0)
        return TASK_FAILED;
    int rc = fn(t);
    if (rc == 0)
        return TASK_OK;
    if (rc == -ECANCELED || task_should_stop(t))
        return TASK_RELEASED;
    if (task_errno_permanent(rc))
        t->permanent = true;
    if (!t->error[0])
        task_fail(t, "%s failed: %s", t->msg.kind, strerror(-rc));
    return TASK_FAILED;
}
