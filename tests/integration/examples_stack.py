"""What the examples' tests share (test_examples.py: the Python example workflows;
test_c_workflows.py: the same examples written in C): everything `make run` starts, on free ports
and with one codec key, and the calls their READMEs make through the gateway.

A history recorded by a test is kept for the replay tests; PORTICO_RECORD_HISTORIES=1 also
rewrites the committed one (after a change that is meant to be incompatible)."""

import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from temporalio.client import Client
from temporalio.converter import DataConverter

from conftest import LoggedProcess, build_paths, start_gateway
from devserver import TOP, DevServer
from encryption_codec import EncryptionCodec
from http_client import get, post

EXAMPLES = TOP / "examples"
# A fixed key, so that the committed histories can be decoded on replay. Not a secret.
KEY_ID, KEY = "examples-test", b"portico-examples-test-key-32byte"
CODEC_KEYS = f"{KEY_ID}={base64.b64encode(KEY).decode()}"
WEBHOOK_SECRET = "examples-test-webhook-secret"
# The task queue of Portico's worker (its default): the C activities, and the C workflows.
PORTICO_TASK_QUEUE = "portico"
# The task queue of the examples' Python worker (examples/workflows/worker.py).
EXAMPLES_TASK_QUEUE = "portico-examples"


def build():
    """The build the tests cover (build/ or build/asan/), as for the gateway."""
    return Path(build_paths("portico")[0].values[0]).parent


def converter():
    return dataclasses.replace(DataConverter.default, payload_codec=EncryptionCodec({KEY_ID: KEY}, KEY_ID))


@contextlib.contextmanager
def running_examples(worker_args, python_workers=(), env=None):
    """A dev server, the gateway with the examples' webhooks, Portico's worker with worker_args
    (--activities and --workflows libraries), and the examples' Python worker on
    "portico-examples"; python_workers are further Python workers, each a function of (server,
    gateway) giving a command (it prints "ready" once polling); env is more environment for the
    gateway and Portico's worker, which both load examples/flows as with `make run`. Yields an
    object with .url (the gateway's), .server, .recorded (histories by name) and
    .crash_portico_worker(), which SIGKILLs Portico's worker, as a crash would, and starts another
    in its place."""
    # As `make run`: the flows of examples/flows, which a route of examples/webhooks.json starts.
    env = {"PORTICO_FLOWS_DIR": str(EXAMPLES / "flows"), **(env or {})}
    with DevServer() as server:
        gateway = start_gateway(str(build() / "portico"), server.address, PORTICO_CODEC_KEYS=CODEC_KEYS,
                                PORTICO_WEBHOOKS_FILE=str(EXAMPLES / "webhooks.json"),
                                GITHUB_WEBHOOK_SECRET=WEBHOOK_SECRET, **env)
        processes = []

        def portico_worker():
            return LoggedProcess([str(build() / "portico-worker"), *worker_args],
                                 dict(os.environ, TEMPORAL_ADDRESS=server.address, PORTICO_CODEC_KEYS=CODEC_KEYS,
                                      **env), "polling task queue")

        def crash_portico_worker():
            processes[0].process.kill()
            processes[0].process.wait()
            processes[0] = portico_worker()

        try:
            processes.append(portico_worker())
            commands = [lambda server, gateway: [sys.executable, str(EXAMPLES / "workflows/worker.py"), "--address",
                                                 server.address], *python_workers]
            for command in commands:
                processes.append(LoggedProcess(command(server, gateway),
                                               dict(os.environ, PORTICO_CODEC_KEYS=CODEC_KEYS,
                                                    PORTICO_URL=gateway.url), "ready"))
            yield type("Examples", (), {"url": gateway.url, "server": server, "recorded": {},
                                        "crash_portico_worker": staticmethod(crash_portico_worker)})
        finally:
            for process in reversed(processes):
                assert process.stop() == 0, process.output()
            assert gateway.stop() == 0, gateway.stderr


def api(examples, path=""):
    return f"{examples.url}/api/v1/namespaces/default/workflows{path}"


def fetch_history(examples, workflow_id):
    """The workflow's history (encrypted, as Temporal stores it)."""
    async def fetch():
        client = await Client.connect(examples.server.address)
        return await client.get_workflow_handle(workflow_id).fetch_history()

    return asyncio.run(fetch())


def record(examples, directory, name, workflow_id):
    """Keeps the workflow's history for the replay tests, and with PORTICO_RECORD_HISTORIES=1
    writes it to directory/name.json."""
    history = fetch_history(examples, workflow_id)
    examples.recorded[name] = history
    if os.environ.get("PORTICO_RECORD_HISTORIES") == "1":
        directory.mkdir(exist_ok=True)
        (directory / f"{name}.json").write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    return history


def write_recorded(examples, folder):
    """The histories the tests recorded, each written to folder as <name>.json: the files."""
    files = []
    for name, history in examples.recorded.items():
        files.append(folder / f"{name}.json")
        files[-1].write_text(history.to_json())
    return files


def query(examples, workflow_id, name, attempts=50):
    """A query, retried while the workflow's first task has not run yet (Temporal answers
    "workflow not ready" until a worker has picked it up)."""
    for _ in range(attempts):
        answer = post(api(examples, f"/{workflow_id}/query/{name}"), {})
        if answer.status == 200:
            return answer.json["queryResult"][0]
        time.sleep(0.2)
    raise AssertionError(answer)


def start_and_wait(examples, workflow_id, body, wait="60s"):
    """The outcome of a start with ?wait=: what GET …/result answers."""
    response = post(api(examples, f"/{workflow_id}?wait={wait}"), body)
    assert response.status == 200, response
    return response.json["outcome"]


def result_of(examples, workflow_id, timeout="60s"):
    """GET …/result: the closed workflow's outcome."""
    result = get(api(examples, f"/{workflow_id}/result?timeout={timeout}"))
    assert result.status == 200, result
    return result.json
