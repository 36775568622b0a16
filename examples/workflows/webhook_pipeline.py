"""GitHubPush: what examples/webhooks.json starts for each signed GitHub push. It reads the push,
then asks for a deploy approval of the pushed commit by starting an Approval workflow through
Portico's own REST API, with the built-in activity http.request on Portico's worker: a webhook
becomes a workflow, and the workflow calls an HTTP service.

The gateway's address is deployment configuration, so it comes from an activity
(pipeline.settings, run by this worker from its environment) and is recorded in the history:
workflow code itself reads no environment."""

import os
from datetime import timedelta
from typing import Any, Dict, Optional

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

PORTICO_TASK_QUEUE = "portico"


@activity.defn(name="pipeline.settings")
def pipeline_settings() -> Dict[str, str]:
    return {"porticoUrl": os.environ.get("PORTICO_URL", "http://127.0.0.1:8080"),
            "namespace": os.environ.get("TEMPORAL_NAMESPACE", "default")}


@workflow.defn(name="GitHubPush")
class GitHubPush:
    @workflow.run
    async def run(self, event: Dict[str, Any], headers: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        if not isinstance(event, dict) or not event.get("after"):
            raise ApplicationError('not a push event: expected "after" (the pushed commit)', type="NotAPush",
                                   non_retryable=True)
        repository = (event.get("repository") or {}).get("full_name", "unknown/unknown")
        commit = str(event["after"])
        push = {"repository": repository, "ref": event.get("ref"), "commit": commit,
                "commits": len(event.get("commits") or []), "pusher": (event.get("pusher") or {}).get("name")}
        if event.get("deleted") or not commit.strip("0"):
            return {**push, "skipped": "the push deleted its branch: nothing to deploy"}

        settings = await workflow.execute_activity("pipeline.settings", task_queue=workflow.info().task_queue,
                                                   start_to_close_timeout=timedelta(seconds=10))
        approval_id = f"deploy-{repository.replace('/', '-')}-{commit[:12]}"
        request = {
            "method": "POST",
            "url": f"{settings['porticoUrl']}/api/v1/namespaces/{settings['namespace']}/workflows/{approval_id}",
            # The same key on every attempt: a retried call starts the approval once.
            "headers": {"Idempotency-Key": f"{workflow.info().workflow_id}-approval"},
            # The same commit pushed again (another branch, a tag) finds its approval there.
            "body": {"workflowType": "Approval", "taskQueue": workflow.info().task_queue,
                     "workflowIdConflictPolicy": "WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING",
                     "args": [{"title": f"deploy {repository}@{commit[:12]} ({push['ref']})"}]},
        }
        response = await workflow.execute_activity("http.request", request, task_queue=PORTICO_TASK_QUEUE,
                                                   start_to_close_timeout=timedelta(seconds=30),
                                                   retry_policy=RetryPolicy(maximum_attempts=10))
        body = response.get("body") if isinstance(response.get("body"), dict) else {}
        return {**push, "approval": {"workflowId": approval_id, "httpStatus": response.get("status"),
                                     "runId": body.get("runId"), "new": body.get("started", False)}}
