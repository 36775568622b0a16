"""Approval: a request ({"title": …, "amount": …, "timeoutSeconds": …}, amount optional) waits for a decision, sent as a signal ("approve" or "reject", each with an
optional {"by": …, "comment": …}), for at most "timeoutSeconds" (default one hour), after which
it expires. The query "state" shows where it stands; the update "setAmount" changes the amount
while it is pending, and its validator refuses a bad one before anything is recorded."""

import asyncio
from datetime import timedelta
from typing import Any, Dict, List, Optional

from temporalio import workflow
from temporalio.exceptions import ApplicationError

MAX_AMOUNT = 1_000_000
MAX_TIMEOUT_SECONDS = 90 * 24 * 3600


def check_amount(amount: Any, required: bool = True) -> None:
    if amount is None and not required:
        return
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0 < amount <= MAX_AMOUNT:
        raise ValueError(f"amount must be a number above 0 and at most {MAX_AMOUNT}, not {amount!r}")


@workflow.defn(name="Approval")
class Approval:
    @workflow.init
    def __init__(self, request: Dict[str, Any]) -> None:
        self.request = request if isinstance(request, dict) else {}
        self.amount = self.request.get("amount")
        self.status = "pending"
        self.decision: Optional[Dict[str, Any]] = None
        self.changes: List[Dict[str, Any]] = []

    @workflow.run
    async def run(self, request: Dict[str, Any]) -> Dict[str, Any]:
        timeout_seconds = self.request.get("timeoutSeconds", 3600)
        try:
            check_amount(self.amount, required=False)
            if isinstance(timeout_seconds, bool) or not isinstance(timeout_seconds, (int, float)) or \
                    not 0 < timeout_seconds <= MAX_TIMEOUT_SECONDS:
                raise ValueError(f"timeoutSeconds must be a number above 0 and at most {MAX_TIMEOUT_SECONDS}, "
                                 f"not {timeout_seconds!r}")
        except ValueError as problem:  # a bad request fails the workflow, not just its task
            raise ApplicationError(str(problem), type="InvalidRequest", non_retryable=True)
        timeout = timedelta(seconds=timeout_seconds)
        try:
            await workflow.wait_condition(lambda: self.status != "pending", timeout=timeout,
                                          timeout_summary="approval deadline")
        except asyncio.TimeoutError:
            self.status = "expired"
        return self.state()

    def decide(self, status: str, decision: Optional[Dict[str, Any]]) -> None:
        if self.status == "pending":  # the first decision wins; later ones change nothing
            self.status = status
            self.decision = decision if isinstance(decision, dict) else {}

    @workflow.signal(name="approve")
    def approve(self, decision: Optional[Dict[str, Any]] = None) -> None:
        self.decide("approved", decision)

    @workflow.signal(name="reject")
    def reject(self, decision: Optional[Dict[str, Any]] = None) -> None:
        self.decide("rejected", decision)

    @workflow.query(name="state")
    def state(self) -> Dict[str, Any]:
        return {"title": self.request.get("title"), "amount": self.amount, "status": self.status,
                "decision": self.decision, "changes": self.changes}

    @workflow.update(name="setAmount")
    def set_amount(self, change: Dict[str, Any]) -> Dict[str, Any]:
        self.changes.append({"from": self.amount, "to": change["amount"], "by": change.get("by")})
        self.amount = change["amount"]
        return self.state()

    @set_amount.validator
    def validate_amount(self, change: Dict[str, Any]) -> None:
        if self.status != "pending":
            raise ValueError(f"the request is {self.status}: its amount can no longer change")
        if not isinstance(change, dict):
            raise ValueError('expected {"amount": …, "by": …}')
        check_amount(change.get("amount"))
