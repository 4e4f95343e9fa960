#!/usr/bin/env python3
"""A stub of Tencent Cloud's TIW API 3.0 on 127.0.0.1, for the end-to-end tests.

It answers `DescribeWhiteboardPush` like Tencent does, after checking the request's
TC3-HMAC-SHA256 signature independently: the canonical request and string to sign are rebuilt
here from the bytes received, and the signature computed with Tencent's own SDK
(`tencentcloud.common.sign.Sign.sign_tc3`, package `tencentcloud-sdk-python-common`, installed by
`ensure_tencent_sdk` in scripts/lib.sh). A bad signature gets Tencent's
`AuthFailure.SignatureFailure` error shape.

Usage: tencent_stub.py --secret-id ID --secret-key KEY [--port 0] [--region ap-singapore]
Prints `{"port": N}` on stdout once listening. Exits when its stdin closes, so it never
outlives the test process that started it.

What each task answers comes from a script the test controls:
  POST /__script  {"<task id>": [<item>, ...], "*": [<item>, ...]}
      Each API request for the task takes the next item; the last one repeats. "*" is for
      tasks without a script of their own (default: ["PUSHING"]). An item is one of
        "PREPARED" | "PUSHING" | "STOPPED"  a success with that Status
        {"Status": ..., <more answer fields>} a success with these fields
        {"Error": {"Code": ..., "Message": ...}}  Tencent's error shape (HTTP 200)
        "authfail"   AuthFailure.SignatureFailure, whatever the signature
        "500"        HTTP 500 with a plain-text body
        "timeout"    no answer; the connection is held for --hang-seconds
  GET  /__count     {"total": N, "tasks": {"<task id>": N}}: API requests received, signed
                    well or not
  GET  /__requests  every API request: method, path, headers, body, the verdict, the scripted
                    answer and when it came (atMs, Unix milliseconds)
  POST /__reset     forgets scripts, counts and requests
"""

import argparse
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tencentcloud.common.sign import Sign

ACTION = "DescribeWhiteboardPush"
VERSION = "2019-09-19"
SERVICE = "tiw"
# Tencent refuses a request whose X-TC-Timestamp is more than 5 minutes off.
MAX_SKEW_SECONDS = 300
AUTHORIZATION = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[^/]+)"
    r"/tc3_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.scripts = {}
        self.counts = {}
        self.requests = []

    def next_item(self, task):
        script = self.scripts.get(task) or self.scripts.get("*") or ["PUSHING"]
        return script.pop(0) if len(script) > 1 else script[0]


class Failure(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def verify(handler, body):
    """Checks the request as Tencent would; raises Failure with Tencent's error code."""
    headers = {k.lower(): v for k, v in handler.headers.items()}
    match = AUTHORIZATION.match(headers.get("authorization", ""))
    if not match:
        raise Failure("AuthFailure.InvalidAuthorization", "Authorization is not TC3-HMAC-SHA256.")
    if match["id"] != handler.server.secret_id:
        raise Failure("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
    timestamp = headers.get("x-tc-timestamp", "")
    if not timestamp.isdigit():
        raise Failure("MissingParameter", "X-TC-Timestamp is missing or not a number.")
    if abs(int(timestamp) - time.time()) > MAX_SKEW_SECONDS:
        raise Failure("AuthFailure.SignatureExpire", "The signature expired.")
    date = datetime.fromtimestamp(int(timestamp), tz=timezone.utc).strftime("%Y-%m-%d")
    signed = match["signed"].split(";")
    if match["date"] != date or match["service"] != SERVICE or not {"content-type", "host"} <= set(signed):
        raise Failure("AuthFailure.SignatureFailure", "The credential scope does not match.")

    path, _, query = handler.path.partition("?")
    canonical_headers = "".join(
        "%s:%s\n" % (name, headers.get(name, "").strip().lower()) for name in signed
    )
    canonical_request = "\n".join([
        handler.command, path, query, canonical_headers, match["signed"],
        hashlib.sha256(body).hexdigest(),
    ])
    string_to_sign = "\n".join([
        "TC3-HMAC-SHA256", timestamp, "%s/%s/tc3_request" % (date, SERVICE),
        hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
    ])
    expected = Sign.sign_tc3(handler.server.secret_key, date, SERVICE, string_to_sign)
    if not hmac.compare_digest(expected, match["signature"]):
        raise Failure(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated. Please check your signature is correct.",
        )

    if headers.get("x-tc-action") != ACTION:
        raise Failure("InvalidAction", "The action is not supported by this stub.")
    if headers.get("x-tc-version") != VERSION:
        raise Failure("NoSuchVersion", "The API version does not exist.")
    region = headers.get("x-tc-region")
    if not region:
        raise Failure("MissingParameter", "X-TC-Region is missing.")
    if handler.server.region and region != handler.server.region:
        raise Failure("UnsupportedRegion", "The API does not support this region.")


def task_of(body):
    try:
        params = json.loads(body)
    except ValueError:
        return None, None
    if not isinstance(params, dict):
        return None, None
    return params.get("SdkAppId"), params.get("TaskId")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("tencent_stub: " + (fmt % args) + "\n")

    def read_body(self):
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def tencent_error(self, code, message, status=200):
        self.send(status, {"Response": {
            "Error": {"Code": code, "Message": message},
            "RequestId": str(uuid.uuid4()),
        }})

    def do_GET(self):
        state = self.server.state
        with state.lock:
            if self.path == "/__count":
                return self.send(200, {"total": sum(state.counts.values()), "tasks": dict(state.counts)})
            if self.path == "/__requests":
                return self.send(200, list(state.requests))
        self.send(404, {"error": "not found"})

    def do_POST(self):
        body = self.read_body()
        state = self.server.state
        if self.path == "/__script":
            try:
                script = json.loads(body)
                assert isinstance(script, dict)
                assert all(isinstance(v, list) and v for v in script.values())
            except (ValueError, AssertionError):
                return self.send(400, {"error": "the script is {task: [item, ...]}"})
            with state.lock:
                state.scripts.update({k: list(v) for k, v in script.items()})
            return self.send(200, {"ok": True})
        if self.path == "/__reset":
            with state.lock:
                state.reset()
            return self.send(200, {"ok": True})
        self.api(body)

    def api(self, body):
        state = self.server.state
        sdk_app_id, task = task_of(body)
        verdict, refusal = "ok", None
        try:
            verify(self, body)
        except Failure as failure:
            verdict, refusal = failure.code, failure
        with state.lock:
            key = task if isinstance(task, str) else ""
            state.counts[key] = state.counts.get(key, 0) + 1
            item = state.next_item(key) if verdict == "ok" else None
            state.requests.append({
                "method": self.command, "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"), "verdict": verdict,
                "answer": item, "atMs": int(time.time() * 1000),
            })
        if refusal:
            return self.tencent_error(refusal.code, refusal.message)
        if not isinstance(sdk_app_id, int) or not isinstance(task, str) or not task:
            return self.tencent_error("InvalidParameter", "SdkAppId and TaskId are required.")
        self.answer(item, task)

    def answer(self, item, task):
        if item == "timeout":
            time.sleep(self.server.hang_seconds)
            self.close_connection = True
            return
        if item == "500":
            return self.send(500, b"Internal Server Error", "text/plain")
        if item == "authfail":
            return self.tencent_error(
                "AuthFailure.SignatureFailure",
                "The provided credentials could not be validated. Please check your signature is correct.",
            )
        if isinstance(item, dict) and "Error" in item:
            return self.send(200, {"Response": {**item, "RequestId": str(uuid.uuid4())}})
        fields = {"Status": item} if isinstance(item, str) else dict(item)
        response = {"TaskId": task}
        if fields.get("Status") == "STOPPED":
            response.update({"PushStopTime": int(time.time()), "FinishReason": "AUTO", "ExceptionCnt": 0})
        response.update(fields)
        response["RequestId"] = str(uuid.uuid4())
        self.send(200, {"Response": response})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--secret-id", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--region", default="", help="refuse other regions (default: any)")
    parser.add_argument("--hang-seconds", type=float, default=30.0)
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.secret_id = args.secret_id
    server.secret_key = args.secret_key
    server.region = args.region
    server.hang_seconds = args.hang_seconds
    server.state = State()

    def exit_when_stdin_closes():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
