#!/usr/bin/env bash
# SIGTERM a worker while it runs long tasks: it stops taking work, gives its
# running tasks back after worker.shutdown_grace (released to PENDING, the
# attempt not counted), exits 0; the scheduler re-issues them and the other
# worker finishes the wave.
. "$(dirname "$0")/../support/orch_lib.sh"
orch_setup sigterm

orch_waves 1 6 "now()" 6
orch_start sa wavemill-scheduler --set scheduler.reconcile_interval=300ms
wk=(--set worker.slots=4 --set worker.shutdown_grace=500ms --set sim.duration=10ms
    --set sim.durations=initial_sync=4s)
orch_start wa wavemill-worker "${wk[@]}"
orch_start wb wavemill-worker "${wk[@]}"
orch_wait_assigned 30 wa wb sa || orch_fail "consumers not assigned"
orch_start_waves w1

# The group decides which worker holds the replication partitions, so the
# victim is whichever worker runs an initial_sync; the other must finish.
orch_wait 30 "SELECT count(*) > 0 FROM tasks WHERE state = 'RUNNING' AND kind = 'initial_sync'" t ||
    orch_fail "no worker ever ran an initial_sync"
victim=$(orch_sql "SELECT lease_owner FROM tasks WHERE state = 'RUNNING' AND kind = 'initial_sync' LIMIT 1")
case $victim in wa) other=wb ;; wb) other=wa ;; *) orch_fail "unexpected lease owner '$victim'" ;; esac
# only the 4 s initial_syncs: a 10 ms task finishes within the grace
held=$(orch_sql "SELECT string_agg(id::text, ',') FROM tasks WHERE lease_owner = '$victim' AND state = 'RUNNING'
                 AND kind = 'initial_sync'")
pid_var=PID_$victim
t0=$SECONDS
kill -TERM "${!pid_var}"
wait "${!pid_var}"
rc=$?
[ "$rc" = 0 ] || orch_fail "worker exited with $rc after SIGTERM"
[ -n "$held" ] || orch_fail "$victim held no initial_sync at SIGTERM: nothing below would be checked"
# stopped, not hung (the released events below show it did not wait for
# its tasks); room for a loaded machine
[ $((SECONDS - t0)) -le 20 ] || orch_fail "worker took $((SECONDS - t0)) s to stop"
orch_log "$victim stopped cleanly in $((SECONDS - t0)) s, it held tasks $held"
for id in ${held//,/ }; do
    rel=$(orch_sql "SELECT count(*) FROM task_events WHERE task_id = $id AND state = 'PENDING'
                    AND message = 'released by worker (shutting down)'")
    [ "$rel" = 1 ] || orch_fail "task $id was not released by $victim"
done
orch_wait 40 "SELECT status FROM waves WHERE name = 'w1'" DONE || orch_fail "wave not DONE"
for id in ${held//,/ }; do
    row=$(orch_sql "SELECT state, lease_owner IS NULL FROM tasks WHERE id = $id")
    [ "$row" = "SUCCEEDED|t" ] || orch_fail "released task $id: $row"
    by=$(orch_sql "SELECT actor FROM task_events WHERE task_id = $id AND state = 'SUCCEEDED'")
    [ "$by" = "worker:$other" ] || orch_fail "released task $id finished by $by"
done
orch_assert_exactly_once
orch_log "PASS: SIGTERM released $held, $other finished them"
