"""Runs the test workflows on a task queue until stopped; prints 'ready' once polling."""

import argparse
import asyncio
import os
import signal

from temporalio.client import Client
from temporalio.worker import Worker

import workflows


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", required=True)
    options = parser.parse_args()

    client = await Client.connect(options.address, namespace=options.namespace)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with Worker(client, task_queue=options.task_queue, workflows=workflows.ALL,
                      activities=workflows.ACTIVITIES):
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
    # grpc (imported by the SDK's service stubs) can crash in interpreter finalization; the
    # worker has shut down cleanly by now, so skip finalization.
    os._exit(0)
