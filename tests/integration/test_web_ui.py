"""The Temporal Web UI, pointed at Portico's codec endpoint, shows decrypted payloads: checked in
headless Chromium (Debian's), as a person would look at it."""

import base64
import subprocess
import sys
import tempfile

from conftest import HERE, TOP, start_gateway
from devserver import DevServer, free_port
from http_client import post

KEYS = "ui-key=" + base64.b64encode(b"u" * 32).decode()
SECRET = "visible-only-through-the-codec"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1000", "--virtual-time-budget=20000"]


def chromium(url, *flags):
    with tempfile.TemporaryDirectory(prefix="portico-chromium-") as profile:
        return subprocess.run(["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *flags, url],
                              capture_output=True, text=True, timeout=120)


def test_the_web_ui_decrypts_through_portico(tmp_path):
    gateway_port = free_port()
    with DevServer(ui_codec_endpoint=f"http://127.0.0.1:{gateway_port}/codec") as server:
        ui = f"http://127.0.0.1:{server.ui_port}"
        gw = start_gateway(str(TOP / "build/portico"), server.address, PORTICO_LISTEN=f"127.0.0.1:{gateway_port}",
                           PORTICO_CODEC_KEYS=KEYS, PORTICO_CODEC_CORS_ORIGINS=ui)
        worker = subprocess.Popen([sys.executable, str(HERE / "worker.py"), "--address", server.address,
                                   "--task-queue", "ui", "--codec-key", KEYS],
                                  stdout=subprocess.PIPE, cwd=HERE, text=True, start_new_session=True)
        try:
            assert worker.stdout.readline().strip() == "ready"
            started = post(f"{gw.url}/api/v1/namespaces/default/workflows/ui-check?wait=30s",
                           {"workflowType": "Echo", "taskQueue": "ui", "args": [{"secret": SECRET}]})
            assert started.status == 200, started
            server.wait_for_ui()
            page = f"{ui}/namespaces/default/workflows/ui-check/{started.json['runId']}/history"
            dom = chromium(page, "--dump-dom")
            assert SECRET in dom.stdout, dom.stderr[-2000:]
            screenshot = tmp_path / "history.png"
            chromium(page, f"--screenshot={screenshot}")
            assert screenshot.stat().st_size > 10000
        finally:
            worker.terminate()
            worker.wait(timeout=15)
            assert gw.stop() == 0
        assert "/codec/decode" in gw.stdout  # the page's payloads came through Portico
