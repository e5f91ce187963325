#!/usr/bin/env bash
# kill -9 the scheduler that owns a wave mid-run: its advisory locks go with
# its session, the other scheduler takes the wave within seconds and drives
# it to DONE; no task is lost (every server finishes every step) and none
# completes twice.
. "$(dirname "$0")/../support/orch_lib.sh"
orch_setup killsched

orch_waves 2 15 "now()" 15
sc=(--set scheduler.reconcile_interval=300ms --set scheduler.ownership_interval=300ms)
orch_start sa wavemill-scheduler "${sc[@]}"
orch_start sb wavemill-scheduler "${sc[@]}"
for w in wa wb; do orch_start $w wavemill-worker --set worker.slots=8 --set sim.duration=250ms; done
orch_wait_assigned 30 wa wb sa sb || orch_fail "consumers not assigned"
orch_start_waves w1 w2

owner_sql="SELECT coalesce(max(split_part(a.application_name, ':', 2)), '') FROM pg_locks l
           JOIN pg_stat_activity a ON a.pid = l.pid JOIN waves w ON w.name = 'w1'
           WHERE l.locktype = 'advisory' AND l.classid = 22349 AND l.objid = w.id AND l.granted
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
orch_wait 15 "SELECT count(*) >= 20 FROM tasks t JOIN waves w ON w.id = t.wave_id
              WHERE w.name = 'w1' AND t.state = 'SUCCEEDED'" t || orch_fail "w1 made no progress"
owner=$(orch_sql "$owner_sql")
case $owner in sa) victim=$PID_sa survivor=sb ;; sb) victim=$PID_sb survivor=sa ;; *) orch_fail "no owner of w1 ($owner)" ;; esac
kill -KILL "$victim"
killed_at=$(orch_sql "SELECT now()")
orch_log "killed scheduler $owner (pid $victim), owner of w1"

orch_wait 10 "$owner_sql" "$survivor" || orch_fail "$survivor did not take w1 over"
orch_log "w1 taken over by $survivor"
orch_wait 60 "SELECT count(*) FROM waves WHERE status = 'DONE'" 2 || orch_fail "waves not DONE"
[ "$(orch_sql "SELECT count(*) FROM servers WHERE lifecycle = 'DONE'")" = 30 ] || orch_fail "servers not DONE"
after=$(orch_sql "SELECT count(*) FROM task_events e JOIN tasks t ON t.id = e.task_id
                  JOIN waves w ON w.id = t.wave_id WHERE w.name = 'w1'
                  AND e.actor = 'scheduler:$survivor' AND e.at > '$killed_at'")
[ "$after" -gt 0 ] || orch_fail "the survivor never acted on w1"
steps=$(orch_sql "SELECT count(*) FROM (SELECT server_id FROM tasks WHERE state = 'SUCCEEDED'
                  GROUP BY 1 HAVING count(DISTINCT kind) = 14) s")
[ "$steps" = 30 ] || orch_fail "only $steps of 30 servers completed all 14 steps"
orch_assert_exactly_once
orch_assert_history
[ "$(orch_sql "SELECT count(*) FROM task_outbox")" = 0 ] || orch_fail "outbox rows left behind"
orch_log "PASS: $survivor finished w1 after $owner died ($after events after the kill)"
