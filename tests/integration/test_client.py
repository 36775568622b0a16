"""The C client against a real dev server, with workflows run by the official Python SDK."""

import json
import time

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError


def result_of(temporal, workflow_id):
    return temporal(lambda client: client.get_workflow_handle(workflow_id).result())


def test_start_runs_the_workflow_with_its_input(probe, temporal, workflow_id, task_queue):
    value = {"name": "Temporal", "n": 3, "tags": ["a", None], "ok": True}
    started = probe.ok("start", "--id", workflow_id, "--type", "Echo", "--queue", task_queue,
                       "--input", json.dumps([value]))
    assert started["runId"]
    assert result_of(temporal, workflow_id) == value


def test_duplicate_start_reports_the_running_run(probe, workflow_id, task_queue):
    first = probe.ok("start", "--id", workflow_id, "--type", "Sleeper", "--queue", task_queue, "--input", "[60]")
    status, output = probe("start", "--id", workflow_id, "--type", "Sleeper", "--queue", task_queue,
                           "--input", "[60]")
    assert status == 1
    error = output["error"]
    assert error["codeName"] == "ALREADY_EXISTS"
    assert error["detail"]["type"] == "WorkflowExecutionAlreadyStartedFailure"
    assert error["detail"]["runId"] == first["runId"]
    probe.ok("terminate", "--id", workflow_id, "--reason", "test over")


def test_start_with_the_same_request_id_is_idempotent(probe, workflow_id, task_queue):
    args = ("start", "--id", workflow_id, "--type", "Sleeper", "--queue", task_queue, "--input", "[60]",
            "--request-id", "same-request")
    assert probe.ok(*args)["runId"] == probe.ok(*args)["runId"]
    probe.ok("terminate", "--id", workflow_id)


def test_signal_query_and_describe(probe, temporal, workflow_id, task_queue):
    run_id = probe.ok("start", "--id", workflow_id, "--type", "Mailbox", "--queue", task_queue)["runId"]
    probe.ok("signal", "--id", workflow_id, "--name", "add", "--args", '["first"]')
    probe.ok("signal", "--id", workflow_id, "--run", run_id, "--name", "add", "--args", '[{"second": 2}]')
    state = probe.ok("query", "--id", workflow_id, "--name", "state")["result"]
    assert state == [{"signals": ["first", {"second": 2}], "stage": "new"}]

    described = probe.ok("describe", "--id", workflow_id)
    assert described["runId"] == run_id
    assert described["workflowType"] == "Mailbox"
    assert described["taskQueue"] == task_queue
    assert described["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"

    probe.ok("signal", "--id", workflow_id, "--name", "finish")
    assert result_of(temporal, workflow_id)["signals"] == ["first", {"second": 2}]
    assert probe.ok("describe", "--id", workflow_id)["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED"


def test_query_of_unknown_type_is_an_error(probe, workflow_id, task_queue):
    probe.ok("start", "--id", workflow_id, "--type", "Mailbox", "--queue", task_queue)
    status, output = probe("query", "--id", workflow_id, "--name", "no_such_query")
    assert status == 1
    assert "no_such_query" in output["error"]["message"]
    probe.ok("terminate", "--id", workflow_id)


def test_update_completes_or_is_rejected(probe, workflow_id, task_queue):
    probe.ok("start", "--id", workflow_id, "--type", "Mailbox", "--queue", task_queue)
    accepted = probe.ok("update", "--id", workflow_id, "--name", "set_stage", "--args", '["review"]')
    assert accepted == {"success": ["new"]}
    rejected = probe.ok("update", "--id", workflow_id, "--name", "set_stage", "--args", '[""]')
    assert "stage must not be empty" in rejected["failure"]["message"]
    state = probe.ok("query", "--id", workflow_id, "--name", "state")["result"][0]
    assert state["stage"] == "review"
    # The same update id is the same update: its outcome again, not a second run of it.
    again = probe.ok("update", "--id", workflow_id, "--name", "set_stage", "--args", '["done"]',
                     "--update-id", "u1")
    repeat = probe.ok("update", "--id", workflow_id, "--name", "set_stage", "--args", '["done"]',
                      "--update-id", "u1")
    assert again == repeat == {"success": ["review"]}
    probe.ok("signal", "--id", workflow_id, "--name", "finish")


def test_signal_with_start_starts_then_signals(probe, temporal, workflow_id, task_queue):
    common = ("--id", workflow_id, "--type", "Mailbox", "--queue", task_queue, "--name", "add")
    first = probe.ok("signal-with-start", *common, "--input", '["hello"]', "--args", '["one"]')
    second = probe.ok("signal-with-start", *common, "--input", '["ignored"]', "--args", '["two"]')
    assert first["runId"] == second["runId"]
    # The first signal is delivered before the workflow's run method sees its input.
    state = probe.ok("query", "--id", workflow_id, "--name", "state")["result"][0]
    assert state["signals"] == ["one", "hello", "two"]
    probe.ok("signal", "--id", workflow_id, "--name", "finish")
    assert result_of(temporal, workflow_id)["signals"] == ["one", "hello", "two"]


def test_cancel_reaches_the_workflow(probe, temporal, workflow_id, task_queue):
    probe.ok("start", "--id", workflow_id, "--type", "Sleeper", "--queue", task_queue, "--input", "[600]")
    probe.ok("cancel", "--id", workflow_id, "--reason", "no longer needed")
    with pytest.raises(WorkflowFailureError) as failure:
        result_of(temporal, workflow_id)
    assert isinstance(failure.value.cause, CancelledError)
    assert probe.ok("describe", "--id", workflow_id)["status"] == "WORKFLOW_EXECUTION_STATUS_CANCELED"


def test_terminate(probe, temporal, workflow_id, task_queue):
    probe.ok("start", "--id", workflow_id, "--type", "Sleeper", "--queue", task_queue, "--input", "[600]")
    probe.ok("terminate", "--id", workflow_id, "--reason", "stop now")
    description = temporal(lambda client: client.get_workflow_handle(workflow_id).describe())
    assert description.status == WorkflowExecutionStatus.TERMINATED


def test_history_waits_for_the_close_event(probe, workflow_id, task_queue):
    probe.ok("start", "--id", workflow_id, "--type", "Failer", "--queue", task_queue, "--input", '["boom"]')
    closing = probe.ok("history", "--id", workflow_id, "--wait", "--close")["events"]
    assert closing == ["EVENT_TYPE_WORKFLOW_EXECUTION_FAILED"]
    events = probe.ok("history", "--id", workflow_id)["events"]
    assert events[0] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    assert events[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_FAILED"


def test_list_and_count_see_started_workflows(probe, workflow_id, task_queue):
    run_id = probe.ok("start", "--id", workflow_id, "--type", "Echo", "--queue", task_queue, "--input", "[1]")["runId"]
    query = f"WorkflowId = '{workflow_id}'"
    deadline = time.monotonic() + 20
    while True:  # visibility is eventually consistent
        listed = probe.ok("list", "--query", query)["executions"]
        if listed or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [execution["runId"] for execution in listed] == [run_id]
    assert probe.ok("count", "--query", query) == {"count": 1}


def test_bad_input_is_refused_before_calling_temporal(probe, task_queue):
    status, output = probe("start", "--id", "x", "--type", "Echo", "--queue", task_queue, "--input", "[1,")
    assert status == 1
    assert output["error"]["codeName"] == "INVALID_ARGUMENT"
    assert "invalid JSON" in output["error"]["message"]
    status, output = probe("start", "--type", "Echo", "--queue", task_queue)
    assert output["error"] == {"code": 3, "codeName": "INVALID_ARGUMENT", "message": "workflow id is required"}


def test_unreachable_temporal_fails_within_the_deadline(probe):
    started = time.monotonic()
    status, output = probe("describe", "--id", "x", env={"TEMPORAL_ADDRESS": "127.0.0.1:1"})
    elapsed = time.monotonic() - started
    assert status == 1
    assert output["error"]["codeName"] == "UNAVAILABLE"
    assert "127.0.0.1:1" in output["error"]["message"]
    assert elapsed < 30  # the 10 s call deadline, plus process start-up under sanitizers
