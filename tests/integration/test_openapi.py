"""The OpenAPI document the gateway serves: it validates, it covers every route the gateway
serves (a route added without a spec entry fails here), and a property-based tester that reads
it (schemathesis) finds no undocumented 5xx, no response off its schema and no crash, against a
live gateway (the ASan build when there is one) on a dev server of its own."""

import json
import os
import re
import subprocess

import pytest
import yaml
from openapi_spec_validator import validate

from conftest import build_paths, start_gateway
from devserver import TOP, DevServer
from http_client import get


def document(gateway):
    response = get(f"{gateway.url}/openapi.json")
    assert response.status == 200 and response.headers["Content-Type"] == "application/json"
    return response.json


def test_the_document_validates_and_both_forms_agree(gateway):
    spec = document(gateway)
    validate(spec)
    assert spec["openapi"].startswith("3.1")
    as_yaml = get(f"{gateway.url}/openapi.yaml")
    assert as_yaml.headers["Content-Type"] == "application/yaml"
    assert yaml.safe_load(as_yaml.text) == spec


def shape(path):
    """A path with its parameters blanked and the /api/v1 alias folded in."""
    path = re.sub(r"{[^}]*}", "{}", path)
    return path[len("/api/v1"):] if path.startswith("/api/v1/") else path


def served_routes():
    """Every (verb, path) the gateway's route table (Temporal's routes and Portico's own) and its
    pages serve."""
    routes = set()
    generated = (TOP / "build/gen/routes.c").read_text()
    pages = (TOP / "gateway/pages.c").read_text()
    for verb, path in re.findall(r'{"(GET|POST|DELETE|PUT|PATCH)", "(/[^"]*)"', generated):
        routes.add((verb.lower(), shape(path)))
    fixed = re.findall(r'{"(/[^"]*)", serve_\w+, [01]}', pages)
    assert "/healthz" in fixed and "/metrics" in fixed  # the table this reads is where it was
    routes.update(("get", path) for path in fixed)
    routes.update({("post", "/codec/encode"), ("post", "/codec/decode"), ("post", "/webhooks/{}"),
                   ("post", "/callbacks/completion")})
    return routes


def test_every_served_route_is_in_the_document(gateway):
    spec = document(gateway)
    documented = {(verb, shape(path)) for path, item in spec["paths"].items() for verb in item}
    missing = sorted(served_routes() - documented)
    assert not missing, f"routes served without a spec entry: {missing}"
    for path, item in spec["paths"].items():
        for verb, operation in item.items():
            assert operation.get("operationId") and operation.get("responses"), (verb, path)


def sanitized_build():
    """The ASan build when the run has one (it also finds memory errors), else the plain one."""
    paths = build_paths("portico")
    return [param for param in paths if param.id == "asan"] or paths


@pytest.mark.parametrize("path", sanitized_build())
def test_schemathesis_finds_nothing(path, tmp_path):
    # Its own server: the run registers namespaces and updates them (schemathesis_hooks.py sends
    # the updates of default to the namespace "conformance").
    with DevServer(namespaces=("conformance",)) as server:
        gw = start_gateway(path, server.address)
        try:
            completed = subprocess.run(
                [str(TOP / ".venv/bin/schemathesis"), "--config-file", str(TOP / "tests/integration/schemathesis.toml"),
                 "run", f"{gw.url}/openapi.json", "--url", gw.url, "--checks",
                 "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
                 "--max-examples", "5", "--seed", "20261124", "--phases", "examples,coverage,fuzzing",
                 "--request-timeout", "30", "--no-color", "--report", "ndjson",
                 # Temporal 1.29 answers PatchSchedule on a missing schedule with Internal (500),
                 # through its own HTTP API as through Portico: not ours to change.
                 "--exclude-operation-id", "PatchSchedule",
                 # The event stream of a running workflow has no end for the run's client to read up
                 # to. test_events.py covers the route, and fuzz_sse its inputs.
                 "--exclude-operation-id", "StreamWorkflowEvents",
                 "--report-ndjson-path", str(tmp_path / "events.ndjson")],
                capture_output=True, text=True, timeout=600, cwd=tmp_path,  # its cache stays out of the tree
                env=dict(os.environ, SCHEMATHESIS_HOOKS=str(TOP / "tests/integration/schemathesis_hooks.py")))
        finally:
            status = gw.stop()
    output = completed.stdout + completed.stderr
    # Errors (a call that failed: a timeout, a reset connection) come before failures (a check).
    section = re.search(r"^=+ (ERRORS|FAILURES) =+$", output, re.MULTILINE)
    assert completed.returncode == 0, output[section.start():section.start() + 8000] if section else output[-8000:]
    generated = int(re.search(r"(\d+) generated", output).group(1))
    assert generated >= 300, output[-2000:]
    assert status == 0, gw.stderr
    assert "ERROR: AddressSanitizer" not in gw.stderr and "runtime error:" not in gw.stderr, gw.stderr[-6000:]


def test_the_docs_page_renders_the_operations(gateway, tmp_path):
    """/docs in headless Chromium: Redoc, served by the gateway itself, renders the document."""
    from test_web_ui import chromium
    page = get(f"{gateway.url}/docs")
    assert page.status == 200 and "redoc" in page.text
    dom = chromium(f"{gateway.url}/docs", "--dump-dom")
    assert "Start a workflow" in dom.stdout and "Deliver a webhook" in dom.stdout, dom.stderr[-2000:]
    assert "Describe namespace" in dom.stdout  # a generated operation too
    screenshot = tmp_path / "docs.png"
    chromium(f"{gateway.url}/docs", f"--screenshot={screenshot}")
    assert screenshot.stat().st_size > 10000
