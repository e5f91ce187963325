#!/usr/bin/env python3
"""Operator script of the demo for the `exec` provider (docs/provider-exec.md):
the target side is EC2 and Route 53 on a local moto server (AWS_ENDPOINT_URL).

  provider_moto.py STEP      STEP and WM_* as the exec provider documents

Launches find their instance by the wm-token tag first (WM_CLIENT_TOKEN), so
a retried step never launches twice.  Prints one JSON object on stdout."""
import json
import os
import sys

import boto3

REGION = "us-east-1"
ENDPOINT = os.environ["AWS_ENDPOINT_URL"]


def client(name):
    return boto3.client(name, region_name=REGION, endpoint_url=ENDPOINT,
                        aws_access_key_id="demo", aws_secret_access_key="demo")


def env(name):
    return os.environ.get(name, "")


def group_id(ec2, name):
    """The security group NAME in the default VPC, created if missing."""
    found = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]}])
    if found["SecurityGroups"]:
        return found["SecurityGroups"][0]["GroupId"]
    gid = ec2.create_security_group(GroupName=name, Description="wavemill demo " + name)["GroupId"]
    if name.startswith("sg-test") or "test" in name:
        return gid  # isolated: no ingress at all
    ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
        "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    return gid


def instances(ec2, filters):
    out = []
    for r in ec2.describe_instances(Filters=filters)["Reservations"]:
        out += [i for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    return out


def launch(purpose):
    ec2 = client("ec2")
    token = env("WM_CLIENT_TOKEN")
    mine = instances(ec2, [{"Name": "tag:wm-token", "Values": [token]}])
    if mine:
        return {"instance_id": mine[0]["InstanceId"], "address": mine[0].get("PrivateIpAddress", ""),
                "reused": True}
    groups = env("WM_TEST_SECURITY_GROUP_IDS" if purpose == "test" else "WM_SECURITY_GROUP_IDS")
    gids = [group_id(ec2, g) for g in groups.split(",") if g]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    tags = json.loads(env("WM_TAGS") or "{}")
    tags.update({"wave": env("WM_WAVE"), "server": env("WM_SERVER"), "purpose": purpose,
                 "wm-token": token})
    inst = ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, InstanceType=env("WM_INSTANCE_TYPE") or "t3.micro",
        SecurityGroupIds=gids, ClientToken=token,
        TagSpecifications=[{"ResourceType": "instance",
                            "Tags": [{"Key": k, "Value": str(v)} for k, v in tags.items()]}],
    )["Instances"][0]
    return {"instance_id": inst["InstanceId"], "address": inst.get("PrivateIpAddress", "")}


def check(purpose):
    ec2 = client("ec2")
    mine = instances(ec2, [{"Name": "tag:server", "Values": [env("WM_SERVER")]},
                           {"Name": "tag:purpose", "Values": [purpose]}])
    if not mine:
        raise SystemExit("no %s instance of %s" % (purpose, env("WM_SERVER")))
    states = {i["InstanceId"]: i["State"]["Name"] for i in mine}
    if any(s != "running" for s in states.values()):
        raise SystemExit("%s instance not running: %s" % (purpose, states))
    return {"instances": states}


def terminate(purpose):
    ec2 = client("ec2")
    ids = [i["InstanceId"] for i in instances(ec2, [
        {"Name": "tag:server", "Values": [env("WM_SERVER")]}, {"Name": "tag:purpose", "Values": [purpose]}])]
    if ids:
        ec2.terminate_instances(InstanceIds=ids)
    return {"terminated": ids}


def post_cutover():
    ec2, r53 = client("ec2"), client("route53")
    cut = instances(ec2, [{"Name": "tag:server", "Values": [env("WM_SERVER")]},
                          {"Name": "tag:purpose", "Values": ["cutover"]}])
    if not cut:
        raise SystemExit("no cutover instance of %s" % env("WM_SERVER"))
    live = [group_id(ec2, g) for g in env("WM_SECURITY_GROUP_IDS").split(",") if g]
    ec2.modify_instance_attribute(InstanceId=cut[0]["InstanceId"], Groups=live)
    fqdn = env("WM_SERVER_FQDN") or env("WM_SERVER") + ".demo.internal"
    zone = fqdn.split(".", 1)[1] + "."
    zones = [z for z in r53.list_hosted_zones()["HostedZones"] if z["Name"] == zone]
    zid = zones[0]["Id"] if zones else r53.create_hosted_zone(
        Name=zone, CallerReference="wm-" + zone)["HostedZone"]["Id"]
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": [{
        "Action": "UPSERT", "ResourceRecordSet": {
            "Name": fqdn, "Type": "A", "TTL": 60,
            "ResourceRecords": [{"Value": cut[0].get("PrivateIpAddress") or "10.0.0.10"}]}}]})
    return {"dns": fqdn, "instance_id": cut[0]["InstanceId"]}


def revert_network():
    """Undo post_cutover: the cutover instance back in its test groups and the
    DNS record gone (the name resolves to the source's own record again)."""
    ec2, r53 = client("ec2"), client("route53")
    cut = instances(ec2, [{"Name": "tag:server", "Values": [env("WM_SERVER")]},
                          {"Name": "tag:purpose", "Values": ["cutover"]}])
    test = [group_id(ec2, g) for g in env("WM_TEST_SECURITY_GROUP_IDS").split(",") if g]
    for inst in cut:
        if test:
            ec2.modify_instance_attribute(InstanceId=inst["InstanceId"], Groups=test)
    fqdn = env("WM_SERVER_FQDN") or env("WM_SERVER") + ".demo.internal"
    zone = fqdn.split(".", 1)[1] + "."
    removed = []
    for z in r53.list_hosted_zones()["HostedZones"]:
        if z["Name"] != zone:
            continue
        for rr in r53.list_resource_record_sets(HostedZoneId=z["Id"])["ResourceRecordSets"]:
            if rr["Name"].rstrip(".") == fqdn.rstrip(".") and rr["Type"] == "A":
                r53.change_resource_record_sets(HostedZoneId=z["Id"], ChangeBatch={
                    "Changes": [{"Action": "DELETE", "ResourceRecordSet": rr}]})
                removed.append(rr["Name"])
    return {"dns_removed": removed}


def cmdb_update():
    path = os.environ.get("DEMO_CMDB_FILE")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"server": env("WM_SERVER"), "status": "migrated"}) + "\n")
    return {"cmdb": "migrated"}


STEPS = {
    "check_target": lambda: {"regions": len(client("ec2").describe_regions()["Regions"])},
    "launch_test": lambda: launch("test"),
    "check_test": lambda: check("test"),
    "terminate_test": lambda: terminate("test"),
    "launch_cutover": lambda: launch("cutover"),
    "check_cutover": lambda: check("cutover"),
    "terminate_cutover": lambda: terminate("cutover"),
    "post_cutover": post_cutover,
    "revert_network": revert_network,
    "cmdb_update": cmdb_update,
}

if __name__ == "__main__":
    step = sys.argv[1] if len(sys.argv) > 1 else ""
    if step not in STEPS:
        sys.exit("unknown step %r" % step)
    print(json.dumps(STEPS[step]()))
