"""The examples (examples/), run as `make run` runs them and driven with HTTP as their READMEs
say: a dev server of their own, the gateway with the examples' webhooks, Portico's worker with
the examples' C activities on task queue "portico", and the example workflow worker on
"portico-examples", all with one codec key.

Each run's history is then replayed with the Python SDK's replayer, and so are the histories
committed in examples/workflows/histories/: a change to an example workflow that is not
deterministic fails here. PORTICO_RECORD_HISTORIES=1 rewrites the committed ones (after a change
that is meant to be incompatible, with the workflow's version bumped)."""

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest
from temporalio.worker import Replayer
from temporalio.client import WorkflowHistory

from conftest import build_paths, start_gateway
from devserver import TOP, DevServer
from examples_stack import (EXAMPLES, WEBHOOK_SECRET, api, build, converter, query, record as record_in,
                            running_examples, start_and_wait)
from http_client import get, github_delivery, post

HISTORIES = EXAMPLES / "workflows/histories"

sys.path.insert(0, str(EXAMPLES / "workflows"))
import worker as example_worker  # noqa: E402


@pytest.fixture(scope="module")
def examples():
    """Everything `make run` starts, on free ports; yields the gateway's base URL."""
    libraries = build() / "examples"
    with running_examples(["--activities", str(libraries / "liborder.so"), "--activities",
                           str(libraries / "libgreet.so")]) as running:
        yield running


def record(examples, name, workflow_id):
    record_in(examples, HISTORIES, name, workflow_id)


# ---- The order saga ---------------------------------------------------------------------------

def saga(examples, order):
    workflow_id = f"order-{order['orderId']}"
    answer = start_and_wait(examples, workflow_id, {"workflowType": "OrderSaga", "taskQueue": "portico-examples",
                                                    "args": [order]})
    assert answer["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", answer
    return workflow_id, answer["result"][0]


def test_the_saga_completes_every_step(examples):
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    workflow_id, result = saga(examples, {"orderId": order_id, "items": ["book"], "amount": 42.5})
    assert result == {"orderId": order_id, "status": "completed", "reservationId": f"rsv-{order_id}",
                      "paymentId": f"pay-{order_id}", "amount": 42.5, "trackingNumber": f"trk-{order_id}",
                      "progress": ["reserved", "charged", "shipped"]}
    record(examples, "order-saga-completed", workflow_id)


def test_a_failed_shipment_refunds_then_releases(examples):
    """The failure injected at the last step undoes the earlier ones in reverse order."""
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    workflow_id, result = saga(examples, {"orderId": order_id, "amount": 10, "failAt": "ship"})
    assert result["status"] == "compensated" and result["failedStep"] == "ship", result
    assert result["error"]["type"] == "CarrierUnavailable", result
    assert result["compensations"] == [{"refunded": f"pay-{order_id}", "amount": 10},
                                       {"released": f"rsv-{order_id}"}]
    assert result["progress"] == ["reserved", "charged", "ship failed", "refunded", "released"]
    assert query(examples, workflow_id, "progress") == result["progress"]
    record(examples, "order-saga-compensated", workflow_id)


def test_a_declined_card_releases_the_reservation_only(examples):
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    _, result = saga(examples, {"orderId": order_id, "amount": 10, "failAt": "charge"})
    assert result["failedStep"] == "charge" and result["error"]["type"] == "CardDeclined", result
    assert result["compensations"] == [{"released": f"rsv-{order_id}"}]


def test_a_saga_cancelled_half_way_undoes_what_it_did(examples):
    """Cancelled during the charge (each step takes 1.5 s here), the saga refunds (the charge may
    have gone through) and releases, then ends as cancelled."""
    order_id = f"o-{uuid.uuid4().hex[:8]}"
    workflow_id = f"order-{order_id}"
    started = post(api(examples, f"/{workflow_id}"), {"workflowType": "OrderSaga", "taskQueue": "portico-examples",
                                                      "args": [{"orderId": order_id, "amount": 7, "delayMs": 1500}]})
    assert started.status == 200, started
    deadline = time.monotonic() + 30
    while "reserved" not in query(examples, workflow_id, "progress"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    cancelled = post(api(examples, f"/{workflow_id}/cancel"), {"reason": "customer changed their mind"})
    assert cancelled.status == 200, cancelled
    result = get(api(examples, f"/{workflow_id}/result?timeout=60s"))
    assert result.status == 200 and result.json["status"] == "WORKFLOW_EXECUTION_STATUS_CANCELED", result
    assert query(examples, workflow_id, "progress") == ["reserved", "cancelled during charge", "refunded",
                                                        "released"]
    record(examples, "order-saga-cancelled", workflow_id)


def test_an_order_without_an_id_fails_the_saga_for_good(examples):
    answer = start_and_wait(examples, f"order-bad-{uuid.uuid4().hex[:8]}",
                            {"workflowType": "OrderSaga", "taskQueue": "portico-examples", "args": [{"amount": 3}]})
    assert answer["status"] == "WORKFLOW_EXECUTION_STATUS_FAILED", answer
    assert "orderId" in json.dumps(answer["failure"]), answer


# ---- Human approval ---------------------------------------------------------------------------

def test_an_approval_waits_for_a_decision_and_takes_validated_changes(examples):
    workflow_id = f"approval-{uuid.uuid4().hex[:8]}"
    started = post(api(examples, f"/{workflow_id}"), {"workflowType": "Approval", "taskQueue": "portico-examples",
                                                      "args": [{"title": "new laptop", "amount": 1800}]})
    assert started.status == 200, started
    assert query(examples, workflow_id, "state")["status"] == "pending"

    # As in Temporal's HTTP API, a rejected update is an outcome: 200 with outcome.failure.
    refused = post(api(examples, f"/{workflow_id}/update/setAmount"), {"args": [{"amount": -5, "by": "bob"}]})
    assert refused.status == 200, refused
    assert refused.json["outcome"]["failure"]["message"].startswith("amount must be a number"), refused
    changed = post(api(examples, f"/{workflow_id}/update/setAmount"), {"args": [{"amount": 1500, "by": "bob"}]})
    assert changed.status == 200, changed
    assert changed.json["outcome"]["success"][0]["amount"] == 1500, changed

    signal = post(api(examples, f"/{workflow_id}/signal/approve"), {"args": [{"by": "alice", "comment": "ok"}]})
    assert signal.status == 200, signal
    result = get(api(examples, f"/{workflow_id}/result?timeout=30s"))
    assert result.status == 200 and result.json["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", result
    assert result.json["result"] == [{"title": "new laptop", "amount": 1500, "status": "approved",
                                      "decision": {"by": "alice", "comment": "ok"},
                                      "changes": [{"from": 1800, "to": 1500, "by": "bob"}]}]
    late = post(api(examples, f"/{workflow_id}/update/setAmount"), {"args": [{"amount": 1, "by": "eve"}]})
    assert late.status >= 400, late  # a closed workflow takes no update
    record(examples, "approval-approved", workflow_id)


def test_an_approval_with_a_bad_timeout_fails_for_good(examples):
    answer = start_and_wait(examples, f"approval-{uuid.uuid4().hex[:8]}",
                            {"workflowType": "Approval", "taskQueue": "portico-examples",
                             "args": [{"title": "never", "timeoutSeconds": "soon"}]})
    assert answer["status"] == "WORKFLOW_EXECUTION_STATUS_FAILED", answer
    assert "timeoutSeconds must be a number" in json.dumps(answer), answer


def test_an_approval_nobody_decides_expires(examples):
    workflow_id = f"approval-{uuid.uuid4().hex[:8]}"
    answer = start_and_wait(examples, workflow_id, {"workflowType": "Approval", "taskQueue": "portico-examples",
                                                    "args": [{"title": "a short wait", "timeoutSeconds": 1}]})
    assert answer["result"][0]["status"] == "expired", answer
    record(examples, "approval-expired", workflow_id)


# ---- The webhook-triggered pipeline -----------------------------------------------------------

def signed_push(examples, event, secret=WEBHOOK_SECRET):
    return github_delivery(examples.url, "github-push", json.dumps(event).encode(), secret)


def escaped(workflow_id):
    """A workflow id as a path segment: the pipeline's ids hold the repository's and the ref's slashes."""
    return urllib.parse.quote(workflow_id, safe="")


def test_a_signed_push_runs_the_pipeline_which_asks_for_a_deploy_approval(examples):
    commit = uuid.uuid4().hex + "0" * 8
    event = {"ref": "refs/heads/main", "after": commit, "repository": {"full_name": "acme/shop"},
             "pusher": {"name": "ada"}, "commits": [{"id": commit, "message": "fix the cart"}]}
    accepted = signed_push(examples, event)
    assert accepted.status == 202, accepted
    workflow_id = accepted.json["workflowId"]
    assert workflow_id == f"github-push-acme/shop-refs/heads/main-{commit}"  # from the signed body
    result = get(api(examples, f"/{escaped(workflow_id)}/result?timeout=60s"))
    assert result.status == 200 and result.json["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", result
    pipeline = result.json["result"][0]
    approval_id = f"deploy-acme-shop-{commit[:12]}"
    assert pipeline["approval"]["workflowId"] == approval_id and pipeline["approval"]["httpStatus"] == 200, pipeline
    assert pipeline["repository"] == "acme/shop" and pipeline["commits"] == 1, pipeline
    assert pipeline["approval"]["new"] is True, pipeline
    # The approval the pipeline started through http.request is there, waiting.
    state = query(examples, approval_id, "state")
    assert state["status"] == "pending", state
    assert state["title"] == f"deploy acme/shop@{commit[:12]} (refs/heads/main)"
    record(examples, "github-push", workflow_id)

    # The same commit pushed to another branch (a new delivery) finds the approval already there.
    again = signed_push(examples, {**event, "ref": "refs/heads/release"})
    assert again.status == 202 and again.json["workflowId"] != workflow_id, again
    second = get(api(examples, f"/{escaped(again.json['workflowId'])}/result?timeout=60s"))
    assert second.status == 200 and second.json["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", second
    assert second.json["result"][0]["approval"] == {**pipeline["approval"], "new": False}, second


def test_a_push_that_deletes_a_branch_asks_for_nothing(examples):
    accepted = signed_push(examples, {"ref": "refs/heads/old", "after": "0" * 40, "deleted": True,
                                      "repository": {"full_name": "acme/shop"}})
    assert accepted.status == 202, accepted
    result = get(api(examples, f"/{escaped(accepted.json['workflowId'])}/result?timeout=60s"))
    assert result.status == 200 and "skipped" in result.json["result"][0], result


def test_a_push_with_a_bad_signature_starts_nothing(examples):
    event = {"ref": "refs/heads/main", "after": "f" * 40, "repository": {"full_name": "acme/shop"}}
    refused = signed_push(examples, event, secret="not-the-secret")
    assert refused.status == 401, refused


# ---- The C activity added through the extension point -----------------------------------------

def test_the_greet_activity_answers_through_a_workflow(examples):
    workflow_id = f"greet-{uuid.uuid4().hex[:8]}"
    answer = start_and_wait(examples, workflow_id, {"workflowType": "Greet", "taskQueue": "portico-examples",
                                                    "args": ["Ada"]})
    assert answer["result"] == ["Hello, Ada!"], answer
    record(examples, "greet", workflow_id)


# ---- Replay -----------------------------------------------------------------------------------

def replay(histories):
    async def main():
        replayer = Replayer(workflows=example_worker.WORKFLOWS, data_converter=converter())
        for history in histories:
            await replayer.replay_workflow(history)

    asyncio.run(main())


def test_this_runs_histories_replay(examples):
    if not examples.recorded:
        pytest.skip("no example test above ran to record a history")
    replay(examples.recorded.values())


def committed_histories():
    return sorted(HISTORIES.glob("*.json"))


@pytest.mark.parametrize("path", committed_histories(), ids=lambda path: path.stem)
def test_committed_histories_replay(path):
    """Histories recorded once (PORTICO_RECORD_HISTORIES=1) and committed: the current workflow code
    must make the same decisions they show."""
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replay([history])


def test_every_example_workflow_has_a_committed_history():
    names = {path.stem for path in committed_histories()}
    assert {"order-saga-completed", "order-saga-compensated", "order-saga-cancelled", "approval-approved",
            "approval-expired", "github-push", "greet"} <= names, names


# ---- make run and the README's recipes --------------------------------------------------------

def test_make_run_shows_the_gateway_warnings_to_its_user(tmp_path):
    """scripts/run.sh (`make run`) keeps the gateway's output in a log; the warning that
    authentication is off still reaches the terminal, after the banner, and the banner's webhook
    recipe reads the secret from its file instead of printing it."""
    import signal
    from devserver import free_port
    build = Path(build_paths("portico")[0].values[0]).parent
    run = tmp_path / "run"
    env = dict(os.environ, BUILD=str(build), PORTICO_RUN_DIR=str(run), TEMPORAL_PORT=str(free_port()),
               TEMPORAL_UI_PORT=str(free_port()), TEMPORAL_HTTP_PORT=str(free_port()), PORTICO_PORT=str(free_port()),
               PORTICO_WORKER_METRICS_PORT=str(free_port()))
    terminal = tmp_path / "terminal.txt"
    with open(terminal, "wb") as out:
        process = subprocess.Popen([str(TOP / "scripts/run.sh")], stdout=out, stderr=subprocess.STDOUT, cwd=TOP,
                                   env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while "WARNING (gateway)" not in terminal.read_text():
            assert process.poll() is None and time.monotonic() < deadline, terminal.read_text()
            time.sleep(0.2)
        time.sleep(0.5)  # the rest of the line
        text = terminal.read_text()
        assert text.index("Portico is up") < text.index("WARNING (gateway): AUTHENTICATION IS OFF"), text
        secret = (run / "dev-github-webhook-secret").read_text().strip()
        assert secret not in text and f"SECRET=$(cat {run}/dev-github-webhook-secret)" in text, text
    finally:
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=90) in (0, 130), terminal.read_text()


def sh_blocks(markdown):
    """The ```sh blocks of a Markdown text."""
    return [block.split("```", 1)[0] for block in markdown.split("```sh\n")[1:]]


def recipes():
    """Every Markdown file whose recipes a user copies: the README and the examples'."""
    return [TOP / "README.md", *sorted(EXAMPLES.glob("**/*.md"))]


def test_no_recipe_puts_an_api_key_on_a_command_line():
    """A key in a curl argument shows in ps and in the shell's history: recipes read the header
    from a file (curl -H @file)."""
    import re
    inline = re.compile(r"""(-H|--header)\s+["']?(Authorization:\s*Bearer|X-API-Key:)""", re.IGNORECASE)
    for path in recipes():
        for block in sh_blocks(path.read_text()):
            assert not inline.search(block), (path, block)


def test_the_readme_api_key_recipe(tmp_path):
    """The README's key recipe, run as written: a key made into a header file, its hash in an auth
    file, and curl reading the header from the file."""
    recipe = next(block for block in sh_blocks((TOP / "README.md").read_text()) if "-H @" in block)
    make_key, hash_key, call = [line.split("   #")[0] for line in recipe.strip().splitlines()]
    environment = dict(os.environ, HOME=str(tmp_path))
    shell = lambda line: subprocess.run(["bash", "-euc", line], capture_output=True, text=True, env=environment,
                                        check=True).stdout
    shell(make_key)
    assert (tmp_path / ".portico-key").stat().st_mode & 0o077 == 0
    digest = shell(hash_key).split()[0]
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps({"apiKeys": [{"name": "me", "sha256": digest, "namespaces": ["default"],
                                                  "permissions": ["read"]}]}))
    with DevServer() as server:
        gateway = start_gateway(build_paths("portico")[0].values[0], server.address, PORTICO_AUTH="keys",
                                PORTICO_AUTH_FILE=str(auth_file))
        try:
            url = f"{gateway.url}/api/v1/namespaces/default/workflows"
            answer = json.loads(shell(call.replace("http://127.0.0.1:8080/api/v1/namespaces/default/workflows", url)))
            assert "executions" in answer or answer == {}, answer
            assert get(url).status == 401  # and without the key, nothing
        finally:
            assert gateway.stop() == 0, gateway.stderr
