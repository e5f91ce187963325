#!/usr/bin/env python3
"""A stand-in for the EC2 instance metadata service (IMDSv2 only), for the
instance-role credential test.  Listens on 127.0.0.1, writes its port to
--port-file, appends each request to --log as "METHOD PATH token-ok|no-token".

    PUT /latest/api/token  (needs X-aws-ec2-metadata-token-ttl-seconds)
                            -> a session token
    GET /latest/meta-data/iam/security-credentials/        -> ROLE
    GET /latest/meta-data/iam/security-credentials/ROLE    -> JSON credentials
GETs without the session token get 401, as IMDSv2 answers them.
"""
import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "imds-session-token-42"
ROLE = "wavemill-receiver-role"
CRED_PATH = "/latest/meta-data/iam/security-credentials/"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--max-seconds", type=float, default=120)
    a = ap.parse_args()
    lock = threading.Lock()

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def reply(self, status, body):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def record(self, ok):
            with lock, open(a.log, "a") as f:
                f.write(f"{self.command} {self.path} {'token-ok' if ok else 'no-token'}\n")

        def do_PUT(self):
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            self.record(bool(ttl))
            if self.path != "/latest/api/token" or not ttl:
                return self.reply(400, "bad token request")
            self.reply(200, TOKEN)

        def do_GET(self):
            ok = self.headers.get("X-aws-ec2-metadata-token") == TOKEN
            self.record(ok)
            if not ok:
                return self.reply(401, "")
            if self.path == CRED_PATH:
                return self.reply(200, ROLE + "\n")
            if self.path == CRED_PATH + ROLE:
                return self.reply(200, json.dumps({
                    "Code": "Success", "Type": "AWS-HMAC",
                    "AccessKeyId": "ASIAIMDSROLEKEY", "SecretAccessKey": "imds-secret",
                    "Token": "imds-role-session-token", "Expiration": "2099-01-01T00:00:00Z"}))
            self.reply(404, "")

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{srv.server_address[1]}\n")
    os.rename(tmp, a.port_file)
    threading.Timer(a.max_seconds, srv.shutdown).start()
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
