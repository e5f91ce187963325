# Sourced by the tests/support/orch_*_fixture.sh scripts (`up DIR` /
# `down DIR`, DIR/fixture.env read by the C test): the repository root as
# cwd, the local stack's settings, $WM and $HOST, and the fixture's own
# database, recorded as DB= in DIR/fixture.env so `down` finds it even
# after a half-done `up`.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"
[ -f deploy/local/env ] && . deploy/local/env
WM=$REPO/bin/wavemill
HOST=tests/hosts/host

# fixture_db_up NAME: creates and migrates database NAME, starts
# DIR/fixture.env with it and exports WAVEMILL_PG_CONNINFO for it.
fixture_db_up() {
    echo "DB=$1" >"$DIR/fixture.env"
    createdb -h 127.0.0.1 -p "$WM_PG_PORT" -U wavemill "$1"
    export WAVEMILL_PG_CONNINFO="host=127.0.0.1 port=$WM_PG_PORT dbname=$1 user=wavemill"
    $WM db migrate >/dev/null
}

# fixture_db_down: drops the database DIR/fixture.env names, if any
# (returns 0 when there is none: the callers run under set -e).
fixture_db_down() {
    [ -f "$DIR/fixture.env" ] || return 0
    local db
    db=$(sed -n 's/^DB=//p' "$DIR/fixture.env")
    [ -n "$db" ] || return 0
    dropdb -h 127.0.0.1 -p "$WM_PG_PORT" -U wavemill --if-exists --force "$db" 2>/dev/null
}

# fixture_main CMD: runs the script's up or down function.
fixture_main() {
    case $1 in
    up) up ;;
    down) down ;;
    *) echo "usage: $0 up|down DIR" >&2; exit 2 ;;
    esac
}
