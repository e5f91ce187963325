/* kafka_acl — see kafka_acl.h */
#include "kafka_acl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"

#define ACL_MAX 24

/* One grant: resource (type, name relative to the topic prefix, literal or
 * prefixed) and the operations on it. */
struct acl_rule {
    rd_kafka_ResourceType_t type;
    const char *name;
    rd_kafka_ResourcePatternType_t pattern;
    rd_kafka_AclOperation_t ops[3];
};

/* short names for the rule tables */
#define TOPIC RD_KAFKA_RESOURCE_TOPIC
#define GROUP RD_KAFKA_RESOURCE_GROUP
#define CLUSTER RD_KAFKA_RESOURCE_BROKER /* Kafka's CLUSTER resource (4) */
#define LIT RD_KAFKA_RESOURCE_PATTERN_LITERAL
#define PFX RD_KAFKA_RESOURCE_PATTERN_PREFIXED
#define R RD_KAFKA_ACL_OPERATION_READ
#define W RD_KAFKA_ACL_OPERATION_WRITE
#define D RD_KAFKA_ACL_OPERATION_DESCRIBE
#define IW RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE

static const struct acl_rule scheduler_rules[] = {
    {TOPIC, WM_TOPIC_TASKS_CONTROL, LIT, {W, D}}, {TOPIC, WM_TOPIC_TASKS_REPLICATION, LIT, {W, D}},
    {TOPIC, WM_TOPIC_STATUS, LIT, {R, W, D}},     {GROUP, "wavemill-scheduler-", PFX, {R}},
    {CLUSTER, "kafka-cluster", LIT, {IW}},
};
static const struct acl_rule worker_rules[] = {
    {TOPIC, WM_TOPIC_TASKS_CONTROL, LIT, {R, D}}, {TOPIC, WM_TOPIC_TASKS_REPLICATION, LIT, {R, D}},
    {TOPIC, WM_TOPIC_STATUS, LIT, {W, D}},        {TOPIC, WM_TOPIC_DLQ, LIT, {W, D}},
    {GROUP, "wavemill-workers", PFX, {R}},        {CLUSTER, "kafka-cluster", LIT, {IW}},
};
static const struct acl_rule monitor_rules[] = {
    {TOPIC, WM_TOPIC_STATUS, LIT, {R, D}},
    {GROUP, "wavemill-watch-", PFX, {R}},
};

static const struct {
    const char *role;
    const struct acl_rule *rules;
    size_t n;
} roles[] = {
    {"scheduler", scheduler_rules, sizeof(scheduler_rules) / sizeof(scheduler_rules[0])},
    {"worker", worker_rules, sizeof(worker_rules) / sizeof(worker_rules[0])},
    {"monitor", monitor_rules, sizeof(monitor_rules) / sizeof(monitor_rules[0])},
};

/* The bindings of one role for principal; returns how many, -1 on error. */
static int acl_bindings(const struct wm_config *cfg, const struct acl_rule *rules, size_t n,
                        const char *principal, rd_kafka_AclBinding_t **out, char *err,
                        size_t errlen)
{
    int count = 0;
    const char *prefix = wm_config_str(cfg, "kafka.topic_prefix");
    for (size_t i = 0; i < n; i++) {
        char name[256];
        /* the watch groups are not prefixed (cli_watch), the rest are */
        int plain = rules[i].type == RD_KAFKA_RESOURCE_BROKER ||
                    strcmp(rules[i].name, "wavemill-watch-") == 0;
        snprintf(name, sizeof(name), "%s%s", plain ? "" : prefix, rules[i].name);
        for (int k = 0; k < 3 && rules[i].ops[k] && count < ACL_MAX; k++) {
            char why[256];
            out[count] = rd_kafka_AclBinding_new(
                rules[i].type, name, rules[i].pattern, principal, "*", rules[i].ops[k],
                RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, why, sizeof(why));
            if (!out[count]) {
                snprintf(err, errlen, "ACL for %s on %s: %s", principal, name, why);
                return -1;
            }
            count++;
        }
    }
    return count;
}

static int acl_result(rd_kafka_event_t *ev, char *err, size_t errlen)
{
    if (!ev)
        return snprintf(err, errlen, "no answer from the broker in time"), -ETIMEDOUT;
    if (rd_kafka_event_error(ev)) {
        snprintf(err, errlen, "create ACLs: %s", rd_kafka_event_error_string(ev));
        return rd_kafka_event_error(ev) == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED ? -EACCES
                                                                                          : -EIO;
    }
    size_t n = 0;
    const rd_kafka_acl_result_t **res =
        rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(ev), &n);
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_error_t *e = rd_kafka_acl_result_error(res[i]);
        if (e) {
            snprintf(err, errlen, "create ACL: %s", rd_kafka_error_string(e));
            return rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED
                       ? -EACCES
                       : -EIO;
        }
    }
    return 0;
}

static int acl_send(rd_kafka_t *rk, rd_kafka_AclBinding_t **b, int n, int timeout_ms, char *err,
                    size_t errlen)
{
    char why[256];
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATEACLS);
    rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms, why, sizeof(why));
    rd_kafka_CreateAcls(rk, b, (size_t)n, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    int rc = acl_result(ev, err, errlen);
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    return rc;
}

int wm_kafka_acl_grant(const struct wm_config *cfg, const char *principal, const char *role,
                       int timeout_ms, char *err, size_t errlen)
{
    size_t r = 0;
    while (r < sizeof(roles) / sizeof(roles[0]) && strcmp(roles[r].role, role) != 0)
        r++;
    if (r == sizeof(roles) / sizeof(roles[0]) || !principal || !strchr(principal, ':')) {
        snprintf(err, errlen,
                 "role must be scheduler, worker or monitor and the principal "
                 "TYPE:NAME (e.g. User:wm-worker)");
        return -EINVAL;
    }
    rd_kafka_AclBinding_t *b[ACL_MAX];
    int n = acl_bindings(cfg, roles[r].rules, roles[r].n, principal, b, err, errlen);
    if (n < 0)
        return -EINVAL;
    rd_kafka_t *rk = wm_kafka_admin_new(cfg, err, errlen);
    int rc = rk ? acl_send(rk, b, n, timeout_ms, err, errlen) : -EINVAL;
    rd_kafka_AclBinding_destroy_array(b, (size_t)n);
    if (rk)
        rd_kafka_destroy(rk);
    return rc;
}
