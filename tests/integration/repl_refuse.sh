#!/usr/bin/env bash
# Peers without a valid certificate are cut off before any volume data
# moves: an agent certificate from another CA, a client with no certificate
# at all.  A volume name that would escape the root is refused with a clear
# error.  Nothing of them reaches the receiver's root.
. "$(dirname "$0")/../support/repl_lib.sh"
repl_pki
start_receiver
SRC=$T/src.img
head -c 2M /dev/urandom >"$SRC"

"$AGENT" sync --disk "$SRC" --volume foreign --to 127.0.0.1:$RPORT --tls-dir "$T/otherpki/agent1" \
    --state-dir "$T/state" --retries 1 >"$T/out" 2>&1 && fail "agent with a foreign certificate synced"
grep -qi "certificate\|verify\|alert\|handshake" "$T/out" || fail "no clear error: $(cat "$T/out")"
[ -z "$(ls "$ROOT")" ] || fail "foreign agent left files: $(ls "$ROOT")"
pass "foreign-CA agent refused: $(grep -m1 -i 'failed' "$T/out" | cut -c1-160)"

# a TLS client presenting no certificate
timeout 10 openssl s_client -connect 127.0.0.1:$RPORT -CAfile "$T/pki/ca.crt" -tls1_3 -quiet \
    </dev/null >"$T/sclient.out" 2>&1
sleep 0.3
grep -q "repl.handshake_failed" "$T/receiver.log" || fail "receiver did not log the refused handshake"
grep "repl.handshake_failed" "$T/receiver.log" | tail -1 | grep -qi "certificate" ||
    fail "refusal does not mention the certificate: $(grep handshake_failed "$T/receiver.log" | tail -1)"
[ -z "$(ls "$ROOT")" ] || fail "certificate-less client left files"
pass "client without certificate refused"

for bad in "../x" "/abs" "a/b" ".." ""; do
    "$AGENT" sync --disk "$SRC" --volume "$bad" --to 127.0.0.1:$RPORT --tls-dir "$T/pki/agent1" \
        --state-dir "$T/state" >"$T/out" 2>&1 && fail "volume '$bad' accepted"
    grep -q "invalid volume name" "$T/out" || fail "no clear error for '$bad': $(cat "$T/out")"
done
[ -z "$(ls "$ROOT")" ] && [ ! -e "$T/x.img" ] && [ ! -e /abs.img ] || fail "escaping name left files"
pass "escaping volume names refused"

# a "receiver" whose certificate is not a receiver's gets no volume data
FAKE_ROOT=$T/fakeroot FAKE_PORT=$(free_port)
mkdir -p "$FAKE_ROOT"
"$RECEIVER" serve --listen 127.0.0.1:$FAKE_PORT --root "$FAKE_ROOT" --tls-dir "$T/pki/worker1" \
    >>"$T/fake.log" 2>&1 &
PIDS+=($!)
sleep 0.5
"$AGENT" sync --disk "$SRC" --volume stolen --to 127.0.0.1:$FAKE_PORT --tls-dir "$T/pki/agent1" \
    --state-dir "$T/state" --retries 1 >"$T/out" 2>&1 && fail "agent sent a volume to a worker certificate"
grep -q "role 'worker', not 'receiver'" "$T/out" || fail "no clear error: $(cat "$T/out")"
[ -z "$(ls "$FAKE_ROOT")" ] || fail "fake receiver got files"
pass "agent refuses a peer whose certificate is not a receiver's"

# and the good agent still works afterwards
agent_sync good "$SRC" || fail "good sync"
same "$SRC" "$ROOT/good.img"
pass "valid agent unaffected"
