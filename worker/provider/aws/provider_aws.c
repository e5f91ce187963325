/* provider_aws — the "aws" target provider; see provider_aws.h. */
#include "provider/aws/provider_aws.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "provider/aws/aws.h"
#include "provider/aws/aws_chain.h"
#include "provider/aws/aws_ec2.h"
#include "provider/aws/aws_r53.h"
#include "config.h"
#include "driver_instance.h"
#include "transport/transport_driver.h"
#include "log.h"
#include "provider/provider_exec.h"
#include "secrets.h" /* WM_SECRETS_MAX_NAME */
#include "task.h"

static const struct wm_config_key aws_provider_keys[] = {
    {"aws.hosted_zone_id", WM_CFG_STRING, NULL, 0, 0, false,
     "Route 53 zone of the servers' DNS records (servers.settings hosted_zone_id wins)"},
    {"aws.availability_zone", WM_CFG_STRING, NULL, 0, 0, false,
     "unused since launches come from the disks' EBS snapshots (kept so old configs load)"},
    {"aws.test_ingress_cidr", WM_CFG_STRING, "10.0.0.0/8", 0, 0, false,
     "who may reach a test instance (ssh) in its isolated group"},
    {"aws.launch_timeout", WM_CFG_DURATION, "5m", 1000, 3600000, false,
     "longest wait for a launched instance to run"},
    {"aws.dns_ttl", WM_CFG_INT, "60", 0, 86400, false, "TTL of the record set at cutover"},
};

int provider_aws_declare(struct wm_config *cfg, char *err, size_t errlen)
{
    int rc = aws_declare(cfg, err, errlen);
    if (rc == 0)
        rc = aws_chain_declare(cfg, err, errlen);
    return rc < 0 ? rc
                  : wm_config_declare(cfg, aws_provider_keys,
                                      sizeof(aws_provider_keys) / sizeof(aws_provider_keys[0]), err,
                                      errlen);
}

/* --- clients --- */

/* A client for service with the server's / the factory's credentials. */
static struct aws_client *aws_open(struct task_ctx *t, const char *service)
{
    struct aws_config ac;
    const char *cred_name = NULL;
    char err[AWS_ERR_MAX], setting[WM_SECRETS_MAX_NAME + 1];
    if (aws_config_from(t->cfg, service, &ac, &cred_name) < 0) {
        task_fail_permanent(t, "aws: no endpoint configured (aws.endpoint)");
        return NULL;
    }
    int rc = driver_server_setting(t, "aws_credential", setting, sizeof(setting));
    if (rc < 0)
        return NULL;
    if (rc > 0)
        cred_name = setting;
    wm_secret *cred = NULL;
    if (cred_name && driver_secret_get(t, cred_name, &cred) < 0)
        return NULL;
    struct aws_client *c = aws_client_with(&ac, cred, service, err, sizeof(err));
    wm_secret_free(cred);
    if (!c)
        task_fail(t, "aws: %s", err);
    return c;
}

static int aws_failed(struct task_ctx *t, int rc, const char *err)
{
    task_fail(t, "aws: %s", err);
    return rc < 0 ? rc : -EIO;
}

/* --- security groups --- */

struct groups {
    char id[AWS_EC2_MAX_GROUPS][AWS_EC2_ID_LEN];
    const char *ptr[AWS_EC2_MAX_GROUPS];
    size_t n;
};

/* One group entry: an id as it is, a name created or found (with the
 * isolated group's ingress rule when isolated). */
static int group_resolve(struct task_ctx *t, struct aws_client *c, const char *entry, bool isolated,
                         char *id)
{
    char err[AWS_ERR_MAX];
    if (strncmp(entry, "sg-", 3) == 0) {
        snprintf(id, AWS_EC2_ID_LEN, "%s", entry);
        return 0;
    }
    int rc = aws_ec2_create_security_group(
        c, entry, isolated ? "wavemill isolated test group" : "wavemill live group", NULL, id, err,
        sizeof(err));
    if (rc == 0 && isolated)
        rc = aws_ec2_authorize_ingress(
            c, id, "tcp", 22, 22, wm_config_str(t->cfg, "aws.test_ingress_cidr"), err, sizeof(err));
    return rc < 0 ? aws_failed(t, rc, err) : 0;
}

/* The groups of the comma-separated list csv (the task param). */
static int groups_resolve(struct task_ctx *t, struct aws_client *c, const char *csv, bool isolated,
                          struct groups *g)
{
    char list[1024], generated[AWS_EC2_ID_LEN + 32];
    g->n = 0;
    if (!csv || !*csv) {
        if (!isolated)
            return task_fail(t, "aws: server %s has no live security groups", t->msg.server);
        snprintf(generated, sizeof(generated), "wavemill-test-%s", t->msg.server);
        csv = generated;
    }
    snprintf(list, sizeof(list), "%s", csv);
    char *save = NULL;
    for (char *e = strtok_r(list, ", ", &save); e; e = strtok_r(NULL, ", ", &save)) {
        if (g->n == AWS_EC2_MAX_GROUPS)
            return task_fail(t, "aws: more than %d security groups", AWS_EC2_MAX_GROUPS);
        int rc = group_resolve(t, c, e, isolated, g->id[g->n]);
        if (rc < 0)
            return rc;
        g->ptr[g->n] = g->id[g->n];
        g->n++;
    }
    return 0;
}

/* --- check_target --- */

/* Describe call that must find every id given (Action, "SubnetId.%d"). */
static int describe_ids(struct task_ctx *t, struct aws_client *c, const char *action,
                        const char *keyfmt, const char *csv, bool ids_only)
{
    char list[1024], err[AWS_ERR_MAX];
    struct aws_form *f = aws_form_new(action, AWS_EC2_VERSION);
    int n = 0;
    snprintf(list, sizeof(list), "%s", csv ? csv : "");
    char *save = NULL;
    for (char *e = strtok_r(list, ", ", &save); e; e = strtok_r(NULL, ", ", &save))
        if (!ids_only || strncmp(e, "sg-", 3) == 0)
            aws_form_add(f, e, keyfmt, ++n);
    size_t len = 0;
    const char *body = aws_form_body(f, &len);
    struct wm_http_response r;
    int rc = n == 0 ? 0
             : body ? aws_client_call(c, "POST", "/", NULL,
                                      "application/x-www-form-urlencoded; charset=utf-8", body, len,
                                      &r, err, sizeof(err))
                    : -ENOMEM;
    aws_form_free(f);
    if (rc == -ENOMEM)
        return task_fail(t, "aws: %s: out of memory", action);
    if (rc < 0) {
        task_fail(t, "aws: EC2 %s: %s", action, err);
        return rc;
    }
    if (n > 0)
        wm_http_response_free(&r);
    return 0;
}

static int aws_check_target(struct task_ctx *t)
{
    struct aws_client *c = aws_open(t, "ec2");
    if (!c)
        return -EIO;
    int rc =
        describe_ids(t, c, "DescribeSubnets", "SubnetId.%d", task_param(t, "subnet_id"), false);
    if (rc == 0)
        rc = describe_ids(t, c, "DescribeSecurityGroups", "GroupId.%d",
                          task_param(t, "security_group_ids"), true);
    if (rc == 0)
        rc = describe_ids(t, c, "DescribeSecurityGroups", "GroupId.%d",
                          task_param(t, "test_security_group_ids"), true);
    aws_client_free(c);
    return rc;
}

/* --- launch --- */

static const char *purpose_of(enum launch_kind kind)
{
    return kind == LAUNCH_TEST ? "test" : "cutover";
}

/* The image to launch: every disk's EBS snapshot from the chain the
 * receiver exported (aws_chain.h), root first, registered under a name of
 * this task (a retried step finds it by name). */
static int image_build(struct task_ctx *t, struct aws_client *c, enum launch_kind kind, char *image)
{
    struct aws_chain_image ci;
    char name[160], err[AWS_ERR_MAX];
    int rc = aws_chain_image_for(t, kind, &ci);
    if (rc < 0)
        return rc;
    snprintf(name, sizeof(name), "wavemill %s %s task %lld", t->msg.server, purpose_of(kind),
             (long long)t->msg.task_id);
    ci.img.name = name;
    ci.img.description = name;
    rc = aws_ec2_register_image_disks(c, &ci.img, image, err, sizeof(err));
    if (rc < 0)
        return aws_failed(t, rc, err);
    wm_info("aws.image_registered", "server=%s purpose=%s image=%s disks=%zu root=%s",
            t->msg.server, purpose_of(kind), image, ci.n, ci.snapshot[0]);
    return aws_chain_image_saved(t, kind, image, &ci);
}

/* RunInstances (or the instance an earlier attempt launched). */
static int instance_run(struct task_ctx *t, struct aws_client *c, enum launch_kind kind,
                        const char *token, char *id)
{
    char err[AWS_ERR_MAX], image[AWS_EC2_ID_LEN];
    struct aws_ec2_instance found;
    int count = 0;
    int rc = aws_ec2_find_by_token(c, token, &found, 1, &count, err, sizeof(err));
    if (rc < 0)
        return aws_failed(t, rc, err);
    if (count > 0) { /* before building another image for nothing */
        snprintf(id, AWS_EC2_ID_LEN, "%s", found.id);
        wm_info("aws.launch_reused", "server=%s instance=%s", t->msg.server, id);
        return 0;
    }
    struct groups g;
    if ((rc = groups_resolve(t, c, task_param(t, "test_security_group_ids"), true, &g)) < 0 ||
        (rc = image_build(t, c, kind, image)) < 0)
        return rc;
    const char *type = task_param(t, "instance_type"), *subnet = task_param(t, "subnet_id");
    struct aws_ec2_launch l = {image,
                               type && *type ? type : NULL,
                               subnet && *subnet ? subnet : NULL,
                               g.ptr,
                               g.n,
                               token,
                               t->msg.wave,
                               t->msg.server,
                               purpose_of(kind)};
    rc = aws_ec2_run_instances(c, &l, id, NULL, err, sizeof(err));
    return rc < 0 ? aws_failed(t, rc, err) : 0;
}

static int aws_launch(struct task_ctx *t, enum launch_kind kind, char *id, size_t idlen)
{
    char token[PROVIDER_EXEC_TOKEN_LEN], iid[AWS_EC2_ID_LEN], err[AWS_ERR_MAX];
    provider_exec_client_token(t->msg.task_id, t->msg.server,
                               kind == LAUNCH_TEST ? "launch_test" : "launch_cutover", token,
                               sizeof(token));
    struct aws_client *c = aws_open(t, "ec2");
    if (!c)
        return -EIO;
    int rc = instance_run(t, c, kind, token, iid);
    struct aws_ec2_instance inst;
    if (rc == 0) {
        rc = aws_ec2_wait_running(c, iid, (long)wm_config_int(t->cfg, "aws.launch_timeout"), 1000,
                                  &inst, err, sizeof(err));
        if (rc < 0)
            aws_failed(t, rc, err);
    }
    aws_client_free(c);
    if (rc == 0)
        rc = driver_instance_save(t, kind, iid, inst.private_ip);
    if (rc == 0) {
        snprintf(id, idlen, "%s", iid);
        wm_info("aws.instance_running", "server=%s purpose=%s instance=%s address=%s",
                t->msg.server, purpose_of(kind), iid, inst.private_ip);
    }
    return rc;
}

/* --- the launched instance --- */

/* The recorded instance of kind, described. */
static int recorded(struct task_ctx *t, struct aws_client *c, enum launch_kind kind,
                    struct aws_ec2_instance *inst)
{
    char id[DRIVER_INSTANCE_ID_LEN], addr[DRIVER_ADDR_LEN], err[AWS_ERR_MAX];
    int rc = driver_instance_get(t, kind, id, addr);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return task_fail(t, "aws: server %s has no %s instance (launch first)", t->msg.server,
                         purpose_of(kind));
    rc = aws_ec2_describe_instance(c, id, inst, err, sizeof(err));
    return rc < 0 ? aws_failed(t, rc, err) : 0;
}

static int aws_check_instance(struct task_ctx *t, enum launch_kind kind)
{
    struct aws_client *c = aws_open(t, "ec2");
    if (!c)
        return -EIO;
    struct aws_ec2_instance inst;
    int rc = recorded(t, c, kind, &inst);
    aws_client_free(c);
    if (rc == 0 && strcmp(inst.state, "running") != 0)
        rc = task_fail(t, "aws: %s instance %s is %s, not running", purpose_of(kind), inst.id,
                       inst.state[0] ? inst.state : "in no known state");
    return rc;
}

/* The server's hosted zone (setting, else aws.hosted_zone_id) and its
 * fqdn as a record name ("a.b."): 1, or 0 when either is missing (nothing
 * to do in DNS), or negative. */
static int dns_target(struct task_ctx *t, char zone[AWS_R53_ID_LEN], char name[AWS_R53_MAX_NAME])
{
    const char *fqdn = task_param(t, "fqdn");
    int rc = driver_server_setting(t, "hosted_zone_id", zone, AWS_R53_ID_LEN);
    if (rc < 0)
        return rc;
    const char *cz = wm_config_str(t->cfg, "aws.hosted_zone_id");
    if (rc == 0)
        snprintf(zone, AWS_R53_ID_LEN, "%s", cz ? cz : "");
    if (!fqdn || !*fqdn || !zone[0]) {
        wm_info("aws.dns_skipped", "server=%s reason=\"%s\"", t->msg.server,
                !zone[0] ? "no hosted zone configured" : "no fqdn");
        return 0;
    }
    snprintf(name, AWS_R53_MAX_NAME, "%s%s", fqdn, fqdn[strlen(fqdn) - 1] == '.' ? "" : ".");
    return 1;
}

/* Route 53 UPSERT of the server's fqdn to address, when a zone is known. */
static int dns_upsert(struct task_ctx *t, const char *address)
{
    char zone[AWS_R53_ID_LEN], name[AWS_R53_MAX_NAME], err[AWS_ERR_MAX];
    int rc = dns_target(t, zone, name);
    if (rc <= 0 || !address[0])
        return rc < 0 ? rc : 0;
    struct aws_client *c = aws_open(t, "route53");
    if (!c)
        return -EIO;
    rc = aws_r53_upsert(c, zone, name, "A", (long)wm_config_int(t->cfg, "aws.dns_ttl"), address,
                        err, sizeof(err));
    aws_client_free(c);
    if (rc < 0)
        return aws_failed(t, rc, err);
    wm_info("aws.dns_upserted", "server=%s name=%s address=%s zone=%s", t->msg.server, name,
            address, zone);
    return 0;
}

static int aws_switch_network(struct task_ctx *t)
{
    struct aws_client *c = aws_open(t, "ec2");
    if (!c)
        return -EIO;
    char err[AWS_ERR_MAX];
    struct aws_ec2_instance inst;
    struct groups g;
    int rc = recorded(t, c, LAUNCH_CUTOVER, &inst);
    if (rc == 0)
        rc = groups_resolve(t, c, task_param(t, "security_group_ids"), false, &g);
    if (rc == 0 && (rc = aws_ec2_modify_groups(c, inst.id, g.ptr, g.n, err, sizeof(err))) < 0)
        aws_failed(t, rc, err);
    aws_client_free(c);
    if (rc == 0)
        wm_info("aws.groups_swapped", "server=%s instance=%s groups=%zu", t->msg.server, inst.id,
                g.n);
    return rc < 0 ? rc : dns_upsert(t, inst.private_ip);
}

/* Route 53: the A record post_cutover made for the fqdn (pointing at the
 * cutover instance's address) removed, so the name falls back to whatever
 * the source environment serves; a record pointing elsewhere is not ours
 * and stays; none is fine. */
static int dns_remove(struct task_ctx *t, const char *address)
{
    char zone[AWS_R53_ID_LEN], name[AWS_R53_MAX_NAME], err[AWS_ERR_MAX];
    int rc = dns_target(t, zone, name);
    if (rc <= 0 || !address[0])
        return rc < 0 ? rc : 0;
    struct aws_client *c = aws_open(t, "route53");
    if (!c)
        return -EIO;
    enum { MAXREC = 64 };
    struct aws_r53_record *recs = calloc(MAXREC, sizeof(*recs));
    size_t n = 0;
    rc = recs ? aws_r53_list_records(c, zone, recs, MAXREC, &n, err, sizeof(err)) : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n && i < MAXREC; i++) {
        if (strcmp(recs[i].type, "A") != 0 || strcasecmp(recs[i].name, name) != 0 ||
            strcmp(recs[i].value, address) != 0 || recs[i].nvalues != 1)
            continue;
        rc = aws_r53_delete(c, zone, recs[i].name, "A", recs[i].ttl, recs[i].value, err,
                            sizeof(err));
        if (rc == 0)
            wm_info("aws.dns_removed", "server=%s name=%s zone=%s", t->msg.server, name, zone);
    }
    free(recs);
    aws_client_free(c);
    return rc < 0 ? aws_failed(t, rc, rc == -ENOMEM ? "out of memory" : err) : 0;
}

/* Undoes aws_switch_network: the cutover instance (if it still exists) back
 * in its isolated test groups, and the DNS record removed. */
static int aws_revert_network(struct task_ctx *t)
{
    char id[DRIVER_INSTANCE_ID_LEN], addr[DRIVER_ADDR_LEN], err[AWS_ERR_MAX];
    int rc = driver_instance_get(t, LAUNCH_CUTOVER, id, addr);
    bool launched = rc > 0;
    if (launched) {
        struct aws_client *c = aws_open(t, "ec2");
        if (!c)
            return -EIO;
        struct groups g;
        struct aws_ec2_instance inst;
        rc = aws_ec2_describe_instance(c, id, &inst, err, sizeof(err));
        bool gone = rc == -ENOENT || (rc == 0 && (strcmp(inst.state, "terminated") == 0 ||
                                                  strcmp(inst.state, "shutting-down") == 0));
        if (gone)
            rc = 0; /* nothing left to isolate */
        else if (rc < 0)
            aws_failed(t, rc, err);
        if (rc == 0 && !gone)
            rc = groups_resolve(t, c, task_param(t, "test_security_group_ids"), true, &g);
        if (rc == 0 && !gone && g.n > 0 &&
            (rc = aws_ec2_modify_groups(c, id, g.ptr, g.n, err, sizeof(err))) < 0)
            aws_failed(t, rc, err);
        aws_client_free(c);
    }
    return rc < 0 ? rc : dns_remove(t, launched ? addr : "");
}

/* The test instance (decommission) or another kind's; decommission then
 * deregisters the test images and deletes the snapshots no kept image
 * needs (aws_chain_cleanup). */
static int aws_terminate(struct task_ctx *t, enum launch_kind kind)
{
    char id[DRIVER_INSTANCE_ID_LEN], addr[DRIVER_ADDR_LEN], err[AWS_ERR_MAX];
    int found = driver_instance_get(t, kind, id, addr);
    if (found < 0)
        return found;
    struct aws_client *c = aws_open(t, "ec2");
    if (!c)
        return -EIO;
    int rc = found > 0 ? aws_ec2_terminate_instance(c, id, err, sizeof(err)) : 0;
    if (rc == -ENOENT)
        rc = 0; /* already gone */
    if (rc < 0)
        rc = aws_failed(t, rc, err);
    else if (found > 0)
        wm_info("aws.terminated", "server=%s purpose=%s instance=%s", t->msg.server,
                purpose_of(kind), id);
    if (rc == 0 && kind == LAUNCH_TEST)
        rc = aws_chain_cleanup(t, c);
    aws_client_free(c);
    return rc;
}

static int aws_cmdb_update(struct task_ctx *t)
{
    wm_info("aws.cmdb_none", "server=%s reason=\"no cmdb.url configured; AWS has no CMDB\"",
            t->msg.server);
    return 0;
}

const struct provider_driver provider_aws_driver = {
    .name = "aws",
    .simulated = false,
    .check_target = aws_check_target,
    .launch = aws_launch,
    .check_instance = aws_check_instance,
    .switch_network = aws_switch_network,
    .revert_network = aws_revert_network,
    .cmdb_update = aws_cmdb_update,
    .terminate = aws_terminate,
};
