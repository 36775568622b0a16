"""Portico's workflow worker against the official Python SDK's, side by side on one dev server:
the same two workflows, written in C (bench/workflows.c) and in Python (below), with the same
names, arguments and results:

  bench.Loop(activity, queue, count)  runs `count` no-op activities one after the other;
  bench.Signals(count)                waits for `count` signals "tick" (a handler counts them).

Each arm's workflow worker is a process of its own polling a task queue of its own, with its
defaults: Portico's `portico-worker --workflows build/bench/libbenchworkflows.so` (it takes
PORTICO_WORKFLOW_POLLERS and its other settings from this environment, as a user would set them),
the Python SDK's Worker with the sandbox it runs workflows in by default, and the same without it
(UnsandboxedWorkflowRunner). The no-op activities of every arm run on one Portico activity worker
(examples' echo library) on a queue of their own, so that they cost the same in every arm and are
not counted. A measurement starts `concurrency` workflows at once (so that the worker has work
queued, not one task at a time) and ends when all have returned; for bench.Signals the driver
sends each workflow its signals one after the other, the workflows in parallel, and Temporal may
hand the worker several signals in one task. Workflow tasks are counted from the histories
(WorkflowTaskCompleted events); the workflow worker's CPU (user + system, /proc) over the
measurement is divided by them. The arms take turns, run after run, so that they see the same noise.

    .venv/bin/python bench/workflow_bench.py [--activities 100] [--signals 100] [--concurrency 10]
        [--runs 3] [--quick] [--json out.json]

Roles (internal): `python` and `python-sandbox` host the Python workflows.
"""

import argparse
import asyncio
import json
import os
import signal
import sys
import uuid
from datetime import timedelta

from temporalio import workflow

# The sandbox re-imports this module for each run: the bench's helpers come from outside it.
with workflow.unsafe.imports_passed_through():
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import Client
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker
    from worker_bench import TOP, cpu_seconds, span, start, stop, summarize

ACTIVITY_QUEUE = "bench-wf-activities"
ACTIVITY = "example.echo"
# Each arm's workflow task queue; the peers' workers are this script in the role of their name.
ARMS = {"portico": "bench-wf-portico", "python": "bench-wf-python", "python-sandbox": "bench-wf-python-sandbox"}
PEERS = ("python", "python-sandbox")
KINDS = ("loop", "signals")
# A step is what the workflow does count times: an activity (loop) or a signal handled (signals).
# Temporal may give the worker several signals in one task, the more so the later the worker polls,
# so for signals the steps say how fast the work went where the tasks alone would not.
METRICS = ("workflowTasksPerSecond", "cpuMicrosPerTask", "tasksPerWorkflow", "stepsPerSecond", "cpuMicrosPerStep")


@workflow.defn(name="bench.Loop")
class Loop:
    """Runs `count` activities named `activity` on `queue`, one after the other."""

    @workflow.run
    async def run(self, activity: str, queue: str, count: int) -> int:
        for i in range(count):
            await workflow.execute_activity(activity, i, task_queue=queue, start_to_close_timeout=timedelta(seconds=60))
        return count


@workflow.defn(name="bench.Signals")
class Signals:
    """Waits until `count` signals "tick" have come."""

    def __init__(self) -> None:
        self.received = 0

    @workflow.signal(name="tick")
    def tick(self) -> None:
        self.received += 1

    @workflow.run
    async def run(self, count: int) -> int:
        await workflow.wait_condition(lambda: self.received >= count)
        return count


async def serve(address: str, role: str, queue: str) -> None:
    client = await Client.connect(address)
    stop_event = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop_event.set)
    # The workflows of this module imported by its name: run as a script, it is __main__, which the
    # sandbox cannot import again.
    from workflow_bench import Loop, Signals
    runner = {} if role == "python-sandbox" else {"workflow_runner": UnsandboxedWorkflowRunner()}
    async with Worker(client, task_queue=queue, workflows=[Loop, Signals], **runner):
        print("ready", flush=True)
        await stop_event.wait()


async def history_tasks(handle) -> dict:
    """The workflow tasks of handle's run, by outcome."""
    tasks = {"completed": 0, "failed": 0, "timedOut": 0}
    outcome = {EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: "completed",
               EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED: "failed",
               EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT: "timedOut"}
    async for event in handle.fetch_history_events():
        if event.event_type in outcome:
            tasks[outcome[event.event_type]] += 1
    return tasks


async def measure(client, kind: str, queue: str, pid: int, count: int, concurrency: int) -> dict:
    """One measurement: `concurrency` workflows of kind on queue, the worker process pid's CPU."""
    prefix = f"bench-{kind}-{uuid.uuid4().hex[:8]}"
    before_cpu, before = cpu_seconds(pid), asyncio.get_running_loop().time()
    if kind == "loop":
        handles = await asyncio.gather(*(client.start_workflow("bench.Loop", args=[ACTIVITY, ACTIVITY_QUEUE, count],
                                                               id=f"{prefix}-{i}", task_queue=queue)
                                         for i in range(concurrency)))
    else:
        handles = await asyncio.gather(*(client.start_workflow("bench.Signals", count, id=f"{prefix}-{i}",
                                                               task_queue=queue) for i in range(concurrency)))

        async def send(handle):
            for _ in range(count):
                await handle.signal("tick")

        await asyncio.gather(*(send(handle) for handle in handles))
    results = await asyncio.gather(*(handle.result() for handle in handles))
    elapsed, cpu = asyncio.get_running_loop().time() - before, cpu_seconds(pid) - before_cpu
    assert results == [count] * concurrency, results
    counts = await asyncio.gather(*(history_tasks(handle) for handle in handles))
    tasks = sum(c["completed"] for c in counts)
    return {"workflowTasksPerSecond": tasks / elapsed, "cpuMicrosPerTask": cpu / tasks * 1e6,
            "tasksPerWorkflow": tasks / concurrency,
            "stepsPerSecond": count * concurrency / elapsed, "cpuMicrosPerStep": cpu / (count * concurrency) * 1e6,
            "failedOrTimedOutTasks": sum(c["failed"] + c["timedOut"] for c in counts)}


async def bench(address: str, pids: dict, options) -> dict:
    client = await Client.connect(address)
    samples = {arm: {kind: [] for kind in KINDS} for arm in ARMS}
    arms = list(ARMS)
    for run in range(options.runs):
        # The order rotates, so that a server slowing down over the run favours no arm.
        for arm in arms[run % len(arms):] + arms[:run % len(arms)]:
            for kind in KINDS:
                count = options.activities if kind == "loop" else options.signals
                samples[arm][kind].append(await measure(client, kind, ARMS[arm], pids[arm], count,
                                                        options.concurrency))
    result = {arm: {kind: {key: summarize(runs, key) for key in METRICS}
                    | {"failedOrTimedOutTasks": sum(r["failedOrTimedOutTasks"] for r in runs)}
                    for kind, runs in kinds.items()} for arm, kinds in samples.items()}
    # Portico / peer, each kind: ≥ 2 (throughput) and ≤ 1/3 (CPU per task) are the targets.
    def ratio(peer, kind, key):
        return result["portico"][kind][key]["median"] / result[peer][kind][key]["median"]

    result["ratios"] = {peer: {kind: {
        "throughputRatio": ratio(peer, kind, "workflowTasksPerSecond"), "cpuRatio": ratio(peer, kind, "cpuMicrosPerTask"),
        "stepsRatio": ratio(peer, kind, "stepsPerSecond"), "cpuPerStepRatio": ratio(peer, kind, "cpuMicrosPerStep"),
    } for kind in KINDS} for peer in PEERS}
    return result


def markdown(result):
    """The workflow bench's section of the bench report."""
    names = {"portico": "Portico", "python": "Python SDK, unsandboxed", "python-sandbox": "Python SDK, sandbox"}
    runs = f"{result['runs']} run{'s' if result['runs'] != 1 else ''}"
    lines = ["", "## Workflow worker vs the Python SDK's", "",
             f"bench.Loop ({result['activities']} no-op activities one after the other) and bench.Signals "
             f"({result['signals']} signals, sent one after the other to each workflow), {result['concurrency']} "
             f"workflows at a time, {runs} per arm; each arm's workflow worker a process of its own with its "
             "defaults, the activities on one shared Portico activity worker (not counted). Tasks counted from "
             "the histories; CPU is the workflow worker's user + system time. A step is an activity (loop) or a "
             "signal (signals): a worker that polls later gets more signals per task, so for signals the "
             "steps, not the tasks, say how fast the work went.", "",
             "| workflow | worker | workflow tasks/s | CPU µs/task | tasks/workflow | steps/s | CPU µs/step | "
             "failed tasks |", "|---|---|---|---|---|---|---|---|"]
    for kind in KINDS:
        for arm, name in names.items():
            figures = result[arm][kind]
            lines.append(f"| {kind} | {name} | {span(figures['workflowTasksPerSecond'], 1)} | "
                         f"{span(figures['cpuMicrosPerTask'])} | {figures['tasksPerWorkflow']['median']:.1f} | "
                         f"{span(figures['stepsPerSecond'], 1)} | {span(figures['cpuMicrosPerStep'])} | "
                         f"{figures['failedOrTimedOutTasks']} |")
    lines += ["", "| workflow | Portico / | tasks/s (target ≥ 2) | CPU/task (target ≤ 0.33) | steps/s | CPU/step |",
              "|---|---|---|---|---|---|"]
    for kind in KINDS:
        for peer in PEERS:
            ratio = result["ratios"][peer][kind]
            lines.append(f"| {kind} | {names[peer]} | {ratio['throughputRatio']:.2f} | {ratio['cpuRatio']:.2f} | "
                         f"{ratio['stepsRatio']:.2f} | {ratio['cpuPerStepRatio']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--activities", type=int, default=100, help="per bench.Loop workflow")
    parser.add_argument("--signals", type=int, default=100, help="per bench.Signals workflow")
    parser.add_argument("--concurrency", type=int, default=10, help="workflows at a time")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 run of small workflows")
    parser.add_argument("--json")
    parser.add_argument("--role", choices=PEERS)
    parser.add_argument("--address")
    parser.add_argument("--queue")
    options = parser.parse_args()
    if options.role:
        asyncio.run(serve(options.address, options.role, options.queue))
        return
    if options.quick:
        options.activities, options.signals, options.concurrency, options.runs = 10, 10, 5, 1

    from devserver import DevServer
    with DevServer() as server:
        portico_env = dict(os.environ, TEMPORAL_ADDRESS=server.address)
        processes = [start([str(TOP / "build/portico-worker"), "--activities", str(TOP / "build/examples/libecho.so")],
                           env=dict(portico_env, PORTICO_TASK_QUEUE=ACTIVITY_QUEUE,
                                    PORTICO_WORKER_MAX_CONCURRENT="100"),
                           ready="polling task queue")]
        try:
            pids = {}
            for arm, queue in ARMS.items():
                if arm == "portico":
                    processes.append(start([str(TOP / "build/portico-worker"), "--workflows",
                                            str(TOP / "build/bench/libbenchworkflows.so")],
                                           env=dict(portico_env, PORTICO_TASK_QUEUE=queue), ready="polling task queue"))
                else:
                    processes.append(start([sys.executable, __file__, "--role", arm, "--address", server.address,
                                            "--queue", queue]))
                pids[arm] = processes[-1].pid
            result = asyncio.run(bench(server.address, pids, options))
        finally:
            for process in processes:
                stop(process)
    result.update(activities=options.activities, signals=options.signals, concurrency=options.concurrency,
                  runs=options.runs)
    print(json.dumps(result, indent=2))
    print(markdown(result))
    if options.json:
        with open(options.json, "w") as out:
            out.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
