"""The example workflows written in C (examples/workflows-c, build/examples/libworkflows.so), run
by Portico's worker on its own task queue and driven with the curl scenarios of the Python
versions (test_examples.py, examples/saga and examples/approval), with the same results: the
result payloads are the same bytes. Interop both ways: a C workflow calls a Python-SDK activity,
and a Python-SDK workflow starts a C child.

Then replay: each run's history, and those committed in examples/workflows-c/histories/
(PORTICO_RECORD_HISTORIES=1 rewrites them), replay with `portico-worker replay`; a saga whose steps
are swapped must fail to replay them, naming the event."""

import asyncio
import json
import os
import shlex
import subprocess
import sys
import time
import uuid

import pytest

from conftest import HERE
from devserver import TOP
from examples_stack import (CODEC_KEYS, EXAMPLES, EXAMPLES_TASK_QUEUE, KEY, KEY_ID, PORTICO_TASK_QUEUE, api, build,
                            fetch_history, query, record as record_in, result_of, running_examples, start_and_wait,
                            write_recorded)
from encryption_codec import EncryptionCodec
from http_client import post

HISTORIES = EXAMPLES / "workflows-c/histories"
# The tests' Python worker (tests/integration/worker.py): the activity "shout", the workflow RunChild.
PYTHON_TASK_QUEUE = "portico-c-interop"
WORKFLOWS_LIBRARY = "libworkflows.so"


@pytest.fixture(scope="module")
def examples():
    libraries = build() / "examples"
    tests_worker = lambda server, gateway: [sys.executable, str(HERE / "worker.py"), "--address", server.address,
                                            "--task-queue", PYTHON_TASK_QUEUE, "--codec-key", CODEC_KEYS]
    with running_examples(["--activities", str(libraries / "liborder.so"), "--workflows",
                           str(libraries / WORKFLOWS_LIBRARY)], [tests_worker]) as running:
        yield running


def record(examples, name, workflow_id):
    return record_in(examples, HISTORIES, name, workflow_id)


def start(examples, workflow_id, workflow_type, args, task_queue=PORTICO_TASK_QUEUE):
    started = post(api(examples, f"/{workflow_id}"), {"workflowType": workflow_type, "taskQueue": task_queue,
                                                      "args": args})
    assert started.status == 200, started


def result_bytes(examples, workflow_id):
    """The closed workflow's result payload as the workflow wrote it (decrypted): its JSON bytes."""
    payload = fetch_history(examples, workflow_id).events[-1].workflow_execution_completed_event_attributes.result
    codec = EncryptionCodec({KEY_ID: KEY}, KEY_ID)
    return asyncio.run(codec.decode(list(payload.payloads)))[0].data


# ---- The order saga ---------------------------------------------------------------------------

def saga(examples, order, workflow_type="c.OrderSaga", task_queue=PORTICO_TASK_QUEUE):
    workflow_id = f"order-{uuid.uuid4().hex[:8]}"
    answer = start_and_wait(examples, workflow_id, {"workflowType": workflow_type, "taskQueue": task_queue,
                                                    "args": [order]})
    assert answer["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", answer
    return workflow_id, answer["result"][0]


def test_the_c_saga_completes_every_step(examples):
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    workflow_id, result = saga(examples, {"orderId": order_id, "items": ["book"], "amount": 42.5})
    assert result == {"orderId": order_id, "status": "completed", "reservationId": f"rsv-{order_id}",
                      "paymentId": f"pay-{order_id}", "amount": 42.5, "trackingNumber": f"trk-{order_id}",
                      "progress": ["reserved", "charged", "shipped"]}
    record(examples, "order-saga-completed", workflow_id)


def test_a_failed_shipment_refunds_then_releases_in_c(examples):
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    workflow_id, result = saga(examples, {"orderId": order_id, "amount": 10, "failAt": "ship"})
    assert result == {"orderId": order_id, "status": "compensated", "failedStep": "ship",
                      "error": {"type": "CarrierUnavailable",
                                "message": f"CarrierUnavailable: ship failed for order {order_id} (injected)"},
                      "compensations": [{"refunded": f"pay-{order_id}", "amount": 10}, {"released": f"rsv-{order_id}"}],
                      "progress": ["reserved", "charged", "ship failed", "refunded", "released"]}
    assert query(examples, workflow_id, "progress") == result["progress"]  # on the closed workflow
    record(examples, "order-saga-compensated", workflow_id)


def test_a_declined_card_releases_the_reservation_only_in_c(examples):
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    _, result = saga(examples, {"orderId": order_id, "amount": 10, "failAt": "charge"})
    assert result["failedStep"] == "charge" and result["error"]["type"] == "CardDeclined", result
    assert result["compensations"] == [{"released": f"rsv-{order_id}"}]
    assert result["progress"] == ["reserved", "charge failed", "released"]


def test_a_c_saga_cancelled_half_way_undoes_what_it_did(examples):
    """Cancelled during the charge (each step takes 1.5 s here), the saga refunds (the charge may
    have gone through) and releases, then ends as cancelled; the query answers while it runs."""
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    workflow_id = f"order-{order_id}"
    start(examples, workflow_id, "c.OrderSaga", [{"orderId": order_id, "amount": 7, "delayMs": 1500}])
    deadline = time.monotonic() + 30
    while "reserved" not in query(examples, workflow_id, "progress"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    cancelled = post(api(examples, f"/{workflow_id}/cancel"), {"reason": "customer changed their mind"})
    assert cancelled.status == 200, cancelled
    assert result_of(examples, workflow_id)["status"] == "WORKFLOW_EXECUTION_STATUS_CANCELED"
    assert query(examples, workflow_id, "progress") == ["reserved", "cancelled during charge", "refunded",
                                                        "released"]
    record(examples, "order-saga-cancelled", workflow_id)


def test_an_order_without_an_id_fails_the_c_saga_for_good(examples):
    answer = start_and_wait(examples, f"order-bad-{uuid.uuid4().hex[:8]}",
                            {"workflowType": "c.OrderSaga", "taskQueue": PORTICO_TASK_QUEUE, "args": [{"amount": 3}]})
    assert answer["status"] == "WORKFLOW_EXECUTION_STATUS_FAILED", answer
    failure = answer["failure"]
    assert failure["message"] == 'expected an order such as {"orderId": "o-1", "amount": 42}', failure
    assert failure["applicationFailureInfo"]["type"] == "InvalidOrder", failure
    assert failure["applicationFailureInfo"]["nonRetryable"] is True, failure


@pytest.mark.parametrize("order", [{"items": ["book"], "amount": 42.5}, {"amount": 10, "failAt": "ship"},
                                   {"amount": 10.25, "failAt": "charge"}, {"amount": 1, "failAt": "reserve"}],
                         ids=["completed", "ship", "charge", "reserve"])
def test_the_c_saga_returns_the_bytes_the_python_saga_returns(examples, order):
    order = {"orderId": f"o-{uuid.uuid4().hex[:8]}", **order}
    in_c, _ = saga(examples, order)
    in_python, _ = saga(examples, order, "OrderSaga", EXAMPLES_TASK_QUEUE)
    assert result_bytes(examples, in_c) == result_bytes(examples, in_python)


# ---- Human approval ---------------------------------------------------------------------------

def test_a_c_approval_waits_for_a_decision_and_takes_validated_changes(examples):
    workflow_id = f"approval-{uuid.uuid4().hex[:8]}"
    start(examples, workflow_id, "c.Approval", [{"title": "new laptop", "amount": 1800}])
    assert query(examples, workflow_id, "state") == {"title": "new laptop", "amount": 1800, "status": "pending",
                                                     "decision": None, "changes": []}

    refused = post(api(examples, f"/{workflow_id}/update/setAmount"), {"args": [{"amount": -5, "by": "bob"}]})
    assert refused.status == 200, refused
    assert refused.json["outcome"]["failure"]["message"] == \
        "amount must be a number above 0 and at most 1000000, not -5", refused
    not_a_change = post(api(examples, f"/{workflow_id}/update/setAmount"), {"args": ["1500"]})
    assert not_a_change.json["outcome"]["failure"]["message"] == 'expected {"amount": …, "by": …}', not_a_change
    changed = post(api(examples, f"/{workflow_id}/update/setAmount"), {"args": [{"amount": 1500, "by": "bob"}]})
    assert changed.status == 200, changed
    assert "success" in changed.json["outcome"], changed.json
    assert changed.json["outcome"]["success"] == [{"title": "new laptop", "amount": 1500, "status": "pending",
                                                   "decision": None,
                                                   "changes": [{"from": 1800, "to": 1500, "by": "bob"}]}], changed

    signal = post(api(examples, f"/{workflow_id}/signal/approve"), {"args": [{"by": "alice", "comment": "ok"}]})
    assert signal.status == 200, signal
    result = result_of(examples, workflow_id, "30s")
    assert result["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", result
    assert result["result"] == [{"title": "new laptop", "amount": 1500, "status": "approved",
                                 "decision": {"by": "alice", "comment": "ok"},
                                 "changes": [{"from": 1800, "to": 1500, "by": "bob"}]}]
    late = post(api(examples, f"/{workflow_id}/update/setAmount"), {"args": [{"amount": 1, "by": "eve"}]})
    assert late.status >= 400, late  # a closed workflow takes no update
    assert query(examples, workflow_id, "state") == result["result"][0]
    record(examples, "approval-approved", workflow_id)


def test_a_c_approval_rejected_stays_rejected(examples):
    workflow_id = f"approval-{uuid.uuid4().hex[:8]}"
    start(examples, workflow_id, "c.Approval", [{"title": "a boat"}])
    for name, decision in (("reject", {"by": "carol"}), ("approve", {"by": "dave"})):
        assert post(api(examples, f"/{workflow_id}/signal/{name}"), {"args": [decision]}).status == 200
    result = result_of(examples, workflow_id, "30s")
    assert result["result"][0]["status"] == "rejected" and result["result"][0]["decision"] == {"by": "carol"}, result


@pytest.mark.parametrize("request_", [{"title": "never", "timeoutSeconds": "soon"},
                                      {"title": "never", "timeoutSeconds": 1e9},
                                      {"title": "never", "amount": True}], ids=["soon", "too-long", "bad-amount"])
def test_a_c_approval_with_a_bad_request_fails_for_good_as_in_python(examples, request_):
    failures = []
    for workflow_type, task_queue in (("c.Approval", PORTICO_TASK_QUEUE), ("Approval", EXAMPLES_TASK_QUEUE)):
        answer = start_and_wait(examples, f"approval-{uuid.uuid4().hex[:8]}",
                                {"workflowType": workflow_type, "taskQueue": task_queue, "args": [request_]})
        assert answer["status"] == "WORKFLOW_EXECUTION_STATUS_FAILED", answer
        failures.append(answer["failure"])
    in_c, in_python = failures
    assert in_c["message"] == in_python["message"], failures
    assert in_c["applicationFailureInfo"] == in_python["applicationFailureInfo"], failures
    assert in_c["applicationFailureInfo"]["type"] == "InvalidRequest", failures


def test_a_c_approval_nobody_decides_expires(examples):
    workflow_id = f"approval-{uuid.uuid4().hex[:8]}"
    answer = start_and_wait(examples, workflow_id, {"workflowType": "c.Approval", "taskQueue": PORTICO_TASK_QUEUE,
                                                    "args": [{"title": "a short wait", "timeoutSeconds": 1}]})
    assert answer["result"] == [{"title": "a short wait", "amount": None, "status": "expired", "decision": None,
                                 "changes": []}], answer
    in_python = start_and_wait(examples, f"approval-{uuid.uuid4().hex[:8]}",
                               {"workflowType": "Approval", "taskQueue": EXAMPLES_TASK_QUEUE,
                                "args": [{"title": "a short wait", "timeoutSeconds": 1}]})
    assert result_bytes(examples, workflow_id) == result_bytes(examples, in_python["workflowId"])
    record(examples, "approval-expired", workflow_id)


# ---- Interop both ways ------------------------------------------------------------------------

def test_a_c_workflow_calls_a_python_activity(examples):
    workflow_id = f"greeting-{uuid.uuid4().hex[:8]}"
    answer = start_and_wait(examples, workflow_id, {"workflowType": "c.Greeting", "taskQueue": PORTICO_TASK_QUEUE,
                                                    "args": ["Ada", PYTHON_TASK_QUEUE]})
    assert answer["result"] == ["Hello, ADA!"], answer
    record(examples, "greeting", workflow_id)


def test_a_python_workflow_starts_a_c_child(examples):
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    workflow_id = f"parent-{order_id}"
    answer = start_and_wait(examples, workflow_id,
                            {"workflowType": "RunChild", "taskQueue": PYTHON_TASK_QUEUE,
                             "args": ["c.OrderSaga", [{"orderId": order_id, "amount": 5, "failAt": "ship"}],
                                      PORTICO_TASK_QUEUE]})
    assert answer["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", answer
    assert answer["result"][0]["progress"] == ["reserved", "charged", "ship failed", "refunded", "released"], answer
    record(examples, "order-saga-child", f"{workflow_id}-child")


# ---- Replay with portico-worker replay ----------------------------------------------------------

def replay(histories, library=None):
    """`portico-worker replay --workflows LIBRARY FILES…`: (exit status, output)."""
    library = library or build() / "examples" / WORKFLOWS_LIBRARY
    command = [str(build() / "portico-worker"), "replay", "--workflows", str(library), *map(str, histories)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PORTICO_CODEC_KEYS=CODEC_KEYS))
    return done.returncode, done.stdout + done.stderr


def test_this_runs_histories_replay(examples, tmp_path):
    if not examples.recorded:
        pytest.skip("no test above ran to record a history")
    status, output = replay(write_recorded(examples, tmp_path))
    assert status == 0, output


def committed_histories():
    return sorted(HISTORIES.glob("*.json"))


@pytest.mark.parametrize("path", committed_histories(), ids=lambda path: path.stem)
def test_committed_histories_replay(path):
    """Histories recorded once (PORTICO_RECORD_HISTORIES=1) and committed: the current workflow
    code must make the same decisions they show."""
    status, output = replay([path])
    assert status == 0, output


def test_every_c_example_has_a_committed_history():
    names = {path.stem for path in committed_histories()}
    assert {"order-saga-completed", "order-saga-compensated", "order-saga-cancelled", "approval-approved",
            "approval-expired", "greeting", "order-saga-child"} <= names, names


def test_a_changed_saga_fails_to_replay_naming_the_event(tmp_path):
    """The saga with its first two steps swapped (charge before reserve), built as a user would
    build it, replays the committed history of a completed saga: the replayer reports the
    non-determinism and names the event the code no longer matches."""
    lines = (EXAMPLES / "workflows-c/order_saga.c").read_text().splitlines(keepends=True)
    reserve = next(i for i, line in enumerate(lines) if '{"reserve", "order.reserve", "order.release"}' in line)
    assert '{"charge", "order.charge", "order.refund"}' in lines[reserve + 1], lines[reserve:reserve + 2]
    lines[reserve], lines[reserve + 1] = lines[reserve + 1], lines[reserve]
    sources = tmp_path / "src"
    sources.mkdir()
    for path in (EXAMPLES / "workflows-c").glob("*.[ch]"):
        (sources / path.name).write_text("".join(lines) if path.name == "order_saga.c" else path.read_text())
    library = tmp_path / "libchanged.so"
    flags = shlex.split(subprocess.run(["pkg-config", "--cflags", "jansson", "libprotobuf-c"], capture_output=True,
                                       text=True, check=True).stdout)
    subprocess.run(["cc", "-std=gnu11", "-fPIC", "-shared", f"-I{TOP / 'sdk'}", f"-I{TOP / 'build/gen'}", *flags,
                    *map(str, sorted(sources.glob("*.c"))), "-o", str(library)], check=True)
    history = HISTORIES / "order-saga-completed.json"
    status, output = replay([history], library)
    assert status != 0, output
    assert "nondetermin" in output.lower().replace("-", ""), output
    assert "order.reserve" in output or "order.charge" in output, output  # the activity of the event
    first_scheduled = next(event for event in json.loads(history.read_text())["events"]
                           if event["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED")
    assert first_scheduled["eventId"] in output, output  # the event, by its id
    print(output)  # shown with pytest -s: what a user reads
