# deploy/demo/lib.sh — one wave of real source hosts migrated end to end;
# sourced by deploy/demo/run (`make demo`) and tests/integration/e2e_*.sh
# (the same scenario, smaller).  Root only: the source hosts are network
# namespaces (tests/hosts/host).
#
# The caller sets (defaults in brackets):
#   DEMO_NAME     database wm_<name>, topic prefix, host state root   [demo]
#   DEMO_HOSTS    "name:10.x.y.2/24 ..." one source host each          [3 hosts]
#   DEMO_DISK     disk image size                                      [64M]
#   DEMO_DISKS    disk images per host (disk0 holds the service's data) [1]
#   DEMO_WORKER_SET  extra "key=value ..." settings of the workers      []
#   DEMO_FULL_HOSTS  hosts whose agent folder is a 128 KiB tmpfs   []
#   DEMO_CUTOVER  cutover window, relative to wave start               [+1m]
#   DEMO_CUTOVER_AFTER  tests: instead, open the window once this many
#                 delta syncs have succeeded (no race with the clock)  []
#   DEMO_DELTA    scheduler.delta_interval                             [10s]
#   DEMO_BOUND    seconds the wave may take before we give up          [240]
#   DEMO_PROVIDER target_provider of the servers: aws, exec or sim     [aws]
# and calls demo_setup, demo_run_wave, demo_prove, demo_summary.  Every
# process started here is stopped by pid on exit (trap); the local stack
# (deploy/local/up) is left running.
set -u
DEMO_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$DEMO_REPO"
[ -f deploy/local/env ] && . deploy/local/env
WM_BIN=${WM_BIN:-$DEMO_REPO/bin}
DEMO_NAME=${DEMO_NAME:-demo}
DEMO_HOSTS=${DEMO_HOSTS:-"src1:10.231.11.2/24 src2:10.231.12.2/24 src3:10.231.13.2/24"}
DEMO_DISK=${DEMO_DISK:-64M}
DEMO_DISKS=${DEMO_DISKS:-1}
DEMO_WORKER_SET=${DEMO_WORKER_SET:-}
DEMO_CUTOVER=${DEMO_CUTOVER:-+1m}
DEMO_DELTA=${DEMO_DELTA:-10s}
DEMO_BOUND=${DEMO_BOUND:-240}
DEMO_WAVE=${DEMO_WAVE:-wave-$DEMO_NAME}
DEMO_DIR=${DEMO_DIR:-/var/tmp/wavemill-$DEMO_NAME}
DEMO_KEEP=${DEMO_KEEP:-0}
export WM_HOSTS_DIR=$DEMO_DIR/hosts
HOSTCTL=$DEMO_REPO/tests/hosts/host
DEMO_PIDS=()
DEMO_DB=wm_${DEMO_NAME//[^a-z0-9_]/_}
DEMO_T0=$(date +%s)

demo_log() { printf '%s [%3ss] %s\n' "$(date -u +%H:%M:%S)" "$(($(date +%s) - DEMO_T0))" "$*" >&2; }
demo_fail() { demo_log "FAIL: $*"; exit 1; }
demo_psql() { psql -h 127.0.0.1 -p "$WM_PG_PORT" -U wavemill -d "$DEMO_DB" -v ON_ERROR_STOP=1 -Atq "$@"; }
demo_sql() { demo_psql -c "$1"; }
wm() { "$WM_BIN/wavemill" "$@"; }

demo_cleanup() {
    local rc=$? pid
    for pid in "${DEMO_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${DEMO_PIDS[@]}"; do
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    done
    QUIET=1 "$HOSTCTL" down-all >/dev/null 2>&1
    [ "${MOTO_STARTED:-0}" = 1 ] && bash tests/peers/moto_server.sh stop "$DEMO_DIR/moto" >/dev/null 2>&1
    if [ "$DEMO_KEEP" != 1 ]; then
        dropdb -h 127.0.0.1 -p "$WM_PG_PORT" -U wavemill --if-exists --force "$DEMO_DB" 2>/dev/null
        rm -rf "$DEMO_DIR/root" "$DEMO_DIR/hosts"
    fi
    [ $rc -eq 0 ] || demo_log "logs kept in $DEMO_DIR/logs"
    # a passing test leaves nothing behind
    [ $rc -eq 0 ] && [ "${DEMO_TEST:-0}" = 1 ] && [ "$DEMO_KEEP" != 1 ] && rm -rf "$DEMO_DIR"
    exit $rc
}

# demo_start NAME CMD...: background process, log in logs/NAME.log, pid in PID_NAME.
demo_start() {
    local name=$1
    shift
    "$@" >>"$DEMO_DIR/logs/$name.log" 2>&1 &
    DEMO_PIDS+=($!)
    printf -v "PID_$name" '%s' "$!"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_tcp() { # host port seconds
    for _ in $(seq $(($3 * 10))); do (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0; sleep 0.1; done
    return 1
}

# --- setup ------------------------------------------------------------------

demo_database() {
    dropdb -h 127.0.0.1 -p "$WM_PG_PORT" -U wavemill --if-exists --force "$DEMO_DB" 2>/dev/null
    createdb -h 127.0.0.1 -p "$WM_PG_PORT" -U wavemill "$DEMO_DB" || demo_fail "createdb $DEMO_DB"
    export WAVEMILL_PG_CONNINFO="host=127.0.0.1 port=$WM_PG_PORT dbname=$DEMO_DB user=wavemill"
    export WAVEMILL_KAFKA_TOPIC_PREFIX="$DEMO_NAME.$(date +%s)."
    export WAVEMILL_LOG_LEVEL=${WAVEMILL_LOG_LEVEL:-info}
    wm db migrate >/dev/null 2>&1 || demo_fail "db migrate"
    wm topics ensure --partitions 3 >/dev/null 2>&1 || demo_fail "topics ensure"
}

demo_pki() {
    rm -rf "$DEMO_DIR/pki"
    wm pki init --dir "$DEMO_DIR/pki" >/dev/null || demo_fail "pki init"
    wm pki issue --dir "$DEMO_DIR/pki" --name agent --role agent >/dev/null
    wm pki issue --dir "$DEMO_DIR/pki" --name receiver --role receiver >/dev/null
    wm pki issue --dir "$DEMO_DIR/pki" --name worker --role worker >/dev/null
}

# Each source host: its namespace, sshd, a disk image and the writing service.
demo_hosts() {
    QUIET=1 "$HOSTCTL" down-all >/dev/null 2>&1
    local h extra
    for h in $DEMO_HOSTS; do
        extra=()
        case " ${DEMO_FULL_HOSTS:-} " in *" ${h%%:*} "*) extra=(--agent-size 128k) ;; esac
        QUIET=1 "$HOSTCTL" up "${h%%:*}" --addr "${h#*:}" --disks "$DEMO_DISKS" --disk-size "$DEMO_DISK" \
            --service --flush-ms 500 "${extra[@]}" || demo_fail "host up $h"
    done
}

# The receiver listens on the first host's root-side address: every
# namespace routes there through its own veth (the root namespace accepts
# any of its addresses), and nothing listens on an outside interface.
demo_receiver() {
    local first=${DEMO_HOSTS%% *}
    RX_ADDR=$("$HOSTCTL" info "${first%%:*}" | sed -n 's/^root_addr=//p')
    RX_PORT=$(free_port)
    RX_ROOT=$DEMO_DIR/root
    rm -rf "$RX_ROOT"
    mkdir -p "$RX_ROOT"
    demo_start receiver "$WM_BIN/wavemill-receiver" serve --listen "$RX_ADDR:$RX_PORT" \
        --root "$RX_ROOT" --tls-dir "$DEMO_DIR/pki/receiver"
    wait_tcp "$RX_ADDR" "$RX_PORT" 5 || demo_fail "receiver did not listen on $RX_ADDR:$RX_PORT"
}

# The factory's ssh key goes into the credential store; workers read it from there.
demo_secret() {
    MASTER_KEY=$DEMO_DIR/master.key
    [ -f "$MASTER_KEY" ] || (umask 077 && head -c 32 /dev/urandom >"$MASTER_KEY")
    wm secret set factory-ssh --from-file "$WM_HOSTS_DIR/factory/id_ed25519" \
        --master-key "$MASTER_KEY" >/dev/null || demo_fail "secret set"
    # the aws provider's keys (moto takes any) and the CMDB's token: the
    # workers fetch both from the store; the token must never show in a log
    CMDB_TOKEN=cmdb-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    (umask 077 && printf 'AKIDDEMO:demo-secret-%s\n' "$CMDB_TOKEN" >"$DEMO_DIR/aws.cred" &&
        printf '%s' "$CMDB_TOKEN" >"$DEMO_DIR/cmdb.token")
    wm secret set aws-demo --from-file "$DEMO_DIR/aws.cred" --master-key "$MASTER_KEY" >/dev/null &&
        wm secret set cmdb-token --from-file "$DEMO_DIR/cmdb.token" --master-key "$MASTER_KEY" \
            >/dev/null || demo_fail "secret set (aws, cmdb)"
    rm -f "$DEMO_DIR/aws.cred" "$DEMO_DIR/cmdb.token"
}

# The CMDB (tests/peers/http_peer.py, recording every request) that the
# cmdb_update step calls, and the validation probes' HTTP target.
demo_cmdb_peer() {
    CMDB_RECORD=$DEMO_DIR/cmdb-requests.jsonl
    rm -f "$CMDB_RECORD"
    demo_start cmdb "$WM_PY" tests/peers/http_peer.py --record "$CMDB_RECORD" --max-seconds 1800
    for _ in $(seq 100); do
        CMDB_PORT=$(sed -n 's/^PORT //p' "$DEMO_DIR/logs/cmdb.log" 2>/dev/null)
        [ -n "$CMDB_PORT" ] && return 0
        sleep 0.1
    done
    demo_fail "the CMDB peer did not start"
}

# moto (tests/peers) is the target cloud: through the worker's aws provider,
# or (DEMO_PROVIDER=exec) through the exec provider and the operator script
# deploy/demo/provider_moto.py (EC2 + Route 53 calls with boto3).
demo_moto() {
    DEMO_PROVIDER=${DEMO_PROVIDER:-}
    if [ -z "$DEMO_PROVIDER" ]; then
        DEMO_PROVIDER=aws
    fi
    [ "$DEMO_PROVIDER" != sim ] || return 0
    MOTO_PORT=$(bash tests/peers/moto_server.sh start "$DEMO_DIR/moto") || demo_fail "moto did not start"
    MOTO_STARTED=1
    AWS_SUBNET=subnet-demo AWS_SG_LIVE=sg-live AWS_SG_TEST=sg-test
    [ "$DEMO_PROVIDER" = aws ] && demo_moto_network
    EXEC_SCRIPT=$DEMO_DIR/provider.sh
    printf '#!/bin/sh\n# exec provider of the demo: EC2 and Route 53 on the local moto server\nAWS_ENDPOINT_URL=http://127.0.0.1:%s DEMO_CMDB_FILE=%s exec %s %s "$@"\n' \
        "$MOTO_PORT" "$DEMO_DIR/cmdb.jsonl" "$WM_PY" "$DEMO_REPO/deploy/demo/provider_moto.py" >"$EXEC_SCRIPT"
    chmod 755 "$EXEC_SCRIPT"
}

# aws provider: the network it launches into exists in moto before the wave
# (a subnet of the default VPC, the live and test groups, the DNS zone).
demo_moto_network() {
    local out
    out=$(AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT "$WM_PY" - <<'PY'
import os, boto3
kw = dict(region_name="us-east-1", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
          aws_access_key_id="demo", aws_secret_access_key="demo")
ec2, r53 = boto3.client("ec2", **kw), boto3.client("route53", **kw)
vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][0]["SubnetId"]
live = ec2.create_security_group(GroupName="wm-live", Description="live", VpcId=vpc)["GroupId"]
test = ec2.create_security_group(GroupName="wm-test", Description="isolated test", VpcId=vpc)["GroupId"]
zone = r53.create_hosted_zone(Name="demo.internal.", CallerReference="wm-demo")["HostedZone"]["Id"]
print(subnet, live, test, zone.split("/")[-1])
PY
) || demo_fail "moto network"
    read -r AWS_SUBNET AWS_SG_LIVE AWS_SG_TEST AWS_ZONE <<<"$out"
}

# The intake CSV of the wave, one row per host, then the per-server
# settings the CSV has no column for (drivers, agent folder, commands).
# stop_command stops the service and writes its last records into the
# image; shutdown_command "powers off" the host by stopping its sshd (the
# disk is left exactly as the final delta saw it).
demo_import() {
    local csv=$DEMO_DIR/intake.csv h name addr st disks i
    echo "wave_name,app_name,server_name,server_fqdn,server_os_family,server_os_version,source_host,source_port,source_user,credential,disks,target_provider,instance_type,subnet_id,security_group_ids,test_security_group_ids,tags" >"$csv"
    for h in $DEMO_HOSTS; do
        name=${h%%:*} addr=${h#*:}
        addr=${addr%/*}
        st=$WM_HOSTS_DIR/$name
        disks=$st/disk0.img:$DEMO_DISK
        for ((i = 1; i < DEMO_DISKS; i++)); do disks="$disks;$st/disk$i.img:$DEMO_DISK"; done
        echo "$DEMO_WAVE,app-$DEMO_NAME,$name,$name.demo.internal,linux,Debian,$addr,22,root,factory-ssh,$disks,$DEMO_PROVIDER,t3.micro,${AWS_SUBNET:-subnet-demo},${AWS_SG_LIVE:-sg-live},${AWS_SG_TEST:-sg-test},env=demo" >>"$csv"
    done
    wm import "$csv" >"$DEMO_DIR/logs/import.log" 2>&1 || { cat "$DEMO_DIR/logs/import.log" >&2; demo_fail "import"; }
    for h in $DEMO_HOSTS; do
        name=${h%%:*}
        st=$WM_HOSTS_DIR/$name
        demo_sql "UPDATE servers SET settings = settings || jsonb_build_object(
            'transport', 'ssh', 'replication', 'wavemill', 'agent_dir', '$st/agent',
            'stop_command', '$st/bin/stop-service',
            'shutdown_command', 'kill -TERM \$(cat $st/sshd.pid)', 'exec_script', '${EXEC_SCRIPT:-}',
            'probes', '$(demo_probes)')
            WHERE name = '$name'" || demo_fail "settings of $name"
    done
}

# Validation probes of every server.  The launched instances live in moto
# and answer nothing, so the probes aim at what listens here: the receiver's
# port (TCP) and the CMDB peer's health URL (HTTP).
demo_probes() {
    printf '[{"type":"tcp","host":"%s","port":%s,"name":"receiver-port"},' "$RX_ADDR" "$RX_PORT"
    printf '{"type":"http","url":"http://127.0.0.1:%s/status/200","name":"app-health"}]' "$CMDB_PORT"
}

demo_setup() {
    rm -rf "$DEMO_DIR/logs"
    mkdir -p "$DEMO_DIR/logs"
    trap demo_cleanup EXIT
    trap 'exit 130' INT TERM
    demo_log "setup: database $DEMO_DB, state $DEMO_DIR"
    demo_database
    demo_pki
    demo_hosts
    demo_log "source hosts up: $DEMO_HOSTS (sshd + a service writing records)"
    demo_receiver
    demo_log "receiver on $RX_ADDR:$RX_PORT, volumes in $RX_ROOT"
    demo_secret
    demo_cmdb_peer
    demo_moto
    demo_import
    demo_log "imported $(echo $DEMO_HOSTS | wc -w) servers into $DEMO_WAVE (provider $DEMO_PROVIDER)"
}

# --- the wave ---------------------------------------------------------------

demo_worker_args() {
    WORKER_ARGS=(--set repl.receiver="$RX_ADDR:$RX_PORT" --set repl.agent_tls_dir="$DEMO_DIR/pki/agent"
                 --set repl.worker_tls_dir="$DEMO_DIR/pki/worker"
                 --set repl.agent_bin="$WM_BIN/wavemill-agent"
                 --set ssh.known_hosts="$WM_HOSTS_DIR/factory/known_hosts"
                 --set secrets.master_key="$MASTER_KEY" --set worker.slots=4
                 --set worker.lease=${DEMO_LEASE:-10s})
    local kv
    WORKER_ARGS+=(--set cmdb.url="http://127.0.0.1:$CMDB_PORT/api/ci/{server}?wave={wave}"
                  --set cmdb.secret=cmdb-token)
    for kv in $DEMO_WORKER_SET; do WORKER_ARGS+=(--set "$kv"); done
    if [ "${DEMO_PROVIDER}" = aws ]; then
        WORKER_ARGS+=(--set aws.endpoint="http://127.0.0.1:$MOTO_PORT"
                      --set aws.route53_endpoint="http://127.0.0.1:$MOTO_PORT"
                      --set aws.credential=aws-demo
                      --set aws.hosted_zone_id="$AWS_ZONE" --set aws.launch_timeout=60s)
    fi
}

demo_start_worker() { # NAME
    demo_start "$1" "$WM_BIN/wavemill-worker" --set worker.id="$1" "${WORKER_ARGS[@]}"
}

demo_start_factory() {
    demo_worker_args
    demo_start scheduler "$WM_BIN/wavemill-scheduler" --set scheduler.id=sched1 \
        --set scheduler.reconcile_interval=300ms --set scheduler.delta_interval="$DEMO_DELTA" \
        --set scheduler.retry_backoff=1s --set scheduler.requeue_after=20s
    demo_start_worker worker1
    demo_start_worker worker2
    local n
    for n in scheduler worker1 worker2; do
        for _ in $(seq 150); do
            grep -q 'kafka.partitions_assigned' "$DEMO_DIR/logs/$n.log" 2>/dev/null && break
            sleep 0.2
        done
    done
    demo_log "scheduler and two workers running"
}

demo_wave_state() { demo_sql "SELECT status FROM waves WHERE name = '$DEMO_WAVE'"; }

# Starts the wave and follows it to DONE (or FAILED, or the bound).
demo_run_wave() {
    demo_start_factory
    local at=$DEMO_CUTOVER after=${DEMO_CUTOVER_AFTER:-} n
    [ -z "$after" ] || at=+1h
    wm wave cutover "$DEMO_WAVE" --at "$at" --yes >/dev/null || demo_fail "wave cutover"
    wm wave start "$DEMO_WAVE" >/dev/null || demo_fail "wave start"
    WAVE_T0=$(date +%s)
    demo_log "wave $DEMO_WAVE started, cutover window opens ${after:+after $after delta syncs, not }at $at"
    demo_start watch "$WM_BIN/wavemill" watch --wave "$DEMO_WAVE"
    local last="" now st
    while :; do
        if [ -n "$after" ]; then
            n=$(demo_sql "SELECT count(*) FROM tasks WHERE kind = 'delta_sync' AND state = 'SUCCEEDED'")
            if [ "${n:-0}" -ge "$after" ]; then
                wm wave cutover "$DEMO_WAVE" --at now --yes >/dev/null || demo_fail "cutover now"
                demo_log "$n delta syncs done: cutover window open"
                after=
            fi
        fi
        st=$(demo_wave_state)
        now=$(demo_sql "SELECT string_agg(lifecycle || ':' || count, ' ') FROM (SELECT lifecycle, count(*)
                        FROM servers GROUP BY 1 ORDER BY 1) c")
        [ "$now" != "$last" ] && demo_log "servers: $now" && last=$now
        case $st in DONE | FAILED) break ;; esac
        [ $(($(date +%s) - WAVE_T0)) -lt "$DEMO_BOUND" ] || { st=TIMEOUT; break; }
        sleep 1
    done
    WAVE_SECONDS=$(($(date +%s) - WAVE_T0))
    demo_log "wave $DEMO_WAVE: $st after ${WAVE_SECONDS}s"
    WAVE_STATE=$st
}

# --- proof ------------------------------------------------------------------

# Every target volume equals its source image as it was at shutdown, and
# holds the last record the service wrote.
demo_prove() {
    local h name src dst last got bad=0 i
    for h in $DEMO_HOSTS; do
        name=${h%%:*}
        for ((i = DEMO_DISKS - 1; i >= 0; i--)); do
            src=$WM_HOSTS_DIR/$name/disk$i.img
            dst=$RX_ROOT/$name-disk$i.img
            if ! cmp -s "$src" "$dst"; then
                demo_log "PROOF FAILED: $dst differs from $src"
                bad=1
            fi
        done
        # the service's own log (outside the image) has every record it wrote
        last=$(tail -n 1 "$WM_HOSTS_DIR/$name/service/records.log" 2>/dev/null)
        got=$(debugfs -R "cat /data/records.log" "$dst" 2>/dev/null | tail -n 1)
        if [ -z "$last" ] || [ "$last" != "$got" ]; then
            demo_log "PROOF FAILED: $name: last record at source '$last', in target '$got'"
            bad=1
            continue
        fi
        [ $bad = 0 ] && demo_log "proof: $name: $DEMO_DISKS target volume(s) == source image(s) ($(stat -c %s "$src") bytes each, cmp), last record '${last% t=*}' in $name-disk0"
    done
    return $bad
}

demo_summary() {
    local w=$DEMO_DIR/logs/watch.log
    echo
    echo "=== wavemill watch --wave $DEMO_WAVE: $(grep -c "  $DEMO_WAVE/" "$w") events on wm.status, the last ones"
    grep "  $DEMO_WAVE/" "$w" | tail -n 6
    demo_cloud_summary
    demo_checks_summary
    echo
    echo "=== wavemill status --wave $DEMO_WAVE"
    wm status --wave "$DEMO_WAVE"
    echo
    echo "=== bytes moved per sync (from the task checkpoints)"
    demo_psql -F ' ' <<'SQL' | column -t
SELECT s.name, t.kind, 'gen=' || (d->>'gen'),
       'sent=' || replace(pg_size_pretty((d->>'sent')::bigint), ' ', ''),
       'wire=' || replace(pg_size_pretty((d->>'wire')::bigint), ' ', ''), 'ms=' || (d->>'ms')
FROM tasks t JOIN servers s ON s.id = t.server_id,
     jsonb_array_elements(CASE WHEN jsonb_typeof(t.checkpoint->'disks') = 'array'
                               THEN t.checkpoint->'disks' ELSE '[]' END) d
WHERE t.state = 'SUCCEEDED' ORDER BY s.name, (d->>'gen')::int;
SQL
    echo
    echo "=== time per stage (seconds: first claim to last finish over all servers, mean per task)"
    { echo "STEP TASKS SPAN_S MEAN_S"; demo_psql -F ' ' <<'SQL'; } | column -t
SELECT t.kind, count(*) AS tasks,
       round(extract(epoch FROM max(t.finished_at) - min(t.claimed_at))::numeric, 1) AS span_s,
       round(avg(extract(epoch FROM t.finished_at - t.claimed_at))::numeric, 1) AS avg_s
FROM tasks t WHERE t.state = 'SUCCEEDED'
GROUP BY t.kind ORDER BY min(t.claimed_at);
SQL
}

# What the target cloud (moto) holds now: instances and DNS records.
demo_cloud_summary() {
    [ -n "${MOTO_PORT:-}" ] || return 0
    echo
    echo "=== target cloud (moto at 127.0.0.1:$MOTO_PORT)"
    AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT "$WM_PY" - <<'PY'
import os, boto3
kw = dict(region_name="us-east-1", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
          aws_access_key_id="demo", aws_secret_access_key="demo")
ec2, r53 = boto3.client("ec2", **kw), boto3.client("route53", **kw)
names = {g["GroupId"]: g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]}
for r in ec2.describe_instances()["Reservations"]:
    for i in r["Instances"]:
        t = {x["Key"]: x["Value"] for x in i.get("Tags", [])}
        print("instance %-20s %-6s %-8s %-10s groups=%s" % (i["InstanceId"], t.get("server", "?"),
              t.get("purpose", "?"), i["State"]["Name"],
              ",".join(names.get(g["GroupId"], g["GroupId"]) for g in i["SecurityGroups"])))
for z in r53.list_hosted_zones()["HostedZones"]:
    for rr in r53.list_resource_record_sets(HostedZoneId=z["Id"])["ResourceRecordSets"]:
        if rr["Type"] == "A":
            print("dns      %s A %s" % (rr["Name"], ",".join(v["Value"] for v in rr["ResourceRecords"])))
PY
}

# What validation stored and what the CMDB received (never its token).
demo_checks_summary() {
    echo
    echo "=== validation (servers.validation) and CMDB calls"
    demo_psql -F '|' <<'SQL' | column -t -s '|'
SELECT s.name, 'ok=' || coalesce(s.validation->>'ok', '-'),
       coalesce(string_agg(p->>'name' || ':' || (p->>'detail'), '  '), '')
FROM servers s LEFT JOIN LATERAL jsonb_array_elements(coalesce(s.validation->'probes', '[]')) p ON true
GROUP BY s.name, s.validation ORDER BY s.name;
SQL
    [ -f "${CMDB_RECORD:-}" ] || return 0
    "$WM_PY" - "$CMDB_RECORD" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["path"].startswith("/api/ci/"):
        auth = r["headers"].get("authorization", "")
        print("cmdb     %s %s auth=%s body=%s" % (r["method"], r["path"],
              "Bearer <token from the store>" if auth.startswith("Bearer cmdb-") else repr(auth[:7]),
              r["body"]))
PY
    if grep -rqF "$CMDB_TOKEN" "$DEMO_DIR/logs" 2>/dev/null; then
        echo "cmdb     SECRET LEAK: the CMDB token appears in $DEMO_DIR/logs"
    else
        echo "cmdb     the token appears in no log of the run"
    fi
}
