#!/usr/bin/env python3
"""A small local HTTP server for tests (probes, CMDB calls).

Listens on 127.0.0.1 on a free port, prints "PORT <n>" on stdout once it
accepts connections, and appends every request it receives to --record as
one JSON line: {"method", "path", "headers", "body"}.  Stops on SIGTERM or
when --max-seconds pass (so a test that dies never leaves it running).

Behaviour by path (any method):
  /status/NNN        answers NNN with body {"status": NNN}
  /sleep/MS          sleeps MS milliseconds, then 200
  /redirect          302 to /status/200
  anything else      the next status of --statuses (comma-separated, each
                     used once, in order), then --default-status; the body
                     is --body (default {"ok": true})
"""
import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--record", required=True)
    ap.add_argument("--statuses", default="")
    ap.add_argument("--default-status", type=int, default=200)
    ap.add_argument("--body", default='{"ok": true}')
    ap.add_argument("--max-seconds", type=float, default=120)
    args = ap.parse_args()

    queue = [int(s) for s in args.statuses.split(",") if s.strip()]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # keep the test's output quiet
            pass

        def record(self, body):
            entry = {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
            }
            with lock, open(args.record, "a") as f:
                f.write(json.dumps(entry) + "\n")

        def reply(self, status, body, extra=None):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def handle_any(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            self.record(body)
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) == 2 and parts[0] == "status" and parts[1].isdigit():
                code = int(parts[1])
                return self.reply(code, json.dumps({"status": code}))
            if len(parts) == 2 and parts[0] == "sleep" and parts[1].isdigit():
                time.sleep(int(parts[1]) / 1000.0)
                return self.reply(200, '{"slept": true}')
            if parts == ["redirect"]:
                return self.reply(302, "{}", {"Location": "/status/200"})
            with lock:
                status = queue.pop(0) if queue else args.default_status
            self.reply(status, args.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=srv.shutdown).start())
    timer = threading.Timer(args.max_seconds, srv.shutdown)
    timer.daemon = True
    timer.start()
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
