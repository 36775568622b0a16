"""Authentication and authorization on the gateway: API keys (hashed at rest) scoped to namespaces
and permissions, 401 on every protected route (driven from the OpenAPI document, so new routes are
covered), 403 out of scope, 429 then recovery under a rate limit, passthrough mode, and start-up
refused without any setting."""

import hashlib
import json
import os
import re
import subprocess
import time
import uuid

import pytest

from conftest import TASK_QUEUE, build_paths, start_gateway
from http_client import get, post, request

KEYS = {"admin": "k-admin-0123456789", "reader": "k-reader-0123456789", "starter": "k-starter-0123456789",
        "limited": "k-limited-0123456789"}


def entry(name, namespaces, permissions, **extra):
    return {"name": name, "sha256": hashlib.sha256(KEYS[name].encode()).hexdigest(), "namespaces": namespaces,
            "permissions": permissions, **extra}


CONFIG = {"apiKeys": [
    entry("admin", ["*"], ["admin"]),
    entry("reader", ["default"], ["read"]),
    entry("starter", ["default"], ["start", "read"]),
    entry("limited", ["default"], ["read"], rateLimit={"perSecond": 1, "burst": 2}),
]}


def bearer(name):
    return {"Authorization": f"Bearer {KEYS[name]}"}


@pytest.fixture(scope="module", params=build_paths("portico"))
def secured(request, server, worker, tmp_path_factory):
    path = tmp_path_factory.mktemp("auth") / "auth.json"
    path.write_text(json.dumps(CONFIG))
    gw = start_gateway(request.param, server.address, PORTICO_AUTH="keys", PORTICO_AUTH_FILE=str(path))
    yield gw
    assert gw.stop() == 0, gw.stderr
    assert "ERROR: AddressSanitizer" not in gw.stderr and "runtime error:" not in gw.stderr, gw.stderr
    for key in KEYS.values():
        assert key not in gw.stderr and key not in gw.stdout


def concrete(path):
    return re.sub(r"{[^}]+}", lambda m: "default" if m.group(0) == "{namespace}" else "x", path)


def test_every_protected_route_needs_credentials(secured):
    spec = get(f"{secured.url}/openapi.json", headers=bearer("reader")).json
    public = {"/healthz", "/readyz", "/webhooks/{name}"}
    checked = 0
    for path, item in spec["paths"].items():
        for verb in item:
            url = f"{secured.url}{concrete(path)}"
            if path in public:
                continue
            for headers in ({}, {"Authorization": "Bearer not-a-key"}, {"X-API-Key": "nope"}):
                response = request(verb.upper(), url, body={} if verb != "get" else None, headers=headers)
                assert response.status == 401, (verb, path, headers, response)
                assert response.headers["WWW-Authenticate"] == "Bearer"
            checked += 1
    assert checked > 70
    assert get(f"{secured.url}/healthz").status == 200 and get(f"{secured.url}/readyz").status == 200


def test_keys_are_scoped_to_namespaces_and_permissions(secured):
    workflow = f"auth-{uuid.uuid4()}"
    start = {"workflowType": "Echo", "taskQueue": TASK_QUEUE, "args": ["hi"]}
    url = f"{secured.url}/api/v1/namespaces/default/workflows/{workflow}"
    denied = post(url, start, headers=bearer("reader"))
    assert denied.status == 403 and denied.json["code"] == 7
    assert post(url, start, headers=bearer("starter")).status == 200
    assert get(url, headers=bearer("reader")).status == 200  # describe: a read
    other = get(f"{secured.url}/api/v1/namespaces/other/workflows/{workflow}", headers=bearer("starter"))
    assert other.status == 403
    assert post(f"{url}/terminate", {}, headers=bearer("starter")).status == 403
    assert post(f"{url}/terminate", {}, headers={"X-API-Key": KEYS["admin"]}).status == 200
    assert get(f"{secured.url}/metrics", headers=bearer("reader")).status == 200
    assert post(f"{secured.url}/codec/decode", {"payloads": []}, headers=bearer("reader")).status == 403


def test_a_rate_limit_answers_429_then_recovers(secured):
    url = f"{secured.url}/api/v1/system-info"
    statuses = [get(url, headers=bearer("limited")).status for _ in range(4)]
    assert statuses[:2] == [200, 200] and 429 in statuses[2:], statuses
    limited = get(url, headers=bearer("limited"))
    assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.json["code"] == 8
    assert get(url, headers=bearer("reader")).status == 200  # other keys are not held up
    time.sleep(1.2)
    assert get(url, headers=bearer("limited")).status == 200


def test_passthrough_forwards_and_checks_nothing(server):
    gw = start_gateway(build_paths("portico")[0].values[0], server.address, PORTICO_AUTH="passthrough")
    try:
        assert get(f"{gw.url}/api/v1/system-info").status == 200
    finally:
        assert gw.stop() == 0
    assert "passthrough" in gw.stderr


def run_gateway(**env):
    environment = {k: v for k, v in os.environ.items() if k not in ("PORTICO_AUTH", "PORTICO_AUTH_FILE")}
    return subprocess.run([build_paths("portico")[0].values[0]], capture_output=True, text=True, timeout=30,
                          env=dict(environment, PORTICO_LISTEN="127.0.0.1:0", **env))


def test_start_up_needs_an_auth_setting(tmp_path):
    refused = run_gateway()
    assert refused.returncode != 0 and "no authentication configured" in refused.stderr
    bad = tmp_path / "auth.json"
    bad.write_text(json.dumps({"apiKeys": [{"name": "x", "sha256": "abc", "namespaces": ["*"],
                                            "permissions": ["read"]}]}))
    refused = run_gateway(PORTICO_AUTH_FILE=str(bad))
    assert refused.returncode != 0 and 'apiKeys[0] ("x"): sha256: expected' in refused.stderr


def test_auth_off_is_announced(gateway):
    assert "AUTHENTICATION IS OFF" in gateway.errors_so_far()


def test_header_url_and_connection_limits(server):
    import socket
    gw = start_gateway(build_paths("portico")[0].values[0], server.address, PORTICO_MAX_CONNECTIONS="4",
                       PORTICO_MAX_HEADER_BYTES="16384")
    try:
        assert get(f"{gw.url}/healthz", headers={"X-Big": "a" * 20000}).status == 431
        assert get(f"{gw.url}/healthz?{'a' * 20000}").status == 414
        held = [socket.create_connection(("127.0.0.1", gw.port)) for _ in range(4)]
        extra = socket.create_connection(("127.0.0.1", gw.port))
        extra.settimeout(1)
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(TimeoutError):  # over the limit: not served while the others are open
            extra.recv(100)
        held[0].close()
        extra.settimeout(10)
        assert extra.recv(100).startswith(b"HTTP/1.1 200")
        for connection in [*held[1:], extra]:
            connection.close()
    finally:
        assert gw.stop() == 0
