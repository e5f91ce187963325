# orch_lib.sh — shared by the orchestration tests (tests/chaos/orch_*.sh)
# and tests/bench/orchestrate: a database and topic prefix of their own per
# run, processes started in the background and stopped by pid on exit, and
# waiting on SQL conditions with a deadline.
#   . tests/support/orch_lib.sh; orch_setup NAME
set -u
ORCH_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ORCH_REPO"
[ -f deploy/local/env ] && . deploy/local/env
WM_BIN=${WM_BIN:-$ORCH_REPO/bin}
ORCH_PIDS=()
ORCH_DB=
ORCH_KEEP=${ORCH_KEEP:-0}   # 1: keep the database and logs for a post-mortem

orch_log() { printf '%s %s\n' "$(date -u +%H:%M:%S.%3N)" "$*" >&2; }
orch_fail() { orch_log "FAIL: $*"; exit 1; }

orch_psql() { psql -h 127.0.0.1 -p "$WM_PG_PORT" -U wavemill -d "$ORCH_DB" -v ON_ERROR_STOP=1 -Atq "$@"; }
orch_sql() { orch_psql -c "$1"; }

orch_cleanup() {
    local pid
    for pid in "${ORCH_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${ORCH_PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    done
    if [ -n "$ORCH_DB" ] && [ "$ORCH_KEEP" != 1 ]; then
        dropdb -h 127.0.0.1 -p "$WM_PG_PORT" -U wavemill --if-exists --force "$ORCH_DB" 2>/dev/null
    fi
}

# orch_setup NAME: own database (migrated), own topics, env for the programs.
orch_setup() {
    local name=$1
    ORCH_DB=wm_orch_${name}_$$
    ORCH_LOGS=${WM_TEST_LOGS:-$ORCH_REPO/run/test-logs}/orch_${name}_$$
    mkdir -p "$ORCH_LOGS"
    trap orch_cleanup EXIT
    dropdb -h 127.0.0.1 -p "$WM_PG_PORT" -U wavemill --if-exists "$ORCH_DB" 2>/dev/null
    createdb -h 127.0.0.1 -p "$WM_PG_PORT" -U wavemill "$ORCH_DB" || orch_fail "createdb"
    export WAVEMILL_PG_CONNINFO="host=127.0.0.1 port=$WM_PG_PORT dbname=$ORCH_DB user=wavemill"
    export WAVEMILL_KAFKA_TOPIC_PREFIX="t.orch.${name}.$$.$(date +%s)."
    export WAVEMILL_LOG_LEVEL=${WAVEMILL_LOG_LEVEL:-info}
    "$WM_BIN/wavemill" db migrate >/dev/null 2>&1 || orch_fail "db migrate"
    "$WM_BIN/wavemill" topics ensure --partitions "${WM_PARTITIONS:-6}" >/dev/null 2>&1 ||
        orch_fail "topics ensure"
    orch_log "setup: db=$ORCH_DB prefix=$WAVEMILL_KAFKA_TOPIC_PREFIX logs=$ORCH_LOGS"
}

# orch_waves NWAVES NSERVERS CUTOVER_SQL [MAX_PARALLEL]: waves w1..wN with
# servers wK-s1..; CUTOVER_SQL is an SQL expression ("now()", "NULL", …).
orch_waves() {
    local nw=$1 ns=$2 cut=$3 par=${4:-10}
    orch_sql "INSERT INTO waves (name, cutover_at, max_parallel)
              SELECT 'w' || g, $cut, $par FROM generate_series(1, $nw) g;
              INSERT INTO servers (name, wave_id, fqdn)
              SELECT w.name || '-s' || g, w.id, w.name || '-s' || g || '.example'
              FROM waves w, generate_series(1, $ns) g;
              INSERT INTO disks (server_id, source_path, size_bytes)
              SELECT id, '/dev/sda', 10737418240 FROM servers;"
}

# orch_start NAME PROGRAM [--set k=v]...: background process, log in $ORCH_LOGS/NAME.log;
# its pid in the variable PID_<NAME>.
orch_start() {
    local name=$1 prog=$2
    shift 2
    "$WM_BIN/$prog" --set "$( [ "$prog" = wavemill-worker ] && echo worker.id || echo scheduler.id)=$name" \
        "$@" >"$ORCH_LOGS/$name.log" 2>&1 &
    local pid=$!
    ORCH_PIDS+=("$pid")
    printf -v "PID_$name" '%s' "$pid"
    printf -v "PROG_$name" '%s' "$prog"
}

# orch_wait TIMEOUT_S SQL EXPECTED: polls until SQL prints EXPECTED.
orch_wait() {
    local deadline=$((SECONDS + $1)) sql=$2 want=$3 got=
    while [ $SECONDS -lt $deadline ]; do
        got=$(orch_sql "$sql" 2>/dev/null)
        [ "$got" = "$want" ] && return 0
        sleep 0.3
    done
    orch_log "timeout waiting for [$sql] = [$want], last [$got]"
    return 1
}

orch_start_waves() {
    local w
    for w in "$@"; do "$WM_BIN/wavemill" wave start "$w" >/dev/null || orch_fail "wave start $w"; done
}

# Exactly-once checks every orchestration test makes at the end.
orch_assert_exactly_once() {
    local dup
    dup=$(orch_sql "SELECT count(*) FROM (SELECT task_id, attempt FROM task_events
                    WHERE state = 'SUCCEEDED' GROUP BY 1, 2 HAVING count(*) > 1) d")
    [ "$dup" = 0 ] || orch_fail "$dup (task, attempt) pairs succeeded more than once"
    dup=$(orch_sql "SELECT count(*) FROM (SELECT task_id, attempt FROM task_events
                    WHERE state = 'RUNNING' GROUP BY 1, 2 HAVING count(*) > 1) d")
    [ "$dup" = 0 ] || orch_fail "$dup (task, attempt) pairs claimed more than once"
    # one successful task per pipeline step and server (delta_sync may repeat)
    dup=$(orch_sql "SELECT count(*) FROM (SELECT server_id, kind FROM tasks
                    WHERE state = 'SUCCEEDED' AND kind <> 'delta_sync'
                    GROUP BY 1, 2 HAVING count(*) > 1) d")
    [ "$dup" = 0 ] || orch_fail "$dup (server, step) pairs completed twice"
}

# Every finished task has its whole history: created, queued, claimed and
# finished per attempt, in that order.
orch_assert_history() {
    local bad
    bad=$(orch_sql "SELECT count(*) FROM tasks t WHERE t.state = 'SUCCEEDED' AND NOT (
            EXISTS (SELECT 1 FROM task_events e WHERE e.task_id = t.id AND e.state = 'PENDING' AND e.attempt = 0)
        AND (SELECT array_agg(e.state ORDER BY e.id) FROM task_events e
             WHERE e.task_id = t.id AND e.attempt = t.attempt AND e.state <> 'PENDING')
            = ARRAY['QUEUED', 'RUNNING', 'SUCCEEDED'])")
    [ "$bad" = 0 ] || orch_fail "$bad succeeded tasks with an incomplete task_events history"
}

# orch_group_ok GROUP MEMBERS PARTITIONS: the brokers say consumer group
# GROUP (without the topic prefix) is Stable with MEMBERS members holding
# PARTITIONS partitions in all.
orch_group_ok() {
    local g
    g=$("$WM_BIN/wavemill" topics group "$1" 2>/dev/null) || return 1
    [ "$g" = "group ${WAVEMILL_KAFKA_TOPIC_PREFIX}$1 state Stable members $2 partitions $3" ]
}

# orch_wait_assigned TIMEOUT_S NAME...: until the consumers of the processes
# NAME (started by orch_start) hold every partition, as the brokers'
# consumer groups say (not the processes' logs, which depend on log.level):
# the named workers are the members of the worker group, holding both task
# topics' partitions; each named scheduler alone holds wm.status.
orch_wait_assigned() {
    local deadline=$((SECONDS + $1)) n prog parts=${WM_PARTITIONS:-6} nworkers=0 g
    shift
    for n in "$@"; do
        prog=PROG_$n
        [ "${!prog:-}" = wavemill-worker ] && nworkers=$((nworkers + 1))
    done
    for n in "$@"; do
        prog=PROG_$n
        if [ "${!prog:-}" = wavemill-worker ]; then
            g="wavemill-workers members $nworkers partitions $((2 * parts))"
        else
            g="wavemill-scheduler-$n members 1 partitions $parts"
        fi
        # shellcheck disable=SC2086 # g is three words on purpose
        until orch_group_ok $(echo "$g" | awk '{print $1, $3, $5}'); do
            [ $SECONDS -lt $deadline ] || {
                orch_log "$n: consumer group not assigned: want [$g], brokers say [$("$WM_BIN/wavemill" topics group "${g%% *}" 2>&1)]"
                return 1
            }
            sleep 0.3
        done
    done
}
