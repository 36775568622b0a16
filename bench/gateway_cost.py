"""make cost: the gateway's CPU instructions per request, counted by callgrind, so that two commits
can be compared without the noise of timing on a shared machine.

Starts a Temporal dev server, build/portico under `valgrind --tool=callgrind` and one workflow
(nobody polls its task queue: describe and signal need no worker), and a Python-SDK worker
(tests/integration/worker.py, as make bench does) running a second one, for queries. Each start
starts a workflow of its own on the idle queue. For each request kind: warm up, zero the counters
(`callgrind_control -z`), send N sequential requests on one keep-alive connection, dump
(`callgrind_control -d`). A dump sums all the gateway's threads, so idle gRPC and timer threads
add a little noise. Prints one line per kind; writes those lines and the top functions of the
gateway and the SDK (inclusive Ir) to bench/results/cost-<commit>.txt, and keeps the callgrind
files in build/cost/<commit>/ for callgrind_annotate or KCachegrind.

Usage: .venv/bin/python bench/gateway_cost.py [--requests 200] [--warmup 20] [--gateway build/portico]
"""

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "tests/integration"))

from devserver import DevServer, free_port  # noqa: E402

API = "/api/v1/namespaces/default/workflows"


def call(connection, method, path, body=None):
    path = path.replace("{id}", f"cost-{uuid.uuid4().hex[:12]}")
    headers = {"Content-Type": "application/json"} if body is not None else {}
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = connection.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")


def start_gateway(gateway, address, port, out_dir):
    """The gateway under callgrind, in its own process group; returns once /healthz answers."""
    env = dict(os.environ, TEMPORAL_ADDRESS=address, PORTICO_LISTEN=f"127.0.0.1:{port}", PORTICO_AUTH="off")
    log = open(out_dir / "gateway.log", "wb")
    process = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_dir}/callgrind.out",
                                str(gateway)], env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            call(http.client.HTTPConnection("127.0.0.1", port, timeout=5), "GET", "/healthz")
            return process
        except (OSError, RuntimeError):
            time.sleep(0.5)
    stop(process)
    raise RuntimeError(f"gateway did not start; see {out_dir}/gateway.log")


def start_worker(address, queue):
    """The Python SDK's test worker on `queue`; returns once it polls."""
    process = subprocess.Popen([sys.executable, str(TOP / "tests/integration/worker.py"), "--address", address,
                                "--task-queue", queue], stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    if process.stdout.readline().strip() != "ready":
        stop(process)
        raise RuntimeError("the Python worker did not start")
    return process


def answered(connection, method, path, body, seconds=30):
    """Waits until a request is answered with 200 (a query, once the worker has run the first task)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return call(connection, method, path, body)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def control(process, *args):
    done = subprocess.run(["callgrind_control", *args, str(process.pid)], timeout=60, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"callgrind_control {' '.join(args)}: {done.stdout}{done.stderr}")


def measure(process, connection, out_dir, kind, method, path, body, requests, warmup):
    """Ir per request of one kind: the total of a dump taken over exactly `requests` requests."""
    for _ in range(warmup):
        call(connection, method, path, body)
    before = set(out_dir.glob("callgrind.out.*"))
    control(process, "-z")
    for _ in range(requests):
        call(connection, method, path, body)
    control(process, "-d", kind)
    dump = (set(out_dir.glob("callgrind.out.*")) - before).pop()
    dump = dump.rename(out_dir / f"{kind}.callgrind")
    totals = re.search(r"^(?:totals|summary): (\d+)", dump.read_text(), re.M)
    return int(totals.group(1)) / requests, dump


def top_functions(dump, count=10):
    """The gateway's and the SDK's functions with the highest inclusive cost, as callgrind_annotate
    prints them."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(dump)],
                          capture_output=True, text=True, check=True).stdout
    own = [line for line in text.splitlines() if re.search(r"\s(gateway|sdk)/\S+:", line)]
    return own[:count]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--gateway", type=Path, default=TOP / "build/portico", help="the normal -O2 build's")
    options = parser.parse_args()
    for tool in ("valgrind", "callgrind_control", "callgrind_annotate"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing (apt-get install valgrind)")
    # SIGTERM, like Ctrl-C, unwinds through the finally clauses that stop what was started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=TOP, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    out_dir = TOP / "build/cost" / commit
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    workflow = f"{API}/cost-{uuid.uuid4().hex[:12]}"
    served = f"{API}/cost-served-{uuid.uuid4().hex[:12]}"
    start_body = {"workflowType": "Mailbox", "taskQueue": "cost-nobody"}
    kinds = [("healthz", "GET", "/healthz", None),
             ("describe", "GET", workflow, None),
             ("signal", "POST", f"{workflow}/signal/poke", {"input": ["a"]}),
             ("start", "POST", API + "/{id}", start_body),
             ("query", "POST", f"{served}/query/state", {})]
    lines, tops = [], []
    with DevServer() as server:
        port = free_port()
        worker = start_worker(server.address, "cost-served")
        gateway = None
        try:
            gateway = start_gateway(options.gateway.resolve(), server.address, port, out_dir)
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            call(connection, "POST", workflow, {"workflowType": "CostProbe", "taskQueue": "cost-nobody"})
            call(connection, "POST", served, {"workflowType": "Mailbox", "taskQueue": "cost-served"})
            answered(connection, "POST", f"{served}/query/state", {})
            for kind, method, path, body in kinds:
                per_request, dump = measure(gateway, connection, out_dir, kind, method, path, body,
                                            options.requests, options.warmup)
                lines.append(f"{kind:<9} {per_request:>12,.0f} Ir/request  (N={options.requests})")
                print(lines[-1], flush=True)
                tops += [f"\n{kind}: top functions in gateway/ and sdk/ by inclusive Ir ({options.requests} requests)"]
                tops += top_functions(dump)
            connection.close()
        finally:
            if gateway is not None:
                stop(gateway)
            stop(worker)
    result = TOP / "bench/results" / f"cost-{commit}.txt"
    result.write_text(f"Gateway cost at {commit}: callgrind, whole process, {options.warmup} warm-up then "
                      f"{options.requests} sequential requests on one keep-alive connection.\n"
                      "Command: make cost\n\n" + "\n".join(lines + tops) + "\n")
    print(f"wrote {result.relative_to(TOP)}; callgrind files in {out_dir.relative_to(TOP)}/")


if __name__ == "__main__":
    main()
