"""Clients that leave, half-close or are cut off by a shutdown.

A client that leaves a wait (GET …/result, a start with ?wait=, an update waiting for its outcome, a
history long poll) must not keep it running: its Temporal call is cancelled, its slot freed, and the
socket closed at once. A FIN is all TCP shows of a client that leaves, and a client that only
half-closed after sending looks the same until the answer is written; like nginx and Go's net/http,
the gateway takes a FIN during a wait for leaving, and still answers short calls to a half-closed
client. A shutdown that cuts requests off answers them 503 (the server gave up, not the client), and
a start with ?wait= that did start still tells its run id."""

import json
import signal
import socket
import ssl
import threading
import time
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import TASK_QUEUE, build_paths, start_gateway
from http_client import get, post
from test_https import pki  # noqa: F401 (a fixture)

NAMESPACE = "/api/v1/namespaces/default"
CLOSE_WAIT = "08"  # the state's number in /proc/net/tcp


def api(gw, path):
    return f"{gw.url}{NAMESPACE}{path}"


def metrics(gw):
    samples = {}
    for family in text_string_to_metric_families(get(f"{gw.url}/metrics").text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def waiting(gw):
    """Requests in flight, not counting the /metrics request that asks."""
    return metrics(gw)[("portico_http_requests_in_flight", ())] - 1


def cancelled_calls(gw):
    return sum(value for (name, labels), value in metrics(gw).items()
               if name == "portico_temporal_calls_total" and ("code", "CANCELLED") in labels)


def eventually(predicate, seconds=15):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def close_wait_sockets(port):
    """The gateway's sockets whose client has closed while the gateway has not."""
    found = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == CLOSE_WAIT:
                    found += 1
    return found


def raw_request(method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(data)}\r\n"
    if body is not None:
        head += "Content-Type: application/json\r\n"
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"
    return head.encode() + b"\r\n" + data


def connect(gw, request, tls_context=None):
    """Sends request (bytes) on a new connection and returns the socket, the answer unread."""
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=30)
    if tls_context:
        sock = tls_context.wrap_socket(sock, server_hostname="127.0.0.1")
    sock.sendall(request)
    return sock


def read_answer(sock):
    """Reads one answer by its Content-Length (a half-closed connection may stay open after it);
    returns (status, JSON body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed without an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed in the middle of the answer"
        body += chunk
    return int(lines[0].split()[1]), json.loads(body) if body else None


def start(gw, workflow_id, workflow_type, args):
    response = post(api(gw, f"/workflows/{workflow_id}"),
                    {"workflowType": workflow_type, "taskQueue": TASK_QUEUE, "args": args})
    assert response.status == 200, response
    return response.json["runId"]


def terminate(gw, workflow_id):
    post(api(gw, f"/workflows/{workflow_id}/terminate"), {"reason": "test over"})


def describe_status(gw, workflow_id, run_id=None):
    query = f"?execution.runId={run_id}" if run_id else ""
    return get(api(gw, f"/workflows/{workflow_id}{query}")).json["workflowExecutionInfo"]["status"]


@pytest.fixture(scope="module", params=build_paths("portico"))
def lone_gateway(request, server, worker):
    """A gateway of this module's own, so that its in-flight count is this module's requests."""
    gw = start_gateway(request.param, server.address)
    yield gw
    gw.stop_cleanly()


def long_wait(gw, kind, workflow_id):
    """Starts what kind waits on and returns the raw request of an hour-long wait of that kind."""
    if kind == "result":
        start(gw, workflow_id, "Sleeper", [3600])
        return raw_request("GET", f"{NAMESPACE}/workflows/{workflow_id}/result?timeout=3600s")
    if kind == "start-wait":
        return raw_request("POST", f"{NAMESPACE}/workflows/{workflow_id}?wait=3600s",
                           {"workflowType": "Sleeper", "taskQueue": TASK_QUEUE, "args": [3600]})
    if kind == "update":
        start(gw, workflow_id, "SlowUpdate", [])
        return raw_request("POST", f"{NAMESPACE}/workflows/{workflow_id}/update/slow", {"args": [3600]},
                           {"Grpc-Timeout": "3600S"})
    start(gw, workflow_id, "Sleeper", [3600])
    return raw_request("GET", f"{NAMESPACE}/workflows/{workflow_id}/history?waitNewEvent=true"
                              "&historyEventFilterType=HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT")


def wait_is_on_the_wire(gw, kind, workflow_id):
    assert eventually(lambda: waiting(gw) == 1), "the wait did not begin"
    if kind == "start-wait":  # past the start: the wait for the result is what runs
        assert eventually(lambda: get(api(gw, f"/workflows/{workflow_id}")).status == 200)
    time.sleep(0.5)  # the Temporal call of the wait is under way


@pytest.mark.parametrize("kind", ["result", "start-wait", "update", "history"])
def test_a_client_that_leaves_a_wait_frees_it_at_once(lone_gateway, kind):
    gw = lone_gateway
    workflow_id = f"leaver-{kind}-{uuid.uuid4()}"
    assert eventually(lambda: waiting(gw) == 0)
    cancelled_before = cancelled_calls(gw)
    client = connect(gw, long_wait(gw, kind, workflow_id))
    try:
        wait_is_on_the_wire(gw, kind, workflow_id)
        client.close()
        assert eventually(lambda: waiting(gw) == 0, 10), "the wait outlived its client"
        assert eventually(lambda: close_wait_sockets(gw.port) == 0, 10), "a socket stayed in CLOSE-WAIT"
        assert cancelled_calls(gw) == cancelled_before + 1  # its Temporal call was cancelled, not left
        # Only the wait ended: the workflow runs on.
        assert describe_status(gw, workflow_id) == "WORKFLOW_EXECUTION_STATUS_RUNNING"
    finally:
        client.close()
        terminate(gw, workflow_id)


@pytest.mark.parametrize("path", build_paths("portico"))
def test_a_shutdown_after_a_client_left_is_quick(path, server, worker):
    gw = start_gateway(path, server.address, PORTICO_SHUTDOWN_GRACE="30s")
    workflow_id = f"left-then-stop-{uuid.uuid4()}"
    try:
        client = connect(gw, long_wait(gw, "result", workflow_id))
        wait_is_on_the_wire(gw, "result", workflow_id)
        client.close()
        assert eventually(lambda: waiting(gw) == 0, 10), "the wait outlived its client"
        terminate(gw, workflow_id)
        stopping = time.monotonic()
    finally:
        status = gw.stop()
    assert time.monotonic() - stopping < 10, "the shutdown waited for a client that had left"
    assert status == 0, gw.stderr
    assert "ERROR: AddressSanitizer" not in gw.stderr and "runtime error:" not in gw.stderr, gw.stderr
    log = [json.loads(line) for line in gw.stdout.splitlines()]
    assert any(entry["status"] == 499 and entry["path"].endswith("/result") for entry in log), gw.stdout


def test_short_calls_are_answered_to_a_half_closed_client(lone_gateway):
    gw = lone_gateway
    workflow_id = f"half-closed-{uuid.uuid4()}"
    started = raw_request("POST", f"{NAMESPACE}/workflows/{workflow_id}",
                          {"workflowType": "Sleeper", "taskQueue": TASK_QUEUE, "args": [3600]})
    described = raw_request("GET", f"{NAMESPACE}/workflows/{workflow_id}")
    # libmicrohttpd 0.9.75 dropped some of these answers, depending on what else its threads had:
    # a half-closed connection it still holds after answering, and a closed one, made it happen.
    with connect(gw, raw_request("GET", "/healthz")) as lingering:
        lingering.shutdown(socket.SHUT_WR)
        assert read_answer(lingering)[0] == 200
        assert get(f"{gw.url}/healthz", headers={"Connection": "close"}).status == 200
        try:
            for request, check in [(started, lambda body: body["started"] is True)] + 5 * [
                    (described, lambda body: body["workflowExecutionInfo"]["status"] ==
                     "WORKFLOW_EXECUTION_STATUS_RUNNING")]:
                with connect(gw, request) as client:
                    client.shutdown(socket.SHUT_WR)  # sent all it had to say; still reading
                    status, body = read_answer(client)
                    assert status == 200, body
                    assert check(body), body
        finally:
            terminate(gw, workflow_id)


@pytest.mark.parametrize("kind", ["result", "start-wait"])
def test_a_half_closed_client_of_a_wait_is_taken_for_gone(lone_gateway, kind):
    """What the gateway promises for waits: a FIN ends them (TCP cannot tell a half-close from a
    close while nothing is written), and the answer still reaches a client that reads on: 499, or
    for a start that did start its own answer, 202 with the run id."""
    gw = lone_gateway
    workflow_id = f"half-closed-{kind}-{uuid.uuid4()}"
    with connect(gw, long_wait(gw, kind, workflow_id)) as client:
        try:
            wait_is_on_the_wire(gw, kind, workflow_id)
            client.shutdown(socket.SHUT_WR)
            status, body = read_answer(client)
            if kind == "result":
                assert status == 499 and body["code"] == 1, body
            else:
                assert status == 202 and body["runId"] and body["workflowId"] == workflow_id, body
                assert "waitError" in body, body
            assert eventually(lambda: waiting(gw) == 0, 10)
        finally:
            terminate(gw, workflow_id)


def temporal_http(server, path, body):
    """Temporal's own HTTP API, for what a test does beside the gateway under test."""
    response = post(f"http://{server.http_address}{NAMESPACE}{path}", body)
    assert response.status == 200, response


@pytest.mark.parametrize("path", build_paths("portico"))
def test_a_client_leaving_a_wait_over_https_frees_it(path, server, worker, pki):  # noqa: F811
    gw = start_gateway(path, server.address, PORTICO_TLS_CERT=str(pki / "first.pem"),
                       PORTICO_TLS_KEY=str(pki / "first.key"))
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))

    def waiting_over_tls():
        with connect(gw, raw_request("GET", "/metrics", headers={"Connection": "close"}), context) as client:
            data = b""
            while chunk := client.recv(65536):
                data += chunk
        for family in text_string_to_metric_families(data.decode().partition("\r\n\r\n")[2]):
            for sample in family.samples:
                if sample.name == "portico_http_requests_in_flight":
                    return sample.value - 1
        raise AssertionError(data)

    workflow_id = f"leaver-https-{uuid.uuid4()}"
    try:
        temporal_http(server, f"/workflows/{workflow_id}",
                      {"workflowType": {"name": "Sleeper"}, "taskQueue": {"name": TASK_QUEUE}, "input": [3600]})
        client = connect(gw, raw_request("GET", f"{NAMESPACE}/workflows/{workflow_id}/result?timeout=3600s"),
                         context)
        assert eventually(lambda: waiting_over_tls() == 1), "the wait did not begin"
        time.sleep(0.5)
        client.close()
        assert eventually(lambda: waiting_over_tls() == 0, 10), "the wait outlived its client"
        assert eventually(lambda: close_wait_sockets(gw.port) == 0, 10)
    finally:
        status = gw.stop()
        temporal_http(server, f"/workflows/{workflow_id}/terminate", {})
    assert status == 0, gw.stderr
    assert "ERROR: AddressSanitizer" not in gw.stderr and "runtime error:" not in gw.stderr, gw.stderr


@pytest.mark.parametrize("path", build_paths("portico"))
def test_requests_cut_off_by_the_grace_period(path, server, worker):
    gw = start_gateway(path, server.address, PORTICO_SHUTDOWN_GRACE="1s")
    sleeper, waited = f"cut-off-{uuid.uuid4()}", f"cut-off-start-{uuid.uuid4()}"
    answers = {}

    def ask(name, *args):
        answers[name] = (get if name == "result" else post)(*args, timeout=60)

    status = None
    try:
        start(gw, sleeper, "Sleeper", [3600])
        threads = [
            threading.Thread(target=ask, args=("result", api(gw, f"/workflows/{sleeper}/result?timeout=3600s"))),
            threading.Thread(target=ask, args=("start", api(gw, f"/workflows/{waited}?wait=3600s"),
                                               {"workflowType": "Sleeper", "taskQueue": TASK_QUEUE,
                                                "args": [3600]})),
        ]
        for thread in threads:
            thread.start()
        assert eventually(lambda: waiting(gw) == 2)
        assert eventually(lambda: get(api(gw, f"/workflows/{waited}")).status == 200)
        first_run = get(api(gw, f"/workflows/{waited}")).json["workflowExecutionInfo"]["execution"]["runId"]
        time.sleep(0.5)  # both waits' Temporal calls are under way
        stopping = time.monotonic()
        status = gw.stop()
        stopped = time.monotonic()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        if status is None:
            gw.stop()
        for workflow_id in (sleeper, waited):
            temporal_http(server, f"/workflows/{workflow_id}/terminate", {})
    assert status == 0, gw.stderr
    assert stopped - stopping < 15  # the grace period, 1 s, and the answers' moment to go out

    result = answers["result"]
    assert result.status == 503, result  # the gateway gave up, not the client: try again
    assert result.headers["Retry-After"] and result.json["code"] == 14, result
    started = answers["start"]
    assert started.status == 202, started  # it did start: no retry should start it again
    assert started.json["runId"] == first_run and started.json["workflowId"] == waited, started
    assert started.json["started"] is True and "outcome" not in started.json, started
    assert started.json["waitError"]["code"] == 14, started


def test_a_start_with_wait_keeps_temporals_run_id_and_status(lone_gateway):
    gw = lone_gateway
    workflow_id = f"waited-looper-{uuid.uuid4()}"
    response = post(api(gw, f"/workflows/{workflow_id}?wait=60s"),
                    {"workflowType": "Looper", "taskQueue": TASK_QUEUE, "args": [2]})
    assert response.status == 200, response
    answer = response.json
    # The start's own fields mean what they mean in Temporal's answer: the run it started, as it was.
    assert answer["started"] is True and answer["workflowId"] == workflow_id
    assert answer["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING"
    assert describe_status(gw, workflow_id, answer["runId"]) == "WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW"
    # The outcome is GET …/result's answer: the last run, continue-as-new followed.
    outcome = answer["outcome"]
    assert outcome["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED" and outcome["result"] == [3], answer
    assert outcome["runId"] != answer["runId"] and outcome["workflowId"] == workflow_id
    assert get(api(gw, f"/workflows/{workflow_id}/result?runId={answer['runId']}")).json == outcome

    sleeper = f"waited-sleeper-{uuid.uuid4()}"
    pending = post(api(gw, f"/workflows/{sleeper}?wait=300ms"),
                   {"workflowType": "Sleeper", "taskQueue": TASK_QUEUE, "args": [3600]})
    terminate(gw, sleeper)
    assert pending.status == 202, pending
    assert pending.json["outcome"] == {"workflowId": sleeper, "runId": pending.json["runId"],
                                       "status": "WORKFLOW_EXECUTION_STATUS_RUNNING"}, pending
