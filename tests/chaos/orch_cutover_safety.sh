#!/usr/bin/env bash
# A cutover cannot strand a server (issue 12), with the sim provider and, for
# the source's services, the real local transport:
#  1. launch_cutover always fails: every server rolls back before its source
#     is shut down — services started again (a file the stop command removed
#     is back), no shutdown_source ever ran, READY_FOR_CUTOVER held with the
#     error, nothing left running: the wave does not spin; approve lets the
#     cutover run again (healthy workers) to DONE;
#  2. revert from TESTING (to testing) and from CUTOVER (validate running,
#     before the source is shut down); revert refused after the source was
#     shut down and after finalize; with finalize manual, decommission waits
#     for `server finalize`;
#  3. a lost lease does not use an attempt; a task that kills every worker
#     that takes it stops as a poison task after scheduler.max_lost_leases;
#  4. a missing receiver setting fails the server at once, no retries.
. "$(dirname "$0")/../support/orch_lib.sh"
orch_setup cutsafe
wm() { "$WM_BIN/wavemill" "$@"; }
MARK=$(mktemp -d /tmp/wm-cutsafe.XXXXXX)
trap 'orch_cleanup; rm -rf "$MARK"' EXIT

sched=(--set scheduler.reconcile_interval=300ms --set scheduler.retry_backoff=100ms
       --set scheduler.max_attempts=2 --set scheduler.max_lost_leases=2)
wk=(--set worker.lease=2s --set kafka.session_timeout=6s --set sim.duration=20ms)
orch_start sa wavemill-scheduler "${sched[@]}"

# --- 1. rollback ---------------------------------------------------------
orch_waves 1 3 "now()" 3
# w1-s1's services are a file: the local transport stops and starts them
touch "$MARK/running"
head -c 1M /dev/zero >"$MARK/disk0"
orch_sql "UPDATE servers SET settings = jsonb_build_object('transport', 'local',
            'stop_command', 'rm -f $MARK/running', 'start_command', 'touch $MARK/running',
            'shutdown_command', 'touch $MARK/shut-down', 'agent_dir', '$MARK') WHERE name = 'w1-s1';
          UPDATE disks SET source_path = '$MARK/disk0'
          WHERE server_id = (SELECT id FROM servers WHERE name = 'w1-s1')"
orch_start wa wavemill-worker "${wk[@]}" --set sim.fail_always_kinds=launch_cutover
orch_wait_assigned 30 wa sa || orch_fail "consumers not assigned"
orch_start_waves w1
orch_wait 60 "SELECT count(*) FROM tasks WHERE kind = 'rollback_cutover' AND state = 'SUCCEEDED'" 3 ||
    orch_fail "servers did not roll back"
orch_wait 10 "SELECT string_agg(lifecycle || ':' || cutover_hold, ',' ORDER BY name) FROM servers" \
    "READY_FOR_CUTOVER:true,READY_FOR_CUTOVER:true,READY_FOR_CUTOVER:true" ||
    orch_fail "rolled-back servers should be READY_FOR_CUTOVER and held"
[ -f "$MARK/running" ] || orch_fail "w1-s1's services were not started again"
[ ! -e "$MARK/shut-down" ] || orch_fail "the source was shut down"
[ "$(orch_sql "SELECT count(*) FROM tasks WHERE kind = 'shutdown_source'")" = 0 ] ||
    orch_fail "a shutdown_source task exists"
[ "$(orch_sql "SELECT count(*) FROM servers WHERE error LIKE 'launch_cutover failed after 2 attempts: simulated failure%cutover rolled back'
               AND source_down_at IS NULL")" = 3 ] || orch_fail "rollback reason not recorded: $(orch_sql "SELECT error FROM servers LIMIT 1")"
wm status --wave w1 >"$ORCH_LOGS/status_rolled_back.txt" || orch_fail "status"
grep -q "cutover rolled back" "$ORCH_LOGS/status_rolled_back.txt" || orch_fail "status does not show the rollback"
sleep 2
[ "$(orch_sql "SELECT count(*) FROM tasks WHERE state IN ('QUEUED', 'RUNNING')")" = 0 ] ||
    orch_fail "held servers still have tasks running: the wave spins"
[ "$(orch_sql "SELECT count(*) FROM tasks WHERE kind = 'launch_cutover'")" = 3 ] ||
    orch_fail "a held server's cutover ran again without approval"
orch_log "rolled back: $(orch_sql "SELECT error FROM servers WHERE name = 'w1-s2'")"

# healthy workers; the operator approves one server, then the whole wave
kill -TERM "$PID_wa"; wait "$PID_wa" 2>/dev/null
orch_start wb wavemill-worker "${wk[@]}"
orch_wait_assigned 30 wb || orch_fail "worker wb not assigned"
wm server approve w1-s2 >/dev/null || orch_fail "server approve"
orch_wait 40 "SELECT lifecycle FROM servers WHERE name = 'w1-s2'" DONE || orch_fail "approved w1-s2 not DONE"
[ "$(orch_sql "SELECT lifecycle FROM servers WHERE name = 'w1-s3'")" = READY_FOR_CUTOVER ] ||
    orch_fail "w1-s3 moved without approval"
wm wave approve w1 >/dev/null || orch_fail "wave approve"
orch_wait 40 "SELECT status FROM waves WHERE name = 'w1'" DONE || orch_fail "wave w1 not DONE after approve"
[ -e "$MARK/shut-down" ] || orch_fail "w1-s1's source never shut down after its good cutover"
order=$(orch_sql "SELECT string_agg(kind, ',' ORDER BY id) FROM tasks t WHERE state = 'SUCCEEDED'
                  AND kind IN ('launch_cutover', 'validate', 'shutdown_source')
                  AND server_id = (SELECT id FROM servers WHERE name = 'w1-s2')")
[ "$order" = "launch_cutover,validate,shutdown_source" ] || orch_fail "cutover order: $order"

# --- 2. revert and finalize --------------------------------------------
orch_sql "INSERT INTO waves (name, cutover_at, max_parallel) VALUES ('w2', now(), 3);
          INSERT INTO servers (name, wave_id) SELECT 'w2-s' || g, id FROM waves, generate_series(1, 3) g
          WHERE waves.name = 'w2';
          INSERT INTO disks (server_id, source_path) SELECT s.id, '/dev/sda' FROM servers s
          JOIN waves w ON w.id = s.wave_id WHERE w.name = 'w2'"
wm wave set w2 --finalize-after manual >/dev/null || orch_fail "wave set --finalize-after"
kill -TERM "$PID_wb"; wait "$PID_wb" 2>/dev/null
orch_start wc wavemill-worker "${wk[@]}" --set sim.durations=launch_test=4s,validate=4s
orch_wait_assigned 30 wc || orch_fail "worker wc not assigned"
orch_start_waves w2
orch_wait 30 "SELECT lifecycle || ':' || current_step FROM servers WHERE name = 'w2-s1'" TESTING:launch_test ||
    orch_fail "w2-s1 never TESTING"
wm server revert w2-s1 --to testing >/dev/null || orch_fail "revert from TESTING"
orch_wait 30 "SELECT count(*) FROM tasks t JOIN servers s ON s.id = t.server_id WHERE s.name = 'w2-s1'
              AND t.kind = 'rollback_cutover' AND t.state = 'SUCCEEDED' AND t.params->>'to' = 'READY_FOR_TEST'" 1 ||
    orch_fail "revert to testing did not roll back"
orch_wait 30 "SELECT lifecycle || ':' || current_step FROM servers WHERE name = 'w2-s2'" CUTOVER:validate ||
    orch_fail "w2-s2 never validating"
wm server revert w2-s2 >/dev/null || orch_fail "revert from CUTOVER"
orch_wait 30 "SELECT lifecycle || ':' || cutover_hold FROM servers WHERE name = 'w2-s2'" READY_FOR_CUTOVER:true ||
    orch_fail "w2-s2 not back to READY_FOR_CUTOVER"
[ "$(orch_sql "SELECT count(*) FROM tasks t JOIN servers s ON s.id = t.server_id
               WHERE s.name = 'w2-s2' AND t.kind = 'shutdown_source'")" = 0 ] || orch_fail "w2-s2's source shut down"
orch_wait 40 "SELECT lifecycle || ':' || current_step FROM servers WHERE name = 'w2-s3'" POST_MIGRATION:decommission ||
    orch_fail "w2-s3 never waiting for finalize"
sleep 1
[ "$(orch_sql "SELECT t.state FROM tasks t JOIN servers s ON s.id = t.server_id
               WHERE s.name = 'w2-s3' AND t.kind = 'decommission'")" = PENDING ] || orch_fail "decommission ran before finalize"
if wm server revert w2-s3 >"$ORCH_LOGS/revert3.out" 2>&1; then orch_fail "revert after shutdown accepted"; fi
grep -q "the source was shut down at" "$ORCH_LOGS/revert3.out" || orch_fail "revert refusal: $(cat "$ORCH_LOGS/revert3.out")"
wm server finalize w2-s3 >/dev/null || orch_fail "server finalize"
orch_wait 30 "SELECT lifecycle FROM servers WHERE name = 'w2-s3'" DONE || orch_fail "finalized w2-s3 not DONE"
if wm server revert w2-s3 --force >"$ORCH_LOGS/revert3b.out" 2>&1; then orch_fail "revert after finalize accepted"; fi
grep -q "was finalized" "$ORCH_LOGS/revert3b.out" || orch_fail "finalize refusal: $(cat "$ORCH_LOGS/revert3b.out")"
orch_wait 40 "SELECT lifecycle || ':' || cutover_hold FROM servers WHERE name = 'w2-s1'" READY_FOR_CUTOVER:true ||
    orch_fail "w2-s1 not re-tested and held after its revert to testing"
[ "$(orch_sql "SELECT count(*) FROM tasks t JOIN servers s ON s.id = t.server_id
               WHERE s.name = 'w2-s1' AND t.kind = 'launch_test' AND t.state = 'SUCCEEDED'")" = 1 ] ||
    orch_fail "w2-s1's test instance not relaunched once"
audit=$(orch_sql "SELECT string_agg(action, ',' ORDER BY id) FROM audit_log WHERE action LIKE 'server.%'")
[ "$audit" = "server.approve,server.approve,server.approve,server.revert,server.revert,server.finalize" ] ||
    orch_fail "audit rows: $audit"

# --- 3. lost leases ------------------------------------------------------
kill -TERM "$PID_wc"; wait "$PID_wc" 2>/dev/null
orch_sql "INSERT INTO waves (name, max_parallel) VALUES ('w3', 1);
          INSERT INTO servers (name, wave_id) SELECT 'w3-s1', id FROM waves WHERE name = 'w3';
          INSERT INTO disks (server_id, source_path) SELECT id, '/dev/sda' FROM servers WHERE name = 'w3-s1'"
slow=(--set worker.lease=1s --set kafka.session_timeout=6s --set sim.duration=20ms
      --set sim.durations=agent_install=60s)
orch_start wd wavemill-worker "${slow[@]}"
orch_wait_assigned 30 wd || orch_fail "worker wd not assigned"
orch_start_waves w3
W3="kind = 'agent_install' AND server_id = (SELECT id FROM servers WHERE name = 'w3-s1')"
orch_wait 30 "SELECT count(*) FROM tasks WHERE $W3 AND state = 'RUNNING'" 1 || orch_fail "agent_install never ran"
kill -KILL "$PID_wd"
orch_wait 20 "SELECT lost_leases || ':' || max_attempts || ':' || (state <> 'RUNNING')
              FROM tasks WHERE $W3" "1:3:true" ||
    orch_fail "a lost lease should give the attempt back (max_attempts 2 -> 3)"
orch_start we wavemill-worker "${slow[@]}"
orch_wait_assigned 30 we || orch_fail "worker we not assigned"
orch_wait 30 "SELECT attempt || ':' || state FROM tasks WHERE $W3" "2:RUNNING" ||
    orch_fail "agent_install not re-run"
kill -KILL "$PID_we"
orch_wait 20 "SELECT lifecycle FROM servers WHERE name = 'w3-s1'" FAILED || orch_fail "poison task not stopped"
row=$(orch_sql "SELECT error LIKE 'agent_install failed (not retried): poison task: 2 workers lost%'
                FROM servers WHERE name = 'w3-s1'")
[ "$row" = t ] || orch_fail "poison reason: $(orch_sql "SELECT error FROM servers WHERE name = 'w3-s1'")"

# --- 4. a configuration error is not retried -----------------------------
orch_sql "INSERT INTO waves (name, max_parallel) VALUES ('w4', 1);
          INSERT INTO servers (name, wave_id, settings) SELECT 'w4-s1', id, '{\"replication\": \"wavemill\"}'
          FROM waves WHERE name = 'w4';
          INSERT INTO disks (server_id, source_path) SELECT id, '/dev/sda' FROM servers WHERE name = 'w4-s1'"
orch_start wf wavemill-worker "${wk[@]}"
orch_wait_assigned 30 wf || orch_fail "worker wf not assigned"
wm server skip w4-s1 --task agent_install >/dev/null || orch_fail "skip agent_install"
orch_start_waves w4
orch_wait 30 "SELECT lifecycle FROM servers WHERE name = 'w4-s1'" FAILED || orch_fail "w4-s1 not FAILED"
row=$(orch_sql "SELECT t.attempt || ':' || s.error FROM servers s JOIN tasks t ON t.server_id = s.id
                AND t.kind = s.current_step WHERE s.name = 'w4-s1'")
case "$row" in
"1:initial_sync failed (not retried): replication: no receiver"*) ;;
*) orch_fail "missing receiver should fail at once: $row" ;;
esac
# exactly once per attempt (steps themselves repeat after a rollback, by design)
dup=$(orch_sql "SELECT count(*) FROM (SELECT task_id, attempt FROM task_events
                WHERE state IN ('SUCCEEDED', 'RUNNING') GROUP BY task_id, attempt, state
                HAVING count(*) > 1) d")
[ "$dup" = 0 ] || orch_fail "$dup (task, attempt) pairs claimed or succeeded more than once"
orch_log "PASS: rollback before shutdown, approve, revert, finalize, lost leases, poison task, permanent failure"
