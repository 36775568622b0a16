"""Portico's C worker running activities for workflows written with the official Python SDK:
the built-in http.request against a local HTTP server, retries and Retry-After, encryption, and
a graceful stop with an activity in flight."""

import asyncio
import json
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError

from conftest import TASK_QUEUE, build_paths, start_gateway
from http_client import post


class Hits:
    def __init__(self):
        self.lock = threading.Condition()
        self.by_path = {}
        self.in_flight = self.peak_in_flight = 0

    def enter(self):
        with self.lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            self.lock.notify_all()

    def leave(self):
        with self.lock:
            self.in_flight -= 1

    def gather(self, count, timeout):
        """Waits until count requests are in flight together, or timeout seconds pass."""
        with self.lock:
            self.lock.wait_for(lambda: self.peak_in_flight >= count, timeout)

    def record(self, path):
        with self.lock:
            self.by_path.setdefault(path, []).append(time.monotonic())
            return len(self.by_path[path])


@pytest.fixture(scope="module")
def web():
    """A local HTTP server whose paths say how it answers."""
    hits = Hits()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status, body, headers=()):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            count = hits.record(self.path)
            if self.path.startswith("/ok"):
                self.answer(200, {"hello": "from the web", "n": 1.5})
            elif self.path.startswith("/missing"):
                self.answer(404, {"error": "no such thing"})
            elif self.path.startswith("/moved"):
                self.answer(302, {"movedTo": "/ok"}, [("Location", "/ok")])
            elif self.path.startswith("/flaky"):
                if count < 3:
                    self.answer(503, {"error": "busy"}, [("Retry-After", "1")])
                else:
                    self.answer(200, {"after": count})
            elif self.path.startswith("/big"):
                self.answer(200, "x" * (3 * 1024 * 1024))
            elif self.path.startswith("/stall-once"):
                if count == 1:
                    time.sleep(3)
                self.answer(200, {"hit": count})
            elif self.path.startswith("/gather/"):
                # Held until that many are in flight together (or 15 s pass): the peak then says how
                # many the worker runs at once, not how fast a loaded machine starts and polls them.
                hits.enter()
                hits.gather(int(self.path.split("/")[2]), 15)
                hits.leave()
                self.answer(200, {"waited": True})
            elif self.path.startswith("/wait"):
                hits.enter()
                time.sleep(1.5)
                hits.leave()
                self.answer(200, {"waited": True})
            elif self.path.startswith("/slow"):
                time.sleep(2)
                self.answer(200, {"slow": True})

        def do_POST(self):
            hits.record(self.path)
            length = int(self.headers.get("Content-Length", 0))
            self.answer(201, {"got": json.loads(self.rfile.read(length)) if length else None,
                              "contentType": self.headers.get("Content-Type")})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.hits = hits
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()


class CWorker:
    def __init__(self, path, server, queue, *args, **env):
        import os
        self.log = tempfile.NamedTemporaryFile(prefix="portico-worker-", suffix=".log")
        self.process = subprocess.Popen([path, *args], env=dict(os.environ, TEMPORAL_ADDRESS=server.address,
                                                          PORTICO_TASK_QUEUE=queue, **env),
                                        stdout=self.log, stderr=self.log, start_new_session=True)
        deadline = time.monotonic() + 20
        while "polling task queue" not in Path(self.log.name).read_text():
            assert self.process.poll() is None and time.monotonic() < deadline, Path(self.log.name).read_text()
            time.sleep(0.05)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=60)
        self.output = Path(self.log.name).read_text()
        return status


@pytest.fixture(scope="module", params=build_paths("portico-worker"))
def c_worker(request, server, worker):
    queue = f"portico-c-{uuid.uuid4()}"
    examples = Path(request.param).parent / "examples"
    w = CWorker(request.param, server, queue, "--activities", str(examples / "libcountdown.so"),
                "--activities", str(examples / "libcompute.so"), "--activities", str(examples / "libwaiting.so"))
    w.queue = queue
    yield w
    assert w.stop() == 0, w.output
    assert "ERROR: AddressSanitizer" not in w.output and "runtime error:" not in w.output, w.output
    totals = json.loads(next(line for line in w.output.splitlines() if '"worker totals"' in line))
    answered = totals["completed"] + totals["failed"] + totals["canceled"]
    assert totals["completed"] > 0 and 0 < answered <= totals["tasks"] <= totals["polls"], totals


def run_workflow(server, request, queue, workflow="CallHttp", *extra):
    async def main():
        client = await Client.connect(server.address)
        return await client.execute_workflow(workflow, args=[request, queue, *extra], id=f"c-{uuid.uuid4()}",
                                             task_queue=TASK_QUEUE)

    return asyncio.run(main())


def run_activity(server, name, argument, queue, *extra):
    async def main():
        client = await Client.connect(server.address)
        return await client.execute_workflow("RunActivity", args=[name, argument, queue, *extra],
                                             id=f"run-{uuid.uuid4()}", task_queue=TASK_QUEUE)

    return asyncio.run(main())


def test_start_to_close_timeout_then_retry(c_worker, server, web):
    """The first attempt stalls past its 1 s start-to-close timeout; Temporal times it out and
    the retry succeeds. The late answer of the first attempt is refused by Temporal, harmlessly."""
    path = f"/stall-once-{uuid.uuid4()}"
    result = run_activity(server, "http.request", {"url": web.url + path}, c_worker.queue, 1000)
    assert result["body"] == {"hit": 2}


def test_an_event_loop_activity_completes_and_resumes(c_worker, server):
    assert run_activity(server, "example.sleep", {"ms": 300}, c_worker.queue) == {"slept": 300}


def test_cancellation_reaches_an_event_loop_activity(c_worker, server):
    """example.sleep heartbeats from the loop (sent by another thread); the cancellation the
    heartbeat brings back reaches the activity's on_cancel on the loop."""
    result = run_workflow(server, {"ms": 60000}, c_worker.queue, "Countdown", 500, "example.sleep")
    assert result == {"cancelled": "CancelledError"}


def test_the_event_loop_runs_many_requests_on_one_busy_thread(server, worker, web):
    """http.request runs on the event loop: while the worker's only pool thread is busy with a
    blocking activity, forty slow requests are in flight at once."""
    path = build_paths("portico-worker")[0].values[0]
    queue = f"portico-c-{uuid.uuid4()}"
    w = CWorker(path, server, queue, "--activities", str(Path(path).parent / "examples/libcountdown.so"),
                PORTICO_WORKER_THREADS="1", PORTICO_WORKER_MAX_CONCURRENT="100")
    count = 40

    async def main():
        client = await Client.connect(server.address)
        blocking = await client.start_workflow("Countdown", args=[{"from": 40, "stepMs": 100}, queue],
                                               id=f"busy-{uuid.uuid4()}", task_queue=TASK_QUEUE)
        handles = [await client.start_workflow("CallHttp", args=[{"url": f"{web.url}/gather/{count * 3 // 4}"}, queue],
                                               id=f"loop-{uuid.uuid4()}", task_queue=TASK_QUEUE)
                   for _ in range(count)]
        results = [await handle.result() for handle in handles]
        return results, await blocking.result()

    try:
        results, countdown = asyncio.run(main())
    finally:
        assert w.stop() == 0, w.output
    assert all(result["body"] == {"waited": True} for result in results)
    assert countdown["reached"] == 0
    assert web.hits.peak_in_flight >= count * 3 // 4, web.hits.peak_in_flight


def test_an_activity_completed_later_by_its_task_token(c_worker, server, tmp_path):
    """example.handoff gives its task token away and returns; a curl user completes the activity
    through the gateway's Temporal-compatible /activities/complete."""
    token_file = tmp_path / "token"
    gateway = start_gateway(build_paths("portico")[0].values[0], server.address)

    async def main():
        client = await Client.connect(server.address)
        handle = await client.start_workflow("RunActivity", args=["example.handoff", {"tokenFile": str(token_file)},
                                                                  c_worker.queue],
                                             id=f"handoff-{uuid.uuid4()}", task_queue=TASK_QUEUE)
        deadline = time.monotonic() + 20
        while not token_file.exists() or not token_file.read_text().endswith("\n"):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        response = post(f"{gateway.url}/api/v1/namespaces/default/activities/complete",
                        {"taskToken": token_file.read_text().strip(), "identity": "a curl user",
                         "result": [{"approved": True}]})
        assert response.status == 200, response
        return await handle.result()

    try:
        assert asyncio.run(main()) == {"approved": True}
    finally:
        assert gateway.stop() == 0, gateway.stderr


def test_process_model_runs_cpu_work_in_a_child(c_worker, server):
    assert run_activity(server, "example.fibonacci", {"n": 90}, c_worker.queue) == {"fibonacci": 2880067194370816120}
    with pytest.raises(WorkflowFailureError) as failure:
        run_activity(server, "example.fibonacci", {"n": 91}, c_worker.queue)
    assert failure.value.cause.cause.type == "InvalidInput"


def test_a_crashing_child_fails_the_attempt_and_the_worker_lives_on(c_worker, server):
    assert run_activity(server, "example.crash_once", {}, c_worker.queue) == {"survivedAttempt": 2}
    assert c_worker.process.poll() is None
    assert run_activity(server, "example.fibonacci", {"n": 10}, c_worker.queue) == {"fibonacci": 55}


def test_heartbeat_details_resume_the_next_attempt(c_worker, server):
    result = run_workflow(server, {"from": 10, "stepMs": 30, "failAt": 5}, c_worker.queue, "Countdown")
    assert result == {"reached": 0, "attempt": 2, "resumedFrom": 5}


def test_cancellation_reaches_a_heartbeating_activity(c_worker, server):
    started = time.monotonic()
    result = run_workflow(server, {"from": 1000, "stepMs": 50}, c_worker.queue, "Countdown", 500)
    assert result == {"cancelled": "CancelledError"}
    assert time.monotonic() - started < 10  # not the 50 s the countdown would take


def test_http_request_returns_status_headers_and_json(c_worker, server, web):
    result = run_workflow(server, {"url": f"{web.url}/ok"}, c_worker.queue)
    assert result["status"] == 200
    assert result["body"] == {"hello": "from the web", "n": 1.5}
    assert result["headers"]["content-type"] == "application/json"
    posted = run_workflow(server, {"method": "POST", "url": f"{web.url}/echo", "body": {"a": [1, 2]}},
                          c_worker.queue)
    assert posted["status"] == 201
    assert posted["body"] == {"got": {"a": [1, 2]}, "contentType": "application/json"}
    # A POST without a body sends an empty one (curl would read one from stdin), and the
    # connection stays good for the next call.
    empty = run_workflow(server, {"method": "POST", "url": f"{web.url}/echo"}, c_worker.queue)
    assert empty["status"] == 201 and empty["body"]["got"] is None, empty
    assert run_workflow(server, {"url": f"{web.url}/ok"}, c_worker.queue)["status"] == 200


def test_redirects_are_followed_unless_follow_redirects_is_false(c_worker, server, web):
    path = f"/moved-{uuid.uuid4()}"
    followed = run_workflow(server, {"url": web.url + path}, c_worker.queue)
    assert followed["status"] == 200 and followed["body"] == {"hello": "from the web", "n": 1.5}, followed
    # Not followed, the 302 is the result, once: its Location and body, for the caller to judge.
    path = f"/moved-{uuid.uuid4()}"
    hits_before = len(web.hits.by_path.get("/ok", []))
    answered = run_workflow(server, {"url": web.url + path, "followRedirects": False}, c_worker.queue)
    assert answered["status"] == 302 and answered["headers"]["location"] == "/ok", answered
    assert answered["body"] == {"movedTo": "/ok"}, answered
    assert len(web.hits.by_path[path]) == 1 and len(web.hits.by_path.get("/ok", [])) == hits_before
    with pytest.raises(WorkflowFailureError) as failure:
        run_workflow(server, {"url": web.url + path, "followRedirects": "no"}, c_worker.queue)
    error = failure.value.cause.cause
    assert error.type == "InvalidInput" and error.non_retryable, error
    assert "followRedirects must be true or false" in error.message, error


def test_client_errors_are_not_retried(c_worker, server, web):
    path = f"/missing-{uuid.uuid4()}"
    with pytest.raises(WorkflowFailureError) as failure:
        run_workflow(server, {"url": web.url + path}, c_worker.queue)
    application_error = failure.value.cause.cause
    assert application_error.type == "HttpClientError"
    assert application_error.non_retryable
    assert "404" in application_error.message
    assert len(web.hits.by_path[path]) == 1


def test_server_errors_are_retried_after_retry_after(c_worker, server, web):
    path = f"/flaky-{uuid.uuid4()}"
    result = run_workflow(server, {"url": web.url + path}, c_worker.queue)
    assert result["body"] == {"after": 3}
    times = web.hits.by_path[path]
    assert len(times) == 3
    # The policy's interval is 100 ms; Retry-After: 1 made each wait about a second.
    assert all(later - earlier >= 0.9 for earlier, later in zip(times, times[1:]))


def test_a_result_over_the_payload_limit_fails_for_good(c_worker, server, web):
    path = f"/big-{uuid.uuid4()}"
    with pytest.raises(WorkflowFailureError) as failure:
        run_workflow(server, {"url": web.url + path}, c_worker.queue)
    error = failure.value.cause.cause
    assert error.type == "PayloadSizeLimitExceeded" and error.non_retryable
    assert "over the payload limit" in error.message
    assert len(web.hits.by_path[path]) == 1


def test_connection_errors_are_retried_then_fail(c_worker, server):
    with pytest.raises(WorkflowFailureError) as failure:
        run_workflow(server, {"url": "http://127.0.0.1:1/", "timeoutSeconds": 2}, c_worker.queue)
    assert failure.value.cause.cause.type == "HttpConnectionError"


def test_sigterm_lets_the_activity_in_flight_finish(server, worker, web):
    queue = f"portico-c-{uuid.uuid4()}"
    w = CWorker(build_paths("portico-worker")[0].values[0], server, queue)

    async def main():
        client = await Client.connect(server.address)
        handle = await client.start_workflow("CallHttp", args=[{"url": f"{web.url}/slow"}, queue],
                                             id=f"slow-{uuid.uuid4()}", task_queue=TASK_QUEUE)
        while not web.hits.by_path.get("/slow"):
            await asyncio.sleep(0.05)
        status = await asyncio.get_running_loop().run_in_executor(None, w.stop)
        return status, await handle.result()

    status, result = asyncio.run(main())
    assert status == 0, w.output
    assert result["body"] == {"slow": True}
    assert "finishing activities in flight" in w.output


@pytest.mark.parametrize("path", build_paths("portico-worker"))
def test_a_stuck_activity_and_queued_tasks_are_handed_back_at_shutdown(path, server, worker):
    """SIGTERM with grace 1 s, one thread and three tasks taken: one runs an activity that ignores
    its cancellation (tests/workflows/stubborn.c), two wait in the queue. The worker exits 0 at
    once past its grace, leaving the stuck one, but only after its WorkerShutdown failures reached
    Temporal: the second worker runs all three within seconds, not after the 60 s start-to-close."""
    from temporalio.api.enums.v1 import EventType, PendingActivityState
    library = str(Path(path).parent / "tests/workflows/libstubborn.so")
    queue = f"portico-c-{uuid.uuid4()}"
    first = CWorker(path, server, queue, "--activities", library, PORTICO_WORKER_GRACE_SECONDS="1",
                    PORTICO_WORKER_THREADS="1", PORTICO_WORKER_MAX_CONCURRENT="4")

    async def main():
        client = await Client.connect(server.address)
        handles = [await client.start_workflow("RunActivity", args=["test.stubborn", {}, queue, 60000],
                                               id=f"stuck-{uuid.uuid4()}", task_queue=TASK_QUEUE)
                   for _ in range(3)]

        async def started(handle):
            pending = (await handle.describe()).raw_description.pending_activities
            return bool(pending) and pending[0].state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED

        deadline = time.monotonic() + 30
        while not all([await started(h) for h in handles]):
            assert time.monotonic() < deadline, "the worker did not take the three tasks"
            await asyncio.sleep(0.1)
        stopping = time.monotonic()
        status = await asyncio.get_running_loop().run_in_executor(None, first.stop)
        stopped = time.monotonic()
        second = CWorker(path, server, queue, "--activities", library)
        try:
            results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 30)
        finally:
            assert second.stop() == 0, second.output
        histories = [await h.fetch_history() for h in handles]
        return status, stopped - stopping, time.monotonic() - stopped, results, histories

    status, stopping, retried_in, results, histories = asyncio.run(main())
    assert status == 0, first.output
    assert "leaving an activity that would not stop" in first.output, first.output
    assert "ERROR: AddressSanitizer" not in first.output, first.output
    assert stopping < 1 + 5 + 10, first.output  # grace, CANCEL_WAIT_MS, then the answers' own deadline
    assert results == [{"attempt": 2}] * 3, results
    assert retried_in < 20, retried_in  # well before the 60 s start-to-close timeout
    for history in histories:
        [retried] = [e.activity_task_started_event_attributes for e in history.events
                     if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED]
        assert retried.attempt == 2, retried
        assert retried.last_failure.application_failure_info.type == "WorkerShutdown", retried


def test_a_killed_worker_loses_nothing(server, worker):
    """kill -9 mid-activity: the heartbeat timeout lets Temporal retry on another worker, which
    resumes from the last heartbeat."""
    path = build_paths("portico-worker")[0].values[0]
    example = str(Path(path).parent / "examples/libcountdown.so")
    queue = f"portico-c-{uuid.uuid4()}"
    first = CWorker(path, server, queue, "--activities", example)

    async def main():
        client = await Client.connect(server.address)
        handle = await client.start_workflow("Countdown", args=[{"from": 30, "stepMs": 100}, queue],
                                             id=f"killed-{uuid.uuid4()}", task_queue=TASK_QUEUE)
        await asyncio.sleep(1.0)
        first.process.kill()
        first.process.wait()
        second = CWorker(path, server, queue, "--activities", example)
        try:
            return await handle.result()
        finally:
            assert second.stop() == 0

    result = asyncio.run(main())
    assert result["attempt"] == 2 and result["reached"] == 0
    assert 0 < result["resumedFrom"] < 30


# ---- Settings, --help, health, start-up and log lines -----------------------------------------

WORKER_PATHS = build_paths("portico-worker")


@pytest.mark.parametrize("path", WORKER_PATHS)
@pytest.mark.parametrize("name, value", [
    ("PORTICO_WORKER_GRACE_SECONDS", "abc"), ("PORTICO_WORKER_GRACE_SECONDS", "5x"),
    ("PORTICO_WORKER_GRACE_SECONDS", "-1"), ("PORTICO_WORKER_MAX_CONCURRENT", "abc"),
    ("PORTICO_WORKER_MAX_CONCURRENT", "0"), ("PORTICO_WORKER_MAX_CONCURRENT", "99999999999999999999"),
    ("PORTICO_WORKER_THREADS", "many"), ("PORTICO_WORKER_THREADS", "0"), ("TEMPORAL_TLS", "maybe")])
def test_a_bad_setting_stops_the_worker_naming_it(path, name, value):
    """A setting that does not parse is refused at start-up (status 2), never read as 0."""
    import os
    completed = subprocess.run([path], env=dict(os.environ, **{name: value}), capture_output=True, text=True,
                               timeout=30)
    assert completed.returncode == 2, completed
    assert f"{name}: expected" in completed.stderr and f'"{value}"' in completed.stderr, completed.stderr
    assert "polling" not in completed.stderr


@pytest.mark.parametrize("path", WORKER_PATHS)
def test_more_long_polls_than_one_connection_should_hold_are_refused(path):
    """64 activity polls and 2 x 64 workflow polls would hold more streams than a proxy's usual 128
    on the one connection the answers share: refused at start-up, naming both settings."""
    import os
    completed = subprocess.run([path], env=dict(os.environ, PORTICO_WORKER_POLLERS="64", PORTICO_WORKFLOW_POLLERS="64"),
                               capture_output=True, text=True, timeout=30)
    assert completed.returncode == 2, completed
    assert "PORTICO_WORKER_POLLERS (64) and PORTICO_WORKFLOW_POLLERS (64): 64 activity long polls and 128 " \
        "workflow ones (the task queue's and the sticky queue's) make 192 at once, over 100" in completed.stderr, \
        completed.stderr


@pytest.mark.parametrize("path", WORKER_PATHS)
def test_an_unknown_argument_is_refused(path):
    completed = subprocess.run([path, "--activites", "x.so"], capture_output=True, text=True, timeout=30)
    assert completed.returncode == 2 and 'unexpected argument "--activites"' in completed.stderr, completed


def settings_read_by(directories):
    """Every PORTICO_* and TEMPORAL_* variable the C sources of directories read (as a literal)."""
    import re
    from devserver import TOP
    names = set()
    for directory in directories:
        for source in (TOP / directory).glob("*.c"):
            names |= set(re.findall(r'"((?:PORTICO|TEMPORAL)_[A-Z0-9_]+)"', source.read_text()))
    return names


@pytest.mark.parametrize("program, directories", [("portico", ["gateway", "sdk"]),
                                                  ("portico-worker", ["worker", "sdk"])])
def test_help_lists_every_setting_with_its_default_and_meaning(program, directories):
    for path in build_paths(program):
        completed = subprocess.run([path.values[0], "--help"], capture_output=True, text=True, timeout=30)
        assert completed.returncode == 0 and completed.stderr == "", completed
        lines = {line.split()[0]: line.split(None, 2)[1:] for line in completed.stdout.splitlines()
                 if line.startswith("  ")}
        for name in settings_read_by(directories):
            # Aliases (TEMPORAL_TLS_CLIENT_CERT_PATH…) are named in their main variable's line.
            assert name in lines or f"(or {name})" in completed.stdout, (program, name)
        for name, (default, meaning) in lines.items():
            assert default and len(meaning.split()) >= 2, (program, name)


def worker_port(w):
    import re
    match = re.search(r"metrics on http://\S+ \(port (\d+)\)", Path(w.log.name).read_text())
    return int(match.group(1))


def wait_for_status(url, status, attempts=200):
    from http_client import get
    for _ in range(attempts):
        answer = get(url, timeout=10)
        if answer.status == status:
            return answer
        time.sleep(0.1)
    raise AssertionError(answer)


@pytest.mark.parametrize("path", WORKER_PATHS)
def test_health_readiness_and_the_activities_at_start_up(path, server):
    from http_client import get
    examples, queue = Path(path).parent / "examples", f"portico-c-{uuid.uuid4()}"
    w = CWorker(path, server, queue, "--activities", str(examples / "libcountdown.so"),
                "--activities", str(examples / "libecho.so"), PORTICO_WORKER_METRICS_LISTEN="127.0.0.1:0")
    try:
        base = f"http://127.0.0.1:{worker_port(w)}"
        health = get(f"{base}/healthz")
        assert health.status == 200 and health.json == {"status": "ok"}, health
        assert wait_for_status(f"{base}/readyz", 200).json == {"status": "ready"}
        assert get(f"{base}/metrics").status == 200
        assert get(f"{base}/nothing").status == 404
        started = [json.loads(line) for line in Path(w.log.name).read_text().splitlines()
                   if '"activities registered"' in line]
        assert len(started) == 1 and started[0]["taskQueue"] == queue, started
        assert started[0]["activityTypes"] == ["http.request", "example.countdown", "example.echo"], started
    finally:
        assert w.stop() == 0, w.output


@pytest.mark.parametrize("path", WORKER_PATHS)
def test_not_ready_while_polls_fail_or_temporal_is_away(path, server):
    """An unknown namespace fails every poll while Temporal itself answers; a wrong address
    reaches nothing (the polls or the probe's own call say so first). Either way the process is
    alive (/healthz) but not ready, with the reason."""
    from http_client import get
    unreachable = type("Away", (), {"address": "127.0.0.1:1"})
    for temporal, extra, reason in [(server, {"TEMPORAL_NAMESPACE": f"missing-{uuid.uuid4()}"}, "polling task queue"),
                                    (unreachable, {}, "127.0.0.1:1")]:
        w = CWorker(path, temporal, f"portico-c-{uuid.uuid4()}", PORTICO_WORKER_METRICS_LISTEN="127.0.0.1:0",
                    **extra)
        try:
            base = f"http://127.0.0.1:{worker_port(w)}"
            assert get(f"{base}/healthz").status == 200
            answer = wait_for_status(f"{base}/readyz", 503)
            assert answer.json["status"] == "not ready" and reason in answer.json["message"], answer
        finally:
            assert w.stop() == 0, w.output


ODD_ID = 'odd "quoted" \\back\\slashed\\ id'


def json_lines(text):
    """Every log line that looks like JSON, parsed: one that does not parse fails the test."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_log_lines_stay_json_with_quotes_and_backslashes_in_ids(c_worker, server):
    """Each attempt of the countdown outlives its 500 ms start-to-close timeout and is logged as
    timed out, with the workflow id as it is."""
    workflow_id = f"{ODD_ID} {uuid.uuid4()}"

    async def main():
        client = await Client.connect(server.address)
        handle = await client.start_workflow("RunActivity", args=["example.countdown", {"from": 1000, "stepMs": 50},
                                                                  c_worker.queue, 500],
                                             id=workflow_id, task_queue=TASK_QUEUE)
        with pytest.raises(WorkflowFailureError):
            await handle.result()

    asyncio.run(main())
    deadline = time.monotonic() + 20
    while True:
        lines = json_lines(Path(c_worker.log.name).read_text())
        timed_out = [line for line in lines if line.get("workflowId") == workflow_id]
        if timed_out or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert timed_out and timed_out[0]["message"] == "attempt timed out", lines
    assert timed_out[0]["activityType"] == "example.countdown"
    # and the worker goes on as before.
    assert run_activity(server, "example.sleep", {"ms": 1}, c_worker.queue) == {"slept": 1}


@pytest.mark.parametrize("path", WORKER_PATHS)
def test_input_the_worker_cannot_decrypt_is_logged_with_the_activity_type(path, server):
    """The workflow's worker encrypts the activity's argument and the C worker has no key (its
    answer, unencrypted, still reads): the activity sees no input (echo returns null) and the
    worker logs which activity and why."""
    import base64
    import dataclasses
    import os
    import sys
    from conftest import HERE, LoggedProcess
    from encryption_codec import EncryptionCodec
    from temporalio.converter import DataConverter

    python_queue, c_queue = f"py-{uuid.uuid4()}", f"portico-c-{uuid.uuid4()}"
    key = b"k" * 32
    python_worker = LoggedProcess([sys.executable, str(HERE / "worker.py"), "--address", server.address,
                                   "--task-queue", python_queue, "--codec-key", f"theirs={base64.b64encode(key).decode()}"],
                                  dict(os.environ), "ready")
    w = CWorker(path, server, c_queue, "--activities", str(Path(path).parent / "examples/libecho.so"))
    workflow_id = f"{ODD_ID} {uuid.uuid4()}"

    async def main():
        converter = dataclasses.replace(DataConverter.default, payload_codec=EncryptionCodec({"theirs": key}, "theirs"))
        client = await Client.connect(server.address, data_converter=converter)
        return await client.execute_workflow("RunActivity", args=["example.echo", {"secret": 1}, c_queue],
                                             id=workflow_id, task_queue=python_queue,
                                             execution_timeout=timedelta(seconds=60))

    try:
        assert asyncio.run(main()) is None
    finally:
        python_worker.stop()  # first: an assertion on the C worker must not leave it running
        assert w.stop() == 0, w.output
    logged = [line for line in json_lines(w.output) if line["message"] == "activity input cannot be decoded"]
    assert len(logged) == 1, w.output
    assert logged[0]["activityType"] == "example.echo" and logged[0]["workflowId"] == workflow_id, logged
    assert logged[0]["level"] == "error" and "no codec keys (PORTICO_CODEC_KEYS)" in logged[0]["reason"], logged
