"""The gateway end to end: curl-like requests against build/portico (and its ASan build), a real
dev server, and workflows run by the official Python SDK."""

import json
import socket
import time
import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus

from conftest import TASK_QUEUE, start_gateway
from http_client import get, post, request


def api(gateway, path):
    return f"{gateway.url}/api/v1/namespaces/default{path}"


def start(gateway, workflow_id, workflow_type, args=None, **extra):
    body = {"workflowType": {"name": workflow_type}, "taskQueue": {"name": TASK_QUEUE}, **extra}
    if args is not None:
        body["input"] = args
    return post(api(gateway, f"/workflows/{workflow_id}"), body)


def close_event(gateway, workflow_id):
    response = get(api(gateway, f"/workflows/{workflow_id}/history?waitNewEvent=true"
                                f"&historyEventFilterType=HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT"))
    assert response.status == 200, response
    return response.json["history"]["events"][-1]


def test_health_and_readiness(gateway):
    assert get(f"{gateway.url}/healthz").json == {"status": "ok"}
    assert get(f"{gateway.url}/readyz").json == {"status": "ready"}


def test_start_and_result_through_history(gateway, workflow_id):
    value = {"name": "Temporal", "n": 1.5, "list": [1, None, "x"]}
    started = start(gateway, workflow_id, "Echo", [value])
    assert started.status == 200, started
    assert started.json["started"] is True and started.json["runId"]
    event = close_event(gateway, workflow_id)
    assert event["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    assert event["workflowExecutionCompletedEventAttributes"]["result"] == [value]


def test_friendly_start_body_and_paths_without_prefix(gateway, workflow_id, temporal):
    response = post(f"{gateway.url}/namespaces/default/workflows/{workflow_id}",
                    {"workflowType": "Echo", "taskQueue": TASK_QUEUE, "args": ["short"]})
    assert response.status == 200, response
    assert temporal(lambda client: client.get_workflow_handle(workflow_id).result()) == "short"


def test_signal_query_update_describe(gateway, workflow_id):
    assert start(gateway, workflow_id, "Mailbox").status == 200
    signal = post(api(gateway, f"/workflows/{workflow_id}/signal/add"), {"input": ["a"]})
    assert (signal.status, signal.json) == (200, {})
    query = post(api(gateway, f"/workflows/{workflow_id}/query/state"), {})
    assert query.status == 200, query
    assert query.json["queryResult"] == [{"signals": ["a"], "stage": "new"}]

    update = post(api(gateway, f"/workflows/{workflow_id}/update/set_stage"),
                  {"request": {"input": {"args": ["review"]}},
                   "waitPolicy": {"lifecycleStage": "UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED"}})
    assert update.status == 200, update
    assert update.json["outcome"]["success"] == ["new"]
    rejected = post(api(gateway, f"/workflows/{workflow_id}/update/set_stage"),
                    {"args": [""], "waitPolicy": {"lifecycleStage": "COMPLETED"}})
    assert rejected.status == 200, rejected
    assert "stage must not be empty" in rejected.json["outcome"]["failure"]["message"]

    described = get(api(gateway, f"/workflows/{workflow_id}"))
    assert described.status == 200, described
    info = described.json["workflowExecutionInfo"]
    assert info["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"
    assert info["type"] == {"name": "Mailbox"}
    run_id = info["execution"]["runId"]
    by_run = get(api(gateway, f"/workflows/{workflow_id}?execution.runId={run_id}"))
    assert by_run.json["workflowExecutionInfo"]["execution"]["runId"] == run_id

    assert post(api(gateway, f"/workflows/{workflow_id}/signal/finish"), {}).status == 200
    event = close_event(gateway, workflow_id)
    assert event["workflowExecutionCompletedEventAttributes"]["result"][0]["stage"] == "review"


def test_update_outlasting_the_servers_long_poll(gateway, workflow_id):
    if "/asan/" in gateway.path:
        pytest.skip("a 21 s wait proves nothing more under sanitizers")
    assert start(gateway, workflow_id, "SlowUpdate").status == 200
    started = time.monotonic()
    update = post(api(gateway, f"/workflows/{workflow_id}/update/slow"), {"args": [21]})
    assert update.status == 200, update
    assert update.json["outcome"]["success"] == ["took 21.0s"]
    assert update.json["stage"] == "UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED"
    assert time.monotonic() - started >= 20  # past the server's 20 s long poll


def test_signal_with_start(gateway, workflow_id):
    url = api(gateway, f"/workflows/{workflow_id}/signal-with-start/add")
    body = {"workflowType": "Mailbox", "taskQueue": TASK_QUEUE, "signalArgs": ["one"]}
    first, second = post(url, body), post(url, body)
    assert first.status == second.status == 200, (first, second)
    assert first.json["runId"] == second.json["runId"]
    query = post(api(gateway, f"/workflows/{workflow_id}/query/state"), {"args": []})
    assert query.json["queryResult"][0]["signals"] == ["one", "one"]
    post(api(gateway, f"/workflows/{workflow_id}/terminate"), {"reason": "done"})


def test_result_waits_and_follows_continue_as_new(gateway, workflow_id):
    assert start(gateway, workflow_id, "Looper", [3]).status == 200
    result = get(api(gateway, f"/workflows/{workflow_id}/result?timeout=30s"))
    assert result.status == 200, result
    assert result.json["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED"
    assert result.json["result"] == [4]
    first_run = get(api(gateway, f"/workflows/{workflow_id}/result"))
    assert first_run.json["runId"] == result.json["runId"]


def test_result_of_failures_and_timeouts(gateway, workflow_id):
    assert start(gateway, workflow_id, "Failer", ["boom"]).status == 200
    failed = get(api(gateway, f"/workflows/{workflow_id}/result"))
    assert failed.json["status"] == "WORKFLOW_EXECUTION_STATUS_FAILED"
    assert failed.json["failure"]["message"] == "boom"
    assert failed.json["failure"]["applicationFailureInfo"] == {"type": "Deliberate", "nonRetryable": True}

    sleeper = workflow_id + "-sleeper"
    assert start(gateway, sleeper, "Sleeper", [600]).status == 200
    pending = get(api(gateway, f"/workflows/{sleeper}/result?timeout=500ms"))
    assert (pending.status, pending.json["status"]) == (202, "WORKFLOW_EXECUTION_STATUS_RUNNING")
    post(api(gateway, f"/workflows/{sleeper}/terminate"), {"reason": "enough"})
    terminated = get(api(gateway, f"/workflows/{sleeper}/result"))
    assert terminated.json == {"workflowId": sleeper, "runId": pending.json["runId"],
                               "status": "WORKFLOW_EXECUTION_STATUS_TERMINATED", "reason": "enough"}

    assert get(api(gateway, f"/workflows/{workflow_id}/result?timeout=forever")).status == 400
    assert get(api(gateway, f"/workflows/missing-{workflow_id}/result")).status == 404


def history_calls(gateway):
    """GetWorkflowExecutionHistory calls the gateway made so far, whatever their outcome."""
    text = get(f"{gateway.url}/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith('portico_temporal_calls_total{method="GetWorkflowExecutionHistory"'))


def test_a_result_wait_that_times_out_polls_a_few_times_not_in_a_loop(gateway, workflow_id):
    """Temporal answers a long poll about a second before the call's deadline: a wait whose poll
    asked for no more than what was left got its answer at once in its last second, and polled
    again and again (some 580 calls in a 5 s wait) until its deadline."""
    assert start(gateway, workflow_id, "Sleeper", [600]).status == 200
    before = history_calls(gateway)
    pending = get(api(gateway, f"/workflows/{workflow_id}/result?timeout=3s"))
    assert (pending.status, pending.json["status"]) == (202, "WORKFLOW_EXECUTION_STATUS_RUNNING")
    assert history_calls(gateway) - before <= 5
    post(api(gateway, f"/workflows/{workflow_id}/terminate"), {"reason": "enough"})


def test_start_and_wait_in_one_call(gateway):
    response = post(f"{gateway.url}/api/v1/namespaces/default/workflows?wait=30s",
                    {"workflowType": "Echo", "taskQueue": TASK_QUEUE, "args": [{"x": 0.1, "big": 1e300}]})
    assert response.status == 200, response
    assert response.json["outcome"]["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED"
    assert response.json["outcome"]["result"] == [{"x": 0.1, "big": 1e300}]
    assert '"x":0.1' in response.text  # the shortest text for the double, not 0.10000000000000001
    assert len(response.json["workflowId"]) == 36  # generated

    named = post(f"{gateway.url}/api/v1/namespaces/default/workflows?wait=30s",
                 {"workflowId": f"named-{uuid.uuid4()}", "workflowType": "Echo", "taskQueue": TASK_QUEUE,
                  "args": ["x"]})
    assert named.status == 200, named
    assert (named.json["outcome"]["status"], named.json["outcome"]["result"]) == \
        ("WORKFLOW_EXECUTION_STATUS_COMPLETED", ["x"])


def test_async_activity_completed_by_id(gateway, workflow_id):
    assert start(gateway, workflow_id, "Approval").status == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # until the activity has started and gone async
        described = get(api(gateway, f"/workflows/{workflow_id}")).json
        pending = described.get("pendingActivities", [])
        if pending and pending[0].get("state") == "PENDING_ACTIVITY_STATE_STARTED":
            break
        time.sleep(0.2)
    completed = post(api(gateway, "/activities/complete-by-id"),
                     {"workflowId": workflow_id, "activityId": "approve", "result": ["approved by curl"]})
    assert completed.status == 200, completed
    result = get(api(gateway, f"/workflows/{workflow_id}/result"))
    assert result.json["result"] == ["approved by curl"]


def test_cancel_and_terminate(gateway, workflow_id, temporal):
    assert start(gateway, workflow_id, "Sleeper", [600]).status == 200
    assert post(api(gateway, f"/workflows/{workflow_id}/cancel"), {"reason": "stop"}).status == 200
    assert close_event(gateway, workflow_id)["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED"

    other = workflow_id + "-t"
    assert start(gateway, other, "Sleeper", [600]).status == 200
    assert post(api(gateway, f"/workflows/{other}/terminate"), {"reason": "stop"}).status == 200
    described = temporal(lambda client: client.get_workflow_handle(other).describe())
    assert described.status == WorkflowExecutionStatus.TERMINATED


def test_list_and_count(gateway, workflow_id):
    assert start(gateway, workflow_id, "Echo", [1]).status == 200
    query = f"WorkflowId='{workflow_id}'"
    deadline = time.monotonic() + 20
    while True:
        listed = get(api(gateway, f"/workflows?query={query}"))
        if listed.json.get("executions") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [e["execution"]["workflowId"] for e in listed.json["executions"]] == [workflow_id]
    assert get(api(gateway, f"/workflow-count?query={query}")).json["count"] == "1"


def test_idempotency_key_makes_a_retry_harmless(gateway, workflow_id):
    headers = {"Idempotency-Key": f"key-{workflow_id}"}
    body = {"workflowType": "Sleeper", "taskQueue": TASK_QUEUE, "args": [600]}
    first = post(api(gateway, f"/workflows/{workflow_id}"), body, headers=headers)
    again = post(api(gateway, f"/workflows/{workflow_id}"), body, headers=headers)
    assert first.status == again.status == 200, (first, again)
    assert first.json["runId"] == again.json["runId"]
    without_key = post(api(gateway, f"/workflows/{workflow_id}"), body)
    assert without_key.status == 409
    detail = without_key.json["details"][0]
    assert detail["@type"].endswith("WorkflowExecutionAlreadyStartedFailure")
    assert detail["runId"] == first.json["runId"]
    post(api(gateway, f"/workflows/{workflow_id}/terminate"), {})


def test_bad_requests_get_clear_errors(gateway):
    broken = request("POST", api(gateway, "/workflows/x"), raw=b'{"workflowType": ')
    assert broken.status == 400 and broken.json["code"] == 3
    assert "not valid JSON" in broken.json["message"] and "column" in broken.json["message"]

    unknown = post(api(gateway, "/workflows/x"), {"workflowTyp": {"name": "Echo"}})
    assert unknown.status == 400
    assert unknown.json["message"].startswith("workflowTyp: unknown field")

    wrong = post(api(gateway, "/workflows/x"), {"workflowIdReusePolicy": "Sometimes"})
    assert wrong.status == 400 and "workflowIdReusePolicy" in wrong.json["message"]

    assert get(f"{gateway.url}/no/such/route").status == 404
    not_allowed = request("DELETE", api(gateway, "/workflows/x"))
    assert not_allowed.status == 405
    assert set(not_allowed.headers["Allow"].split(", ")) == {"GET", "POST"}

    missing = get(api(gateway, f"/workflows/missing-{uuid.uuid4()}"))
    assert missing.status == 404 and missing.json["code"] == 5


def test_request_ids_are_echoed_or_made(gateway):
    assert get(f"{gateway.url}/healthz", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
    assert len(get(f"{gateway.url}/healthz").headers["X-Request-Id"]) == 36


def raw_exchange(gateway, head, chunks=()):
    """Sends a request head and body chunks over a plain socket; returns the status line."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as connection:
        connection.sendall(head)
        try:
            for chunk in chunks:
                connection.sendall(chunk)
        except OSError:
            pass  # the gateway may answer and close before the upload ends
        return connection.makefile("rb").readline().decode()


def test_body_over_the_limit_is_refused_unread(gateway):
    path = "/api/v1/namespaces/default/workflows/big"
    # Declared too large: answered at once, before a byte of the body is sent.
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {5 * 1024 * 1024}\r\n\r\n".encode()
    assert raw_exchange(gateway, head).startswith("HTTP/1.1 413")
    # Chunked: nothing declares the size, so the gateway stops storing at the limit.
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    chunk = b"x" * 65536
    chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * 80 + [b"0\r\n\r\n"]
    assert raw_exchange(gateway, head, chunks).startswith("HTTP/1.1 413")


def test_oversized_headers_and_url(gateway):
    long_url = api(gateway, "/workflows/" + "x" * 70000)
    assert get(long_url).status in (414, 431)
    assert get(f"{gateway.url}/healthz", headers={"X-Big": "y" * 70000}).status == 431


def test_temporal_down_gives_503_then_recovers(server, worker):
    from conftest import TOP
    from devserver import DevServer, free_port
    port = free_port()
    gw = start_gateway(str(TOP / "build/portico"), f"127.0.0.1:{port}", PORTICO_CALL_TIMEOUT="1s")
    try:
        response = get(f"{gw.url}/api/v1/namespaces/default/workflows/x")
        assert response.status == 503, response
        assert response.headers["Retry-After"]
        # Where Temporal is goes to the log; a caller without credentials reads a plain sentence.
        assert response.json["message"] == "Temporal is unavailable, or the gateway is shutting down; retry later", response
        assert f"127.0.0.1:{port}" in gw.errors_so_far()
        assert get(f"{gw.url}/readyz").status == 503
        assert get(f"{gw.url}/healthz").status == 200
        with DevServer(port=port):
            deadline = time.monotonic() + 30
            while get(f"{gw.url}/readyz").status != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert get(f"{gw.url}/readyz").status == 200
            assert get(f"{gw.url}/api/v1/namespaces/default/workflows/x").status == 404
    finally:
        assert gw.stop() == 0


def test_cors_allowlist(server, worker):
    from conftest import TOP
    gw = start_gateway(str(TOP / "build/portico"), server.address, PORTICO_CORS_ORIGINS="http://ui.example")
    try:
        preflight = request("OPTIONS", f"{gw.url}/api/v1/namespaces/default/workflows/x",
                            headers={"Origin": "http://ui.example", "Access-Control-Request-Method": "POST"})
        assert preflight.status == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == "http://ui.example"
        assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
        allowed = get(f"{gw.url}/healthz", headers={"Origin": "http://ui.example"})
        assert allowed.headers["Access-Control-Allow-Origin"] == "http://ui.example"
        other = get(f"{gw.url}/healthz", headers={"Origin": "http://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers
    finally:
        assert gw.stop() == 0


def test_sigterm_finishes_requests_in_flight(server, worker, workflow_id):
    from conftest import TOP
    gw = start_gateway(str(TOP / "build/portico"), server.address)
    import threading
    result = {}

    def long_poll():
        result["response"] = get(f"{gw.url}/api/v1/namespaces/default/workflows/{workflow_id}/history"
                                 f"?waitNewEvent=true&historyEventFilterType=HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT")

    assert start(gw, workflow_id, "Sleeper", [2]).status == 200
    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(0.5)
    status = gw.stop()
    poller.join()
    assert status == 0
    assert result["response"].status == 200
    assert result["response"].json["history"]["events"][0]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    log = [json.loads(line) for line in gw.stdout.splitlines()]
    assert any(entry["status"] == 200 and entry.get("workflowId") == workflow_id for entry in log)


def test_traceparent_reaches_the_workflow_header(gateway):
    """W3C trace context goes where the SDKs' OpenTelemetry interceptors read it: the workflow
    header's "_tracer-data"; a malformed one is ignored."""
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    workflow_id = f"traced-{uuid.uuid4()}"
    started = post(api(gateway, f"/workflows/{workflow_id}"), {"workflowType": "Mailbox", "taskQueue": TASK_QUEUE},
                   headers={"traceparent": traceparent, "tracestate": "vendor=1"})
    assert started.status == 200, started
    signaled = post(api(gateway, f"/workflows/{workflow_id}/signal/finish"), {}, headers={"traceparent": "bogus"})
    assert signaled.status == 200, signaled
    # A signal that arrives during a workflow task is buffered; once the workflow closed, it is in.
    assert get(api(gateway, f"/workflows/{workflow_id}/result?timeout=20s")).status == 200
    history = get(api(gateway, f"/workflows/{workflow_id}/history"))
    events = history.json["history"]["events"]
    header = events[0]["workflowExecutionStartedEventAttributes"]["header"]["fields"]
    assert header["_tracer-data"] == {"traceparent": traceparent, "tracestate": "vendor=1"}
    signal = next(e["workflowExecutionSignaledEventAttributes"] for e in events
                  if "workflowExecutionSignaledEventAttributes" in e)
    assert "_tracer-data" not in (signal.get("header") or {}).get("fields", {})
