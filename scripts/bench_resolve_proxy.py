#!/usr/bin/env python3
"""A proxy in front of the emulator for scripts/bench_resolve.py.

  bench_resolve_proxy.py --upstream http://127.0.0.1:PORT

Listens on a free loopback port and prints `ready http://127.0.0.1:PORT`,
then serves until standard input reaches end of file, like emulator.py. For
every AWS request it:

- counts the request by its API action (the X-Amz-Target header);
- with a Parameter Store limit set, answers GetParameter, GetParameters and
  GetParametersByPath beyond that many a second with AWS's 400
  ThrottlingException, as Parameter Store does at its default 40
  transactions per second, shared by the three;
- holds every answer, throttled or not, for the added delay, as a network
  round trip would.

POST /_bench with a JSON body {"delay_ms": D, "ssm_tps": T} sets the delay
and the limit (T 0: none) and answers the counts since the last such call,
then starts the counts again. Standard library only.
"""

import argparse
import collections
import http.client
import http.server
import json
import queue
import sys
import threading
import time
import urllib.parse

# The actions that share Parameter Store's default throughput quota.
PARAMETER_STORE_READS = {"GetParameter", "GetParameters", "GetParametersByPath"}

THROTTLED = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()

# Headers about one hop, which the proxy answers for itself.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}

# Connections to the emulator. It answers one request at a time anyway, and
# a few kept-alive connections spare it hundreds of connects when a fleet
# arrives at once.
UPSTREAM_CONNECTIONS = 4


class State:
    """The settings and counts, shared by every connection's thread."""

    def __init__(self, upstream):
        self.lock = threading.Lock()
        self.delay = 0.0
        self.tps = 0
        self.admitted = collections.deque()
        self.calls = collections.Counter()
        self.throttled = collections.Counter()
        self.pool = queue.Queue()
        for _ in range(UPSTREAM_CONNECTIONS):
            self.pool.put(http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60))

    def configure(self, delay_ms, tps):
        with self.lock:
            counts = {"calls": dict(self.calls), "throttled": dict(self.throttled)}
            self.delay, self.tps = delay_ms / 1000, tps
            self.calls.clear()
            self.throttled.clear()
            self.admitted.clear()
            return counts

    def admit(self, action):
        """Counts a request, and tells whether it is within the limit: at
        most `tps` Parameter Store reads admitted in any one second."""
        with self.lock:
            if self.tps and action in PARAMETER_STORE_READS:
                now = time.monotonic()
                while self.admitted and self.admitted[0] <= now - 1.0:
                    self.admitted.popleft()
                if len(self.admitted) >= self.tps:
                    self.throttled[action] += 1
                    return False, self.delay
                self.admitted.append(now)
            self.calls[action] += 1
            return True, self.delay

    def forward(self, method, path, headers, body):
        connection = self.pool.get()
        try:
            for attempt in (1, 2):
                try:
                    connection.request(method, path, body=body, headers=headers)
                    response = connection.getresponse()
                    return response.status, response.getheaders(), response.read()
                except (http.client.HTTPException, ConnectionError):
                    # A kept-alive connection the emulator closed: once more
                    # on a new one.
                    connection.close()
                    if attempt == 2:
                        raise
        finally:
            self.pool.put(connection)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/_bench":
            settings = json.loads(body)
            counts = self.state.configure(settings["delay_ms"], settings["ssm_tps"])
            self.answer(200, [("Content-Type", "application/json")], json.dumps(counts).encode())
            return
        self.proxy(body)

    def do_GET(self):
        self.proxy(b"")

    def proxy(self, body):
        target = self.headers.get("X-Amz-Target", "")
        action = target.rpartition(".")[2] or f"{self.command} {self.path}"
        admitted, delay = self.state.admit(action)
        if admitted:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            status, reply_headers, reply = self.state.forward(self.command, self.path, headers, body)
            reply_headers = [(k, v) for k, v in reply_headers if k.lower() not in HOP_BY_HOP]
        else:
            status, reply = 400, THROTTLED
            reply_headers = [("Content-Type", "application/x-amz-json-1.1")]
        if delay:
            time.sleep(delay)
        self.answer(status, reply_headers, reply)

    def answer(self, status, headers, body):
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    # A fleet connects all at once: the default backlog of 5 would drop
    # connections, and the kernel would retry them only a second later.
    request_queue_size = 1024
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="the emulator's endpoint")
    args = parser.parse_args()
    Handler.state = State(urllib.parse.urlsplit(args.upstream))
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"ready http://127.0.0.1:{server.server_address[1]}", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
