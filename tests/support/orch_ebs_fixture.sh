#!/usr/bin/env bash
# Fixture of test_worker_ebs_export: a database, a PKI (receiver, agent,
# worker), a receiver with its control port (serve --control) holding one
# synced volume, a moto server, and a server with one disk in the
# inventory.  `up DIR` writes DIR/fixture.env (KEY=value lines), `down DIR`
# stops everything.
#   DB CONNINFO ROOT SRC VOLUME CONTROL MOTO WORKER_TLS SERVER_ID DISK_ID TASK_ID
set -euo pipefail
DIR=$2
. "$(dirname "$0")/orch_fixture_lib.sh"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

up() {
    mkdir -p "$DIR/root" "$DIR/state"
    fixture_db_up "wm_ebs_$(basename "$DIR" | tr -c 'a-z0-9\n' '_')"
    echo "CONNINFO=$WAVEMILL_PG_CONNINFO" >>"$DIR/fixture.env"
    $WM pki init --dir "$DIR/pki" >/dev/null
    for r in agent receiver worker; do $WM pki issue --dir "$DIR/pki" --name "e-$r" --role $r >/dev/null; done
    local rport cport
    rport=$(free_port) cport=$(free_port)
    "$REPO/tests/peers/moto_server.sh" start "$DIR/moto" >/dev/null
    local moto=http://127.0.0.1:$(cat "$DIR/moto/moto.port")
    AWS_ACCESS_KEY_ID=AKIDFIXTURE AWS_SECRET_ACCESS_KEY=fixture-secret \
        setsid "$REPO/bin/wavemill-receiver" serve --listen 127.0.0.1:$rport --root "$DIR/root" \
        --tls-dir "$DIR/pki/e-receiver" --control 127.0.0.1:$cport >>"$DIR/receiver.log" 2>&1 </dev/null &
    echo $! >"$DIR/receiver.pid"
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$cport) 2>/dev/null && break; sleep 0.1; done
    python3 -c "
import os, random
r = random.Random(5)
with open('$DIR/src.img', 'wb') as f:
    f.truncate(16 << 20)
    for m in (0, 3, 4, 9, 15):
        f.seek(m << 20); f.write(r.randbytes(1 << 20))"
    "$REPO/bin/wavemill-agent" sync --disk "$DIR/src.img" --volume srv1-disk0 --to 127.0.0.1:$rport \
        --tls-dir "$DIR/pki/e-agent" --state-dir "$DIR/state" >/dev/null 2>>"$DIR/agent.log"
    local ids
    ids=$(psql "$WAVEMILL_PG_CONNINFO" -Atq -v ON_ERROR_STOP=1 <<SQL
INSERT INTO waves (name) VALUES ('wave-ebs');
INSERT INTO servers (name, wave_id, source_host, target_provider)
  SELECT 'srv1', id, '127.0.0.1', 'aws' FROM waves;
INSERT INTO disks (server_id, source_path, target_volume, generation)
  SELECT id, '$DIR/src.img', 'srv1-disk0', 1 FROM servers;
INSERT INTO tasks (server_id, wave_id, kind, state, attempt, lease_owner, lease_expires)
  SELECT id, wave_id, 'initial_sync', 'RUNNING', 1, 'test-worker', now() + interval '1 hour' FROM servers;
SELECT s.id || ' ' || d.id || ' ' || t.id FROM servers s JOIN disks d ON d.server_id = s.id
  JOIN tasks t ON t.server_id = s.id;
SQL
)
    set -- $ids
    cat >>"$DIR/fixture.env" <<ENV
ROOT=$DIR/root
SRC=$DIR/src.img
VOLUME=srv1-disk0
RECEIVER=127.0.0.1:$rport
CONTROL=127.0.0.1:$cport
MOTO=$moto
WORKER_TLS=$DIR/pki/e-worker
AGENT_TLS=$DIR/pki/e-agent
STATE=$DIR/state
SERVER_ID=$1
DISK_ID=$2
TASK_ID=$3
ENV
}

down() {
    [ -f "$DIR/receiver.pid" ] && kill "$(cat "$DIR/receiver.pid")" 2>/dev/null || true
    "$REPO/tests/peers/moto_server.sh" stop "$DIR/moto" || true
    fixture_db_down
    rm -rf "$DIR"
}

fixture_main "$1"
