"""OrderSaga: reserve -> charge -> ship, each a C activity on Portico's worker (task queue
"portico", examples/activities/order.c). When a step fails, the steps done so far are undone in
reverse order (refund, then release) and the workflow returns what happened; the query
"progress" shows the steps as they go."""

from datetime import timedelta
from typing import Any, Dict, List, Tuple

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

PORTICO_TASK_QUEUE = "portico"
DONE = {"order.reserve": "reserved", "order.charge": "charged", "order.ship": "shipped",
        "order.release": "released", "order.refund": "refunded"}
STEP_RETRIES = RetryPolicy(maximum_attempts=5, initial_interval=timedelta(seconds=1))


@workflow.defn(name="OrderSaga")
class OrderSaga:
    def __init__(self) -> None:
        self.progress: List[str] = []

    @workflow.run
    async def run(self, order: Dict[str, Any]) -> Dict[str, Any]:
        if not isinstance(order, dict) or not order.get("orderId"):
            raise ApplicationError('expected an order such as {"orderId": "o-1", "amount": 42}',
                                   type="InvalidOrder", non_retryable=True)
        undo: List[Tuple[str, Dict[str, Any]]] = []  # compensations, undone last-in first-out
        results: Dict[str, Any] = {}
        step = ""
        try:
            step = "reserve"
            reservation = await self.call("order.reserve", order)
            undo.append(("order.release", reservation))
            step = "charge"
            payment = await self.call("order.charge", order)
            undo.append(("order.refund", payment))
            step = "ship"
            shipment = await self.call("order.ship", order)
            results = {**reservation, **payment, **shipment}
        except ActivityError as failure:
            cause = failure.cause
            self.progress.append(f"{step} failed")
            compensated = []
            for activity, arguments in reversed(undo):
                # Compensations retry until they succeed: an undo must not be lost.
                compensated.append(await self.call(activity, arguments, RetryPolicy()))
            return {"orderId": order["orderId"], "status": "compensated", "failedStep": step,
                    "error": {"type": getattr(cause, "type", None), "message": str(cause or failure)},
                    "compensations": compensated, "progress": self.progress}
        return {"orderId": order["orderId"], "status": "completed", **results, "progress": self.progress}

    async def call(self, activity: str, argument: Dict[str, Any], retry: RetryPolicy = STEP_RETRIES) -> Any:
        result = await workflow.execute_activity(activity, argument, task_queue=PORTICO_TASK_QUEUE,
                                                 start_to_close_timeout=timedelta(seconds=30), retry_policy=retry)
        self.progress.append(DONE[activity])
        return result

    @workflow.query(name="progress")
    def get_progress(self) -> List[str]:
        return self.progress
