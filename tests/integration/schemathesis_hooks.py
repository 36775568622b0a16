"""Hooks of the conformance run (test_openapi.py).

They bound how long one call may take. The run reuses ids from earlier responses, so it reaches
workflows that are running with no worker in this test. On those, some calls wait as long as the
API allows: an update up to 60 s, a history long poll up to 70 s, `?wait=` up to an hour. That is
behaviour as documented, but longer than the run's request timeout. A `Grpc-Timeout` header bounds
every call to Temporal, and a `wait` that would be accepted is shortened. Values the gateway
refuses are sent as generated.

They also keep the namespace default usable. The run's namespace updates go to the namespace
"conformance" instead: one that set default's state to Deleted would fail every later call in
default, and which calls came before it would decide what the run tests."""

import re

import schemathesis

BOUND = "5"
DURATION = re.compile(r"(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|ms|s|m|h))+")
NAMESPACE_UPDATES = {"/api/v1/namespaces/{namespace}/update", "/cluster/namespaces/{namespace}/update"}


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.headers is None:
        case.headers = {}
    case.headers.setdefault("Grpc-Timeout", BOUND + "S")
    wait = (case.query or {}).get("wait")
    if isinstance(wait, str) and DURATION.fullmatch(wait):
        case.query["wait"] = BOUND + "s"
    if case.operation.path in NAMESPACE_UPDATES and (case.path_parameters or {}).get("namespace") == "default":
        case.path_parameters["namespace"] = "conformance"
