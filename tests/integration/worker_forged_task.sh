#!/usr/bin/env bash
# A task message is only a notification; the rows decide what runs.
#  1. A forged message (encoded by an independent Avro implementation,
#     tests/peers/avro_peer.py) names a QUEUED task's id and attempt but
#     another kind and the exec provider with a script: it lands in wm.dlq
#     with the reason, nothing runs (the script's marker file is never
#     created) and the task row is unchanged (same state, attempt, lease,
#     timestamps; no task_events).
#  2. A message that names the row correctly but carries forged parameters
#     (provider exec, a script) is claimed and run as the rows say: the
#     server is a sim server, so the sim driver runs the step and the script
#     never does.
# Real worker, real Kafka, real PostgreSQL (own database and topic prefix).
. "$(dirname "$0")/../support/orch_lib.sh"
orch_setup forged
py=${WM_PY:-$HOME/.cache/wavemill/venv/bin/python}
[ -x "$py" ] || orch_fail "no Python for the Avro peer at $py (deploy/local/install-deps)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wm-forged.XXXXXX")
marker=$tmp/pwned
trap 'rm -rf "$tmp"; orch_cleanup' EXIT

orch_waves 1 1 "NULL" 1
sid=$(orch_sql "SELECT id FROM servers WHERE name = 'w1-s1'")
wid=$(orch_sql "SELECT id FROM waves WHERE name = 'w1'")
tid=$(orch_sql "INSERT INTO tasks (server_id, wave_id, kind, state, attempt)
                VALUES ($sid, $wid, 'prereq_check', 'QUEUED', 1) RETURNING id" | head -1)
row_sql="SELECT state, attempt, coalesce(lease_owner, '-'), coalesce(lease_expires::text, '-'),
                coalesce(claimed_at::text, '-'), updated_at, checkpoint::text, coalesce(error, '-')
         FROM tasks WHERE id = $tid"
before=$(orch_sql "$row_sql")

orch_start wa wavemill-worker --set sim.duration=0
orch_wait_assigned 30 wa || orch_fail "worker not assigned"

# forged messages, encoded by fastavro from the schema file
msg() { # NAME KIND PARAMS_JSON
    printf '{"schema": "task", "datum": {"task_id": %s, "attempt": 1, "wave_id": %s,
             "wave": "w1", "server_id": %s, "server": "w1-s1", "kind": "%s", "params": %s,
             "deadline": null, "published_at": %s000}}\n' \
        "$tid" "$wid" "$sid" "$2" "$3" "$(date +%s)" >"$tmp/$1.py.json"
}
evil="{\"provider\": \"exec\", \"transport\": \"local\", \"exec_script\": \"touch $marker\"}"
msg forged launch_test "$evil"
msg honest prereq_check "$evil"
"$py" tests/peers/avro_peer.py batch "$tmp" schemas/task.avsc >/dev/null ||
    orch_fail "the Avro peer could not encode the messages"

ctl=${WAVEMILL_KAFKA_TOPIC_PREFIX}wm.tasks.control
dlq=${WAVEMILL_KAFKA_TOPIC_PREFIX}wm.dlq
kcat -P -b "$WAVEMILL_KAFKA_BROKERS" -t "$ctl" -k "$sid" "$tmp/forged.py.bin" ||
    orch_fail "produce the forged message"

got=
for _ in $(seq 100); do
    got=$(kcat -C -b "$WAVEMILL_KAFKA_BROKERS" -t "$dlq" -o beginning -c 1 -e -q -f '%k|%h\n' 2>/dev/null)
    [ -n "$got" ] && break
    sleep 0.3
done
echo "dlq: $got"
printf '%s\n' "$got" | grep -q "^$sid|.*wm.error=task $tid: the message says kind launch_test.*the row says kind prereq_check" ||
    orch_fail "the forged message is not in $dlq with its reason: $got"
after=$(orch_sql "$row_sql")
[ "$before" = "$after" ] || orch_fail "the task row changed: [$before] -> [$after]"
events=$(orch_sql "SELECT count(*) FROM task_events WHERE task_id = $tid")
[ "$events" = 0 ] || orch_fail "$events task_events for a task nobody should have touched"
[ ! -e "$marker" ] || orch_fail "the forged script ran"
orch_log "ok: forged message dead-lettered, row unchanged, nothing ran"

# the right row, forged parameters: the rows decide (a sim server)
kcat -P -b "$WAVEMILL_KAFKA_BROKERS" -t "$ctl" -k "$sid" "$tmp/honest.py.bin" ||
    orch_fail "produce the second message"
orch_wait 30 "SELECT state FROM tasks WHERE id = $tid" SUCCEEDED ||
    orch_fail "the task named correctly did not run"
[ ! -e "$marker" ] || orch_fail "the message's exec_script ran: parameters came from the message"
LC_ALL=C grep -aq "task.finished.*task=$tid .*simulated=true" "$ORCH_LOGS/wa.log" ||
    orch_fail "the task did not run on the sim driver the server row names"
orch_log "PASS: forged message -> $dlq, row unchanged; forged parameters ignored (sim server ran sim)"
