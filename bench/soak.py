"""The soak: the real gateway in front of a dev server, with a Python-SDK worker running the
workflows, under mixed traffic at a fixed rate for SOAK_SECONDS (600); its RSS sampled every few
seconds. Reports requests, unexpected answers and latency by kind, and the RSS slope (MiB per
hour, a least-squares fit after a warm-up) and peak: a slope well above zero is a leak.

The traffic, in one repeating sequence of RATE requests (one second): starts (some waiting with
?wait=), result waits (one that times out on a running workflow: 202, as expected), signals,
queries and describes of a pool of Mailbox workflows, a describe of a missing workflow (404),
GitHub-signed webhook deliveries (one in five a redelivery), and codec encodes and decodes. The
gateway encrypts every payload (PORTICO_CODEC_KEYS), so the worker holds the same key.

    .venv/bin/python bench/soak.py [--seconds 600] [--rate 20] [--gateway build/portico] [--json out.json]

Alone (`make soak`) it writes bench/results/<date>-soak.json and .md; `make bench` runs it with
--json and adds its section to the bench's report (bench/run.py).
"""

import argparse
import base64
import concurrent.futures
import datetime
import hashlib
import hmac
import itertools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from contextlib import ExitStack
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "tests/integration"))

from devserver import DevServer  # noqa: E402

QUEUE = "soak"
KEYS = "soak-key=" + base64.b64encode(b"soak-key-soak-key-soak-key-soak!").decode()
SECRET = "soak-webhook-secret"
WEBHOOKS = {"webhooks": {"soak": {
    "action": "start", "namespace": "default", "workflowType": "Echo", "taskQueue": QUEUE,
    "workflowId": "soak-hook-{delivery}", "deliveryId": "{body./id}",
    "verify": {"scheme": "github", "secrets": ["env:SOAK_WEBHOOK_SECRET"]}}}}
# One second of traffic at the default rate; at other rates the same sequence, faster or slower.
SEQUENCE = ["start", "signal", "query", "describe", "startWait", "result", "webhook", "codecEncode",
            "start", "signal", "query", "describe", "startWait", "result", "resultTimeout",
            "start", "signal", "query", "notFound", "codecDecode"]
MAILBOXES = 16  # signalled round robin: each gets RATE × seconds × 3/20 / 16 signals (112 in 10 min)
SAMPLE_SECONDS = 2
WARMUP_SECONDS = 60


class Stopped(Exception):
    """SIGTERM or SIGINT: the run stops, and every process it started with it."""


def rss_kib(pid):
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def call(method, url, body=None, headers=None, raw=None, timeout=60):
    """One request on a new connection; (status, parsed JSON or None, text)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read().decode()
    try:
        return status, json.loads(text) if text else None, text
    except ValueError:
        return status, None, text


def start_process(command, env, ready, log):
    """Starts command in a session of its own, its output to log; returns once log shows ready."""
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while not re.search(ready, Path(log.name).read_text()):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"{command[0]} did not start: {Path(log.name).read_text()[-2000:]}")
        time.sleep(0.05)
    return process


def stop_process(process):
    """SIGTERM, then SIGKILL after 30 s; returns the exit status."""
    if process.poll() is None:
        process.terminate()
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


class Traffic:
    """Builds and checks each kind of request; ids of what it started, for the requests after."""

    def __init__(self, base, mailboxes):
        self.api = base + "/api/v1/namespaces/default"
        self.base = base
        self.mailboxes = mailboxes
        self.counter = itertools.count()
        self.lock = threading.Lock()
        self.started = mailboxes[0]  # the latest Echo started, for the result waits
        self.delivery = None  # the latest webhook delivery's body, sent again as a redelivery
        self.encoded = None  # the latest /codec/encode answer, for /codec/decode

    def send(self, kind):
        """Sends one request of kind; returns (status, None when as expected or else why not)."""
        n = next(self.counter)
        status, answer, text = getattr(self, kind)(n)
        return status, None if self.expected(kind, status, answer) else f"{status} {text[:300]}"

    @staticmethod
    def expected(kind, status, answer):
        answer = answer if isinstance(answer, dict) else {}
        running = "WORKFLOW_EXECUTION_STATUS_RUNNING"
        if kind == "notFound":
            return status == 404
        if kind == "resultTimeout":
            return status == 202 and answer.get("status") == running
        if kind == "startWait" and status == 202:  # the wait ended first: fine while it runs
            return (answer.get("outcome") or {}).get("status") == running
        if kind == "result" and status == 202:
            return answer.get("status") == running
        return 200 <= status < 300

    def start(self, n):
        workflow_id = f"soak-echo-{uuid.uuid4()}"
        reply = call("POST", f"{self.api}/workflows/{workflow_id}",
                     {"workflowType": "Echo", "taskQueue": QUEUE, "args": [{"n": n, "text": "x" * 200}]})
        if reply[0] == 200:
            self.started = workflow_id
        return reply

    def startWait(self, n):
        return call("POST", f"{self.api}/workflows?wait=10s",
                    {"workflowType": "Echo", "taskQueue": QUEUE, "args": [n]})

    def result(self, n):
        return call("GET", f"{self.api}/workflows/{self.started}/result?timeout=10s")

    def resultTimeout(self, n):
        return call("GET", f"{self.api}/workflows/{self.mailbox(n)}/result?timeout=500ms")

    def signal(self, n):
        return call("POST", f"{self.api}/workflows/{self.mailbox(n)}/signal/add", {"input": [n]})

    def query(self, n):
        return call("POST", f"{self.api}/workflows/{self.mailbox(n)}/query/state", {})

    def describe(self, n):
        return call("GET", f"{self.api}/workflows/{self.mailbox(n)}")

    def notFound(self, n):
        return call("GET", f"{self.api}/workflows/soak-missing-{n}")

    def webhook(self, n):
        with self.lock:
            if self.delivery is None or n % 5:
                self.delivery = json.dumps({"id": str(uuid.uuid4()), "n": n}).encode()
            raw = self.delivery
        signature = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        return call("POST", f"{self.base}/webhooks/soak", raw=raw,
                    headers={"X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()),
                             "X-Hub-Signature-256": f"sha256={signature}"})

    def codecEncode(self, n):
        data = base64.b64encode(json.dumps({"n": n, "text": "y" * 1000}).encode()).decode()
        reply = call("POST", f"{self.base}/codec/encode",
                     {"payloads": [{"metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                                    "data": data}] * 4})
        if reply[0] == 200:
            self.encoded = reply[1]
        return reply

    def codecDecode(self, n):
        return call("POST", f"{self.base}/codec/decode", self.encoded or {"payloads": []})

    def mailbox(self, n):
        return self.mailboxes[n % len(self.mailboxes)]


def sample_rss(pid, samples, done):
    """Appends (seconds since the start, RSS in KiB) every SAMPLE_SECONDS until done is set."""
    began = time.monotonic()
    while not done.is_set():
        try:
            samples.append((round(time.monotonic() - began, 1), rss_kib(pid)))
        except (OSError, StopIteration):  # the gateway is gone (a zombie has no VmRSS): its requests fail
            return
        done.wait(SAMPLE_SECONDS)


def slope_mib_per_hour(samples):
    """The least-squares slope of RSS over time, in MiB per hour."""
    times, values = [t for t, _ in samples], [kib / 1024 for _, kib in samples]
    if len(samples) < 2:
        return None
    return round(statistics.linear_regression(times, values).slope * 3600, 3)


def percentile(values, p):
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))], 2) if ordered else None


def drive(traffic, seconds, rate, threads):
    """Offers rate requests per second for seconds, in SEQUENCE's order; at most threads at once,
    each bounded by its own timeout. Returns {kind: {requests, errors, examples, latencies}}, the
    seconds until the last answer, and the longest a request waited past its time for a thread."""
    figures = {kind: {"requests": 0, "errors": 0, "examples": [], "latencies": []} for kind in SEQUENCE}
    lock = threading.Lock()
    lag = [0.0]

    def one(kind, due):
        before = time.monotonic()
        try:
            status, error = traffic.send(kind)
        except Exception as exception:  # the gateway gone, a timeout: an error of this kind
            error = f"{type(exception).__name__}: {exception}"
        with lock:
            entry = figures[kind]
            entry["requests"] += 1
            entry["latencies"].append((time.monotonic() - before) * 1000)
            lag[0] = max(lag[0], before - due)
            if error:
                entry["errors"] += 1
                if len(entry["examples"]) < 3 and error not in entry["examples"]:
                    entry["examples"].append(error)

    began = time.monotonic()
    pool = concurrent.futures.ThreadPoolExecutor(threads)
    try:
        for index in range(int(seconds * rate)):
            due = began + index / rate
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            pool.submit(one, SEQUENCE[index % len(SEQUENCE)], due)
    except BaseException:  # a stop: the queued ones are dropped, the running ones end by their timeouts
        pool.shutdown(cancel_futures=True)
        raise
    pool.shutdown()
    return figures, time.monotonic() - began, lag[0]


def soak(seconds, rate, gateway_path, gateway_log_copy=None, threads=128):
    """Runs the soak with the gateway at gateway_path (from TOP), its log copied to gateway_log_copy
    when given; returns the figures. Every process it starts is stopped before it returns. The
    threads let 6 s of requests at 20/s be in flight at once, so that slow answers (a busy worker
    keeps the ?wait= ones up to 10 s) do not lower the rate."""
    result = {"seconds": seconds, "rate": rate, "gateway": gateway_path}
    with tempfile.TemporaryDirectory(prefix="soak-") as directory, ExitStack() as cleanup:
        server = cleanup.enter_context(DevServer())
        worker_log = cleanup.enter_context(open(Path(directory) / "worker.log", "w+"))
        worker = start_process([sys.executable, str(TOP / "tests/integration/worker.py"), "--address",
                                server.address, "--task-queue", QUEUE, "--codec-key", KEYS], None, "ready",
                               worker_log)
        cleanup.callback(stop_process, worker)
        config = Path(directory) / "webhooks.json"
        config.write_text(json.dumps(WEBHOOKS))
        gateway_log = cleanup.enter_context(open(Path(directory) / "gateway.log", "w+"))
        env = dict(os.environ, TEMPORAL_ADDRESS=server.address, PORTICO_LISTEN="127.0.0.1:0", PORTICO_AUTH="off",
                   PORTICO_CODEC_KEYS=KEYS, PORTICO_WEBHOOKS_FILE=str(config), SOAK_WEBHOOK_SECRET=SECRET)
        gateway = start_process([str(TOP / gateway_path)], env, r"\(port \d+", gateway_log)
        cleanup.callback(stop_process, gateway)
        base = "http://127.0.0.1:" + re.search(r"\(port (\d+)", Path(gateway_log.name).read_text()).group(1)

        mailboxes = [f"soak-mailbox-{i}-{uuid.uuid4()}" for i in range(MAILBOXES)]
        for workflow_id in mailboxes:
            status, _, text = call("POST", f"{base}/api/v1/namespaces/default/workflows/{workflow_id}",
                                   {"workflowType": "Mailbox", "taskQueue": QUEUE})
            if status != 200:
                raise RuntimeError(f"starting a mailbox: {status} {text}")

        samples, done = [], threading.Event()
        sampler = threading.Thread(target=sample_rss, args=(gateway.pid, samples, done))
        sampler.start()
        try:
            figures, elapsed, lag = drive(Traffic(base, mailboxes), seconds, rate, threads)
        finally:
            done.set()
            sampler.join()
        status = stop_process(gateway)
        log = Path(gateway_log.name).read_text()
        if gateway_log_copy:
            Path(gateway_log_copy).write_text(log)
        sanitizer = [line for line in log.splitlines() if "Sanitizer" in line or "runtime error:" in line]

    warmup = min(WARMUP_SECONDS, seconds / 4)
    result.update(
        elapsedSeconds=round(elapsed, 1), maxLagMs=round(lag * 1000, 1), gatewayExitStatus=status,
        sanitizerLines=sanitizer[:20],
        requests=sum(entry["requests"] for entry in figures.values()),
        errors=sum(entry["errors"] for entry in figures.values()),
        kinds={kind: {"requests": entry["requests"], "errors": entry["errors"], "examples": entry["examples"],
                      "p50Ms": percentile(entry["latencies"], 50), "p99Ms": percentile(entry["latencies"], 99)}
               for kind, entry in figures.items()},
        warmupSeconds=warmup, rssSlopeMiBPerHour=slope_mib_per_hour([s for s in samples if s[0] >= warmup]),
        rssSlopeLastHalfMiBPerHour=slope_mib_per_hour([s for s in samples if s[0] >= seconds / 2]),
        rssStartKiB=samples[0][1], rssEndKiB=samples[-1][1], rssPeakKiB=max(kib for _, kib in samples),
        rssSamples=samples)
    return result


def markdown(soak):
    """The soak's section of the bench report."""
    slope = soak["rssSlopeMiBPerHour"]
    lines = ["", f"## Soak: {soak['seconds']} s of mixed traffic at {soak['rate']} requests/s", "",
             f"Gateway `{soak['gateway']}`, encrypting payloads, in front of a dev server with a Python-SDK "
             f"worker; {soak['requests']} requests, each sent at most {soak['maxLagMs']:.0f} ms after its time, the "
             f"last answered at {soak['elapsedSeconds']} s; {soak['errors']} unexpected answers; the gateway "
             f"exited with status {soak['gatewayExitStatus']}.", "",
             f"RSS: {soak['rssStartKiB'] / 1024:.1f} MiB at the start, {soak['rssEndKiB'] / 1024:.1f} MiB at the "
             f"end, peak {soak['rssPeakKiB'] / 1024:.1f} MiB; slope after a {soak['warmupSeconds']:.0f} s warm-up: "
             + (f"{slope:+.2f} MiB/hour (least squares over the samples taken every {SAMPLE_SECONDS} s), "
                f"{soak['rssSlopeLastHalfMiBPerHour']:+.2f} MiB/hour over the last half alone (a leak keeps "
                "its slope, a warm-up's flattens)." if slope is not None else "too few samples."), "",
             "| kind | requests | unexpected | p50 / p99 ms |", "|---|---|---|---|"]
    for kind, entry in soak["kinds"].items():
        latency = f"{entry['p50Ms']:.1f} / {entry['p99Ms']:.1f}" if entry["requests"] else "–"
        lines.append(f"| {kind} | {entry['requests']} | {entry['errors']} | {latency} |")
    examples = [f"- {kind}: {example}" for kind, entry in soak["kinds"].items() for example in entry["examples"]]
    if examples:
        lines += ["", "Unexpected answers (first few of each kind):", "", *examples]
    if soak["sanitizerLines"]:
        lines += ["", "Sanitizer lines in the gateway's log:", "", *(f"    {line}" for line in soak["sanitizerLines"])]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("SOAK_SECONDS", 600)))
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--gateway", default="build/portico", help="the program, from the top of the tree")
    parser.add_argument("--json", help="write the figures there, and no report in bench/results")
    parser.add_argument("--gateway-log", help="copy the gateway's log there (an ASan build's leak report)")
    options = parser.parse_args()

    def stopped(signum, frame):
        raise Stopped(signal.Signals(signum).name)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stopped)

    result = soak(options.seconds, options.rate, options.gateway, options.gateway_log)
    if options.json:
        Path(options.json).write_text(json.dumps(result, indent=2) + "\n")
        return
    date = datetime.date.today().isoformat()
    out = TOP / "bench/results"
    out.mkdir(exist_ok=True)
    (out / f"{date}-soak.json").write_text(json.dumps(result | {"date": date}, indent=2) + "\n")
    text = f"# Portico soak, {date}\n" + markdown(result)
    (out / f"{date}-soak.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
