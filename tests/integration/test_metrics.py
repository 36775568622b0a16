"""GET /metrics on the gateway and on the worker's metrics port: Prometheus text that a Prometheus
parser reads, with counters that move as requests and activities happen."""

import asyncio
import re
import uuid
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from conftest import TASK_QUEUE, build_paths
from http_client import get, post
from test_worker import CWorker


def scrape(url):
    response = get(url)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples_of(response.text)


def samples_of(text):
    """{(name, sorted labels): value} of a scrape's text."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def test_the_gateways_counters_move(gateway):
    route = "/api/v1/namespaces/{namespace}/workflows/{workflow_id}"
    before = scrape(f"{gateway.url}/metrics")
    workflow_id = f"metrics-{uuid.uuid4()}"
    started = post(f"{gateway.url}/api/v1/namespaces/default/workflows/{workflow_id}",
                   {"workflowType": "Echo", "taskQueue": TASK_QUEUE, "args": ["x" * 2000]})
    assert started.status == 200, started
    assert get(f"{gateway.url}/no/such/route").status == 404
    # A request is counted once its answer is sent, a moment after the client has it: the result's
    # wait puts time between the requests counted and the scrape.
    assert get(f"{gateway.url}/api/v1/namespaces/default/workflows/{workflow_id}/result?timeout=20s").status == 200
    after = scrape(f"{gateway.url}/metrics")

    requests = "portico_http_requests_total"
    assert value(after, requests, route=route, method="POST", status="200") == \
        value(before, requests, route=route, method="POST", status="200") + 1
    assert value(after, requests, route="unmatched", method="GET", status="404") >= 1
    calls = "portico_temporal_calls_total"
    assert value(after, calls, method="StartWorkflowExecution", code="OK") == \
        value(before, calls, method="StartWorkflowExecution", code="OK") + 1
    assert value(after, "portico_temporal_call_duration_seconds_count", method="StartWorkflowExecution") >= 1
    assert value(after, "portico_payload_bytes_count") > value(before, "portico_payload_bytes_count")
    assert value(after, "portico_http_request_duration_seconds_count", route=route) >= 1
    assert ("portico_http_requests_in_flight", ()) in after


def test_the_workers_metrics_port(server, worker):
    path = build_paths("portico-worker")[0].values[0]
    queue = f"portico-c-{uuid.uuid4()}"
    w = CWorker(path, server, queue, "--activities", str(Path(path).parent / "examples/libecho.so"),
                PORTICO_WORKER_METRICS_LISTEN="127.0.0.1:0")
    try:
        port = re.search(r"metrics on http://\S+ \(port (\d+)\)", Path(w.log.name).read_text()).group(1)
        url = f"http://127.0.0.1:{port}/metrics"
        before = scrape(url)

        async def main():
            client = await Client.connect(server.address)
            return await client.execute_workflow("RunActivity", args=["example.echo", {"n": 1}, queue],
                                                 id=f"metrics-{uuid.uuid4()}", task_queue=TASK_QUEUE)

        assert asyncio.run(main()) == {"n": 1}
        after = scrape(url)
    finally:
        assert w.stop() == 0, w.output
    assert value(after, "portico_worker_tasks_total") == value(before, "portico_worker_tasks_total") + 1
    assert value(after, "portico_worker_activities_total", outcome="completed") == 1
    assert value(after, "portico_worker_activity_duration_seconds_count", activity_type="example.echo") == 1
    assert value(after, "portico_worker_polls_total") >= 1
