#!/usr/bin/env bash
# The receiver exports committed generations to EBS snapshots through the
# EBS direct APIs of a local moto server (wavemill-receiver export-ebs).
#
# moto's gaps and how this test works around them (see docs/provider-aws.md):
#  - ParentSnapshotId is not implemented (a child holds only its own blocks):
#    each disk is reassembled from wavemill's chain (root, then children,
#    later blocks win) by reading every block back (ListSnapshotBlocks,
#    GetSnapshotBlock) and compared with the source byte for byte;
#  - checksums are not checked: the test recomputes every block's SHA-256
#    and the LINEAR aggregate with Python's hashlib;
#  - ClientToken and ChangedBlocksCount are ignored: the test counts the
#    StartSnapshot and PutSnapshotBlock requests through the fault proxy;
#  - StartSnapshot answers BlockSize 512: wavemill always uses 512 KiB.
. "$(dirname "$0")/../support/repl_lib.sh"
PY=${WM_PY:-$HOME/.cache/wavemill/venv/bin/python}
[ -f "$WM_REPO/deploy/local/env" ] && . "$WM_REPO/deploy/local/env" && PY=${WM_PY:-$PY}
CHAIN="$PY $WM_REPO/tests/peers/ebs_chain.py"
MOTO=$T/moto
MOTO_STARTED=0
ebs_cleanup() {
    [ -n "${PROXY_PID:-}" ] && kill "$PROXY_PID" 2>/dev/null
    [ -n "${IMDS_PID:-}" ] && kill "$IMDS_PID" 2>/dev/null
    [ "$MOTO_STARTED" = 1 ] && "$WM_REPO/tests/peers/moto_server.sh" stop "$MOTO"
    repl_cleanup
}
trap ebs_cleanup EXIT

wait_port_file() {
    for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done
    fail "no port in $1"
}

repl_pki
start_receiver
timeout 60 "$WM_REPO/tests/peers/moto_server.sh" start "$MOTO" >/dev/null || fail "moto did not start"
MOTO_STARTED=1
MOTO_URL=http://127.0.0.1:$(cat "$MOTO/moto.port")
"$PY" "$WM_REPO/tests/peers/moto_fault_proxy.py" --target-port "$(cat "$MOTO/moto.port")" \
    --port-file "$T/proxy.port" --log "$T/proxy.log" --max-seconds 600 2>>"$T/proxy.err" &
PROXY_PID=$!
wait_port_file "$T/proxy.port"
PROXY_URL=http://127.0.0.1:$(cat "$T/proxy.port")
REQ=$T/proxy.log.req
proxy_reset() {
    "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5).read()' \
        "$PROXY_URL/__wm_fault/reset?$1" || fail "proxy reset"
}

export AWS_ACCESS_KEY_ID=AKIDWAVEMILLTEST AWS_SECRET_ACCESS_KEY=wavemill-test-secret
unset AWS_SESSION_TOKEN

# export VOLUME [args...]: through the proxy, JSON lines in $T/export.json
export_ebs() {
    local vol=$1; shift
    "$RECEIVER" export-ebs --root "$ROOT" --volume "$vol" --endpoint "$PROXY_URL" \
        --ec2-endpoint "$PROXY_URL" --json --tag wave=w1 --tag server=srv1 "$@" \
        >"$T/export.json" 2>>"$T/export.log"
}
done_field() { # the field of the "done" line (numbers, strings, booleans)
    grep '"event":"done"' "$T/export.json" | tail -1 |
        sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p"
}
put_count() { grep -c "^forward PUT /snapshots/.*/blocks/[0-9]* 20[01]" "$REQ"; }
# reassemble_check LABEL SNAP...: the chain read back equals $SRC byte for byte
reassemble_check() {
    local label=$1; shift
    local out
    out=$($CHAIN reassemble --endpoint "$MOTO_URL" --size "$(stat -c %s "$SRC")" \
        --out "$T/back.img" "$@") || fail "$label: reassembly failed"
    cmp -s "$SRC" "$T/back.img" || fail "$label: the chain read back from moto differs from the source"
    echo "$out" | grep -q '"checksum_errors": 0' || fail "$label: block checksums differ from hashlib's: $out"
}
# aggregate_check SNAP: the LINEAR aggregate sent equals hashlib's over the blocks read back
aggregate_check() {
    local want
    want=$($CHAIN aggregate --endpoint "$MOTO_URL" "$1") || fail "aggregate of $1"
    [ "$(done_field aggregate_checksum)" = "$want" ] ||
        fail "aggregate checksum $(done_field aggregate_checksum), hashlib says $want"
}
# scatter N SEED: N random 4 KiB writes of random data into $SRC
scatter() {
    "$PY" - "$SRC" "$1" "$2" <<'PYEOF'
import os, random, sys
path, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
blocks = os.path.getsize(path) // 4096
with open(path, "r+b") as f:
    for _ in range(n):
        f.seek(rnd.randrange(blocks) * 4096)
        f.write(rnd.randbytes(4096))
PYEOF
}

SRC=$T/src.img
mixed_image "$SRC" 64
agent_sync vol1 "$SRC" || fail "initial sync"

# --- the root snapshot: every non-zero 512 KiB block, nothing else ---
proxy_reset "fail=0"
export_ebs vol1 || fail "first export: $(tail -3 "$T/export.log")"
S1=$(done_field snapshot)
nz=$($CHAIN nonzero "$SRC")
[ "$(done_field changed_blocks)" = "$nz" ] || fail "root snapshot has $(done_field changed_blocks) blocks, $nz are non-zero"
[ "$(done_field blocks_put)" = "$nz" ] && [ "$(put_count)" = "$nz" ] ||
    fail "root export put $(done_field blocks_put) ($(put_count) seen), want $nz"
[ "$(grep -c '^forward POST /snapshots ' "$REQ")" = 1 ] || fail "StartSnapshot sent more than once"
[ "$(done_field parent)" = "" ] || fail "root snapshot has a parent"
reassemble_check "initial sync" "$S1"
aggregate_check "$S1"
desc=$($CHAIN describe --endpoint "$MOTO_URL" "$S1")
for want in '"state": "completed"' '"volume_size": 1' '"wavemill:volume": "vol1"' \
    '"wavemill:generation": "1"' '"wave": "w1"' '"server": "srv1"'; do
    echo "$desc" | grep -qF "$want" || fail "snapshot $S1 lacks $want: $desc"
done
pass "root snapshot: the $nz non-zero 512 KiB blocks, checksums = hashlib's, reads back identical, tagged"

# --- a delta: 300 scattered 4 KiB writes put exactly the distinct 512 KiB blocks they touch ---
cp "$SRC" "$T/old.img"
scatter 300 7
agent_sync vol1 "$SRC" || fail "delta sync"
want=$($CHAIN changed "$T/old.img" "$SRC")
proxy_reset "fail=0"
export_ebs vol1 || fail "delta export: $(tail -3 "$T/export.log")"
S2=$(done_field snapshot)
[ "$(done_field parent)" = "$S1" ] && [ "$(done_field generation)" = 2 ] ||
    fail "delta: parent $(done_field parent) generation $(done_field generation)"
[ "$(done_field blocks_put)" = "$want" ] && [ "$(put_count)" = "$want" ] && [ "$want" -le 300 ] ||
    fail "delta put $(done_field blocks_put) ($(put_count) seen); $want distinct 512 KiB blocks changed"
[ "$(done_field changed_blocks)" = "$want" ] || fail "ChangedBlocksCount $(done_field changed_blocks), want $want"
reassemble_check "delta" "$S1" "$S2"
aggregate_check "$S2"
pass "delta of 300 scattered 4 KiB writes: $want blocks put (the distinct 512 KiB blocks), chain reads back identical"

# --- zeroed data: the blocks are put as zeros (the parent holds data there) ---
cp "$SRC" "$T/old.img"
dd if=/dev/zero of="$SRC" bs=1M seek=1 count=2 conv=notrunc status=none
agent_sync vol1 "$SRC" || fail "zeroing sync"
want=$($CHAIN changed "$T/old.img" "$SRC")
export_ebs vol1 || fail "zeroing export"
S3=$(done_field snapshot)
[ "$want" -gt 0 ] && [ "$(done_field blocks_put)" = "$want" ] || fail "zeroing put $(done_field blocks_put), want $want"
reassemble_check "zeroed region" "$S1" "$S2" "$S3"
pass "a zeroed region is put as zeros ($want blocks), chain reads back identical"

# --- the same generation again: nothing is sent ---
proxy_reset "fail=0"
export_ebs vol1 || fail "repeated export"
[ "$(done_field already)" = true ] && [ "$(done_field snapshot)" = "$S3" ] && [ ! -s "$REQ" ] ||
    fail "repeated export of generation 3 sent requests or another snapshot"
pass "exporting an exported generation again sends nothing"

# --- throttled PutSnapshotBlock: retried, completes, no block sent twice after success ---
cp "$SRC" "$T/old.img"
scatter 40 11
agent_sync vol1 "$SRC" || fail "sync before throttling"
want=$($CHAIN changed "$T/old.img" "$SRC")
proxy_reset "fail=6&status=503&code=SlowDown&match=PUT%20/snapshots/"
export_ebs vol1 --backoff-base 20 --backoff-cap 200 --inflight 4 || fail "throttled export: $(tail -3 "$T/export.log")"
S4=$(done_field snapshot)
[ "$(grep -c '^fault PUT' "$REQ")" = 6 ] || fail "the proxy throttled $(grep -c '^fault PUT' "$REQ") puts, want 6"
[ "$(done_field retries)" = 6 ] || fail "retries $(done_field retries), want 6"
dups=$(grep "^forward PUT .* 20[01] " "$REQ" | awk '{print $3}' | sort | uniq -d | wc -l)
[ "$dups" = 0 ] || fail "$dups blocks were sent again after AWS accepted them"
[ "$(put_count)" = "$want" ] || fail "throttled export: $(put_count) accepted puts, want $want"
reassemble_check "throttled" "$S1" "$S2" "$S3" "$S4"
pass "6 throttled puts retried with backoff; $want blocks each accepted once; reads back identical"

# --- the receiver killed mid-export: the run again resumes the same snapshot ---
cp "$SRC" "$T/old.img"
scatter 300 13
agent_sync vol1 "$SRC" || fail "sync before the kill"
want=$($CHAIN changed "$T/old.img" "$SRC")
proxy_reset "fail=0&delay=60"
"$RECEIVER" export-ebs --root "$ROOT" --volume vol1 --endpoint "$PROXY_URL" \
    --ec2-endpoint "$PROXY_URL" --json --inflight 2 >"$T/killed.json" 2>>"$T/export.log" &
EPID=$!
for _ in $(seq 300); do
    [ "$(put_count)" -ge 12 ] && break
    sleep 0.05
done
kill -9 "$EPID" 2>/dev/null
wait "$EPID" 2>/dev/null
first=$(put_count)
[ "$first" -ge 12 ] && [ "$first" -lt "$want" ] || fail "kill came at $first of $want blocks"
killed_snap=$(sed -n 's/^cur_snapshot //p' "$ROOT/vol1.ebs")
cp "$REQ" "$T/req.killed"
proxy_reset "fail=0"
export_ebs vol1 || fail "resumed export: $(tail -3 "$T/export.log")"
S5=$(done_field snapshot)
[ "$S5" = "$killed_snap" ] || fail "resume made a new snapshot $S5 (was $killed_snap)"
[ "$(grep -c '^forward POST /snapshots ' "$REQ")" = 0 ] || fail "resume started another snapshot"
resumed=$(done_field resumed_blocks)
[ "$resumed" -ge $((first - 2)) ] && [ "$resumed" -le "$first" ] ||
    fail "resumed $resumed blocks; $first were accepted before the kill (2 in flight)"
[ $((resumed + $(done_field blocks_put))) = "$want" ] && [ "$(done_field changed_blocks)" = "$want" ] ||
    fail "resume put $(done_field blocks_put) + $resumed resumed, want $want"
reassemble_check "killed and resumed" "$S1" "$S2" "$S3" "$S4" "$S5"
aggregate_check "$S5"
pass "killed after $first of $want blocks; the rerun put only the other $(done_field blocks_put) into the same snapshot"

# --- a newer commit makes an older generation unexportable ---
"$RECEIVER" export-ebs --root "$ROOT" --volume vol1 --generation 2 --endpoint "$PROXY_URL" \
    >/dev/null 2>"$T/stale.err" && fail "exported generation 2 after generation 6 committed"
grep -q "generation 2 is not on the receiver" "$T/stale.err" || fail "stale error: $(cat "$T/stale.err")"
"$RECEIVER" export-ebs --root "$ROOT" >/dev/null 2>&1
[ $? = 2 ] || fail "missing --volume is not a usage error"
pass "an older generation or bad usage is refused with a clear error"

# --- credentials: a session token is sent; IMDSv2 instance role when no key is set ---
cp "$SRC" "$T/old.img"
scatter 5 17
agent_sync vol1 "$SRC" || fail "sync before token export"
proxy_reset "fail=0"
AWS_SESSION_TOKEN=session-token-xyz export_ebs vol1 || fail "export with a session token"
[ "$(grep -c ' session-token-xyz$' "$REQ")" = "$(wc -l <"$REQ")" ] ||
    fail "not every request carried X-Amz-Security-Token"
S6=$(done_field snapshot)
"$PY" "$WM_REPO/tests/peers/imds_peer.py" --port-file "$T/imds.port" --log "$T/imds.log" &
IMDS_PID=$!
wait_port_file "$T/imds.port"
scatter 5 19
agent_sync vol1 "$SRC" || fail "sync before IMDS export"
proxy_reset "fail=0"
(unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
 AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$(cat "$T/imds.port") export_ebs vol1) ||
    fail "export with the instance role: $(tail -3 "$T/export.log")"
S7=$(done_field snapshot)
grep -q '^PUT /latest/api/token token-ok' "$T/imds.log" &&
    [ "$(grep -c '^GET .* token-ok' "$T/imds.log")" = 2 ] && ! grep -q no-token "$T/imds.log" ||
    fail "IMDSv2 flow: $(cat "$T/imds.log")"
[ "$(grep -c ' imds-role-session-token$' "$REQ")" = "$(wc -l <"$REQ")" ] ||
    fail "the role's session token was not sent"
reassemble_check "session tokens" "$S1" "$S2" "$S3" "$S4" "$S5" "$S6" "$S7"
pass "session token sent on every request; IMDSv2 role credentials used when no key is set"

# --- a sync committing during an export: it never uploads a mix of generations ---
cp "$SRC" "$T/gen_a.img"
scatter 300 23
agent_sync vol1 "$SRC" || fail "sync before the race"
cp "$SRC" "$T/gen_b.img"
proxy_reset "fail=0&delay=80"
export_ebs vol1 --inflight 1 &
EPID=$!
for _ in $(seq 300); do [ "$(put_count)" -ge 3 ] && break; sleep 0.05; done
scatter 300 29
agent_sync vol1 "$SRC" || fail "sync during the export"
if wait "$EPID"; then # every block it read still was generation 8's: the snapshot is generation 8
    cp "$SRC" "$T/gen_c.img"; cp "$T/gen_b.img" "$SRC"
    reassemble_check "export raced by a commit" "$S1" "$S2" "$S3" "$S4" "$S5" "$S6" "$S7" "$(done_field snapshot)"
    cp "$T/gen_c.img" "$SRC"
    CHAIN8=$(done_field snapshot)
    raced="completed with generation 8's data"
else
    grep -q "no longer holds generation 8" "$T/export.log" || fail "raced export: $(tail -2 "$T/export.log")"
    CHAIN8=
    raced="refused: the image no longer held generation 8"
fi
proxy_reset "fail=0"
export_ebs vol1 || fail "export after the race: $(tail -3 "$T/export.log")"
[ "$(done_field generation)" = 9 ] || fail "export after the race is generation $(done_field generation)"
reassemble_check "after the race" "$S1" "$S2" "$S3" "$S4" "$S5" "$S6" "$S7" $CHAIN8 "$(done_field snapshot)"
pass "an export raced by a commit is $raced; the next export is generation 9 and reads back identical"

# --- another block size (a full re-sync with 8 KiB blocks): a new chain ---
agent_sync vol1 "$SRC" --full --block-size 8192 || fail "re-sync with 8 KiB blocks"
proxy_reset "fail=0"
export_ebs vol1 || fail "export after the block size changed: $(tail -3 "$T/export.log")"
[ "$(done_field parent)" = "" ] && [ "$(done_field blocks_put)" = "$($CHAIN nonzero "$SRC")" ] ||
    fail "block size change: parent '$(done_field parent)', $(done_field blocks_put) blocks put"
reassemble_check "new chain" "$(done_field snapshot)"
pass "a changed block size starts a new chain (root snapshot of the non-zero blocks)"
