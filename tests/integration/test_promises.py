"""Promises the API states, kept against a live dev server: an Idempotency-Key never duplicates
work and is never silently answered with another request's run; input that is not UTF-8 is a 400
that changes nothing, never replaced by something else."""

import http.client
import time
import uuid

from conftest import TASK_QUEUE
from http_client import get, post


def api(gateway, path):
    return f"{gateway.url}/api/v1/namespaces/default{path}"


def sleeper(**extra):
    return {"workflowType": "Sleeper", "taskQueue": TASK_QUEUE, "args": [600], **extra}


def terminate(gateway, workflow_id):
    post(api(gateway, f"/workflows/{workflow_id}/terminate"), {})


def test_a_key_without_a_workflow_id_starts_one_workflow(gateway):
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    first = post(api(gateway, "/workflows"), sleeper(), headers=key)
    again = post(api(gateway, "/workflows"), sleeper(), headers=key)
    assert first.status == again.status == 200, (first, again)
    assert first.json["workflowId"] == again.json["workflowId"]
    assert first.json["runId"] == again.json["runId"]
    # Without a key each start is a new workflow, and the answer says which.
    plain = [post(api(gateway, "/workflows"), sleeper()) for _ in range(2)]
    assert plain[0].json["workflowId"] != plain[1].json["workflowId"]
    for started in (first, *plain):
        terminate(gateway, started.json["workflowId"])
    # Once the workflow is over, the same request with the same key is still the same run.
    after = post(api(gateway, "/workflows"), sleeper(), headers=key)
    assert after.status == 200 and after.json["runId"] == first.json["runId"], after


def test_a_key_reused_with_another_request_is_refused(gateway, workflow_id):
    key = {"Idempotency-Key": f"pay-{uuid.uuid4()}"}
    first = post(api(gateway, "/workflows"), sleeper(), headers=key)
    assert first.status == 200, first
    other = post(api(gateway, "/workflows"), sleeper(args=[601]), headers=key)
    assert other.status == 422 and "Idempotency-Key" in other.json["message"], other
    # With the caller's own workflow id, too.
    url = api(gateway, f"/workflows/{workflow_id}")
    assert post(url, sleeper(), headers=key).status == 200
    reused = post(url, sleeper(args=[5]), headers=key)
    assert reused.status == 422, reused
    # A different workflow under that id without the key is the usual conflict.
    assert post(url, sleeper()).status == 409
    terminate(gateway, first.json["workflowId"])
    # After it ended, the key's workflow still refuses another request rather than run twice.
    assert post(api(gateway, "/workflows"), sleeper(args=[602]), headers=key).status == 422
    terminate(gateway, workflow_id)


def test_a_signal_retried_with_its_key_is_delivered_once(gateway, workflow_id):
    assert post(api(gateway, f"/workflows/{workflow_id}"),
                {"workflowType": "Mailbox", "taskQueue": TASK_QUEUE}).status == 200
    key = {"Idempotency-Key": f"signal-{uuid.uuid4()}"}
    for _ in range(3):
        assert post(api(gateway, f"/workflows/{workflow_id}/signal/add"), {"args": ["once"]},
                    headers=key).status == 200
    deadline = time.monotonic() + 20
    while True:
        history = get(api(gateway, f"/workflows/{workflow_id}/history")).json["history"]["events"]
        signals = [e for e in history if e["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"]
        if signals or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(signals) == 1, signals
    terminate(gateway, workflow_id)


def raw_request(gateway, method, target, headers=None, body=b""):
    """Sends bytes as they are (no client-side quoting or encoding); returns (status, body text)."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    connection.putrequest(method, target, skip_accept_encoding=True)
    for name, value in (headers or {}).items():
        connection.putheader(name, value)
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    text = response.read().decode("utf-8", "replace")
    connection.close()
    return response.status, text


def test_input_that_is_not_utf8_is_refused_and_changes_nothing(gateway):
    workflow_type = f"NotUtf8{uuid.uuid4().hex}"  # no worker runs it: a start would just sit there
    body = f'{{"workflowType":"{workflow_type}","taskQueue":"{TASK_QUEUE}"}}'.encode()
    for _ in range(2):
        status, text = raw_request(gateway, "POST", "/api/v1/namespaces/default/workflows/bad%FFid", body=body)
        assert status == 400 and "workflow_id: not valid UTF-8" in text, text
    status, text = raw_request(gateway, "GET", "/api/v1/namespaces/bad%C3%28/workflows/x")
    assert status == 400 and "namespace" in text, text
    status, text = raw_request(gateway, "GET", "/api/v1/namespaces/default/workflows?query=%FF")
    assert status == 400 and "query parameter query: not valid UTF-8" in text, text
    status, text = raw_request(gateway, "POST", "/api/v1/namespaces/default/workflows",
                               headers={"Idempotency-Key": b"key-\xff"}, body=body)
    assert status == 400 and "Idempotency-Key" in text, text
    # Nothing was started by any of them (visibility is eventually consistent: give it a moment).
    time.sleep(1.5)
    count = get(api(gateway, f"/workflow-count?query=WorkflowType='{workflow_type}'")).json
    assert count.get("count", "0") == "0", count


def test_errors_on_the_way_to_temporal_do_not_show_its_address(server):
    from conftest import build_paths, start_gateway
    from devserver import free_port
    dead = f"127.0.0.1:{free_port()}"  # a port nothing listens on
    gw = start_gateway(build_paths("portico")[0].values[0], dead, PORTICO_CALL_TIMEOUT="1s")
    try:
        for response in (get(f"{gw.url}/readyz"), get(f"{gw.url}/api/v1/namespaces/default/workflows/x")):
            assert response.status == 503, response
            assert dead not in response.text and "Temporal at" not in response.text, response
            assert response.json["message"] == "Temporal is unavailable, or the gateway is shutting down; retry later"
    finally:
        assert gw.stop() == 0
    assert dead in gw.stderr  # the operator still reads where it failed


def test_null_comes_back_as_null(gateway, workflow_id):
    """null goes in as a binary/null payload and comes out as null, not as that payload's full form."""
    started = post(api(gateway, f"/workflows/{workflow_id}"),
                   {"workflowType": "Echo", "taskQueue": TASK_QUEUE, "args": [None]})
    assert started.status == 200, started
    events = get(api(gateway, f"/workflows/{workflow_id}/history")).json["history"]["events"]
    assert events[0]["workflowExecutionStartedEventAttributes"]["input"] == [None]


def test_an_error_about_bytes_that_are_not_utf8_still_has_a_body(gateway):
    import socket
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=30) as connection:
        connection.sendall(b"GET /no/such/route\xff HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404"), answer
    assert body != b"null" and b"no route for GET" in body, answer


def test_durations_read_alike_everywhere(gateway, workflow_id):
    started = post(api(gateway, f"/workflows/{workflow_id}?wait=1h"),
                   {"workflowType": "Echo", "taskQueue": TASK_QUEUE, "args": ["hour"]})
    assert started.status == 200, started
    assert get(api(gateway, f"/workflows/{workflow_id}/result?timeout=1h")).status == 200
    for query in ("timeout=2h", "timeout=1.5s", "timeout=soon"):
        refused = get(api(gateway, f"/workflows/{workflow_id}/result?{query}"))
        assert refused.status == 400, refused
        assert refused.json["message"].startswith("timeout: expected a duration from 0s to 1h, such as 30s"), refused
    refused = post(api(gateway, "/workflows?wait=0"), {"workflowType": "Echo", "taskQueue": TASK_QUEUE})
    assert refused.status == 400 and refused.json["message"].startswith("wait: expected a duration from 1ms to 1h")


def test_a_keyed_update_with_start_is_done_once(gateway, workflow_id):
    start = {"namespace": "default", "workflowId": workflow_id, "workflowType": {"name": "Mailbox"},
             "taskQueue": {"name": TASK_QUEUE},
             "workflowIdConflictPolicy": "WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING"}
    update = {"namespace": "default", "workflowExecution": {"workflowId": workflow_id},
              "request": {"input": {"name": "set_stage", "args": ["packing"]}},
              "waitPolicy": {"lifecycleStage": "UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED"}}
    body = {"operations": [{"startWorkflow": start}, {"updateWorkflow": update}]}
    key = {"Idempotency-Key": f"uws-{uuid.uuid4()}"}
    answers = [post(api(gateway, "/workflows/execute-multi-operation"), body, headers=key) for _ in range(2)]
    assert all(a.status == 200 for a in answers), answers
    run_ids = {a.json["responses"][0]["startWorkflow"]["runId"] for a in answers}
    assert len(run_ids) == 1, answers
    events = get(api(gateway, f"/workflows/{workflow_id}/history")).json["history"]["events"]
    accepted = [e for e in events if e["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED"]
    assert len(accepted) == 1, accepted
    terminate(gateway, workflow_id)
