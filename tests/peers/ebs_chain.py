#!/usr/bin/env python3
"""Independent checks of wavemill's EBS export, against a moto server, with
boto3 and hashlib (nothing from wavemill).

moto does not implement ParentSnapshotId (a child snapshot holds only the
blocks put into it), so a disk is reassembled from wavemill's chain: the
root snapshot first, then each child, later blocks winning.

    ebs_chain.py reassemble --endpoint URL --size BYTES --out FILE SNAP...
        writes the disk the chain describes; checks every block's stored
        checksum equals base64(SHA-256(data)) and its length is 512 KiB;
        prints {"blocks": [per snapshot count], "checksum_errors": n}
    ebs_chain.py blocks --endpoint URL SNAP
        prints the snapshot's block indexes, one per line
    ebs_chain.py aggregate --endpoint URL SNAP
        prints base64(SHA-256(concat of the blocks' SHA-256 in index order)),
        the LINEAR aggregate checksum of what the snapshot holds
    ebs_chain.py changed OLD NEW
        prints how many 512 KiB blocks differ between two files (the
        shorter one padded with zeros)
    ebs_chain.py nonzero FILE
        prints how many 512 KiB blocks of FILE are not all zeros
    ebs_chain.py describe --endpoint URL SNAP
        prints the EC2 snapshot's state, volume size and tags as JSON
Credentials: any (moto accepts all); region us-east-1.
"""
import argparse
import base64
import hashlib
import json
import os
import sys

BS = 512 * 1024


def client(endpoint, service="ebs"):
    import boto3
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"))


def block_indexes(ebs, snap):
    out, token = [], None
    while True:
        kw = {"SnapshotId": snap}
        if token:
            kw["NextToken"] = token
        r = ebs.list_snapshot_blocks(**kw)
        out += [b["BlockIndex"] for b in r.get("Blocks", [])]
        token = r.get("NextToken")
        if not token:
            return sorted(out)


def get_block(ebs, snap, idx):
    r = ebs.get_snapshot_block(SnapshotId=snap, BlockIndex=idx, BlockToken="unused-by-moto")
    return r["BlockData"].read(), r.get("Checksum")


def reassemble(a):
    ebs = client(a.endpoint)
    counts, bad = [], 0
    with open(a.out, "wb") as f:
        f.truncate(a.size)
        for snap in a.snaps:
            idxs = block_indexes(ebs, snap)
            counts.append(len(idxs))
            for i in idxs:
                data, checksum = get_block(ebs, snap, i)
                want = base64.b64encode(hashlib.sha256(data).digest()).decode()
                if len(data) != BS or checksum != want:
                    bad += 1
                    print(f"block {i} of {snap}: {len(data)} bytes, checksum {checksum}, "
                          f"sha256 {want}", file=sys.stderr)
                f.seek(i * BS)
                f.write(data)
        f.truncate(a.size)  # the last block is padded with zeros on EBS
    print(json.dumps({"blocks": counts, "checksum_errors": bad}))
    return 0


def aggregate(a):
    ebs = client(a.endpoint)
    h = hashlib.sha256()
    for i in block_indexes(ebs, a.snap):
        data, _ = get_block(ebs, a.snap, i)
        h.update(hashlib.sha256(data).digest())
    print(base64.b64encode(h.digest()).decode())
    return 0


def chunks(path):
    with open(path, "rb") as f:
        while True:
            b = f.read(BS)
            if not b:
                return
            yield b + bytes(BS - len(b))


def changed(a):
    old, new = list(chunks(a.old)), list(chunks(a.new))
    n = max(len(old), len(new))
    zero = bytes(BS)
    old += [zero] * (n - len(old))
    new += [zero] * (n - len(new))
    print(sum(1 for x, y in zip(old, new) if x != y))
    return 0


def nonzero(a):
    zero = bytes(BS)
    print(sum(1 for b in chunks(a.file) if b != zero))
    return 0


def describe(a):
    ec2 = client(a.endpoint, "ec2")
    s = ec2.describe_snapshots(SnapshotIds=[a.snap])["Snapshots"][0]
    print(json.dumps({"state": s["State"], "volume_size": s["VolumeSize"],
                      "description": s.get("Description", ""),
                      "tags": {t["Key"]: t["Value"] for t in s.get("Tags", [])}}))
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reassemble")
    r.add_argument("--endpoint", required=True)
    r.add_argument("--size", type=int, required=True)
    r.add_argument("--out", required=True)
    r.add_argument("snaps", nargs="+")
    for name in ("blocks", "aggregate", "describe"):
        p = sub.add_parser(name)
        p.add_argument("--endpoint", required=True)
        p.add_argument("snap")
    c = sub.add_parser("changed")
    c.add_argument("old")
    c.add_argument("new")
    z = sub.add_parser("nonzero")
    z.add_argument("file")
    a = ap.parse_args()
    if a.cmd == "blocks":
        print("\n".join(str(i) for i in block_indexes(client(a.endpoint), a.snap)))
        return 0
    return {"reassemble": reassemble, "aggregate": aggregate, "changed": changed,
            "nonzero": nonzero, "describe": describe}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
