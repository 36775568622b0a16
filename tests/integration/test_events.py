"""GET …/workflows/{id}/events: a workflow's history as Server-Sent Events.

Every event of the history arrives, in order, as Temporal's JSON (the plain history route's),
across continue-as-new; a client that reconnects with Last-Event-ID misses nothing and sees
nothing twice; ?filter= keeps the kinds asked for; a client that leaves ends the gateway's long
poll at once; what cannot be streamed is refused before anything starts."""

import http.client
import json
import re
import signal as signal_module
import socket
import time
import uuid

import pytest

from conftest import TASK_QUEUE, build_paths, start_gateway
from http_client import get, post

NAMESPACE = "/api/v1/namespaces/default"
SSE = {"Accept": "text/event-stream"}


@pytest.fixture(scope="module", params=build_paths("portico"))
def gw(request, server, worker):
    """A gateway whose idle streams get a keep-alive every second."""
    gateway = start_gateway(request.param, server.address, PORTICO_SSE_HEARTBEAT="1s")
    yield gateway
    gateway.stop_cleanly()


class Stream:
    """An open event stream: .next() reads one event as a dict of its fields (data parsed as JSON),
    or a keep-alive as {"comment": …}."""

    def __init__(self, gateway, workflow_id, query="", headers=None, timeout=30):
        self.connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=timeout)
        self.connection.request("GET", f"{NAMESPACE}/workflows/{workflow_id}/events{query}",
                                headers={**SSE, **(headers or {})})
        self.response = self.connection.getresponse()

    def next(self):
        fields = {}
        while True:
            line = self.response.readline()
            assert line, f"the stream ended before a whole event: {fields}"
            line = line.decode().rstrip("\n")
            if not line:
                if fields:
                    return fields
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if not name:
                fields.setdefault("comment", value)
            elif name == "data":
                fields["data"] = json.loads(value)
            else:
                fields[name] = value

    def events(self, until):
        """Events (keep-alives left out) up to and including the first for which until is true."""
        seen = []
        while True:
            event = self.next()
            if "comment" in event:
                continue
            seen.append(event)
            if until(event):
                return seen

    def rest(self):
        """Every event up to the end of the stream, which must end with event: end."""
        seen = self.events(lambda event: event["event"] == "end")
        assert self.response.readline() == b"", "bytes after event: end"
        return seen

    def close(self):
        self.connection.close()


def start(gateway, workflow_id, runs_left=0, task_queue=TASK_QUEUE):
    response = post(f"{gateway.url}{NAMESPACE}/workflows/{workflow_id}",
                    {"workflowType": "Journey", "taskQueue": task_queue, "args": [runs_left]})
    assert response.status == 200, response
    return response.json["runId"]


def signal(gateway, workflow_id, name, args=None):
    response = post(f"{gateway.url}{NAMESPACE}/workflows/{workflow_id}/signal/{name}",
                    {"args": args} if args is not None else {})
    assert response.status == 200, response


def history(gateway, workflow_id, run_id):
    """Every event of a run, from the plain history route."""
    events, token = [], ""
    while True:
        response = get(f"{gateway.url}{NAMESPACE}/workflows/{workflow_id}/history"
                       f"?execution.runId={run_id}&nextPageToken={token}")
        assert response.status == 200, response
        events += response.json["history"]["events"]
        token = response.json.get("nextPageToken", "")
        if not token:
            return events


def waiting(event):
    """The first run is waiting for "go" once its timer fired."""
    return event["event"] == "EVENT_TYPE_TIMER_FIRED"


def test_every_event_in_order_across_continue_as_new(gw, workflow_id):
    first_run = start(gw, workflow_id, runs_left=1)
    stream = Stream(gw, workflow_id)
    assert stream.response.status == 200
    assert stream.response.getheader("Content-Type") == "text/event-stream"
    assert stream.response.getheader("Cache-Control") == "no-cache"
    seen = stream.events(waiting)
    signal(gw, workflow_id, "note", ["hi"])
    signal(gw, workflow_id, "go")
    seen += stream.events(waiting)  # the second run's timer
    signal(gw, workflow_id, "go")
    seen += stream.rest()
    stream.close()

    end = seen.pop()
    runs = list(dict.fromkeys(event["id"].split(":")[0] for event in seen))
    assert len(runs) == 2 and runs[0] == first_run
    assert end["data"] == {"workflowId": workflow_id, "runId": runs[1],
                           "status": "WORKFLOW_EXECUTION_STATUS_COMPLETED"}
    assert end["id"] == seen[-1]["id"]
    expected = [event for run in runs for event in history(gw, workflow_id, run)]
    assert [event["data"] for event in seen] == expected
    for event in seen:
        run, _, number = event["id"].partition(":")
        assert event["event"] == event["data"]["eventType"] and number == event["data"]["eventId"]
    assert seen[len(history(gw, workflow_id, runs[0])) - 1]["event"] == \
        "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW"
    assert any(event["event"] == "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"
               and event["data"]["workflowExecutionSignaledEventAttributes"]["input"] == ["hi"] for event in seen)


def test_last_event_id_resumes_without_gaps_or_repeats(gw, workflow_id):
    start(gw, workflow_id)
    stream = Stream(gw, workflow_id)
    before = stream.events(lambda event: len(event) and event["data"]["eventId"] == "5")
    stream.close()
    resumed = Stream(gw, workflow_id, headers={"Last-Event-ID": before[-1]["id"]})
    after = resumed.events(waiting)
    signal(gw, workflow_id, "go")
    after += resumed.rest()
    resumed.close()
    numbers = [int(event["data"]["eventId"]) for event in before + after[:-1]]
    assert numbers == list(range(1, len(numbers) + 1))
    assert [event["data"] for event in before + after[:-1]] == history(gw, workflow_id, after[0]["id"].split(":")[0])

    # An EventSource-less client says where it was in the query; the header, newer, wins over it.
    last = after[-2]["id"]
    assert [e["event"] for e in Stream(gw, workflow_id, f"?lastEventId={last}").rest()] == ["end"]
    ahead = Stream(gw, workflow_id, "?lastEventId=" + before[0]["id"], headers={"Last-Event-ID": last})
    assert [e["event"] for e in ahead.rest()] == ["end"]


def test_filter_keeps_the_kinds_asked_for(gw, workflow_id):
    start(gw, workflow_id)
    signal(gw, workflow_id, "note", [1])
    signal(gw, workflow_id, "go")
    seen = Stream(gw, workflow_id, "?filter=activity,signal").rest()
    kinds = [event["event"] for event in seen]
    assert kinds[-1] == "end"
    assert set(kinds[:-1]) == {"EVENT_TYPE_ACTIVITY_TASK_SCHEDULED", "EVENT_TYPE_ACTIVITY_TASK_STARTED",
                               "EVENT_TYPE_ACTIVITY_TASK_COMPLETED", "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED"}
    assert kinds.count("EVENT_TYPE_ACTIVITY_TASK_COMPLETED") == 2
    closing = Stream(gw, workflow_id, "?filter=close").rest()
    assert [event["event"] for event in closing] == ["EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED", "end"]


def test_what_cannot_be_streamed_is_refused_first(gw, workflow_id):
    start(gw, workflow_id)
    url = f"{gw.url}{NAMESPACE}/workflows/{workflow_id}/events"
    refused = get(url, headers={"Accept": "application/json"})
    assert refused.status == 406 and "text/event-stream" in refused.json["message"], refused
    for query, headers, words in [("?filter=activity,nope", SSE, '"nope" is not a kind'),
                                  ("?filter=", SSE, "an empty item"),
                                  ("", {**SSE, "Last-Event-ID": "nonsense"}, "Last-Event-ID"),
                                  ("?lastEventId=run:0", SSE, "from 1 up")]:
        response = get(url + query, headers=headers)
        assert response.status == 400 and words in response.json["message"], (query, response)
    assert get(f"{gw.url}{NAMESPACE}/workflows/missing-{uuid.uuid4()}/events", headers=SSE).status == 404
    # curl's Accept: */* takes any type.
    stream = Stream(gw, workflow_id, headers={"Accept": "*/*"})
    assert stream.next()["event"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    stream.close()
    signal(gw, workflow_id, "go")


def history_calls(gateway, code):
    text = get(f"{gateway.url}/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith('portico_temporal_calls_total{method="GetWorkflowExecutionHistory"')
               and f'code="{code}"' in line)


def in_flight(gateway):
    """Requests in flight, not counting the /metrics request that asks."""
    text = get(f"{gateway.url}/metrics").text
    return int(float(re.search(r"^portico_http_requests_in_flight (\S+)", text, re.M).group(1))) - 1


def test_idle_streams_get_keep_alives_and_a_client_that_leaves_ends_the_poll(gw, workflow_id):
    start(gw, workflow_id)
    stream = Stream(gw, workflow_id)
    stream.events(waiting)
    started = time.monotonic()
    while "comment" not in stream.next():
        pass
    assert stream.next() == {"comment": "keep-alive"}  # and again a heartbeat later
    # Two of 1 s each: well below the 15 s default, with room for a loaded machine.
    assert time.monotonic() - started < 8
    cancelled = history_calls(gw, "CANCELLED")
    stream.close()
    deadline = time.monotonic() + 10  # the long poll itself would go on for 70 s
    while history_calls(gw, "CANCELLED") == cancelled:
        assert time.monotonic() < deadline, "the long poll went on after its client left"
        time.sleep(0.05)
    signal(gw, workflow_id, "go")


def test_streams_past_the_limit_get_503(server, worker, workflow_id):
    gateway = start_gateway(build_paths("portico")[0].values[0], server.address, PORTICO_MAX_STREAMS="2")
    try:
        start(gateway, workflow_id)
        streams = [Stream(gateway, workflow_id) for _ in range(2)]
        assert all(stream.next()["event"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED" for stream in streams)
        refused = get(f"{gateway.url}{NAMESPACE}/workflows/{workflow_id}/events", headers=SSE)
        assert refused.status == 503 and "PORTICO_MAX_STREAMS" in refused.json["message"], refused
        assert refused.headers["Retry-After"]
        for stream in streams:
            stream.close()
        signal(gateway, workflow_id, "go")
    finally:
        gateway.stop_cleanly()


def test_a_client_that_stops_reading_stops_the_polls_until_it_reads(gw, workflow_id):
    """The gateway buffers at most a page of events past 64 KiB for a slow reader: with its buffer
    full it polls Temporal no more until the client has read it."""
    # On a task queue no worker polls: the signals only add to the history, and the shared test
    # worker is not kept busy with 200 workflow tasks over 8 MB of history after the test.
    start(gw, workflow_id, task_queue=f"nobody-{uuid.uuid4()}")
    note = "x" * 40000
    for n in range(200):  # 8 MB of history: more than the socket buffers hold
        signal(gw, workflow_id, "note", [f"{n}:{note}"])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", gw.port))
    # HTTP/1.0: the body is not chunked, so events are read straight off the socket.
    sock.sendall(f"GET {NAMESPACE}/workflows/{workflow_id}/events HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                 f"Accept: text/event-stream\r\n\r\n".encode())
    time.sleep(1)
    assert sock.recv(4096, socket.MSG_PEEK).startswith(b"HTTP/1.1 200 OK")
    # The socket's buffers take a page or two first; then the polls stop (an idle stream whose
    # client reads polls every heartbeat, a second here).
    polls, deadline = history_calls(gw, "OK"), time.monotonic() + 15
    while True:
        time.sleep(2)
        assert time.monotonic() < deadline, "the gateway went on polling for a client that reads nothing"
        polls, before = history_calls(gw, "OK"), polls
        if polls == before:
            break
    time.sleep(3)
    assert history_calls(gw, "OK") == polls
    sock.settimeout(30)
    received = b""
    signaled = b"event: EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED\n"
    while received.count(signaled) < 200 or not received.endswith(b": keep-alive\n\n"):
        chunk = sock.recv(1 << 20)
        assert chunk, "the stream ended"
        received += chunk
    assert received.count(signaled) == 200
    sock.close()

    # A client that leaves with its stream stalled on a full buffer frees it all the same.
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", gw.port))
    stalled.sendall(f"GET {NAMESPACE}/workflows/{workflow_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"Accept: text/event-stream\r\n\r\n".encode())
    time.sleep(2)
    assert in_flight(gw) == 1
    stalled.close()
    deadline = time.monotonic() + 5
    while in_flight(gw):
        assert time.monotonic() < deadline, "a stalled stream outlived its client"
        time.sleep(0.1)
    assert post(f"{gw.url}{NAMESPACE}/workflows/{workflow_id}/terminate", {}).status == 200


def test_the_example_page_renders_a_stream_in_chromium(server, worker, workflow_id, tmp_path):
    """examples/events/watch.html, served from an origin of its own that the gateway allows, shows
    the workflow's events as EventSource delivers them, and its end."""
    import functools
    import http.server
    import threading

    from conftest import TOP
    from test_web_ui import chromium

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(TOP / "examples/events"))
    pages = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{pages.server_address[1]}"
    gateway = start_gateway(build_paths("portico")[0].values[0], server.address, PORTICO_CORS_ORIGINS=origin)
    try:
        start(gateway, workflow_id)
        signal(gateway, workflow_id, "go")
        assert get(f"{gateway.url}{NAMESPACE}/workflows/{workflow_id}/result?timeout=30s").status == 200
        dom = chromium(f"{origin}/watch.html?gateway={gateway.url}&workflow={workflow_id}", "--dump-dom").stdout
        for text in ("WORKFLOW_EXECUTION_STARTED Journey", "ACTIVITY_TASK_COMPLETED", "TIMER_FIRED",
                     "WORKFLOW_EXECUTION_SIGNALED go", "closed: COMPLETED", '<p id="status">closed</p>'):
            assert text in dom, (text, dom[-3000:])
        assert dom.count("ACTIVITY_TASK_SCHEDULED shout") == 2
    finally:
        pages.shutdown()
        gateway.stop_cleanly()


def test_a_gateway_that_stops_ends_its_streams_within_a_heartbeat(server, worker, workflow_id):
    """Streams never finish on their own: on SIGTERM they end (without "end", so that clients
    reconnect elsewhere) at their next poll, instead of holding the gateway for its grace period."""
    gateway = start_gateway(build_paths("portico")[0].values[0], server.address, PORTICO_SSE_HEARTBEAT="1s")
    start(gateway, workflow_id)
    stream = Stream(gateway, workflow_id)
    stream.events(waiting)
    started = time.monotonic()
    gateway.process.send_signal(signal_module.SIGTERM)
    while stream.response.readline():
        pass
    assert gateway.stop() == 0 and time.monotonic() - started < 10  # not the 30 s grace period
    stream.close()
