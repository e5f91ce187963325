#!/usr/bin/env bash
# wm.status as a monitoring tool reads it (tests/peers/status_peer.py,
# fastavro with schemas/status.avsc only): every server-scoped event keyed
# by the server id, wave events by the wave id; every wave transition
# published (created, started, paused, resumed, window set, done) with the
# source and identity of the operator (cli:<user>, api:<token>);
# simulated=true on every event of a sim server.  The scheduler's and the
# worker's /metrics (metrics.listen) parse with prometheus_client and move
# as the wave runs; their /readyz sees PostgreSQL and Kafka.
. "$(dirname "$0")/../support/orch_lib.sh"
. "$ORCH_REPO/tests/support/api_lib.sh"
orch_setup status_stream
api_tokens
api_sim_wave w1 2 --set sim.duration=50ms --set sim.durations=initial_sync=500ms
api_start
for u in "$SCHED_METRICS" "$WORKER_METRICS"; do
    for _ in $(seq 100); do curl -sf "$u/readyz" >/dev/null && break; sleep 0.1; done
    curl -sf "$u/readyz" | grep -q "^postgresql: ok" && curl -sf "$u/readyz" | grep -q "^kafka: ok" ||
        orch_fail "$u/readyz: $(curl -s "$u/readyz")"
done
claimed0=$(prom "$WORKER_METRICS" wm_worker_tasks_total what=claimed)
issued0=$(prom "$SCHED_METRICS" wm_sched_tasks_total what=issued)
[ "$claimed0" = 0 ] || [ "$claimed0" = absent ] || orch_fail "worker claimed before any wave: $claimed0"
export USER=ops-alice SUDO_USER=
W=$WM_BIN/wavemill
"$W" wave create w2 >/dev/null || orch_fail "wave create"
"$W" wave start w1 >/dev/null || orch_fail "wave start"
curl -sf -X POST -H "Authorization: Bearer $OPERATOR" "$API_URL/api/v1/waves/w1/actions/pause" >/dev/null ||
    orch_fail "api pause"
"$W" wave resume w1 >/dev/null || orch_fail "wave resume"
curl -sf -X POST -H "Authorization: Bearer $OPERATOR" -d '{"at":"now"}' \
    "$API_URL/api/v1/waves/w1/actions/cutover" >/dev/null || orch_fail "api cutover"
orch_wait 120 "SELECT status FROM waves WHERE name = 'w1'" DONE || orch_fail "w1 not DONE"
sleep 2 # the DONE event follows the commit
claimed1=$(prom "$WORKER_METRICS" wm_worker_tasks_total what=claimed)
succ1=$(prom "$WORKER_METRICS" wm_worker_tasks_total what=succeeded)
issued1=$(prom "$SCHED_METRICS" wm_sched_tasks_total what=issued)
done1=$(prom "$SCHED_METRICS" wm_sched_tasks_total what=waves_done)
queued=$(prom "$SCHED_METRICS" wm_tasks state=SUCCEEDED kind=initial_sync)
[ "$claimed1" -ge 20 ] && [ "$succ1" -ge 20 ] || orch_fail "worker metrics did not move: claimed $claimed1 succeeded $succ1"
[ "$issued1" -ge 20 ] && [ "$done1" = 1 ] || orch_fail "scheduler metrics: issued $issued1 waves_done $done1"
[ "$queued" = 2 ] || orch_fail "wm_tasks{kind=initial_sync,state=SUCCEEDED} = $queued"
echo "ok: metrics moved: worker claimed ${claimed0/absent/0} -> $claimed1, scheduler issued ${issued0/absent/0} -> $issued1, waves_done $done1"
topic=${WAVEMILL_KAFKA_TOPIC_PREFIX}wm.status
timeout 60 kcat -C -q -e -b "$WAVEMILL_KAFKA_BROKERS" -t "$topic" -f '%p %o %K\n%k%R%s' \
    >"$ORCH_LOGS/status.dump" || orch_fail "kcat"
orch_sql "SELECT json_build_object('servers', (SELECT json_object_agg(name, id) FROM servers),
          'waves', (SELECT json_object_agg(name, id) FROM waves),
          'sim', (SELECT json_agg(name) FROM servers WHERE target_provider = 'sim'))" >"$ORCH_LOGS/ids.json"
cat >"$ORCH_LOGS/expect.json" <<JSON
{"wave": "w1", "states": ["RUNNING", "PAUSED", "RUNNING", "RUNNING", "DONE"],
 "sources": ["cli:ops-alice", "api:operator1"]}
JSON
"$WM_PY" "$ORCH_REPO/tests/peers/status_peer.py" "$ORCH_REPO/schemas/status.avsc" \
    "$ORCH_LOGS/status.dump" "$ORCH_LOGS/ids.json" "$ORCH_LOGS/expect.json" || orch_fail "status_peer"
