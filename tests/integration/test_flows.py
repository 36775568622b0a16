"""The flows of examples/flows (Serverless Workflow 1.0 documents), run as `make run` runs them and
driven with curl's calls as examples/flows/README.md says: a dev server, the gateway and Portico's
worker with PORTICO_FLOWS_DIR=examples/flows (the worker with the order activities of
examples/activities), and the examples' Python worker (pipeline.settings, which the webhook
pipeline calls).

The saga completes with the Python saga's result; fails at shipping and compensates, refund then
release; is cancelled half-way and compensates. The approval is approved by a signal, rejected,
and expires on its timer. A signed webhook starts the pipeline, which starts an approval flow
through the gateway. Flows survive their worker: SIGKILLed while a flow waits for a signal or a
timer, a new worker finishes them. Every run's history then replays with `portico-worker replay`,
as do those committed in examples/flows/histories/ (PORTICO_RECORD_HISTORIES=1 rewrites them)."""

import json
import os
import subprocess
import time
import urllib.parse
import uuid

import pytest

from examples_stack import (CODEC_KEYS, EXAMPLES, EXAMPLES_TASK_QUEUE, WEBHOOK_SECRET, api, build, fetch_history,
                            record as record_in, result_of, running_examples, start_and_wait, write_recorded)
from http_client import get, github_delivery, post

FLOWS = EXAMPLES / "flows"
HISTORIES = FLOWS / "histories"


@pytest.fixture(scope="module")
def examples():
    libraries = build() / "examples"
    with running_examples(["--activities", str(libraries / "liborder.so")],
                          env={"PORTICO_FLOWS_DIR": str(FLOWS)}) as running:
        yield running


def flows(examples, path=""):
    return f"{examples.url}/api/v1/namespaces/default/flows{path}"


def record(examples, name, workflow_id):
    return record_in(examples, HISTORIES, name, workflow_id)


def start_flow(examples, name, flow_input, wait=None, headers=None):
    """POST …/flows/{name} (with ?wait=): the gateway's answer, a start's."""
    response = post(flows(examples, f"/{name}" + (f"?wait={wait}" if wait else "")), flow_input, headers=headers)
    assert response.status == 200, response
    return response.json


def run_flow(examples, name, flow_input):
    """Starts the flow and waits for it: (workflow id, outcome as GET …/result answers)."""
    started = start_flow(examples, name, flow_input, wait="60s")
    return started["workflowId"], started["outcome"]


def flow_state(examples, workflow_id, attempts=100):
    """The built-in query flow.state, retried while the first task has not run yet."""
    for _ in range(attempts):
        answer = post(api(examples, f"/{workflow_id}/query/flow.state"), {})
        if answer.status == 200:
            return answer.json["queryResult"][0]
        time.sleep(0.2)
    raise AssertionError(answer)


def wait_for_task(examples, workflow_id, fragment, timeout=30):
    """flow.state once its task path holds fragment."""
    deadline = time.monotonic() + timeout
    while fragment not in (state := flow_state(examples, workflow_id))["task"]:
        assert time.monotonic() < deadline, state
        time.sleep(0.1)
    return state


def activities_run(examples, workflow_id):
    """The activity types the workflow scheduled, in history order."""
    return [event.activity_task_scheduled_event_attributes.activity_type.name
            for event in fetch_history(examples, workflow_id).events
            if event.HasField("activity_task_scheduled_event_attributes")]


def problem_of(outcome):
    """The flow's problem (RFC 7807) from a failed outcome: the ApplicationFailure's one detail."""
    assert outcome["status"] == "WORKFLOW_EXECUTION_STATUS_FAILED", outcome
    info = outcome["failure"]["applicationFailureInfo"]
    return info["details"]["payloads"][0] if "payloads" in info.get("details", {}) else info["details"][0]


# ---- What the gateway knows -------------------------------------------------------------------

def test_the_example_flows_are_listed_with_their_versions(examples):
    listed = get(flows(examples))
    assert listed.status == 200, listed
    names = {(flow["name"], flow["version"]) for flow in listed.json["flows"]}
    assert {("order-saga", "1.0.0"), ("approval", "1.0.0"), ("github-push", "1.0.0")} <= names, listed.json


def test_a_flow_that_is_not_there_is_a_404(examples):
    missing = post(flows(examples, "/no-such-flow"), {})
    assert missing.status == 404, missing


# ---- The order saga ---------------------------------------------------------------------------

def order(**fields):
    return {"orderId": f"o-{uuid.uuid4().hex[:8]}", **fields}


def python_saga(examples, the_order):
    workflow_id = f"order-py-{uuid.uuid4().hex[:8]}"
    answer = start_and_wait(examples, workflow_id, {"workflowType": "OrderSaga", "taskQueue": EXAMPLES_TASK_QUEUE,
                                                    "args": [the_order]})
    assert answer["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", answer
    return answer["result"][0]


def test_the_saga_flow_completes_with_the_python_sagas_result(examples):
    the_order = order(items=["book"], amount=42.5)
    workflow_id, outcome = run_flow(examples, "order-saga", the_order)
    assert outcome["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", outcome
    oid = the_order["orderId"]
    assert outcome["result"] == [{"orderId": oid, "status": "completed", "reservationId": f"rsv-{oid}",
                                  "paymentId": f"pay-{oid}", "amount": 42.5, "trackingNumber": f"trk-{oid}",
                                  "progress": ["reserved", "charged", "shipped"]}], outcome
    assert outcome["result"][0] == python_saga(examples, the_order)
    assert activities_run(examples, workflow_id) == ["order.reserve", "order.charge", "order.ship"]
    # describe shows the definition's version the run uses (the memo "flow").
    described = get(api(examples, f"/{workflow_id}"))
    assert described.status == 200, described
    memo = json.dumps(described.json["workflowExecutionInfo"].get("memo", {}))
    assert "order-saga" in memo and "1.0.0" in memo, described.json
    record(examples, "order-saga-completed", workflow_id)


def test_a_failed_shipment_refunds_then_releases(examples):
    the_order = order(amount=10, failAt="ship")
    workflow_id, outcome = run_flow(examples, "order-saga", the_order)
    problem = problem_of(outcome)
    assert problem["instance"] == "/do/2/ship", problem
    assert "CarrierUnavailable" in json.dumps(problem), problem
    # Last done, first undone: the refund before the release, after the shipment failed.
    assert activities_run(examples, workflow_id) == ["order.reserve", "order.charge", "order.ship", "order.refund",
                                                     "order.release"]
    record(examples, "order-saga-compensated", workflow_id)


def test_a_declined_card_releases_the_reservation_only(examples):
    workflow_id, outcome = run_flow(examples, "order-saga", order(amount=10, failAt="charge"))
    assert problem_of(outcome)["instance"] == "/do/1/charge", outcome
    assert activities_run(examples, workflow_id) == ["order.reserve", "order.charge", "order.release"]


def test_a_saga_cancelled_half_way_undoes_what_it_did(examples):
    """Cancelled while charging (each step takes 1.5 s here), the saga releases the reservation,
    then ends as cancelled. flow.state shows the task it is at."""
    started = start_flow(examples, "order-saga", order(amount=7, delayMs=1500))
    workflow_id = started["workflowId"]
    state = wait_for_task(examples, workflow_id, "charge")
    assert state["task"] == "/do/1/charge", state
    cancelled = post(api(examples, f"/{workflow_id}/cancel"), {"reason": "customer changed their mind"})
    assert cancelled.status == 200, cancelled
    assert result_of(examples, workflow_id)["status"] == "WORKFLOW_EXECUTION_STATUS_CANCELED"
    ran = activities_run(examples, workflow_id)
    assert ran[:2] == ["order.reserve", "order.charge"] and "order.release" in ran[2:], ran
    assert "order.ship" not in ran, ran
    record(examples, "order-saga-cancelled", workflow_id)


def test_an_order_without_an_id_is_refused_before_anything_starts(examples):
    """The flow's input schema, checked by the gateway: 400 naming what is missing, no run."""
    refused = post(flows(examples, "/order-saga?workflowId=flow-order-without-id"), {"amount": 3})
    assert refused.status == 400, refused
    assert refused.json["message"] == 'input: the required property "orderId" is missing', refused
    assert get(api(examples, "/flow-order-without-id")).status == 404


def test_an_approval_with_a_bad_timeout_is_refused(examples):
    refused = post(flows(examples, "/approval"), {"title": "never", "timeoutSeconds": "soon"})
    assert refused.status == 400 and "timeoutSeconds" in refused.json["message"], refused


# ---- The approval -----------------------------------------------------------------------------

def test_an_approval_waits_for_a_signal(examples):
    workflow_id = start_flow(examples, "approval", {"title": "new laptop", "amount": 1800})["workflowId"]
    state = wait_for_task(examples, workflow_id, "decide")
    assert state["task"].startswith("/do/1/decide"), state
    assert {"title": "new laptop", "amount": 1800, "status": "pending"}.items() <= state["data"].items(), state
    signal = post(api(examples, f"/{workflow_id}/signal/approve"), {"args": [{"by": "alice", "comment": "ok"}]})
    assert signal.status == 200, signal
    result = result_of(examples, workflow_id, "30s")
    assert result["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", result
    assert result["result"] == [{"title": "new laptop", "amount": 1800, "status": "approved",
                                 "decision": {"by": "alice", "comment": "ok"}}], result
    record(examples, "approval-approved", workflow_id)


def test_an_approval_rejected_stays_rejected(examples):
    workflow_id = start_flow(examples, "approval", {"title": "a boat"})["workflowId"]
    wait_for_task(examples, workflow_id, "decide")
    for name, decision in (("reject", {"by": "carol"}), ("approve", {"by": "dave"})):
        post(api(examples, f"/{workflow_id}/signal/{name}"), {"args": [decision]})
    result = result_of(examples, workflow_id, "30s")
    assert result["result"][0]["status"] == "rejected" and result["result"][0]["decision"] == {"by": "carol"}, result


def test_an_approval_nobody_decides_expires(examples):
    workflow_id, outcome = run_flow(examples, "approval", {"title": "a short wait", "timeoutSeconds": 1})
    assert outcome["result"] == [{"title": "a short wait", "amount": None, "status": "expired",
                                  "decision": None}], outcome
    record(examples, "approval-expired", workflow_id)


# ---- The webhook-started pipeline -------------------------------------------------------------

def signed_push(examples, event, secret=WEBHOOK_SECRET):
    return github_delivery(examples.url, "github-push-flow", json.dumps(event).encode(), secret)


def escaped(workflow_id):
    return urllib.parse.quote(workflow_id, safe="")


def test_a_signed_push_starts_the_pipeline_flow_which_starts_an_approval_flow(examples):
    commit = uuid.uuid4().hex + "0" * 8
    event = {"ref": "refs/heads/main", "after": commit, "repository": {"full_name": "acme/shop"},
             "pusher": {"name": "ada"}, "commits": [{"id": commit, "message": "fix the cart"}]}
    accepted = signed_push(examples, event)
    assert accepted.status == 202, accepted
    workflow_id = accepted.json["workflowId"]
    result = result_of(examples, escaped(workflow_id))
    assert result["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", result
    pipeline = result["result"][0]
    assert {"repository": "acme/shop", "ref": "refs/heads/main", "commit": commit, "commits": 1,
            "pusher": "ada"}.items() <= pipeline.items(), pipeline
    approval = pipeline["approval"]
    assert approval["httpStatus"] == 200 and approval["new"] is True, pipeline
    record(examples, "github-push", workflow_id)
    # The approval flow the pipeline started is there, waiting.
    state = wait_for_task(examples, escaped(approval["workflowId"]), "decide")
    assert state["data"]["title"] == f"deploy acme/shop@{commit[:12]} (refs/heads/main)", state

    # The same commit pushed to another branch while it waits: the start of its approval answers
    # 409, which the flow catches (try/catch) as the approval already asked for.
    again = signed_push(examples, {**event, "ref": "refs/heads/release"})
    assert again.status == 202 and again.json["workflowId"] != workflow_id, again
    second = result_of(examples, escaped(again.json["workflowId"]))
    assert second["result"][0]["approval"] == {"workflowId": approval["workflowId"], "httpStatus": 409,
                                               "new": False}, second
    record(examples, "github-push-again", again.json["workflowId"])

    # A signal decides the approval.
    assert post(api(examples, f"/{escaped(approval['workflowId'])}/signal/approve"),
                {"args": [{"by": "ada"}]}).status == 200
    decided = result_of(examples, escaped(approval["workflowId"]), "30s")
    assert decided["result"][0]["status"] == "approved", decided


def test_a_push_that_deletes_a_branch_asks_for_nothing(examples):
    accepted = signed_push(examples, {"ref": "refs/heads/old", "after": "0" * 40, "deleted": True,
                                      "repository": {"full_name": "acme/shop"}})
    assert accepted.status == 202, accepted
    result = result_of(examples, escaped(accepted.json["workflowId"]))
    assert "skipped" in result["result"][0] and "approval" not in result["result"][0], result


def test_a_push_with_a_bad_signature_starts_no_flow(examples):
    refused = signed_push(examples, {"ref": "refs/heads/main", "after": "f" * 40,
                                     "repository": {"full_name": "acme/shop"}}, secret="not-the-secret")
    assert refused.status == 401, refused


# ---- Durable across a worker crash -------------------------------------------------------------

def test_flows_waiting_for_a_signal_or_a_timer_survive_a_killed_worker(examples):
    """Two approvals wait, one for a signal, one for its timer (4 s); Portico's worker is
    SIGKILLed and another started: the new one rebuilds both runs from their histories, takes the
    signal, fires the timer, and both finish."""
    signalled = start_flow(examples, "approval", {"title": "survives", "amount": 5})["workflowId"]
    timed = start_flow(examples, "approval", {"title": "expires", "timeoutSeconds": 4})["workflowId"]
    for workflow_id in (signalled, timed):
        wait_for_task(examples, workflow_id, "decide")
    examples.crash_portico_worker()
    assert post(api(examples, f"/{signalled}/signal/approve"), {"args": [{"by": "after the crash"}]}).status == 200
    assert result_of(examples, signalled)["result"] == [{"title": "survives", "amount": 5, "status": "approved",
                                                         "decision": {"by": "after the crash"}}]
    assert result_of(examples, timed)["result"][0]["status"] == "expired"
    record(examples, "approval-after-crash", signalled)


def test_a_saga_survives_a_killed_worker_mid_activity(examples):
    """Killed while the charge runs (each step takes 2 s), the worker takes its activity with it:
    the new worker's charge attempt, after the heartbeat timeout, finishes the saga."""
    started = start_flow(examples, "order-saga", order(amount=3, delayMs=2000))
    workflow_id = started["workflowId"]
    wait_for_task(examples, workflow_id, "charge")
    examples.crash_portico_worker()
    result = result_of(examples, workflow_id, "90s")
    assert result["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", result
    assert result["result"][0]["progress"] == ["reserved", "charged", "shipped"], result
    record(examples, "order-saga-after-crash", workflow_id)


# ---- Replay with portico-worker replay ----------------------------------------------------------

def replay(histories):
    """`portico-worker replay FILES…` (flows are its dynamic workflow): (exit status, output)."""
    command = [str(build() / "portico-worker"), "replay", *map(str, histories)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PORTICO_CODEC_KEYS=CODEC_KEYS, PORTICO_FLOWS_DIR=str(FLOWS)))
    return done.returncode, done.stdout + done.stderr


def test_this_runs_flow_histories_replay(examples, tmp_path):
    if not examples.recorded:
        pytest.skip("no test above ran to record a history")
    status, output = replay(write_recorded(examples, tmp_path))
    assert status == 0, output


def committed_histories():
    return sorted(HISTORIES.glob("*.json"))


@pytest.mark.parametrize("path", committed_histories(), ids=lambda path: path.stem)
def test_committed_histories_replay(path):
    """Histories recorded once (PORTICO_RECORD_HISTORIES=1) and committed: the interpreter, and the
    definitions the runs carry, must make the commands they show, or flows already running break."""
    status, output = replay([path])
    assert status == 0, output


def test_every_example_flow_has_a_committed_history():
    names = {path.stem for path in committed_histories()}
    assert {"order-saga-completed", "order-saga-compensated", "order-saga-cancelled", "approval-approved",
            "approval-expired", "github-push"} <= names, names
