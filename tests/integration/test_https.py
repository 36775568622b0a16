"""HTTPS on the gateway with certificates made here: served and verified against the test CA,
plain HTTP refused on the port, and a renewed certificate taken up on SIGHUP while a bad one is
refused (the old one stays)."""

import signal
import socket
import ssl
import time

import pytest

from conftest import build_paths, start_gateway
from test_tls import openssl


def server_certificate(d, name, days="1"):
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
            "-out", f"{name}.csr", cwd=d)
    (d / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", days, "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=d)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("https")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Portico HTTPS Test CA",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    server_certificate(d, "first")
    server_certificate(d, "renewed")
    return d


def served_name(port, cafile):
    """The CN of the certificate a new verified connection sees, and /healthz's status line."""
    context = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            subject = dict(field[0] for field in tls.getpeercert()["subject"])
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return subject["commonName"], tls.recv(200).split(b"\r\n")[0]


@pytest.mark.parametrize("path", build_paths("portico"))
def test_https_and_a_certificate_reload(path, server, pki):
    cert, key = pki / "live.pem", pki / "live.key"
    cert.write_bytes((pki / "first.pem").read_bytes())
    key.write_bytes((pki / "first.key").read_bytes())
    gw = start_gateway(path, server.address, PORTICO_TLS_CERT=str(cert), PORTICO_TLS_KEY=str(key))
    try:
        assert served_name(gw.port, pki / "ca.pem") == ("first", b"HTTP/1.1 200 OK")
        with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as plain:
            plain.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert not plain.recv(100).startswith(b"HTTP/1.1 200")
        with pytest.raises(ssl.SSLCertVerificationError):  # a client that does not trust the CA
            with socket.create_connection(("127.0.0.1", gw.port), timeout=5) as raw:
                ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")

        key.write_text("not a key\n")  # a broken renewal: refused, the old certificate stays
        gw.process.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert "TLS certificate not reloaded" in gw.errors_so_far()
        assert served_name(gw.port, pki / "ca.pem")[0] == "first"

        cert.write_bytes((pki / "renewed.pem").read_bytes())
        key.write_bytes((pki / "renewed.key").read_bytes())
        gw.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "TLS certificate reloaded" not in gw.errors_so_far():
            assert time.monotonic() < deadline, gw.errors_so_far()
            time.sleep(0.05)
        assert served_name(gw.port, pki / "ca.pem") == ("renewed", b"HTTP/1.1 200 OK")
    finally:
        status = gw.stop()
    assert status == 0, gw.stderr
    assert "ERROR: AddressSanitizer" not in gw.stderr and "runtime error:" not in gw.stderr, gw.stderr
