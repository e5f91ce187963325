#!/usr/bin/env bash
# kill -9 one of three workers while it runs tasks: its leases expire, the
# scheduler issues the next attempt, other workers run it, and every server
# still reaches DONE with each step succeeded exactly once.
. "$(dirname "$0")/../support/orch_lib.sh"
orch_setup killworker

orch_waves 1 20 "now()" 20
wk=(--set worker.slots=4 --set worker.lease=2s --set kafka.session_timeout=6s
    --set sim.duration=20ms --set sim.durations=initial_sync=3s)
orch_start sa wavemill-scheduler --set scheduler.reconcile_interval=300ms \
    --set scheduler.retry_backoff=100ms --set scheduler.requeue_after=15s
for w in wa wb wc; do orch_start $w wavemill-worker "${wk[@]}"; done
orch_wait_assigned 30 wa wb wc sa || orch_fail "consumers not assigned"
orch_start_waves w1

orch_wait 30 "SELECT count(*) > 0 FROM tasks WHERE lease_owner = 'wa' AND state = 'RUNNING'
              AND kind = 'initial_sync'" t || orch_fail "worker wa never ran an initial_sync"
# only the 3 s initial_syncs: a 20 ms task could finish before the kill
victims=$(orch_sql "SELECT string_agg(id::text, ',') FROM tasks WHERE lease_owner = 'wa' AND state = 'RUNNING'
                    AND kind = 'initial_sync'")
kill -KILL "$PID_wa"
[ -n "$victims" ] || orch_fail "wa held no initial_sync when killed: nothing below would be checked"
orch_log "killed worker wa (pid $PID_wa) holding tasks $victims"

orch_wait 60 "SELECT status FROM waves WHERE name = 'w1'" DONE || orch_fail "wave not DONE"
[ "$(orch_sql "SELECT count(*) FROM servers WHERE lifecycle = 'DONE'")" = 20 ] || orch_fail "servers not DONE"
for id in ${victims//,/ }; do
    row=$(orch_sql "SELECT state, attempt > 1, lease_owner IS NULL FROM tasks WHERE id = $id")
    [ "$row" = "SUCCEEDED|t|t" ] || orch_fail "task $id of the killed worker: $row"
    by=$(orch_sql "SELECT actor FROM task_events WHERE task_id = $id AND state = 'SUCCEEDED'")
    [ "$by" != "worker:wa" ] || orch_fail "task $id finished by the dead worker"
    exp=$(orch_sql "SELECT count(*) FROM task_events WHERE task_id = $id AND state = 'FAILED'
                    AND message LIKE 'lease expired%'")
    [ "$exp" -ge 1 ] || orch_fail "task $id: no lease-expired event"
done
orch_assert_exactly_once
orch_assert_history
orch_log "PASS: tasks $victims re-run elsewhere after their lease expired"
