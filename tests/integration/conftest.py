"""Fixtures: one dev server and one Python-SDK worker per session, and the C client probes."""

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from devserver import TOP, DevServer

TASK_QUEUE = "portico-tests"
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def server():
    with DevServer() as dev_server:
        yield dev_server


@pytest.fixture(scope="session")
def worker(server):
    process = subprocess.Popen(
        [sys.executable, str(HERE / "worker.py"), "--address", server.address, "--task-queue", TASK_QUEUE],
        stdout=subprocess.PIPE, cwd=HERE, text=True, start_new_session=True)
    try:
        line = process.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"test worker did not start (exit {process.poll()})")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def probe_paths():
    paths = os.environ.get("PORTICO_PROBES", str(TOP / "build/tests/client-probe")).split()
    return [pytest.param(path, id=Path(path).parent.parent.name) for path in paths]


class Probe:
    """Runs the C client probe against the test server; returns (exit status, JSON output)."""

    def __init__(self, path: str, server: DevServer) -> None:
        self.path = path
        self.env = dict(os.environ, TEMPORAL_ADDRESS=server.address, TEMPORAL_NAMESPACE="default")

    def __call__(self, *args: str, env=None, timeout=90):
        completed = subprocess.run([self.path, *args], capture_output=True, text=True,
                                   env=dict(self.env, **(env or {})), timeout=timeout)
        if completed.stderr:
            print(completed.stderr, file=sys.stderr)
        assert completed.returncode in (0, 1), f"probe crashed ({completed.returncode}): {completed.stderr}"
        assert "ERROR: AddressSanitizer" not in completed.stderr
        assert "runtime error:" not in completed.stderr
        return completed.returncode, json.loads(completed.stdout)

    def ok(self, *args: str):
        status, output = self(*args)
        assert status == 0, output
        return output


@pytest.fixture(params=probe_paths())
def probe(request, server, worker):
    return Probe(request.param, server)


@pytest.fixture(scope="session")
def temporal(server):
    """Runs a coroutine with a Python SDK client: temporal(lambda client: ...)."""

    def run(use):
        async def main():
            client = await Client.connect(server.address)
            return await use(client)

        return asyncio.run(main())

    return run


@pytest.fixture
def workflow_id(request):
    return f"{request.node.name}-{uuid.uuid4()}"


@pytest.fixture
def task_queue():
    return TASK_QUEUE


def build_paths(name):
    """The program in each build the tests cover: build/NAME and build/asan/NAME."""
    probes = os.environ.get("PORTICO_PROBES", str(TOP / "build/tests/client-probe")).split()
    return [pytest.param(str(Path(probe).parent.parent / name), id=Path(probe).parent.parent.name)
            for probe in probes]


class Gateway:
    """A running build/portico; .url is its base URL, .stop() sends SIGTERM and returns the exit status."""

    def __init__(self, path, env):
        import re
        import signal as _signal
        self._signal = _signal
        self.path = path
        self.process = subprocess.Popen([path], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, start_new_session=True)
        line = self.process.stderr.readline()
        match = re.search(r"\(port (\d+)\)", line)
        if not match:
            raise RuntimeError(f"gateway did not start: {line}{self.process.stderr.read()}")
        self.port = int(match.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self, timeout=60):
        if self.process.poll() is None:
            self.process.send_signal(self._signal.SIGTERM)
        try:
            status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            status = self.process.wait()
        self.stdout = self.process.stdout.read()
        self.stderr = self.process.stderr.read()
        return status


def start_gateway(path, server_address, **extra_env):
    env = dict(os.environ, TEMPORAL_ADDRESS=server_address, PORTICO_LISTEN="127.0.0.1:0", **extra_env)
    return Gateway(path, env)


@pytest.fixture(scope="session", params=build_paths("portico"))
def gateway(request, server, worker):
    gw = start_gateway(request.param, server.address)
    yield gw
    status = gw.stop()
    assert status == 0, gw.stderr
    assert "ERROR: AddressSanitizer" not in gw.stderr and "runtime error:" not in gw.stderr, gw.stderr
