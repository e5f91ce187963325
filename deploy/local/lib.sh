# Shared by deploy/local/{up,down,status,kafka-topics}: where the stack lives
# and small helpers.  Sourced, not run.

WM_LOCAL=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WM_REPO=$(cd "$WM_LOCAL/../.." && pwd)
. "$WM_LOCAL/env"

# The stack's state lives outside the repository: PostgreSQL runs as an
# unprivileged user, which cannot traverse a clone under /root (mode 700).
# One directory per clone (hash of its path), so two clones don't collide.
WM_STATE_DEFAULT="/var/tmp/wavemill/$(basename "$WM_REPO")-$(printf %s "$WM_REPO" | sha1sum | cut -c1-8)"
: "${WM_STATE:=$WM_STATE_DEFAULT}"
WM_KAFKA_HOME="$WM_CACHE/kafka-$WM_KAFKA_VERSION"   # lib/*.jar
WM_KAFKA_DIR="$WM_STATE/kafka"                       # config, data, log, pid
WM_KAFKA_PID="$WM_KAFKA_DIR/kafka.pid"
WM_KAFKA_LOG="$WM_KAFKA_DIR/kafka.log"
WM_PG_DIR="$WM_STATE/pg"
WM_PG_DATA="$WM_PG_DIR/data"
WM_PG_SOCK="$WM_PG_DIR/sock"
WM_PG_LOG="$WM_PG_DIR/postgresql.log"
WM_PG_PID="$WM_PG_DATA/postmaster.pid"   # written by PostgreSQL itself

# PostgreSQL refuses to run as root: as root we run it as this user.
: "${WM_PG_OSUSER:=wavemill}"

say()  { printf '[%s] %s\n' "${WM_SCRIPT:-local}" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "${WM_SCRIPT:-local}" "$*" >&2; }
# die STEP LOG MESSAGE: the step that failed and where to look
die() {
    printf '[%s] FAILED at step "%s": %s\n' "${WM_SCRIPT:-local}" "$1" "$3" >&2
    if [ -n "$2" ] && [ -f "$2" ]; then
        printf '[%s] log: %s (last lines below)\n' "${WM_SCRIPT:-local}" "$2" >&2
        tail -n 20 "$2" | sed 's/^/    /' >&2
    elif [ -n "$2" ]; then
        printf '[%s] log: %s\n' "${WM_SCRIPT:-local}" "$2" >&2
    fi
    exit 1
}

# pid_alive PIDFILE [WORD]: prints the pid if the process in PIDFILE runs
# (and its command line contains WORD: a stale pidfile's pid may be reused)
pid_alive() {
    local pid
    [ -f "$1" ] || return 1
    pid=$(head -n 1 "$1" 2>/dev/null | tr -dc 0-9)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    if [ -n "${2:-}" ]; then
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2" || return 1
    fi
    echo "$pid"
}

# port_in_use PORT: something listens on 127.0.0.1:PORT (or any address)
port_in_use() {
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# as_pg_user CMD...: run as the unprivileged PostgreSQL owner when root
as_pg_user() {
    # from / : the caller's cwd may be a directory that user cannot enter
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u "$WM_PG_OSUSER" -- "$@")
    else
        (cd / && "$@")
    fi
}

pg_bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -x "$d/initdb" ] || return 1
    echo "$d"
}

kafka_answers() {
    timeout 10 kcat -L -b "127.0.0.1:$WM_KAFKA_PORT" -m 3 >/dev/null 2>&1
}

pg_answers() {
    PGCONNECT_TIMEOUT=3 psql -X -q -At -h 127.0.0.1 -p "$WM_PG_PORT" -U wavemill \
        -d "${1:-postgres}" -c 'select 1' 2>/dev/null | grep -qx 1
}

# The JVM for the broker and tools: Debian's OpenJDK 17 or 21 (the versions
# Kafka 3.9 is tested on) before whatever `java` is first on PATH.
wm_java() {
    local j
    for j in /usr/lib/jvm/java-17-openjdk-*/bin/java /usr/lib/jvm/java-21-openjdk-*/bin/java; do
        [ -x "$j" ] && { echo "$j"; return; }
    done
    command -v java
}

# stack_lock: one up/down at a time per stack (parallel `make test`s).
# Long-lived children (broker, postmaster) are started with 9>&- so they
# don't keep holding it.
stack_lock() {
    mkdir -p "$WM_STATE"
    exec 9>"$WM_STATE/.lock"
    flock -w 300 9 || die "lock" "" "another deploy/local/up or down holds $WM_STATE/.lock"
}

# kafka_classpath: the jars fetched by deploy/local/pom.xml
kafka_classpath() { echo "$WM_KAFKA_HOME/lib/*"; }
