#!/usr/bin/env python3
"""Independent Avro implementation (fastavro) for wavemill's interop tests.

    avro_peer.py fingerprint SCHEMA.avsc...
        prints "<path>\t<fingerprint>\t<canonical form>" per schema; the
        fingerprint is CRC-64-AVRO as 16 hex digits of its 8 bytes in the
        order they appear in a single-object header (little-endian).

    avro_peer.py batch DIR SCHEMA.avsc...
        one run for a whole test (Python starts slowly):
        - DIR/fingerprints.tsv: the line above for every SCHEMA and DIR/*.avsc;
        - for every DIR/X.wm.bin (single-object message written by wavemill):
          checks magic and that the fingerprint is fastavro's for one of the
          SCHEMAs, decodes the datum with schemaless_reader after the 10-byte
          header and compares it with DIR/X.expect.json; writes DIR/X.result
          ("ok" or "FAIL: why");
        - for every DIR/Y.py.json ({"schema": "task", "datum": {...}}): writes
          DIR/Y.py.bin, a single-object message encoded by fastavro.

    avro_peer.py stream SCHEMA.avsc < MESSAGES
        decodes a stream of Kafka message values as written by
        `kcat -C -f '%R%s'` (4-byte big-endian length, then the value): each
        must be a single-object message of SCHEMA.  Prints one JSON object:
        {"decoded": N, "failed": N, "errors": [...], "counts": {"type/state": N}}.
"""
import glob
import io
import json
import os
import sys

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

MAGIC = b"\xc3\x01"


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def fp_bytes(schema):
    canon = to_parsing_canonical_form(schema)
    return canon, bytes.fromhex(fingerprint(canon, "CRC-64-AVRO"))


def strip_logical(schema):
    """Datums are compared as plain numbers/strings: drop logicalType so
    fastavro does not turn timestamps into datetimes or uuids into UUIDs.
    The binary encoding and the fingerprint do not change."""
    if isinstance(schema, dict):
        return {k: strip_logical(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [strip_logical(s) for s in schema]
    return schema


class Schemas:
    def __init__(self, paths):
        self.by_fp, self.by_name = {}, {}
        for p in paths:
            raw = load(p)
            _, fp = fp_bytes(raw)
            parsed = parse_schema(strip_logical(raw))
            name = os.path.basename(p)[: -len(".avsc")]
            self.by_fp[fp] = (name, parsed)
            self.by_name[name] = (fp, parsed)

    def decode(self, msg):
        if len(msg) < 10 or msg[:2] != MAGIC:
            raise ValueError("bad magic or too short")
        if msg[2:10] not in self.by_fp:
            raise ValueError("fingerprint %s is not fastavro's for any schema" % msg[2:10].hex())
        name, parsed = self.by_fp[msg[2:10]]
        buf = io.BytesIO(msg[10:])
        datum = schemaless_reader(buf, parsed, None)
        if buf.tell() != len(msg) - 10:
            raise ValueError("%d trailing bytes" % (len(msg) - 10 - buf.tell()))
        return name, datum

    def encode(self, name, datum):
        fp, parsed = self.by_name[name]
        buf = io.BytesIO()
        schemaless_writer(buf, parsed, datum)
        return MAGIC + fp + buf.getvalue()


def fingerprint_lines(paths):
    out = []
    for p in paths:
        canon, fp = fp_bytes(load(p))
        out.append("%s\t%s\t%s\n" % (p, fp.hex(), canon))
    return out


def check_wm_message(schemas, bin_path):
    base = bin_path[: -len(".wm.bin")]
    try:
        with open(bin_path, "rb") as f:
            _, datum = schemas.decode(f.read())
        expect = load(base + ".expect.json")
        if datum != expect:
            return "FAIL: decoded %r, expected %r" % (datum, expect)
        return "ok"
    except Exception as e:  # reported to the C test, which fails on it
        return "FAIL: %s: %s" % (type(e).__name__, e)


def batch(d, schema_paths):
    schemas = Schemas(schema_paths)
    avsc = schema_paths + sorted(glob.glob(os.path.join(d, "*.avsc")))
    with open(os.path.join(d, "fingerprints.tsv"), "w", encoding="utf-8") as f:
        f.writelines(fingerprint_lines(avsc))
    for p in sorted(glob.glob(os.path.join(d, "*.wm.bin"))):
        res = check_wm_message(schemas, p)
        with open(p[: -len(".wm.bin")] + ".result", "w", encoding="utf-8") as f:
            f.write(res + "\n")
        print(os.path.basename(p), res)
    for p in sorted(glob.glob(os.path.join(d, "*.py.json"))):
        req = load(p)
        with open(p[: -len(".json")] + ".bin", "wb") as f:
            f.write(schemas.encode(req["schema"], req["datum"]))
        print(os.path.basename(p), "encoded")


def stream(schema_path, data):
    """Every message of the stream against one schema, by fastavro alone."""
    schema = strip_logical(load(schema_path))
    parsed = parse_schema(schema)
    _, fp = fp_bytes(schema)
    out = {"decoded": 0, "failed": 0, "errors": [], "counts": {}}
    pos = 0
    while pos + 4 <= len(data):
        n = int.from_bytes(data[pos : pos + 4], "big", signed=True)
        msg = data[pos + 4 : pos + 4 + max(n, 0)]
        pos += 4 + max(n, 0)
        try:
            if msg[:2] != MAGIC or msg[2:10] != fp:
                raise ValueError("header is not C3 01 + the schema's fingerprint")
            body = io.BytesIO(msg[10:])
            datum = schemaless_reader(body, parsed)
            if body.read(1):
                raise ValueError("trailing bytes after the datum")
            key = "%s/%s" % (datum["type"], datum["state"])
            out["counts"][key] = out["counts"].get(key, 0) + 1
            out["decoded"] += 1
        except Exception as e:  # any failure is a finding, reported not raised
            out["failed"] += 1
            if len(out["errors"]) < 5:
                out["errors"].append(str(e))
    if pos != len(data):
        out["failed"] += 1
        out["errors"].append("stream ends inside a message")
    json.dump(out, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


def main(argv):
    if len(argv) >= 2 and argv[0] == "fingerprint":
        sys.stdout.writelines(fingerprint_lines(argv[1:]))
        return 0
    if len(argv) >= 3 and argv[0] == "batch":
        batch(argv[1], argv[2:])
        return 0
    if len(argv) == 2 and argv[0] == "stream":
        stream(argv[1], sys.stdin.buffer.read())
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
