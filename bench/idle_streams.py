"""Memory per idle event stream: the real gateway in front of a dev server, N clients (2000) each
holding GET …/workflows/{id}/events open on one running workflow that has nothing more to say.
Reports the gateway's RSS before, with the streams open, and after they close, the bytes each
stream costs, and the CPU the gateway spends while they idle (keep-alives and polls only).

Each stream holds its connection (libmicrohttpd's, with its PORTICO_MAX_HEADER_BYTES pool), the
request and its exchange, the stream's state and one GetWorkflowExecutionHistory call in flight
(gRPC's); its buffer is freed whenever it is sent, so an idle stream holds none. Each also holds
one of Temporal's long polls, which a frontend bounds per namespace (frontend.namespaceCount,
1200 by default): the dev server here is given room for all of them.

    .venv/bin/python bench/idle_streams.py [--streams 2000] [--gateway build/portico]
"""

import argparse
import json
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "tests/integration"))

from devserver import DevServer  # noqa: E402

BATCH = 100  # streams opened at once, so Temporal's per-namespace rate limit is not what is measured


def rss_bytes(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_gateway(path, address, streams):
    err = tempfile.NamedTemporaryFile(prefix="portico-idle-", suffix=".log")
    env = dict(os.environ, TEMPORAL_ADDRESS=address, PORTICO_LISTEN="127.0.0.1:0", PORTICO_AUTH="off",
               PORTICO_MAX_CONNECTIONS_PER_CLIENT=str(streams + 100))
    process = subprocess.Popen([path], env=env, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = re.search(r"\(port (\d+)", Path(err.name).read_text())
        if match:
            return process, int(match.group(1)), err
        time.sleep(0.05)
    raise RuntimeError(f"gateway did not start: {Path(err.name).read_text()}")


def open_stream(port, path):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
    return sock


def read_until(sock, marker, limit=30):
    sock.settimeout(limit)
    seen = b""
    while marker not in seen:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError(f"stream closed: {seen[:300]!r}")
        seen += chunk


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--gateway", default=str(TOP / "build/portico"))
    options = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < options.streams + 200:
        raise SystemExit(f"open files are limited to {hard}: too few for {options.streams} streams")

    # Each idle stream holds one of Temporal's long polls, which a frontend bounds per namespace
    # (frontend.namespaceCount, 1200 by default: past it, RESOURCE_EXHAUSTED).
    with DevServer(dynamic_config={"frontend.namespaceCount": options.streams + 200}) as dev:
        gateway, port, _log = start_gateway(options.gateway, dev.address, options.streams)
        try:
            base = f"http://127.0.0.1:{port}/api/v1/namespaces/default/workflows"
            # No worker polls this queue: the workflow stays running with nothing more to say.
            body = json.dumps({"workflowType": "Idle", "taskQueue": "nobody-polls-this"}).encode()
            urllib.request.urlopen(urllib.request.Request(f"{base}/idle-streams", data=body, method="POST")).read()
            path = "/api/v1/namespaces/default/workflows/idle-streams/events"
            # Warm up: the first stream makes the allocator's arenas and gRPC's channel.
            for sock in [open_stream(port, path) for _ in range(10)]:
                read_until(sock, b"EVENT_TYPE_WORKFLOW_TASK_SCHEDULED")
                sock.close()
            time.sleep(2)
            before = rss_bytes(gateway.pid)
            streams = []
            for start in range(0, options.streams, BATCH):
                batch = [open_stream(port, path) for _ in range(min(BATCH, options.streams - start))]
                for sock in batch:
                    read_until(sock, b"EVENT_TYPE_WORKFLOW_TASK_SCHEDULED")
                streams += batch
            time.sleep(3)
            with_streams = rss_bytes(gateway.pid)
            cpu_start, idle_start = cpu_seconds(gateway.pid), time.monotonic()
            time.sleep(10)
            cpu = (cpu_seconds(gateway.pid) - cpu_start) / (time.monotonic() - idle_start)
            for sock in streams:
                sock.close()
            time.sleep(3)
            after = rss_bytes(gateway.pid)
        finally:
            gateway.terminate()
            gateway.wait(timeout=60)
    per_stream = (with_streams - before) / options.streams
    print(json.dumps({"streams": options.streams, "rss_before": before, "rss_with_streams": with_streams,
                      "rss_after_close": after, "bytes_per_stream": round(per_stream),
                      "idle_cpu_percent": round(cpu * 100, 2)}))
    print(f"{options.streams} idle streams: {per_stream / 1024:.1f} KiB each "
          f"(RSS {before / 2**20:.1f} → {with_streams / 2**20:.1f} MiB, {after / 2**20:.1f} MiB after they closed); "
          f"gateway CPU while idle {cpu * 100:.2f}%")


if __name__ == "__main__":
    main()
