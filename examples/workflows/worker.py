"""The example workflows' worker (Temporal's Python SDK): OrderSaga, Approval, GitHubPush and
Greet on task queue "portico-examples", with the pipeline's settings activity. Their other
activities run on Portico's worker (task queue "portico").

Payloads are encrypted as Portico encrypts them when PORTICO_CODEC_KEYS or
PORTICO_CODEC_KEYS_FILE is set (the same keys as the gateway's). Prints "ready" once polling;
SIGINT or SIGTERM stops it gracefully.

  python examples/workflows/worker.py [--address 127.0.0.1:7233] [--namespace default]"""

import argparse
import asyncio
import dataclasses
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import Worker

sys.path.insert(0, str(Path(__file__).resolve().parent))

from approval import Approval  # noqa: E402
from encryption_codec import codec_from_environment  # noqa: E402
from greet import Greet  # noqa: E402
from order_saga import OrderSaga  # noqa: E402
from webhook_pipeline import GitHubPush, pipeline_settings  # noqa: E402

TASK_QUEUE = "portico-examples"
WORKFLOWS = [OrderSaga, Approval, GitHubPush, Greet]
ACTIVITIES = [pipeline_settings]


def data_converter() -> DataConverter:
    codec = codec_from_environment()
    return dataclasses.replace(DataConverter.default, payload_codec=codec) if codec else DataConverter.default


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default=os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233"))
    parser.add_argument("--namespace", default=os.environ.get("TEMPORAL_NAMESPACE", "default"))
    parser.add_argument("--task-queue", default=TASK_QUEUE)
    options = parser.parse_args()

    client = await Client.connect(options.address, namespace=options.namespace, data_converter=data_converter())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with ThreadPoolExecutor(max_workers=4) as activity_threads:
        async with Worker(client, task_queue=options.task_queue, workflows=WORKFLOWS, activities=ACTIVITIES,
                          activity_executor=activity_threads):
            print("ready", flush=True)
            await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
    # The worker has shut down gracefully by now; grpc (under the SDK's service stubs) can crash
    # in interpreter finalization, which would turn a clean stop into a failed exit status.
    sys.stdout.flush()
    os._exit(0)
