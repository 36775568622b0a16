"""Random, malformed and hostile requests against the gateway: it answers each one with a 4xx
(or Temporal's own 5xx for a request Temporal itself fails), never crashes, and the ASan build
reports nothing. Seeded and bounded: the same few hundred requests every run."""

import json
import random
import socket

FUZZ_QUEUE = "fuzz-no-worker"  # nothing runs what the fuzzer starts
from http_client import request

SEED = 20261124
REQUESTS = 300

TEMPLATES = [
    ("POST", "/api/v1/namespaces/default/workflows/fuzz-{n}",
     {"workflowType": {"name": "Echo"}, "taskQueue": {"name": FUZZ_QUEUE}, "input": [1],
      "workflowExecutionTimeout": "60s", "workflowIdReusePolicy": "AllowDuplicate",
      "retryPolicy": {"maximumAttempts": 2, "backoffCoefficient": 2.0},
      "memo": {"fields": {"k": "v"}}, "header": {"fields": {"h": {"metadata": {"encoding": "anNvbi9wbGFpbg=="},
                                                                   "data": "MQ=="}}}}),
    ("POST", "/api/v1/namespaces/default/workflows/fuzz-{n}/signal/add", {"input": [{"a": [1, 2]}]}),
    ("POST", "/api/v1/namespaces/default/workflows/fuzz-{n}/query/state", {"query": {"queryArgs": []}}),
    ("POST", "/api/v1/namespaces/default/workflows/fuzz-{n}/update/set_stage",
     {"request": {"meta": {"updateId": "u"}, "input": {"args": ["x"]}}, "waitPolicy": {"lifecycleStage": 2}}),
    ("POST", "/api/v1/namespaces/default/workflows/fuzz-{n}/signal-with-start/add",
     {"workflowType": "Mailbox", "taskQueue": FUZZ_QUEUE, "signalArgs": [1]}),
    ("POST", "/api/v1/namespaces/default/activities/complete-by-id",
     {"workflowId": "fuzz-{n}", "activityId": "a", "result": [1]}),
    ("GET", "/api/v1/namespaces/default/workflows/fuzz-{n}/history?waitNewEvent=false&maximumPageSize=3", None),
    ("GET", "/api/v1/namespaces/default/workflows?query=WorkflowType%3D%27Echo%27&pageSize=2", None),
    ("GET", "/api/v1/namespaces/default/workflows/fuzz-{n}/result?timeout=10ms", None),
]

ODD_VALUES = [None, True, 0, -1, 2 ** 63, -2 ** 64, 1e308, -0.0, 0.5, "", "x" * 5000, "\u00e9\u4e2d\U0001f600",
              "\\u0000", [], {}, [[[[[]]]]], {"a": {"b": {"c": {}}}}, "NaN", "Infinity", "9" * 40,
              "2024-13-45T99:99:99Z", "-1s", "AAEC", "@@@", {"@type": "type.googleapis.com/x.Y"}]


def mutate(rng, value, depth=0):
    if isinstance(value, dict) and value and rng.random() < 0.7:
        value = dict(value)
        key = rng.choice(list(value))
        choice = rng.random()
        if choice < 0.4:
            value[key] = mutate(rng, value[key], depth + 1)
        elif choice < 0.6:
            value[key] = rng.choice(ODD_VALUES)
        elif choice < 0.8:
            value[rng.choice(["bogus", key.upper(), key + "_", "@type", ""])] = rng.choice(ODD_VALUES)
        else:
            del value[key]
        return value
    if isinstance(value, list) and rng.random() < 0.5:
        return value + [rng.choice(ODD_VALUES)]
    return rng.choice(ODD_VALUES) if rng.random() < 0.3 else value


def mutate_path(rng, path):
    choice = rng.random()
    if choice < 0.15:
        return path.replace("fuzz-", rng.choice(["%00", "%zz", "%2F", "..%2F..", "%C3%A9", "a%20b"]))
    if choice < 0.25:
        return path + rng.choice(["/", "//", "/extra", "?x=%", "&&&", "?a=1&a=2"])
    if choice < 0.3:
        return "/" + "/".join(rng.choice(["api", "v1", "namespaces", "{x}", "%", ""]) for _ in range(6))
    return path


def raw_garbage(gateway, rng):
    """Requests no HTTP client would send."""
    lines = [b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"POST /x HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
             b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
             b"GET /" + bytes(rng.randrange(1, 256) for _ in range(64)) + b" HTTP/1.1\r\n\r\n"]
    for line in lines:
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as connection:
            connection.sendall(line)
            connection.shutdown(socket.SHUT_WR)
            try:
                connection.recv(4096)
            except OSError:
                pass


def test_hostile_requests_never_crash_the_gateway(gateway):
    rng = random.Random(SEED)
    raw_garbage(gateway, rng)
    statuses = {}
    for n in range(REQUESTS):
        method, path, body = rng.choice(TEMPLATES)
        path = mutate_path(rng, path.replace("{n}", str(n)))
        if body is not None:
            body = json.loads(json.dumps(body).replace("{n}", str(n)))
            body = mutate(rng, body)
            raw = json.dumps(body).encode() if rng.random() < 0.9 else json.dumps(body).encode()[:-3]
        else:
            raw = None
        response = request(method, gateway.url + path, raw=raw, timeout=30)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        assert response.status < 500 or response.status in (500, 501, 503, 504), (method, path, raw, response)
        if response.status == 500:
            # Only Temporal's own internal errors may pass through, never one of Portico's.
            assert response.json and response.json.get("code") in (2, 13), (method, path, raw, response)
    assert request("GET", gateway.url + "/healthz").status == 200
    assert statuses.get(200, 0) > 10 and sum(v for k, v in statuses.items() if 400 <= k < 500) > 50, statuses
