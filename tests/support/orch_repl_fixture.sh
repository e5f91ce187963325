#!/usr/bin/env bash
# Fixture of test_worker_replication: a database of its own, a PKI, one source
# host in a network namespace (tests/hosts/host, own state root), a local
# disk image, a receiver on the host's root-side address, the factory key in
# the credential store, and two servers (transport local and ssh) with a
# RUNNING task each.  Writes DIR/fixture.env (KEY=value) for the test.
#   orch_repl_fixture.sh up DIR | down DIR
set -euo pipefail
export WM_HOSTS_DIR=/var/tmp/wavemill-hosts-test-repldrv
. "$(dirname "${BASH_SOURCE[0]}")/orch_fixture_lib.sh"
HNAME=rdt
ADDR_ARG=10.231.221.2/24
cmd=$1 DIR=$2

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

down() {
    if [ -f "$DIR/receiver.pid" ]; then kill "$(cat "$DIR/receiver.pid")" 2>/dev/null || true; fi
    for f in "$DIR"/agent-loc1/agent.pid "$WM_HOSTS_DIR/$HNAME/agent/agent.pid"; do
        [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null || true
    done
    QUIET=1 $HOST down-all >/dev/null 2>&1 || true
    fixture_db_down
    rm -rf "$DIR"
}

up() {
    mkdir -p "$DIR"
    local db=wm_repldrv_$$
    fixture_db_up "$db"
    $WM pki init --dir "$DIR/pki" >/dev/null
    for r in agent receiver worker; do $WM pki issue --dir "$DIR/pki" --name "t-$r" --role $r >/dev/null; done
    QUIET=1 $HOST down-all >/dev/null 2>&1 || true
    QUIET=1 $HOST up $HNAME --addr $ADDR_ARG --disks 1 --disk-size 16M >/dev/null
    local addr root_addr
    addr=$($HOST info $HNAME | sed -n 's/^addr=//p')
    root_addr=$($HOST info $HNAME | sed -n 's/^root_addr=//p')
    # the local "source": 16 MiB of random, text and zero regions
    truncate -s 16M "$DIR/local.img"
    head -c 3M /dev/urandom | dd of="$DIR/local.img" bs=1M seek=1 conv=notrunc status=none
    { yes "wavemill driver test line" || true; } | head -c 4M | dd of="$DIR/local.img" bs=1M seek=8 conv=notrunc status=none
    local rport p1 p2
    rport=$(free_port) p1=$(free_port) p2=$(free_port)
    mkdir -p "$DIR/root"
    "$REPO/bin/wavemill-receiver" serve --listen "$root_addr:$rport" --root "$DIR/root" \
        --tls-dir "$DIR/pki/t-receiver" >>"$DIR/receiver.log" 2>&1 &
    echo $! >"$DIR/receiver.pid"
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/$root_addr/$rport") 2>/dev/null && break; sleep 0.1; done
    head -c 32 /dev/urandom >"$DIR/master.key"
    chmod 600 "$DIR/master.key"
    $WM secret set factory-ssh --from-file "$WM_HOSTS_DIR/factory/id_ed25519" \
        --master-key "$DIR/master.key" >/dev/null
    psql -h 127.0.0.1 -p "$WM_PG_PORT" -U wavemill -d "$db" -v ON_ERROR_STOP=1 -Atq <<SQL >"$DIR/ids"
INSERT INTO waves (name) VALUES ('w1');
INSERT INTO servers (name, wave_id, source_host, settings)
  SELECT 'loc1', id, '127.0.0.1', jsonb_build_object('agent_dir', '$DIR/agent-loc1',
         'agent_port', '$p1', 'receiver', '$root_addr:$rport') FROM waves;
INSERT INTO servers (name, wave_id, source_host, source_user, credential, settings)
  SELECT 'ssh1', id, '$addr', 'root', 'factory-ssh', jsonb_build_object('agent_dir',
         '$WM_HOSTS_DIR/$HNAME/agent', 'agent_port', '$p2', 'receiver', '$root_addr:$rport') FROM waves;
INSERT INTO disks (server_id, source_path) SELECT id, '$DIR/local.img' FROM servers WHERE name = 'loc1';
INSERT INTO disks (server_id, source_path) SELECT id, '$WM_HOSTS_DIR/$HNAME/disk0.img' FROM servers WHERE name = 'ssh1';
INSERT INTO tasks (server_id, wave_id, kind, state, attempt, lease_owner, lease_expires)
  SELECT id, wave_id, 'initial_sync', 'RUNNING', 1, 'test-worker', now() + interval '1 hour' FROM servers ORDER BY id;
SELECT s.name || ' ' || s.id || ' ' || t.id FROM servers s JOIN tasks t ON t.server_id = s.id ORDER BY s.id;
SQL
    cat >>"$DIR/fixture.env" <<ENV
CONNINFO=$WAVEMILL_PG_CONNINFO
ROOT=$DIR/root
AGENT_TLS=$DIR/pki/t-agent
WORKER_TLS=$DIR/pki/t-worker
KNOWN_HOSTS=$WM_HOSTS_DIR/factory/known_hosts
MASTER_KEY=$DIR/master.key
LOC_ID=$(awk '$1=="loc1"{print $2}' "$DIR/ids")
LOC_TASK=$(awk '$1=="loc1"{print $3}' "$DIR/ids")
LOC_DISK=$DIR/local.img
LOC_AGENT_DIR=$DIR/agent-loc1
SSH_ID=$(awk '$1=="ssh1"{print $2}' "$DIR/ids")
SSH_TASK=$(awk '$1=="ssh1"{print $3}' "$DIR/ids")
SSH_DISK=$WM_HOSTS_DIR/$HNAME/disk0.img
SSH_AGENT_DIR=$WM_HOSTS_DIR/$HNAME/agent
ENV
}

fixture_main "$cmd"
