"""The HTTP layer's bounds and hygiene: slow clients dropped after the request timeout, a limit of
connections per client address, metrics labels from closed sets, requests whose framing is unclear
refused at once, queries of any number of parameters answered, malformed ones named, HEAD on every
GET route, access-log lines that stay JSON whatever the path holds, CORS "*" without credentials
and a single Retry-After. Malformed HTTP goes over raw sockets."""

import hashlib
import http.client
import json
import random
import socket
import string
import time
import uuid

import pytest

from conftest import TASK_QUEUE, build_paths, start_gateway
from http_client import get, post, request
from test_metrics import samples_of


def exchange(gateway, raw, timeout=10):
    """Sends raw bytes on a new connection; returns (status, headers, body) of the answer, or
    None when the gateway closes the connection without one."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=timeout) as connection:
        connection.sendall(raw)
        try:
            response = http.client.HTTPResponse(connection, method=raw.split(b" ")[0].decode())
            response.begin()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return None
        return response.status, response.headers, response.read()


def error_message(answer):
    status, _, body = answer
    return status, json.loads(body)["message"]


def wait_closed(connection, trickle, limit_s):
    """Sends trickle() every 0.2 s until the peer closes; returns the seconds it took (limit_s if
    it never did)."""
    started = time.monotonic()
    connection.settimeout(0.2)
    while time.monotonic() - started < limit_s:
        try:
            if connection.recv(4096) == b"":
                return time.monotonic() - started
        except socket.timeout:
            pass
        except ConnectionResetError:
            return time.monotonic() - started
        try:
            connection.sendall(trickle())
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - started
    return limit_s


def start_strict(path, server):
    """A gateway with a 1 s request timeout and 4 connections per client address."""
    return start_gateway(path, server.address, PORTICO_REQUEST_TIMEOUT="1s", PORTICO_MAX_CONNECTIONS_PER_CLIENT="4")


@pytest.fixture(params=build_paths("portico"))
def strict(request, server, worker):
    gw = start_strict(request.param, server)
    yield gw
    gw.stop_cleanly()


@pytest.mark.parametrize("path", build_paths("portico"))
def test_a_slow_client_is_dropped_after_the_request_timeout(server, worker, path):
    strict = start_strict(path, server)
    try:
        with socket.create_connection(("127.0.0.1", strict.port)) as connection:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
            # A byte every 0.2 s kept the connection for as long as the client liked: each reset
            # the idle timeout.
            assert wait_closed(connection, lambda: b"X", 10) < 5
        with socket.create_connection(("127.0.0.1", strict.port)) as connection:
            connection.sendall(b"POST /api/v1/namespaces/default/workflows/x HTTP/1.1\r\nHost: localhost\r\n"
                               b"Content-Length: 1000\r\n\r\n")
            assert wait_closed(connection, lambda: b"{", 10) < 5
        # A connection that says nothing at all is dropped too.
        with socket.create_connection(("127.0.0.1", strict.port)) as connection:
            assert wait_closed(connection, lambda: b"", 10) < 5
    finally:
        strict.stop_cleanly()
    lines = [json.loads(line) for line in strict.stdout.splitlines()]
    assert any(line["method"] == "POST" and line["status"] == 408 for line in lines), lines


def test_idle_keep_alive_and_slow_answers_are_not_request_timeouts(strict, workflow_id):
    connection = http.client.HTTPConnection("127.0.0.1", strict.port, timeout=30)
    connection.request("GET", "/healthz")
    assert connection.getresponse().read() == b'{"status":"ok"}'
    time.sleep(2.5)  # idle between requests: the idle timeout applies, not the request timeout
    connection.request("GET", "/healthz")
    assert connection.getresponse().read() == b'{"status":"ok"}'
    # Serving may take longer than receiving may: a result wait of 2.5 s is answered.
    started = post(f"{strict.url}/api/v1/namespaces/default/workflows/{workflow_id}",
                   {"workflowType": "Sleeper", "taskQueue": TASK_QUEUE, "args": [3600]})
    assert started.status == 200, started
    before = time.monotonic()
    connection.request("GET", f"/api/v1/namespaces/default/workflows/{workflow_id}/result?timeout=2500ms")
    waited = connection.getresponse()
    waited.read()
    assert waited.status in (200, 202, 408, 504) and time.monotonic() - before >= 2
    connection.close()
    terminated = post(f"{strict.url}/api/v1/namespaces/default/workflows/{workflow_id}/terminate", {})
    assert terminated.status == 200, terminated


def test_connections_per_client_address_are_limited(strict):
    held = []
    try:
        for _ in range(4):
            connection = http.client.HTTPConnection("127.0.0.1", strict.port, timeout=10)
            connection.request("GET", "/healthz")
            assert connection.getresponse().read() == b'{"status":"ok"}'
            held.append(connection)
        assert exchange(strict, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n") is None
        # Another address is served, and so are the connections already open.
        with socket.create_connection(("127.0.0.1", strict.port), timeout=10,
                                      source_address=("127.0.0.2", 0)) as other:
            other.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            assert other.makefile("rb").readline().startswith(b"HTTP/1.1 200")
        for connection in held:
            connection.request("GET", "/healthz")
            assert connection.getresponse().status == 200
    finally:
        for connection in held:
            connection.close()
    time.sleep(0.5)  # the closes reach the gateway
    assert exchange(strict, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")[0] == 200


def test_made_up_methods_add_no_metrics_series(gateway):
    def series(samples):
        return {key for key in samples if key[0] == "portico_http_requests_total"}

    # A request is counted once its answer is sent: the scrapes go on the same connection, where
    # that is done before the next request is read, so that each sees every request before it.
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)

    def scrape_here():
        connection.request("GET", "/metrics")
        return samples_of(connection.getresponse().read().decode())

    connection.request("BREW", "/nowhere")
    connection.getresponse().read()
    scrape_here()  # the scrape's own series
    before = series(scrape_here())
    for _ in range(500):
        method = "".join(random.choices(string.ascii_uppercase, k=12))
        connection.request(method, "/nowhere")
        assert connection.getresponse().read()
    after = scrape_here()
    connection.close()
    assert series(after) == before
    key = ("portico_http_requests_total", (("method", "OTHER"), ("route", "unmatched"), ("status", "404")))
    assert after[key] >= 501


@pytest.mark.parametrize("headers, status, named", [
    (b"Content-Length: 2\r\nContent-Length: 4\r\n", 400, "Content-Length"),
    (b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", 400, "Content-Length and Transfer-Encoding"),
    (b"Transfer-Encoding: gzip\r\n", 501, 'Transfer-Encoding "gzip"'),
    (b"Transfer-Encoding: chunked, chunked\r\n", 400, "Transfer-Encoding"),
    (b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400, "Transfer-Encoding"),
    (b"Transfer-Encoding: gzip, chunked\r\n", 501, 'Transfer-Encoding "gzip"'),
])
def test_unclear_body_framing_is_refused_at_once(gateway, headers, status, named):
    before = time.monotonic()
    answer = exchange(gateway, b"POST /api/v1/namespaces/default/workflows/x HTTP/1.1\r\nHost: localhost\r\n" + headers +
                      b"\r\n4\r\nabcd\r\n0\r\n\r\n")
    assert answer is not None and answer[0] == status
    assert time.monotonic() - before < 10  # not after the 30 s a body may take
    assert named in json.loads(answer[2])["message"]
    # Equal lengths twice are one length.
    answer = exchange(gateway, b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 2\r\n"
                      b"Connection: close\r\n\r\n{}")
    assert answer[0] == 404


def test_many_query_parameters_are_answered(gateway):
    query = "&".join(f"p{i}=v{i}" for i in range(400))
    answer = exchange(gateway, f"GET /healthz?{query} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    assert answer is not None and answer[0] == 200
    # On a route of Temporal's, each parameter is read: an unknown one is named.
    listed = get(f"{gateway.url}/api/v1/namespaces/default/workflows?pageSize=1&{query}")
    assert listed.status == 400 and listed.json["message"].startswith("p0: unknown field"), listed


def test_a_malformed_query_parameter_is_named(gateway):
    for query, name in (("query=%zz", "query"), ("ok=1&pageSize=%4", "pageSize"), ("a%00b=1", "a%00b")):
        answer = exchange(gateway, f"GET /api/v1/namespaces/default/workflows?{query} HTTP/1.1\r\n"
                                   f"Host: localhost\r\n\r\n".encode())
        status, message = error_message(answer)
        assert status == 400 and f'"{name}"' in message and "escape" in message, message


def test_head_is_served_on_every_get_route(gateway, workflow_id):
    started = post(f"{gateway.url}/api/v1/namespaces/default/workflows/{workflow_id}",
                   {"workflowType": "Echo", "taskQueue": TASK_QUEUE, "args": ["x"]})
    assert started.status == 200
    for path in ("/healthz", "/openapi.json", "/metrics", "/api/v1/namespaces/default/workflows",
                 f"/api/v1/namespaces/default/workflows/{workflow_id}", "/api/v1/system-info"):
        full = get(f"{gateway.url}{path}")
        head = exchange(gateway, f"HEAD {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        assert full.status == 200 and head is not None and head[0] == 200, (path, head)
        assert head[2] == b"" and int(head[1]["Content-Length"]) > 0
        assert head[1]["Content-Type"] == full.headers["Content-Type"]
    spec = get(f"{gateway.url}/openapi.json").json
    for path, item in spec["paths"].items():
        if "get" in item and "{" not in path:
            head = exchange(gateway, f"HEAD {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
            assert head is not None and head[0] != 405 and head[2] == b"", (path, head)


@pytest.mark.parametrize("path", build_paths("portico"))
def test_access_log_lines_stay_json_whatever_the_path(server, worker, path):
    gw = start_gateway(path, server.address)
    try:
        for raw_path in (b"/x\xff\xfe/y", b"/x\x01\x7f\"\\/y", b"/x\xc3\xa9/y",
                         b"/api/v1/namespaces/default/workflows/\xff"):
            answer = exchange(gw, b"GET " + raw_path + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            assert answer is not None
    finally:
        gw.stop_cleanly()
    lines = [json.loads(line) for line in gw.stdout.splitlines()]
    paths = [line["path"] for line in lines]
    assert "/x\ufffd\ufffd/y" in paths and "/x\x01\x7f\"\\/y" in paths and "/x\u00e9/y" in paths, paths
    assert all(line["status"] for line in lines), lines


@pytest.mark.parametrize("path", build_paths("portico"))
def test_cors_star_never_grants_credentials(server, worker, path):
    # With credentials checked ("*" counts for nothing while auth is off: test_browsers.py).
    gw = start_gateway(path, server.address, PORTICO_CORS_ORIGINS="http://ui.example,*", PORTICO_AUTH="passthrough")
    try:
        url = f"{gw.url}/api/v1/namespaces/default/workflows/x"
        for origin in ("http://evil.example", "null"):
            preflight = request("OPTIONS", url, headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
            assert preflight.status == 204
            assert preflight.headers["Access-Control-Allow-Origin"] == "*"
            assert "Access-Control-Allow-Credentials" not in preflight.headers
            simple = get(f"{gw.url}/healthz", headers={"Origin": origin})
            assert simple.headers["Access-Control-Allow-Origin"] == "*"
            assert "Access-Control-Allow-Credentials" not in simple.headers
        listed = request("OPTIONS", url,
                         headers={"Origin": "http://ui.example", "Access-Control-Request-Method": "POST"})
        assert listed.headers["Access-Control-Allow-Origin"] == "http://ui.example"
        assert listed.headers["Access-Control-Allow-Credentials"] == "true"
        assert listed.headers["Vary"] == "Origin"
    finally:
        gw.stop_cleanly()


@pytest.mark.parametrize("path", build_paths("portico"))
def test_a_rate_limited_answer_has_one_retry_after(server, worker, tmp_path, path):
    key = f"k-{uuid.uuid4()}"
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"apiKeys": [{
        "name": "slow", "sha256": hashlib.sha256(key.encode()).hexdigest(), "namespaces": ["default"],
        "permissions": ["read"], "rateLimit": {"perSecond": 0.2, "burst": 1}}]}))
    gw = start_gateway(path, server.address, PORTICO_AUTH="keys", PORTICO_AUTH_FILE=str(auth))
    try:
        url = f"{gw.url}/api/v1/system-info"
        headers = {"Authorization": f"Bearer {key}"}
        assert get(url, headers=headers).status == 200
        limited = get(url, headers=headers)
        assert limited.status == 429, limited
        assert len(limited.headers.get_all("Retry-After")) == 1, limited.headers
        # The limiter's own wait (a token every 5 s), the same the message gives.
        wait = int(limited.headers["Retry-After"])
        assert wait >= 4 and f"retry after {wait} s" in limited.json["message"], limited
    finally:
        gw.stop_cleanly()
