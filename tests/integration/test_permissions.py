"""Authorization by effect: every row of gateway/permissions.tsv holds on a live gateway (the
permissions a method needs let it through, any one of them missing gets 403), and what a request's
fields can do decides what it needs: a start whose policy terminates, signal-with-start, the
operations of a multi-operation, a batch's operation, a schedule's overlap policy, cluster-wide
routes, and the gRPC metadata a caller may not set."""

import hashlib
import json
import re
import uuid
from pathlib import Path

import pytest

from conftest import TASK_QUEUE, build_paths, start_gateway
from devserver import TOP
from http_client import get, post, request

PERMISSIONS = ("read", "start", "signal", "update", "cancel", "activities", "admin", "cluster")


def read_table():
    """{method: (set of permissions, scope, effect)} from gateway/permissions.tsv."""
    rows = {}
    for line in (TOP / "gateway/permissions.tsv").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            method, permissions, scope, effect = line.split()
            rows[method] = (frozenset(permissions.split(",")), scope, effect)
    return rows


TABLE = read_table()


def key_name(permissions):
    return "+".join(sorted(permissions))


def all_but(permission):
    """Every permission but one (and but admin, which stands for all but cluster)."""
    return frozenset(PERMISSIONS) - {permission} - ({"admin"} if permission != "cluster" else set())


# One key per permission set the table uses, and for each permission a key with all the others.
KEY_SETS = {frozenset(row[0]) for row in TABLE.values()}
KEY_SETS |= {all_but(p) for p in PERMISSIONS}
KEY_SETS |= {frozenset({"start", "read"}), frozenset({"start", "cancel"}), frozenset({"signal", "read"})}
KEYS = {key_name(s): f"k-{key_name(s)}-0123456789" for s in KEY_SETS}
KEYS["default-admin"] = "k-default-admin-0123456789"
KEYS["cluster-admin"] = "k-cluster-admin-0123456789"


def auth_file(path):
    entries = [{"name": name, "sha256": hashlib.sha256(key.encode()).hexdigest(), "namespaces": ["default"],
                "permissions": name.split("+")} for name, key in KEYS.items() if "-admin" not in name]
    entries.append({"name": "default-admin", "sha256": hashlib.sha256(KEYS["default-admin"].encode()).hexdigest(),
                    "namespaces": ["default"], "permissions": ["admin"]})
    entries.append({"name": "cluster-admin", "sha256": hashlib.sha256(KEYS["cluster-admin"].encode()).hexdigest(),
                    "namespaces": ["*"], "permissions": ["admin", "cluster"]})
    path.write_text(json.dumps({"apiKeys": entries}))


def as_key(*permissions):
    return {"Authorization": f"Bearer {KEYS[key_name(permissions)]}"}


def as_named(name):
    return {"Authorization": f"Bearer {KEYS[name]}"}


@pytest.fixture(scope="module", params=build_paths("portico"))
def secured(request, server, worker, tmp_path_factory):
    path = tmp_path_factory.mktemp("permissions") / "auth.json"
    auth_file(path)
    gw = start_gateway(request.param, server.address, PORTICO_AUTH="keys", PORTICO_AUTH_FILE=str(path))
    yield gw
    gw.stop_cleanly()


def concrete(path):
    return re.sub(r"{[^}]+}", lambda m: "default" if m.group(0) == "{namespace}" else "x", path)


def test_every_row_of_the_permission_table_holds(secured):
    spec = get(f"{secured.url}/openapi.json", headers=as_key("read")).json
    checked = set()
    for path, item in spec["paths"].items():
        for verb, operation in item.items():
            method = operation.get("operationId") if isinstance(operation, dict) else None
            if method not in TABLE:
                continue
            needed, _, effect = TABLE[method]
            url = f"{secured.url}{concrete(path)}"
            body = {} if verb != "get" else None
            for missing in needed:
                denied = request(verb.upper(), url, body=body, headers=as_key(*all_but(missing)))
                assert denied.status == 403, (method, missing, denied)
            if effect != "batch":  # an empty batch names no operation, which needs admin (tested below)
                allowed = request(verb.upper(), url, body=body, headers=as_key(*needed))
                # Temporal may refuse too (a feature off on the dev server); Portico let it through.
                assert allowed.status != 403 or "these credentials" not in allowed.text, (method, needed, allowed)
            checked.add(method)
    assert len(checked) > 70


def running(secured, workflow):
    url = f"{secured.url}/namespaces/default/workflows/{workflow}"
    return get(url, headers=as_key("read")).json["workflowExecutionInfo"]["status"]


def sleeper(**extra):
    return {"workflowType": "Sleeper", "taskQueue": TASK_QUEUE, "args": [3600], **extra}


def test_a_start_that_terminates_needs_cancel(secured):
    workflow = f"effects-{uuid.uuid4()}"
    url = f"{secured.url}/namespaces/default/workflows/{workflow}"
    first = post(url, sleeper(), headers=as_key("start", "read"))
    assert first.status == 200, first
    for policy in ({"workflowIdConflictPolicy": "WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING"},
                   {"workflowIdReusePolicy": "WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING"}):
        denied = post(url, sleeper(**policy), headers=as_key("start", "read"))
        assert denied.status == 403 and '"cancel" permission' in denied.json["message"], denied
        assert "terminates the running workflow" in denied.json["message"]
        assert running(secured, workflow) == "WORKFLOW_EXECUTION_STATUS_RUNNING"
    second = post(url, sleeper(workflowIdConflictPolicy="TERMINATE_EXISTING"), headers=as_key("start", "cancel"))
    assert second.status == 200 and second.json["runId"] != first.json["runId"], second
    post(f"{url}/terminate", {}, headers=as_key("start", "cancel"))


def test_signal_with_start_needs_start_and_signal(secured):
    workflow = f"effects-{uuid.uuid4()}"
    url = f"{secured.url}/namespaces/default/workflows/{workflow}/signal-with-start/wake"
    body = sleeper(signalArgs=["hello"])
    assert post(url, body, headers=as_key("start")).status == 403
    assert post(url, body, headers=as_key("signal", "read")).status == 403
    assert post(url, body, headers=as_key("start", "signal")).status == 200
    post(f"{secured.url}/namespaces/default/workflows/{workflow}/terminate", {}, headers=as_key("cancel"))


def test_update_needs_its_own_permission(secured):
    workflow = f"effects-{uuid.uuid4()}"
    url = f"{secured.url}/namespaces/default/workflows/{workflow}"
    assert post(url, sleeper(), headers=as_key("start")).status == 200
    denied = post(f"{url}/update/anything", {"args": [1]}, headers=as_key("signal", "read"))
    assert denied.status == 403 and '"update" permission' in denied.json["message"], denied
    post(f"{url}/terminate", {}, headers=as_key("cancel"))


def test_every_operation_of_a_multi_operation_is_checked(secured):
    workflow = f"effects-{uuid.uuid4()}"
    url = f"{secured.url}/namespaces/default/workflows/execute-multi-operation"
    start = {"namespace": "default", "workflowId": workflow, "workflowType": {"name": "Sleeper"},
             "taskQueue": {"name": TASK_QUEUE}, "requestId": str(uuid.uuid4()),
             "workflowIdConflictPolicy": "WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING"}
    update = {"namespace": "default", "workflowExecution": {"workflowId": workflow},
              "request": {"meta": {"updateId": "u1"}, "input": {"name": "anything"}}}
    body = {"operations": [{"startWorkflow": start}, {"updateWorkflow": update}]}
    denied = post(url, body, headers=as_key("start", "read"))
    assert denied.status == 403 and '"update" permission' in denied.json["message"], denied
    terminating = {"operations": [{"startWorkflow": dict(
        start, workflowIdConflictPolicy="WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING")},
        {"updateWorkflow": update}]}
    denied = post(url, terminating, headers=as_key("start", "read"))
    assert denied.status == 403 and "cancel" in denied.json["message"], denied
    assert get(f"{secured.url}/namespaces/default/workflows/{workflow}", headers=as_key("read")).status == 404


def test_a_batch_needs_what_its_operation_does(secured):
    url = f"{secured.url}/namespaces/default/batch-operations/batch-{uuid.uuid4()}"
    base = {"visibilityQuery": f"WorkflowId = 'none-{uuid.uuid4()}'", "reason": "test"}
    denied = post(url, dict(base, terminationOperation={}), headers=as_key("read"))
    assert denied.status == 403 and '"cancel" permission' in denied.json["message"], denied
    denied = post(url, dict(base, signalOperation={"signal": "wake"}), headers=as_key("read"))
    assert denied.status == 403 and '"signal" permission' in denied.json["message"], denied
    denied = post(url, dict(base, deletionOperation={}), headers=as_key(*all_but("admin")))
    assert denied.status == 403 and '"admin" permission' in denied.json["message"], denied
    allowed = post(url, dict(base, signalOperation={"signal": "wake"}), headers=as_key("signal", "read"))
    assert allowed.status != 403, allowed


def test_a_schedule_that_cancels_or_terminates_needs_cancel(secured):
    schedule = f"schedule-{uuid.uuid4()}"
    url = f"{secured.url}/namespaces/default/schedules/{schedule}"
    body = {"schedule": {
        "spec": {"interval": [{"interval": "3600s"}]},
        "action": {"startWorkflow": {"workflowId": f"{schedule}-wf", "workflowType": {"name": "Echo"},
                                     "taskQueue": {"name": TASK_QUEUE}}},
        "policies": {"overlapPolicy": "SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER"}}, "requestId": str(uuid.uuid4())}
    denied = post(url, body, headers=as_key("start", "read"))
    assert denied.status == 403 and "TERMINATE_OTHER" in denied.json["message"], denied
    assert get(url, headers=as_key("read")).status == 404
    body["schedule"]["policies"]["overlapPolicy"] = "SCHEDULE_OVERLAP_POLICY_SKIP"
    assert post(url, body, headers=as_key("start", "read")).status == 200
    patch = {"patch": {"triggerImmediately": {"overlapPolicy": "SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER"}}}
    denied = post(f"{url}/patch", patch, headers=as_key("start", "read"))
    assert denied.status == 403 and "CANCEL_OTHER" in denied.json["message"], denied
    assert request("DELETE", url, headers=as_key("start", "read")).status == 200


def test_cluster_routes_need_the_cluster_permission(secured):
    namespace = f"ns-{uuid.uuid4().hex[:12]}"
    register = {"namespace": namespace, "workflowExecutionRetentionPeriod": "86400s"}
    denied = post(f"{secured.url}/api/v1/namespaces", register, headers=as_named("default-admin"))
    assert denied.status == 403 and '"cluster" permission' in denied.json["message"], denied
    assert get(f"{secured.url}/cluster", headers=as_named("default-admin")).status == 403
    assert get(f"{secured.url}/cluster", headers=as_named("cluster-admin")).status == 200
    assert post(f"{secured.url}/api/v1/namespaces", register, headers=as_named("cluster-admin")).status == 200
    # A key scoped to one namespace lists only that one; an unscoped one sees the new namespace too.
    scoped = get(f"{secured.url}/api/v1/namespaces", headers=as_key("read"))
    assert scoped.status == 200
    assert [n["namespaceInfo"]["name"] for n in scoped.json["namespaces"]] == ["default"]
    everything = get(f"{secured.url}/api/v1/namespaces", headers=as_named("cluster-admin")).json["namespaces"]
    assert namespace in [n["namespaceInfo"]["name"] for n in everything]
    assert get(f"{secured.url}/api/v1/namespaces/{namespace}", headers=as_named("default-admin")).status == 403


@pytest.mark.parametrize("header", ["Grpc-Metadata-Temporal-Namespace", "Grpc-Metadata-Authorization",
                                    "Grpc-Metadata-Grpc-Timeout", "grpc-metadata-authorization-extras"])
def test_a_caller_may_not_set_what_portico_sets(secured, header):
    url = f"{secured.url}/namespaces/default/workflows/x"
    refused = get(url, headers={**as_key("read"), header: "other"})
    assert refused.status == 400 and "Portico sets this header itself" in refused.json["message"], refused
    assert get(url, headers={**as_key("read"), "Grpc-Metadata-X-Team": "blue"}).status == 404


def test_operator_routes_are_served_to_the_cluster_permission(secured):
    """OperatorService's routes (search attributes, Nexus endpoints), as Temporal's HTTP API serves them."""
    attributes = f"{secured.url}/api/v1/namespaces/default/search-attributes"
    assert get(attributes, headers=as_named("default-admin")).status == 403
    listed = get(attributes, headers=as_named("cluster-admin"))
    assert listed.status == 200 and "WorkflowId" in listed.json["systemAttributes"], listed
    name = f"ep-{uuid.uuid4().hex[:12]}"
    spec = {"spec": {"name": name, "target": {"worker": {"namespace": "default", "taskQueue": TASK_QUEUE}}}}
    assert post(f"{secured.url}/api/v1/nexus/endpoints", spec, headers=as_named("default-admin")).status == 403
    created = post(f"{secured.url}/api/v1/nexus/endpoints", spec, headers=as_named("cluster-admin"))
    assert created.status == 200, created
    endpoint = created.json["endpoint"]
    assert get(f"{secured.url}/cluster/nexus/endpoints/{endpoint['id']}",
               headers=as_named("cluster-admin")).json["endpoint"]["spec"]["name"] == name
    every = get(f"{secured.url}/api/v1/nexus/endpoints", headers=as_named("cluster-admin")).json["endpoints"]
    assert name in [e["spec"]["name"] for e in every]
    deleted = request("DELETE", f"{secured.url}/api/v1/nexus/endpoints/{endpoint['id']}?version={endpoint['version']}",
                      headers=as_named("cluster-admin"))
    assert deleted.status == 200, deleted


def test_the_codec_takes_its_token_and_keys_together(server, worker, tmp_path):
    path = tmp_path / "auth.json"
    auth_file(path)
    keys = "test-key-id=" + __import__("base64").b64encode(b"test-key-test-key-test-key-test!").decode()
    gw = start_gateway(build_paths("portico")[0].values[0], server.address, PORTICO_AUTH="keys",
                       PORTICO_AUTH_FILE=str(path), PORTICO_CODEC_KEYS=keys, PORTICO_CODEC_AUTH_TOKEN="ui-token")
    try:
        body = {"payloads": []}
        # The Web UI passes its own token; an API key with the codec permission works too.
        assert post(f"{gw.url}/codec/decode", body, headers={"Authorization": "Bearer ui-token"}).status == 200
        assert post(f"{gw.url}/codec/decode", body, headers=as_named("default-admin")).status == 200
        assert post(f"{gw.url}/codec/decode", body, headers=as_key("read")).status == 403
        assert post(f"{gw.url}/codec/decode", body, headers={"Authorization": "Bearer wrong"}).status == 401
        # The codec's token opens the codec and nothing else.
        other = get(f"{gw.url}/api/v1/namespaces/default/workflows/x", headers={"Authorization": "Bearer ui-token"})
        assert other.status == 401, other
    finally:
        assert gw.stop() == 0, gw.stderr


def test_a_start_that_waits_needs_read(secured):
    """?wait= answers with the result of whichever run the start found: a read."""
    workflow = f"effects-{uuid.uuid4()}"
    url = f"{secured.url}/namespaces/default/workflows/{workflow}?wait=5s"
    denied = post(url, sleeper(), headers=as_key("start"))
    assert denied.status == 403 and '"read" permission' in denied.json["message"], denied
    assert get(f"{secured.url}/namespaces/default/workflows/{workflow}", headers=as_key("read")).status == 404


def test_a_start_with_a_completion_webhook_needs_read(secured):
    """A completion webhook sends the workflow's result out, to whichever run the start finds."""
    workflow = f"effects-{uuid.uuid4()}"
    url = f"{secured.url}/namespaces/default/workflows/{workflow}"
    denied = post(url, sleeper(completionWebhook="https://hooks.example.com/x"), headers=as_key("start"))
    assert denied.status == 403 and '"read" permission' in denied.json["message"], denied
    assert "completionWebhook" in denied.json["message"]
    # Callbacks a caller writes itself make Temporal call any address it allows: admin's.
    raw = sleeper(completionCallbacks=[{"nexus": {"url": "http://127.0.0.1:1/x"}}])
    denied = post(url, raw, headers=as_key("start", "read"))
    assert denied.status == 403 and '"admin" permission' in denied.json["message"], denied
    assert get(url, headers=as_key("read")).status == 404


def test_what_a_reset_does_afterwards_is_checked(secured):
    workflow = f"effects-{uuid.uuid4()}"
    url = f"{secured.url}/namespaces/default/workflows/{workflow}"
    assert post(url, sleeper(), headers=as_key("start")).status == 200
    reset = {"workflowTaskFinishEventId": "3", "reason": "test", "requestId": str(uuid.uuid4()),
             "postResetOperations": [{"signalWorkflow": {"signalName": "wake"}}]}
    denied = post(f"{url}/reset", reset, headers=as_key(*all_but("signal")))
    assert denied.status == 403 and '"signal" permission' in denied.json["message"], denied
    batch = {"visibilityQuery": f"WorkflowId = '{workflow}'", "reason": "test",
             "resetOperation": {"postResetOperations": [{"updateWorkflowOptions": {}}]}}
    denied = post(f"{secured.url}/namespaces/default/batch-operations/batch-{uuid.uuid4()}", batch,
                  headers=as_key(*all_but("admin")))
    assert denied.status == 403 and '"admin" permission' in denied.json["message"], denied
    post(f"{url}/terminate", {}, headers=as_key("cancel"))


def test_a_schedule_trigger_without_a_policy_and_an_eager_start_are_checked(secured):
    url = f"{secured.url}/namespaces/default/schedules/schedule-{uuid.uuid4()}/patch"
    denied = post(url, {"patch": {"triggerImmediately": {}}}, headers=as_key("start", "read"))
    assert denied.status == 403 and "left unset" in denied.json["message"], denied
    allowed = post(url, {"patch": {"triggerImmediately": {"overlapPolicy": "SCHEDULE_OVERLAP_POLICY_SKIP"}}},
                   headers=as_key("start", "read"))
    assert allowed.status != 403, allowed  # (404: no such schedule)
    eager = post(f"{secured.url}/namespaces/default/workflows/eager-{uuid.uuid4()}",
                 sleeper(requestEagerExecution=True, identity="test"), headers=as_key("start", "read"))
    assert eager.status == 403 and "requestEagerExecution" in eager.json["message"], eager


def test_passthrough_with_a_gateway_key_does_not_start(server):
    from test_auth import run_gateway
    refused = run_gateway(PORTICO_AUTH="passthrough", TEMPORAL_API_KEY="gateway-key",
                          TEMPORAL_ADDRESS=server.address)
    assert refused.returncode != 0 and "unset one of them" in refused.stderr, refused.stderr
