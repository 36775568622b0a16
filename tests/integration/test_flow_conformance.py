"""The conformance documents (tests/flows/conformance/, written after the Serverless Workflow
specification's examples and conformance features; expected.tsv classifies them) run through the
whole stack: each one supported or partial is started inline through the gateway
(POST …/flows with {"definition", "input"}) and run by portico-worker on a dev server, its HTTP
calls answered by a local stand-in (tests/integration/stand_in.py) that takes the place of the
hosts the specification's examples call; the outcome is checked against what the specification
says (the conformance features' expected output where they give one). Each one refused is
answered 400 by the gateway, the message naming the path of the node it does not support."""

import json
import os
import time
import uuid

import pytest

from conftest import LoggedProcess, build_paths, start_gateway
from devserver import TOP
from http_client import get, post
from stand_in import StandIn

CONFORMANCE = TOP / "tests/flows/conformance"
COMMUNICATION = "https://serverlessworkflow.io/spec/1.0.0/errors/communication"
TIMEOUT = "https://serverlessworkflow.io/spec/1.0.0/errors/timeout"
QUEUE = "portico-flow-conformance"  # the gateway's PORTICO_FLOWS_TASK_QUEUE, served by the worker below


def rows():
    """expected.tsv: {file: (status, where, sources, note)}."""
    table = {}
    for line in (CONFORMANCE / "expected.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            file, status, where, sources, note = line.split("\t")
            table[file] = (status, where, sources, note)
    return table


class Stack:
    def __init__(self, url, stand_in):
        self.url, self.stand_in = url, stand_in

    def api(self, path):
        return f"{self.url}/api/v1/namespaces/default{path}"

    def definition(self, file):
        """The document's text as written, its endpoints on the stand-in: the gateway reads the YAML."""
        return self.stand_in.rewrite((CONFORMANCE / file).read_text())

    def start(self, file, flow_input, wait="60s"):
        """Starts the flow inline; with wait, returns the outcome, else the start's answer."""
        answer = post(self.api("/flows" + (f"?wait={wait}" if wait else "")),
                      {"definition": self.definition(file), "input": flow_input})
        assert answer.status == 200, answer
        if not wait:
            return answer.json
        assert "outcome" in answer.json, answer
        return answer.json["outcome"]

    def result(self, workflow_id):
        answer = get(self.api(f"/workflows/{workflow_id}/result?timeout=60s"))
        assert answer.status == 200, answer
        return answer.json

    def signal(self, workflow_id, event_type, data):
        """Sends the event (a CloudEvent envelope around data) as the signal a listen waits for."""
        event = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "https://portico.invalid/tests",
                 "type": event_type, "data": data}
        answer = post(self.api(f"/workflows/{workflow_id}/signal/{event_type}"), {"input": [event]})
        assert answer.status == 200, answer

    def state(self, workflow_id):
        answer = post(self.api(f"/workflows/{workflow_id}/query/flow.state"), {})
        return answer.json["queryResult"][0] if answer.status == 200 else None

    def await_task(self, workflow_id, name, seconds=30):
        """Waits until the flow's running task (flow.state) is the task called name."""
        deadline = time.monotonic() + seconds
        state = None
        while time.monotonic() < deadline:
            state = self.state(workflow_id)
            if state and name in (state.get("task") or ""):
                return state
            time.sleep(0.1)
        raise AssertionError(f"{workflow_id} never reached {name}: {state}")


@pytest.fixture(scope="module", params=build_paths("portico"))
def stack(request, server):
    build = request.param.rsplit("/", 1)[0]
    flows = str(CONFORMANCE / "flows")
    with StandIn() as stand_in:
        gateway = start_gateway(request.param, server.address, PORTICO_FLOWS_DIR=flows, PORTICO_FLOWS_TASK_QUEUE=QUEUE)
        worker = LoggedProcess([f"{build}/portico-worker"],
                               dict(os.environ, TEMPORAL_ADDRESS=server.address, PORTICO_FLOWS_DIR=flows,
                                    PORTICO_TASK_QUEUE=QUEUE),
                               "polling task queue", prefix="portico-flow-worker-")
        try:
            yield Stack(gateway.url, stand_in)
        finally:
            status = worker.stop()
            output = worker.output()
            assert status == 0, output
            assert "ERROR: AddressSanitizer" not in output and "runtime error:" not in output, output
            gateway.stop_cleanly()


def completed(outcome):
    assert outcome["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", outcome
    return outcome["result"][0] if outcome.get("result") else None


def problem(outcome):
    """The RFC 7807 problem a failed flow ends with (flow/README.md: the failure's one detail)."""
    assert outcome["status"] == "WORKFLOW_EXECUTION_STATUS_FAILED", outcome
    info = outcome["failure"].get("applicationFailureInfo") or {}
    assert info.get("details"), outcome
    detail = info["details"][0]
    assert isinstance(detail, dict) and "type" in detail, outcome
    assert info.get("type") == detail["type"], outcome
    return detail


def that(condition, result):
    assert condition, result


def pet(number):
    return {"id": number, "name": f"pet-{number}", "status": "available"}


# --- What each supported document does, as the specification says it ---------------------------
# A case is a function of the stack returning nothing; it starts the flow and asserts its outcome.

def simple(file, flow_input, output=None, check=None):
    def run(stack):
        result = completed(stack.start(file, flow_input))
        if check:
            check(result)
        else:
            assert result == output, result
    return run


def fails_with(file, flow_input, expected):
    def run(stack):
        found = problem(stack.start(file, flow_input))
        assert {key: found.get(key) for key in expected} == expected, found
    return run


def run_redirect_refused(stack):
    # Both calls see the 302 and raise it (the first caught, the second ending the flow); neither
    # follows it: the stand-in never sees the pet asked for.
    found = problem(stack.start("call-http-redirect-refused.yaml", {"petId": 23}))
    assert (found["type"], found["status"], found["instance"]) == (
        COMMUNICATION, 302, "/do/1/fetchMovedByDefault"), found
    assert found["detail"].endswith("/moved/23 answered 302"), found
    paths = [request["path"] for request in stack.stand_in.requests]
    assert paths.count("/moved/23") == 2 and "/pets/23" not in paths, paths


def check_response_output(result):
    # The spec's response form: the request made, the status code, the headers and the content.
    assert result["statusCode"] == 200, result
    assert result["request"]["method"].lower() == "get" and result["request"]["uri"].endswith("/pets/4"), result
    assert isinstance(result["request"]["headers"], dict), result
    assert result["headers"]["content-type"] == "application/json", result
    assert result["content"] == pet(4), result


def check_every_branch(result):
    # Without compete, the fork's output holds every branch's output (as a list, or by branch name).
    branches = result if isinstance(result, list) else list(result.values())
    assert sorted(branches, key=lambda b: b["id"]) == [pet(1), pet(2)], result


def run_conditional(stack):
    adult = completed(stack.start("conditional-task.yaml", {"player": {"name": "ada", "age": 36}, "stake": 5}))
    assert adult["method"] == "POST" and adult["path"] == "/echo/orders", adult
    assert adult["body"] == {"player": "ada", "stake": 5}, adult
    minor = problem(stack.start("conditional-task.yaml", {"player": {"name": "tim", "age": 12}, "stake": 5}))
    assert (minor["type"], minor["status"], minor["title"]) == (
        "https://portico.invalid/errors/underage", 403, "Player too young"), minor
    assert minor["instance"] == "/do/0/refuseMinor", minor


def run_emit_to_workflow(stack):
    target = stack.start("listen-to-one.yaml", {}, wait=None)["workflowId"]
    stack.await_task(target, "awaitStart")
    emitted = completed(stack.start("emit-to-workflow.yaml", {"target": target, "carId": "c-7"}))
    assert emitted is not None
    started = completed(stack.result(target))
    assert started["path"] == "/echo/cars/c-7/start", started


def with_events(file, flow_input, events, check):
    """Starts file, then sends events: (task to wait for or None, type, data) in order."""
    def run(stack):
        workflow_id = stack.start(file, flow_input, wait=None)["workflowId"]
        for task, event_type, data in events:
            if task:
                stack.await_task(workflow_id, task)
            stack.signal(workflow_id, event_type, data)
        check(completed(stack.result(workflow_id)))
    return run


def check_for(result):
    assert result["inspected"] == [{"id": "a", "at": 0, "by": "rita"}, {"id": "b", "at": 1, "by": "sam"}], result


def check_all_data(result):
    # listen's output: the consumed events' data, in the order they came; the filtered-out one not.
    assert result == [{"celsius": 39.2}, {"bpm": 40}], result


def check_all_envelopes(result):
    assert [event["type"] for event in result] == ["conformance.vitals.temperature", "conformance.vitals.pulse"], result
    assert all(event["specversion"] == "1.0" and "data" in event for event in result), result


def run_raise_inline(stack):
    found = problem(stack.start("raise-inline.yaml", {}))
    assert found == {"type": "https://portico.invalid/errors/not-ready", "status": 501, "title": "Not Ready",
                     "detail": "raise-inline 1.0.0 is not ready", "instance": "/do/0/notReady"}, found


def run_raise_reusable(stack):
    found = problem(stack.start("raise-reusable.yaml", {}))
    assert (found["type"], found["status"], found["detail"], found["instance"]) == (
        "https://portico.invalid/errors/not-ready", 501, "raise-reusable is not ready", "/do/0/notReady"), found


def run_switch_then_string(stack):
    outputs = [completed(stack.start("switch-then-string.yaml", {"kind": kind})) for kind in ("digital", "parcel", 3)]
    assert outputs == [{"delivery": "email"}, {"delivery": "courier"},
                       {"delivery": "none", "warning": "unknown kind 3"}], outputs


def run_ctk_switch(stack):
    matched = completed(stack.start("ctk-switch.yaml", {"size": "small"}))
    custom = completed(stack.start("ctk-switch.yaml", {"size": "XL"}))
    assert (matched, custom) == ({"sizes": ["S"]}, {"sizes": ["XL"]}), (matched, custom)


def check_caught(result):
    found = result["problem"]
    assert {"type", "status", "title"} <= set(found), found
    assert (found["type"], found["status"]) == (COMMUNICATION, 404), found
    assert found["instance"] == "/do/0/tryFetch/try/0/fetchByName", found


def run_try_catch_export(stack):
    result = completed(stack.start("try-catch-export.yaml", {"name": "rex"}))
    assert result["failure"]["status"] == 404 and result["failure"]["type"] == COMMUNICATION, result
    # adopt's `if` saw the error in $context: no PUT was made.
    assert not [r for r in stack.stand_in.requests if r["method"] == "PUT" and r["path"] == "/pets/1"]


def run_retry(file):
    def run(stack):
        key = uuid.uuid4().hex
        result = completed(stack.start(file, {"key": key}))
        assert result == {"attempts": 3}, result
    return run


def run_wait(file):
    def run(stack):
        before = time.monotonic()
        assert completed(stack.start(file, {"kept": True})) == {"kept": True}
        assert time.monotonic() - before >= 1.5
    return run


def run_loose(stack):
    assert completed(stack.start("loose-expressions.yaml", {"amount": 500, "lines": []})) == {"decision": "review"}
    assert completed(stack.start("loose-expressions.yaml", {"amount": 5, "lines": ["a", "b", "c"]})) == 3


def run_query_parameters(stack):
    result = completed(stack.start("call-http-query-parameters.yaml", {"term": "luke"}))
    assert result["query"] == {"name": "luke", "page": "1"}, result
    # The input schema: an input without `term` is refused before anything starts.
    refused = post(stack.api("/flows?wait=30s"),
                   {"definition": stack.definition("call-http-query-parameters.yaml"), "input": {"other": 1}})
    assert refused.status == 400 and '"term"' in refused.json["message"], refused


CASES = {
    "do-single.yaml": simple("do-single.yaml", {"petId": 7}, pet(7)),
    "do-multiple.yaml": simple("do-multiple.yaml", {"petId": 8}, {**pet(8), "status": "sold"}),
    "call-http-endpoint-interpolation.yaml": simple("call-http-endpoint-interpolation.yaml", {"petId": 9}, pet(9)),
    "call-http-query-parameters.yaml": run_query_parameters,
    "call-http-query-headers-expressions.yaml": simple(
        "call-http-query-headers-expressions.yaml", {"term": "leia"},
        check=lambda r: that(r["query"] == {"name": "leia"} and r["headers"]["x-request-tag"] == "tag-leia", r)),
    "call-http-redirect.yaml": simple("call-http-redirect.yaml", {"petId": 11}, pet(11)),
    "call-http-redirect-refused.yaml": run_redirect_refused,
    "ctk-call-http-content-output.yaml": simple("ctk-call-http-content-output.yaml", {"status": "pending"},
                                                {"id": 3, "name": "pet-3", "status": "pending"}),
    "ctk-call-http-response-output.yaml": simple("ctk-call-http-response-output.yaml", {"petId": 4},
                                                 check=check_response_output),
    "call-custom-function-inline.yaml": simple("call-custom-function-inline.yaml", {}, pet(12)),
    "conditional-task.yaml": run_conditional,
    "emit-to-workflow.yaml": run_emit_to_workflow,
    "for.yaml": with_events(
        "for.yaml", {"items": [{"id": "a"}, {"id": "b"}, {"id": "c"}], "inspected": []},
        [("awaitInspection", "conformance.item.inspected", {"inspector": "rita"}),
         (None, "conformance.item.inspected", {"inspector": "sam"})], check_for),
    "ctk-for.yaml": simple("ctk-for.yaml", {"sizes": ["S", "M", "L"]},
                           {"seen": {"sizes": ["S", "M", "L"], "positions": [0, 1, 2]}}),
    "fork.yaml": simple("fork.yaml", {"patient": "p-1", "ward": 4},
                        {"paged": "nurse", "request": {"patient": "p-1", "ward": 4}}),
    "ctk-branch-compete.yaml": simple("ctk-branch-compete.yaml", {"finishers": []},
                                      check=lambda r: that(len(r["finishers"]) == 1, r)),
    "fork-all.yaml": simple("fork-all.yaml", {}, check=check_every_branch),
    "listen-to-one.yaml": with_events("listen-to-one.yaml", {}, [("awaitStart", "conformance.race.started",
                                                                  {"carId": "c-1"})],
                                      lambda r: that(r["path"] == "/echo/cars/c-1/start", r)),
    "listen-to-all.yaml": with_events(
        "listen-to-all.yaml", {},
        [("awaitVitals", "conformance.vitals.temperature", {"celsius": 37.0}),
         (None, "conformance.vitals.temperature", {"celsius": 39.2}), (None, "conformance.vitals.pulse", {"bpm": 40})],
        check_all_data),
    "listen-to-all-read-envelope.yaml": with_events(
        "listen-to-all-read-envelope.yaml", {},
        [("awaitVitals", "conformance.vitals.temperature", {"celsius": 39.2}),
         (None, "conformance.vitals.pulse", {"bpm": 40})], check_all_envelopes),
    "listen-to-any.yaml": with_events("listen-to-any.yaml", {}, [("awaitAnything", "conformance.anything", {"n": 1})],
                                      lambda r: that(r == [{"n": 1}], r)),
    "listen-to-any-filter.yaml": with_events(
        "listen-to-any-filter.yaml", {},
        [("awaitAlarm", "conformance.vitals.pulse", {"bpm": 70}), (None, "conformance.vitals.pulse", {"bpm": 120})],
        lambda r: that(r == [{"bpm": 120}], r)),
    "listen-to-any-until-condition.yaml": with_events(
        "listen-to-any-until-condition.yaml", {},
        [("collectReadings", "conformance.reading", {"n": n}) if n == 1 else (None, "conformance.reading", {"n": n})
         for n in (1, 2, 3)],
        lambda r: that(r == [{"n": 1}, {"n": 2}, {"n": 3}], r)),
    "raise-inline.yaml": run_raise_inline,
    "raise-reusable.yaml": run_raise_reusable,
    "run-subflow.yaml": simple("run-subflow.yaml", {"applicant": {"name": "ada"}},
                               {"registered": "ada", "plan": "basic"}),
    "set.yaml": simple("set.yaml", {"spec": {"dimensions": {"w": 2, "h": 3, "d": 4}, "colour": "teal"}},
                       {"kind": "box", "dimensions": {"w": 2, "h": 3, "d": 4}, "colour": "teal", "volume": 24}),
    "set-expression.yaml": simple("set-expression.yaml", {"b": 1, "a": 2},
                                  {"original": {"b": 1, "a": 2}, "keys": ["a", "b"]}),
    "star-wars-homeworld.yaml": simple("star-wars-homeworld.yaml", {"id": 3}, {"id": 13, "name": "planet-13"}),
    "switch-then-string.yaml": run_switch_then_string,
    "ctk-switch.yaml": run_ctk_switch,
    "ctk-switch-implicit-default.yaml": simple("ctk-switch-implicit-default.yaml", {"size": "XL"}, {"size": "XL"}),
    "try-catch.yaml": simple("try-catch.yaml", {"name": "rex"}, check=lambda r: None),
    "try-catch-export.yaml": run_try_catch_export,
    "ctk-try-caught.yaml": simple("ctk-try-caught.yaml", {"name": "rex"}, check=check_caught),
    "ctk-try-uncaught.yaml": fails_with("ctk-try-uncaught.yaml", {"name": "rex"},
                                        {"type": COMMUNICATION, "status": 404,
                                         "instance": "/do/0/tryFetch/try/0/fetchByName"}),
    "try-catch-retry-inline.yaml": run_retry("try-catch-retry-inline.yaml"),
    "try-catch-retry-reusable.yaml": run_retry("try-catch-retry-reusable.yaml"),
    "wait-duration-inline.yaml": run_wait("wait-duration-inline.yaml"),
    "wait-duration-iso8601.yaml": run_wait("wait-duration-iso8601.yaml"),
    "ctk-flow-implicit-sequence.yaml": simple("ctk-flow-implicit-sequence.yaml", {"steps": []},
                                              {"steps": ["first", "second", "third"]}),
    "ctk-do.yaml": simple("ctk-do.yaml", {"steps": []}, {"steps": ["first", "second", "third"]}),
    "ctk-data-flow-input-from.yaml": simple("ctk-data-flow-input-from.yaml",
                                            {"session": {"token": {"account": "acc-42"}}}, {"accountId": "acc-42"}),
    "ctk-data-flow-output-as.yaml": simple("ctk-data-flow-output-as.yaml", {"petId": 6}, 6),
    "ctk-data-flow-non-object.yaml": simple("ctk-data-flow-non-object.yaml", {"petId": 1}, {"ids": [1, 5]}),
    "document-input-output.yaml": simple("document-input-output.yaml", {"order": {"quantity": 3, "unitPrice": 7}},
                                         {"summary": "21 paid", "shipped": True}),
    "timeout-task.yaml": fails_with("timeout-task.yaml", {}, {"type": TIMEOUT, "status": 408,
                                                              "instance": "/do/0/tooLong"}),
    "timeout-workflow.yaml": fails_with("timeout-workflow.yaml", {}, {"type": TIMEOUT, "status": 408, "instance": "/"}),
    "timeout-reusable.yaml": simple("timeout-reusable.yaml", {}, {"timedOut": 408}),
    "loose-expressions.yaml": run_loose,
    "schema-output.yaml": simple("schema-output.yaml", {"n": 2}, {"count": 2}),
}

RUNS = sorted(file for file, (status, *_) in rows().items() if status != "refused")
REFUSALS = sorted((file, where) for file, (status, where, *_) in rows().items() if status == "refused")


def test_every_runnable_document_has_a_case_and_no_other():
    assert sorted(CASES) == RUNS


@pytest.mark.parametrize("file", RUNS)
def test_runs_as_the_specification_says(stack, file):
    CASES[file](stack)


@pytest.mark.parametrize("file,where", REFUSALS)
def test_refused_with_the_path(stack, file, where):
    answer = post(stack.api("/flows"), {"definition": stack.definition(file), "input": {}})
    assert answer.status == 400, answer
    assert where in answer.text, answer
