#!/usr/bin/env bash
# Three waves of 20 servers, started together, with 3 workers and 2
# schedulers (sim driver, short durations): every server reaches DONE, every
# task ran to success exactly once per attempt, task_events is complete,
# both schedulers owned waves and all three workers ran tasks.  The cutover
# window opens 6 s after the start, so delta syncs repeat (every 1 s) before
# the cutover steps run.
. "$(dirname "$0")/../support/orch_lib.sh"
orch_setup multiwave

orch_waves 3 20 "now() + interval '6 seconds'" 20
sim=(--set sim.duration=20ms --set sim.durations=initial_sync=300ms,delta_sync=100ms,final_delta_sync=100ms)
sched=(--set scheduler.reconcile_interval=500ms --set scheduler.delta_interval=1s --set scheduler.ownership_interval=300ms)
orch_start sa wavemill-scheduler "${sched[@]}"
orch_start sb wavemill-scheduler "${sched[@]}"
for w in wa wb wc; do orch_start $w wavemill-worker --set worker.slots=8 "${sim[@]}"; done
orch_wait_assigned 30 wa wb wc sa sb || orch_fail "consumers not assigned"
orch_sql "UPDATE waves SET cutover_at = now() + interval '6 seconds'"
orch_start_waves w1 w2 w3
start=$SECONDS

orch_wait 90 "SELECT count(*) FROM waves WHERE status = 'DONE'" 3 || orch_fail "waves not DONE"
orch_log "3 waves DONE in $((SECONDS - start)) s"

[ "$(orch_sql "SELECT count(*) FROM servers WHERE lifecycle = 'DONE'")" = 60 ] || orch_fail "servers not DONE"
orch_assert_exactly_once
orch_assert_history
steps=$(orch_sql "SELECT count(DISTINCT kind) FROM tasks WHERE state = 'SUCCEEDED'")
[ "$steps" = 15 ] || orch_fail "expected 15 pipeline steps to have run, got $steps"
deltas=$(orch_sql "SELECT count(*) FROM tasks WHERE kind = 'delta_sync' AND state = 'SUCCEEDED'")
nodelta=$(orch_sql "SELECT count(*) FROM servers s WHERE NOT EXISTS (SELECT 1 FROM tasks t
                    WHERE t.server_id = s.id AND t.kind = 'delta_sync' AND t.state = 'SUCCEEDED')")
[ "$nodelta" = 0 ] || orch_fail "$nodelta servers had no delta sync before the window opened"
repeated=$(orch_sql "SELECT count(*) FROM (SELECT server_id FROM tasks WHERE kind = 'delta_sync'
                     AND state = 'SUCCEEDED' GROUP BY 1 HAVING count(*) >= 2) r")
[ "$repeated" -gt 0 ] || orch_fail "delta syncs never repeated"
early=$(orch_sql "SELECT count(*) FROM tasks t JOIN waves w ON w.id = t.wave_id
                  WHERE t.kind = 'stop_source_services' AND t.claimed_at < w.cutover_at")
[ "$early" = 0 ] || orch_fail "$early cutover steps ran before the window opened"
scheds=$(orch_sql "SELECT count(DISTINCT actor) FROM task_events WHERE actor LIKE 'scheduler:%'")
[ "$scheds" = 2 ] || orch_fail "expected both schedulers to own waves, saw $scheds"
workers=$(orch_sql "SELECT count(DISTINCT actor) FROM task_events WHERE actor LIKE 'worker:%'")
[ "$workers" = 3 ] || orch_fail "expected 3 workers to run tasks, saw $workers"
left=$(orch_sql "SELECT count(*) FROM task_outbox")
[ "$left" = 0 ] || orch_fail "$left outbox rows never published"
orch_log "PASS: $(orch_sql "SELECT count(*) FROM tasks WHERE state = 'SUCCEEDED'") tasks, $deltas delta syncs, 2 schedulers, 3 workers"

# wm.status is a public interface: every event this run published must decode
# with an independent Avro library given only schemas/status.avsc.
py=${WM_PY:-$HOME/.cache/wavemill/venv/bin/python}
report=$(timeout 60 kcat -C -q -e -b "$WAVEMILL_KAFKA_BROKERS" -t "${WAVEMILL_KAFKA_TOPIC_PREFIX}wm.status" \
             -f '%R%s' | "$py" "$ORCH_REPO/tests/peers/avro_peer.py" stream "$ORCH_REPO/schemas/status.avsc") ||
    orch_fail "reading wm.status with kcat + fastavro failed"
orch_log "wm.status by fastavro: $report"
read -r decoded failed succeeded < <("$py" -c 'import json,sys; r=json.load(sys.stdin)
print(r["decoded"], r["failed"], r["counts"].get("task/SUCCEEDED", 0))' <<<"$report")
[ "$failed" = 0 ] || orch_fail "$failed wm.status events did not decode with fastavro"
tasks_ok=$(orch_sql "SELECT count(*) FROM tasks WHERE state = 'SUCCEEDED'")
[ "$succeeded" -ge "$tasks_ok" ] ||
    orch_fail "fastavro saw $succeeded task/SUCCEEDED events for $tasks_ok succeeded tasks"
orch_log "PASS: $decoded wm.status events decoded by fastavro, $succeeded task successes"
