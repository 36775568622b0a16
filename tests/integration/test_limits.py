"""What Temporal can never accept is refused up front with 413 and what is too large, and a refusal
for size from Temporal is never a 429 that clients retry; numbers beyond 64 bits reach workflows and
come back digit for digit."""

import time
from concurrent import futures

import grpc
import pytest
from google.rpc import status_pb2
from temporalio.api.enums.v1 import ResourceExhaustedCause, ResourceExhaustedScope
from temporalio.api.errordetails.v1 import ResourceExhaustedFailure

from conftest import TASK_QUEUE, build_paths, start_gateway
from http_client import get, post

MEMO_LIMIT = 2 * 1024 * 1024
REQUEST_LIMIT = 4 * 1024 * 1024


def api(gateway, path):
    return f"{gateway.url}/api/v1/namespaces/default{path}"


def start_body(args, **extra):
    return dict({"workflowType": "Echo", "taskQueue": TASK_QUEUE, "args": args}, **extra)


def test_numbers_beyond_64_bits_keep_every_digit(gateway, workflow_id):
    args = [[123456789012345678901234567890, {"n": -98765432109876543210987, "small": 7}]]
    started = post(api(gateway, f"/workflows/{workflow_id}"), start_body(args))
    assert started.status == 200, started
    result = get(api(gateway, f"/workflows/{workflow_id}/result?timeout=30s"))
    assert result.json["result"] == args, result.text
    history = get(api(gateway, f"/workflows/{workflow_id}/history")).json
    attributes = history["history"]["events"][0]["workflowExecutionStartedEventAttributes"]
    assert attributes["input"] == args
    # Outside payloads, such a number is refused by name rather than silently cut.
    refused = post(api(gateway, f"/workflows/{workflow_id}-x"),
                   {"workflowType": "Echo", "taskQueue": TASK_QUEUE, "workflowRunTimeout": 99999999999999999999})
    assert refused.status == 400 and "workflowRunTimeout" in refused.json["message"], refused


def test_a_memo_of_many_small_fields_is_refused_whole(gateway, workflow_id):
    memo = {"fields": {f"k{i:06d}": 1 for i in range(100_000)}}
    response = post(api(gateway, f"/workflows/{workflow_id}"), start_body(["x"], memo=memo))
    assert response.status == 413, response
    assert "Retry-After" not in response.headers
    assert response.json["field"] == "memo" and response.json["limitBytes"] == MEMO_LIMIT
    assert response.json["sizeBytes"] > MEMO_LIMIT and "memo" in response.json["message"]
    assert get(api(gateway, f"/workflows/{workflow_id}")).status == 404


@pytest.fixture(scope="module", params=build_paths("portico"))
def roomy_gateway(request, server, worker):
    """A gateway taking bodies larger than Temporal's message limit."""
    gw = start_gateway(request.param, server.address, PORTICO_MAX_BODY_BYTES=str(8 * 1024 * 1024))
    yield gw
    gw.stop_cleanly()


def test_a_request_over_temporals_message_limit_is_refused_whole(roomy_gateway, workflow_id):
    # Each part under its own limit; together more than one gRPC message Temporal receives.
    body = start_body(["a" * (1900 * 1024)], memo={"fields": {"m": "b" * (1900 * 1024)}},
                      header={"fields": {"h": "c" * (600 * 1024)}})
    response = post(api(roomy_gateway, f"/workflows/{workflow_id}"), body)
    assert response.status == 413, response
    assert "Retry-After" not in response.headers
    assert response.json["field"] == "body" and response.json["limitBytes"] == REQUEST_LIMIT
    assert response.json["sizeBytes"] > REQUEST_LIMIT and "gRPC message" in response.json["message"]
    assert get(api(roomy_gateway, f"/workflows/{workflow_id}")).status == 404


class FakeTemporal:
    """A WorkflowService that refuses signals as too large, as Temporal's gRPC server does, and
    queries with a rate limit, as Temporal's limiters do."""

    SERVICE = "temporal.api.workflowservice.v1.WorkflowService"

    def __init__(self):
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handlers = {"SignalWorkflowExecution": grpc.unary_unary_rpc_method_handler(self.too_large),
                    "QueryWorkflow": grpc.unary_unary_rpc_method_handler(self.rate_limited)}
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(self.SERVICE, handlers),))
        self.address = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.server.start()

    @staticmethod
    def too_large(request, context):
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                      "grpc: received message larger than max (12900000 vs. 4194304)")

    @staticmethod
    def rate_limited(request, context):
        status = status_pb2.Status(code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
                                   message="namespace rate limit exceeded")
        status.details.add().Pack(ResourceExhaustedFailure(
            cause=ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT,
            scope=ResourceExhaustedScope.RESOURCE_EXHAUSTED_SCOPE_NAMESPACE))
        context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, status.message)


@pytest.mark.parametrize("path", build_paths("portico"))
def test_a_size_refusal_is_413_and_a_rate_limit_429(path):
    fake = FakeTemporal()
    gw = start_gateway(path, fake.address, PORTICO_CALL_TIMEOUT="20s")
    try:
        refused = post(api(gw, "/workflows/w/signal/add"), {"input": ["x"]})
        assert refused.status == 413, refused
        assert "Retry-After" not in refused.headers
        assert refused.json["code"] == 8 and "larger than max" in refused.json["message"]
        # A call that is safe to repeat (here by its Idempotency-Key) is not repeated in vain either.
        started = time.monotonic()
        refused = post(api(gw, "/workflows/w/signal/add"), {"input": ["x"]}, headers={"Idempotency-Key": "k"})
        assert refused.status == 413 and time.monotonic() - started < 10, refused

        limited = post(api(gw, "/workflows/w/query/state"), {})
        assert limited.status == 429, limited
        assert limited.headers["Retry-After"]
        assert limited.json["details"][0]["cause"] == "RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT"
    finally:
        assert gw.stop() == 0, gw.stderr
        fake.server.stop(0)
    assert "ERROR: AddressSanitizer" not in gw.stderr and "runtime error:" not in gw.stderr, gw.stderr
