#!/usr/bin/env bash
# kill -9 the agent, then the receiver, at about half of a sync; a rerun
# resumes from the checkpoint (sends well under the total) and the result is
# byte-identical.  While a delta is interrupted, the committed generation in
# NAME.img stays intact.  The sync is slowed with --bwlimit so "half" is
# reached deterministically.
. "$(dirname "$0")/../support/repl_lib.sh"
repl_pki
start_receiver --checkpoint-ms 300
SRC=$T/src.img
MIB=128
head -c ${MIB}M /dev/urandom >"$SRC"   # incompressible: wire bytes = data bytes
TOTAL=$((MIB * 1024 * 1024))

# run_until_half VOLUME: background sync at 32 MiB/s, SIGKILLed past ~45%
run_and_kill_agent() {
    "$AGENT" sync --disk "$SRC" --volume "$1" --to 127.0.0.1:$RPORT --tls-dir "$T/pki/agent1" \
        --state-dir "$T/state" --json --bwlimit 32M >"$T/bg.json" 2>>"$T/agent.log" &
    local pid=$!
    wait_half "$pid"
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
}

wait_half() {
    for _ in $(seq 300); do
        local s
        s=$(grep -o '"bytes_wire":[0-9]*' "$T/bg.json" 2>/dev/null | tail -1 | cut -d: -f2)
        [ -n "$s" ] && [ "$s" -ge $((TOTAL * 45 / 100)) ] && return 0
        kill -0 "$1" 2>/dev/null || fail "sync ended before half way"
        sleep 0.1
    done
    fail "sync never reached half way"
}

# 1. agent killed during the first (full) sync
run_and_kill_agent vol1
[ -f "$ROOT/vol1.img" ] && fail "an uncommitted first generation is visible as vol1.img"
agent_sync vol1 "$SRC" || fail "resume after agent kill"
same "$SRC" "$ROOT/vol1.img" "resumed after agent kill"
s=$(json_field bytes_sent)
[ "$s" -lt $((TOTAL * 65 / 100)) ] || fail "resume sent $s of $TOTAL bytes"
pass "agent kill -9 at ~50%: resume sent $s of $TOTAL bytes, identical"

# 2. agent killed during a delta: the committed generation stays intact
cp "$SRC" "$T/gen1.img"
head -c 100M /dev/urandom | dd of="$SRC" bs=1M seek=10 conv=notrunc status=none
run_and_kill_agent vol1
same "$T/gen1.img" "$ROOT/vol1.img" "committed generation changed by an interrupted delta"
agent_sync vol1 "$SRC" || fail "resume delta"
same "$SRC" "$ROOT/vol1.img" "resumed delta"
s=$(json_field bytes_sent)
[ "$s" -lt $((100 * 1024 * 1024 * 65 / 100)) ] || fail "resumed delta sent $s"
pass "interrupted delta leaves generation 1 intact; resume sent $s bytes, identical"

# 3. receiver killed during a sync; agent exits non-zero; rerun resumes
"$AGENT" sync --disk "$SRC" --volume vol2 --to 127.0.0.1:$RPORT --tls-dir "$T/pki/agent1" \
    --state-dir "$T/state" --json --bwlimit 32M --retries 2 >"$T/bg.json" 2>>"$T/agent.log" &
apid=$!
wait_half $apid
kill -9 "$RPID"
wait "$RPID" 2>/dev/null
if wait $apid; then fail "agent exited 0 without a commit"; fi
start_receiver --checkpoint-ms 300
agent_sync vol2 "$SRC" || fail "resume after receiver kill"
same "$SRC" "$ROOT/vol2.img" "resumed after receiver kill"
s=$(json_field bytes_sent)
[ "$s" -lt $((TOTAL * 70 / 100)) ] || fail "resume after receiver kill sent $s of $TOTAL"
pass "receiver kill -9 at ~50%: agent failed, rerun sent $s of $TOTAL bytes, identical"
