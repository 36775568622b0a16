"""Faults injected into the real programs: Temporal killed (SIGKILL) and started again under a running
gateway and C worker (and under a load of starts, none of those answered 200 lost), the C worker killed or stopped in the middle of an activity, the gateway stopped
while waits are in flight. Each case is bounded in time and ends every process it started, pass or
fail (the cleanup fixture).

The Temporal cases kill a dev server of their own, never the session's, whose database is a file
(devserver.py passes --db-filename) so that a restart on the same port keeps the workflows.

Covered elsewhere and not repeated here: a worker's SIGTERM with its activity finishing within the
grace period (test_worker.py, test_sigterm_lets_the_activity_in_flight_finish), a worker killed
during a heartbeating activity and resumed from its heartbeat (test_worker.py,
test_a_killed_worker_loses_nothing), and the gateway's grace period cutting a result wait and a
?wait= start off with 503 and 202 (test_disconnect.py, test_requests_cut_off_by_the_grace_period)."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import HERE, TASK_QUEUE, LoggedProcess, build_paths, start_gateway
from devserver import DevServer
from http_client import get, post
from test_disconnect import eventually, temporal_http, waiting
from test_worker import CWorker, worker_port

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


def assert_unavailable(response):
    """503 with Retry-After and Temporal's error body: a client knows to try again, and when."""
    assert response.status == 503, response
    assert int(response.headers["Retry-After"]) >= 1, response.headers
    assert response.json["code"] == UNAVAILABLE and response.json["message"], response


def stop_process(process, seconds=15):
    """SIGTERM, then SIGKILL after seconds; returns the exit status (at once for a process gone)."""
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def worker_path(gateway_path):
    """The C worker of the same build (build/ or build/asan/) as the gateway."""
    return str(Path(gateway_path).parent / "portico-worker")


def worker_output(w):
    return Path(w.log.name).read_text()


def stop_worker(w):
    """Stops a C worker and checks that it exited 0 with no sanitizer report."""
    assert stop_process(w.process, 30) == 0, worker_output(w)
    assert not any(report in worker_output(w) for report in SANITIZER_REPORTS), worker_output(w)


@pytest.fixture
def cleanup():
    """cleanup(process): the process is ended when the test ends, however it ends (those the test
    stopped itself are left as they are), the last handed over first."""
    with contextlib.ExitStack() as stack:
        yield lambda process: stack.callback(stop_process, process)


@pytest.fixture
def background():
    """Runs requests on threads: background.submit(get, url) returns a Future. A failed test waits
    on none of them: they end with the gateway, which the cleanup stops."""
    pool = ThreadPoolExecutor(max_workers=4)
    yield pool
    pool.shutdown(wait=False, cancel_futures=True)


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
def test_temporal_killed_then_back_under_a_running_gateway(path, own_server, own_worker, cleanup):
    """The C worker too: alive but not ready while its polls fail, and running activities again once
    Temporal is back, without a restart either. (Its /readyz turns 200 again up to 15 s after its
    last failed poll, POLL_RECOVERY_MS in sdk/worker.c: not waited for here.)"""
    queue = f"portico-c-{uuid.uuid4()}"
    c_worker = CWorker(worker_path(path), own_server, queue, "--activities",
                       str(Path(path).parent / "examples/libecho.so"), PORTICO_WORKER_METRICS_LISTEN="127.0.0.1:0")
    cleanup(c_worker.process)
    c_worker_url = f"http://127.0.0.1:{worker_port(c_worker)}"
    gw = start_gateway(path, own_server.address, PORTICO_CALL_TIMEOUT=f"{CALL_TIMEOUT_S}s")
    cleanup(gw.process)
    before, after = f"before-kill-{uuid.uuid4()}", f"after-restart-{uuid.uuid4()}"
    run_id = start(gw, before, "Mailbox")
    assert get(f"{gw.url}/readyz").status == 200
    assert eventually(lambda: get(f"{c_worker_url}/readyz").status == 200)
    own_server.kill()

    # A call that may be repeated (describe) is retried until the call timeout; a start is not (it
    # could start twice): either way the answer is 503, never a hang.
    for ask in (lambda: describe(gw, before),
                lambda: post(api(gw, f"/workflows/{after}"),
                             {"workflowType": "Mailbox", "taskQueue": TASK_QUEUE}, timeout=30)):
        asked = time.monotonic()
        assert_unavailable(ask())
        assert time.monotonic() - asked < CALL_TIMEOUT_S + 2
    ready = get(f"{gw.url}/readyz", timeout=30)
    assert ready.status == 503 and ready.json["code"] == UNAVAILABLE, ready
    assert get(f"{gw.url}/healthz").status == 200  # alive, only not ready
    assert eventually(lambda: get(f"{c_worker_url}/readyz", timeout=10).status == 503)
    assert get(f"{c_worker_url}/healthz").status == 200

    own_server.start()  # the same port and database; the gateway and the workers stay as they are
    assert eventually(lambda: describe(gw, before).status == 200, 30), describe(gw, before)
    info = describe(gw, before).json["workflowExecutionInfo"]
    assert info["execution"]["runId"] == run_id and info["status"] == "WORKFLOW_EXECUTION_STATUS_RUNNING", info
    assert get(f"{gw.url}/readyz").status == 200
    start(gw, after, "Mailbox")  # the start refused while Temporal was away
    for workflow_id in (before, after):
        assert post(api(gw, f"/workflows/{workflow_id}/signal/finish"), {}).status == 200
        result = get(api(gw, f"/workflows/{workflow_id}/result?timeout=30s"), timeout=40)
        assert result.status == 200 and result.json["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", result
    echoed = post(api(gw, f"/workflows/echo-after-restart-{uuid.uuid4()}?wait=30s"),
                  {"workflowType": "RunActivity", "taskQueue": TASK_QUEUE,
                   "args": ["example.echo", {"back": True}, queue]}, timeout=40)
    assert echoed.status == 200 and echoed.json["outcome"]["result"] == [{"back": True}], echoed
    gw.stop_cleanly()
    stop_worker(c_worker)


def test_temporal_killed_under_a_start_load_loses_no_accepted_start(own_server, own_worker, cleanup):
    """Four clients start workflows as fast as the gateway answers while Temporal is killed and,
    a moment later, started again on the same port and database: every answer is 200 or a 503
    with Retry-After (never a hang, never another status), and every start answered 200 exists
    afterwards with the run id it was given."""
    gw = start_gateway(build_paths("portico")[0].values[0], own_server.address,
                       PORTICO_CALL_TIMEOUT=f"{CALL_TIMEOUT_S}s")
    cleanup(gw.process)
    stop = threading.Event()
    lock = threading.Lock()
    accepted, refused, other = {}, [], []

    def client():
        while not stop.is_set():
            workflow_id = f"load-{uuid.uuid4()}"
            answer = post(api(gw, f"/workflows/{workflow_id}"), {"workflowType": "Mailbox", "taskQueue": TASK_QUEUE},
                          timeout=CALL_TIMEOUT_S + 10)
            with lock:
                if answer.status == 200:
                    accepted[workflow_id] = answer.json["runId"]
                elif answer.status == 503 and int(answer.headers.get("Retry-After", "0")) >= 1:
                    refused.append(workflow_id)
                else:
                    other.append(answer)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    own_server.kill()
    time.sleep(CALL_TIMEOUT_S + 1)  # long enough for starts in flight and new ones to be refused
    own_server.start()
    assert eventually(lambda: post(api(gw, f"/workflows/probe-{uuid.uuid4()}"),
                                   {"workflowType": "Mailbox", "taskQueue": TASK_QUEUE}).status == 200, 30)
    time.sleep(1)  # the load runs on against the restarted server for a moment
    stop.set()
    for thread in threads:
        thread.join(CALL_TIMEOUT_S + 15)
        assert not thread.is_alive(), "a start never answered"
    assert not other, other[:3]
    assert refused, "no start was refused while Temporal was away: the kill came too late"
    assert len(accepted) > 10, accepted
    for workflow_id, run_id in accepted.items():
        answer = describe(gw, workflow_id)
        assert answer.status == 200, (workflow_id, answer)
        assert answer.json["workflowExecutionInfo"]["execution"]["runId"] == run_id, (workflow_id, answer)
    gw.stop_cleanly()


@pytest.mark.parametrize("path", build_paths("portico"))
def test_waits_in_flight_while_temporal_restarts(path, own_server, own_worker, cleanup, background):
    """A result wait and a ?wait= start whose Temporal goes away mid-wait: the history long poll is
    safe to repeat, so the gateway retries it (with backoff, up to the wait's own timeout) and the
    clients get the workflows' results once Temporal is back, the start's with the run it started."""
    gw = start_gateway(path, own_server.address, PORTICO_CALL_TIMEOUT=f"{CALL_TIMEOUT_S}s")
    cleanup(gw.process)
    waited, started = f"waited-{uuid.uuid4()}", f"start-wait-{uuid.uuid4()}"
    waited_run = start(gw, waited, "Mailbox")
    result = background.submit(get, api(gw, f"/workflows/{waited}/result?timeout=60s"), timeout=90)
    start_wait = background.submit(post, api(gw, f"/workflows/{started}?wait=60s"),
                                   {"workflowType": "Mailbox", "taskQueue": TASK_QUEUE}, timeout=90)
    assert eventually(lambda: waiting(gw) == 2), "the waits did not begin"
    assert eventually(lambda: describe(gw, started).status == 200)
    started_run = describe(gw, started).json["workflowExecutionInfo"]["execution"]["runId"]
    time.sleep(0.5)  # both waits' history long polls are on the wire

    own_server.kill()
    time.sleep(2)  # the long polls fail and are tried again against nothing
    assert waiting(gw) == 2, "a wait ended while Temporal was away"
    own_server.start()
    for workflow_id in (waited, started):
        assert eventually(lambda: post(api(gw, f"/workflows/{workflow_id}/signal/finish"), {}).status == 200, 30)

    answer = result.result(timeout=60)
    assert answer.status == 200, answer
    assert answer.json["runId"] == waited_run and answer.json["result"] == [{"signals": [], "stage": "new"}], answer
    answer = start_wait.result(timeout=60)
    assert answer.status == 200 and answer.json["started"] is True, answer
    assert answer.json["runId"] == started_run, answer
    assert answer.json["outcome"]["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", answer
    events = history(gw, started)  # started once: one run, one start
    assert [e["eventType"] for e in events].count("EVENT_TYPE_WORKFLOW_EXECUTION_STARTED") == 1
    gw.stop_cleanly()


@pytest.mark.parametrize("path", build_paths("portico"))
def test_waits_whose_temporal_stays_away_end_by_their_timeout(path, own_server, own_worker, cleanup, background):
    """The same waits with Temporal away past their 4 s timeout: the result wait answers 503 with
    Retry-After; the ?wait= start, which did start, answers 202 with its run id and the waitError,
    and that run is there once Temporal is back (no start lost, none to repeat)."""
    gw = start_gateway(path, own_server.address, PORTICO_CALL_TIMEOUT=f"{CALL_TIMEOUT_S}s")
    cleanup(gw.process)
    waited, started = f"waited-away-{uuid.uuid4()}", f"start-wait-away-{uuid.uuid4()}"
    start(gw, waited, "Mailbox")
    result = background.submit(get, api(gw, f"/workflows/{waited}/result?timeout=4s"), timeout=30)
    start_wait = background.submit(post, api(gw, f"/workflows/{started}?wait=4s"),
                                   {"workflowType": "Mailbox", "taskQueue": TASK_QUEUE}, timeout=30)
    assert eventually(lambda: waiting(gw) == 2), "the waits did not begin"
    assert eventually(lambda: describe(gw, started).status == 200)
    own_server.kill()
    killed = time.monotonic()

    assert_unavailable(result.result(timeout=15))
    answer = start_wait.result(timeout=15)
    assert time.monotonic() - killed < 4 + 4  # by the waits' timeout, not the 15 s of result()
    assert answer.status == 202 and answer.json["started"] is True, answer
    assert answer.json["waitError"]["code"] == UNAVAILABLE and "outcome" not in answer.json, answer

    own_server.start()
    assert eventually(lambda: describe(gw, started).status == 200, 30)
    info = describe(gw, started).json["workflowExecutionInfo"]
    assert info["execution"]["runId"] == answer.json["runId"], info
    for workflow_id in (waited, started):
        assert post(api(gw, f"/workflows/{workflow_id}/terminate"), {}).status == 200
    gw.stop_cleanly()


# ---- The C worker killed or stopped in the middle of an activity ---------------------------------

@pytest.fixture
def stalling_web():
    """A local HTTP server whose first request on each path stalls (until the test ends, at most
    30 s) and whose later ones answer at once with {"hit": n}; .hits[path] holds when each came."""
    hits, release, lock = {}, threading.Event(), threading.Lock()

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
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.hits = hits
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    release.set()
    server.shutdown()
    server.server_close()


def start_http_activity(gw, workflow_id, url, queue, start_to_close_ms):
    """Starts RunActivity: http.request on url, on the C worker's queue, retried after 100 ms."""
    start(gw, workflow_id, "RunActivity", ["http.request", {"url": url}, queue, start_to_close_ms])


def last_attempt(events):
    """The attributes (attempt, lastFailure) of the activity's last start event."""
    started = [e for e in events if e["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_STARTED"]
    return started[-1]["activityTaskStartedEventAttributes"]


def test_a_worker_killed_mid_activity_is_replaced_after_start_to_close(gateway, server, worker, cleanup,
                                                                       stalling_web):
    """No heartbeat (http.request sends none): Temporal learns of the loss when the attempt's 3 s
    start-to-close timeout passes, then retries on the worker started in its place."""
    queue, workflow_id, path = f"portico-c-{uuid.uuid4()}", f"killed-mid-http-{uuid.uuid4()}", "/stall-killed"
    first = CWorker(worker_path(gateway.path), server, queue)
    cleanup(first.process)
    start_http_activity(gateway, workflow_id, stalling_web.url + path, queue, 3000)
    assert eventually(lambda: path in stalling_web.hits), "the activity did not begin"
    first.process.kill()
    assert first.process.wait(timeout=10) == -signal.SIGKILL
    second = CWorker(worker_path(gateway.path), server, queue)
    cleanup(second.process)

    answer = get(api(gateway, f"/workflows/{workflow_id}/result?timeout=30s"), timeout=40)
    assert answer.status == 200, answer
    [response] = answer.json["result"]
    assert response["status"] == 200 and response["body"] == {"hit": 2}, answer
    first_hit, second_hit = stalling_web.hits[path]
    assert second_hit - first_hit >= 2.5  # after the start-to-close timeout, not before
    retried = last_attempt(history(gateway, workflow_id))
    assert retried["attempt"] == 2, retried
    assert retried["lastFailure"]["timeoutFailureInfo"]["timeoutType"] == "TIMEOUT_TYPE_START_TO_CLOSE", retried
    stop_worker(second)


def test_a_worker_stopped_past_its_grace_period_hands_the_activity_back(gateway, server, worker, cleanup,
                                                                        stalling_web):
    """SIGTERM with an activity that outlasts the grace period (1 s): the worker exits 0 and answers
    for the activity (WorkerShutdown), so Temporal retries it at once on the next worker rather than
    after the 30 s start-to-close timeout."""
    queue, workflow_id, path = f"portico-c-{uuid.uuid4()}", f"past-grace-{uuid.uuid4()}", "/stall-past-grace"
    first = CWorker(worker_path(gateway.path), server, queue, PORTICO_WORKER_GRACE_SECONDS="1")
    cleanup(first.process)
    start_http_activity(gateway, workflow_id, stalling_web.url + path, queue, 30000)
    assert eventually(lambda: path in stalling_web.hits), "the activity did not begin"
    stopping = time.monotonic()
    stop_worker(first)
    # The grace period, then up to 5 s for the cancelled activity to end (CANCEL_WAIT_MS).
    assert time.monotonic() - stopping < 1 + 5 + 3
    second = CWorker(worker_path(gateway.path), server, queue)
    cleanup(second.process)

    answer = get(api(gateway, f"/workflows/{workflow_id}/result?timeout=20s"), timeout=30)
    assert answer.status == 200 and answer.json["result"][0]["body"] == {"hit": 2}, answer
    retried = last_attempt(history(gateway, workflow_id))
    assert retried["attempt"] == 2, retried
    assert retried["lastFailure"]["applicationFailureInfo"]["type"] == "WorkerShutdown", retried
    stop_worker(second)


# ---- The gateway stopped while waits are in flight ------------------------------------------------

@pytest.mark.parametrize("path", build_paths("portico"))
def test_a_stopping_gateway_answers_within_its_grace_then_cuts_off(path, server, worker, cleanup, background):
    """SIGTERM with a result wait and a history long poll in flight, grace 4 s: the workflow the
    first waits on completes within the grace period and its client gets the result; the long poll
    (on a workflow that sleeps an hour) is cut off at the end of it with 503 and Retry-After."""
    gw = start_gateway(path, server.address, PORTICO_SHUTDOWN_GRACE="4s")
    cleanup(gw.process)
    mailbox, sleeper = f"finished-in-grace-{uuid.uuid4()}", f"cut-off-poll-{uuid.uuid4()}"
    start(gw, mailbox, "Mailbox")
    start(gw, sleeper, "Sleeper", [3600])
    try:
        result = background.submit(get, api(gw, f"/workflows/{mailbox}/result?timeout=60s"), timeout=60)
        poll = background.submit(get, api(gw, f"/workflows/{sleeper}/history?waitNewEvent=true"
                                              "&historyEventFilterType=HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT"),
                                 timeout=60)
        assert eventually(lambda: waiting(gw) == 2), "the waits did not begin"
        time.sleep(0.5)  # both Temporal calls are under way
        stopping = time.monotonic()
        gw.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        temporal_http(server, f"/workflows/{mailbox}/signal/finish", {})  # beside the gateway, now closing
        answer = result.result(timeout=10)  # a 200 at all: past the grace period it would be cut off
        assert answer.status == 200 and answer.json["status"] == "WORKFLOW_EXECUTION_STATUS_COMPLETED", answer
        assert_unavailable(poll.result(timeout=15))
        gw.stop_cleanly()
        assert time.monotonic() - stopping < 4 + 2 + 3  # grace, the cut-off answers' drain (CANCEL_DRAIN_MS)
    finally:
        temporal_http(server, f"/workflows/{sleeper}/terminate", {})
