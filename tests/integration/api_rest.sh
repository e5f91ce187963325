#!/usr/bin/env bash
# wavemill-api against the real stack: every endpoint's happy path and
# errors (400 with the field, 401, 403 per role, 404, 409), pagination,
# the audit row of each action (with token and source), no secret in any
# response, SSE resumption from Last-Event-ID, /metrics parsed by
# prometheus_client; all checked by tests/peers/api_peer.py.
. "$(dirname "$0")/../support/orch_lib.sh"
. "$ORCH_REPO/tests/support/api_lib.sh"
orch_setup api_rest
api_tokens
# a secret in the credential store and one in a server's settings: neither may leave
SECRET_VALUE="wm-api-secret-$$-Qx7Kp2Lm9"
head -c 32 /dev/urandom >"$ORCH_LOGS/mk"; chmod 600 "$ORCH_LOGS/mk"
printf '%s' "$SECRET_VALUE" >"$ORCH_LOGS/sv"
"$WM_BIN/wavemill" secret set ssh/db1 --from-file "$ORCH_LOGS/sv" --master-key "$ORCH_LOGS/mk" >/dev/null ||
    orch_fail "secret set"
rm -f "$ORCH_LOGS/sv"
api_sim_wave w1 3 --set sim.duration=150ms --set sim.durations=initial_sync=2s
orch_sql "UPDATE servers SET credential = 'ssh/db1',
          settings = jsonb_build_object('password', '$SECRET_VALUE') WHERE name = 'w1-s1'"
api_start
export SECRET_VALUE WAVEMILL_PG_CONNINFO
timeout 300 "$WM_PY" "$ORCH_REPO/tests/peers/api_peer.py" rest || orch_fail "api_peer rest"
