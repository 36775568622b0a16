"""The same requests to Temporal's own HTTP API (the dev server's --http-port) and to Portico
must give the same status codes and equivalent bodies on the routes they share."""

import time

import pytest

from conftest import TASK_QUEUE
from http_client import request

# Values that differ between two runs of the same thing.
VOLATILE = {"runId", "eventTime", "taskId", "startTime", "executionTime", "closeTime", "requestId",
            "startRequestId", "firstRunId", "firstExecutionRunId", "originalExecutionRunId", "historySizeBytes", "identity",
            "stateTransitionCount", "lastUpdateTime", "workerVersionStamp", "workflowTaskCompletedEventId",
            "executionDuration", "rootExecution", "firstWorkflowTaskBackoff", "expirationTime",
            "historyLength", "eventId", "attempt", "scheduledEventId", "startedEventId", "buildId",
            "sdkMetadata", "meteringMetadata", "workerDeploymentName", "versioningInfo", "nextPageToken",
            "link", "links", "updateRef", "lastWorkflowTaskFailure", "message", "originalStartTime",
            "requestIdInfos", "autoResetPoints"}


def normalize(value, workflow_id):
    if isinstance(value, dict):
        return {k: ("<volatile>" if k in VOLATILE else normalize(v, workflow_id)) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v, workflow_id) for v in value]
    if isinstance(value, str):
        return value.replace(workflow_id, "<workflow-id>")
    return value


@pytest.fixture
def both(server, gateway):
    """Sends one request to each; returns the two responses, normalized, as (status, body) pairs."""
    bases = {"temporal": f"http://{server.http_address}", "portico": gateway.url}

    def send(method, path, body=None, raw=None, suffix=""):
        results = {}
        for name, base in bases.items():
            workflow_id = f"{name}-{suffix}"
            response = request(method, base + path.replace("{id}", workflow_id), body=body, raw=raw)
            results[name] = (response.status, normalize(response.json, workflow_id))
        return results["temporal"], results["portico"]

    return send


def start_body(workflow_type, args):
    return {"workflowType": {"name": workflow_type}, "taskQueue": {"name": TASK_QUEUE}, "input": args}


def test_start_describe_signal_query_history(both, workflow_id):
    base = "/api/v1/namespaces/default/workflows/{id}"
    temporal, portico = both("POST", base, start_body("Mailbox", []), suffix=workflow_id)
    assert temporal == portico
    for method, path, body in [
        ("POST", base + "/signal/add", {"input": [{"x": 1}]}),
        ("POST", base + "/query/state", {}),
        ("POST", base + "/query/no_such_query", {}),
        ("GET", base, None),
        ("POST", base + "/signal/finish", {}),
        ("GET", base + "/history?waitNewEvent=true&historyEventFilterType=HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT",
         None),
        ("GET", base, None),
        ("POST", base + "/query/state", {}),
    ]:
        temporal, portico = both(method, path, body, suffix=workflow_id)
        assert temporal[0] == portico[0], (method, path, temporal, portico)
        assert temporal[1] == portico[1], (method, path)


def test_history_of_a_finished_workflow(both, workflow_id):
    base = "/api/v1/namespaces/default/workflows/{id}"
    both("POST", base, start_body("Echo", [{"a": [1, 2.5, None]}]), suffix=workflow_id)
    close = "/history?waitNewEvent=true&historyEventFilterType=HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT"
    assert both("GET", base + close, suffix=workflow_id)[0][0] == 200
    for path in (base + "/history", base + "/history-reverse", base + "/history?noPayloadShorthand=true"):
        temporal, portico = both("GET", path, suffix=workflow_id)
        assert temporal == portico, path


def test_update_with_full_request(both, workflow_id):
    base = "/api/v1/namespaces/default/workflows/{id}"
    both("POST", base, start_body("Mailbox", []), suffix=workflow_id)
    update = {"request": {"meta": {"updateId": "u1"}, "input": {"args": ["next"]}},
              "waitPolicy": {"lifecycleStage": "UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED"}}
    temporal, portico = both("POST", base + "/update/set_stage", update, suffix=workflow_id)
    assert temporal == portico
    both("POST", base + "/terminate", {}, suffix=workflow_id)


def test_errors(both, workflow_id):
    base = "/api/v1/namespaces/default/workflows/{id}"
    both("POST", base, start_body("Sleeper", [600]), suffix=workflow_id)
    for method, path, body, raw in [
        ("POST", base, start_body("Sleeper", [600]), None),  # already started
        ("GET", "/api/v1/namespaces/default/workflows/missing-{id}", None, None),
        ("POST", base + "/signal/add", {"unknownField": 1}, None),
        ("POST", base + "/signal/add", None, b'{"input": '),
        ("GET", "/api/v1/namespaces/no-such-namespace/workflows/{id}", None, None),
    ]:
        temporal, portico = both(method, path, body, raw, suffix=workflow_id)
        assert temporal[0] == portico[0], (method, path, temporal, portico)
        assert temporal[1]["code"] == portico[1]["code"], (method, path, temporal, portico)
        assert temporal[1].get("details") == portico[1].get("details"), (method, path)
    both("POST", base + "/terminate", {}, suffix=workflow_id)


def test_list_count_and_system_info(both, workflow_id):
    both("POST", "/api/v1/namespaces/default/workflows/{id}", start_body("Echo", [1]), suffix=workflow_id)
    time.sleep(1.5)  # visibility catches up
    query = "/api/v1/namespaces/default/workflows?query=WorkflowId%3D%27{id}%27"
    temporal, portico = both("GET", query, suffix=workflow_id)
    assert temporal == portico
    temporal, portico = both("GET", "/api/v1/namespaces/default/workflow-count?query=WorkflowId%3D%27{id}%27",
                             suffix=workflow_id)
    assert temporal == portico
    temporal, portico = both("GET", "/api/v1/system-info")
    assert temporal == portico
