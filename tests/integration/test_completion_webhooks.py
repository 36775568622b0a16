"""Completion webhooks: a start names a URL, and when the workflow closes Temporal calls Portico
back (a completion callback) and Portico POSTs the outcome there, signed as Standard Webhooks say.
The signatures are checked by the standardwebhooks package (the specification's own Python
library), not by Portico's code. A receiver that fails gets the delivery later through Temporal's
retries, across a gateway restart too; a target that is not allowed is refused at the start."""

import base64
import json
import os
import time
import uuid

import pytest

import deployment_checks
from conftest import TASK_QUEUE, build_paths, start_gateway
from deployment_checks import Receiver
from devserver import free_port
from http_client import get, post

SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def callback_gateway(path, server, receiver, port=None, **extra):
    port = port or free_port()
    return start_gateway(path, server.address, PORTICO_LISTEN=f"127.0.0.1:{port}", PORTICO_CALLBACK_SECRET=SECRET,
                         PORTICO_CALLBACK_ALLOWED_URLS=f"{receiver.url}/", **extra)


@pytest.fixture(params=build_paths("portico"))
def gateway_path(request):
    return request.param


def start_body(workflow_type, args, webhook):
    return {"workflowType": workflow_type, "taskQueue": TASK_QUEUE, "args": args, "completionWebhook": webhook}


def verified(delivery):
    return deployment_checks.verified(delivery, SECRET)


def test_a_completed_and_a_failed_workflow_are_delivered_once_signed(server, worker, gateway_path, receiver):
    gw = callback_gateway(gateway_path, server, receiver)
    try:
        done, failed = f"cb-{uuid.uuid4()}", f"cb-{uuid.uuid4()}"
        webhook = {"url": f"{receiver.url}/done", "headers": {"Authorization": "Bearer receiver-token"}}
        started = post(f"{gw.url}/api/v1/namespaces/default/workflows/{done}", start_body("Echo", ["hi"], webhook))
        assert started.status == 200, started
        assert post(f"{gw.url}/api/v1/namespaces/default/workflows/{failed}",
                    start_body("Failer", ["boom"], f"{receiver.url}/failed")).status == 200
        deliveries = receiver.wait_for(2)
        time.sleep(2)  # anything more would be a duplicate
        assert len(receiver.deliveries) == 2, receiver.deliveries
        by_path = {d["path"]: d for d in deliveries}
        outcome = verified(by_path["/done"])
        assert outcome == {"namespace": "default", "workflowId": done, "runId": started.json["runId"],
                           "status": "WORKFLOW_EXECUTION_STATUS_COMPLETED", "result": ["hi"]}, outcome
        assert by_path["/done"]["headers"]["authorization"] == "Bearer receiver-token"
        failure = verified(by_path["/failed"])
        assert failure["status"] == "WORKFLOW_EXECUTION_STATUS_FAILED" and "boom" in json.dumps(failure["failure"])
        # The token Temporal keeps with the run is sealed: describe shows neither the target nor its headers.
        described = get(f"{gw.url}/api/v1/namespaces/default/workflows/{done}").text
        assert "receiver-token" not in described and "/done" not in described
    finally:
        gw.stop_cleanly()


def test_a_failing_receiver_gets_it_through_temporals_retries_across_a_gateway_restart(
        server, worker, gateway_path, receiver):
    port = free_port()
    gw = callback_gateway(gateway_path, server, receiver, port=port)
    receiver.status = 503
    workflow = f"cb-{uuid.uuid4()}"
    try:
        assert post(f"{gw.url}/api/v1/namespaces/default/workflows/{workflow}",
                    start_body("Echo", ["later"], f"{receiver.url}/hook")).status == 200
        first = receiver.wait_for(1, answered=503)[0]
        metrics = get(f"{gw.url}/metrics").text
        assert 'portico_completion_webhooks_total{outcome="failed"}' in metrics, metrics
    finally:
        gw.stop_cleanly()
    # With the gateway down, Temporal's attempts fail too; it keeps the callback and tries again.
    receiver.status = 200
    time.sleep(1)
    gw = callback_gateway(gateway_path, server, receiver, port=port)
    try:
        delivered = receiver.wait_for(1, answered=200, timeout=60)
        time.sleep(2)
        assert len([d for d in receiver.deliveries if d["answered"] == 200]) == 1, receiver.deliveries
        assert verified(delivered[0])["result"] == ["later"]
        # Every attempt is the same message: a receiver that saw it drops the repeat.
        assert delivered[0]["headers"]["webhook-id"] == first["headers"]["webhook-id"]
    finally:
        gw.stop_cleanly()


def test_a_target_that_is_not_allowed_is_refused_at_the_start(server, worker, gateway_path, receiver):
    listed = callback_gateway(gateway_path, server, receiver)
    # Without an allowlist: any public https URL, never loopback or private addresses or plain http.
    open_gateway = start_gateway(gateway_path, server.address, PORTICO_CALLBACK_SECRET=SECRET,
                                 PORTICO_CALLBACK_URL="http://127.0.0.1:1")
    off = start_gateway(gateway_path, server.address)
    try:
        cases = [
            (listed, "http://127.0.0.1:1/elsewhere", "not under an allowed URL"),
            (listed, f"{receiver.url}/hooks/../admin", "dot segments"),
            (listed, {"url": f"{receiver.url}/x", "headers": {"webhook-signature": "v1,forged"}}, "sets this header"),
            (listed, {"url": f"{receiver.url}/x", "extra": 1}, "unknown field"),
            (open_gateway, "http://hooks.example.com/x", "must be https"),
            (open_gateway, "https://127.0.0.1/x", "loopback or private"),
            (open_gateway, "https://10.1.2.3/x", "loopback or private"),
            (open_gateway, "https://[::1]/x", "loopback or private"),
            (open_gateway, "https://localhost/x", "loopback or private"),
            (open_gateway, "https://user:pw@hooks.example.com/x", "without user information"),
            (open_gateway, "ftp://hooks.example.com/x", "http(s) URL"),
            (off, "https://hooks.example.com/x", "PORTICO_CALLBACK_SECRET"),
        ]
        for gw, webhook, message in cases:
            workflow = f"cb-refused-{uuid.uuid4()}"
            refused = post(f"{gw.url}/api/v1/namespaces/default/workflows/{workflow}",
                           start_body("Echo", ["x"], webhook))
            assert refused.status == 400 and message in refused.json["message"], (webhook, refused)
            # Nothing was started.
            assert get(f"{gw.url}/api/v1/namespaces/default/workflows/{workflow}").status == 404
        signal_with_start = post(f"{listed.url}/api/v1/namespaces/default/workflows/cb-sws/signal-with-start/add",
                                 start_body("Mailbox", [], f"{receiver.url}/x"))
        assert signal_with_start.status == 400 and "signal-with-start" in signal_with_start.json["message"]
        # Only Portico's gateway may call its callback endpoint with a token it sealed.
        forged = post(f"{listed.url}/callbacks/completion", {}, headers={"Portico-Callback-Token": "AAAA" * 20})
        assert forged.status == 401, forged
    finally:
        for gw in (listed, open_gateway, off):
            gw.stop_cleanly()
    assert receiver.deliveries == []


def test_a_start_that_finds_the_workflow_running_attaches_its_webhook(server, worker, gateway_path, receiver):
    gw = callback_gateway(gateway_path, server, receiver)
    workflow = f"cb-{uuid.uuid4()}"
    url = f"{gw.url}/api/v1/namespaces/default/workflows/{workflow}"
    try:
        first = post(url, {"workflowType": "Mailbox", "taskQueue": TASK_QUEUE, "args": []})
        assert first.status == 200, first
        # Twice, as a client retrying without an Idempotency-Key would: two callbacks, one message.
        for _ in range(2):
            again = post(url, {**start_body("Mailbox", [], f"{receiver.url}/attached"),
                               "workflowIdConflictPolicy": "WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING"})
            assert again.status == 200 and again.json["runId"] == first.json["runId"], again
        assert post(f"{url}/signal/finish", {}).status == 200
        deliveries = receiver.wait_for(2)
        outcome = verified(deliveries[0])
        assert outcome["runId"] == first.json["runId"] and outcome["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED"
        assert deliveries[0]["headers"]["webhook-id"] == deliveries[1]["headers"]["webhook-id"]
    finally:
        gw.stop_cleanly()


def test_a_workflow_a_webhook_starts_reports_its_outcome_too(server, worker, gateway_path, receiver, tmp_path):
    """A webhook route's completionWebhook: an event in, the workflow's outcome out, both signed."""
    routes = {"webhooks": {"inbox": {
        "action": "start", "workflowId": "inbox-{body./n}", "workflowType": "WebhookInbox", "taskQueue": TASK_QUEUE,
        "verify": {"scheme": "bearer", "secrets": ["env:HOOK_TOKEN"]},
        "completionWebhook": {"url": f"{receiver.url}/inbox", "headers": {"X-Team": "payments"}}}}}
    path = tmp_path / "webhooks.json"
    path.write_text(json.dumps(routes))
    gw = callback_gateway(gateway_path, server, receiver, PORTICO_WEBHOOKS_FILE=str(path), HOOK_TOKEN="t0ken")
    try:
        n = uuid.uuid4().hex
        accepted = post(f"{gw.url}/webhooks/inbox", {"n": n}, headers={"Authorization": "Bearer t0ken"})
        assert accepted.status == 202, accepted
        assert post(f"{gw.url}/api/v1/namespaces/default/workflows/inbox-{n}/signal/finish", {}).status == 200
        delivery = receiver.wait_for(1)[0]
        outcome = verified(delivery)
        assert outcome["workflowId"] == f"inbox-{n}" and outcome["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED"
        assert delivery["path"] == "/inbox" and delivery["headers"]["x-team"] == "payments"
    finally:
        gw.stop_cleanly()
    # A route whose target is not allowed does not load.
    routes["webhooks"]["inbox"]["completionWebhook"] = "https://10.0.0.1/x"
    path.write_text(json.dumps(routes))
    refused = start_gateway_expecting_failure(gateway_path, server, receiver, PORTICO_WEBHOOKS_FILE=str(path),
                                              HOOK_TOKEN="t0ken")
    assert "completionWebhook" in refused and "not under an allowed URL" in refused, refused


def start_gateway_expecting_failure(path, server, receiver, **extra):
    import subprocess
    env = dict(os.environ, TEMPORAL_ADDRESS=server.address, PORTICO_LISTEN=f"127.0.0.1:{free_port()}",
               PORTICO_CALLBACK_SECRET=SECRET, PORTICO_CALLBACK_ALLOWED_URLS=f"{receiver.url}/", **extra)
    finished = subprocess.run([path], env=env, capture_output=True, text=True, timeout=30)
    assert finished.returncode != 0
    return finished.stderr


def test_a_chain_of_continued_runs_is_delivered_once_for_its_last_run(server, worker, gateway_path, receiver):
    gw = callback_gateway(gateway_path, server, receiver)
    workflow = f"cb-{uuid.uuid4()}"
    try:
        started = post(f"{gw.url}/api/v1/namespaces/default/workflows/{workflow}",
                       start_body("Looper", [2], f"{receiver.url}/loop"))
        assert started.status == 200, started
        outcome = verified(receiver.wait_for(1)[0])
        time.sleep(2)
        assert len(receiver.deliveries) == 1, receiver.deliveries
        assert outcome["result"] == [3] and outcome["runId"] != started.json["runId"], outcome
        last = get(f"{gw.url}/api/v1/namespaces/default/workflows/{workflow}/result").json
        assert outcome["runId"] == last["runId"], (outcome, last)
    finally:
        gw.stop_cleanly()


def test_a_token_near_its_limit_with_a_long_workflow_id_comes_back_and_is_delivered(
        server, worker, gateway_path, receiver):
    """Temporal hands the token back in a header beside a Nexus-Link that repeats the escaped
    workflow id: both must fit in the gateway's own request headers."""
    import urllib.parse
    gw = callback_gateway(gateway_path, server, receiver)
    workflow = f"cb-{uuid.uuid4()}-" + "a/b c%" * 40
    headers = {"X-A": "a" * 1000, "X-B": "b" * 1000, "X-C": "c" * 500}
    try:
        url = f"{gw.url}/api/v1/namespaces/default/workflows/{urllib.parse.quote(workflow, safe='')}"
        started = post(url, start_body("Echo", ["big"], {"url": f"{receiver.url}/big", "headers": headers}))
        assert started.status == 200, started
        delivery = receiver.wait_for(1)[0]
        assert verified(delivery)["workflowId"] == workflow and delivery["headers"]["x-c"] == "c" * 500
        too_big = post(url.replace("cb-", "cb2-"), start_body("Echo", ["big"], {
            "url": f"{receiver.url}/big", "headers": {**headers, "X-D": "d" * 1000}}))
        assert too_big.status == 400 and "callback token" in too_big.json["message"], too_big
    finally:
        gw.stop_cleanly()
