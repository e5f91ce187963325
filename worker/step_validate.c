/* step_validate — the validate step: instance check, probes, stored report;
 * see steps.h. */
#include "steps.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "driver_instance.h"
#include "transport/transport_driver.h"
#include "log.h"
#include "probe/probe.h"
#include "task.h"
#include "transport/transport.h"

/* The probe list configuration: task param, else the server's settings.
 * 1 if there is one, 0 if none. */
static int probes_config(struct task_ctx *t, char *buf, size_t cap)
{
    const char *p = task_param(t, "probes");
    if (p && *p) {
        if ((size_t)snprintf(buf, cap, "%s", p) >= cap)
            return task_fail_permanent(t, "validate: probes configuration over %zu bytes", cap);
        return 1;
    }
    return driver_server_setting(t, "probes", buf, cap);
}

/* "name (detail); name (detail)" of the failed probes. */
static void failed_names(const struct probe_report *rep, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < rep->n && o < cap; i++) {
        if (rep->results[i].ok)
            continue;
        int n = snprintf(out + o, cap - o, "%s%s (%s)", o ? "; " : "", rep->results[i].name,
                         rep->results[i].detail);
        o += n > 0 ? (size_t)n : 0;
    }
}

/* Runs the parsed list (ssh probes over the task's transport) and stores
 * the report. */
static int probes_run(struct task_ctx *t, const struct probe_list *l)
{
    struct tp_session s;
    struct probe_report rep;
    char saved[sizeof(t->error)];
    memset(&s, 0, sizeof(s));
    if (transport_driver_open(t, &s) < 0) { /* ssh probes will fail, named, in the report */
        snprintf(saved, sizeof(saved), "%s", t->error);
        t->error[0] = '\0';
        wm_warn("validate.no_transport", "server=%s err=\"%s\"", t->msg.server, saved);
    }
    int rc = probe_list_run(l, s.tp, &rep);
    transport_driver_close(&s);
    if (rc < 0)
        return task_fail(t, "validate: probes: out of memory");
    rc = driver_validation_save(t, rep.json);
    if (rc == 0 && !rep.ok) {
        char names[400];
        failed_names(&rep, names, sizeof(names));
        rc = task_fail(t, "validate: %zu probe(s), failed: %s", rep.n, names);
    }
    if (rc == 0)
        wm_info("validate.passed", "server=%s probes=%zu", t->msg.server, rep.n);
    probe_report_free(&rep);
    return rc;
}

int step_validate(struct task_ctx *t)
{
    int rc = t->provider->check_instance(t, LAUNCH_CUTOVER);
    if (rc < 0 || t->simulated)
        return rc;
    char *json = malloc(STEP_PROBES_MAX_JSON);
    char id[DRIVER_INSTANCE_ID_LEN] = "", addr[DRIVER_ADDR_LEN] = "", err[256];
    if (!json)
        return task_fail(t, "validate: out of memory");
    rc = probes_config(t, json, STEP_PROBES_MAX_JSON);
    if (rc > 0)
        rc = driver_instance_get(t, LAUNCH_CUTOVER, id, addr);
    if (rc >= 0 && !addr[0]) {
        const char *fqdn = task_param(t, "fqdn");
        snprintf(addr, sizeof(addr), "%s", fqdn ? fqdn : "");
    }
    struct probe_list *l = NULL;
    if (rc > 0 && !(l = probe_list_parse(json, addr, err, sizeof(err))))
        rc = task_fail_permanent(t, "validate: probes configuration: %s", err);
    else if (rc > 0)
        rc = probes_run(t, l);
    else if (rc == 0)
        wm_info("validate.no_probes", "server=%s", t->msg.server);
    probe_list_free(l);
    free(json);
    return rc < 0 ? rc : 0;
}
