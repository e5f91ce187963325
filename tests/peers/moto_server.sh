#!/usr/bin/env bash
# A local moto server (AWS API mock) for the aws provider tests, on
# 127.0.0.1 and a free port, bounded in time.
#   moto_server.sh start DIR   starts it; DIR/moto.port, DIR/moto.pid, DIR/moto.log;
#                              prints the port; exit 0 once it answers (30 s at most)
#   moto_server.sh stop DIR    stops the one started with DIR (by its pid)
# Python comes from $WM_PY (the venv of tests/peers/requirements.txt).
set -u
cmd=${1:-} dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
[ -f "$here/../../deploy/local/env" ] && . "$here/../../deploy/local/env"
PY=${WM_PY:-$HOME/.cache/wavemill/venv/bin/python}

case "$cmd" in
start)
    mkdir -p "$dir"
    "$PY" -c 'import moto.server' 2>/dev/null ||
        { echo "moto is not installed for $PY (run deploy/local/install-deps)" >&2; exit 1; }
    # a port the kernel says is free now; moto binds it right after
    port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    setsid "$PY" -m moto.server -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 </dev/null &
    echo $! >"$dir/moto.pid"
    echo "$port" >"$dir/moto.port"
    for _ in $(seq 1 150); do
        if "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
            "http://127.0.0.1:$port/moto-api/" 2>/dev/null; then
            echo "$port"
            exit 0
        fi
        kill -0 "$(cat "$dir/moto.pid")" 2>/dev/null || break
        sleep 0.2
    done
    echo "moto did not start on 127.0.0.1:$port; last log lines:" >&2
    tail -5 "$dir/moto.log" >&2
    "$0" stop "$dir"
    exit 1
    ;;
stop)
    [ -f "$dir/moto.pid" ] || exit 0
    pid=$(cat "$dir/moto.pid")
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
    rm -f "$dir/moto.pid"
    exit 0
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
