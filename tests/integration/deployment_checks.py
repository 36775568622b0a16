"""What a deployed Portico must do, whoever started it (test_compose.py on the host, test_images.py
in containers): the compensated saga, a signed push running the pipeline, and a saga's outcome
coming back as a signed completion webhook, the saga flow compensating. Each takes the gateway's
base URL."""

import json
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

from http_client import get, github_delivery, post


class Receiver:
    """An HTTP receiver on 127.0.0.1 (port 0: any) that records every POST; answers `status` (200)
    until told otherwise. Use as a context manager, or close()."""

    def __init__(self, port=0):
        self.deliveries = []
        self.status = 200
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    status = receiver.status
                    receiver.deliveries.append({"path": self.path, "headers": {k.lower(): v for k, v in
                                                                              self.headers.items()},
                                                "body": body.decode(), "answered": status})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count, answered=None, timeout=30):
        """The first count deliveries (answered with that status, if given), once they came."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                matching = [d for d in self.deliveries if answered is None or d["answered"] == answered]
            if len(matching) >= count:
                return matching
            time.sleep(0.05)
        raise AssertionError(f"{count} deliveries (answered {answered}) did not arrive: {self.deliveries}")

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def verified(delivery, secret):
    """The delivery's body as the Standard Webhooks reference library reads it (it raises on a bad
    signature)."""
    return Webhook(secret).verify(delivery["body"], delivery["headers"])


def check_compensated_saga(gateway, diagnose=lambda: ""):
    order_id = uuid.uuid4().hex[:8]
    answer = post(f"{gateway}/api/v1/namespaces/default/workflows/order-{order_id}?wait=60s",
                  {"workflowType": "OrderSaga", "taskQueue": "portico-examples",
                   "args": [{"orderId": order_id, "amount": 5, "failAt": "ship"}]})
    assert answer.status == 200, (answer, diagnose())
    assert answer.json["outcome"]["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", answer
    assert answer.json["outcome"]["result"][0]["compensations"] == [{"refunded": f"pay-{order_id}", "amount": 5},
                                                                    {"released": f"rsv-{order_id}"}]


def check_compensated_flow(gateway, diagnose=lambda: ""):
    """The flows directory mounted in the gateway and the worker: the saga flow (started by name)
    fails at shipping with the task's path, after refunding, then releasing."""
    order_id = uuid.uuid4().hex[:8]
    answer = post(f"{gateway}/api/v1/namespaces/default/flows/order-saga?wait=60s&workflowId=flow-order-{order_id}",
                  {"orderId": order_id, "amount": 5, "failAt": "ship"})
    assert answer.status == 200, (answer, diagnose())
    outcome = answer.json["outcome"]
    assert outcome["status"] == "WORKFLOW_EXECUTION_STATUS_FAILED", (outcome, diagnose())
    assert "/do/2/ship" in json.dumps(outcome["failure"]), outcome
    history = get(f"{gateway}/api/v1/namespaces/default/workflows/flow-order-{order_id}/history")
    assert history.status == 200, history
    scheduled = [event["activityTaskScheduledEventAttributes"]["activityType"]["name"]
                 for event in history.json["history"]["events"] if "activityTaskScheduledEventAttributes" in event]
    assert scheduled == ["order.reserve", "order.charge", "order.ship", "order.refund", "order.release"], scheduled


def check_signed_push(gateway, github_secret, repository):
    """The pipeline calls the gateway at PORTICO_URL: its approval step's answer says it reached it."""
    commit = uuid.uuid4().hex + "0" * 8
    body = json.dumps({"ref": "refs/heads/main", "after": commit, "repository": {"full_name": repository}}).encode()
    accepted = github_delivery(gateway, "github-push", body, github_secret)
    assert accepted.status == 202, accepted
    # The pipeline's id holds the repository's and the ref's slashes (examples/webhooks.json).
    escaped = urllib.parse.quote(accepted.json["workflowId"], safe="")
    result = get(f"{gateway}/api/v1/namespaces/default/workflows/{escaped}/result?timeout=60s")
    assert result.status == 200 and result.json["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", result
    assert result.json["result"][0]["approval"]["httpStatus"] == 200, result


def check_completion_webhook(gateway, callback_secret, receiver_port, diagnose=lambda: ""):
    """Temporal calls the gateway back at PORTICO_CALLBACK_URL, and it delivers the saga's outcome,
    signed, to a receiver on receiver_port (which PORTICO_CALLBACK_ALLOWED_URLS lists)."""
    order_id = uuid.uuid4().hex[:8]
    with Receiver(receiver_port) as receiver:
        started = post(f"{gateway}/api/v1/namespaces/default/workflows/order-{order_id}",
                       {"workflowType": "OrderSaga", "taskQueue": "portico-examples",
                        "args": [{"orderId": order_id, "amount": 3}],
                        "completionWebhook": f"{receiver.url}/orders"})
        assert started.status == 200, started
        try:
            delivery = receiver.wait_for(1, timeout=60)[0]
        except AssertionError as missing:
            raise AssertionError(f"{missing}\n{diagnose()}")
    outcome = verified(delivery, callback_secret)
    assert outcome["workflowId"] == f"order-{order_id}" and outcome["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED"
