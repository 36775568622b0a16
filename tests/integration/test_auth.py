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
    gw.stop_cleanly()
    for key in KEYS.values():
        assert key not in gw.stderr and key not in gw.stdout


def concrete(path):
    return re.sub(r"{[^}]+}", lambda m: "default" if m.group(0) == "{namespace}" else "x", path)


def test_every_protected_route_needs_credentials(secured):
    spec = get(f"{secured.url}/openapi.json", headers=bearer("reader")).json
    # Webhooks and Temporal's completion callbacks prove themselves (signatures, a sealed token).
    public = {"/healthz", "/readyz", "/webhooks/{name}", "/callbacks/completion"}
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
    # A workflow that is still running when the admin terminates it (Echo could finish first).
    start = {"workflowType": "Sleeper", "taskQueue": TASK_QUEUE, "args": [3600]}
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
        gw.stop_cleanly()  # its stderr in the message when it did not exit 0
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
        gw.stop_cleanly()  # its stderr in the message when it did not exit 0


# ---- JWT bearer tokens (RS256 and ES256), signed here with the published algorithms ----------

ISSUER, AUDIENCE = "https://login.portico.test", "portico"


def b64url(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def number(value):
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@pytest.fixture(scope="module")
def signers(tmp_path_factory):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # trusted through a PEM file
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # trusted nowhere
    rsa_public, ec_public = rsa_key.public_key().public_numbers(), ec_key.public_key().public_numbers()
    jwks = {"keys": [
        {"kty": "RSA", "kid": "rsa-1", "use": "sig", "n": number(rsa_public.n), "e": number(rsa_public.e)},
        {"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": b64url(ec_public.x.to_bytes(32, "big")),
         "y": b64url(ec_public.y.to_bytes(32, "big"))}]}
    d = tmp_path_factory.mktemp("jwt")
    (d / "jwks.json").write_text(json.dumps(jwks))
    (d / "pem.pub").write_bytes(stranger.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return {"rsa": rsa_key, "ec": ec_key, "stranger": stranger, "forger": forger, "dir": d}


def token(signers, kind="rsa", kid=None, **claims):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "ada", "exp": now + 300, "nbf": now - 10,
            "namespaces": ["default"], "permissions": ["read", "start"], **claims}
    body = {k: v for k, v in body.items() if v is not None}
    alg = "ES256" if kind == "ec" else "RS256"
    header = {"alg": alg, "typ": "JWT", "kid": kid or ("ec-1" if kind == "ec" else "rsa-1")}
    signed = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(body).encode())}".encode()
    key = signers[kind]
    if kind == "ec":
        r, s = decode_dss_signature(key.sign(signed, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        signature = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    return f"{signed.decode()}.{b64url(signature)}"


@pytest.fixture(scope="module", params=build_paths("portico"))
def jwt_gateway(request, server, worker, signers):
    config = {"apiKeys": [entry("admin", ["*"], ["admin"])],
              "jwt": {"jwksFile": str(signers["dir"] / "jwks.json"), "pemFiles": [str(signers["dir"] / "pem.pub")],
                      "issuer": ISSUER, "audience": AUDIENCE, "leewaySeconds": 5}}
    path = signers["dir"] / f"auth-{request.param_index}.json"
    path.write_text(json.dumps(config))
    gw = start_gateway(request.param, server.address, PORTICO_AUTH_FILE=str(path), PORTICO_AUTH="keys")
    yield gw
    gw.stop_cleanly()


def test_jwt_tokens_in_scope_are_accepted(jwt_gateway, signers):
    url = f"{jwt_gateway.url}/api/v1/namespaces/default/workflows/jwt-{uuid.uuid4()}"
    start = {"workflowType": "Echo", "taskQueue": TASK_QUEUE, "args": ["hi"]}
    for kind in ("rsa", "ec"):
        assert get(f"{jwt_gateway.url}/api/v1/system-info",
                   headers={"Authorization": f"Bearer {token(signers, kind)}"}).status == 200, kind
    assert post(url, start, headers={"Authorization": f"Bearer {token(signers, 'ec')}"}).status == 200
    # Out of the token's scope: 403.
    assert post(f"{url}/terminate", {}, headers={"Authorization": f"Bearer {token(signers)}"}).status == 403
    other = get(f"{jwt_gateway.url}/api/v1/namespaces/other/workflows/x",
                headers={"Authorization": f"Bearer {token(signers)}"})
    assert other.status == 403
    wide = token(signers, namespaces=["*"], permissions=["admin"])
    assert post(f"{url}/terminate", {}, headers={"Authorization": f"Bearer {wide}"}).status == 200
    # API keys still work next to tokens.
    assert get(f"{jwt_gateway.url}/api/v1/system-info", headers=bearer("admin")).status == 200


@pytest.mark.parametrize("case", ["expired", "not yet valid", "wrong audience", "wrong issuer", "forged",
                                  "unknown kid", "alg none", "tampered", "no exp"])
def test_bad_jwt_tokens_get_401(jwt_gateway, signers, case):
    now = int(time.time())
    bad = {
        "expired": lambda: token(signers, exp=now - 60),
        "not yet valid": lambda: token(signers, nbf=now + 60),
        "wrong audience": lambda: token(signers, aud=["someone-else"]),
        "wrong issuer": lambda: token(signers, iss="https://evil.test"),
        "forged": lambda: token({**signers, "rsa": signers["forger"]}, kid="rsa-1"),
        "unknown kid": lambda: token(signers, kid="nope"),
        "alg none": lambda: b64url(b'{"alg":"none"}') + "." + token(signers).split(".")[1] + ".",
        "tampered": lambda: (lambda t: t[0] + "." + b64url(json.dumps(
            {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "namespaces": ["*"], "permissions": ["admin"]}
        ).encode()) + "." + t[2])(token(signers).split(".")),
        "no exp": lambda: token(signers, exp=None),
    }[case]()
    response = get(f"{jwt_gateway.url}/api/v1/system-info", headers={"Authorization": f"Bearer {bad}"})
    assert response.status == 401, (case, response)
    assert response.json["message"] == "invalid token"


def test_a_pem_key_verifies_tokens_too(jwt_gateway, signers):
    """The stranger's public key is configured as a PEM file: its tokens (no kid) are accepted."""
    stranger_token = token({**signers, "rsa": signers["stranger"]}, kid="pem-key")
    # a kid that matches no JWK still tries keys without a kid (PEM files)
    assert get(f"{jwt_gateway.url}/api/v1/system-info",
               headers={"Authorization": f"Bearer {stranger_token}"}).status == 200
