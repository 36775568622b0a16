"""Faults injected into the real programs: Temporal killed (SIGKILL) and started again under a running
gateway, the C worker killed or stopped in the middle of an activity, the gateway stopped while
waits are in flight. Each case is bounded in time and stops every process it started, pass or fail.

The Temporal cases kill a dev server of their own (never the session's), whose database is a file
(devserver.py passes --db-filename), so that a restart on the same port keeps the workflows.

Covered elsewhere and not repeated here: a worker's SIGTERM with its activity finishing within the
grace period (test_worker.py, test_sigterm_lets_the_activity_in_flight_finish), a worker killed
during a heartbeating activity and resumed from its heartbeat (test_worker.py,
test_a_killed_worker_loses_nothing), and the gateway's grace period cutting a result wait and a
?wait= start off with 503 and 202 (test_disconnect.py, test_requests_cut_off_by_the_grace_period)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import HERE, TASK_QUEUE, LoggedProcess, build_paths, start_gateway
from devserver import DevServer
from http_client import get, post
from test_disconnect import eventually, temporal_http, waiting
from test_worker import CWorker

NAMESPACE = "/api/v1/namespaces/default"
CALL_TIMEOUT_S = 3
UNAVAILABLE = 14  # gRPC's code, in Temporal's error body
SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "runtime error:")


def api(gw, path):
    return f"{gw.url}{NAMESPACE}{path}"


def start(gw, workflow_id, workflow_type, args=()):
    response = post(api(gw, f"/workflows/{workflow_id}"),
                    {"workflowType": workflow_type, "taskQueue": TASK_QUEUE, "args": list(args)})
    assert response.status == 200, response
    return response.json["runId"]


def describe(gw, workflow_id):
    return get(api(gw, f"/workflows/{workflow_id}"), timeout=30)


def history(gw, workflow_id):
    answer = get(api(gw, f"/workflows/{workflow_id}/history"))
    assert answer.status == 200, answer
    return answer.json["history"]["events"]


def stop_process(process, seconds=15):
    """SIGTERM, then SIGKILL after seconds: cleanup that never hangs. Returns the exit status."""
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def stop_gateway(gw):
    """Stops gw (SIGKILL after a minute) and returns its exit status; .stderr holds its log."""
    status = gw.stop()
    assert not any(report in gw.stderr for report in SANITIZER_REPORTS), gw.stderr
    return status


def in_background(function, *args, **kwargs):
    """Runs function(*args, **kwargs) on a thread; .join(seconds) returns what it returned (or raises
    what it raised)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as error:  # noqa: B902 (handed to the test's thread)
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    class Pending:
        @staticmethod
        def join(seconds):
            thread.join(seconds)
            assert not thread.is_alive(), f"no answer in {seconds} s"
            if "error" in outcome:
                raise outcome["error"]
            return outcome["value"]

    return Pending


def assert_unavailable(response):
    """503 with Retry-After and Temporal's error body: a client knows to try again, and when."""
    assert response.status == 503, response
    assert int(response.headers["Retry-After"]) >= 1, response.headers
    assert response.json["code"] == UNAVAILABLE and response.json["message"], response


# ---- Temporal killed and started again ------------------------------------------------------------

@pytest.fixture
def own_server():
    """A dev server this test may kill: the session's serves the other tests meanwhile."""
    with DevServer() as dev_server:
        yield dev_server


@pytest.fixture
def own_worker(own_server):
    """The Python SDK worker of the test workflows, on own_server."""
    worker = LoggedProcess([sys.executable, str(HERE / "worker.py"), "--address", own_server.address,
                            "--task-queue", TASK_QUEUE], dict(os.environ), "ready", prefix="portico-py-worker-")
    yield worker
    stop_process(worker.process)


@pytest.mark.parametrize("path", build_paths("portico"))
def test_temporal_killed_then_back_under_a_running_gateway(path, own_server, own_worker):
    gw = start_gateway(path, own_server.address, PORTICO_CALL_TIMEOUT=f"{CALL_TIMEOUT_S}s")
    before, after = f"before-kill-{uuid.uuid4()}", f"after-restart-{uuid.uuid4()}"
    status = None
    try:
        run_id = start(gw, before, "Mailbox")
        assert get(f"{gw.url}/readyz").status == 200
        own_server.kill()

        # A call that may be repeated (describe) is retried until the call timeout; a start is not
        # (it could start twice): either way the answer is 503, never a hang.
        for ask in (lambda: describe(gw, before),
                    lambda: post(api(gw, f"/workflows/{after}"),
                                 {"workflowType": "Mailbox", "taskQueue": TASK_QUEUE}, timeout=30)):
            asked = time.monotonic()
            assert_unavailable(ask())
            assert time.monotonic() - asked < CALL_TIMEOUT_S + 2
        ready = get(f"{gw.url}/readyz", timeout=30)
        assert ready.status == 503 and ready.json["code"] == UNAVAILABLE, ready
        assert get(f"{gw.url}/healthz").status == 200  # alive, only not ready

        own_server.start()  # same port, same database; the gateway is not restarted
        assert eventually(lambda: describe(gw, before).status == 200, 30), describe(gw, before)
        info = describe(gw, before).json["workflowExecutionInfo"]
        assert info["execution"]["runId"] == run_id and info["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING", info
        assert get(f"{gw.url}/readyz").status == 200
        start(gw, after, "Mailbox")
        for workflow_id in (before, after):  # both still run on the worker that outlived the restart
            assert post(api(gw, f"/workflows/{workflow_id}/signal/finish"), {}).status == 200
            result = get(api(gw, f"/workflows/{workflow_id}/result?timeout=30s"), timeout=40)
            assert result.status == 200 and result.json["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", result
    finally:
        status = stop_gateway(gw)
    assert status == 0, gw.stderr


@pytest.mark.parametrize("path", build_paths("portico"))
def test_waits_in_flight_while_temporal_restarts(path, own_server, own_worker):
    """A result wait and a ?wait= start whose Temporal goes away mid-wait: the history long poll is
    safe to repeat, so the gateway retries it (with backoff, up to the wait's own timeout) and the
    clients get the workflows' results once Temporal is back, the start's with the run it started."""
    gw = start_gateway(path, own_server.address, PORTICO_CALL_TIMEOUT=f"{CALL_TIMEOUT_S}s")
    waited, started = f"waited-{uuid.uuid4()}", f"start-wait-{uuid.uuid4()}"
    status = None
    try:
        waited_run = start(gw, waited, "Mailbox")
        result = in_background(get, api(gw, f"/workflows/{waited}/result?timeout=60s"), timeout=90)
        start_wait = in_background(post, api(gw, f"/workflows/{started}?wait=60s"),
                                   {"workflowType": "Mailbox", "taskQueue": TASK_QUEUE}, timeout=90)
        assert eventually(lambda: waiting(gw) == 2), "the waits did not begin"
        assert eventually(lambda: describe(gw, started).status == 200)
        started_run = describe(gw, started).json["workflowExecutionInfo"]["execution"]["runId"]
        time.sleep(0.5)  # both waits' history long polls are on the wire

        own_server.kill()
        time.sleep(2)  # the long polls fail and are retried against nothing
        assert waiting(gw) == 2, "a wait ended while Temporal was away"
        own_server.start()
        for workflow_id in (waited, started):
            assert eventually(lambda: post(api(gw, f"/workflows/{workflow_id}/signal/finish"), {}).status == 200,
                              30)

        answer = result.join(60)
        assert answer.status == 200, answer
        assert answer.json["runId"] == waited_run and answer.json["result"] == [{"signals": [], "stage": "new"}]
        answer = start_wait.join(60)
        assert answer.status == 200, answer
        assert answer.json["runId"] == started_run and answer.json["started"] is True, answer
        assert answer.json["outcome"]["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", answer
        # Started once: the history of the only run holds one start.
        events = history(gw, started)
        assert [e["eventType"] for e in events].count("EVENT_TYPE_WORKFLOW_EXECUTION_STARTED") == 1
    finally:
        status = stop_gateway(gw)
    assert status == 0, gw.stderr


@pytest.mark.parametrize("path", build_paths("portico"))
def test_waits_whose_temporal_stays_away_end_by_their_timeout(path, own_server, own_worker):
    """The same waits with Temporal away past their 4 s timeout: the result wait answers 503 with
    Retry-After; the ?wait= start, which did start, answers 202 with its run id and the waitError,
    and that run is there once Temporal is back (no start lost, none to repeat)."""
    gw = start_gateway(path, own_server.address, PORTICO_CALL_TIMEOUT=f"{CALL_TIMEOUT_S}s")
    waited, started = f"waited-away-{uuid.uuid4()}", f"start-wait-away-{uuid.uuid4()}"
    status = None
    try:
        start(gw, waited, "Mailbox")
        result = in_background(get, api(gw, f"/workflows/{waited}/result?timeout=4s"), timeout=30)
        start_wait = in_background(post, api(gw, f"/workflows/{started}?wait=4s"),
                                   {"workflowType": "Mailbox", "taskQueue": TASK_QUEUE}, timeout=30)
        assert eventually(lambda: waiting(gw) == 2), "the waits did not begin"
        assert eventually(lambda: describe(gw, started).status == 200)
        own_server.kill()
        killed = time.monotonic()

        assert_unavailable(result.join(15))
        answer = start_wait.join(15)
        assert time.monotonic() - killed < 4 + 2  # by the waits' timeout
        assert answer.status == 202 and answer.json["started"] is True, answer
        assert answer.json["waitError"]["code"] == UNAVAILABLE and "outcome" not in answer.json, answer

        own_server.start()
        assert eventually(lambda: describe(gw, started).status == 200, 30)
        info = describe(gw, started).json["workflowExecutionInfo"]
        assert info["execution"]["runId"] == answer.json["runId"], info
        for workflow_id in (waited, started):
            assert post(api(gw, f"/workflows/{workflow_id}/terminate"), {}).status == 200
    finally:
        status = stop_gateway(gw)
    assert status == 0, gw.stderr


# ---- The C worker killed or stopped in the middle of an activity ---------------------------------

@pytest.fixture
def stalling_web():
    """A local HTTP server whose first request on each path stalls (until the test ends, at most
    30 s) and whose later ones answer at once with {"hit": n}; .hits[path] holds when each came."""
    hits, release = {}, threading.Event()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            with lock:
                hits.setdefault(self.path, []).append(time.monotonic())
                count = len(hits[self.path])
            if count == 1:
                release.wait(30)
            data = json.dumps({"hit": count}).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the worker that asked is gone
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.hits = hits
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    release.set()
    server.shutdown()
    server.server_close()


WORKER_PATH = build_paths("portico-worker")[0].values[0]


def worker_output(w):
    return Path(w.log.name).read_text()


def start_http_activity(gw, workflow_id, url, queue, start_to_close_ms):
    """Starts RunActivity: http.request on url, on the C worker's queue, retried every 100 ms."""
    start(gw, workflow_id, "RunActivity", ["http.request", {"url": url}, queue, start_to_close_ms])


def attempts_started(events):
    """The activity's last start event's attributes (attempt, lastFailure)."""
    started = [e for e in events if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_STARTED"]
    return started[-1]["activityTaskStartedEventAttributes"]


def test_a_worker_killed_mid_activity_is_replaced_after_start_to_close(gateway, server, worker, stalling_web):
    """No heartbeat (http.request sends none): Temporal learns of the loss when the attempt's 3 s
    start-to-close timeout passes, then retries on the worker started in its place."""
    queue, workflow_id, path = f"portico-c-{uuid.uuid4()}", f"killed-mid-http-{uuid.uuid4()}", "/stall-killed"
    first = CWorker(WORKER_PATH, server, queue)
    second = None
    try:
        start_http_activity(gateway, workflow_id, stalling_web.url + path, queue, 3000)
        assert eventually(lambda: path in stalling_web.hits), "the activity did not begin"
        first.process.kill()
        assert first.process.wait(timeout=10) == -signal.SIGKILL
        second = CWorker(WORKER_PATH, server, queue)
        answer = get(api(gateway, f"/workflows/{workflow_id}/result?timeout=30s"), timeout=40)
        assert answer.status == 200, answer
        [response] = answer.json["result"]
        assert response["status"] == 200 and response["body"] == {"hit": 2}, answer
        first_hit, second_hit = stalling_web.hits[path]
        assert second_hit - first_hit >= 2.5  # after the start-to-close timeout, not before
        retried = attempts_started(history(gateway, workflow_id))
        assert retried["attempt"] == 2, retried
        assert retried["lastFailure"]["timeoutFailureInfo"]["timeoutType"] == "TIMEOUT_TYPE_START_TO_CLOSE", retried
    finally:
        stop_process(first.process)
        if second:
            assert stop_process(second.process) == 0, worker_output(second)


def test_a_worker_stopped_past_its_grace_period_hands_the_activity_back(gateway, server, worker, stalling_web):
    """SIGTERM with an activity that outlasts the grace period (1 s): the worker exits 0 and answers
    for the activity (WorkerShutdown), so Temporal retries it at once on the next worker rather than
    after the 30 s start-to-close timeout."""
    queue, workflow_id, path = f"portico-c-{uuid.uuid4()}", f"past-grace-{uuid.uuid4()}", "/stall-past-grace"
    first = CWorker(WORKER_PATH, server, queue, PORTICO_WORKER_GRACE_SECONDS="1")
    second = None
    try:
        start_http_activity(gateway, workflow_id, stalling_web.url + path, queue, 30000)
        assert eventually(lambda: path in stalling_web.hits), "the activity did not begin"
        stopping = time.monotonic()
        first.process.send_signal(signal.SIGTERM)
        assert first.process.wait(timeout=15) == 0, worker_output(first)
        # The grace period, then up to 5 s for the cancelled activity to end (CANCEL_WAIT_MS).
        assert time.monotonic() - stopping < 1 + 5 + 3
        second = CWorker(WORKER_PATH, server, queue)
        answer = get(api(gateway, f"/workflows/{workflow_id}/result?timeout=20s"), timeout=30)
        assert answer.status == 200, answer
        assert answer.json["result"][0]["body"] == {"hit": 2}, answer
        retried = attempts_started(history(gateway, workflow_id))
        assert retried["attempt"] == 2, retried
        assert retried["lastFailure"]["applicationFailureInfo"]["type"] == "WorkerShutdown", retried
    finally:
        stop_process(first.process)
        if second:
            assert stop_process(second.process) == 0, worker_output(second)
    assert not any(report in worker_output(first) for report in SANITIZER_REPORTS), worker_output(first)


# ---- The gateway stopped while waits are in flight ------------------------------------------------

@pytest.mark.parametrize("path", build_paths("portico"))
def test_a_gateway_stopping_answers_what_ends_in_its_grace_and_cuts_off_the_rest(path, server, worker):
    """SIGTERM with a result wait and a history long poll in flight, grace 4 s: the workflow the
    first waits on completes within the grace period and its client gets the result; the long poll
    (a workflow that sleeps an hour) is cut off at the end of it with 503 and Retry-After."""
    gw = start_gateway(path, server.address, PORTICO_SHUTDOWN_GRACE="4s")
    mailbox, sleeper = f"finished-in-grace-{uuid.uuid4()}", f"cut-off-poll-{uuid.uuid4()}"
    status = None
    try:
        start(gw, mailbox, "Mailbox")
        start(gw, sleeper, "Sleeper", [3600])
        result = in_background(get, api(gw, f"/workflows/{mailbox}/result?timeout=60s"), timeout=60)
        poll = in_background(get, api(gw, f"/workflows/{sleeper}/history?waitNewEvent=true"
                                          "&historyEventFilterType=HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT"),
                             timeout=60)
        assert eventually(lambda: waiting(gw) == 2), "the waits did not begin"
        time.sleep(0.5)  # both Temporal calls are under way
        stopping = time.monotonic()
        gw.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        temporal_http(server, f"/workflows/{mailbox}/signal/finish", {})  # beside the gateway, which is closing
        answer = result.join(10)  # a 200 at all: after the grace period it would have been cut off
        assert answer.status == 200 and answer.json["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", answer
        assert_unavailable(poll.join(15))
        status = stop_gateway(gw)
        assert time.monotonic() - stopping < 10  # the grace period and the cut-off answers' drain
    finally:
        if status is None:
            status = stop_gateway(gw)
        for workflow_id in (mailbox, sleeper):
            post(f"http://{server.http_address}{NAMESPACE}/workflows/{workflow_id}/terminate", {})
    assert status == 0, gw.stderr
