#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of a moto server, for the aws
provider's retry tests.

It answers the first N requests itself with an AWS-style error (default
HTTP 503 with <Code>RequestLimitExceeded</Code>, as EC2 throttles) and
forwards every later one to the target unchanged.  Each request's arrival
time is appended to a log, so a test can check how long the client waited
between attempts.

    moto_fault_proxy.py --target-port P --port-file F --log L [--fail N]
                        [--status 503] [--code RequestLimitExceeded]
                        [--max-seconds 300]

Control (from the test, not forwarded):
    GET /__wm_fault/reset?fail=N&status=S&code=C[&match=M][&delay=MS]
        new fault count, logs cleared; with match only requests whose
        "METHOD PATH" contains M are faulted (and counted); delay holds
        every forwarded request MS milliseconds first (a slow AWS)
Every request is also appended to LOG.req as "fault|forward METHOD PATH
STATUS TOKEN" once it was answered (TOKEN: the X-Amz-Security-Token header
or "-"), so a test can tell which requests succeeded and how they were signed;
form-encoded request bodies (the EC2 query API) go to LOG.body, one line
each, so a test can check what was asked (e.g. RegisterImage's mappings).
Listens on 127.0.0.1 only, on a free port written to the port file; exits
by itself after --max-seconds.
"""
import argparse
import http.client
import http.server
import os
import sys
import threading
import time
import urllib.parse

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.fail = args.fail
        self.status = args.status
        self.code = args.code
        self.log = args.log
        self.target = args.target_port
        self.match = ""
        self.delay = 0.0


def error_body(code):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f'<Code>{code}</Code><Message>Request limit exceeded (injected by the test '
            'proxy).</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>'
            ).encode()


def make_handler(state):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # quiet: the test reads its own log
            pass

        def _reply(self, status, body, ctype="text/xml", extra=None):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def _control(self):
            q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            with state.lock:
                state.fail = int(q.get("fail", ["0"])[0])
                state.status = int(q.get("status", [str(state.status)])[0])
                state.code = q.get("code", [state.code])[0]
                state.match = q.get("match", [""])[0]
                state.delay = int(q.get("delay", ["0"])[0]) / 1000.0
                open(state.log, "w").close()
                open(state.log + ".req", "w").close()
                open(state.log + ".body", "w").close()
            self._reply(200, b"ok\n", "text/plain")

        def _handle(self):
            if self.path.startswith("/__wm_fault/reset"):
                return self._control()
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            what = f"{self.command} {self.path}"
            if body and "x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
                with state.lock, open(state.log + ".body", "a") as f:
                    f.write(body.decode("utf-8", "replace").replace("\n", " ") + "\n")
            with state.lock:
                faulted = state.fail > 0 and state.match in what
                if faulted:
                    state.fail -= 1
                with open(state.log, "a") as f:
                    f.write(f"{time.monotonic() * 1000:.1f} {'fault' if faulted else 'forward'}\n")
                status, code, delay = state.status, state.code, state.delay
            if faulted:
                self._record("fault", what, status)  # before the reply: the client reads it next
                return self._reply(status, error_body(code))
            if delay:
                time.sleep(delay)
            conn = http.client.HTTPConnection("127.0.0.1", state.target, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            headers["Host"] = self.headers.get("Host", "")
            conn.request(self.command, self.path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            extra = {k: v for k, v in r.getheaders()
                     if k.lower().startswith("x-amz") and k.lower() not in HOP}
            conn.close()
            self._record("forward", what, r.status)
            self._reply(r.status, data, r.getheader("Content-Type", "text/xml"), extra)

        def _record(self, kind, what, status):
            with state.lock:
                with open(state.log + ".req", "a") as f:
                    tok = self.headers.get("X-Amz-Security-Token") or "-"
                    f.write(f"{kind} {what} {status} {tok}\n")

        do_GET = do_POST = do_PUT = do_DELETE = _handle

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target-port", type=int, required=True)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--fail", type=int, default=0)
    ap.add_argument("--status", type=int, default=503)
    ap.add_argument("--code", default="RequestLimitExceeded")
    ap.add_argument("--max-seconds", type=float, default=300)
    args = ap.parse_args()
    open(args.log, "w").close()
    open(args.log + ".req", "w").close()
    open(args.log + ".body", "w").close()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(State(args)))
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{srv.server_address[1]}\n")
    os.rename(tmp, args.port_file)
    threading.Timer(args.max_seconds, srv.shutdown).start()
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
