"""Starts and stops a Temporal dev server on free loopback ports with a throwaway database; a server
killed can start again on the same ports and database, its workflows kept."""

import itertools
import os
import random
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

TOP = Path(__file__).resolve().parents[2]


# Temporal calls completion callbacks only at addresses its dynamic config allows: the gateways the
# tests start listen on loopback (completion webhooks, test_completion_webhooks.py).
CALLBACK_ALLOWLIST = {"component.callbacks.allowedAddresses": '[{"Pattern":"127.0.0.1:*","AllowInsecure":true}]'}


def _port_block():
    """This process's ports: under pytest-xdist each worker (gw0, gw1…) has a block of its own,
    below the kernel's ephemeral range. So no other worker, and no connection's local port, is
    given one of them between the check in free_port and the server's bind."""
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral = int(f.read().split()[0])
    size = (ephemeral - 10000) // workers
    return range(10000 + worker * size, 10000 + (worker + 1) * size)


PORTS = _port_block()
_next = itertools.count(random.randrange(len(PORTS)))  # two processes of one block rarely meet


def free_port() -> int:
    """A loopback port nothing listens on, from this process's block, each at most once a lap."""
    for _ in range(len(PORTS)):
        port = PORTS[next(_next) % len(PORTS)]
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {PORTS}")


def wait_for_port(port: int, deadline: float, process: subprocess.Popen) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dev server exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"dev server did not listen on 127.0.0.1:{port} in time")


class DevServer:
    """A `temporal server start-dev` process; use as a context manager."""

    def __init__(self, temporal_cli: Optional[str] = None, port: Optional[int] = None,
                 ui_codec_endpoint: Optional[str] = None, dynamic_config: Optional[dict] = None,
                 namespaces: tuple = ()) -> None:
        self.temporal_cli = temporal_cli or os.environ.get("TEMPORAL_CLI") or str(TOP / ".tools/bin/temporal")
        self.port = port or free_port()
        self.http_port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.ui_codec_endpoint = ui_codec_endpoint
        self.dynamic_config = {**CALLBACK_ALLOWLIST, **(dynamic_config or {})}
        self.namespaces = namespaces  # registered at start, besides default
        self.ui_port = free_port() if ui_codec_endpoint else None
        self.http_address = f"127.0.0.1:{self.http_port}"
        self._dir = tempfile.TemporaryDirectory(prefix="portico-devserver-")
        self.log_path = Path(self._dir.name) / "server.log"
        self._process: Optional[subprocess.Popen] = None

    def start(self) -> "DevServer":
        command = [
            self.temporal_cli, "server", "start-dev",
            "--ip", "127.0.0.1", "--port", str(self.port), "--http-port", str(self.http_port),
            "--db-filename", str(Path(self._dir.name) / "temporal.db"), "--log-level", "warn",
        ]
        for key, value in self.dynamic_config.items():
            command += ["--dynamic-config-value", f"{key}={value}"]
        for namespace in self.namespaces:
            command += ["--namespace", namespace]
        if self.ui_codec_endpoint:
            command += ["--ui-port", str(self.ui_port), "--ui-codec-endpoint", self.ui_codec_endpoint]
        else:
            command.append("--headless")
        self._log = open(self.log_path, "ab")  # a restart adds to the log of the run before
        self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        try:
            wait_for_port(self.port, time.monotonic() + 60, self._process)
        except Exception:
            self.stop()
            raise RuntimeError(f"dev server failed to start; log:\n{self.log_path.read_text()}")
        return self

    def wait_for_ui(self) -> None:
        """The Web UI listens a moment after the gRPC port does."""
        wait_for_port(self.ui_port, time.monotonic() + 30, self._process)

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown, the database file left as it is for start()."""
        self._process.kill()
        self._process.wait()
        self._log.close()

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process:
            self._log.close()
        self._dir.cleanup()

    def __enter__(self) -> "DevServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
