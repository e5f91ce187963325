#!/usr/bin/env bash
# The receiver's /metrics, /healthz and /readyz (--metrics-listen), read as
# Prometheus would: the page parses with prometheus_client's parser, bytes
# and commits move as a volume syncs, and readiness fails with a reason
# when the root goes away.
. "$(dirname "$0")/../support/repl_lib.sh"
. "$WM_REPO/deploy/local/env"
repl_pki
MPORT=$(free_port)
start_receiver --metrics-listen 127.0.0.1:$MPORT
M=http://127.0.0.1:$MPORT
prom() { "$WM_PY" "$WM_REPO/tests/peers/prom_peer.py" "$M/metrics" "$@"; }

for _ in $(seq 50); do curl -sf "$M/healthz" >/dev/null && break; sleep 0.1; done
[ "$(curl -s "$M/healthz")" = ok ] || fail "/healthz: $(curl -s "$M/healthz")"
curl -sf "$M/readyz" | grep -qx "root: ok" || fail "/readyz: $(curl -s "$M/readyz")"
pass "/healthz and /readyz answer"

[ "$(prom wm_repl_received_bytes_total volume=vm1)" = absent ] || fail "bytes before any sync"
[ "$(prom wm_repl_connections_open)" = 0 ] || fail "open connections before any sync"
SRC=$T/src.img
mixed_image "$SRC" 24
agent_sync vm1 "$SRC" || fail "first sync: $(tail -3 "$T/agent.log")"
b1=$(prom wm_repl_received_bytes_total volume=vm1)
w1=$(prom wm_repl_wire_bytes_total volume=vm1)
[ "$b1" != absent ] && [ "$b1" -gt 1000000 ] || fail "received bytes after a 24 MiB sync: $b1"
[ "$w1" -gt 0 ] && [ "$w1" -lt "$b1" ] || fail "wire bytes $w1 not below block bytes $b1 (zstd)"
[ "$(prom wm_repl_commits_total volume=vm1)" = 1 ] || fail "commits: $(prom wm_repl_commits_total volume=vm1)"
[ "$(prom wm_repl_committed_generation volume=vm1)" = 1 ] || fail "generation after the first sync"
pass "first sync: $b1 block bytes, $w1 wire bytes, generation 1"

scribble "$SRC" 10 500 2000
agent_sync vm1 "$SRC" || fail "delta sync: $(tail -3 "$T/agent.log")"
b2=$(prom wm_repl_received_bytes_total volume=vm1)
[ "$b2" -gt "$b1" ] && [ $((b2 - b1)) -lt 1000000 ] || fail "delta moved $((b2 - b1)) bytes"
[ "$(prom wm_repl_committed_generation volume=vm1)" = 2 ] || fail "generation after the delta"
[ "$(prom wm_repl_connections_total)" -gt 0 ] || fail "connections_total"
pass "delta sync: +$((b2 - b1)) bytes, generation 2"

"$WM_PY" "$WM_REPO/tests/peers/prom_peer.py" "$M/metrics" >/dev/null || fail "page does not parse"
code=$(curl -s -o /dev/null -w '%{http_code}' "$M/nothing")
[ "$code" = 404 ] || fail "unknown path: $code"

mv "$ROOT" "$T/root.moved"
code=$(curl -s -o "$T/ready.out" -w '%{http_code}' "$M/readyz")
[ "$code" = 503 ] && grep -q "^root: root .*No such file" "$T/ready.out" ||
    fail "/readyz without root: $code $(cat "$T/ready.out")"
pass "/readyz 503 with the reason when the root is gone"
