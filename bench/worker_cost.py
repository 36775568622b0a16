"""The worker's cost per activity, counted rather than timed, so that two commits can be compared
without the noise of a shared machine: callgrind instructions, system calls and thread wake-ups
per no-op activity.

Starts a Temporal dev server, the bench's Python workflow worker (worker_bench.py's Fanout) and
build/portico-worker with build/examples/libecho.so, under the tool asked for:
  callgrind  instructions (Ir) per activity, all threads summed (`callgrind_control -z` after a
             warm-up, `-d` after N activities), and the top functions by inclusive Ir;
  strace     `strace -f -c` over the N activities: system calls per activity, by kind; futex and
             epoll_wait calls are the threads' waits, so they count hand-offs between threads;
  wakeups    no tracer: each thread's voluntary context switches (/proc/PID/task/*/status) over
             the N activities, i.e. how often a thread slept and was woken, per activity.

Usage: .venv/bin/python bench/worker_cost.py [--tool callgrind|strace|wakeups] [--activities 200]
       [--worker build/portico-worker] [--out DIR]
"""

import argparse
import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "bench"))
sys.path.insert(0, str(TOP / "tests/integration"))

from devserver import DevServer  # noqa: E402
from worker_bench import WORKFLOW_QUEUE, start, stop  # noqa: E402
from temporalio.client import Client  # noqa: E402

QUEUE = "cost-c"
WARMUP = 20
# Under valgrind, /proc/self/exe is valgrind's tool, so the flow expression sandboxes the worker
# spawns from it would not start: this preload spawns the worker's own file instead (natively; the
# sandboxes are not what is measured).
SPAWN_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
                        char *const[], char *const[]);
int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	const char *exe = getenv("COST_SELF_EXE");
	spawn_fn real = (spawn_fn)dlsym(RTLD_NEXT, "posix_spawn");
	return real(pid, exe && !strcmp(path, "/proc/self/exe") ? exe : path, actions, attr, argv, envp);
}
"""


async def fan_out(address: str, count: int) -> None:
    client = await Client.connect(address)
    await client.execute_workflow("Fanout", args=["example.echo", QUEUE, count], id=f"cost-{uuid.uuid4()}",
                                  task_queue=WORKFLOW_QUEUE)


def switches(pid: int) -> dict:
    """Each live thread's voluntary context switches so far, by thread id and name."""
    counts = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:
            continue
        name = re.search(r"^Name:\s*(.*)$", status, re.M).group(1)
        counts[task.name] = (name, int(re.search(r"^voluntary_ctxt_switches:\s*(\d+)", status, re.M).group(1)))
    return counts


def report_wakeups(before: dict, after: dict, count: int) -> None:
    by_name = {}
    for tid, (name, n) in after.items():
        woken = n - before.get(tid, (name, 0))[1]
        if woken:
            threads, total = by_name.get(name, (0, 0))
            by_name[name] = (threads + 1, total + woken)
    print(f"thread wake-ups per activity: {sum(t for _, t in by_name.values()) / count:.2f}")
    for name, (threads, total) in sorted(by_name.items(), key=lambda item: -item[1][1]):
        print(f"  {name:20} {threads:4} threads {total / count:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", choices=["callgrind", "strace", "wakeups"], default="callgrind")
    parser.add_argument("--activities", type=int, default=200)
    parser.add_argument("--worker", default=str(TOP / "build/portico-worker"))
    parser.add_argument("--out", default="/tmp/worker-cost")
    options = parser.parse_args()
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("callgrind.out*"):
        old.unlink()
    worker_command = [options.worker, "--activities", str(TOP / "build/examples/libecho.so")]
    env = dict(os.environ, PORTICO_TASK_QUEUE=QUEUE, PORTICO_WORKER_MAX_CONCURRENT="100")
    if options.tool == "callgrind":
        (out / "spawn_shim.c").write_text(SPAWN_SHIM)
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(out / "spawn_shim.so"), str(out / "spawn_shim.c"),
                        "-ldl"], check=True)
        env.update(LD_PRELOAD=str(out / "spawn_shim.so"), COST_SELF_EXE=options.worker)
        worker_command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/callgrind.out.%p"] + worker_command
    with DevServer() as server:
        workflows = start([sys.executable, str(TOP / "bench/worker_bench.py"), "--role", "workflows", "--address",
                           server.address, "--queue", WORKFLOW_QUEUE])
        tracer = worker = None
        try:
            worker = start(worker_command, env=dict(env, TEMPORAL_ADDRESS=server.address), ready="polling task queue",
                           timeout=120)
            asyncio.run(fan_out(server.address, WARMUP))
            if options.tool == "callgrind":
                subprocess.run(["callgrind_control", "-z", str(worker.pid)], check=True, capture_output=True)
            elif options.tool == "strace":
                tracer = subprocess.Popen(["strace", "-f", "-c", "-o", str(out / "strace.txt"), "-p",
                                           str(worker.pid)], stderr=subprocess.DEVNULL)
                time.sleep(1)  # attached to every thread
            before = switches(worker.pid)
            asyncio.run(fan_out(server.address, options.activities))
            after = switches(worker.pid)
            if options.tool == "callgrind":
                subprocess.run(["callgrind_control", "-d", str(worker.pid)], check=True, capture_output=True)
            elif tracer:
                tracer.send_signal(signal.SIGINT)
                tracer.wait(timeout=30)
        finally:
            if worker:
                stop(worker)
            stop(workflows)
    count = options.activities
    if options.tool == "wakeups":
        report_wakeups(before, after, count)
    elif options.tool == "strace":
        lines = (out / "strace.txt").read_text().splitlines()
        total = next(line for line in lines if line.strip().endswith("total"))
        print(f"system calls per activity: {int(total.split()[3]) / count:.1f}")
        for line in lines[2:]:
            fields = line.split()
            if len(fields) >= 5 and fields[-1] != "total" and fields[0] != "------":
                calls = int(fields[3])
                if calls >= count / 10:
                    print(f"  {fields[-1]:16} {calls / count:6.2f}")
    else:
        dump = out / f"callgrind.out.{worker.pid}.1"  # callgrind_control -d's; the exit's has no suffix
        totals = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(), re.M)
        print(f"instructions per activity: {int(totals.group(1)) / count:,.0f}  ({dump})")
        annotate = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(dump)], capture_output=True, text=True)
        print("\n".join(annotate.stdout.splitlines()[:60]))


if __name__ == "__main__":
    main()
