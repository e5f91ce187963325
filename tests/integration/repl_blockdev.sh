#!/usr/bin/env bash
# A block device as the source (a loop device over a sparse file): full
# sync, delta after writing to the device, verify with SHA-256.  Needs root
# and loop devices; where they are missing it says so and exits 77, which
# tests/run counts as a skip (a failure under CI=1).
. "$(dirname "$0")/../support/repl_lib.sh"
IMG=$T/loop.img
truncate -s 32M "$IMG"
head -c 4M /dev/urandom | dd of="$IMG" bs=1M seek=3 conv=notrunc status=none
DEV=$(losetup -f --show "$IMG" 2>/dev/null) || { echo "skip: no loop device here (losetup -f failed)"; exit 77; }
trap 'losetup -d "$DEV" 2>/dev/null; repl_cleanup' EXIT
repl_pki
start_receiver
agent_sync blk "$DEV" || fail "full sync of $DEV"
same "$DEV" "$ROOT/blk.img" "block device full sync"
dd if=/dev/urandom of="$DEV" bs=4096 seek=100 count=3 conv=notrunc status=none
sync
agent_sync blk "$DEV" || fail "delta of $DEV"
same "$DEV" "$ROOT/blk.img" "block device delta"
[ "$(json_field bytes_sent)" = $((3 * 4096)) ] || fail "delta sent $(json_field bytes_sent)"
"$AGENT" verify --disk "$DEV" --volume blk --to 127.0.0.1:$RPORT --tls-dir "$T/pki/agent1" --sha256 \
    >"$T/v.out" 2>&1 || fail "verify: $(cat "$T/v.out")"
pass "block device: full, delta of 3 blocks, verify"
