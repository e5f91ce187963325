#!/usr/bin/env bash
# Full then delta syncs over mTLS: scattered and clustered changes, zeroed
# regions, growth and shrink, --full, several streams, several disks at
# once, lost agent state, verify.  The target is byte-identical every time
# and a delta sends exactly the changed blocks.
. "$(dirname "$0")/../support/repl_lib.sh"
repl_pki
start_receiver
SRC=$T/src.img
mixed_image "$SRC" 96
IMG=$ROOT/vol1.img
BS=4096

agent_sync vol1 "$SRC" || fail "first sync"
same "$SRC" "$IMG" "full sync"
sent=$(json_field bytes_sent); gen=$(json_field generation)
[ "$gen" = 1 ] || fail "first generation is $gen"
nonzero_bytes() {
    python3 -c "
z=bytes(4096); n=0
with open('$1','rb') as f:
    while True:
        b=f.read(4096)
        if not b: break
        if b!=z[:len(b)]: n+=len(b)
print(n)"
}
nonzero=$(nonzero_bytes "$SRC")
[ "$sent" = "$nonzero" ] || fail "full sync sent $sent bytes, non-zero data is $nonzero"
alloc=$(du -k "$IMG" | cut -f1)
[ "$alloc" -lt $((96 * 1024 * 3 / 4)) ] || fail "target not sparse ($alloc KiB allocated)"
pass "full sync identical, sent only non-zero blocks ($sent bytes), target sparse"

scribble "$SRC" 7 300 1999 4444 5000 7777 9001 12345 15000 20000 23000 24500
agent_sync vol1 "$SRC" || fail "delta sync"
same "$SRC" "$IMG" "scattered delta"
[ "$(json_field bytes_sent)" = $((12 * BS)) ] || fail "scattered delta sent $(json_field bytes_sent)"
[ "$(json_field generation)" = 2 ] || fail "generation not 2"
pass "scattered delta sends exactly 12 blocks"

head -c 1M /dev/urandom | dd of="$SRC" bs=1M seek=40 conv=notrunc status=none
agent_sync vol1 "$SRC" || fail "clustered delta"
same "$SRC" "$IMG" "clustered delta"
[ "$(json_field bytes_sent)" = $((1024 * 1024)) ] || fail "clustered delta sent $(json_field bytes_sent)"
pass "clustered delta sends exactly 1 MiB"

before=$(du -k "$IMG" | cut -f1)
dd if=/dev/zero of="$SRC" bs=1M seek=1 count=2 conv=notrunc status=none
agent_sync vol1 "$SRC" || fail "zeroing delta"
same "$SRC" "$IMG" "zeroed region"
[ "$(json_field bytes_sent)" = 0 ] || fail "zeroed region sent data bytes"
after=$(du -k "$IMG" | cut -f1)
[ "$after" -le $((before - 2000)) ] || fail "zeroed region did not become a hole ($before -> $after KiB)"
pass "zeroed region travels as a hole"

agent_sync vol1 "$SRC" || fail "no-change delta"
[ "$(json_field bytes_sent)" = 0 ] || fail "unchanged source sent data"
pass "unchanged source sends nothing"

head -c 3M /dev/urandom >>"$SRC"
head -c 1000 /dev/urandom >>"$SRC"   # a tail shorter than a block
agent_sync vol1 "$SRC" || fail "growth delta"
same "$SRC" "$IMG" "grown source"
s=$(json_field bytes_sent)
[ "$s" -ge $((3 * 1024 * 1024 + 1000)) ] && [ "$s" -le $((3 * 1024 * 1024 + 1000 + BS)) ] ||
    fail "growth sent $s"
pass "growth sends only the new blocks"

truncate -s 90M "$SRC"
agent_sync vol1 "$SRC" || fail "shrink delta"
same "$SRC" "$IMG" "shrunk source"
pass "shrink"

agent_sync vol1 "$SRC" --full || fail "forced full"
same "$SRC" "$IMG" "forced full"
[ "$(json_field bytes_sent)" = "$(nonzero_bytes "$SRC")" ] || fail "--full sent $(json_field bytes_sent)"
pass "--full resends everything"

rm -rf "$T/state"
scribble "$SRC" 11 22 33
agent_sync vol1 "$SRC" || fail "delta without agent state"
same "$SRC" "$IMG" "delta after map fetch"
[ "$(json_field bytes_sent)" = $((3 * BS)) ] || fail "delta after map fetch sent $(json_field bytes_sent)"
grep -q 'repl.map_fetch' "$T/agent.log" || fail "agent did not fetch the receiver's map"
pass "lost agent map: fetched from receiver, delta still minimal"

# several streams, several disks at once
SRC2=$T/src2.img SRC3=$T/src3.img
mixed_image "$SRC2" 64
mixed_image "$SRC3" 48
agent_sync vol2 "$SRC2" --streams 4 & p2=$!
"$AGENT" sync --disk "$SRC3" --volume vol3 --to 127.0.0.1:$RPORT --tls-dir "$T/pki/agent1" \
    --state-dir "$T/state" --streams 2 2>>"$T/agent.log" & p3=$!
wait $p2 || fail "vol2 sync"
wait $p3 || fail "vol3 sync"
same "$SRC2" "$ROOT/vol2.img" "4-stream sync"
same "$SRC3" "$ROOT/vol3.img" "concurrent second disk"
scribble "$SRC2" 1 5000 9000 16000
agent_sync vol2 "$SRC2" --streams 4 || fail "4-stream delta"
same "$SRC2" "$ROOT/vol2.img" "4-stream delta"
[ "$(json_field bytes_sent)" = $((4 * BS)) ] || fail "4-stream delta sent $(json_field bytes_sent)"
pass "4 streams and 2 disks at once"

"$AGENT" verify --disk "$SRC" --volume vol1 --to 127.0.0.1:$RPORT --tls-dir "$T/pki/agent1" --sha256 \
    >"$T/verify.out" 2>&1 || fail "verify of identical target: $(cat "$T/verify.out")"
printf 'X' | dd of="$IMG" bs=1 seek=5000000 conv=notrunc status=none
"$AGENT" verify --disk "$SRC" --volume vol1 --to 127.0.0.1:$RPORT --tls-dir "$T/pki/agent1" \
    >"$T/verify.out" 2>&1 && fail "verify missed a corrupted target"
grep -q "DIFFERENT" "$T/verify.out" || fail "verify output: $(cat "$T/verify.out")"
pass "verify: equal target passes, tampered target is reported"

# block size option
agent_sync vol4 "$SRC3" --block-size 65536 --zstd-level 3 || fail "64K blocks"
same "$SRC3" "$ROOT/vol4.img" "64K blocks"
pass "64 KiB blocks, zstd level 3"
echo "all replicator sync checks passed"
