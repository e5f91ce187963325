#!/usr/bin/env bash
# `wavemill db migrate` / `db status` against the real PostgreSQL of the
# local stack ($WAVEMILL_PG_CONNINFO), in a fresh database of its own:
# migrating twice (second run is a no-op), audit trail, and clear one-line
# errors with the right exit status for bad config, unreachable server and
# bad command lines.
set -u
cd "$(dirname "$0")/../.."
. tests/support/cli_lib.sh
cli_db_init wm_test_cli_$$ wm_cli_db

# check NAME EXPECTED_RC PATTERN_ON_STREAM STREAM(out|err) -- cmd...
check() {
    local name=$1 want_rc=$2 pattern=$3 stream=$4; shift 5
    timeout 60 "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    local text; text=$(cat "$TMP/$stream")
    if [ "$rc" -ne "$want_rc" ]; then
        no "$name: exit $rc, wanted $want_rc; stdout: $(cat "$TMP/out"); stderr: $(cat "$TMP/err")"
    elif ! grep -Eq -- "$pattern" "$TMP/$stream"; then
        no "$name: $stream does not match /$pattern/: $text"
    else
        ok "$name"
    fi
}

cli_db_create

check "first migrate applies every migration" 0 \
    '^applied [0-9]+ migrations? \(now at version [0-9]+\)$' out -- "$WAVEMILL" db migrate
version=$(sed -n 's/.*now at version \([0-9]*\).*/\1/p' "$TMP/out")
files=$(ls schemas/sql | grep -Ec '^[0-9]+_.*\.sql$')
applied=$(in_db -c "SELECT count(*) FROM schema_migrations")
[ "$applied" = "$files" ] && ok "schema_migrations has all $files files" ||
    no "schema_migrations has $applied rows, schemas/sql has $files files"

check "second migrate is a no-op" 0 "^up to date \\(version ${version:-x}\\)$" out -- \
    "$WAVEMILL" db migrate
[ "$(in_db -c "SELECT count(*) FROM audit_log WHERE action = 'db.migrate'")" = 1 ] &&
    ok "one audit_log row for the migration that changed something" ||
    no "audit_log db.migrate rows: $(in_db -c "SELECT count(*) FROM audit_log WHERE action = 'db.migrate'")"

check "--json db status" 0 '"pending":0' out -- "$WAVEMILL" --json db status
check "db status names the version" 0 "version ${version:-x}, 0 pending" out -- "$WAVEMILL" db status

printf '[pg]\nconninfoo = host=127.0.0.1\n' >"$TMP/bad.conf"
check "unknown config key: clear error" 1 "^wavemill: db migrate: config: .*bad.conf:2.*pg.conninfoo" err -- \
    "$WAVEMILL" --config "$TMP/bad.conf" db migrate
printf '[pg]\nconnect_timeout = soon\n' >"$TMP/bad2.conf"
check "bad config value: clear error" 1 "pg.connect_timeout" err -- \
    "$WAVEMILL" --config "$TMP/bad2.conf" db migrate
check "missing config file" 1 "^wavemill: db migrate: config: .*nonexistent.conf" err -- \
    "$WAVEMILL" --config "$TMP/nonexistent.conf" db migrate

check "unreachable server: one-line reason" 1 \
    '^wavemill: db migrate: cannot connect to PostgreSQL at host=127.0.0.1 port=1: Connection refused$' err -- \
    env WAVEMILL_PG_CONNINFO="host=127.0.0.1 port=1 dbname=x user=u password=pw-not-shown" \
    WAVEMILL_PG_CONNECT_TIMEOUT=300ms "$WAVEMILL" db migrate
if grep -q "pw-not-shown" "$TMP/err" "$TMP/out"; then no "password printed"; else ok "password not printed"; fi

check "unknown command: usage error" 2 "unknown command" err -- "$WAVEMILL" frobnicate
check "unknown option: usage error" 2 "unknown option" err -- "$WAVEMILL" --frob db migrate
check "unknown subcommand: usage error" 2 "unknown subcommand" err -- "$WAVEMILL" db frob
check "--help lists commands" 0 "db migrate" out -- "$WAVEMILL" --help
check "--version" 0 '^wavemill [0-9]' out -- "$WAVEMILL" --version
check "migrate --dir that does not exist" 1 "cannot read migrations directory" err -- \
    "$WAVEMILL" db migrate --dir "$TMP/none"

echo "cli_db: $fails failed"
[ "$fails" -eq 0 ]
