# Shared helpers for the replicator's shell tests (sourced, not run).
# Each test gets a scratch dir, a PKI, a receiver on a free port, and
# cleans up after itself.
set -u
WM_REPO=${WM_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
WM_BIN=${WM_BIN:-$WM_REPO/bin}
AGENT=$WM_BIN/wavemill-agent
RECEIVER=$WM_BIN/wavemill-receiver
WM_CLI=$WM_BIN/wavemill
[ -x "$WM_CLI" ] || WM_CLI=$WM_REPO/bin/wavemill   # e.g. WM_BIN=bin/asan
T=$(mktemp -d /tmp/wm-repl-test.XXXXXX)
PIDS=()

repl_cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    [ "${KEEP:-0}" = 1 ] || rm -rf "$T"
}
trap repl_cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# A port nobody listens on (bind-and-release).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# PKI with an agent, a receiver, a worker, and an identity from another CA.
repl_pki() {
    if [ -x "$WM_CLI" ] && "$WM_CLI" pki init --dir "$T/pki" >/dev/null 2>&1; then
        "$WM_CLI" pki issue --dir "$T/pki" --name agent1 --role agent >/dev/null
        "$WM_CLI" pki issue --dir "$T/pki" --name recv1 --role receiver >/dev/null
        "$WM_CLI" pki issue --dir "$T/pki" --name worker1 --role worker >/dev/null
        "$WM_CLI" pki init --dir "$T/otherpki" >/dev/null
        "$WM_CLI" pki issue --dir "$T/otherpki" --name agent1 --role agent >/dev/null
    else
        fail "wavemill pki not available"
    fi
}

# start_receiver [extra args...]: sets RPORT, RPID, ROOT
start_receiver() {
    ROOT=${ROOT:-$T/root}
    mkdir -p "$ROOT"
    RPORT=${RPORT:-$(free_port)}
    "$RECEIVER" serve --listen 127.0.0.1:$RPORT --root "$ROOT" --tls-dir "$T/pki/recv1" "$@" \
        >>"$T/receiver.log" 2>&1 &
    RPID=$!
    PIDS+=($RPID)
    for _ in $(seq 50); do
        (exec 3<>/dev/tcp/127.0.0.1/$RPORT) 2>/dev/null && return 0
        sleep 0.1
    done
    fail "receiver did not start"
}

stop_receiver() { kill "$RPID" 2>/dev/null; wait "$RPID" 2>/dev/null; }

# agent_sync VOLUME DISK [args...] -> runs a sync with --json, output in $T/last.json
agent_sync() {
    local vol=$1 disk=$2; shift 2
    "$AGENT" sync --disk "$disk" --volume "$vol" --to 127.0.0.1:$RPORT --tls-dir "$T/pki/agent1" \
        --state-dir "$T/state" --json "$@" >"$T/last.json" 2>>"$T/agent.log"
}

# json_field NAME: the field of the last "done" line of $T/last.json
json_field() {
    grep '"event":"done"' "$T/last.json" | tail -1 | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}

# mixed_image PATH SIZE_MIB: sparse image with random, text and zero regions
mixed_image() {
    local p=$1 mib=$2
    truncate -s ${mib}M "$p"
    local i
    for ((i = 1; i < mib; i += 8)); do
        if (( (i / 8) % 3 == 0 )); then
            head -c 2M /dev/urandom | dd of="$p" bs=1M seek=$i conv=notrunc status=none
        elif (( (i / 8) % 3 == 1 )); then
            yes "wavemill text line $i lorem ipsum dolor sit amet" | head -c 3M |
                dd of="$p" bs=1M seek=$i conv=notrunc status=none
        fi
    done
}

# scribble PATH BLOCK...: overwrite 4 KiB blocks with random data
scribble() {
    local p=$1; shift
    for b in "$@"; do
        head -c 4096 /dev/urandom | dd of="$p" bs=4096 seek="$b" conv=notrunc status=none
    done
}

same() { cmp -s "$1" "$2" || fail "${3:-images differ}: $(cmp "$1" "$2" 2>&1 | head -1)"; }
