#!/usr/bin/env bash
# Failure injection in the sim driver:
#  - agent_install fails on attempts 1 and 2: the scheduler retries with
#    exponential backoff (>= 300 ms, then >= 600 ms) and attempt 3 succeeds;
#  - cmdb_update always fails: after max_attempts the server is FAILED and
#    waits; once the fault is gone (workers restarted without it),
#    `wavemill server retry` resumes it to DONE.
. "$(dirname "$0")/../support/orch_lib.sh"
orch_setup failures

orch_waves 1 4 "now()" 4
orch_start sa wavemill-scheduler --set scheduler.reconcile_interval=300ms \
    --set scheduler.retry_backoff=300ms --set scheduler.max_attempts=3
faulty=(--set sim.duration=10ms --set sim.fail_kinds=agent_install --set sim.fail_first=2
        --set sim.fail_always_kinds=cmdb_update)
orch_start wa wavemill-worker "${faulty[@]}"
orch_start wb wavemill-worker "${faulty[@]}"
orch_wait_assigned 30 wa wb sa || orch_fail "consumers not assigned"
orch_start_waves w1

orch_wait 40 "SELECT count(*) FROM servers WHERE lifecycle = 'FAILED'" 4 || orch_fail "servers did not fail"
# retries with backoff: gap from a failed attempt to the next one's queueing
gaps=$(orch_sql "SELECT string_agg(DISTINCT (f.attempt || ':' || (extract(epoch FROM q.at - f.at) * 1000 >= 300 * power(2, f.attempt - 1))::text), ',' ORDER BY (f.attempt || ':' || (extract(epoch FROM q.at - f.at) * 1000 >= 300 * power(2, f.attempt - 1))::text))
                 FROM tasks t JOIN task_events f ON f.task_id = t.id AND f.state = 'FAILED'
                 JOIN task_events q ON q.task_id = t.id AND q.state = 'QUEUED' AND q.attempt = f.attempt + 1
                 WHERE t.kind = 'agent_install'")
[ "$gaps" = "1:true,2:true" ] || orch_fail "retry backoff not respected: $gaps"
ok=$(orch_sql "SELECT count(*) FROM tasks WHERE kind = 'agent_install' AND state = 'SUCCEEDED' AND attempt = 3")
[ "$ok" = 4 ] || orch_fail "agent_install should succeed at attempt 3 on 4 servers, got $ok"
row=$(orch_sql "SELECT current_step, error LIKE 'cmdb_update failed after 3 attempts: simulated failure%'
                FROM servers WHERE name = 'w1-s1'")
[ "$row" = "cmdb_update|t" ] || orch_fail "w1-s1 should be FAILED at cmdb_update: $row"
orch_wait 20 "SELECT status FROM waves WHERE name = 'w1'" FAILED ||
    orch_fail "a wave whose servers all finished, some FAILED, should be FAILED (not RUNNING forever)"
sleep 1
[ "$(orch_sql "SELECT count(*) FROM tasks WHERE kind = 'cmdb_update' AND state <> 'FAILED'")" = 0 ] ||
    orch_fail "a FAILED server's task was retried without the operator"

# the fault is fixed: healthy workers, then the operator retries one server
kill -TERM "$PID_wa" "$PID_wb"
while kill -0 "$PID_wa" 2>/dev/null || kill -0 "$PID_wb" 2>/dev/null; do sleep 0.2; done
orch_start wc wavemill-worker --set sim.duration=10ms
orch_wait_assigned 30 wc || orch_fail "new worker not assigned"
"$WM_BIN/wavemill" server retry w1-s1 >/dev/null || orch_fail "server retry w1-s1"
orch_wait 30 "SELECT lifecycle FROM servers WHERE name = 'w1-s1'" DONE || orch_fail "w1-s1 not resumed"
[ "$(orch_sql "SELECT count(*) FROM servers WHERE lifecycle = 'FAILED'")" = 3 ] ||
    orch_fail "the other servers should still wait for the operator"
for s in w1-s2 w1-s3 w1-s4; do "$WM_BIN/wavemill" server retry "$s" >/dev/null || orch_fail "retry $s"; done
orch_wait 30 "SELECT status FROM waves WHERE name = 'w1'" DONE || orch_fail "wave not DONE after retries"
audit=$(orch_sql "SELECT count(*) FROM audit_log WHERE action = 'server.retry'")
[ "$audit" = 4 ] || orch_fail "expected 4 server.retry audit rows, got $audit"
orch_assert_exactly_once
orch_log "PASS: backoff retries, FAILED after 3 attempts, operator retry resumed all servers"
