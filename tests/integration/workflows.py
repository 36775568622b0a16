"""Workflows the integration tests drive through Portico, written with the official Python SDK."""

from datetime import timedelta
from typing import Any, List, Optional

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError


@workflow.defn(name="Echo")
class Echo:
    """Returns its argument: proves input payloads arrive as sent."""

    @workflow.run
    async def run(self, value: Any) -> Any:
        return value


@workflow.defn(name="Mailbox")
class Mailbox:
    """Collects signals until told to finish; answers queries and updates meanwhile."""

    def __init__(self) -> None:
        self.signals: List[Any] = []
        self.stage = "new"
        self.done = False

    @workflow.run
    async def run(self, greeting: Optional[str] = None) -> dict:
        if greeting is not None:
            self.signals.append(greeting)
        await workflow.wait_condition(lambda: self.done)
        return self.state()

    @workflow.signal(name="add")
    def add(self, value: Any) -> None:
        self.signals.append(value)

    @workflow.signal(name="finish")
    def finish(self) -> None:
        self.done = True

    @workflow.query(name="state")
    def state(self) -> dict:
        return {"signals": self.signals, "stage": self.stage}

    @workflow.update(name="set_stage")
    def set_stage(self, stage: str) -> str:
        previous, self.stage = self.stage, stage
        return previous

    @set_stage.validator
    def validate_stage(self, stage: str) -> None:
        if not stage:
            raise ValueError("stage must not be empty")


@workflow.defn(name="WebhookInbox")
class WebhookInbox(Mailbox):
    """What a webhook route starts: a Mailbox that keeps the event (and headers) it started with."""

    @workflow.run
    async def run(self, event: Any = None, headers: Any = None) -> dict:
        await workflow.wait_condition(lambda: self.done)
        return {"event": event, "headers": headers, "signals": self.signals}


@workflow.defn(name="Sleeper")
class Sleeper:
    """Sleeps for the given seconds; the target of cancel and terminate."""

    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.sleep(timedelta(seconds=seconds))
        return "slept"


@workflow.defn(name="Failer")
class Failer:
    """Fails with a non-retryable application error."""

    @workflow.run
    async def run(self, message: str) -> None:
        raise ApplicationError(message, type="Deliberate", non_retryable=True)


@workflow.defn(name="Looper")
class Looper:
    """Continues as new until its count reaches zero, then returns how many runs it took."""

    @workflow.run
    async def run(self, remaining: int, runs: int = 1) -> int:
        if remaining > 0:
            workflow.continue_as_new(args=[remaining - 1, runs + 1])
        return runs


@workflow.defn(name="SlowUpdate")
class SlowUpdate:
    """An update whose handler takes longer than the server's long poll."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.done)

    @workflow.update(name="slow")
    async def slow(self, seconds: float) -> str:
        await workflow.sleep(timedelta(seconds=seconds))
        self.done = True
        return f"took {seconds}s"


@activity.defn(name="wait_for_approval")
async def wait_for_approval() -> str:
    """Leaves its completion to someone else, by task token or by id."""
    activity.raise_complete_async()


@workflow.defn(name="Approval")
class Approval:
    """Waits for an activity that is completed from outside (async completion by id)."""

    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            wait_for_approval, activity_id="approve", start_to_close_timeout=timedelta(minutes=5))


@workflow.defn(name="CallHttp")
class CallHttp:
    """Calls Portico's C worker: the http.request activity on the given task queue."""

    @workflow.run
    async def run(self, request: dict, queue: str) -> Any:
        return await workflow.execute_activity(
            "http.request", request, task_queue=queue, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), backoff_coefficient=1.0,
                                     maximum_attempts=5))


@workflow.defn(name="Countdown")
class Countdown:
    """Runs a heartbeating example C activity, example.countdown by default (heartbeats, resumes,
    cancels)."""

    @workflow.run
    async def run(self, request: dict, queue: str, cancel_after_ms: int = 0,
                  activity: str = "example.countdown") -> Any:
        handle = workflow.start_activity(
            activity, request, task_queue=queue, start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=2),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3),
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED)
        if cancel_after_ms:
            await workflow.sleep(timedelta(milliseconds=cancel_after_ms))
            handle.cancel()
        try:
            return await handle
        except ActivityError as error:
            return {"cancelled": type(error.cause).__name__}


@workflow.defn(name="RunActivity")
class RunActivity:
    """Runs one activity by name on a task queue, retrying quickly."""

    @workflow.run
    async def run(self, name: str, argument: Any, queue: str, start_to_close_ms: int = 30000) -> Any:
        return await workflow.execute_activity(
            name, argument, task_queue=queue, start_to_close_timeout=timedelta(milliseconds=start_to_close_ms),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3))


@activity.defn(name="shout")
async def shout(text: str) -> str:
    return text.upper() + "!"


@workflow.defn(name="Journey")
class Journey:
    """A history with something of every kind the event stream filters: two activities, a timer,
    signals; then waits for "go" and either returns or, with runs left, continues as new."""

    def __init__(self) -> None:
        self.heard: List[Any] = []
        self.go = False

    @workflow.run
    async def run(self, runs_left: int = 0) -> dict:
        for word in ("hello", "world"):
            self.heard.append(await workflow.execute_activity(
                shout, word, start_to_close_timeout=timedelta(seconds=30)))
        await workflow.sleep(0.2)
        await workflow.wait_condition(lambda: self.go)
        if runs_left > 0:
            workflow.continue_as_new(args=[runs_left - 1])
        return {"heard": self.heard}

    @workflow.signal(name="note")
    def note(self, value: Any) -> None:
        self.heard.append(value)

    @workflow.signal(name="go")
    def set_go(self) -> None:
        self.go = True


@workflow.defn(name="RunChild")
class RunChild:
    """Runs a child workflow by type on a task queue and returns its result: with a C workflow on
    Portico's worker, a workflow of Temporal's Python SDK starting one written with Portico's."""

    @workflow.run
    async def run(self, workflow_type: str, args: List[Any], queue: str) -> Any:
        return await workflow.execute_child_workflow(workflow_type, args=args, task_queue=queue,
                                                     id=f"{workflow.info().workflow_id}-child")


ALL = [Echo, Mailbox, WebhookInbox, Sleeper, Failer, Looper, SlowUpdate, Approval, CallHttp, Countdown, RunActivity,
       Journey, RunChild]
ACTIVITIES = [wait_for_approval, shout]
