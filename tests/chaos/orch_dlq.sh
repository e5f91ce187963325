#!/usr/bin/env bash
# Messages a worker cannot decode (garbage, a truncated Avro frame) land in
# wm.dlq with the reason in a header, their offsets are stored, and the
# worker keeps working: a wave started afterwards reaches DONE.
. "$(dirname "$0")/../support/orch_lib.sh"
orch_setup dlq

orch_waves 1 3 "now()" 3
orch_start sa wavemill-scheduler --set scheduler.reconcile_interval=300ms
orch_start wa wavemill-worker --set sim.duration=10ms
orch_wait_assigned 30 wa sa || orch_fail "consumers not assigned"
ctl=${WAVEMILL_KAFKA_TOPIC_PREFIX}wm.tasks.control
dlq=${WAVEMILL_KAFKA_TOPIC_PREFIX}wm.dlq
printf 'this is not avro' | kcat -P -b "$WAVEMILL_KAFKA_BROKERS" -t "$ctl" -k 7 || orch_fail "produce garbage"
printf '\xc3\x01\x01\x02' | kcat -P -b "$WAVEMILL_KAFKA_BROKERS" -t "$ctl" -k 8 || orch_fail "produce truncated"

got=
for _ in $(seq 50); do
    got=$(kcat -C -b "$WAVEMILL_KAFKA_BROKERS" -t "$dlq" -o beginning -c 2 -e -q \
          -f '%k|%s|%h\n' 2>/dev/null)
    [ "$(printf '%s\n' "$got" | grep -c .)" -ge 2 ] && break
    sleep 0.3
done
printf '%s\n' "$got" | LC_ALL=C grep -aq '^7|this is not avro|.*wm.error=' || orch_fail "garbage not in the DLQ: $got"
printf '%s\n' "$got" | LC_ALL=C grep -aq '^8|.*wm.error=.*wm.source_topic='"$ctl" || orch_fail "truncated frame not in the DLQ: $got"

orch_start_waves w1
orch_wait 30 "SELECT status FROM waves WHERE name = 'w1'" DONE || orch_fail "worker stopped working after the DLQ"
kill -0 "$PID_wa" || orch_fail "worker died"
LC_ALL=C grep -aq 'worker.dead_letter' "$ORCH_LOGS/wa.log" || orch_fail "no dead_letter log line"
orch_assert_exactly_once
orch_log "PASS: 2 undecodable messages in $dlq, wave DONE afterwards"
