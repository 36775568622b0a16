"""Webhook routes against a real dev server: every signature scheme, with signatures computed here
from each sender's published algorithm; replays, tampering and stale timestamps refused; one
workflow per delivery however often it is delivered; a signal reaching a running Python-SDK
workflow; configuration errors refused at start-up."""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import subprocess
import time
import uuid

import pytest
from temporalio.client import Client

from conftest import TASK_QUEUE, build_paths, start_gateway
from http_client import get, github_delivery, request

GITHUB = ["gh-secret-old", "gh-secret-new"]
STRIPE = "whsec_stripe_test"
SLACK = "slack-signing-secret"
STANDARD = "whsec_" + base64.b64encode(b"standard-webhooks-key-32-bytes!!").decode()
SHARED = "generic-hmac-secret"
TOKEN = "bearer-token-123"

SECRETS = {"GH_OLD": GITHUB[0], "GH_NEW": GITHUB[1], "STRIPE_SECRET": STRIPE, "SLACK_SECRET": SLACK,
           "STANDARD_SECRET": STANDARD, "SHARED_SECRET": SHARED, "HOOK_TOKEN": TOKEN}


def route(action="start", verify=None, **extra):
    config = {"action": action, "workflowId": "{delivery}", "verify": verify}
    if action != "signal":
        config.update(workflowType="WebhookInbox", taskQueue=TASK_QUEUE)
    config.update(extra)
    return config


CONFIG = {"webhooks": {
    "github": route(workflowId="github-{header.X-GitHub-Delivery}",
                    verify={"scheme": "github", "secrets": ["env:GH_OLD", "env:GH_NEW"]},
                    input={"headers": ["X-GitHub-Event"]},
                    filters=[{"value": "{header.X-GitHub-Event}", "in": ["push"]}]),
    "stripe": route(workflowId="stripe-{body./id}", verify={"scheme": "stripe", "secrets": ["env:STRIPE_SECRET"]},
                    input={"pointer": "/data/object"}),
    "slack": route(workflowId="slack-{body./event_id}", verify={"scheme": "slack", "secrets": ["env:SLACK_SECRET"]}),
    "standard": route(workflowId="std-{delivery}",
                      verify={"scheme": "standard", "secrets": ["env:STANDARD_SECRET"], "toleranceSeconds": 60}),
    "hmac-sha1": route(workflowId="sha1-{body./n}",
                       verify={"scheme": "hmac", "secrets": ["env:SHARED_SECRET"], "header": "X-Sig",
                               "algorithm": "sha1", "encoding": "base64"}),
    "hmac-sha256": route(workflowId="sha256-{body./n}",
                         verify={"scheme": "hmac", "secrets": ["env:SHARED_SECRET"], "header": "X-Signature",
                                 "prefix": "sha256="}),
    "bearer": route(workflowId="bearer-{body./n}", verify={"scheme": "bearer", "secrets": ["env:HOOK_TOKEN"]}),
    "order": route(workflowId="order-{body./order}", verify={"scheme": "github", "secrets": ["env:GH_OLD"]}),
    "signal": route("signal", workflowId="{body./target}", signal="add",
                    verify={"scheme": "bearer", "secrets": ["env:HOOK_TOKEN"]}, input={"pointer": "/value"}),
    "signal-with-start": route("signal-with-start", workflowId="sws-{body./n}", signal="add",
                               verify={"scheme": "bearer", "secrets": ["env:HOOK_TOKEN"]}),
}}


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("webhooks") / "webhooks.json"
    path.write_text(json.dumps(CONFIG))
    return path


@pytest.fixture(scope="module", params=build_paths("portico"))
def hooks(request, server, worker, config_file):
    gw = start_gateway(request.param, server.address, PORTICO_WEBHOOKS_FILE=str(config_file), **SECRETS)
    yield gw
    gw.stop_cleanly()
    for secret in SECRETS.values():  # never in the logs
        assert secret not in gw.stderr and secret not in gw.stdout


def hex_hmac(secret, message, digest=hashlib.sha256):
    key = secret if isinstance(secret, bytes) else secret.encode()
    return hmac.new(key, message, digest).hexdigest()


def send(gw, name, body, headers):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return request("POST", f"{gw.url}/webhooks/{name}", raw=raw,
                   headers={"Content-Type": "application/json", **headers})


def github(gw, body, secret=GITHUB[0], delivery=None, event="push", raw=None):
    raw = raw if raw is not None else json.dumps(body).encode()
    return github_delivery(gw.url, "github", raw, secret, delivery, event)


def describe(server, workflow_id):
    async def main():
        client = await Client.connect(server.address)
        handle = client.get_workflow_handle(workflow_id)
        description = await handle.describe()
        history = [event async for event in handle.fetch_history_events()]
        return description, history
    return asyncio.run(main())


def finish(server, workflow_id):
    async def main():
        client = await Client.connect(server.address)
        handle = client.get_workflow_handle(workflow_id)
        await handle.signal("finish")
        return await handle.result()
    return asyncio.run(main())


def test_github_push_starts_a_workflow_with_the_event(hooks, server):
    delivery = str(uuid.uuid4())
    response = github(hooks, {"ref": "refs/heads/main", "commits": 2}, delivery=delivery)
    assert response.status == 202, response
    assert response.json["workflowId"] == f"github-{delivery}" and response.json["runId"]
    description, _ = describe(server, f"github-{delivery}")
    assert description.run_id == response.json["runId"]
    assert finish(server, f"github-{delivery}") == {"event": {"ref": "refs/heads/main", "commits": 2},
                                                    "headers": {"X-GitHub-Event": "push"}, "signals": []}


def test_the_arguments_are_plain_json_and_the_identity_names_the_route(hooks, server):
    delivery = str(uuid.uuid4())
    assert github(hooks, {"ref": "refs/heads/dev"}, delivery=delivery).status == 202
    _, history = describe(server, f"github-{delivery}")
    started = history[0].workflow_execution_started_event_attributes
    values = [json.loads(payload.data) for payload in started.input.payloads]
    assert values == [{"ref": "refs/heads/dev"}, {"X-GitHub-Event": "push"}]
    assert started.identity == "portico-webhook/github"
    finish(server, f"github-{delivery}")


def test_github_rejections(hooks):
    body = {"ref": "refs/heads/main"}
    assert github(hooks, body, secret="not-the-secret").status == 401
    raw = json.dumps(body).encode()
    signed_for = {"X-GitHub-Delivery": "d1", "X-GitHub-Event": "push",
                  "X-Hub-Signature-256": "sha256=" + hex_hmac(GITHUB[0], raw)}
    tampered = send(hooks, "github", raw.replace(b"main", b"evil"), signed_for)
    assert tampered.status == 401
    assert tampered.json == {"code": 16, "message": "invalid or missing webhook signature"}
    assert send(hooks, "github", raw, {"X-GitHub-Delivery": "d2", "X-GitHub-Event": "push"}).status == 401
    assert "webhook signature rejected" in hooks.errors_so_far()


def test_a_rotated_secret_is_accepted(hooks, server):
    delivery = str(uuid.uuid4())
    assert github(hooks, {"n": 1}, secret=GITHUB[1], delivery=delivery).status == 202
    finish(server, f"github-{delivery}")


def test_a_redelivery_starts_nothing_new(hooks, server):
    delivery = str(uuid.uuid4())
    first = github(hooks, {"n": 1}, delivery=delivery)
    again = github(hooks, {"n": 1}, delivery=delivery)
    assert first.status == again.status == 202
    assert first.json == again.json

    async def runs():
        client = await Client.connect(server.address)
        return [w async for w in client.list_workflows(f"WorkflowId = 'github-{delivery}'")]
    finish(server, f"github-{delivery}")
    # A redelivery after the workflow closed is still the same request: still one run.
    assert github(hooks, {"n": 1}, delivery=delivery).json == first.json
    assert len(asyncio.run(runs())) == 1


def test_two_deliveries_for_one_workflow_id_start_it_once(hooks, server):
    """A business key shared by several events: the second is received (202), starts nothing,
    and says so; a 409 would only make the sender retry for days."""
    order = uuid.uuid4().hex
    raw = json.dumps({"order": order, "event": "created"}).encode()
    first = send(hooks, "order", raw, {"X-GitHub-Delivery": "a", "X-Hub-Signature-256": "sha256=" + hex_hmac(GITHUB[0], raw)})
    raw2 = json.dumps({"order": order, "event": "paid"}).encode()
    second = send(hooks, "order", raw2, {"X-GitHub-Delivery": "b",
                                         "X-Hub-Signature-256": "sha256=" + hex_hmac(GITHUB[0], raw2)})
    assert first.status == second.status == 202
    assert second.json == {"workflowId": f"order-{order}", "alreadyStarted": True}
    assert finish(server, f"order-{order}")["event"]["event"] == "created"


def test_filtered_events_are_acknowledged_and_ignored(hooks):
    response = github(hooks, {"zen": "hi"}, event="ping")
    assert response.status == 202
    assert response.json == {"ignored": True, "filter": "{header.X-GitHub-Event}"}


def stripe_headers(raw, timestamp=None, secrets=(STRIPE,)):
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + raw
    return {"Stripe-Signature": f"t={timestamp}," + ",".join(f"v1={hex_hmac(s, signed)}" for s in secrets)}


def test_stripe(hooks, server):
    event_id = f"evt_{uuid.uuid4().hex}"
    raw = json.dumps({"id": event_id, "type": "payment_intent.succeeded",
                      "data": {"object": {"id": "pi_1", "amount": 4200}}}).encode()
    # Several v1 signatures (Stripe sends one per secret during rotation): one match is enough.
    response = send(hooks, "stripe", raw, stripe_headers(raw, secrets=("other-secret", STRIPE)))
    assert response.status == 202, response
    assert response.json["workflowId"] == f"stripe-{event_id}"
    _, history = describe(server, f"stripe-{event_id}")
    payloads = history[0].workflow_execution_started_event_attributes.input.payloads
    assert json.loads(payloads[0].data) == {"id": "pi_1", "amount": 4200}
    finish(server, f"stripe-{event_id}")

    now = int(time.time())
    assert send(hooks, "stripe", raw, stripe_headers(raw, timestamp=now - 301)).status == 401
    assert send(hooks, "stripe", raw, stripe_headers(raw, timestamp=now + 400)).status == 401
    assert send(hooks, "stripe", raw, stripe_headers(raw, secrets=("wrong",))).status == 401
    assert send(hooks, "stripe", raw, {}).status == 401


def slack_headers(raw, timestamp=None, secret=SLACK):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": "v0=" + hex_hmac(secret, f"v0:{timestamp}:".encode() + raw)}


def test_slack_and_its_url_verification(hooks, server):
    raw = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aB"}).encode()
    response = send(hooks, "slack", raw, slack_headers(raw))
    assert response.status == 200 and response.json == {"challenge": "3eZbrw1aB"}

    event_id = f"Ev{uuid.uuid4().hex[:10]}"
    raw = json.dumps({"type": "event_callback", "event_id": event_id, "event": {"type": "app_mention"}}).encode()
    response = send(hooks, "slack", raw, slack_headers(raw))
    assert response.status == 202 and response.json["workflowId"] == f"slack-{event_id}"
    finish(server, f"slack-{event_id}")
    assert send(hooks, "slack", raw, slack_headers(raw, timestamp=int(time.time()) - 600)).status == 401
    assert send(hooks, "slack", raw, slack_headers(raw, secret="wrong")).status == 401


def standard_headers(raw, message_id, timestamp=None, signatures=None):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    key = base64.b64decode(STANDARD[len("whsec_"):])
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + raw, hashlib.sha256).digest()
    good = "v1," + base64.b64encode(mac).decode()
    return {"webhook-id": message_id, "webhook-timestamp": timestamp,
            "webhook-signature": " ".join(signatures or []) + (" " if signatures else "") + good}


def test_only_the_first_few_signatures_count(hooks, server):
    """Standard Webhooks senders send one signature per live secret; the gateway looks at the
    first eight, so a header stuffed with candidates costs comparisons, not work per candidate."""
    raw = json.dumps({"data": "flood"}).encode()
    within = standard_headers(raw, f"msg_{uuid.uuid4().hex}", signatures=["v1,bm90IHRoaXMgb25l"] * 7)
    past = standard_headers(raw, f"msg_{uuid.uuid4().hex}", signatures=["v1,bm90IHRoaXMgb25l"] * 20)
    accepted = send(hooks, "standard", raw, within)
    assert accepted.status == 202
    assert send(hooks, "standard", raw, past).status == 401
    finish(server, accepted.json["workflowId"])


def test_standard_webhooks(hooks, server):
    message_id = f"msg_{uuid.uuid4().hex}"
    raw = json.dumps({"type": "invoice.paid", "data": {"n": 1}}).encode()
    headers = standard_headers(raw, message_id, signatures=["v1,bm90IHRoaXMgb25l", "v2,ignored"])
    first = send(hooks, "standard", raw, headers)
    assert first.status == 202, first
    assert first.json["workflowId"] == f"std-{message_id}"
    assert send(hooks, "standard", raw, headers).json == first.json  # webhook-id dedupes
    finish(server, f"std-{message_id}")

    stale = standard_headers(raw, message_id, timestamp=int(time.time()) - 61)
    assert send(hooks, "standard", raw, stale).status == 401
    future = standard_headers(raw, message_id, timestamp=int(time.time()) + 61)
    assert send(hooks, "standard", raw, future).status == 401
    forged = dict(headers, **{"webhook-signature": "v1,bm90IHRoaXMgb25l"})
    assert send(hooks, "standard", raw, forged).status == 401
    assert send(hooks, "standard", raw.replace(b"paid", b"void"), headers).status == 401


def test_generic_hmac_and_bearer(hooks, server):
    n = uuid.uuid4().hex
    raw = json.dumps({"n": n}).encode()
    sha1 = base64.b64encode(hmac.new(SHARED.encode(), raw, hashlib.sha1).digest()).decode()
    assert send(hooks, "hmac-sha1", raw, {"X-Sig": sha1}).status == 202
    assert send(hooks, "hmac-sha1", raw, {"X-Sig": sha1[:-4] + "AAA="}).status == 401
    upper = "SHA256=" + hex_hmac(SHARED, raw).upper()  # senders vary in case
    assert send(hooks, "hmac-sha256", raw, {"X-Signature": upper}).status == 202
    assert send(hooks, "hmac-sha256", raw, {"X-Signature": hex_hmac(SHARED, raw)}).status == 401  # no prefix
    assert send(hooks, "bearer", raw, {"Authorization": f"Bearer {TOKEN}"}).status == 202
    assert send(hooks, "bearer", raw, {"Authorization": "Bearer nope"}).status == 401
    assert send(hooks, "bearer", raw, {}).status == 401
    for workflow_id in (f"sha1-{n}", f"sha256-{n}", f"bearer-{n}"):
        finish(server, workflow_id)


def test_a_signal_route_reaches_a_running_python_workflow(hooks, server):
    workflow_id = f"mailbox-{uuid.uuid4()}"

    async def main():
        client = await Client.connect(server.address)
        handle = await client.start_workflow("Mailbox", id=workflow_id, task_queue=TASK_QUEUE)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        response = send(hooks, "signal", {"target": workflow_id, "value": {"paid": True}}, auth)
        assert response.status == 202, response
        assert response.json == {"workflowId": workflow_id}
        assert await handle.query("state") == {"signals": [{"paid": True}], "stage": "new"}
        await handle.signal("finish")
        return await handle.result()

    assert asyncio.run(main())["signals"] == [{"paid": True}]


def test_signal_with_start(hooks, server):
    n = uuid.uuid4().hex
    auth = {"Authorization": f"Bearer {TOKEN}"}
    first = send(hooks, "signal-with-start", {"n": n, "i": 1}, auth)
    second = send(hooks, "signal-with-start", {"n": n, "i": 2}, auth)
    assert first.status == second.status == 202
    assert first.json["runId"] == second.json["runId"]
    assert finish(server, f"sws-{n}")["signals"] == [{"n": n, "i": 1}, {"n": n, "i": 2}]
    # The event goes to the signal only: the workflow starts without arguments.
    events = get(f"{hooks.url}/api/v1/namespaces/default/workflows/sws-{n}/history").json["history"]["events"]
    assert "input" not in events[0]["workflowExecutionStartedEventAttributes"], events[0]


def test_unusable_deliveries_get_clear_errors(hooks):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    missing = send(hooks, "bearer", {"no": "n"}, auth)
    assert missing.status == 400
    assert missing.json["message"] == 'workflow id: the body has no value at "/n"'
    assert send(hooks, "signal", {"target": "x"}, auth).status == 400  # no /value
    big = send(hooks, "bearer", {"n": "big", "blob": "x" * (2 * 1024 * 1024 + 10)}, auth)
    assert big.status == 413, big
    assert request("POST", f"{hooks.url}/webhooks/nope", raw=b"{}").status == 404
    wrong_method = get(f"{hooks.url}/webhooks/github")
    assert wrong_method.status == 405 and wrong_method.headers["Allow"] == "POST"


def test_temporal_down_answers_503_so_the_sender_retries(config_file):
    gw = start_gateway(build_paths("portico")[0].values[0], "127.0.0.1:1", PORTICO_WEBHOOKS_FILE=str(config_file),
                       PORTICO_CALL_TIMEOUT="2s", **SECRETS)
    try:
        response = send(gw, "bearer", {"n": "down"}, {"Authorization": f"Bearer {TOKEN}"})
        assert response.status == 503, response
    finally:
        gw.stop()


@pytest.mark.parametrize("change, message", [
    ({"action": "launch"},
     'webhook "bad": action: expected "start", "start-flow", "signal" or "signal-with-start"'),
    ({"workflowid": "x"}, 'webhook "bad": route: unknown field "workflowid"'),
    ({"workflowId": "{header}"}, 'webhook "bad": workflowId: unknown placeholder {header}'),
    ({"verify": {"scheme": "github", "secrets": ["env:NOT_SET_ANYWHERE"]}},
     'webhook "bad": verify.secrets[0]: environment variable NOT_SET_ANYWHERE is not set'),
    ({"verify": {"scheme": "github", "secrets": ["literal-secret"]}},
     'webhook "bad": verify.secrets[0]: expected "env:NAME" or "file:/path"'),
    ({"verify": {"scheme": "standard", "secrets": ["env:GH_OLD"]}},
     'webhook "bad": verify.secrets[0]: the secret from env:GH_OLD is not "whsec_" + base64'),
    ({"verify": {"scheme": "md5", "secrets": ["env:GH_OLD"]}}, 'webhook "bad": verify.scheme: expected one of'),
    ({"filters": [{"value": "{delivery}"}]}, 'webhook "bad": filters[0]: expected an array of strings'),
    ({"taskQueue": None}, 'webhook "bad": taskQueue: is required'),
    ({"verify": {"scheme": "github", "secrets": ["env:GH_OLD"], "toleranceSeconds": 60}},
     'webhook "bad": verify.toleranceSeconds: only stripe, slack and standard signatures carry a timestamp'),
    ({"verify": {"scheme": "stripe", "secrets": ["env:GH_OLD"], "toleranceSeconds": 10 ** 12}},
     'webhook "bad": verify.toleranceSeconds: at most 86400'),
    ({"verify": {"scheme": "bearer", "secrets": ["env:GH_OLD"]}},
     'webhook "bad": workflowId: uses {delivery}, but this scheme has no delivery id: set deliveryId'),
    ({"input": {"headers": ["authorization"]}}, 'webhook "bad": route: the Authorization header carries a secret'),
    ({"action": "signal", "workflowType": None, "taskQueue": None, "signal": "s", "timeouts": {"runSeconds": 5}},
     'webhook "bad": timeouts: a signal route starts nothing'),
    ({"verify": {"scheme": "standard", "secrets": ["env:EMPTY_WHSEC"]}},
     'webhook "bad": verify.secrets[0]: the secret from env:EMPTY_WHSEC is not "whsec_" + base64'),
])
def test_a_bad_config_file_stops_start_up(tmp_path, change, message):
    config = route(workflowId="x-{delivery}", verify={"scheme": "github", "secrets": ["env:GH_OLD"]})
    config.update(change)
    config = {k: v for k, v in config.items() if v is not None}
    path = tmp_path / "webhooks.json"
    path.write_text(json.dumps({"webhooks": {"bad": config}}))
    completed = subprocess.run([build_paths("portico")[0].values[0]], capture_output=True, text=True, timeout=30,
                               env=dict(os.environ, PORTICO_WEBHOOKS_FILE=str(path), PORTICO_LISTEN="127.0.0.1:0",
                                        EMPTY_WHSEC="whsec_", **SECRETS))
    assert completed.returncode != 0
    assert message in completed.stderr, completed.stderr
    assert "gh-secret" not in completed.stderr


def readme_webhook_recipe():
    """The README's signed-delivery recipe (the sh block of its Webhooks section), as written."""
    from devserver import TOP
    readme = (TOP / "README.md").read_text()
    section = readme[readme.index("### Webhooks"):]
    block = section[section.index("```sh\n") + 6:]
    return block[:block.index("```")]


def test_the_example_config_and_the_readme_curl(server, worker, tmp_path):
    """examples/webhooks.json (what `make run` serves) with the signed curl the README shows, run
    as written from a checkout where `make run` left its secret."""
    from devserver import TOP
    (tmp_path / ".run").mkdir()
    (tmp_path / ".run/dev-github-webhook-secret").write_text("s3cret\n")
    gw = start_gateway(build_paths("portico")[0].values[0], server.address,
                       PORTICO_WEBHOOKS_FILE=str(TOP / "examples/webhooks.json"), GITHUB_WEBHOOK_SECRET="s3cret",
                       PORTICO_FLOWS_DIR=str(TOP / "examples/flows"))  # its start-flow route's flow
    try:
        script = readme_webhook_recipe().replace("localhost:8080", f"127.0.0.1:{gw.port}")
        completed = subprocess.run(["bash", "-euc", script], capture_output=True, text=True, cwd=tmp_path,
                                   env=dict(os.environ, SECRET=""))
        assert completed.returncode == 0, completed
        answer = json.loads(completed.stdout)
        assert answer["workflowId"] == "github-push-acme/shop-refs/heads/main-9f2c1e7d5b3a41c8a0e6d4b2f1e3c5a7b9d1f3e5"
        assert answer["runId"], answer
    finally:
        assert gw.stop() == 0


def test_the_example_route_takes_no_id_from_unsigned_headers(server):
    """GitHub signs the body, not X-GitHub-Delivery: a captured push sent again with a new
    delivery header starts no second workflow, neither while the first runs nor after it closed."""
    from devserver import TOP
    gw = start_gateway(build_paths("portico")[0].values[0], server.address,
                       PORTICO_WEBHOOKS_FILE=str(TOP / "examples/webhooks.json"), GITHUB_WEBHOOK_SECRET="s3cret",
                       PORTICO_FLOWS_DIR=str(TOP / "examples/flows"))  # its start-flow route's flow
    commit = uuid.uuid4().hex + "0" * 8
    raw = json.dumps({"ref": "refs/heads/main", "after": commit, "repository": {"full_name": "acme/shop"}}).encode()
    workflow_id = f"github-push-acme/shop-refs/heads/main-{commit}"

    async def terminate():
        client = await Client.connect(server.address)
        await client.get_workflow_handle(workflow_id).terminate("the test is done with it")

    async def latest_run():
        client = await Client.connect(server.address)
        description = await client.get_workflow_handle(workflow_id).describe()
        return description.run_id, description.status.name

    try:
        first = github_delivery(gw.url, "github-push", raw, "s3cret")
        assert first.status == 202 and first.json["workflowId"] == workflow_id and first.json["runId"], first
        replayed = github_delivery(gw.url, "github-push", raw, "s3cret", delivery=str(uuid.uuid4()))
        assert replayed.status == 202 and replayed.json == first.json, replayed
        asyncio.run(terminate())
        again = github_delivery(gw.url, "github-push", raw, "s3cret", delivery=str(uuid.uuid4()))
        assert again.status == 202 and again.json == first.json, again
        # Still the first run, terminated: nothing new started.
        assert asyncio.run(latest_run()) == (first.json["runId"], "TERMINATED")
        # A body without the commit (GitHub's ping, or another event sent as a push) starts nothing.
        ping = github_delivery(gw.url, "github-push", json.dumps({"zen": "hi", "hook_id": 1}).encode(), "s3cret")
        assert ping.status == 400 and "/repository/full_name" in ping.json["message"], ping
    finally:
        assert gw.stop() == 0
