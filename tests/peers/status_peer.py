"""An independent consumer of wm.status: decodes every message with
fastavro and schemas/status.avsc alone (single-object encoding: C3 01, the
schema's CRC-64-AVRO fingerprint, the datum) and checks what a monitoring
tool relies on.

  status_peer.py STATUS.avsc DUMP IDS.json EXPECT.json
DUMP: `kcat -C -f '%p %o %K\\n%k%R%s'` output.  IDS.json: {"servers":
{name: id}, "waves": {name: id}, "sim": [server names]}.  EXPECT.json:
{"wave": NAME, "states": [wave states in order], "sources": [sources the
wave events must carry]}."""
import io
import json
import struct
import sys

from fastavro import parse_schema, schemaless_reader
from fastavro.schema import fingerprint, to_parsing_canonical_form

CHECKS = 0


def ok(cond, what):
    global CHECKS
    if not cond:
        print(f"FAIL: {what}", flush=True)
        sys.exit(1)
    CHECKS += 1
    print(f"ok: {what}", flush=True)


def read_dump(data):
    pos, out = 0, []
    while pos < len(data):
        nl = data.index(b"\n", pos)
        p, o, klen = data[pos:nl].decode().split(" ")
        pos = nl + 1
        klen = int(klen)
        key = data[pos:pos + max(klen, 0)].decode()
        pos += max(klen, 0)
        (vlen,) = struct.unpack(">i", data[pos:pos + 4])
        pos += 4
        out.append((int(p), int(o), key, data[pos:pos + vlen]))
        pos += vlen
    return out


def main():
    with open(sys.argv[1]) as f:
        schema = parse_schema(json.load(f))
    fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))[::-1]
    with open(sys.argv[2], "rb") as f:
        msgs = read_dump(f.read())
    with open(sys.argv[3]) as f:
        ids = json.load(f)
    with open(sys.argv[4]) as f:
        want = json.load(f)
    ok(len(msgs) > 0, f"{len(msgs)} messages on wm.status")
    events = []
    for p, o, key, v in msgs:
        ok(v[:2] == b"\xc3\x01", f"p{p}@{o}: single-object magic") if not v[:2] == b"\xc3\x01" else None
        if v[2:10] not in (fp, fp[::-1]):
            ok(False, f"p{p}@{o}: fingerprint {v[2:10].hex()} is not status.avsc's {fp.hex()}")
        events.append((p, o, key, schemaless_reader(io.BytesIO(v[10:]), schema)))
    ok(True, f"every message decoded with status.avsc alone ({len(events)})")
    bad = [(e["type"], e["server"], e["wave"], key) for p, o, key, e in events
           if (e["type"] in ("task", "progress", "server") and key != str(ids["servers"][e["server"]]))
           or (e["type"] == "wave" and key != str(ids["waves"][e["wave"]]))]
    ok(not bad, f"server events keyed by server id, wave events by wave id (bad: {bad[:5]})")
    parts = {}
    for p, o, key, e in events:
        if e["server"]:
            parts.setdefault(e["server"], set()).add(p)
    ok(all(len(s) == 1 for s in parts.values()), f"each server's events in one partition ({parts})")
    sim = set(ids["sim"])
    notsim = [(e["type"], e["state"], e["server"]) for p, o, k, e in events
              if e["server"] in sim and not e["simulated"]]
    ok(not notsim, f"simulated on every event of a sim server (not: {notsim[:5]})")
    wave_ev = sorted(((e["time"], o, e) for p, o, k, e in events
                      if e["type"] == "wave" and e["wave"] == want["wave"]), key=lambda x: x[:2])
    states = [e["state"] for _, _, e in wave_ev]
    ok(states == want["states"], f"wave transitions {states} == {want['states']}")
    sources = [e["source"] for _, _, e in wave_ev]
    for s in want["sources"]:
        ok(s in sources, f"a wave event from {s} ({sources})")
    msgs_text = [e["message"] or "" for _, _, e in wave_ev]
    ok(any("cutover" in m and "opens at" in m for m in msgs_text), f"window set published ({msgs_text})")
    created = [e for p, o, k, e in events if e["type"] == "wave" and e["state"] == "CREATED"]
    ok(created, "a created wave is published")
    print(f"all {CHECKS} status stream checks passed")


if __name__ == "__main__":
    main()
