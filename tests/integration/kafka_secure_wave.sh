#!/usr/bin/env bash
# A wave through an authenticating, authorizing broker (issue 9): a broker
# of its own (deploy/local/kafka-secure: SASL_SSL + SCRAM-SHA-512,
# StandardAuthorizer, no ACL = deny); the administrator creates the topics
# and grants each principal its ACLs with `wavemill topics grant`; the
# scheduler runs as User:scheduler, the worker as User:worker (sim driver).
# The wave finishes, and a principal without write ACL on the task topics
# (the worker's) cannot inject a task with an ordinary Kafka client (kcat).
. "$(dirname "$0")/../support/orch_lib.sh"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
KDIR=$(mktemp -d /tmp/wm-kafka-secure-wave.XXXXXX)
export WM_KAFKA_SASL_PORT=$(free_port) WM_KAFKA_MTLS_PORT=$(free_port) WM_KAFKA_SEC_CONTROLLER_PORT=$(free_port)
secure_cleanup() {
    orch_cleanup
    "$ORCH_REPO/deploy/local/kafka-secure" stop "$KDIR" >/dev/null 2>&1
    rm -rf "$KDIR"
}
"$ORCH_REPO/deploy/local/kafka-secure" start "$KDIR" >&2 || { rm -rf "$KDIR"; orch_fail "secure broker did not start"; }
password() { awk -v u="$1" '$1 == u { print $2 }' "$KDIR/users"; }

# every client of this test: TLS to the broker, SCRAM-SHA-512; the admin by default
export WAVEMILL_KAFKA_BROKERS=127.0.0.1:$WM_KAFKA_SASL_PORT
export WAVEMILL_KAFKA_SECURITY_PROTOCOL=sasl_ssl
export WAVEMILL_KAFKA_SSL_CA=$KDIR/pki/ca.crt
export WAVEMILL_KAFKA_SASL_USERNAME=admin WAVEMILL_KAFKA_SASL_PASSWORD=$(password admin)
orch_setup secwave
trap secure_cleanup EXIT

"$WM_BIN/wavemill" topics grant --principal User:scheduler --role scheduler >&2 ||
    orch_fail "grant scheduler"
"$WM_BIN/wavemill" topics grant --principal User:worker --role worker >&2 || orch_fail "grant worker"
# ACLs reach the broker's authorizer shortly after the controller accepted
# them; a producer refused its idempotence id in between fails for good
kcat_as() { # USER kcat-args...
    local u=$1
    shift
    timeout 20 kcat -b "$WAVEMILL_KAFKA_BROKERS" -X security.protocol=sasl_ssl \
        -X ssl.ca.location="$KDIR/pki/ca.crt" -X sasl.mechanisms=SCRAM-SHA-512 \
        -X sasl.username="$u" -X sasl.password="$(password "$u")" "$@"
}
for u in scheduler worker; do
    for _ in $(seq 60); do
        kcat_as $u -L -t "${WAVEMILL_KAFKA_TOPIC_PREFIX}wm.tasks.control" 2>/dev/null |
            grep -q "partition 0," && break
        sleep 0.5
    done
done

orch_waves 1 3 "now()" 3
WAVEMILL_KAFKA_SASL_USERNAME=scheduler WAVEMILL_KAFKA_SASL_PASSWORD=$(password scheduler) \
    orch_start sa wavemill-scheduler --set scheduler.reconcile_interval=300ms
WAVEMILL_KAFKA_SASL_USERNAME=worker WAVEMILL_KAFKA_SASL_PASSWORD=$(password worker) \
    orch_start wa wavemill-worker --set worker.slots=8 --set sim.duration=20ms
orch_wait_assigned 60 wa sa || orch_fail "consumers not assigned on the secure broker"
orch_start_waves w1
orch_wait 120 "SELECT status FROM waves WHERE name = 'w1'" DONE || orch_fail "wave not DONE"
[ "$(orch_sql "SELECT count(*) FROM servers WHERE lifecycle = 'DONE'")" = 3 ] ||
    orch_fail "servers not DONE"
orch_assert_exactly_once
orch_log "wave w1 DONE through SASL_SSL with per-principal ACLs"

# the worker principal tries to publish a task message itself
topic=${WAVEMILL_KAFKA_TOPIC_PREFIX}wm.tasks.control
before=$(orch_sql "SELECT count(*) FROM tasks")
echo "forged" | kcat_as worker -P -t "$topic" >"$ORCH_LOGS/kcat.out" 2>&1 &&
    orch_fail "kcat as User:worker produced to $topic"
grep -qi "authoriz" "$ORCH_LOGS/kcat.out" || orch_fail "no authorization error: $(cat "$ORCH_LOGS/kcat.out")"
n=$(kcat_as admin -C -e -q -t "$topic" -f '%s\n' 2>/dev/null | grep -c '^forged$')
[ "$n" = 0 ] || orch_fail "the forged message reached $topic"
[ "$(orch_sql "SELECT count(*) FROM tasks")" = "$before" ] || orch_fail "tasks changed"
orch_log "PASS: User:worker refused on $topic (TOPIC_AUTHORIZATION_FAILED), nothing reached it"
