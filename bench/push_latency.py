"""How soon a waiting client hears that a workflow closed: through a history long poll
(`GET …/result`, what `?wait=` does too) or through Temporal's completion callback (a
completionWebhook, delivered by the gateway). Each round starts a Mailbox workflow with a
completion webhook to a local receiver, opens a /result wait on it, then signals it to finish and
times, from the signal, when the wait answers and when the delivery arrives.

    .venv/bin/python bench/push_latency.py [--rounds 30] [--gateway build/portico] [--json out.json]
"""

import argparse
import base64
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "tests/integration"))

from devserver import DevServer, free_port  # noqa: E402

QUEUE = "push-latency"


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def start_process(command, env, ready, log):
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while not re.search(ready, Path(log.name).read_text()):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{command[0]} did not start: {Path(log.name).read_text()}")
        time.sleep(0.05)
    return process


def percentiles(values):
    ordered = sorted(values)
    return {"p50": round(statistics.median(ordered), 1), "p90": round(ordered[int(len(ordered) * 0.9) - 1], 1),
            "max": round(ordered[-1], 1)}


def measure(rounds, gateway_path):
    arrivals = {}
    arrived = threading.Condition()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            at = time.monotonic()
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()
            with arrived:
                arrivals[body["workflowId"]] = at
                arrived.notify_all()

        def log_message(self, *args):
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    target = f"http://127.0.0.1:{receiver.server_port}/done"
    poll_ms, callback_ms = [], []
    with tempfile.TemporaryDirectory(prefix="push-latency-") as directory, ExitStack() as cleanup:
        server = cleanup.enter_context(DevServer())
        worker_log = cleanup.enter_context(open(Path(directory) / "worker.log", "w+"))
        worker = start_process([sys.executable, str(TOP / "tests/integration/worker.py"), "--address",
                                server.address, "--task-queue", QUEUE], None, "ready", worker_log)
        cleanup.callback(worker.terminate)
        port = free_port()
        gateway_log = cleanup.enter_context(open(Path(directory) / "gateway.log", "w+"))
        env = dict(os.environ, TEMPORAL_ADDRESS=server.address, PORTICO_LISTEN=f"127.0.0.1:{port}",
                   PORTICO_AUTH="off", PORTICO_CALLBACK_ALLOWED_URLS=target,
                   PORTICO_CALLBACK_SECRET="whsec_" + base64.b64encode(os.urandom(24)).decode())
        gateway = start_process([str(TOP / gateway_path)], env, r"\(port \d+", gateway_log)
        cleanup.callback(gateway.terminate)
        base = f"http://127.0.0.1:{port}/api/v1/namespaces/default/workflows"
        for _ in range(rounds):
            workflow = f"latency-{uuid.uuid4()}"
            post(f"{base}/{workflow}", {"workflowType": "Mailbox", "taskQueue": QUEUE, "completionWebhook": target})
            answered = {}

            def wait():
                with urllib.request.urlopen(f"{base}/{workflow}/result?timeout=60s", timeout=90) as response:
                    response.read()
                answered["at"] = time.monotonic()

            waiter = threading.Thread(target=wait)
            waiter.start()
            time.sleep(0.5)  # the wait is in Temporal's long poll by now
            signalled = time.monotonic()
            post(f"{base}/{workflow}/signal/finish", {})
            waiter.join()
            with arrived:
                arrived.wait_for(lambda: workflow in arrivals, timeout=60)
            poll_ms.append((answered["at"] - signalled) * 1000)
            callback_ms.append((arrivals[workflow] - signalled) * 1000)
    receiver.shutdown()
    return {"rounds": rounds, "longPollMs": percentiles(poll_ms), "callbackMs": percentiles(callback_ms)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--gateway", default="build/portico")
    parser.add_argument("--json")
    arguments = parser.parse_args()
    result = measure(arguments.rounds, arguments.gateway)
    print(f"from the signal that ends the workflow, over {result['rounds']} rounds (ms):")
    for name, key in (("history long poll (/result, ?wait=)", "longPollMs"),
                      ("completion callback, delivered", "callbackMs")):
        figures = result[key]
        print(f"  {name:38s} p50 {figures['p50']:7.1f}  p90 {figures['p90']:7.1f}  max {figures['max']:7.1f}")
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
