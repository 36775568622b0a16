"""C workflows run by build/portico-worker (--workflows): c.Hello (tests/workflows/hello.c) calls
the example.greet activity, answers a query through the gateway while it waits for a signal, keeps
its run in the sticky cache between tasks, and completes on a second worker after the first was
killed mid-workflow (the second rebuilds the run from the whole history)."""

import asyncio
import json
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from temporalio.client import Client

from conftest import build_paths
from http_client import get, post
from test_worker import CWorker, worker_port

WORKER_PATHS = build_paths("portico-worker")


def libraries(path):
    build = Path(path).parent
    return ["--workflows", str(build / "tests/workflows/libhello.so"),
            "--activities", str(build / "examples/libgreet.so")]


def start_worker(path, server, queue):
    return CWorker(path, server, queue, *libraries(path), PORTICO_WORKER_METRICS_LISTEN="127.0.0.1:0")


def metrics(w):
    """The worker's /metrics as {"name{labels}": value}."""
    text = get(f"http://127.0.0.1:{worker_port(w)}/metrics").text
    values = {}
    for line in text.splitlines():
        match = re.match(r"^(portico_worker_workflow_\S+) (\S+)$", line)
        if match:
            values[match.group(1)] = float(match.group(2))
    return values


def api(gateway, path):
    return f"{gateway.url}/namespaces/default{path}"


def wait_for_state(gateway, workflow_id, stage, w, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        response = post(api(gateway, f"/workflows/{workflow_id}/query/state"), {})
        if response.status == 200 and response.json["queryResult"][0]["stage"] == stage:
            return response.json["queryResult"][0]
        assert time.monotonic() < deadline, (response, Path(w.log.name).read_text())
        time.sleep(0.2)


def stop_cleanly(w):
    assert w.stop() == 0, w.output
    assert "ERROR: AddressSanitizer" not in w.output and "runtime error:" not in w.output, w.output


@pytest.mark.parametrize("path", WORKER_PATHS)
def test_a_c_workflow_is_queried_cached_and_survives_its_worker(path, server, gateway):
    queue = f"portico-c-wf-{uuid.uuid4()}"
    workflow_id = f"c-hello-{uuid.uuid4()}"
    first = start_worker(path, server, queue)
    try:
        started = [json.loads(line) for line in Path(first.log.name).read_text().splitlines()
                   if '"activities registered"' in line]
        assert started[0]["workflowTypes"] == ["c.Hello"], started
        response = post(api(gateway, f"/workflows/{workflow_id}"),
                        {"workflowType": "c.Hello", "taskQueue": queue, "args": ["Ada"]})
        assert response.status == 200, response

        # The greeting came back on a second task, from the sticky queue, to the cached run; the
        # query (a legacy query task: no workflow task is in flight) reads the cached run.
        state = wait_for_state(gateway, workflow_id, "waiting", first)
        assert state["greeting"] == {"greeting": "Hello, Ada!"}
        counters = metrics(first)
        assert counters["portico_worker_workflow_cache_hits_total"] >= 1, counters
        assert counters["portico_worker_workflow_cache_size"] == 1, counters
        assert counters["portico_worker_workflow_legacy_queries_total"] >= 1, counters
        assert counters['portico_worker_workflow_tasks_total{outcome="completed"}'] >= 2, counters
        assert counters["portico_worker_workflow_nondeterminism_total"] == 0, counters
    finally:
        first.process.kill()
        first.process.wait()

    second = start_worker(path, server, queue)
    try:
        signal = post(api(gateway, f"/workflows/{workflow_id}/signal/proceed"), {"input": [{"by": "test"}]})
        assert signal.status == 200, signal

        async def result():
            client = await Client.connect(server.address)
            return await asyncio.wait_for(client.get_workflow_handle(workflow_id).result(), 60)

        # The signal's task goes to the dead worker's sticky queue, then (no poller there, or its
        # schedule-to-start timeout) to the normal queue, where the second worker replays it all.
        assert asyncio.run(result()) == {"greeting": {"greeting": "Hello, Ada!"}, "signal": [{"by": "test"}]}
        # The worker counts an answer once Temporal has acknowledged it, which may be just after the
        # client sees the result.
        deadline = time.monotonic() + 5
        while (counters := metrics(second))['portico_worker_workflow_tasks_total{outcome="completed"}'] < 1:
            assert time.monotonic() < deadline, counters
            time.sleep(0.05)
        assert counters["portico_worker_workflow_cache_misses_total"] >= 1, counters
        assert counters['portico_worker_workflow_tasks_total{outcome="failed"}'] == 0, counters
        assert counters["portico_worker_workflow_cache_size"] == 0, counters  # closed runs are not kept
    finally:
        stop_cleanly(second)
    totals = json.loads(next(line for line in second.output.splitlines() if '"worker totals"' in line))
    assert totals["workflowTasksCompleted"] >= 1 and totals["cacheMisses"] >= 1, totals


@pytest.mark.parametrize("path", WORKER_PATHS)
def test_a_workflow_library_without_its_function_is_refused(path):
    build = Path(path).parent
    completed = subprocess.run(
        [path, "--workflows", str(build / "examples/libgreet.so")], capture_output=True, text=True, timeout=30)
    assert completed.returncode == 1, completed
    assert "has no portico_register_workflows function" in completed.stderr, completed.stderr


@pytest.mark.parametrize("path", WORKER_PATHS)
def test_runs_evicted_from_a_full_cache_are_rebuilt_from_history(path, server, gateway):
    queue = f"portico-c-wf-{uuid.uuid4()}"
    w = CWorker(path, server, queue, *libraries(path), PORTICO_WORKER_METRICS_LISTEN="127.0.0.1:0",
                PORTICO_WORKFLOW_CACHE="1")
    try:
        ids = [f"c-hello-{uuid.uuid4()}" for _ in range(3)]
        for workflow_id in ids:
            response = post(api(gateway, f"/workflows/{workflow_id}"),
                            {"workflowType": "c.Hello", "taskQueue": queue, "args": [workflow_id[-4:]]})
            assert response.status == 200, response
        for workflow_id in ids:
            wait_for_state(gateway, workflow_id, "waiting", w)
        counters = metrics(w)
        assert counters["portico_worker_workflow_cache_size"] <= 1, counters
        assert counters["portico_worker_workflow_cache_evictions_total"] >= 2, counters
        for workflow_id in ids:
            assert post(api(gateway, f"/workflows/{workflow_id}/signal/proceed"), {"input": [1]}).status == 200

        async def results():
            client = await Client.connect(server.address)
            return await asyncio.wait_for(
                asyncio.gather(*(client.get_workflow_handle(i).result() for i in ids)), 60)

        assert [r["greeting"] for r in asyncio.run(results())] == [
            {"greeting": f"Hello, {i[-4:]}!"} for i in ids]
        counters = metrics(w)
        assert counters['portico_worker_workflow_tasks_total{outcome="failed"}'] == 0, counters
    finally:
        stop_cleanly(w)


@pytest.mark.parametrize("path", WORKER_PATHS)
def test_non_determinism_fails_the_task_not_the_workflow(path, server, gateway):
    queue = f"portico-c-wf-{uuid.uuid4()}"
    workflow_id = f"c-hello-{uuid.uuid4()}"
    first = start_worker(path, server, queue)
    try:
        assert post(api(gateway, f"/workflows/{workflow_id}"),
                    {"workflowType": "c.Hello", "taskQueue": queue, "args": ["Ada"]}).status == 200
        wait_for_state(gateway, workflow_id, "waiting", first)
    finally:
        stop_cleanly(first)

    # The code now sleeps first: replaying the history (an activity where it starts a timer) fails.
    changed = CWorker(path, server, queue, *libraries(path), PORTICO_WORKER_METRICS_LISTEN="127.0.0.1:0",
                      HELLO_SLEEP_FIRST="1")
    try:
        assert post(api(gateway, f"/workflows/{workflow_id}/signal/proceed"), {"input": [1]}).status == 200
        deadline = time.monotonic() + 30
        while metrics(changed).get("portico_worker_workflow_nondeterminism_total", 0) < 1:
            assert time.monotonic() < deadline, Path(changed.log.name).read_text()
            time.sleep(0.1)
    finally:
        stop_cleanly(changed)
    failed = [json.loads(line) for line in changed.output.splitlines() if "non-determinism" in line]
    print(f"attempts failed for non-determinism: {[f['attempt'] for f in failed]}")
    assert failed and failed[0]["workflowId"] == workflow_id and failed[0]["workflowType"] == "c.Hello", failed
    assert "history event 5 ActivityTaskScheduled" in failed[0]["detail"], failed
    described = get(api(gateway, f"/workflows/{workflow_id}"))
    assert described.json["workflowExecutionInfo"]["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING", described

    # The code as it was completes the workflow once the task is retried: the first attempt was
    # failed, later ones are left to their 10 s task timeout, as the official SDKs do.
    fixed = start_worker(path, server, queue)
    try:
        async def result():
            client = await Client.connect(server.address)
            return await asyncio.wait_for(client.get_workflow_handle(workflow_id).result(), 60)

        assert asyncio.run(result())["signal"] == [1]
    finally:
        stop_cleanly(fixed)
