#!/usr/bin/env bash
# Fixture of test_worker_prereq_task: a database of its own and two source
# hosts in network namespaces (tests/hosts/host, own state root):
#   pqok  (10.231.231.2) two 8 MiB disks; servers ok1 (both disks) and bad1
#         (disk0 and a path that does not exist) reach it
#   pqkey (10.231.232.2) one disk; server key1, whose host key the test
#         changes
# Servers have no OS facts (os_family/os_version '', size_bytes 0): the
# prereq_check step fills them in.  Writes DIR/fixture.env (KEY=value).
#   orch_prereq_fixture.sh up DIR | down DIR
set -euo pipefail
export WM_HOSTS_DIR=/var/tmp/wavemill-hosts-test-prereq
. "$(dirname "${BASH_SOURCE[0]}")/orch_fixture_lib.sh"
cmd=$1 DIR=$2

down() {
    QUIET=1 $HOST down-all >/dev/null 2>&1 || true
    fixture_db_down
    rm -rf "$DIR" "$WM_HOSTS_DIR"
}

info() { $HOST info "$1" | sed -n "s/^$2=//p"; }

up() {
    mkdir -p "$DIR"
    local db=wm_prereq_$$
    fixture_db_up "$db"
    QUIET=1 $HOST down-all >/dev/null 2>&1 || true
    QUIET=1 $HOST up pqok --addr 10.231.231.2/24 --disks 2 --disk-size 8M >/dev/null
    QUIET=1 $HOST up pqkey --addr 10.231.232.2/24 --disks 1 --disk-size 8M >/dev/null
    local ok key
    ok=$WM_HOSTS_DIR/pqok key=$WM_HOSTS_DIR/pqkey
    psql -h 127.0.0.1 -p "$WM_PG_PORT" -U wavemill -d "$db" -v ON_ERROR_STOP=1 -Atq <<SQL >"$DIR/ids"
INSERT INTO waves (name) VALUES ('w1');
INSERT INTO servers (name, wave_id, os_family, source_host, source_user, settings)
  SELECT n, w.id, '', h, 'root', jsonb_build_object('agent_dir', a)
  FROM waves w, (VALUES ('ok1', '10.231.231.2', '$ok/agent'), ('bad1', '10.231.231.2', '$ok/agent'),
                        ('key1', '10.231.232.2', '$key/agent')) v(n, h, a);
INSERT INTO disks (server_id, source_path)
  SELECT s.id, p FROM servers s, (VALUES ('ok1', '$ok/disk0.img'), ('ok1', '$ok/disk1.img'),
                                         ('bad1', '$ok/disk0.img'), ('bad1', '$ok/no-such-disk.img'),
                                         ('key1', '$key/disk0.img')) v(n, p)
  WHERE s.name = v.n ORDER BY s.id, p;
SELECT name || ' ' || id FROM servers ORDER BY id;
SQL
    cat >>"$DIR/fixture.env" <<ENV
CONNINFO=$WAVEMILL_PG_CONNINFO
HOSTS_DIR=$WM_HOSTS_DIR
KNOWN_HOSTS=$(info pqok known_hosts)
KEY=$(info pqok key)
OK_ROOT_ADDR=$(info pqok root_addr)
OK_STATE=$ok
KEY_STATE=$key
ENV
    while read -r name id; do echo "${name^^}_ID=$id"; done <"$DIR/ids" >>"$DIR/fixture.env"
}

fixture_main "$cmd"
