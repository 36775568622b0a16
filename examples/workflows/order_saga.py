"""OrderSaga: reserve -> charge -> ship, each a C activity on Portico's worker (task queue
"portico", examples/activities/order.c). When a step fails, the steps done so far are undone in
reverse order (refund, then release) and the workflow returns what happened; the query
"progress" shows the steps as they go. A saga cancelled half-way undoes what it did, then
ends as cancelled.

A step's compensation is noted before the step runs: a step that timed out may still have done
its work, so it is undone too. Only a step that refused outright (a non-retryable failure of its
own) is known to have done nothing. Every activity answers from the order id alone, so undoing
what was never done is harmless."""

import asyncio
from datetime import timedelta
from typing import Any, Dict, List

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

PORTICO_TASK_QUEUE = "portico"
STEPS = [("reserve", "order.reserve", "order.release"), ("charge", "order.charge", "order.refund"),
         ("ship", "order.ship", None)]
DONE = {"order.reserve": "reserved", "order.charge": "charged", "order.ship": "shipped",
        "order.release": "released", "order.refund": "refunded"}
STEP_RETRIES = RetryPolicy(maximum_attempts=5, initial_interval=timedelta(seconds=1))


def refused(failure: ActivityError) -> bool:
    """The step itself said no, for good: it did nothing to undo."""
    return isinstance(failure.cause, ApplicationError) and failure.cause.non_retryable


@workflow.defn(name="OrderSaga")
class OrderSaga:
    def __init__(self) -> None:
        self.progress: List[str] = []

    @workflow.run
    async def run(self, order: Dict[str, Any]) -> Dict[str, Any]:
        if not isinstance(order, dict) or not order.get("orderId"):
            raise ApplicationError('expected an order such as {"orderId": "o-1", "amount": 42}',
                                   type="InvalidOrder", non_retryable=True)
        undo: List[str] = []  # compensations, undone last-in first-out
        results: Dict[str, Any] = {}
        for step, activity, compensation in STEPS:
            if compensation:
                undo.append(compensation)
            try:
                results.update(await self.call(activity, order))
            except (asyncio.CancelledError, ActivityError) as failure:
                if is_cancelled_exception(failure):
                    # Cancelled half-way: undo what was done (the step in flight too), then end
                    # as cancelled. Activities started after the cancellation still run.
                    self.progress.append(f"cancelled during {step}")
                    await self.compensate(undo, order)
                    raise asyncio.CancelledError(f"order {order['orderId']} cancelled during {step}") from failure
                self.progress.append(f"{step} failed")
                if compensation and refused(failure):
                    undo.pop()
                return {"orderId": order["orderId"], "status": "compensated", "failedStep": step,
                        "error": {"type": getattr(failure.cause, "type", None), "message": str(failure.cause or failure)},
                        **await self.compensate(undo, order), "progress": self.progress}
        return {"orderId": order["orderId"], "status": "completed", **results, "progress": self.progress}

    async def compensate(self, undo: List[str], order: Dict[str, Any]) -> Dict[str, Any]:
        """Runs every compensation, newest first, each retried until it succeeds; one that fails
        for good is reported and the others still run."""
        done, failed = [], []
        for activity in reversed(undo):
            try:
                done.append(await self.call(activity, order, RetryPolicy()))
            except ActivityError as failure:
                self.progress.append(f"{activity.split('.', 1)[1]} failed")
                failed.append({"activity": activity, "message": str(failure.cause or failure)})
        return {"compensations": done, **({"failedCompensations": failed} if failed else {})}

    async def call(self, activity: str, order: Dict[str, Any], retry: RetryPolicy = STEP_RETRIES) -> Any:
        result = await workflow.execute_activity(activity, order, task_queue=PORTICO_TASK_QUEUE,
                                                 start_to_close_timeout=timedelta(seconds=30),
                                                 heartbeat_timeout=timedelta(seconds=5), retry_policy=retry)
        self.progress.append(DONE[activity])
        return result

    @workflow.query(name="progress")
    def get_progress(self) -> List[str]:
        return self.progress
