/* provider_aws — the "aws" target provider (driver.h) over the EC2 and
 * Route 53 clients (aws.h, aws_ec2.h, aws_r53.h).
 *
 *   check_target    credentials work, the subnet and every security group
 *                   given by id exist (DescribeSubnets / DescribeSecurityGroups)
 *   launch          finds the instance an earlier attempt launched (client
 *                   token of (task id, server, step), as the exec provider's
 *                   WM_CLIENT_TOKEN), else: the isolated test group(s)
 *                   (entries of test_security_group_ids that are names, or
 *                   "wavemill-test-<server>", are created or found and get
 *                   ingress tcp/22 from aws.test_ingress_cidr), a volume per
 *                   replicated disk (see below), CreateSnapshot of the root
 *                   disk's volume, RegisterImage, RunInstances (tags wave,
 *                   server, purpose=test|cutover), DescribeInstances until
 *                   running; the instance id and private address are recorded
 *                   on the server (driver_instance.h).  Both test and cutover
 *                   instances start in the isolated group; post_cutover swaps.
 *   check_instance  the recorded instance is running
 *   switch_network  ModifyInstanceAttribute: the live groups
 *                   (security_group_ids; names are created or found), then a
 *                   Route 53 UPSERT of fqdn → the instance's address in the
 *                   zone servers.settings->>'hosted_zone_id' or
 *                   aws.hosted_zone_id (no zone configured: no DNS change,
 *                   logged)
 *   terminate       TerminateInstances of the recorded instance (gone = done)
 *   cmdb_update     AWS has no CMDB: nothing (the cmdb_update step uses
 *                   cmdb.url when it is configured)
 *
 * Volumes: the receiver writes each replicated disk to an image file
 * (disks.target_volume).  Importing that image into EBS (ImportSnapshot or
 * the EBS direct APIs) is not implemented: launch creates an empty EBS
 * volume of the disk's size as its stand-in, records it in
 * disks.cloud_volume_id and builds the image from it.  Against moto this is
 * the whole story; on real AWS the instance would boot an empty disk.
 *
 * Credentials: the credential named by servers.settings->>'aws_credential',
 * else by aws.credential (value "ACCESS_KEY_ID:SECRET"), from the store under
 * secrets.master_key; else aws.access_key_id / aws.secret_access_key.
 * Throttling and 5xx answers are retried by the client (backoff, jitter);
 * any other AWS error fails the task with AWS's code and message. */
#ifndef WM_PROVIDER_AWS_H
#define WM_PROVIDER_AWS_H

#include <stddef.h>

#include "driver.h"

struct wm_config;

/* Declares aws.* (aws_declare) and the provider's own keys:
 * aws.hosted_zone_id, aws.availability_zone, aws.test_ingress_cidr,
 * aws.launch_timeout, aws.dns_ttl. */
int provider_aws_declare(struct wm_config *cfg, char *err, size_t errlen);

extern const struct provider_driver provider_aws_driver;

#endif
