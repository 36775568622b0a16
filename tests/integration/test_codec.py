"""Encryption end to end: Temporal stores only ciphertext, Portico and the official Python SDK
(with the samples' codec) read the same values, the codec endpoint serves the Temporal CLI, and
the size guard refuses what Temporal would."""

import asyncio
import base64
import dataclasses
import json
import socket
import subprocess
import sys
import time
import uuid
import zlib

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.converter import DataConverter

from conftest import HERE, build_paths, start_gateway
from encryption_codec import EncryptionCodec, seal, unseal
from http_client import get, post, request

KEY_ID = "test-key-id"
KEY = b"test-key-test-key-test-key-test!"
KEYS = f"{KEY_ID}={base64.b64encode(KEY).decode()}"
QUEUE = "portico-encrypted"
UI_ORIGIN = "http://127.0.0.1:8233"
PAYLOAD_LIMIT = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def encrypted_worker(server):
    process = subprocess.Popen(
        [sys.executable, str(HERE / "worker.py"), "--address", server.address, "--task-queue", QUEUE,
         "--codec-key", KEYS], stdout=subprocess.PIPE, cwd=HERE, text=True, start_new_session=True)
    assert process.stdout.readline().strip() == "ready"
    yield process
    process.terminate()
    process.wait(timeout=15)


@pytest.fixture(scope="module", params=build_paths("portico"))
def codec_gateway(request, server, encrypted_worker):
    gw = start_gateway(request.param, server.address, PORTICO_CODEC_KEYS=KEYS,
                       PORTICO_CODEC_CORS_ORIGINS=UI_ORIGIN)
    yield gw
    gw.stop_cleanly()


def api(gateway, path):
    return f"{gateway.url}/api/v1/namespaces/default{path}"


def b64(text):
    return base64.b64encode(text.encode()).decode()


def test_temporal_stores_only_ciphertext(codec_gateway, server, workflow_id):
    secret = {"card": "4111 1111 1111 1111", "amount": 12.5}
    started = post(api(codec_gateway, f"/workflows/{workflow_id}?wait=30s"),
                   {"workflowType": "Echo", "taskQueue": QUEUE, "args": [secret], "memo": {"fields": {"note": "hi"}}})
    assert started.status == 200, started
    assert started.json["outcome"]["result"] == [secret]

    # Read the history from Temporal itself, past Portico: every payload is ciphertext.
    raw = get(f"http://{server.http_address}/api/v1/namespaces/default/workflows/{workflow_id}/history"
              f"?noPayloadShorthand=true")
    text = json.dumps(raw.json)
    # The whole card number: a bare "4111" can turn up in a run id or a process id.
    assert "4111 1111 1111 1111" not in text and b64('{"amount":12.5,"card":"4111') not in text
    events = raw.json["history"]["events"]
    started_input = events[0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
    assert started_input["metadata"]["encoding"] == b64("binary/encrypted")
    assert started_input["metadata"]["encryption-key-id"] == b64(KEY_ID)
    memo = events[0]["workflowExecutionStartedEventAttributes"]["memo"]["fields"]["note"]
    assert memo["metadata"]["encoding"] == b64("binary/encrypted")

    # Portico's history reads as plain JSON.
    history = get(api(codec_gateway, f"/workflows/{workflow_id}/history")).json
    assert history["history"]["events"][0]["workflowExecutionStartedEventAttributes"]["input"] == [secret]


def test_the_python_sdk_with_the_samples_codec_reads_it(codec_gateway, server, workflow_id):
    assert post(api(codec_gateway, f"/workflows/{workflow_id}"),
                {"workflowType": "Echo", "taskQueue": QUEUE, "args": ["from curl"]}).status == 200

    async def read():
        converter = dataclasses.replace(DataConverter.default,
                                        payload_codec=EncryptionCodec({KEY_ID: KEY}, KEY_ID))
        client = await Client.connect(server.address, data_converter=converter)
        return await client.get_workflow_handle(workflow_id).result()

    assert asyncio.run(read()) == "from curl"


def test_codec_endpoint_interoperates_both_ways(codec_gateway):
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"Temporal"')
    body = {"payloads": [{"metadata": {"encoding": b64("json/plain")}, "data": base64.b64encode(b'"Temporal"').decode()}]}
    encoded = post(f"{codec_gateway.url}/codec/encode", body, headers={"X-Namespace": "default"})
    assert encoded.status == 200, encoded
    [payload] = encoded.json["payloads"]
    assert payload["metadata"]["encoding"] == b64("binary/encrypted")
    inner = Payload()
    inner.ParseFromString(unseal(KEY, base64.b64decode(payload["data"])))
    assert inner == plain

    theirs = base64.b64encode(seal(KEY, plain.SerializeToString())).decode()
    decoded = post(f"{codec_gateway.url}/codec/default/decode",
                   {"payloads": [{"metadata": {"encoding": b64("binary/encrypted"),
                                               "encryption-key-id": b64(KEY_ID)}, "data": theirs}] * 3})
    assert decoded.status == 200, decoded
    assert decoded.json["payloads"] == body["payloads"] * 3

    assert post(f"{codec_gateway.url}/codec/decode", {"payloads": [{"metadata": {
        "encoding": b64("binary/encrypted"), "encryption-key-id": b64("nope")}, "data": theirs}]}).status == 400
    assert request("POST", f"{codec_gateway.url}/codec/decode", raw=b"{").status == 400


def test_codec_endpoint_cors_for_the_web_ui(codec_gateway):
    preflight = request("OPTIONS", f"{codec_gateway.url}/codec/decode",
                        headers={"Origin": UI_ORIGIN, "Access-Control-Request-Method": "POST",
                                 "Access-Control-Request-Headers": "content-type,x-namespace"})
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert "x-namespace" in preflight.headers["Access-Control-Allow-Headers"].lower()
    other = request("OPTIONS", f"{codec_gateway.url}/codec/decode", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_the_temporal_cli_decodes_through_portico(codec_gateway, server, workflow_id):
    assert post(api(codec_gateway, f"/workflows/{workflow_id}?wait=30s"),
                {"workflowType": "Echo", "taskQueue": QUEUE, "args": ["read me"]}).status == 200
    show = [str(server.temporal_cli), "workflow", "show", "--address", server.address, "-w", workflow_id,
            "--output", "json"]
    plain_data = base64.b64encode(b'"read me"').decode()  # the CLI's JSON prints payload data in base64
    without = subprocess.run(show, capture_output=True, text=True, timeout=60)
    assert without.returncode == 0, without.stderr
    assert plain_data not in without.stdout and b64("binary/encrypted") in without.stdout
    decoded = subprocess.run(show + ["--codec-endpoint", f"{codec_gateway.url}/codec"], capture_output=True,
                             text=True, timeout=60)
    assert decoded.returncode == 0, decoded.stderr
    assert plain_data in decoded.stdout and b64("binary/encrypted") not in decoded.stdout


def test_unknown_key_is_marked_not_a_500(codec_gateway, server, workflow_id):
    assert post(api(codec_gateway, f"/workflows/{workflow_id}?wait=30s"),
                {"workflowType": "Echo", "taskQueue": QUEUE, "args": [1]}).status == 200
    other = start_gateway(codec_gateway.path, server.address,
                          PORTICO_CODEC_KEYS="other=" + base64.b64encode(b"o" * 32).decode())
    try:
        result = get(api(other, f"/workflows/{workflow_id}/result"))
        assert result.status == 200, result
        [payload] = result.json["result"]["payloads"]
        assert payload["metadata"]["encoding"] == b64("binary/encrypted")
        assert base64.b64decode(payload["metadata"]["portico-codec-error"]).decode() == \
            f'payload encrypted with unknown key id "{KEY_ID}"'
    finally:
        assert other.stop() == 0, other.stderr


def test_size_guard_counts_bytes_after_encryption(codec_gateway, server):
    limit = 2 * 1024 * 1024
    over = post(api(codec_gateway, "/workflows/too-big"),
                {"workflowType": "Echo", "taskQueue": QUEUE, "args": ["a" * (limit + 1)]})
    assert over.status == 413, over
    assert over.json["field"] == "input" and over.json["limitBytes"] == limit and over.json["sizeBytes"] > limit
    # Under the limit as plain JSON, over it once encrypted: still refused, before Temporal sees it.
    close = post(api(codec_gateway, "/workflows/close-to-limit"),
                 {"workflowType": "Echo", "taskQueue": QUEUE, "args": ["a" * (limit - 60)]})
    assert close.status == 413, close
    for workflow_id in ("too-big", "close-to-limit"):
        assert get(api(codec_gateway, f"/workflows/{workflow_id}")).status == 404
    # Update arguments are checked too (Temporal would terminate the workflow later instead).
    update = post(api(codec_gateway, "/workflows/any/update/set_stage"), {"args": ["a" * (limit + 1)]})
    assert update.status == 413 and update.json["field"] == "request.input.args"


def test_large_payloads_are_counted_and_logged(codec_gateway):
    for _ in range(2):
        response = post(api(codec_gateway, f"/workflows/large-{uuid.uuid4()}"),
                        {"workflowType": "Echo", "taskQueue": "nobody", "args": ["b" * (600 * 1024)]})
        assert response.status == 200, response
    warnings = [json.loads(line) for line in codec_gateway.errors_so_far().splitlines()
                if '"large payload"' in line]
    assert warnings[-1]["field"] == "input" and warnings[-1]["sizeBytes"] > 512 * 1024
    assert warnings[-1]["largePayloads"] >= 2


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_a_huge_chunked_upload_is_refused_with_flat_memory(codec_gateway):
    before = rss_kib(codec_gateway.process.pid)
    chunk = b"x" * (1024 * 1024)
    with socket.create_connection(("127.0.0.1", codec_gateway.port), timeout=60) as connection:
        connection.sendall(b"POST /api/v1/namespaces/default/workflows/huge HTTP/1.1\r\nHost: x\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(100):
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            connection.sendall(b"0\r\n\r\n")
        except OSError:
            pass
        status = connection.makefile("rb").readline().decode()
    assert status.startswith("HTTP/1.1 413"), status
    # Far below the 100 MiB sent (the body limit is 4 MiB); ASan's quarantine of freed memory
    # accounts for most of what growth there is in that build.
    assert rss_kib(codec_gateway.process.pid) - before < 40 * 1024


@pytest.mark.parametrize("path", build_paths("portico"))
def test_codec_endpoint_bearer_token(server, path):
    gw = start_gateway(path, server.address, PORTICO_CODEC_KEYS=KEYS, PORTICO_CODEC_AUTH_TOKEN="s3cret")
    try:
        body = {"payloads": []}
        assert post(f"{gw.url}/codec/encode", body).status == 401
        assert post(f"{gw.url}/codec/encode", body, headers={"Authorization": "Bearer wrong"}).status == 401
        allowed = post(f"{gw.url}/codec/encode", body, headers={"Authorization": "Bearer s3cret"})
        assert (allowed.status, allowed.json) == (200, {"payloads": []})
    finally:
        assert gw.stop() == 0


def test_codec_endpoint_takes_an_empty_body(codec_gateway):
    # The Temporal CLI sends {} when there are no payloads (a query or signal without input).
    for path in ("/codec/encode", "/codec/decode", "/codec/default/decode"):
        for body in ({}, {"payloads": None}, {"payloads": []}):
            response = post(codec_gateway.url + path, body)
            assert (response.status, response.json) == (200, {"payloads": []}), (path, body, response)
    assert post(codec_gateway.url + "/codec/encode", {"payloadz": []}).status == 400


def test_the_temporal_cli_signals_and_queries_through_portico(codec_gateway, server, workflow_id):
    assert post(api(codec_gateway, f"/workflows/{workflow_id}"),
                {"workflowType": "Mailbox", "taskQueue": QUEUE, "args": ["hello"]}).status == 200
    cli = [str(server.temporal_cli), "workflow"]
    common = ["--address", server.address, "-w", workflow_id, "--codec-endpoint", f"{codec_gateway.url}/codec"]
    signal = subprocess.run(cli + ["signal", "--name", "add", "--input", '{"x": 1}'] + common,
                            capture_output=True, text=True, timeout=60)
    assert signal.returncode == 0, signal.stderr
    # No input: the CLI sends the codec endpoint {}.
    query = subprocess.run(cli + ["query", "--type", "state", "--output", "json"] + common,
                           capture_output=True, text=True, timeout=60)
    assert query.returncode == 0, query.stderr
    assert json.loads(query.stdout)["queryResult"] == [{"signals": ["hello", {"x": 1}], "stage": "new"}]
    finish = subprocess.run(cli + ["signal", "--name", "finish"] + common, capture_output=True, text=True,
                            timeout=60)
    assert finish.returncode == 0, finish.stderr
    result = get(api(codec_gateway, f"/workflows/{workflow_id}/result"))
    assert result.json["result"] == [{"signals": ["hello", {"x": 1}], "stage": "new"}], result


def zlib_payload(inflated_bytes):
    """A binary/zlib payload (full form) holding a json/plain payload of inflated_bytes zeros."""
    inner = Payload(metadata={"encoding": b"json/plain"}, data=bytes(inflated_bytes)).SerializeToString()
    return {"metadata": {"encoding": b64("binary/zlib")},
            "data": base64.b64encode(zlib.compress(inner, 9)).decode()}


ZLIB_BOMB = zlib_payload(63 * 1024 * 1024)


def test_a_zlib_bomb_is_refused_by_the_codec_endpoint_with_flat_memory(codec_gateway):
    assert len(ZLIB_BOMB["data"]) < 120 * 1024
    before = rss_kib(codec_gateway.process.pid)
    for _ in range(3):
        response = post(f"{codec_gateway.url}/codec/decode", {"payloads": [ZLIB_BOMB] * 8})
        assert response.status == 400, response
        assert response.json["message"] == (f"payloads[0]: a binary/zlib payload inflates past {PAYLOAD_LIMIT} "
                                             "bytes, the payload limit (PORTICO_MAX_PAYLOAD_BYTES)")
    # Inside encryption, as the Go sample compresses, too.
    inner = Payload(metadata={"encoding": b"binary/zlib"}, data=base64.b64decode(ZLIB_BOMB["data"]))
    sealed = {"metadata": {"encoding": b64("binary/encrypted"), "encryption-key-id": b64(KEY_ID)},
              "data": base64.b64encode(seal(KEY, inner.SerializeToString())).decode()}
    response = post(f"{codec_gateway.url}/codec/decode", {"payloads": [zlib_payload(10), sealed]})
    assert response.status == 400 and response.json["message"].startswith("payloads[1]: "), response
    # What one call inflates is bounded in total: eight payloads of 1.9 MiB fit, a ninth not.
    fits = zlib_payload(1900 * 1024)
    assert post(f"{codec_gateway.url}/codec/decode", {"payloads": [fits] * 8}).status == 200
    response = post(f"{codec_gateway.url}/codec/decode", {"payloads": [fits] * 9})
    assert response.status == 400 and response.json["message"].startswith("payloads[8]: "), response
    assert rss_kib(codec_gateway.process.pid) - before < 64 * 1024


def test_stored_zlib_bombs_are_left_encoded_with_flat_memory(codec_gateway, server, workflow_id):
    # Written past Portico, straight to Temporal, as any client could.
    started = post(f"http://{server.http_address}/api/v1/namespaces/default/workflows/{workflow_id}",
                   {"workflowType": {"name": "Echo"}, "taskQueue": {"name": "nobody"},
                    "input": [ZLIB_BOMB] * 8})
    assert started.status == 200, started
    before = rss_kib(codec_gateway.process.pid)
    for _ in range(3):
        history = get(api(codec_gateway, f"/workflows/{workflow_id}/history"))
        assert history.status == 200, history
        payloads = history.json["history"]["events"][0]["workflowExecutionStartedEventAttributes"]["input"]
        # Shown in full, nothing lost, with the reason.
        assert [p["data"] for p in payloads["payloads"]] == [ZLIB_BOMB["data"]] * 8
        reason = base64.b64decode(payloads["payloads"][0]["metadata"]["portico-codec-error"]).decode()
        assert reason == (f"a binary/zlib payload inflates past {PAYLOAD_LIMIT} bytes, the payload limit "
                          "(PORTICO_MAX_PAYLOAD_BYTES)")
    assert rss_kib(codec_gateway.process.pid) - before < 64 * 1024
    warnings = [json.loads(line) for line in codec_gateway.errors_so_far().splitlines()
                if "payloads left encoded" in line]
    assert warnings and warnings[-1]["count"] == 8 and warnings[-1]["level"] == "warn", warnings
    assert warnings[-1]["field"] == "history.events[0].workflowExecutionStartedEventAttributes.input[0]"
    post(api(codec_gateway, f"/workflows/{workflow_id}/terminate"), {})


def test_a_memo_of_many_small_fields_is_refused_once_encrypted(codec_gateway, workflow_id):
    # Small as JSON, each field far under the payload limit; encrypted, the memo is megabytes.
    memo = {"fields": {f"k{i}": 1 for i in range(100_000)}}
    response = post(api(codec_gateway, f"/workflows/{workflow_id}"),
                    {"workflowType": "Echo", "taskQueue": QUEUE, "args": [1], "memo": memo})
    assert response.status == 413, response
    assert "Retry-After" not in response.headers
    assert response.json["field"] == "memo" and response.json["limitBytes"] == PAYLOAD_LIMIT
