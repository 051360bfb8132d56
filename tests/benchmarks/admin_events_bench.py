"""Admin event benchmark (issue 10): a customer message stored -> its `message.in` event at connected admin pages.

A real `appliance serve` runs in a child process (real worker; no model, so every reply is a built-in or fallback
one and the worker is never the bottleneck) with 50 admin event streams open (GET /api/v1/events, each a socket of
this process read by one selector thread that timestamps every frame as it arrives). Customer messages are posted to
the widget one at a time, a pause between them, from several chat sessions. For every message and every stream the
latency is: frame received - the message row's `created_at` (the moment it was stored, from the event's own data;
both clocks are this machine's). Streams end after `admin_stream_seconds` and reconnect at once with Last-Event-ID,
as a browser does, so replayed events count with their delay. Prints p50/p95/p99/max; target p95 <= 100 ms.
Also prints POST -> event at the first stream (the worker's pick-up included), for information.

Run: .venv/bin/python tests/benchmarks/admin_events_bench.py [--quick] [--streams 50] [--messages 300]
"""
from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

THREADS = 64  # waitress threads: 50 held by the streams, the rest serve the widget posts and the API


def serve(data: Path, streams: int, stream_seconds: float) -> tuple[subprocess.Popen, int, str, str]:
    """Tenant, web channel and a running `appliance serve`; (process, port, api token, channel id)."""
    import requests

    env = {**os.environ, "APPLIANCE_DATA": str(data), "APPLIANCE_LOAD_MODELS": "false", "APPLIANCE_PORT": "0",
           "APPLIANCE_LOG_LEVEL": "WARNING", "APPLIANCE_HTTP_THREADS": str(THREADS),
           "APPLIANCE_ADMIN_STREAMS": str(streams), "APPLIANCE_ADMIN_STREAMS_PER_TENANT": str(streams),
           "APPLIANCE_WIDGET_STREAMS": "8", "APPLIANCE_ADMIN_STREAM_SECONDS": str(stream_seconds),
           "APPLIANCE_WIDGET_SESSION_MESSAGES": "10000", "APPLIANCE_WIDGET_ADDRESS_MESSAGES": "100000"}
    made = subprocess.run([sys.executable, "-m", "appliance", "tenant", "create", "Bench Shop", "--json"], cwd=REPO,
                          env=env, capture_output=True, text=True, check=True)
    token = json.loads(made.stdout)["api_token"]
    proc = subprocess.Popen([sys.executable, "-m", "appliance", "serve"], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=open(data / "serve.log", "ab"))
    line = proc.stdout.readline()  # "The appliance is serving on http://127.0.0.1:PORT/ ..."
    if "serving on" not in line:
        proc.kill()
        raise SystemExit(f"the appliance did not start; see {data / 'serve.log'}")
    port = int(line.split("http://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    channel = requests.post(f"http://127.0.0.1:{port}/api/v1/channels", json={"kind": "web", "name": "bench"},
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)
    channel.raise_for_status()
    return proc, port, token, channel.json()["id"]


class Streams:
    """`count` admin event streams read by one selector thread; every `message.in` frame is timestamped."""

    def __init__(self, port: int, token: str, count: int):
        self.port, self.token = port, token
        self.selector = selectors.DefaultSelector()
        self.arrivals: dict[int, list[float]] = {}  # message id -> when each stream got its message.in
        self.stored: dict[int, float] = {}  # message id -> its created_at (epoch seconds)
        self.reconnects = 0
        self.lock = threading.Lock()
        self.ready = threading.Semaphore(0)
        self.stop = False
        for _ in range(count):
            self._open(None)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        for _ in range(count):
            if not self.ready.acquire(timeout=60):
                raise SystemExit("the admin streams did not all open")

    def _open(self, last_id: str | None) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        resume = f"Last-Event-ID: {last_id}\r\n" if last_id else ""
        # HTTP/1.0: the body is the raw event stream until the server closes it (no chunked framing to undo)
        sock.sendall(f"GET /api/v1/events HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self.token}\r\n"
                     f"{resume}\r\n".encode())
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ, {"buffer": b"", "head": False, "last": last_id})

    def _run(self) -> None:
        while not self.stop:
            for key, _ in self.selector.select(timeout=0.5):
                now = time.time()
                state = key.data
                try:
                    chunk = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                if not chunk:  # the server ended the stream (admin_stream_seconds): reconnect like a browser
                    self.selector.unregister(key.fileobj)
                    key.fileobj.close()
                    if not self.stop:
                        self.reconnects += 1
                        self._open(state["last"])
                    continue
                state["buffer"] += chunk
                if not state["head"]:
                    if b"\r\n\r\n" not in state["buffer"]:
                        continue
                    head, state["buffer"] = state["buffer"].split(b"\r\n\r\n", 1)
                    if head.split(b" ", 2)[1:2] != [b"200"]:
                        raise SystemExit(f"an admin stream was refused: {head[:80]!r}")
                    state["head"] = True
                while b"\n\n" in state["buffer"]:
                    frame, state["buffer"] = state["buffer"].split(b"\n\n", 1)
                    self._frame(frame.decode(), state, now)

    def _frame(self, text: str, state: dict, now: float) -> None:
        fields = dict(line.split(": ", 1) for line in text.split("\n") if line and not line.startswith(":"))
        if "id" in fields:
            state["last"] = fields["id"]
        if fields.get("event") == "ready" and state.get("first", True):
            state["first"] = False
            self.ready.release()
        if fields.get("event") != "message.in":
            return
        message = json.loads(fields["data"])["data"]
        stored = datetime.fromisoformat(message["created_at"].rstrip("Z")).replace(tzinfo=timezone.utc).timestamp()
        with self.lock:
            self.stored[message["id"]] = stored
            self.arrivals.setdefault(message["id"], []).append(now)

    def wait_for(self, count: int, streams: int, seconds: float = 30) -> None:
        """Until `count` messages have reached every stream."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.lock:
                if sum(len(v) == streams for v in self.arrivals.values()) >= count:
                    return
            time.sleep(0.01)
        raise SystemExit("events did not reach every stream in time")

    def close(self) -> None:
        self.stop = True
        self.thread.join(timeout=5)
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def bench(streams: int, messages: int, pause: float, stream_seconds: float) -> dict:
    import requests

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        proc, port, token, channel_id = serve(data, streams, stream_seconds)
        try:
            clients = Streams(port, token, streams)
            http = requests.Session()
            posted: dict[int, float] = {}
            for n in range(-5, messages):  # 5 warm-up messages, not counted
                sent = time.time()
                response = http.post(f"http://127.0.0.1:{port}/widget/{channel_id}/messages", timeout=30,
                                     json={"session": f"bench-{n % 20}", "text": f"Hello, question {n}"})
                response.raise_for_status()
                clients.wait_for(n + 6, streams)
                newest = max(clients.arrivals)
                if n >= 0:
                    posted[newest] = sent
                time.sleep(pause)
            clients.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    latencies = [arrived - clients.stored[m] for m in posted for arrived in clients.arrivals[m]]
    first = [min(clients.arrivals[m]) - posted[m] for m in posted]
    return {"samples": len(latencies), "p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99), "max": max(latencies), "post_p50": percentile(first, 50),
            "post_p95": percentile(first, 95), "reconnects": clients.reconnects}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few messages and a short run (for the test suite)")
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()
    messages, pause, seconds = (20, 0.05, 1.0) if args.quick else (args.messages, 0.1, 25.0)
    result = bench(args.streams, messages, pause, seconds)
    ms = {k: v * 1000 for k, v in result.items() if k not in ("samples", "reconnects")}
    print(f"admin events: {messages} customer messages x {args.streams} open admin streams = {result['samples']} "
          f"deliveries ({result['reconnects']} stream reconnects with Last-Event-ID, streams of {seconds:g} s)")
    print(f"message stored -> event at an admin stream: p50 {ms['p50']:.1f} ms  p95 {ms['p95']:.1f} ms  "
          f"p99 {ms['p99']:.1f} ms  max {ms['max']:.1f} ms (target p95 <= 100 ms)")
    print(f"widget POST -> event at the first stream (the worker's pick-up included): p50 {ms['post_p50']:.1f} ms  "
          f"p95 {ms['post_p95']:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
