#!/usr/bin/env bash
# `wavemill secret set|list|rm|rotate` against the real PostgreSQL of the
# local stack, in a fresh database of its own: a distinctive value set from a
# file never shows up in stdout/stderr (debug logging on), --json output,
# audit_log rows or the credentials table; master key from --master-key and
# from config; refusals (key file mode 0644, wrong key, missing key) are one
# line with the right exit status; rotation moves every secret.
set -u
cd "$(dirname "$0")/../.."
. tests/support/cli_lib.sh
cli_db_init wm_test_secret_cli_$$ wm_secret_cli

export WAVEMILL_LOG_LEVEL=debug

# everything any command printed, for the leak checks at the end
ALL=$TMP/all-output
: >"$ALL"
# check NAME EXPECTED_RC PATTERN STREAM(out|err) -- cmd...
check() {
    local name=$1 want_rc=$2 pattern=$3 stream=$4; shift 5
    timeout 60 "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    cat "$TMP/out" "$TMP/err" >>"$ALL"
    if [ "$rc" -ne "$want_rc" ]; then
        no "$name: exit $rc, wanted $want_rc; stdout: $(cat "$TMP/out"); stderr: $(cat "$TMP/err")"
    elif ! grep -Eq -- "$pattern" "$TMP/$stream"; then
        no "$name: $stream does not match /$pattern/: $(cat "$TMP/$stream")"
    else
        ok "$name"
    fi
}

cli_db_create migrate

VALUE="wm-distinctive-$$-Zq7xK9pL3mN8vR2t"
printf '%s' "$VALUE" >"$TMP/value"
head -c 32 /dev/urandom >"$TMP/k1"; chmod 600 "$TMP/k1"
head -c 32 /dev/urandom >"$TMP/k2"; chmod 600 "$TMP/k2"
cp "$TMP/k1" "$TMP/k-open"; chmod 644 "$TMP/k-open"
printf '[secrets]\nmaster_key = %s\n' "$TMP/k1" >"$TMP/wm.conf"

check "set from a file" 0 '^stored secret cloud/aws \([0-9]+ bytes, master key [0-9a-f]{16}\)$' out -- \
    "$WAVEMILL" secret set cloud/aws --from-file "$TMP/value" --master-key "$TMP/k1"
check "set --json, master key from the config file" 0 '"ok":true.*"name":"ssh/src1".*"key_id":"[0-9a-f]{16}"' out -- \
    "$WAVEMILL" --config "$TMP/wm.conf" --json secret set ssh/src1 --from-file "$TMP/value"
check "set with the key from the environment" 0 '^stored secret env-key ' out -- \
    env WAVEMILL_SECRETS_MASTER_KEY="$TMP/k1" "$WAVEMILL" secret set env-key --from-file "$TMP/value"
check "list shows names" 0 '^cloud/aws +key [0-9a-f]{16}' out -- "$WAVEMILL" secret list
check "list --json" 0 '^\{"ok":true,"secrets":\[\{"name":"cloud/aws","key_id":"[0-9a-f]{16}"' out -- \
    "$WAVEMILL" --json secret list
[ "$(grep -o '"name"' "$TMP/out" | wc -l)" = 3 ] && ok "list --json has the 3 secrets" ||
    no "list --json: $(cat "$TMP/out")"

check "key file mode 0644 refused" 1 '^wavemill: secret set: master key .*k-open has mode 0644: it must not be readable by group or others' err -- \
    "$WAVEMILL" secret set other --from-file "$TMP/value" --master-key "$TMP/k-open"
[ "$(grep -c . "$TMP/err")" = 1 ] && ok "refusal is one line, before any database work" ||
    no "refusal: $(cat "$TMP/err")"
check "no master key: usage error" 2 'no master key' err -- \
    "$WAVEMILL" secret set other --from-file "$TMP/value"
check "missing value file" 1 'cannot read .*/nope' err -- \
    "$WAVEMILL" secret set other --from-file "$TMP/nope" --master-key "$TMP/k1"
check "rm of an unknown secret" 1 '^wavemill: secret rm: no secret named ghost$' err -- \
    "$WAVEMILL" secret rm ghost
check "bad name" 2 'bad secret name' err -- \
    "$WAVEMILL" secret set "bad name" --from-file "$TMP/value" --master-key "$TMP/k1"
check "unknown subcommand" 2 "unknown subcommand 'show'" err -- "$WAVEMILL" secret show x

check "rotate with the wrong current key changes nothing" 1 'sealed with master key .*nothing changed' err -- \
    "$WAVEMILL" secret rotate --new-key "$TMP/k1" --master-key "$TMP/k2"
check "rotate" 0 '^re-encrypted 3 secrets under master key [0-9a-f]{16}' out -- \
    "$WAVEMILL" secret rotate --new-key "$TMP/k2" --master-key "$TMP/k1"
newid=$(sed -n 's/.*master key \([0-9a-f]*\).*/\1/p' "$TMP/out")
[ "$(in_db -c "SELECT count(*) FROM credentials WHERE key_id = '$newid'")" = 3 ] &&
    ok "every row is under the new key $newid" || no "rows not all under $newid"
check "set under the new key after rotation" 0 'stored secret' out -- \
    "$WAVEMILL" secret set cloud/aws --from-file "$TMP/value" --master-key "$TMP/k2"
check "rm" 0 '^removed secret env-key$' out -- "$WAVEMILL" secret rm env-key
check "list after rm" 0 '^cloud/aws' out -- "$WAVEMILL" secret list
grep -q env-key "$TMP/out" && no "env-key still listed" || ok "env-key gone"

# audit trail: one row per change, the name but never the value
[ "$(in_db -c "SELECT count(*) FROM audit_log WHERE action = 'secret.set'")" = 4 ] &&
    ok "4 secret.set audit rows" ||
    no "secret.set audit rows: $(in_db -c "SELECT count(*) FROM audit_log WHERE action = 'secret.set'")"
[ "$(in_db -c "SELECT count(*) FROM audit_log WHERE action = 'secret.set' AND detail->>'name' = 'cloud/aws'")" = 2 ] &&
    ok "audit rows name the secret" || no "audit rows do not name cloud/aws"
for a in secret.rotate secret.rm; do
    [ "$(in_db -c "SELECT count(*) FROM audit_log WHERE action = '$a'")" = 1 ] && ok "audit row $a" ||
        no "no audit row $a"
done
in_db -c "SELECT actor, action, coalesce(wave,''), coalesce(server,''), detail::text FROM audit_log" >"$TMP/audit"
in_db -c "SELECT name, key_id, encode(nonce, 'escape'), encode(ciphertext, 'escape') FROM credentials" >"$TMP/table"

# the value must appear nowhere: outputs (with debug logging), audit log, table
leaked=0
for f in "$ALL" "$TMP/audit" "$TMP/table"; do
    if grep -qF -- "$VALUE" "$f"; then no "value found in $(basename "$f")"; leaked=1; fi
done
[ "$leaked" = 0 ] && ok "value never in outputs, audit_log or the credentials table"
grep -q 'level=debug' "$ALL" && ok "debug logging was on while checking" || no "no debug log lines seen"

[ "$fails" -eq 0 ] && echo "all secret CLI checks passed"
exit $((fails > 0))
