#!/usr/bin/env bash
# One configuration file for every program: each daemon and the CLI read
# the same file, take their own sections and skip the others'; a typo in a
# program's section or an unknown section is refused with file:line;
# --version on every binary; --print-config masks passwords; with no file
# and no WAVEMILL_* a daemon names the built-in defaults it uses;
# `wavemill config check` names the program that refuses a file.
set -u
cd "$(dirname "$0")/../.."
BIN=${WM_BIN:-$PWD/bin}
TMP=$(mktemp -d /tmp/wm_cfgshared.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fails=0
ok() { echo "ok   - $1"; }
no() { echo "FAIL - $1"; fails=$((fails + 1)); }
has() { if grep -qF -- "$2" "$3"; then ok "$1"; else no "$1: lacks '$2': $(head -c 600 "$3")"; fi; }
lacks() { if grep -qF -- "$2" "$3"; then no "$1: has '$2'"; else ok "$1"; fi; }
# the file is what is checked: no WAVEMILL_* from the test environment
clean() { env -u WAVEMILL_CONFIG $(env | sed -n 's/^\(WAVEMILL_[A-Z0-9_]*\)=.*/-u \1/p') "$@"; }

cat >"$TMP/wavemill.conf" <<'CONF'
[log]
level = warn
[kafka]
brokers = kafka-1.example:9092,kafka-2.example:9092
topic_prefix = prod.
[pg]
conninfo = host=db.example dbname=wavemill user=wavemill password=s3cr3t-pw
[secrets]
master_key = /etc/wavemill/master.key
[scheduler]
id = sched-a
reconcile_interval = 2s
[worker]
id = worker-a
slots = 4
[sim]
duration = 3s
[repl]
receiver = rx.example:7470
[receiver]
listen = 0.0.0.0:7470
root = /srv/wavemill/volumes
tls_dir = /etc/wavemill/tls/receiver
[agent]
state_dir = /var/lib/wavemill/agent-test
[api]
listen = 127.0.0.1:8080
CONF

for p in wavemill wavemill-scheduler wavemill-worker wavemill-receiver wavemill-agent; do
    "$BIN/$p" --version >"$TMP/v" 2>&1 && grep -qx "$p [0-9][0-9.]*.*" "$TMP/v" && ok "$p --version" ||
        no "$p --version: $(cat "$TMP/v")"
done

print() { # PROGRAM: its effective configuration from the shared file
    if [ "$1" = wavemill ]; then clean "$BIN/wavemill" --config "$TMP/wavemill.conf" config print
    else clean "$BIN/$1" --config "$TMP/wavemill.conf" --print-config; fi >"$TMP/$1.out" 2>&1 ||
        no "$1 --print-config of the shared file: $(cat "$TMP/$1.out")"
}
for p in wavemill wavemill-scheduler wavemill-worker; do
    print $p
    has "$p: kafka from the file" 'kafka.brokers = "kafka-1.example:9092,kafka-2.example:9092"' "$TMP/$p.out"
    has "$p: password masked" 'pg.conninfo = "host=db.example dbname=wavemill user=wavemill password=***"' "$TMP/$p.out"
    lacks "$p: password never printed" "s3cr3t-pw" "$TMP/$p.out"
    has "$p: log.level from the file" 'log.level = "warn"' "$TMP/$p.out"
done
has "scheduler: its section" 'scheduler.id = "sched-a"' "$TMP/wavemill-scheduler.out"
has "scheduler: its duration" 'scheduler.reconcile_interval = 2s' "$TMP/wavemill-scheduler.out"
lacks "scheduler: not the worker's keys" 'worker.id' "$TMP/wavemill-scheduler.out"
has "worker: its section" 'worker.id = "worker-a"' "$TMP/wavemill-worker.out"
has "worker: sim section" 'sim.duration = 3s' "$TMP/wavemill-worker.out"
has "worker: repl section" 'repl.receiver = "rx.example:7470"' "$TMP/wavemill-worker.out"
has "cli: secrets section" 'secrets.master_key = "/etc/wavemill/master.key"' "$TMP/wavemill.out"
print wavemill-receiver
has "receiver: its section" 'receiver.root = "/srv/wavemill/volumes"' "$TMP/wavemill-receiver.out"
lacks "receiver: reads no kafka" 'kafka.' "$TMP/wavemill-receiver.out"
print wavemill-agent
has "agent: its section" 'agent.state_dir = "/var/lib/wavemill/agent-test"' "$TMP/wavemill-agent.out"
# a flag still wins over the file
clean "$BIN/wavemill-receiver" serve --config "$TMP/wavemill.conf" --root /srv/other --print-config >"$TMP/rx2" 2>&1
has "receiver: --root over the file" 'receiver.root = "/srv/other"' "$TMP/rx2"

clean "$BIN/wavemill" config check "$TMP/wavemill.conf" >"$TMP/check" 2>&1 && ok "config check: shared file ok" ||
    no "config check of the shared file: $(cat "$TMP/check")"
for p in wavemill wavemill-scheduler wavemill-worker wavemill-receiver wavemill-agent wavemill-api; do
    grep -qE "^$p +ok$" "$TMP/check" && ok "config check: $p ok" || no "config check: $p: $(cat "$TMP/check")"
done
# a daemon not installed beside the CLI is skipped and said so
mkdir -p "$TMP/partial" && cp "$BIN/wavemill" "$BIN/wavemill-scheduler" "$TMP/partial/"
clean "$TMP/partial/wavemill" config check "$TMP/wavemill.conf" >"$TMP/check2" 2>&1
has "config check: a daemon not installed here is skipped, said" "wavemill-api         skipped" "$TMP/check2"

# a typo in the worker's section: the worker refuses it with file:line, the scheduler skips it
sed 's/^slots = 4/slotz = 4/' "$TMP/wavemill.conf" >"$TMP/typo.conf"
clean "$BIN/wavemill-worker" --config "$TMP/typo.conf" --check >"$TMP/out" 2>&1 && no "worker accepted slotz"
has "worker: typo named with file:line" "typo.conf:15: unknown key worker.slotz" "$TMP/out"
clean "$BIN/wavemill-scheduler" --config "$TMP/typo.conf" --check >"$TMP/out" 2>&1 && ok "scheduler skips the worker's section" ||
    no "scheduler refused the worker's typo: $(cat "$TMP/out")"
clean "$BIN/wavemill" config check "$TMP/typo.conf" >"$TMP/check" 2>&1 && no "config check passed a typo"
grep -qE "^wavemill-worker +FAILED: .*typo.conf:15: unknown key worker.slotz" "$TMP/check" &&
    ok "config check names the refusing program and line" || no "config check: $(cat "$TMP/check")"
grep -qE "^wavemill-scheduler +ok" "$TMP/check" && ok "config check: the others still ok" || no "$(cat "$TMP/check")"
printf '[kafak]\nbrokers = x\n' >"$TMP/unknown.conf"
clean "$BIN/wavemill-scheduler" --config "$TMP/unknown.conf" --check >"$TMP/out" 2>&1 && no "unknown section accepted"
has "unknown section refused" "unknown.conf:2: key kafak.brokers: unknown section [kafak]" "$TMP/out"

# no file and no WAVEMILL_*: the defaults in use are named on start (the
# receiver then stops: its default certificate folder does not exist here)
clean "$BIN/wavemill-receiver" serve --set receiver.tls_dir=/nonexistent/wm-$$ >"$TMP/out" 2>&1
has "defaults named on start" 'event=config.defaults' "$TMP/out"
has "defaults: which ones" 'receiver.listen="0.0.0.0:7470" receiver.root="/var/lib/wavemill/receiver"' "$TMP/out"
clean "$BIN/wavemill-scheduler" --print-config >/dev/null 2>"$TMP/out"
lacks "--print-config stays quiet" 'config.defaults' "$TMP/out"
clean WAVEMILL_CONFIG="$TMP/wavemill.conf" "$BIN/wavemill-receiver" serve --set receiver.tls_dir=/nonexistent/wm-$$ >"$TMP/out" 2>&1
lacks "WAVEMILL_CONFIG names the file: no defaults notice" 'config.defaults' "$TMP/out"
has "WAVEMILL_CONFIG file read" "/nonexistent/wm-$$" "$TMP/out"

[ $fails = 0 ] && echo "config_shared: all passed" || echo "config_shared: $fails failed"
[ $fails = 0 ]
