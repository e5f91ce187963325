"""Test peer for wavemill-api: an HTTP client written from the API's
contract (api/api.h), independent of the C code.  `api_peer.py rest` runs
every check; it exits non-zero at the first failure with what differed.

Environment: API_URL, VIEWER, OPERATOR, ADMIN (tokens), SECRET_VALUE (a
credential value and server setting that must never appear in a reply)."""
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

API = os.environ["API_URL"]
V, O, A = os.environ["VIEWER"], os.environ["OPERATOR"], os.environ["ADMIN"]
SECRET = os.environ["SECRET_VALUE"]
SEEN = []  # every reply body, for the secret scan at the end
CHECKS = 0


def ok(cond, what):
    global CHECKS
    if not cond:
        print(f"FAIL: {what}", flush=True)
        sys.exit(1)
    CHECKS += 1
    print(f"ok: {what}", flush=True)


def call(method, path, token=None, body=None, raw=None, ctype="application/json"):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(API + path, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    SEEN.append(text)
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def expect(method, path, token, status, body=None, field=None, what=None, **kw):
    st, js = call(method, path, token, body, **kw)
    label = what or f"{method} {path} -> {status}"
    ok(st == status, f"{label} (got {st}: {str(js)[:300]})")
    if field is not None:
        ok(isinstance(js, dict) and js.get("field") == field,
           f"{label}: error names field {field!r} (got {js})")
    return js


def wait_for(fn, what, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.3)
    ok(False, f"timed out waiting for {what}")


# --- sections ---

def auth():
    expect("GET", "/api/v1/waves", None, 401, what="no token: 401")
    expect("GET", "/api/v1/waves", "wmt_" + "0" * 64, 401, what="unknown token: 401")
    expect("GET", "/api/v1/waves", "garbage", 401, what="malformed token: 401")
    js = expect("GET", "/api/v1/whoami", V, 200)
    ok(js == {"name": "viewer1", "role": "viewer"}, f"whoami viewer1 viewer ({js})")


def reads():
    js = expect("GET", "/api/v1/waves", V, 200)
    ok([w["name"] for w in js["items"]] == ["w1"], "waves lists w1")
    w = expect("GET", "/api/v1/waves/w1", V, 200)
    ok(w["servers"] == 3 and w["status"] == "CREATED", f"wave w1: 3 servers, CREATED ({w})")
    expect("GET", "/api/v1/waves/nope", V, 404, what="unknown wave: 404")
    js = expect("GET", "/api/v1/servers?wave=w1", V, 200)
    ok(len(js["items"]) == 3, "3 servers in w1")
    s1 = [s for s in js["items"] if s["name"] == "w1-s1"][0]
    ok(len(s1["disks"]) == 2 and s1["disks"][0]["size_bytes"] == 10737418240, "server disks")
    ok("settings" not in s1 and "credential" not in s1, "no settings or credential in a server")
    expect("GET", "/api/v1/servers/w1-s1", V, 200)
    expect("GET", "/api/v1/servers/nope", V, 404, what="unknown server: 404")
    js = expect("GET", "/api/v1/disks?server=w1-s2", V, 200)
    ok(len(js["items"]) == 2, "disks filtered by server")
    expect("GET", "/api/v1/applications", V, 200)
    expect("GET", "/api/v1/nothing", V, 404, what="unknown collection: 404")
    js = expect("GET", "/api/v1/actions", V, 200)
    names = {a["name"] for a in js["items"]}
    ok({"wave.start", "wave.pause", "wave.resume", "wave.cutover", "server.retry",
        "server.skip"} <= names, f"action table served ({sorted(names)})")
    ok([a["confirm"] for a in js["items"] if a["name"] == "wave.cutover"] == [True],
       "cutover asks for confirmation")


def pagination():
    p1 = expect("GET", "/api/v1/servers?limit=2", V, 200)
    ok(len(p1["items"]) == 2 and p1["next_after"] == p1["items"][1]["id"], "page 1 of 2")
    p2 = expect("GET", f"/api/v1/servers?limit=2&after={p1['next_after']}", V, 200)
    ok(len(p2["items"]) == 1 and p2["next_after"] is None, "page 2 is the last")
    ids = [s["id"] for s in p1["items"] + p2["items"]]
    ok(len(set(ids)) == 3 and ids == sorted(ids), "pages cover every server once, in order")
    expect("GET", "/api/v1/servers?limit=0", V, 400, field="limit")
    expect("GET", "/api/v1/servers?limit=abc", V, 400, field="limit")
    expect("GET", "/api/v1/servers?limit=501", V, 400, field="limit")
    expect("GET", "/api/v1/servers?after=-1", V, 400, field="after")


def actions():
    base = "/api/v1/waves/w1/actions/"
    expect("POST", base + "start", V, 403, {}, what="viewer may not start: 403")
    js = expect("POST", base + "start", O, 200, {})
    ok(js["changed"] is True, "operator starts w1")
    js = expect("POST", base + "start", O, 200, {})
    ok(js["changed"] is False, f"second start changes nothing ({js.get('note')})")
    expect("POST", base + "pause", O, 200, {})
    expect("POST", base + "start", O, 409, {}, what="start a PAUSED wave: 409")
    ok(expect("GET", "/api/v1/waves/w1", V, 200)["status"] == "PAUSED", "w1 PAUSED")
    expect("POST", base + "resume", O, 200, {})
    ok(expect("GET", "/api/v1/waves/w1", V, 200)["status"] == "RUNNING", "w1 RUNNING again")
    expect("POST", base + "cutover", O, 400, {"at": "bogus"}, field="at")
    expect("POST", base + "pause", O, 400, {"zzz": 1}, field="zzz")
    expect("POST", base + "pause", O, 400, raw=b"{not json", field="body")
    expect("POST", base + "explode", O, 404, {}, field="action")
    expect("POST", "/api/v1/waves/nope/actions/pause", O, 404, {})
    expect("POST", "/api/v1/waves", O, 400, {"max_parallel": 2}, field="name")
    expect("POST", "/api/v1/waves", O, 400, {"name": "w2", "max_parallel": 0}, field="max_parallel")
    expect("POST", "/api/v1/waves", O, 201, {"name": "w2", "max_parallel": 2,
                                             "cutover_at": "2031-01-01T03:00:00Z"})
    expect("POST", "/api/v1/waves", O, 409, {"name": "w2"}, what="create an existing wave: 409")
    expect("POST", "/api/v1/waves", V, 403, {"name": "w9"}, what="viewer may not create: 403")
    w2 = expect("GET", "/api/v1/waves/w2", V, 200)
    ok(w2["max_parallel"] == 2 and w2["cutover_at"] == "2031-01-01T03:00:00Z", f"w2 as created ({w2})")
    sb = "/api/v1/servers/w1-s1/actions/"
    expect("POST", sb + "retry", O, 409, {}, what="retry a server that is not FAILED: 409")
    expect("POST", sb + "skip", O, 400, {}, field="task")
    expect("POST", sb + "skip", O, 400, {"task": "bogus"}, field="task")
    expect("POST", sb + "retry", V, 403, {}, what="viewer may not retry: 403")


def intake():
    head = ("wave_name,app_name,server_name,server_fqdn,server_os_family,server_os_version,"
            "source_host,source_port,source_user,credential,disks,target_provider\n")
    good = (head + "w3,app3,w3-s1,w3-s1.example,linux,Debian 12,10.0.0.5,22,root,,/dev/sda:1G,sim\n").encode()
    js = expect("POST", "/api/v1/intake?dry_run=1", O, 200, raw=good, ctype="text/csv")
    ok(js["dry_run"] is True and js["servers"]["created"] == 1, f"dry run counts ({js})")
    expect("GET", "/api/v1/servers/w3-s1", V, 404, what="dry run wrote nothing")
    bad = (head + "w3,app3,w3-s1,w3-s1.example,linux,Debian 12,10.0.0.5,22,root,,/dev/sda:1G,sim\n"
           + "w3,app3,w3-s2,,linux,Debian 12,10.0.0.6,99999,root,,/dev/sda:1G,sim\n").encode()
    js = expect("POST", "/api/v1/intake", O, 400, raw=bad, ctype="text/csv")
    ok(js.get("line") == 3 and "3" in js["error"], f"bad row named by line number ({js})")
    expect("GET", "/api/v1/servers/w3-s1", V, 404, what="a refused upload writes nothing")
    expect("POST", "/api/v1/intake", V, 403, raw=good, ctype="text/csv")
    js = expect("POST", "/api/v1/intake", O, 201, raw=good, ctype="text/csv")
    expect("GET", "/api/v1/servers/w3-s1", V, 200, what="upload imported w3-s1")


def tokens():
    expect("GET", "/api/v1/tokens", V, 403, what="viewer may not list tokens")
    expect("GET", "/api/v1/tokens", O, 403, what="operator may not list tokens")
    js = expect("GET", "/api/v1/tokens", A, 200)
    ok({t["name"] for t in js["items"]} >= {"viewer1", "operator1", "admin1"}, "admin lists tokens")
    ok(all("secret_sha256" not in t and "token" not in t for t in js["items"]), "no hash in the list")
    expect("POST", "/api/v1/tokens", O, 403, {"name": "t2", "role": "viewer"})
    expect("POST", "/api/v1/tokens", A, 400, {"name": "t2", "role": "root"}, field="role")
    expect("POST", "/api/v1/tokens", A, 400, {"name": "t2", "role": "viewer", "expires_s": "soon"},
           field="expires_s")
    expect("POST", "/api/v1/tokens", A, 400, {"name": "bad name", "role": "viewer"}, field="name")
    js = expect("POST", "/api/v1/tokens", A, 201, {"name": "t2", "role": "viewer"})
    t2 = js["token"]
    SEEN.pop()  # the one reply that carries a secret by design: the new token, once
    ok(expect("GET", "/api/v1/whoami", t2, 200)["name"] == "t2", "the new token works")
    expect("POST", "/api/v1/tokens", A, 409, {"name": "t2", "role": "viewer"})
    expect("DELETE", "/api/v1/tokens/t2", A, 200)
    expect("GET", "/api/v1/whoami", t2, 401, what="a revoked token: 401")
    expect("DELETE", "/api/v1/tokens/t2", A, 404, what="revoke twice: 404")
    return t2


def audit():
    rows = expect("GET", "/api/v1/audit?limit=500", A, 200)["items"]
    expect("GET", "/api/v1/audit", O, 403, what="operator may not read the audit log")

    def has(action, token, result="ok", **kw):
        return any(r["action"] == action and r["token"] == token and r["source"] == "api"
                   and r["result"] == result and all(r.get(k) == v for k, v in kw.items())
                   for r in rows)
    ok(has("wave.start", "operator1", wave="w1"), "audit: wave.start by operator1 via api")
    ok(has("wave.pause", "operator1", wave="w1") and has("wave.resume", "operator1", wave="w1"),
       "audit: pause and resume")
    ok(has("wave.start", "viewer1", "refused", wave="w1"), "audit: the viewer's refused start")
    ok(has("wave.create", "operator1", wave="w2"), "audit: wave.create w2")
    ok(has("import", "operator1"), "audit: the intake upload")
    ok(has("token.create", "admin1") and has("token.revoke", "admin1"), "audit: token create/revoke")
    n_start = sum(1 for r in rows if r["action"] == "wave.start" and r["result"] == "ok")
    ok(n_start == 1, f"a start that changed nothing leaves no row ({n_start})")


def tasks_and_events():
    js = wait_for(lambda: (lambda j: j if j["items"] else None)(
        call("GET", "/api/v1/tasks?wave=w1", V)[1]), "tasks of w1")
    tid = js["items"][0]["id"]
    ev = expect("GET", f"/api/v1/tasks/{tid}/events", V, 200)
    ok(len(ev["items"]) >= 1 and all(e["task_id"] == tid for e in ev["items"]), "a task's events")
    expect("GET", "/api/v1/tasks/abc/events", V, 400, field="id")
    js = expect("GET", "/api/v1/servers/w1-s1/events?limit=500", V, 200)
    ok(all(e["server"] == "w1-s1" for e in js["items"]) and js["items"], "a server's timeline")
    js = expect("GET", "/api/v1/tasks?state=NOPE", V, 200)
    ok(js["items"] == [], "a filter that matches nothing")


# --- server-sent events ---

def sse_open(query, last_id=None, token=V):
    """A raw HTTP/1.1 client: returns (status, reader of (id, event) pairs)."""
    u = urllib.parse.urlparse(API)
    s = socket.create_connection((u.hostname, u.port), timeout=30)
    hdr = f"GET /api/v1/stream{query} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
    if token:
        hdr += f"Authorization: Bearer {token}\r\n"
    if last_id:
        hdr += f"Last-Event-ID: {last_id}\r\n"
    s.sendall((hdr + "\r\n").encode())
    f = s.makefile("rb")
    status = int(f.readline().split()[1])
    while f.readline() not in (b"\r\n", b""):
        pass
    return status, s, f


def sse_events(f, n):
    """n status events as (id, data) from a chunked event stream."""
    out, cur, buf = [], {}, b""
    while len(out) < n:
        size = int(f.readline().strip() or b"0", 16)
        if size == 0:
            break
        buf += f.read(size)
        f.readline()
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            line = line.decode()
            if line == "":
                if "data" in cur:
                    out.append((cur["id"], json.loads(cur["data"])))
                cur = {}
            elif line.startswith(":"):
                continue
            else:
                k, _, v = line.partition(": ")
                cur[k] = v
    return out


def pos(event_id):
    return {int(p): int(o) for p, o in (x.split(":") for x in event_id.split(","))}


def placed(events, start):
    """(partition, offset) of each event: where its id moved from the one before."""
    out, prev = [], pos(start)
    for eid, e in events:
        cur = pos(eid)
        moved = [p for p in cur if cur[p] != prev.get(p)]
        ok(len(moved) == 1, f"each event moves one partition's position ({prev} -> {cur})")
        out.append((moved[0], cur[moved[0]], e["event_id"]))
        prev = cur
    return out


def sse():
    st, s, f = sse_open("", token=None)
    ok(st == 401, f"stream without token: 401 ({st})")
    s.close()
    st, s, f = sse_open("?token=" + V, token=None)
    ok(st == 200, "stream with ?token= (EventSource style)")
    first = sse_events(f, 16)
    s.close()
    ok(len(first) == 16, f"16 live events from a running wave ({len(first)})")
    ok(all(e["type"] in ("task", "progress", "server", "wave") for _, e in first), "typed events")
    a = placed(first[1:], first[0][0])
    resume_at = first[3][0]
    st, s, f = sse_open("", last_id=resume_at)
    ok(st == 200, "stream resumed with Last-Event-ID")
    again = sse_events(f, 8)
    s.close()
    b = placed(again, resume_at)
    start = pos(resume_at)
    # every partition continues at the next offset after the id, in order
    nxt = dict((p, o + 1) for p, o in start.items())
    for p, o, _ in b:
        ok(o == nxt[p], f"partition {p}: offset {o} follows {nxt[p] - 1} (nothing lost or replayed)")
        nxt[p] = o + 1
    known = {(p, o): eid for p, o, eid in a}
    same = [(p, o) for p, o, eid in b if (p, o) in known]
    ok(same and all(known[k] == eid for k, eid in ((k, e) for p, o, e in b for k in [(p, o)] if k in known)),
       f"the resumed stream repeats the first's events at the same positions ({len(same)} shared)")
    st, s, f = sse_open("?last_event_id=nonsense")
    ok(st == 400, f"a malformed Last-Event-ID: 400 ({st})")
    s.close()
    st, s, f = sse_open("?server=w1-s2")
    only = sse_events(f, 3)
    s.close()
    ok(only and all(e["server"] == "w1-s2" for _, e in only), "?server= filters the stream")


def metrics():
    def scrape():
        with urllib.request.urlopen(API + "/metrics", timeout=20) as r:
            fams = list(text_string_to_metric_families(r.read().decode()))
        vals = {}
        for fam in fams:
            for smp in fam.samples:
                vals[(smp.name, tuple(sorted(smp.labels.items())))] = smp.value
        return vals

    def succeeded(v):
        return sum(x for (n, l), x in v.items() if n == "wm_tasks" and ("state", "SUCCEEDED") in l)
    a = scrape()
    ok(any(n == "wm_http_requests_total" for n, _ in a), "http request counter exported")
    ok(any(n == "wm_task_queue_depth" for n, _ in a), "queue depth exported")
    b = wait_for(lambda: (lambda v: v if succeeded(v) > succeeded(a) else None)(scrape()),
                 "wm_tasks{state=SUCCEEDED} to grow")
    ok(succeeded(b) > succeeded(a), f"tasks succeeded moved {succeeded(a)} -> {succeeded(b)}")


def secrets():
    leaks = [t[:200] for t in SEEN if SECRET in t]
    ok(not leaks, f"no reply of {len(SEEN)} carries the secret value ({leaks[:1]})")
    for tok in (V, O, A):
        ok(not any(tok in t for t in SEEN), "no reply carries an existing token")
    ok(not any("secret_sha256" in t or "ciphertext" in t for t in SEEN), "no hash or ciphertext")


def main():
    auth()
    reads()
    pagination()
    actions()
    intake()
    tokens()
    tasks_and_events()
    sse()
    audit()
    metrics()
    secrets()
    print(f"all {CHECKS} API checks passed")


if __name__ == "__main__":
    main()
