#!/usr/bin/env bash
# Busy is not failure: 500 agents sync 500 small disks at once against one
# receiver with a capacity of 64 streams (and 512 open files).  The
# receiver answers what it cannot take with BUSY; every agent waits and
# succeeds, no target differs from its source, and the receiver's open
# files and memory stay under their bounds the whole time.
. "$(dirname "$0")/../support/repl_lib.sh"
FANIN=$WM_BIN/tests/tools/repl_fanin
[ -x "$FANIN" ] || fail "missing $FANIN (make tests)"
repl_pki
MAX_FILES=512
# All 500 agents connect from 127.0.0.1: the guard's per-address and
# startup caps (issue 9, sized for one address per source) are raised for
# the crowd, or they would cut agents during their handshakes (an agent cut
# there fails after its retries: not yet handled as "busy", see issue 15's
# note).  Descriptors: staging files are admitted within --max-files;
# connections (at most --max-conns, each with a dup while it authenticates)
# come on top.
MAX_CONNS=256
start_receiver --max-streams 64 --max-files $MAX_FILES --max-per-peer 1024 --max-startups 1024 \
    --max-conns $MAX_CONNS
timeout 600 "$FANIN" --agents 500 --size 262144 --dir "$T/fanin" --tls-dir "$T/pki/agent1" \
    --to 127.0.0.1:$RPORT --roots "$ROOT" --pids "$RPID" --busy-wait 500 >"$T/fanin.out" \
    2>"$T/fanin.err"
rc=$?
cat "$T/fanin.out"
[ $rc -eq 0 ] || fail "fan-in run failed (rc $rc): $(head -5 "$T/fanin.err")"
field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" "$T/fanin.out"; }
[ "$(field failures)" = 0 ] || fail "failed syncs: $(field failures)"
[ "$(field differ)" = 0 ] || fail "targets differing from their sources: $(field differ)"
[ "$(field busy_waits)" -gt 0 ] || fail "no agent ever waited: the capacity was not exercised"
fds=$(field r0_peak_fds)
FD_BOUND=$((MAX_FILES + 2 * MAX_CONNS + 64))
[ -n "$fds" ] && [ "$fds" -le $FD_BOUND ] || fail "receiver open files $fds > $FD_BOUND"
# 64 streams x 6 MiB (admit.h) plus threads, TLS and the volume table
# (AddressSanitizer's shadow memory and quarantine: three times that)
rss=$(field r0_peak_rss_mib) bound=$((64 * 6 + 200))
ldd "$RECEIVER" 2>/dev/null | grep -q libasan && bound=$((bound * 3))
python3 -c "import sys; sys.exit(0 if $rss <= $bound else 1)" ||
    fail "receiver peak RSS ${rss} MiB over the bound ($bound MiB)"
# the guard may cut handshakes beyond its startup cap (issue 9); those
# agents retried: no sync failed (checked above)
echo "handshakes cut by the guard's caps: $(grep -c 'repl.conn_refused' "$T/receiver.log")"
stop_receiver
peak=$(sed -n 's/.*repl.stopped.*streams_peak=\([0-9]*\).*/\1/p' "$T/receiver.log")
[ -n "$peak" ] && [ "$peak" -le 64 ] || fail "receiver ran ${peak:-?} streams at once (capacity 64)"
pass "500 agents, 64 streams: all synced by waiting ($(field busy_waits) BUSY answers), peak $peak streams, $fds files, ${rss} MiB"
