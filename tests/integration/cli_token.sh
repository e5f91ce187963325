#!/usr/bin/env bash
# `wavemill token create|list|revoke` against the local PostgreSQL, in a
# database of its own: the token is printed once and only its hash stored;
# list and the audit log name tokens and roles, never a secret; bad roles,
# durations and duplicate names are refused with exit 2 / 1; a revoked
# token is listed as revoked.
set -u
cd "$(dirname "$0")/../.."
. tests/support/cli_lib.sh
cli_db_init wm_test_cli_token_$$ wm_cli_token
cli_db_create migrate

run 0 "$WAVEMILL" token create alice --role operator --expires 30d && {
    tok=$(cat "$TMP/out")
    if [[ $tok =~ ^wmt_[0-9a-f]{64}$ ]]; then ok "token printed once, wmt_ + 64 hex"; else no "token format: $tok"; fi
    has "stderr says it is shown only now" err "shown only now"
}
same "only the hash is stored" "$(q "SELECT count(*) FROM api_tokens WHERE secret_sha256 = sha256('$tok'::bytea)")" 1
same "the secret is in no row" "$(q "SELECT count(*) FROM api_tokens t WHERE t::text LIKE '%${tok:4:20}%'")" 0
same "expiry about 30 days" "$(q "SELECT expires_at - created_at BETWEEN interval '29 days' AND interval '31 days' FROM api_tokens WHERE name='alice'")" t

run 0 "$WAVEMILL" --json token create viewer1 --role viewer
has "--json carries name and role" out '"name":"viewer1","role":"viewer"'
run 2 "$WAVEMILL" token create bob --role root && has "bad role refused" err "viewer, operator or admin"
run 2 "$WAVEMILL" token create bob --role viewer --expires soon && has "bad duration refused" err "--expires 'soon'"
run 2 "$WAVEMILL" token create --role viewer && has "missing name refused" err "which token"
run 1 "$WAVEMILL" token create alice --role admin && has "duplicate refused" err "exists already"
run 1 "$WAVEMILL" token create "a b" --role admin && has "bad name refused" err "invalid token name"

run 0 "$WAVEMILL" token revoke alice && has "revoke says so" out "token 'alice' revoked"
run 1 "$WAVEMILL" token revoke alice && has "second revoke refused" err "no active token named 'alice'"
run 0 "$WAVEMILL" token list
has "list shows the revoked token" out "alice"
grep -q "alice .*operator *revoked" "$TMP/out" && ok "alice listed as revoked" || no "list: $(cat "$TMP/out")"
run 0 "$WAVEMILL" --json token list
grep -q "wmt_" "$TMP/out" && no "list --json shows a secret" || ok "list --json shows no secret"

same "audit rows for create and revoke" \
    "$(q "SELECT string_agg(action || ':' || (detail->>'token'), ',' ORDER BY id) FROM audit_log WHERE action LIKE 'token.%'")" \
    "token.create:alice,token.create:viewer1,token.revoke:alice"
same "no secret in the audit log" "$(q "SELECT count(*) FROM audit_log WHERE detail::text LIKE '%wmt_%'")" 0

echo "$fails failed"
[ "$fails" -eq 0 ]
