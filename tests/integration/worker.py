"""Runs the test workflows on a task queue until stopped; prints 'ready' once polling."""

import argparse
import asyncio
import base64
import dataclasses
import os
import signal
import sys
from pathlib import Path

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import Worker

# The encryption codec lives with the examples, for workers of users' own.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples/workflows"))

import workflows  # noqa: E402


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--codec-key", help="ID=BASE64: encrypt payloads as Temporal's samples do")
    options = parser.parse_args()

    converter = DataConverter.default
    if options.codec_key:
        from encryption_codec import EncryptionCodec
        key_id, key = options.codec_key.split("=", 1)
        codec = EncryptionCodec({key_id: base64.b64decode(key)}, key_id)
        converter = dataclasses.replace(converter, payload_codec=codec)
    client = await Client.connect(options.address, namespace=options.namespace, data_converter=converter)
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
