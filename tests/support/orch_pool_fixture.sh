#!/usr/bin/env bash
# Fixture of test_worker_receiver_pool: a database of its own, a PKI, two
# receivers on loopback (roots DIR/r0, DIR/r1), and one server (transport
# local) with four disk images and a RUNNING initial_sync task.  Receiver k
# can be stopped and started again on the same port and root:
#   orch_pool_fixture.sh up DIR | down DIR | stop DIR K | start DIR K
# Writes DIR/fixture.env (KEY=value) for the test.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/orch_fixture_lib.sh"
cmd=$1 DIR=$2

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start_receiver() { # K
    local k=$1 port
    port=$(cat "$DIR/r$k.port")
    mkdir -p "$DIR/r$k"
    "$REPO/bin/wavemill-receiver" serve --listen "127.0.0.1:$port" --root "$DIR/r$k" \
        --tls-dir "$DIR/pki/t-receiver" >>"$DIR/r$k.log" 2>&1 &
    echo $! >"$DIR/r$k.pid"
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0; sleep 0.1; done
    echo "receiver $k did not start" >&2
    return 1
}

stop_receiver() { # K: as if the machine died (no drain)
    local p
    p=$(cat "$DIR/r$1.pid" 2>/dev/null) || return 0
    kill -KILL "$p" 2>/dev/null || true
    while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
}

down() {
    stop_receiver 0
    stop_receiver 1
    [ -f "$DIR/agent/agent.pid" ] && kill -KILL "$(cat "$DIR/agent/agent.pid")" 2>/dev/null || true
    fixture_db_down
    rm -rf "$DIR"
}

up() {
    mkdir -p "$DIR"
    local db=wm_pool_$$
    fixture_db_up "$db"
    $WM pki init --dir "$DIR/pki" >/dev/null
    for r in agent receiver worker; do $WM pki issue --dir "$DIR/pki" --name "t-$r" --role $r >/dev/null; done
    free_port >"$DIR/r0.port"
    free_port >"$DIR/r1.port"
    start_receiver 0
    start_receiver 1
    local i aport
    for i in 0 1 2 3; do
        head -c 6M /dev/urandom >"$DIR/disk$i.img"
    done
    aport=$(free_port)
    psql -h 127.0.0.1 -p "$WM_PG_PORT" -U wavemill -d "$db" -v ON_ERROR_STOP=1 -Atq <<SQL >"$DIR/ids"
INSERT INTO waves (name) VALUES ('w1');
INSERT INTO servers (name, wave_id, source_host, settings)
  SELECT 'pool1', id, '127.0.0.1', jsonb_build_object('agent_dir', '$DIR/agent',
         'agent_port', '$aport') FROM waves;
INSERT INTO disks (server_id, source_path)
  SELECT s.id, '$DIR/disk' || i || '.img' FROM servers s, generate_series(0, 3) i;
INSERT INTO tasks (server_id, wave_id, kind, state, attempt, lease_owner, lease_expires)
  SELECT id, wave_id, 'initial_sync', 'RUNNING', 1, 'test-worker', now() + interval '1 hour' FROM servers;
SELECT s.id || ' ' || t.id FROM servers s JOIN tasks t ON t.server_id = s.id;
SQL
    cat >>"$DIR/fixture.env" <<ENV
CONNINFO=$WAVEMILL_PG_CONNINFO
AGENT_TLS=$DIR/pki/t-agent
WORKER_TLS=$DIR/pki/t-worker
R0=127.0.0.1:$(cat "$DIR/r0.port")
R1=127.0.0.1:$(cat "$DIR/r1.port")
SERVER_ID=$(awk '{print $1}' "$DIR/ids")
TASK_ID=$(awk '{print $2}' "$DIR/ids")
ENV
}

case "$cmd" in
    stop) stop_receiver "$3" ;;
    start) start_receiver "$3" ;;
    *) fixture_main "$cmd" ;;
esac
