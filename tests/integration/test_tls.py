"""TLS, mTLS and API keys on the transport, against a TLS gRPC server (grpcio) with
certificates made here. The dev server speaks plaintext only, so this peer stands in for a
TLS-terminated Temporal (Temporal Cloud, or a self-hosted frontend with TLS)."""

import subprocess
from concurrent import futures

import grpc
import pytest
from temporalio.api.workflowservice.v1 import request_response_pb2

SERVER_NAME = "temporal.test"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for temporal.test and a client certificate, all signed by it."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Portico Test CA",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    for name, extension in (("server", f"subjectAltName=DNS:{SERVER_NAME}"), ("client", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", cwd=d)
        (d / f"{name}.ext").write_text(extension + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "1", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Other CA",
            "-keyout", "other.key", "-out", "other.pem", cwd=d)
    return d


class SystemInfoService(grpc.GenericRpcHandler):
    """Answers WorkflowService/GetSystemInfo and remembers the headers it was sent."""

    def __init__(self):
        self.headers = []

    def service(self, details):
        if not details.method.endswith("/GetSystemInfo"):
            return None
        self.headers.append(dict(details.invocation_metadata))
        response = request_response_pb2.GetSystemInfoResponse(server_version="tls-peer")
        return grpc.unary_unary_rpc_method_handler(lambda request, context: response.SerializeToString())


@pytest.fixture(params=[False, True], ids=["tls", "mtls"])
def tls_server(request, pki):
    handler = SystemInfoService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[handler])
    credentials = grpc.ssl_server_credentials(
        [((pki / "server.key").read_bytes(), (pki / "server.pem").read_bytes())],
        root_certificates=(pki / "ca.pem").read_bytes(), require_client_auth=request.param)
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    handler.address = f"127.0.0.1:{port}"
    handler.mutual = request.param
    yield handler
    server.stop(None)


def tls_env(server, pki, **extra):
    env = {"TEMPORAL_ADDRESS": server.address, "TEMPORAL_TLS_CA": str(pki / "ca.pem"),
           "TEMPORAL_TLS_SERVER_NAME": SERVER_NAME}
    if server.mutual:
        env.update(TEMPORAL_TLS_CERT=str(pki / "client.pem"), TEMPORAL_TLS_KEY=str(pki / "client.key"))
    env.update(extra)
    return env


def test_verified_tls_with_api_key(probe, tls_server, pki):
    status, output = probe("system-info", env=tls_env(tls_server, pki, TEMPORAL_API_KEY="key-123",
                                                       TEMPORAL_NAMESPACE="orders"))
    assert (status, output) == (0, {"serverVersion": "tls-peer"})
    headers = tls_server.headers[-1]
    assert headers["authorization"] == "Bearer key-123"
    assert headers["temporal-namespace"] == "orders"


def test_untrusted_server_certificate_is_refused(probe, tls_server, pki):
    status, output = probe("system-info", env=tls_env(tls_server, pki, TEMPORAL_TLS_CA=str(pki / "other.pem")))
    assert status == 1
    assert output["error"]["codeName"] == "UNAVAILABLE"
    assert tls_server.address in output["error"]["message"]
    assert tls_server.headers == []


def test_mtls_server_refuses_a_client_without_certificate(probe, tls_server, pki):
    if not tls_server.mutual:
        pytest.skip("only an mTLS server asks for a client certificate")
    env = tls_env(tls_server, pki, TEMPORAL_TLS_CERT="", TEMPORAL_TLS_KEY="")
    status, output = probe("system-info", env=env)
    assert status == 1
    assert output["error"]["codeName"] == "UNAVAILABLE"
    assert tls_server.headers == []


@pytest.fixture
def mtls_dev_server(server, pki):
    """The session's dev server behind an mTLS front (tls_proxy.py)."""
    import sys
    from pathlib import Path
    proxy = subprocess.Popen([sys.executable, str(Path(__file__).parent / "tls_proxy.py"), str(pki / "server.pem"),
                              str(pki / "server.key"), str(pki / "ca.pem"), server.address],
                             stdout=subprocess.PIPE, text=True)
    port = int(proxy.stdout.readline().split()[1])
    yield f"127.0.0.1:{port}"
    proxy.terminate()
    proxy.wait(timeout=10)


def test_the_gateway_runs_workflows_over_mtls(mtls_dev_server, pki, worker):
    """A real Temporal server behind mTLS: the gateway (with the client certificate) starts a
    workflow and gets its result; without the certificate, Temporal is unavailable to it."""
    import uuid
    from conftest import TASK_QUEUE, build_paths, start_gateway
    from http_client import post
    env = {"TEMPORAL_TLS_CA": str(pki / "ca.pem"), "TEMPORAL_TLS_SERVER_NAME": SERVER_NAME,
           "TEMPORAL_TLS_CERT": str(pki / "client.pem"), "TEMPORAL_TLS_KEY": str(pki / "client.key")}
    path = build_paths("portico")[0].values[0]
    gw = start_gateway(path, mtls_dev_server, **env)
    try:
        started = post(f"{gw.url}/api/v1/namespaces/default/workflows/mtls-{uuid.uuid4()}?wait=30s",
                       {"workflowType": "Echo", "taskQueue": TASK_QUEUE, "args": ["over mTLS"]})
        assert started.status == 200, started
        assert started.json["outcome"]["result"] == ["over mTLS"]
    finally:
        assert gw.stop() == 0
    without = start_gateway(path, mtls_dev_server, PORTICO_CALL_TIMEOUT="2s",
                            **{**env, "TEMPORAL_TLS_CERT": "", "TEMPORAL_TLS_KEY": ""})
    try:
        refused = post(f"{without.url}/api/v1/namespaces/default/workflows/mtls-{uuid.uuid4()}",
                       {"workflowType": "Echo", "taskQueue": TASK_QUEUE})
        assert refused.status == 503, refused
    finally:
        assert without.stop() == 0
