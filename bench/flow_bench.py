"""A flow against the same workflow in the Python SDK, side by side on one dev server: three HTTP
calls one after the other (GET /step/1, /step/2, /step/3 of a local HTTP server this script runs,
tests/integration/stand_in.py), started through the gateway with ?wait=, so that each request
returns with the result.

  portico  the flow bench-three-calls (three `call: http`), from PORTICO_FLOWS_DIR, started with
           POST /api/v1/namespaces/default/flows/bench-three-calls?wait=60s and run by
           portico-worker (the flow interpreter and its http.request activity);
  python   the workflow bench.ThreeCalls (below): three activities, each a GET with the standard
           library's urllib, on the Python SDK's worker with its defaults (the workflow sandbox),
           started with the gateway's ordinary POST /api/v1/namespaces/default/workflows/{id}?wait=60s.

`concurrency` client threads each start a workflow, wait for its result, and start the next, until
`flows` have run; the arms take turns in rounds (the order alternating), so that both see the same
noise. Reported per arm: p50/p99 from request to result, flows per second, and the CPU (user +
system, /proc) of the worker processes per flow. A few flows per arm warm up first, unmeasured.

    .venv/bin/python bench/flow_bench.py [--flows 200] [--concurrency 10] [--rounds 4] [--smoke]
        [--json out.json]

Role (internal): `python` runs the Python SDK's worker.
"""

import argparse
import asyncio
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
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow

# The sandbox re-imports this module for each run: the bench's helpers come from outside it.
with workflow.unsafe.imports_passed_through():
    import urllib.request

    from temporalio.client import Client
    from temporalio.worker import Worker
    from worker_bench import TOP, cpu_seconds, start, stop

PYTHON_QUEUE = "bench-flow-python"
FLOW_NAME = "bench-three-calls"
ARMS = ("portico", "python")


@activity.defn(name="bench.httpGet")
def http_get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


@workflow.defn(name="bench.ThreeCalls")
class ThreeCalls:
    """GETs base/step/1, 2 and 3, one after the other; returns the last answer."""

    @workflow.run
    async def run(self, base: str) -> dict:
        answer = None
        for step in (1, 2, 3):
            answer = await workflow.execute_activity(http_get, f"{base}/step/{step}",
                                                     start_to_close_timeout=timedelta(seconds=30))
        return answer


def flow_definition(base: str) -> str:
    steps = "".join(f"""  - step{step}:
      call: http
      with:
        method: get
        endpoint: {base}/step/{step}
""" for step in (1, 2, 3))
    return f"document: {{dsl: '1.0.0', namespace: bench, name: {FLOW_NAME}, version: '1.0.0'}}\ndo:\n{steps}"


async def serve(address: str) -> None:
    client = await Client.connect(address)
    stop_event = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop_event.set)
    # The workflow imported by this module's name: run as a script, it is __main__, which the
    # sandbox cannot import again.
    from flow_bench import ThreeCalls, http_get
    with ThreadPoolExecutor(max_workers=64) as executor:
        async with Worker(client, task_queue=PYTHON_QUEUE, workflows=[ThreeCalls], activities=[http_get],
                          activity_executor=executor, max_concurrent_activities=64):
            print("ready", flush=True)
            await stop_event.wait()


def start_gateway(address: str, flows_dir: str):
    log = tempfile.NamedTemporaryFile(prefix="bench-flow-gateway-", suffix=".log", delete=False)
    env = dict(os.environ, TEMPORAL_ADDRESS=address, PORTICO_LISTEN="127.0.0.1:0", PORTICO_AUTH="off",
               PORTICO_FLOWS_DIR=flows_dir)
    process = subprocess.Popen([str(TOP / "build/portico")], env=env, stdout=subprocess.DEVNULL, stderr=log,
                               start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        match = re.search(r"\(port (\d+)", Path(log.name).read_text())
        if match:
            return process, f"http://127.0.0.1:{match.group(1)}"
        time.sleep(0.05)
    raise RuntimeError(f"gateway did not start: {Path(log.name).read_text()}")


def one_flow(arm: str, gateway: str, base: str):
    """Starts one workflow of arm with ?wait= and returns (seconds from request to result, result)."""
    from http_client import post
    namespace = f"{gateway}/api/v1/namespaces/default"
    before = time.perf_counter()
    if arm == "portico":
        answer = post(f"{namespace}/flows/{FLOW_NAME}?wait=60s", {})
    else:
        answer = post(f"{namespace}/workflows/bench-three-{uuid.uuid4().hex}?wait=60s",
                      {"workflowType": "bench.ThreeCalls", "taskQueue": PYTHON_QUEUE, "args": [base]})
    elapsed = time.perf_counter() - before
    outcome = (answer.json or {}).get("outcome") or {}
    if answer.status != 200 or outcome.get("status") != "WORKFLOW_EXECUTION_STATUS_COMPLETED":
        raise RuntimeError(f"{arm}: {answer}")
    return elapsed, outcome["result"][0]


def run_round(arm: str, gateway: str, base: str, count: int, concurrency: int, pids) -> dict:
    """count flows of arm, concurrency at a time; latencies, elapsed time and the workers' CPU."""
    latencies, lock, remaining = [], threading.Lock(), [count]

    def client():
        while True:
            with lock:
                if not remaining[0]:
                    return
                remaining[0] -= 1
            elapsed, result = one_flow(arm, gateway, base)
            assert result == {"step": 3}, result
            with lock:
                latencies.append(elapsed)

    before_cpu, before = cpu_of(pids), time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(client) for _ in range(concurrency)]:
            future.result()
    return {"latencies": latencies, "seconds": time.perf_counter() - before,
            "cpu": cpu_of(pids) - before_cpu}


def children(pid: int) -> list:
    """The process's child processes (from /proc), e.g. the worker's expression sandboxes."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def cpu_of(pids) -> float:
    """The CPU seconds of the processes still there (a sandbox replaced since is not counted)."""
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except FileNotFoundError:
            pass
    return total


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def bench(gateway: str, base: str, pids: dict, options) -> dict:
    for arm in ARMS:  # warm-up: connections, caches, the sandbox's first import
        run_round(arm, gateway, base, options.concurrency, options.concurrency, pids[arm])
    per_round = max(1, options.flows // options.rounds)
    rounds = {arm: [] for arm in ARMS}
    for number in range(options.rounds):
        for arm in (ARMS if number % 2 == 0 else tuple(reversed(ARMS))):
            rounds[arm].append(run_round(arm, gateway, base, per_round, options.concurrency, pids[arm]))
    result = {}
    for arm, samples in rounds.items():
        latencies = [value for sample in samples for value in sample["latencies"]]
        rates = [len(sample["latencies"]) / sample["seconds"] for sample in samples]
        result[arm] = {"flows": len(latencies), "p50Ms": percentile(latencies, 50) * 1000,
                       "p99Ms": percentile(latencies, 99) * 1000,
                       "flowsPerSecond": {"median": statistics.median(rates), "min": min(rates), "max": max(rates)},
                       "workerCpuMsPerFlow": sum(s["cpu"] for s in samples) / len(latencies) * 1000}
    result["ratios"] = {
        "throughput": result["portico"]["flowsPerSecond"]["median"] / result["python"]["flowsPerSecond"]["median"],
        "p50": result["portico"]["p50Ms"] / result["python"]["p50Ms"],
        "p99": result["portico"]["p99Ms"] / result["python"]["p99Ms"],
        "cpu": result["portico"]["workerCpuMsPerFlow"] / result["python"]["workerCpuMsPerFlow"]}
    return result


def markdown(result):
    """The flow bench's section of the bench report."""
    names = {"portico": "Portico flow (YAML, portico-worker)", "python": "Python SDK workflow (sandbox, urllib)"}
    lines = ["", "## Flows vs the Python SDK (three HTTP calls, started with ?wait=)", "",
             f"{result['flows']} flows per arm in {result['rounds']} rounds taken in turns, {result['concurrency']} "
             "at a time, each a POST with ?wait=60s through the gateway answered with the result; three GETs one "
             "after the other to a local HTTP server. Worker CPU: user + system of the arm's worker processes "
             "over the rounds (the gateway and the server not counted).", "",
             "| arm | p50 ms | p99 ms | flows/s | worker CPU ms/flow |", "|---|---|---|---|---|"]
    for arm, name in names.items():
        figures = result[arm]
        rate = figures["flowsPerSecond"]
        lines.append(f"| {name} | {figures['p50Ms']:.1f} | {figures['p99Ms']:.1f} | {rate['median']:.1f} "
                     f"[{rate['min']:.1f}–{rate['max']:.1f}] | {figures['workerCpuMsPerFlow']:.2f} |")
    ratios = result["ratios"]
    lines += ["", f"Portico / Python SDK: flows/s {ratios['throughput']:.2f}×, p50 {ratios['p50']:.2f}, "
                  f"p99 {ratios['p99']:.2f}, worker CPU per flow {ratios['cpu']:.2f}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flows", type=int, default=200, help="per arm, measured")
    parser.add_argument("--concurrency", type=int, default=10, help="flows at a time")
    parser.add_argument("--rounds", type=int, default=4, help="turns per arm")
    parser.add_argument("--smoke", action="store_true", help="a short run: 20 flows per arm in 2 rounds")
    parser.add_argument("--json")
    parser.add_argument("--role", choices=["python"])
    parser.add_argument("--address")
    options = parser.parse_args()
    if options.role:
        asyncio.run(serve(options.address))
        return
    if options.smoke:
        options.flows, options.rounds, options.concurrency = 20, 2, min(options.concurrency, 5)

    from devserver import DevServer
    from stand_in import StandIn
    with tempfile.TemporaryDirectory() as flows_dir, StandIn() as stand_in, DevServer() as server:
        Path(flows_dir, f"{FLOW_NAME}.yaml").write_text(flow_definition(stand_in.url))
        gateway, gateway_url = start_gateway(server.address, flows_dir)
        env = dict(os.environ, TEMPORAL_ADDRESS=server.address, PORTICO_FLOWS_DIR=flows_dir)
        workers = {"portico": start([str(TOP / "build/portico-worker")], env=env, ready="polling task queue"),
                   "python": start([sys.executable, __file__, "--role", "python", "--address", server.address])}
        try:
            # The worker's expression sandboxes are its children: their CPU is the flow's too.
            pids = {arm: [process.pid, *children(process.pid)] for arm, process in workers.items()}
            result = bench(gateway_url, stand_in.url, pids, options)
        finally:
            for process in workers.values():
                stop(process)
            gateway.send_signal(signal.SIGTERM)
            gateway.wait(timeout=60)
    result.update(flows=options.flows // options.rounds * options.rounds, rounds=options.rounds,
                  concurrency=options.concurrency)
    print(json.dumps(result, indent=2))
    print(markdown(result))
    if options.json:
        Path(options.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
