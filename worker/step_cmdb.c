/* step_cmdb — the cmdb_update step: the configured CMDB call, else the
 * provider's; see steps.h. */
#include "steps.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmdb/cmdb.h"
#include "config.h"
#include "driver.h"
#include "driver_instance.h"
#include "log.h"
#include "task.h"

int step_cmdb(struct task_ctx *t)
{
    struct cmdb_config c;
    const char *secret_name = NULL;
    /* a simulated server never reaches a real CMDB (and tests that build a
     * bare config have no cmdb.* keys) */
    if (t->simulated || cmdb_config_from(t->cfg, &c, &secret_name) < 0)
        return t->provider->cmdb_update(t);
    char id[DRIVER_INSTANCE_ID_LEN], addr[DRIVER_ADDR_LEN], err[512];
    int rc = driver_instance_get(t, LAUNCH_CUTOVER, id, addr);
    if (rc < 0)
        return rc;
    wm_secret *secret = NULL;
    if (secret_name && (rc = driver_secret_get(t, secret_name, &secret)) < 0)
        return rc;
    struct cmdb_vars v = {t->msg.server, task_param(t, "fqdn"), t->msg.wave, id, NULL};
    struct cmdb_result res = {0, 0};
    rc = cmdb_update(&c, &v, secret, &res, err, sizeof(err));
    wm_secret_free(secret);
    if (rc < 0)
        return task_fail(t, "cmdb: %s", err);
    wm_info("cmdb.updated", "server=%s status=%ld attempts=%d", t->msg.server, res.status,
            res.attempts);
    return 0;
}
