"""Portico's C worker against the official Python SDK's worker, side by side on one dev server:
the same Python workflow worker runs the same Fanout workflow, whose N no-op activities go to a
task queue of their own served either by a Python-SDK activity worker or by portico-worker, several
times in alternating order; we report activities per second and the activity worker's CPU time
per activity.

Fair by construction: both activity workers run at most MAX_CONCURRENT activities and POLLS long
polls at once, and neither gets eager activity dispatch (where the server hands an activity
straight back to the worker that completed the workflow task): the dev server has it switched off,
the workflow worker asks for none, and it could not run one anyway, having no activities; the
activity queues are not the workflow's queue, which the SDK's eager path needs as well. CPU time is the sum of the kernel's
per-thread run time (/proc/PID/task/*/schedstat, in ns), sampled through the run so that threads
ending mid-run still count: the 10 ms ticks of /proc/PID/stat are too coarse for a few hundred
activities at a few hundred µs each.

    .venv/bin/python bench/worker_bench.py [--activities 500] [--runs 3] [--json out.json] [--worker path]

Roles (internal): `workflows` hosts the Fanout workflow, `activities` the Python no-op activity.
"""

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "tests/integration"))
WORKFLOW_QUEUE = "bench-workflows"
BATCH = 100
MAX_CONCURRENT = 100  # activities at once, on either activity worker
POLLS = 5  # activity task long polls at once, on either (the Python SDK's default)
SAMPLE_SECONDS = 0.02


@workflow.defn(name="Fanout")
class Fanout:
    """Runs `count` activities named `name` on `queue`, BATCH at a time."""

    @workflow.run
    async def run(self, name: str, queue: str, count: int) -> int:
        done = 0
        while done < count:
            batch = min(BATCH, count - done)
            await asyncio.gather(*(workflow.execute_activity(name, done + i, task_queue=queue,
                                                             start_to_close_timeout=timedelta(seconds=60))
                                   for i in range(batch)))
            done += batch
        return done


@activity.defn(name="example.echo")
async def echo(value: int) -> int:
    return value


async def serve(address: str, role: str, queue: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    # The bench's module does file-system work at import, which the workflow sandbox forbids;
    # Fanout itself is deterministic.
    kwargs = ({"workflows": [Fanout], "workflow_runner": UnsandboxedWorkflowRunner(),
               "disable_eager_activity_execution": True} if role == "workflows"
              else {"activities": [echo], "max_concurrent_activities": MAX_CONCURRENT,
                    "max_concurrent_activity_task_polls": POLLS})
    async with Worker(client, task_queue=queue, **kwargs):
        print("ready", flush=True)
        await stop.wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_run_ns(pid: int) -> dict:
    """Each live thread's run time so far (ns), by thread id."""
    times = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            times[task.name] = int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # the thread ended meanwhile
    return times


class CpuMeter:
    """The CPU time a process spends between start and stop, to the ns: per-thread run times,
    sampled every SAMPLE_SECONDS so that a thread ending mid-run loses at most one sample's worth."""

    def __init__(self, pid: int):
        self.pid, self.first, self.last = pid, {}, {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.sample_until_stopped, daemon=True)

    def sample(self, initial=False) -> None:
        for tid, ns in thread_run_ns(self.pid).items():
            self.first.setdefault(tid, ns if initial else 0)  # threads born mid-run start at 0
            self.last[tid] = ns

    def sample_until_stopped(self) -> None:
        while not self.stopping.wait(SAMPLE_SECONDS):
            self.sample()

    def start(self) -> None:
        self.sample(initial=True)
        self.thread.start()

    def stop(self) -> float:
        self.stopping.set()
        self.thread.join()
        self.sample()
        return sum(self.last[tid] - self.first[tid] for tid in self.last) / 1e9


def start(command, env=None, ready="ready", timeout=30):
    log = open(f"/tmp/bench-{uuid.uuid4().hex[:8]}.log", "w+")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + timeout
    while ready not in Path(log.name).read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{command[0]} did not start: {Path(log.name).read_text()}")
        time.sleep(0.05)
    return process


def stop(process):
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


async def measure(address: str, queue: str, pid: int, count: int) -> dict:
    client = await Client.connect(address)
    meter = CpuMeter(pid)
    meter.start()
    before = time.monotonic()
    await client.execute_workflow("Fanout", args=["example.echo", queue, count], id=f"fanout-{uuid.uuid4()}",
                                  task_queue=WORKFLOW_QUEUE)
    elapsed, cpu = time.monotonic() - before, meter.stop()
    return {"activitiesPerSecond": count / elapsed, "cpuMicrosPerActivity": cpu / count * 1e6}


def summarize(samples: list, key: str) -> dict:
    values = [sample[key] for sample in samples]
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def span(figure, digits=0):
    """A summary as "median [min–max]"."""
    return f"{figure['median']:.{digits}f} [{figure['min']:.{digits}f}–{figure['max']:.{digits}f}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--activities", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json")
    parser.add_argument("--worker", default=str(TOP / "build/portico-worker"), help="another build, to compare")
    parser.add_argument("--role", choices=["workflows", "activities"])
    parser.add_argument("--address")
    parser.add_argument("--queue")
    options = parser.parse_args()
    if options.role:
        asyncio.run(serve(options.address, options.role, options.queue))
        return

    from devserver import DevServer
    python = sys.executable
    with DevServer(dynamic_config={"system.enableActivityEagerExecution": "false"}) as server:
        workflows = start([python, __file__, "--role", "workflows", "--address", server.address,
                           "--queue", WORKFLOW_QUEUE])
        c_worker = start([options.worker, "--activities", str(TOP / "build/examples/libecho.so")],
                         env=dict(os.environ, TEMPORAL_ADDRESS=server.address, PORTICO_TASK_QUEUE="bench-c",
                                  PORTICO_WORKER_MAX_CONCURRENT=str(MAX_CONCURRENT), PORTICO_WORKER_POLLERS=str(POLLS)),
                         ready="polling task queue")
        py_worker = start([python, __file__, "--role", "activities", "--address", server.address,
                           "--queue", "bench-py"])
        try:
            samples = {"portico": [], "python": []}
            arms = [("portico", "bench-c", c_worker.pid), ("python", "bench-py", py_worker.pid)]
            for run in range(options.runs):  # interleaved, first one then the other, so both see the same noise
                for name, queue, pid in arms if run % 2 == 0 else reversed(arms):
                    samples[name].append(asyncio.run(measure(server.address, queue, pid, options.activities)))
        finally:
            for process in (c_worker, py_worker, workflows):
                stop(process)
    result = {name: {key: summarize(runs, key) for key in ("activitiesPerSecond", "cpuMicrosPerActivity")}
              for name, runs in samples.items()}
    result["cpuRatio"] = (result["portico"]["cpuMicrosPerActivity"]["median"] /
                          result["python"]["cpuMicrosPerActivity"]["median"])
    result["throughputRatio"] = (result["portico"]["activitiesPerSecond"]["median"] /
                                 result["python"]["activitiesPerSecond"]["median"])
    result.update(activities=options.activities, runs=options.runs)
    print(json.dumps(result, indent=2))
    if options.json:
        Path(options.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
