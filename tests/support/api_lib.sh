# api_lib.sh — shared by the wavemill-api tests (tests/integration/api_*.sh):
# a database and topic prefix of their own (orch_lib.sh), tokens of each
# role, a sim wave with a scheduler and a worker, wavemill-api on a free
# loopback port.  Sourced after orch_lib.sh.
#   api_tokens; api_start; api_sim_wave NAME NSERVERS [worker sim args...]

# api_tokens: VIEWER, OPERATOR, ADMIN tokens (created with the CLI)
api_tokens() {
    VIEWER=$("$WM_BIN/wavemill" token create viewer1 --role viewer 2>/dev/null) || orch_fail "token viewer"
    OPERATOR=$("$WM_BIN/wavemill" token create operator1 --role operator 2>/dev/null) || orch_fail "token operator"
    ADMIN=$("$WM_BIN/wavemill" token create admin1 --role admin 2>/dev/null) || orch_fail "token admin"
    export VIEWER OPERATOR ADMIN
}

# api_start [--set k=v]...: wavemill-api on 127.0.0.1:$API_PORT; API_URL
api_start() {
    API_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$WM_BIN/wavemill-api" --set api.listen=127.0.0.1:$API_PORT --set api.sse_keepalive=1s "$@" \
        >"$ORCH_LOGS/api.log" 2>&1 &
    ORCH_PIDS+=($!)
    API_URL=http://127.0.0.1:$API_PORT
    export API_URL
    for _ in $(seq 100); do
        curl -sf "$API_URL/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    cat "$ORCH_LOGS/api.log" >&2
    orch_fail "wavemill-api did not start"
}

# api_sim_wave NAME NSERVERS [worker args...]: a wave of sim servers (two
# disks each), a scheduler and one worker; the wave is not started.
api_sim_wave() {
    local name=$1 n=$2
    shift 2
    orch_sql "INSERT INTO waves (name, max_parallel) VALUES ('$name', 10);
              INSERT INTO servers (name, wave_id, fqdn, target_provider)
              SELECT '$name-s' || g, w.id, '$name-s' || g || '.example', 'sim'
              FROM waves w, generate_series(1, $n) g WHERE w.name = '$name';
              INSERT INTO disks (server_id, source_path, size_bytes)
              SELECT s.id, p, 10737418240 FROM servers s JOIN waves w ON w.id = s.wave_id,
                     unnest(ARRAY['/dev/sda', '/dev/sdb']) p WHERE w.name = '$name';"
    local sp wp
    sp=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    wp=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    SCHED_METRICS=http://127.0.0.1:$sp WORKER_METRICS=http://127.0.0.1:$wp
    orch_start sched wavemill-scheduler --set scheduler.reconcile_interval=300ms \
        --set metrics.listen=127.0.0.1:$sp
    orch_start work wavemill-worker --set metrics.listen=127.0.0.1:$wp "$@"
}

# prom URL NAME [LABEL=VALUE]...: a sample's value, parsed by prometheus_client
prom() { "$WM_PY" "$ORCH_REPO/tests/peers/prom_peer.py" "$1/metrics" "${@:2}"; }
