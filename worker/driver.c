/* driver — the registry of drivers compiled into this worker (see driver.h).
 * Adding a real driver = one more entry in a table below. */
#include "driver.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "replication/replication.h"
#include "transport/transport_driver.h"
#include "provider/aws/provider_aws.h"
#include "provider/libvirt/provider_libvirt.h"
#include "provider/provider_exec.h"
#include "task.h"

static const struct transport_driver *const transports[] = {
    &sim_transport, &transport_ssh_driver, &transport_local_driver};
static const struct provider_driver *const providers[] = {&sim_provider, &provider_exec_driver,
                                                          &provider_aws_driver,
                                                          &provider_libvirt_driver};
static const struct replication_driver *const replications[] = {&sim_replication,
                                                                &replication_wavemill_driver};

int driver_declare(struct wm_config *cfg, char *err, size_t errlen)
{
    int rc = sim_declare(cfg, err, errlen);
    rc = rc < 0 ? rc : transport_driver_declare(cfg, err, errlen);
    return rc < 0 ? rc : replication_declare(cfg, err, errlen);
}

#define FIND(table, name)                                                                  \
    do {                                                                                   \
        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)                      \
            if (strcmp(table[i]->name, name) == 0)                                         \
                return table[i];                                                           \
        return NULL;                                                                       \
    } while (0)

const struct transport_driver *driver_transport(const char *name)
{
    FIND(transports, name);
}

const struct provider_driver *driver_provider(const char *name)
{
    FIND(providers, name);
}

const struct replication_driver *driver_replication(const char *name)
{
    FIND(replications, name);
}

static const char *param_or(const struct task_ctx *t, const char *key, const char *def)
{
    const char *v = task_param(t, key);
    return v && *v ? v : def;
}

bool driver_simulated(const struct task_ctx *t)
{
    const struct transport_driver *tr = driver_transport(param_or(t, "transport", "sim"));
    const struct provider_driver *pr = driver_provider(param_or(t, "provider", "sim"));
    const struct replication_driver *rp = driver_replication(param_or(t, "replication", "sim"));
    return (tr && tr->simulated) || (pr && pr->simulated) || (rp && rp->simulated);
}

int driver_select(struct task_ctx *t)
{
    const char *tr = param_or(t, "transport", "sim"), *pr = param_or(t, "provider", "sim");
    const char *rp = param_or(t, "replication", "sim");
    t->transport = driver_transport(tr);
    t->provider = driver_provider(pr);
    t->replication = driver_replication(rp);
    if (!t->transport || !t->provider || !t->replication) {
        task_fail_permanent(t, "no %s driver '%s' in this worker build",
                  !t->transport ? "transport" : !t->provider ? "provider" : "replication",
                  !t->transport ? tr : !t->provider ? pr : rp);
        return -ENOENT;
    }
    t->simulated = t->transport->simulated || t->provider->simulated ||
                   t->replication->simulated;
    return 0;
}

int driver_server_setting(struct task_ctx *t, const char *key, char *out, size_t cap)
{
    out[0] = '\0';
    if (t->transport && t->transport->simulated)
        return 0;
    if (task_server_load(t) < 0)
        return -EIO;
    const char *v = task_setting(t, key);
    if (!v)
        return 0;
    if (snprintf(out, cap, "%s", v) >= (int)cap)
        return task_fail(t, "server setting %s is too long", key);
    return 1;
}
