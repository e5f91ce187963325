#!/usr/bin/env bash
# A worker killed (-9) during a delta sync: its lease expires, the scheduler
# issues the next attempt, another worker re-issues the sync and the agent
# re-attaches it to the job still running (no restart from zero); the wave
# then completes and every target volume equals its source.
# One host with two disks; 40 MiB of new data on disk1 and a bandwidth
# limit of 1 MiB/s make that delta last about 40 s.
DEMO_NAME=e2ek$$
DEMO_TEST=1
DEMO_HOSTS="e2k:10.231.151.2/24"
DEMO_DISK=64M
DEMO_DISKS=2
DEMO_CUTOVER=+10m      # brought forward once the killed delta is through
DEMO_DELTA=2s
DEMO_BOUND=150
DEMO_LEASE=3s
DEMO_WORKER_SET="repl.bwlimit=1M kafka.session_timeout=6s"
DEMO_DIR=/var/tmp/wavemill-test-e2ek$$
. "$(dirname "$0")/../../deploy/demo/lib.sh"
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)"; exit 1; }

wait_sql() { # timeout_s sql expected
    local end=$((SECONDS + $1)) got=
    while [ $SECONDS -lt $end ]; do
        got=$(demo_sql "$2" 2>/dev/null)
        [ "$got" = "$3" ] && return 0
        sleep 0.3
    done
    demo_log "timeout: [$2] = [$got], wanted [$3]"
    return 1
}

demo_setup
demo_start_factory
wm wave cutover "$DEMO_WAVE" --at "$DEMO_CUTOVER" --yes >/dev/null || demo_fail "wave cutover"
wm wave start "$DEMO_WAVE" >/dev/null || demo_fail "wave start"
wait_sql 90 "SELECT count(*) > 0 FROM tasks WHERE kind = 'delta_sync' AND state = 'SUCCEEDED'" t ||
    demo_fail "no delta sync ran"
img=$WM_HOSTS_DIR/e2k/disk1.img
head -c 40M /dev/urandom | dd of="$img" bs=1M seek=16 conv=notrunc status=none
demo_log "40 MiB of new data on e2k disk1; waiting for the delta that carries it"
# the big delta: running, disk0 (64 MiB) done and 28 MiB of disk1 scanned.
# disk1's two streams cover [0,32) and [32,64) MiB; the first scans its 16
# unchanged MiB at once, then both wait on the bandwidth limit, so about
# 12 MiB of the change has been sent (a run measured 32 MiB sent at 48
# MiB scanned) and some 28 s of the job remain for the re-attach.
wait_sql 60 "SELECT count(*) FROM tasks WHERE kind = 'delta_sync' AND state = 'RUNNING'
             AND bytes_done > 67108864 + 29360128" 1 || demo_fail "the big delta never ran"
row=$(demo_sql "SELECT id, lease_owner, bytes_done FROM tasks WHERE kind = 'delta_sync' AND state = 'RUNNING'")
IFS='|' read -r task owner done <<<"$row"
pid_var=PID_$owner
kill -KILL "${!pid_var}"
demo_log "killed $owner (pid ${!pid_var}) running delta_sync task $task at $done bytes scanned"
wait_sql 90 "SELECT state || ':' || (attempt > 1)::text FROM tasks WHERE id = $task" "SUCCEEDED:true" ||
    demo_fail "task $task did not succeed on a later attempt"
by=$(demo_sql "SELECT lease_owner IS NULL, (SELECT actor FROM task_events WHERE task_id = $task
               AND state = 'SUCCEEDED') FROM tasks WHERE id = $task")
[ "${by#*|}" != "worker:$owner" ] || demo_fail "task $task finished by the dead worker"
agentlog=$DEMO_DIR/logs/agent-e2k.log
cp "$WM_HOSTS_DIR/e2k/agent/agent.log" "$agentlog"
grep -q 'event=repl.control_request .*volume=e2k-disk1 op=1 attached=1' "$agentlog" ||
    demo_fail "the re-issued sync did not re-attach to the running job (see $agentlog)"
sent=$(demo_sql "SELECT (d->>'sent')::bigint FROM tasks t, jsonb_array_elements(t.checkpoint->'disks') d
                 WHERE t.id = $task AND d->>'id' = (SELECT id::text FROM disks WHERE source_path = '$img')")
# the job's count: the 40 MiB change once (2 MiB of slack); sending again
# what went before the kill (about 12 MiB) would exceed it
[ -n "$sent" ] && [ "$sent" -le $((42 * 1048576)) ] ||
    demo_fail "the resumed delta sent '$sent' bytes: more than the 40 MiB change (restarted?)"
demo_log "task $task: attempt 2 re-attached to the agent's running job; the delta sent $sent bytes in all"

wm wave cutover "$DEMO_WAVE" --at now --yes >/dev/null || demo_fail "cutover now"
end=$((SECONDS + DEMO_BOUND))
until [ "$(demo_wave_state)" = DONE ]; do
    [ $SECONDS -lt $end ] || { wm status --wave "$DEMO_WAVE" >&2; demo_fail "wave not DONE"; }
    sleep 1
done
RX_ROOT=$DEMO_DIR/root
demo_prove || demo_fail "data proof"
demo_log "PASS: killed worker's delta resumed on another worker, wave DONE, data proven"
