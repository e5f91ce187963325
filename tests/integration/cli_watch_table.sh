#!/usr/bin/env bash
# `wavemill watch` as an operator sees it: on a terminal (a pty from
# script(1)) a table redrawn in place with a line per wave and per server
# and keys (w: next wave, q: quit); into a file plain lines; --since
# replays events that were published before watch started.
. "$(dirname "$0")/../support/orch_lib.sh"
. "$ORCH_REPO/tests/support/api_lib.sh"
orch_setup cli_watch_table
api_sim_wave w1 2 --set sim.duration=30ms --set sim.durations=initial_sync=300ms
W=$WM_BIN/wavemill
"$W" wave cutover w1 --at now --yes >/dev/null || orch_fail "cutover"
"$W" wave start w1 >/dev/null || orch_fail "start"
orch_wait 120 "SELECT status FROM waves WHERE name = 'w1'" DONE || orch_fail "w1 not DONE"
sleep 1

# not a terminal: one line per event, replayed from before watch started
timeout 60 "$W" watch --since 10m --timeout 8 >"$ORCH_LOGS/lines.out" 2>"$ORCH_LOGS/lines.err" ||
    orch_fail "watch --since (lines): $(cat "$ORCH_LOGS/lines.err")"
grep -q "w1  *wave RUNNING.*(cli:" "$ORCH_LOGS/lines.out" || orch_fail "no replayed wave start: $(head -5 "$ORCH_LOGS/lines.out")"
grep -q "w1/w1-s2 .*server DONE" "$ORCH_LOGS/lines.out" || orch_fail "no replayed server DONE"
grep -q $'\x1b\[2J' "$ORCH_LOGS/lines.out" && orch_fail "escape codes in a file"
echo "ok: into a file: $(wc -l <"$ORCH_LOGS/lines.out") plain lines replayed with --since"

# a terminal: the table, redrawn; 'w' shows one wave, 'q' quits long before --timeout
start=$SECONDS
(sleep 4; printf w; sleep 2; printf q) |
    timeout 60 script -qfec "$W watch --since 10m --timeout 50" /dev/null >"$ORCH_LOGS/tty.out" 2>&1
took=$((SECONDS - start))
[ "$took" -lt 40 ] || orch_fail "q did not quit (${took}s)"
grep -q $'\x1b\[2J' "$ORCH_LOGS/tty.out" || orch_fail "no redraw on a terminal"
sed 's/\x1b\[[0-9;]*[HJ]//g' "$ORCH_LOGS/tty.out" | tr -d '\r' >"$ORCH_LOGS/tty.txt"
grep -q "^wave w1  *DONE *servers 2  done 2  failed 0" "$ORCH_LOGS/tty.txt" ||
    orch_fail "no wave line: $(tail -12 "$ORCH_LOGS/tty.txt")"
for s in w1-s1 w1-s2; do
    grep -q "^$s  *w1  *DONE .*\[sim\]" "$ORCH_LOGS/tty.txt" || orch_fail "no DONE row for $s"
done
grep -q "<- shown" "$ORCH_LOGS/tty.txt" || orch_fail "'w' did not pick a wave"
lines=$(grep -c "^w1-s1 " "$ORCH_LOGS/tty.txt")
echo "ok: on a terminal: table redrawn ($lines draws of w1-s1's row), 'w' filtered, 'q' quit after ${took}s"
