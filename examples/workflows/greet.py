"""Greet: calls the C activity example.greet (examples/activities/greet.c) on Portico's worker."""

from datetime import timedelta
from typing import Any

from temporalio import workflow

PORTICO_TASK_QUEUE = "portico"


@workflow.defn(name="Greet")
class Greet:
    @workflow.run
    async def run(self, name: Any) -> str:
        answer = await workflow.execute_activity("example.greet", {"name": name}, task_queue=PORTICO_TASK_QUEUE,
                                                 start_to_close_timeout=timedelta(seconds=10))
        return answer["greeting"]
