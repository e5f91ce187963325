/* aws_ec2 — EC2 query API calls of the aws provider; see aws_ec2.h. */
#include "provider/aws/aws_ec2.h"

#include "provider/aws/aws.h"
#include "provider/aws/aws_xml.h"
#include "clock.h"
#include "log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* --- plumbing --- */

/* Posts form f (consumed) and gives the answer in resp. */
static int ec2_post(struct aws_client *c, struct aws_form *f, struct wm_http_response *resp,
                    char *err, size_t errlen)
{
    size_t len = 0;
    const char *body = f ? aws_form_body(f, &len) : NULL;
    int rc;
    if (!body) {
        snprintf(err, errlen, "ec2: request too large or out of memory");
        rc = -ENOMEM;
    } else {
        rc = aws_client_call(c, "POST", "/", NULL,
                             "application/x-www-form-urlencoded; charset=utf-8", body, len, resp,
                             err, errlen);
    }
    aws_form_free(f);
    return rc;
}

/* Prefixes err with the action ("CreateSecurityGroup: …"), keeping rc. */
static int ec2_fail(const char *action, int rc, char *err, size_t errlen)
{
    char tmp[AWS_ERR_MAX];
    snprintf(tmp, sizeof(tmp), "%s", err);
    snprintf(err, errlen, "EC2 %s: %s", action, tmp);
    return rc;
}

/* The text of element tag in the response into out (AWS_EC2_ID_LEN). */
static int answer_id(const char *action, struct wm_http_response *r, const char *tag, char *out,
                     char *err, size_t errlen)
{
    int rc = aws_xml_text(aws_xml_span(r->body, r->body_len), tag, out, AWS_EC2_ID_LEN);
    wm_http_response_free(r);
    if (rc < 0 || !out[0]) {
        snprintf(err, errlen, "EC2 %s: answer has no <%s>", action, tag);
        return -EPROTO;
    }
    return 0;
}

/* Posts f and extracts one id from the answer. */
static int ec2_post_id(struct aws_client *c, const char *action, struct aws_form *f,
                       const char *tag, char *out, char *err, size_t errlen)
{
    struct wm_http_response r;
    int rc = ec2_post(c, f, &r, err, errlen);
    if (rc < 0)
        return ec2_fail(action, rc, err, errlen);
    return answer_id(action, &r, tag, out, err, errlen);
}

/* Text of the direct child tag of span (first one). */
static int child_text(struct aws_xml span, const char *tag, char *out, size_t outlen)
{
    const char *cur = span.p;
    struct aws_xml el;
    if (!aws_xml_next(span, &cur, tag, &el)) {
        out[0] = '\0';
        return -ENOENT;
    }
    return aws_xml_span_text(el, out, outlen);
}

static bool child(struct aws_xml span, const char *tag, struct aws_xml *out)
{
    const char *cur = span.p;
    return aws_xml_next(span, &cur, tag, out);
}

/* --- security groups --- */

static int find_group(struct aws_client *c, const char *name, const char *vpc_id, char *group_id,
                      char *err, size_t errlen)
{
    struct aws_form *f = aws_form_new("DescribeSecurityGroups", AWS_EC2_VERSION);
    aws_form_add(f, "group-name", "Filter.1.Name");
    aws_form_add(f, name, "Filter.1.Value.1");
    if (vpc_id) {
        aws_form_add(f, "vpc-id", "Filter.2.Name");
        aws_form_add(f, vpc_id, "Filter.2.Value.1");
    }
    return ec2_post_id(c, "DescribeSecurityGroups", f, "groupId", group_id, err, errlen);
}

int aws_ec2_create_security_group(struct aws_client *c, const char *name, const char *description,
                                  const char *vpc_id, char group_id[AWS_EC2_ID_LEN], char *err,
                                  size_t errlen)
{
    struct aws_form *f = aws_form_new("CreateSecurityGroup", AWS_EC2_VERSION);
    aws_form_add(f, name, "GroupName");
    aws_form_add(f, description, "GroupDescription");
    if (vpc_id)
        aws_form_add(f, vpc_id, "VpcId");
    int rc = ec2_post_id(c, "CreateSecurityGroup", f, "groupId", group_id, err, errlen);
    if (rc == -EEXIST) /* created by an earlier attempt: use it */
        rc = find_group(c, name, vpc_id, group_id, err, errlen);
    return rc;
}

int aws_ec2_authorize_ingress(struct aws_client *c, const char *group_id, const char *protocol,
                              int from_port, int to_port, const char *cidr, char *err,
                              size_t errlen)
{
    char from[16], to[16];
    snprintf(from, sizeof(from), "%d", from_port);
    snprintf(to, sizeof(to), "%d", to_port);
    struct aws_form *f = aws_form_new("AuthorizeSecurityGroupIngress", AWS_EC2_VERSION);
    aws_form_add(f, group_id, "GroupId");
    aws_form_add(f, protocol, "IpPermissions.1.IpProtocol");
    aws_form_add(f, from, "IpPermissions.1.FromPort");
    aws_form_add(f, to, "IpPermissions.1.ToPort");
    aws_form_add(f, cidr, "IpPermissions.1.IpRanges.1.CidrIp");
    struct wm_http_response r;
    int rc = ec2_post(c, f, &r, err, errlen);
    if (rc == -EEXIST) /* InvalidPermission.Duplicate: the rule is there */
        return 0;
    if (rc < 0)
        return ec2_fail("AuthorizeSecurityGroupIngress", rc, err, errlen);
    wm_http_response_free(&r);
    return 0;
}

/* --- volumes, snapshots, images --- */

int aws_ec2_create_volume(struct aws_client *c, const char *availability_zone, int size_gib,
                          char volume_id[AWS_EC2_ID_LEN], char *err, size_t errlen)
{
    char size[16];
    snprintf(size, sizeof(size), "%d", size_gib);
    struct aws_form *f = aws_form_new("CreateVolume", AWS_EC2_VERSION);
    aws_form_add(f, availability_zone, "AvailabilityZone");
    aws_form_add(f, size, "Size");
    return ec2_post_id(c, "CreateVolume", f, "volumeId", volume_id, err, errlen);
}

int aws_ec2_create_snapshot(struct aws_client *c, const char *volume_id, const char *description,
                            char snapshot_id[AWS_EC2_ID_LEN], char *err, size_t errlen)
{
    struct aws_form *f = aws_form_new("CreateSnapshot", AWS_EC2_VERSION);
    aws_form_add(f, volume_id, "VolumeId");
    if (description)
        aws_form_add(f, description, "Description");
    return ec2_post_id(c, "CreateSnapshot", f, "snapshotId", snapshot_id, err, errlen);
}

/* The image of ours named name: 0, or -ENOENT when there is none. */
static int find_image(struct aws_client *c, const char *name, char *image_id, char *err,
                      size_t errlen)
{
    struct aws_form *f = aws_form_new("DescribeImages", AWS_EC2_VERSION);
    aws_form_add(f, "self", "Owner.1");
    aws_form_add(f, "name", "Filter.1.Name");
    aws_form_add(f, name, "Filter.1.Value.1");
    struct wm_http_response r;
    int rc = ec2_post(c, f, &r, err, errlen);
    if (rc < 0)
        return ec2_fail("DescribeImages", rc, err, errlen);
    rc = aws_xml_text(aws_xml_span(r.body, r.body_len), "imageId", image_id, AWS_EC2_ID_LEN);
    wm_http_response_free(&r);
    return rc == 0 && image_id[0] ? 0 : -ENOENT;
}

int aws_ec2_register_image(struct aws_client *c, const char *name, const char *snapshot_id,
                           const char *root_device, char image_id[AWS_EC2_ID_LEN], char *err,
                           size_t errlen)
{
    /* registered by an earlier attempt?  (not every endpoint refuses a
     * duplicate name the way AWS does) */
    int rc = find_image(c, name, image_id, err, errlen);
    if (rc != -ENOENT)
        return rc;
    const char *root = root_device ? root_device : "/dev/sda1";
    struct aws_form *f = aws_form_new("RegisterImage", AWS_EC2_VERSION);
    aws_form_add(f, name, "Name");
    aws_form_add(f, root, "RootDeviceName");
    aws_form_add(f, "hvm", "VirtualizationType");
    aws_form_add(f, "x86_64", "Architecture");
    aws_form_add(f, root, "BlockDeviceMapping.1.DeviceName");
    aws_form_add(f, snapshot_id, "BlockDeviceMapping.1.Ebs.SnapshotId");
    rc = ec2_post_id(c, "RegisterImage", f, "imageId", image_id, err, errlen);
    if (rc == -EEXIST) /* InvalidAMIName.Duplicate: a concurrent attempt won */
        rc = find_image(c, name, image_id, err, errlen);
    return rc;
}

int aws_ec2_register_image_disks(struct aws_client *c, const struct aws_ec2_image *img,
                                 char image_id[AWS_EC2_ID_LEN], char *err, size_t errlen)
{
    if (img->nmaps < 1 || img->nmaps > AWS_EC2_MAX_MAPPINGS) {
        snprintf(err, errlen, "RegisterImage: 1..%d disks, not %zu", AWS_EC2_MAX_MAPPINGS,
                 img->nmaps);
        return -EINVAL;
    }
    int rc = find_image(c, img->name, image_id, err, errlen);
    if (rc != -ENOENT)
        return rc;
    struct aws_form *f = aws_form_new("RegisterImage", AWS_EC2_VERSION);
    aws_form_add(f, img->name, "Name");
    if (img->description)
        aws_form_add(f, img->description, "Description");
    aws_form_add(f, img->maps[0].device, "RootDeviceName");
    aws_form_add(f, "hvm", "VirtualizationType");
    aws_form_add(f, img->architecture ? img->architecture : "x86_64", "Architecture");
    aws_form_add(f, img->ena ? "true" : "false", "EnaSupport");
    if (img->boot_mode && *img->boot_mode)
        aws_form_add(f, img->boot_mode, "BootMode");
    for (size_t i = 0; i < img->nmaps; i++) {
        const struct aws_ec2_mapping *m = &img->maps[i];
        int n = (int)i + 1;
        aws_form_add(f, m->device, "BlockDeviceMapping.%d.DeviceName", n);
        aws_form_add(f, m->snapshot_id, "BlockDeviceMapping.%d.Ebs.SnapshotId", n);
        aws_form_add(f, "true", "BlockDeviceMapping.%d.Ebs.DeleteOnTermination", n);
        if (m->volume_type && *m->volume_type)
            aws_form_add(f, m->volume_type, "BlockDeviceMapping.%d.Ebs.VolumeType", n);
    }
    rc = ec2_post_id(c, "RegisterImage", f, "imageId", image_id, err, errlen);
    if (rc == -EEXIST)
        rc = find_image(c, img->name, image_id, err, errlen);
    return rc;
}

static int ec2_simple(struct aws_client *c, const char *action, const char *key, const char *value,
                      char *err, size_t errlen)
{
    struct aws_form *f = aws_form_new(action, AWS_EC2_VERSION);
    aws_form_add(f, value, "%s", key);
    struct wm_http_response r;
    int rc = ec2_post(c, f, &r, err, errlen);
    if (rc == 0)
        wm_http_response_free(&r);
    if (rc == -ENOENT) /* already gone */
        return 0;
    return rc < 0 ? ec2_fail(action, rc, err, errlen) : 0;
}

int aws_ec2_deregister_image(struct aws_client *c, const char *image_id, char *err, size_t errlen)
{
    return ec2_simple(c, "DeregisterImage", "ImageId", image_id, err, errlen);
}

int aws_ec2_delete_snapshot(struct aws_client *c, const char *snapshot_id, char *err, size_t errlen)
{
    return ec2_simple(c, "DeleteSnapshot", "SnapshotId", snapshot_id, err, errlen);
}

/* --- instances: parsing --- */

static void parse_groups(struct aws_xml item, struct aws_ec2_instance *out)
{
    struct aws_xml set, g;
    if (!child(item, "groupSet", &set))
        return;
    const char *cur = set.p;
    while (out->ngroups < AWS_EC2_MAX_GROUPS && aws_xml_next(set, &cur, "item", &g))
        if (child_text(g, "groupId", out->group_ids[out->ngroups], AWS_EC2_ID_LEN) == 0)
            out->ngroups++;
}

static void parse_tags(struct aws_xml item, struct aws_ec2_instance *out)
{
    struct aws_xml set, t;
    if (!child(item, "tagSet", &set))
        return;
    const char *cur = set.p;
    while (out->ntags < AWS_EC2_MAX_TAGS && aws_xml_next(set, &cur, "item", &t)) {
        struct aws_ec2_tag *tag = &out->tags[out->ntags];
        if (child_text(t, "key", tag->key, sizeof(tag->key)) == 0) {
            child_text(t, "value", tag->value, sizeof(tag->value));
            out->ntags++;
        }
    }
}

/* One instancesSet <item>. */
static void parse_instance(struct aws_xml item, struct aws_ec2_instance *out)
{
    memset(out, 0, sizeof(*out));
    child_text(item, "instanceId", out->id, sizeof(out->id));
    struct aws_xml st;
    if (child(item, "instanceState", &st))
        child_text(st, "name", out->state, sizeof(out->state));
    child_text(item, "privateIpAddress", out->private_ip, sizeof(out->private_ip));
    parse_groups(item, out);
    parse_tags(item, out);
}

/* Every instance of a DescribeInstances answer: up to max into out. */
static int parse_reservations(const struct wm_http_response *r, struct aws_ec2_instance *out,
                              int max)
{
    struct aws_xml rs, res, set, item;
    int n = 0;
    if (!aws_xml_find(aws_xml_span(r->body, r->body_len), "reservationSet", &rs))
        return 0;
    const char *c1 = rs.p;
    while (aws_xml_next(rs, &c1, "item", &res)) {
        if (!child(res, "instancesSet", &set))
            continue;
        const char *c2 = set.p;
        while (aws_xml_next(set, &c2, "item", &item)) {
            if (n < max)
                parse_instance(item, &out[n]);
            n++;
        }
    }
    return n;
}

const char *aws_ec2_tag(const struct aws_ec2_instance *inst, const char *key)
{
    for (int i = 0; i < inst->ntags; i++)
        if (strcmp(inst->tags[i].key, key) == 0)
            return inst->tags[i].value;
    return NULL;
}

/* --- instances: calls --- */

int aws_ec2_describe_instance(struct aws_client *c, const char *instance_id,
                              struct aws_ec2_instance *out, char *err, size_t errlen)
{
    struct aws_form *f = aws_form_new("DescribeInstances", AWS_EC2_VERSION);
    aws_form_add(f, instance_id, "InstanceId.1");
    struct wm_http_response r;
    int rc = ec2_post(c, f, &r, err, errlen);
    if (rc < 0)
        return ec2_fail("DescribeInstances", rc, err, errlen);
    int n = parse_reservations(&r, out, 1);
    wm_http_response_free(&r);
    if (n == 0) {
        snprintf(err, errlen, "EC2 DescribeInstances: no instance %s", instance_id);
        return -ENOENT;
    }
    return 0;
}

int aws_ec2_find_by_token(struct aws_client *c, const char *token, struct aws_ec2_instance *out,
                          int max, int *count, char *err, size_t errlen)
{
    static const char *const live[] = {"pending", "running", "stopping", "stopped"};
    struct aws_form *f = aws_form_new("DescribeInstances", AWS_EC2_VERSION);
    aws_form_add(f, "tag:" AWS_EC2_TOKEN_TAG, "Filter.1.Name");
    aws_form_add(f, token, "Filter.1.Value.1");
    aws_form_add(f, "instance-state-name", "Filter.2.Name");
    for (int i = 0; i < 4; i++)
        aws_form_add(f, live[i], "Filter.2.Value.%d", i + 1);
    struct wm_http_response r;
    int rc = ec2_post(c, f, &r, err, errlen);
    if (rc < 0)
        return ec2_fail("DescribeInstances", rc, err, errlen);
    *count = parse_reservations(&r, out, max);
    wm_http_response_free(&r);
    return 0;
}

static void add_launch_tags(struct aws_form *f, const struct aws_ec2_launch *l)
{
    const char *keys[] = {"wave", "server", "purpose", AWS_EC2_TOKEN_TAG};
    const char *vals[] = {l->wave, l->server, l->purpose, l->client_token};
    int n = 0;
    aws_form_add(f, "instance", "TagSpecification.1.ResourceType");
    for (int i = 0; i < 4; i++) {
        if (!vals[i])
            continue;
        n++;
        aws_form_add(f, keys[i], "TagSpecification.1.Tag.%d.Key", n);
        aws_form_add(f, vals[i], "TagSpecification.1.Tag.%d.Value", n);
    }
}

static int launch(struct aws_client *c, const struct aws_ec2_launch *l, char *instance_id,
                  char *err, size_t errlen)
{
    struct aws_form *f = aws_form_new("RunInstances", AWS_EC2_VERSION);
    aws_form_add(f, l->image_id, "ImageId");
    aws_form_add(f, l->instance_type ? l->instance_type : "t3.micro", "InstanceType");
    aws_form_add(f, "1", "MinCount");
    aws_form_add(f, "1", "MaxCount");
    aws_form_add(f, l->client_token, "ClientToken");
    if (l->subnet_id)
        aws_form_add(f, l->subnet_id, "SubnetId");
    for (size_t i = 0; i < l->ngroups; i++)
        aws_form_add(f, l->group_ids[i], "SecurityGroupId.%zu", i + 1);
    add_launch_tags(f, l);
    return ec2_post_id(c, "RunInstances", f, "instanceId", instance_id, err, errlen);
}

int aws_ec2_run_instances(struct aws_client *c, const struct aws_ec2_launch *l,
                          char instance_id[AWS_EC2_ID_LEN], int *reused, char *err, size_t errlen)
{
    if (reused)
        *reused = 0;
    if (!l->image_id || !l->client_token || !*l->client_token || l->ngroups > AWS_EC2_MAX_GROUPS) {
        snprintf(err, errlen, "EC2 RunInstances: image, client token and at most %d groups needed",
                 AWS_EC2_MAX_GROUPS);
        return -EINVAL;
    }
    struct aws_ec2_instance found;
    int count = 0;
    int rc = aws_ec2_find_by_token(c, l->client_token, &found, 1, &count, err, errlen);
    if (rc < 0)
        return rc;
    if (count > 0) { /* an earlier attempt launched it */
        snprintf(instance_id, AWS_EC2_ID_LEN, "%s", found.id);
        if (reused)
            *reused = 1;
        wm_info("aws.launch_reused", "instance=%s token=%s", found.id, l->client_token);
        return 0;
    }
    rc = launch(c, l, instance_id, err, errlen);
    if (rc == 0)
        wm_info("aws.launched", "instance=%s token=%s purpose=%s", instance_id, l->client_token,
                l->purpose ? l->purpose : "");
    return rc;
}

int aws_ec2_wait_running(struct aws_client *c, const char *instance_id, long timeout_ms,
                         long poll_ms, struct aws_ec2_instance *out, char *err, size_t errlen)
{
    long deadline = wm_mono_ms() + timeout_ms;
    for (;;) {
        int rc = aws_ec2_describe_instance(c, instance_id, out, err, errlen);
        if (rc < 0)
            return rc;
        if (strcmp(out->state, "running") == 0)
            return 0;
        if (strcmp(out->state, "terminated") == 0 || strcmp(out->state, "shutting-down") == 0) {
            snprintf(err, errlen, "EC2 instance %s is %s, it will not run", instance_id,
                     out->state);
            return -EIO;
        }
        if (wm_mono_ms() + poll_ms > deadline) {
            snprintf(err, errlen, "EC2 instance %s still %s after %ld ms", instance_id,
                     out->state[0] ? out->state : "unknown", timeout_ms);
            return -ETIMEDOUT;
        }
        struct timespec ts = {poll_ms / 1000, (poll_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int aws_ec2_terminate_instance(struct aws_client *c, const char *instance_id, char *err,
                               size_t errlen)
{
    struct aws_form *f = aws_form_new("TerminateInstances", AWS_EC2_VERSION);
    aws_form_add(f, instance_id, "InstanceId.1");
    struct wm_http_response r;
    int rc = ec2_post(c, f, &r, err, errlen);
    if (rc < 0)
        return ec2_fail("TerminateInstances", rc, err, errlen);
    wm_http_response_free(&r);
    return 0;
}

int aws_ec2_modify_groups(struct aws_client *c, const char *instance_id,
                          const char *const *group_ids, size_t ngroups, char *err, size_t errlen)
{
    if (ngroups == 0 || ngroups > AWS_EC2_MAX_GROUPS) {
        snprintf(err, errlen, "EC2 ModifyInstanceAttribute: 1 to %d groups", AWS_EC2_MAX_GROUPS);
        return -EINVAL;
    }
    struct aws_form *f = aws_form_new("ModifyInstanceAttribute", AWS_EC2_VERSION);
    aws_form_add(f, instance_id, "InstanceId");
    for (size_t i = 0; i < ngroups; i++)
        aws_form_add(f, group_ids[i], "GroupId.%zu", i + 1);
    struct wm_http_response r;
    int rc = ec2_post(c, f, &r, err, errlen);
    if (rc < 0)
        return ec2_fail("ModifyInstanceAttribute", rc, err, errlen);
    wm_http_response_free(&r);
    return 0;
}
