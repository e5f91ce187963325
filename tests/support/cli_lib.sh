# Shared setup of the CLI shell tests (tests/integration/cli_*.sh,
# secret_cli.sh), sourced from the repository root (cli_pki.sh uses only
# the binary and the ok/no counters):
#   . tests/support/cli_lib.sh
#   cli_db_init wm_test_cli_foo_$$ wm_cli_foo   # DB and TMP, dropped on exit
#   cli_db_create [migrate]                     # or exit 1 with a FAIL line
# run/same/has are shared; each test keeps its own check() (they differ
# on purpose) and ends with its own summary from $fails.
WM_BIN=${WM_BIN:-$PWD/bin}
WAVEMILL=$WM_BIN/wavemill
BASE=${WAVEMILL_PG_CONNINFO:-host=127.0.0.1 port=15432 dbname=wavemill user=wavemill}
fails=0

ok() { echo "ok   - $1"; }
no() { echo "FAIL - $1"; fails=$((fails + 1)); }

# run EXPECTED_RC cmd... : runs with output in $TMP/out, $TMP/err; says if rc differs
run() {
    local want=$1; shift
    timeout 60 "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    [ "$rc" -eq "$want" ] && return 0
    no "'$*' exit $rc, wanted $want; stdout: $(cat "$TMP/out"); stderr: $(cat "$TMP/err")"
    return 1
}
# same NAME GOT WANT; has NAME out|err TEXT (a fixed string): ok, or no and
# return 1 (so `run ... && has ... && more` stops at a missing match)
same() { if [ "$2" = "$3" ]; then ok "$1"; else no "$1: got '$2', wanted '$3'"; return 1; fi; }
has() {
    if grep -qF -- "$3" "$TMP/$2"; then ok "$1"; else
        no "$1: $2 lacks '$3': $(cat "$TMP/$2")"
        return 1
    fi
}
# first NAME out|err PREFIX: the first line starts with PREFIX
first() {
    local line
    line=$(head -1 "$TMP/$2")
    case $line in "$3"*) ok "$1" ;; *)
        no "$1: first line of $2 is '$line', wanted '$3...'"
        return 1
        ;;
    esac
}

admin() { PGCONNECT_TIMEOUT=5 psql -X -q -At -v ON_ERROR_STOP=1 -d "$BASE" "$@"; }
in_db() { PGCONNECT_TIMEOUT=5 psql -X -q -At -v ON_ERROR_STOP=1 -d "$WAVEMILL_PG_CONNINFO" "$@"; }
q() { in_db -c "$1"; }

# cli_db_init DBNAME TMPPREFIX: the test's database name (made of the
# script's name and pid: CREATE DATABASE takes no parameters) and a temp
# dir; both go away on exit.  wavemill commands use the database through
# $WAVEMILL_PG_CONNINFO (in a key=value conninfo the last dbname wins).
cli_db_init() {
    DB=$1
    TMP=$(mktemp -d "/tmp/$2.XXXXXX")
    export WAVEMILL_PG_CONNINFO="$BASE dbname=$DB"
    trap cli_cleanup EXIT
}
cli_cleanup() { admin -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1; rm -rf "$TMP"; }

# cli_db_create [migrate]: the binary is built and the database exists
# (and is migrated), or the test stops here.
cli_db_create() {
    [ -x "$WAVEMILL" ] || { echo "FAIL - $WAVEMILL not built"; exit 1; }
    admin -c "CREATE DATABASE $DB" || { echo "FAIL - cannot create database $DB at $BASE"; exit 1; }
    [ "${1:-}" = migrate ] || return 0
    "$WAVEMILL" db migrate >/dev/null 2>"$TMP/err" ||
        { echo "FAIL - migrate: $(cat "$TMP/err")"; exit 1; }
}
