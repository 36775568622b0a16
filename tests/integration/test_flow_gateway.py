"""The gateway's flow routes against a dev server: a flow of PORTICO_FLOWS_DIR started by name and
an inline one, each run as flow/README.md's contract says (workflow type, task queue, the one
payload {"definition", "input"}, the memo describe shows), ?version=, ?workflowId=, an
Idempotency-Key that replays the first start, 400s with the path before anything starts, 404s that
say what is loaded, the admin an inline definition needs, GET …/flows, a webhook that starts a
flow, and configurations refused at start-up. With Portico's worker running flows, the waited
result too."""

import hashlib
import json
import os
import subprocess
import uuid

import pytest

from conftest import LoggedProcess, build_paths, start_gateway
from http_client import get, post, request

QUEUE = "portico-flow-tests"  # PORTICO_FLOWS_TASK_QUEUE: the test's own, served by the worker below
HOOK_TOKEN = "flow-hook-token"


def greet(version, greeting):
    """A flow of set tasks only (no expressions, no activities)."""
    return (f"document:\n  dsl: '1.0.0'\n  namespace: tests\n  name: greet\n  version: '{version}'\n"
            f"do:\n  - hello:\n      set:\n        greeting: {greeting}\n")


INLINE = {"document": {"dsl": "1.0.0", "namespace": "tests", "name": "inline-greet", "version": "0.1.0"},
          "do": [{"hello": {"set": {"greeting": "hi inline"}}}]}

# A flow whose input has a schema: the gateway checks it before anything starts.
TYPED = {"document": {"dsl": "1.0.0", "namespace": "tests", "name": "typed", "version": "1.0.0"},
         "input": {"schema": {"format": "json", "document": {
             "type": "object", "required": ["who"], "properties": {"who": {"type": "string"}}}}},
         "do": [{"hello": {"set": {"greeting": "hi"}}}]}

WEBHOOKS = {"webhooks": {
    "greet-hook": {"action": "start-flow", "flow": "greet", "version": "1.0.0", "workflowId": "hook-{body./id}",
                   "verify": {"scheme": "bearer", "secrets": ["env:FLOW_HOOK_TOKEN"]}, "input": {"pointer": "/data"}},
}}


@pytest.fixture(scope="module")
def flows_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flows")
    (folder / "greet-1.yaml").write_text(greet("1.0.0", "hello"))
    (folder / "greet-2.yaml").write_text(greet("2.0.0", "hello again"))
    (folder / "typed.json").write_text(json.dumps(TYPED))
    return folder


def gateway_env(flows_dir, tmp_path_factory):
    hooks = tmp_path_factory.mktemp("flow-hooks") / "webhooks.json"
    hooks.write_text(json.dumps(WEBHOOKS))
    return dict(PORTICO_FLOWS_DIR=str(flows_dir), PORTICO_FLOWS_TASK_QUEUE=QUEUE, PORTICO_WEBHOOKS_FILE=str(hooks),
                FLOW_HOOK_TOKEN=HOOK_TOKEN)


@pytest.fixture(scope="module", params=build_paths("portico"))
def flows(request, server, flows_dir, tmp_path_factory):
    gw = start_gateway(request.param, server.address, **gateway_env(flows_dir, tmp_path_factory))
    yield gw
    gw.stop_cleanly()


def api(gw, path):
    return f"{gw.url}/api/v1/namespaces/default{path}"


def describe(gw, workflow_id):
    """The run's type, task queue and memo (describe), and its one argument (the start event)."""
    info = get(api(gw, f"/workflows/{workflow_id}")).json["workflowExecutionInfo"]
    history = get(api(gw, f"/workflows/{workflow_id}/history")).json["history"]["events"]
    started = history[0]["workflowExecutionStartedEventAttributes"]
    return info["type"]["name"], started["taskQueue"]["name"], info["memo"]["fields"]["flow"], started["input"]


def test_a_named_flow_starts_as_the_contract_says(flows):
    started = post(api(flows, "/flows/greet?version=1.0.0"), {"who": "Ada"})
    assert started.status == 200, started
    workflow_id = started.json["workflowId"]
    assert workflow_id.startswith("greet-") and started.json["runId"], started
    kind, queue, memo, args = describe(flows, workflow_id)
    assert (kind, queue) == ("greet", QUEUE)
    assert memo == {"namespace": "tests", "name": "greet", "version": "1.0.0", "dsl": "1.0.0"}
    assert len(args) == 1 and args[0]["input"] == {"who": "Ada"}
    assert args[0]["definition"]["document"]["version"] == "1.0.0"
    assert args[0]["definition"]["do"] == [{"hello": {"set": {"greeting": "hello"}}}]


def test_the_highest_version_and_a_given_workflow_id(flows):
    workflow_id = f"greet-{uuid.uuid4()}"
    started = post(api(flows, f"/flows/greet?workflowId={workflow_id}"), raw=b"")
    assert started.status == 200 and started.json["workflowId"] == workflow_id, started
    _, _, memo, args = describe(flows, workflow_id)
    assert memo["version"] == "2.0.0" and args[0]["input"] == {}  # an empty body is {}


def test_an_inline_flow_starts_as_the_contract_says(flows):
    started = post(api(flows, "/flows"), {"definition": INLINE, "input": {"n": 1}})
    assert started.status == 200, started
    kind, queue, memo, args = describe(flows, started.json["workflowId"])
    assert (kind, queue) == ("inline-greet", QUEUE)
    assert memo["name"] == "inline-greet" and memo["version"] == "0.1.0"
    assert args == [{"definition": INLINE, "input": {"n": 1}}]


def test_an_inline_definition_may_be_yaml_text(flows):
    started = post(api(flows, "/flows"), {"definition": greet("9.9.9", "from text"), "input": []})
    assert started.status == 200, started
    _, _, memo, args = describe(flows, started.json["workflowId"])
    assert memo["version"] == "9.9.9" and args[0]["input"] == []


def test_an_idempotency_key_replays_the_first_start(flows):
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    first = post(api(flows, "/flows/greet"), {"who": "Ada"}, headers=key)
    again = post(api(flows, "/flows/greet"), {"who": "Ada"}, headers=key)
    assert first.status == 200 and again.status == 200, (first, again)
    assert first.json["workflowId"] == again.json["workflowId"] and first.json["runId"] == again.json["runId"]
    other = post(api(flows, "/flows/greet"), {"who": "Bob"}, headers=key)
    assert other.status == 422, other  # the key was used for another request


@pytest.mark.parametrize("body, path", [
    ({"definition": {"document": {**INLINE["document"], "name": "x"}, "do": [{"t": {"nope": {}}}]}},
     "/definition/do/0/t"),
    ({"definition": "document: [unclosed"}, "/definition: "),
    ({"definition": INLINE, "inputs": {}}, "/inputs: unknown field"),
    ({"input": {}}, "/definition: required"),
])
def test_a_bad_inline_flow_is_a_400_with_its_path_and_starts_nothing(flows, body, path):
    workflow_id = f"bad-{uuid.uuid4()}"
    refused = post(api(flows, f"/flows?workflowId={workflow_id}"), body)
    assert refused.status == 400 and refused.json["message"].startswith(path), refused
    assert get(api(flows, f"/workflows/{workflow_id}")).status == 404


@pytest.mark.parametrize("path, body, message", [
    ("/flows/greet", b'{"who": ', "the flow's input (the request body) is not valid JSON"),
    ("/flows/typed", b'{"who": 7}', "input/who: "),
    ("/flows/typed", b"", "input: "),  # {} lacks who
    ("/flows", json.dumps({"definition": TYPED, "input": {"who": None}}).encode(), "input/who: "),
])
def test_a_bad_input_is_a_400_and_starts_nothing(flows, path, body, message):
    workflow_id = f"bad-{uuid.uuid4()}"
    refused = post(api(flows, f"{path}?workflowId={workflow_id}"), raw=body)
    assert refused.status == 400 and refused.json["message"].startswith(message), refused
    assert get(api(flows, f"/workflows/{workflow_id}")).status == 404
    assert post(api(flows, f"/flows/typed?workflowId={workflow_id}"), {"who": "Ada"}).status == 200


def test_an_unknown_flow_is_a_404_naming_what_is_loaded(flows):
    missing = post(api(flows, "/flows/nope"), {})
    assert missing.status == 404 and missing.json["message"] == \
        'no flow "nope" is loaded (loaded: greet, typed; GET …/flows lists them)', missing
    version = post(api(flows, "/flows/greet?version=3.0.0"), {})
    assert version.status == 404 and "loaded: 1.0.0, 2.0.0" in version.json["message"], version


def test_the_loaded_flows_are_listed(flows):
    listed = get(api(flows, "/flows"))
    assert listed.status == 200, listed
    assert [(f["name"], f["version"]) for f in listed.json["flows"]] == \
        [("greet", "1.0.0"), ("greet", "2.0.0"), ("typed", "1.0.0")]
    assert listed.json["flows"][0]["namespace"] == "tests" and listed.json["flows"][2]["file"] == "typed.json"


def test_a_webhook_starts_a_flow(flows):
    delivery = str(uuid.uuid4())
    body = {"id": delivery, "data": {"who": "hook"}}
    sent = request("POST", f"{flows.url}/webhooks/greet-hook", raw=json.dumps(body).encode(),
                   headers={"Content-Type": "application/json", "Authorization": f"Bearer {HOOK_TOKEN}"})
    assert sent.status == 202 and sent.json["workflowId"] == f"hook-{delivery}", sent
    kind, queue, memo, args = describe(flows, f"hook-{delivery}")
    assert (kind, queue, memo["version"]) == ("greet", QUEUE, "1.0.0")
    assert args[0]["input"] == {"who": "hook"}


KEYS = {"start": ["start", "read"], "admin": ["start", "admin"], "read": ["read"]}


@pytest.fixture(scope="module")
def secured(server, flows_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("flow-auth") / "auth.json"
    path.write_text(json.dumps({"apiKeys": [
        {"name": name, "sha256": hashlib.sha256(f"key-{name}".encode()).hexdigest(), "namespaces": ["default"],
         "permissions": permissions} for name, permissions in KEYS.items()]}))
    gw = start_gateway(build_paths("portico")[0].values[0], server.address, PORTICO_AUTH="keys",
                       PORTICO_AUTH_FILE=str(path), **gateway_env(flows_dir, tmp_path_factory))
    yield gw
    gw.stop_cleanly()


def as_key(name):
    return {"Authorization": f"Bearer key-{name}"}


def test_an_inline_flow_needs_admin_and_a_named_one_start(secured):
    workflow_id = f"denied-{uuid.uuid4()}"
    denied = post(api(secured, f"/flows?workflowId={workflow_id}"), {"definition": INLINE}, headers=as_key("start"))
    assert denied.status == 403 and '"admin" permission' in denied.json["message"], denied
    assert "inline definition" in denied.json["message"]
    assert get(api(secured, f"/workflows/{workflow_id}"), headers=as_key("read")).status == 404
    assert post(api(secured, "/flows"), {"definition": INLINE}, headers=as_key("admin")).status == 200
    assert post(api(secured, "/flows/greet"), {}, headers=as_key("start")).status == 200
    assert post(api(secured, "/flows/greet"), {}, headers=as_key("read")).status == 403
    assert get(api(secured, "/flows"), headers=as_key("read")).status == 200


def test_a_flow_started_through_another_route_needs_admin_unless_loaded(secured):
    """The worker runs any start whose first argument is a flow: what it may do decides, not the route."""
    workflow_id = f"smuggled-{uuid.uuid4()}"
    body = {"workflowType": "inline-greet", "taskQueue": "portico", "args": [{"definition": INLINE, "input": {}}]}
    denied = post(api(secured, f"/workflows/{workflow_id}"), body, headers=as_key("start"))
    assert denied.status == 403 and "did not load" in denied.json["message"], denied
    assert get(api(secured, f"/workflows/{workflow_id}"), headers=as_key("read")).status == 404
    loaded = {"document": {"dsl": "1.0.0", "namespace": "tests", "name": "greet", "version": "1.0.0"},
              "do": [{"hello": {"set": {"greeting": "hello"}}}]}  # greet("1.0.0", "hello") as the gateway reads it
    body = {"workflowType": "greet", "taskQueue": "portico", "args": [{"definition": loaded, "input": {}}]}
    assert post(api(secured, f"/workflows/{workflow_id}"), body, headers=as_key("start")).status == 200


@pytest.mark.parametrize("setting, message", [
    ({"PORTICO_FLOWS_DIR": "/nonexistent/flows"}, "PORTICO_FLOWS_DIR /nonexistent/flows"),
    ({"WEBHOOK_FLOW": "nope"}, 'webhook "greet-hook": flow: no flow "nope" is loaded'),
])
def test_a_bad_flows_setting_stops_start_up(flows_dir, tmp_path, setting, message):
    hooks = json.loads(json.dumps(WEBHOOKS))
    hooks["webhooks"]["greet-hook"]["flow"] = setting.pop("WEBHOOK_FLOW", "greet")
    (tmp_path / "webhooks.json").write_text(json.dumps(hooks))
    env = dict(os.environ, PORTICO_LISTEN="127.0.0.1:0", PORTICO_FLOWS_DIR=str(flows_dir),
               PORTICO_WEBHOOKS_FILE=str(tmp_path / "webhooks.json"), FLOW_HOOK_TOKEN=HOOK_TOKEN)
    env.update(setting)
    completed = subprocess.run([build_paths("portico")[0].values[0]], capture_output=True, text=True, timeout=30,
                               env=env)
    assert completed.returncode != 0 and message in completed.stderr, completed.stderr


def worker_runs_flows():
    worker = build_paths("portico-worker")[0].values[0]
    help_text = subprocess.run([worker, "--help"], capture_output=True, text=True, timeout=30).stdout
    return "PORTICO_FLOWS_DIR" in help_text


@pytest.mark.skipif(not worker_runs_flows(), reason="portico-worker runs no flows yet (the interpreter)")
def test_a_waited_flow_answers_its_result(flows, server, flows_dir):
    worker = LoggedProcess([build_paths("portico-worker")[0].values[0]],
                           dict(os.environ, TEMPORAL_ADDRESS=server.address, PORTICO_TASK_QUEUE=QUEUE,
                                PORTICO_FLOWS_DIR=str(flows_dir)))
    try:
        named = post(api(flows, "/flows/greet?version=1.0.0&wait=30s"), {"who": "Ada"})
        assert named.status == 200, named
        assert named.json["outcome"]["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", named
        assert named.json["outcome"]["result"] == [{"greeting": "hello"}]
        inline = post(api(flows, "/flows?wait=30s"), {"definition": INLINE})
        assert inline.status == 200 and inline.json["outcome"]["result"] == [{"greeting": "hi inline"}], inline
    finally:
        worker.stop()
