"""With PORTICO_AUTH=off a web page the user visits must not drive the gateway: a Host that does not
name this machine (DNS rebinding) and a state-changing request sent by a page of another origin
are refused; curl, SDKs and pages of an allowed origin are not."""

import uuid

from conftest import TASK_QUEUE, build_paths, start_gateway
from http_client import get, post


def start_body():
    return {"workflowType": "Echo", "taskQueue": TASK_QUEUE, "args": ["hi"]}


def test_a_rebound_host_name_is_refused(gateway):
    url = f"{gateway.url}/api/v1/namespaces/default/workflows/x"
    refused = get(url, headers={"Host": f"attacker.example:{gateway.port}"})
    assert refused.status == 403 and "PORTICO_ALLOWED_HOSTS" in refused.json["message"], refused
    for host in (f"127.0.0.1:{gateway.port}", f"localhost:{gateway.port}", f"LOCALHOST:{gateway.port}"):
        assert get(url, headers={"Host": host}).status == 404, host
    # Health probes name whatever address they reach the gateway by, and learn nothing.
    assert get(f"{gateway.url}/healthz", headers={"Host": "10.1.2.3:8080"}).status == 200


def test_a_page_of_another_origin_may_not_change_anything(gateway, workflow_id):
    url = f"{gateway.url}/api/v1/namespaces/default/workflows/{workflow_id}"
    for headers in ({"Origin": "https://attacker.example"}, {"Origin": "null"},
                    {"Sec-Fetch-Site": "cross-site", "Origin": "https://attacker.example"},
                    {"Sec-Fetch-Site": "same-site"}):
        refused = post(url, start_body(), headers={**headers, "Content-Type": "text/plain"})
        assert refused.status == 403 and "another origin" in refused.json["message"], (headers, refused)
    assert get(url).status == 404  # nothing was started
    # The gateway's own pages, and callers that are no browser, may.
    assert post(url, start_body(), headers={"Sec-Fetch-Site": "same-origin", "Origin": gateway.url}).status == 200
    assert post(f"{url}/terminate", {}, headers={"Sec-Fetch-Site": "none"}).status in (200, 404)


def test_allowed_origins_and_hosts_are_taken(server, worker):
    gw = start_gateway(build_paths("portico")[0].values[0], server.address,
                       PORTICO_CORS_ORIGINS="https://app.example", PORTICO_ALLOWED_HOSTS="portico-gateway,gw.local")
    try:
        workflow = f"browsers-{uuid.uuid4()}"
        url = f"{gw.url}/api/v1/namespaces/default/workflows/{workflow}"
        assert post(url, start_body(), headers={"Origin": "https://app.example"}).status == 200
        assert post(url, start_body(), headers={"Origin": "https://other.example"}).status == 403
        assert get(url, headers={"Host": "portico-gateway:8080"}).status == 200
        assert get(url, headers={"Host": "gw.local"}).status == 200
        assert get(url, headers={"Host": "gw.local.attacker.example"}).status == 403
    finally:
        assert gw.stop() == 0, gw.stderr


def test_a_star_origin_counts_for_nothing_while_auth_is_off(server, worker):
    gw = start_gateway(build_paths("portico")[0].values[0], server.address, PORTICO_CORS_ORIGINS="*")
    try:
        answer = get(f"{gw.url}/api/v1/namespaces/default/workflows", headers={"Origin": "https://attacker.example"})
        assert "Access-Control-Allow-Origin" not in answer.headers, answer.headers
    finally:
        assert gw.stop() == 0, gw.stderr
