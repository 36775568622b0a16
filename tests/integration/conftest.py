"""Fixtures: one dev server and one Python-SDK worker per session, and the C client probes."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from devserver import TOP, DevServer

# The examples' Python modules (the encryption codec among them) are importable in the tests.
sys.path.insert(0, str(TOP / "examples/workflows"))

TASK_QUEUE = "portico-tests"
HERE = Path(__file__).resolve().parent

# Gateways started by the tests run without authentication unless a test sets it up
# (test_auth.py); every process started from here inherits this.
os.environ.setdefault("PORTICO_AUTH", "off")


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
    """A running build/portico; .url is its base URL, .stop() sends SIGTERM and returns the exit status.
    Its output goes to files, not pipes: a pipe nobody reads would fill and block the gateway."""

    def __init__(self, path, env):
        import re
        import tempfile
        self.path = path
        self._out = tempfile.NamedTemporaryFile(prefix="portico-out-", suffix=".log")
        self._err = tempfile.NamedTemporaryFile(prefix="portico-err-", suffix=".log")
        self.process = subprocess.Popen([path], env=env, stdout=self._out, stderr=self._err,
                                        start_new_session=True)
        deadline = time.monotonic() + 30
        match = None
        while not match and time.monotonic() < deadline and self.process.poll() is None:
            match = re.search(r"\(port (\d+)", Path(self._err.name).read_text())
            time.sleep(0.02)
        if not match:
            self.process.kill()
            raise RuntimeError(f"gateway did not start: {Path(self._err.name).read_text()}")
        self.port = int(match.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def errors_so_far(self):
        """What the gateway has written to stderr up to now (warnings, start-up lines)."""
        return Path(self._err.name).read_text()

    def stop_cleanly(self):
        """Stops the gateway and checks that it exited 0 with no sanitizer report."""
        assert self.stop() == 0, self.stderr
        assert "ERROR: AddressSanitizer" not in self.stderr and "runtime error:" not in self.stderr, self.stderr

    def stop(self, timeout=60):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            status = self.process.wait()
        self.stdout = Path(self._out.name).read_text()
        self.stderr = Path(self._err.name).read_text()
        self._out.close()
        self._err.close()
        return status


class LoggedProcess:
    """A program started with env (its whole environment), its output in a file; with ready,
    waits until that text shows there."""

    def __init__(self, command, env, ready=None, prefix="portico-process-"):
        import tempfile
        self.log = tempfile.NamedTemporaryFile(prefix=prefix, suffix=".log")
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=self.log, start_new_session=True)
        deadline = time.monotonic() + 60
        while ready is not None and ready not in self.output():
            assert self.process.poll() is None and time.monotonic() < deadline, self.output()
            time.sleep(0.05)

    def output(self):
        return Path(self.log.name).read_text()

    def stop(self):
        self.process.terminate()
        return self.process.wait(timeout=60)


def start_gateway(path, server_address, **extra_env):
    env = dict(os.environ, TEMPORAL_ADDRESS=server_address, PORTICO_LISTEN="127.0.0.1:0")
    env.update(extra_env)
    return Gateway(path, env)


@pytest.fixture(scope="session", params=build_paths("portico"))
def gateway(request, server, worker):
    gw = start_gateway(request.param, server.address)
    yield gw
    gw.stop_cleanly()
