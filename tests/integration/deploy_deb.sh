#!/usr/bin/env bash
# `make deb` builds a Debian package that really installs (apt-get install
# ./wavemill_*.deb, as an operator would), and whose scheduler and worker,
# started with their systemd units' own command lines as the unit's user,
# run a simulated wave to DONE from the installed /etc/wavemill/wavemill.conf
# (edited, as an operator does, to name this test's database and topics).
# The package is purged afterwards; a user the package created is removed.
# Needs root.  One run at a time on a machine (a lock), and it refuses to
# touch a wavemill package someone else installed.
set -u
cd "$(dirname "$0")/../.."
REPO=$PWD
[ -f deploy/local/env ] && . deploy/local/env
[ "$(id -u)" = 0 ] || { echo "FAIL - needs root (dpkg)"; exit 1; }
TMP=$(mktemp -d /tmp/wm_deb.XXXXXX)
chmod 0755 "$TMP"
fails=0 PIDS=() INSTALLED=0 MADE_USER=0 MARK=/var/lib/wavemill-deb-test.pid
DB=wm_test_deb_$$ PREFIX_T="t.deb.$$.$(date +%s)."
PG="host=127.0.0.1 port=${WM_PG_PORT:-15432} user=wavemill"
ok() { echo "ok   - $1"; }
no() { echo "FAIL - $1"; fails=$((fails + 1)); }
apt() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 -y -q "$@" </dev/null; }
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do timeout 30 tail --pid="$p" -f /dev/null 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
    if [ $INSTALLED = 1 ]; then
        apt purge wavemill >"$TMP/purge.log" 2>&1 || cat "$TMP/purge.log"
        rm -rf /etc/wavemill
    fi
    [ $MADE_USER = 1 ] && { deluser --system wavemill >/dev/null 2>&1; rm -rf /var/lib/wavemill; }
    dropdb -h 127.0.0.1 -p "${WM_PG_PORT:-15432}" -U wavemill --if-exists --force "$DB" 2>/dev/null
    [ "$(cat "$MARK" 2>/dev/null)" = $$ ] && ! dpkg-query -W wavemill >/dev/null 2>&1 && rm -f "$MARK"
    rm -rf "$TMP"
}
trap cleanup EXIT

exec 9>/var/lock/wavemill-deb-test.lock
flock -w 900 9 || { echo "FAIL - another deb test holds /var/lock/wavemill-deb-test.lock"; exit 1; }
# a package this test installed in a run that was killed (marker with a
# dead pid) is purged; one installed by anybody else is left alone
MARK=/var/lib/wavemill-deb-test.pid
if dpkg-query -W -f='${Status}' wavemill 2>/dev/null | grep -q installed; then
    if [ -f "$MARK" ] && ! kill -0 "$(cat "$MARK")" 2>/dev/null; then
        apt purge wavemill >/dev/null 2>&1 && rm -rf /etc/wavemill && echo "note: purged the package a killed run left"
    fi
    if dpkg-query -W -f='${Status}' wavemill 2>/dev/null | grep -q installed; then
        echo "FAIL - a wavemill package is already installed on this machine; not touching it"; exit 1
    fi
fi
echo $$ >"$MARK"

# --- build
deb=$(make -s deb 2>"$TMP/build.err" | tail -1)
[ -f "$deb" ] && ok "make deb: $(basename "$deb")" || { no "make deb: $(cat "$TMP/build.err")"; exit 1; }
dpkg-deb -f "$deb" Depends | grep -q "librdkafka1" && ok "Depends computed by dpkg-shlibdeps: $(dpkg-deb -f "$deb" Depends)" ||
    no "Depends: $(dpkg-deb -f "$deb" Depends)"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/wavemill/wavemill.conf &&
    ok "wavemill.conf is a conffile" || no "wavemill.conf not a conffile"

# --- install, for real
getent passwd wavemill >/dev/null || MADE_USER=1
cp "$deb" "$TMP/" && chmod 0644 "$TMP/$(basename "$deb")"
if apt install "$TMP/$(basename "$deb")" >"$TMP/install.log" 2>&1; then
    INSTALLED=1; ok "apt-get install ./$(basename "$deb")"
else
    INSTALLED=1; no "install: $(tail -5 "$TMP/install.log")"; exit 1
fi
dpkg-query -W -f='${Status}' wavemill | grep -q "install ok installed" && ok "dpkg: install ok installed" || no "dpkg status"
getent passwd wavemill >/dev/null && ok "user wavemill exists" || no "no user wavemill"
[ "$(stat -c '%a %G' /etc/wavemill/wavemill.conf)" = "640 wavemill" ] && ok "wavemill.conf 0640 group wavemill" ||
    no "wavemill.conf: $(stat -c '%a %U:%G' /etc/wavemill/wavemill.conf)"
for u in wavemill-scheduler.service wavemill-worker@.service wavemill-receiver.service wavemill-agent.service; do
    [ -f "/lib/systemd/system/$u" ] && ok "unit $u installed" || no "unit $u missing"
done

# --- configure as an operator: this test's database and topics in the installed file
conf=/etc/wavemill/wavemill.conf
sed -i -e "s|^brokers = .*|brokers = ${WAVEMILL_KAFKA_BROKERS:-127.0.0.1:19092}|" \
       -e "s|^topic_prefix =.*|topic_prefix = $PREFIX_T|" \
       -e "s|^conninfo = .*|conninfo = $PG dbname=$DB|" "$conf"
# the CLI and the daemons get no WAVEMILL_* from this test's environment
unset $(env | sed -n 's/^\(WAVEMILL_[A-Z0-9_]*\)=.*/\1/p')
cd /   # nothing from the source tree
out=$(/usr/bin/wavemill config check "$conf" 2>&1) && ok "installed config passes config check" || no "config check: $out"
createdb -h 127.0.0.1 -p "${WM_PG_PORT:-15432}" -U wavemill "$DB" || { no "createdb"; exit 1; }
wm() { /usr/bin/wavemill --config "$conf" "$@"; }
wm db migrate >"$TMP/out" 2>&1 && ok "db migrate from /usr/share/wavemill/sql" || no "migrate: $(cat "$TMP/out")"
wm topics ensure --partitions 2 >"$TMP/out" 2>&1 && ok "topics ensure" || no "topics: $(cat "$TMP/out")"
{ echo "wave_name,app_name,server_name,server_fqdn,server_os_family,server_os_version,source_host,source_port,source_user,credential,disks,target_provider,instance_type,subnet_id,security_group_ids,test_security_group_ids,tags"
  for i in 1 2 3; do echo "wave-deb,debapp,deb0$i,deb0$i.example,linux,Debian 12,10.9.9.$i,22,migrate,,/dev/sda:1G,sim,t3.small,,,,"; done
} >"$TMP/intake.csv"
wm import "$TMP/intake.csv" >"$TMP/out" 2>&1 && ok "import 3 servers" || no "import: $(cat "$TMP/out")"

# --- the daemons, with their units' command lines, as the units' user
unit_cmd() { # UNIT INSTANCE: ExecStart with %H and %i expanded
    sed -n 's/^ExecStart=//p' "/lib/systemd/system/$1" | sed -e "s/%H/$(hostname)-deb$$/g" -e "s/%i/$2/g"
}
start() { # NAME UNIT INSTANCE
    local cmd
    cmd=$(unit_cmd "$2" "$3")
    (cd /var/lib/wavemill && exec runuser -u wavemill -- $cmd) >"$TMP/$1.log" 2>&1 &
    PIDS+=($!)
    ok "started $1: $cmd"
}
start scheduler wavemill-scheduler.service ""
start worker1 wavemill-worker@.service 1
start worker2 wavemill-worker@.service 2
wm wave cutover wave-deb --yes >/dev/null 2>&1 && wm wave start wave-deb >"$TMP/out" 2>&1 && ok "wave start" ||
    no "wave start: $(cat "$TMP/out")"
state=
for _ in $(seq 1 240); do
    state=$(psql -X -At -d "$PG dbname=$DB" -c "SELECT status FROM waves WHERE name = 'wave-deb'" 2>/dev/null)
    [ "$state" = DONE ] || [ "$state" = FAILED ] && break
    sleep 0.5
done
[ "$state" = DONE ] && ok "the installed scheduler and workers ran wave-deb to DONE" || {
    no "wave-deb is '$state'"; wm status --wave wave-deb; tail -20 "$TMP"/scheduler.log "$TMP"/worker1.log; }
n=$(psql -X -At -d "$PG dbname=$DB" -c "SELECT count(*) FROM servers WHERE lifecycle = 'DONE'")
[ "$n" = 3 ] && ok "3 servers DONE" || no "$n servers DONE"
owners=$(psql -X -At -d "$PG dbname=$DB" -c "SELECT string_agg(DISTINCT actor, ' ') FROM task_events WHERE state = 'SUCCEEDED'")
case $owners in *"deb$$-"[12]*) ok "tasks run by the unit-named workers: $owners" ;; *) no "task actors: $owners" ;; esac
grep -q "config.defaults" "$TMP"/*.log && no "a daemon ran on built-in defaults" || ok "no daemon fell back to built-in defaults"
# runuser keeps the daemon as its child: the unit's user runs it
u=$(ps -o user= --ppid "${PIDS[0]}" 2>/dev/null | tr -d ' ' | sort -u)
[ "$u" = wavemill ] && ok "the scheduler runs as user wavemill" || no "scheduler user: '$u'"
for f in scheduler worker1; do
    grep -q "level=error" "$TMP/$f.log" && no "$f logged errors: $(grep level=error "$TMP/$f.log" | head -3)" || ok "$f: no error logged"
done
cd "$REPO"
[ $fails = 0 ] && echo "deploy_deb: all passed" || echo "deploy_deb: $fails failed"
[ $fails = 0 ]
