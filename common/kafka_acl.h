/* kafka_acl — the broker ACLs a factory needs, per principal role.
 *
 * With an authorizer on the broker (StandardAuthorizer, no ACL = deny),
 * each wavemill principal gets exactly what its daemon does:
 *
 *   scheduler  tasks topics: WRITE; wm.status: READ, WRITE; its consumer
 *              groups (prefix "<topic_prefix>wavemill-scheduler-"): READ
 *   worker     tasks topics: READ; wm.status, wm.dlq: WRITE; its group
 *              (prefix "<topic_prefix>wavemill-workers"): READ
 *   monitor    wm.status: READ; groups "wavemill-watch-*": READ (wavemill watch)
 *
 * plus DESCRIBE on every topic it uses and IDEMPOTENT_WRITE on the cluster
 * for the producers (they are idempotent).  Creating topics and granting
 * ACLs is the administrator's (a super user).  docs/security.md explains
 * the model. */
#ifndef WM_KAFKA_ACL_H
#define WM_KAFKA_ACL_H

#include <stddef.h>

#include "config.h"

/* Grants role ("scheduler", "worker", "monitor") to principal (e.g.
 * "User:wm-worker-1", "User:CN=worker1") through the broker cfg points at,
 * as cfg's principal (which must be allowed to alter ACLs).  Idempotent.
 * 0, or -EINVAL (unknown role) / -EACCES / -EIO / -ETIMEDOUT with err. */
int wm_kafka_acl_grant(const struct wm_config *cfg, const char *principal, const char *role,
                       int timeout_ms, char *err, size_t errlen);

#endif
