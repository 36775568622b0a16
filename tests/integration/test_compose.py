"""docker/docker-compose.yml, checked without a Docker engine: Debian's docker-compose validates
it, and its Portico services are started on the host exactly as Compose would start them (the
entrypoint and ENV of their Dockerfile stage, the Compose command, environment and mounted
files), with a dev server standing in for the `temporal` service. Service names become
127.0.0.1 with a free port per (service, port); everything else is taken as written. A saga and
a signed push then go through, and the images' health checks pass against the programs."""

import base64
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import LoggedProcess
from deployment_checks import (check_completion_webhook, check_compensated_flow, check_compensated_saga,
                               check_signed_push)
from devserver import TOP, DevServer, free_port

DOCKER = TOP / "docker"
PORTICO_SERVICES = ("portico-gateway", "portico-worker", "portico-examples")
CALLBACK_SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
RECEIVER_PORT = free_port()  # where the composed gateway may send completion webhooks


def compose(env_file, *args):
    return subprocess.run(["docker-compose", "--env-file", str(env_file), "-f", str(DOCKER / "docker-compose.yml"),
                           *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def env_file(tmp_path_factory):
    """A filled-in docker/.env, as an operator would write it from .env.example."""
    values = {"POSTGRES_PASSWORD": uuid.uuid4().hex, "GITHUB_WEBHOOK_SECRET": uuid.uuid4().hex,
              "PORTICO_CODEC_KEYS": "compose-test=" + base64.b64encode(os.urandom(32)).decode(),
              "PORTICO_CALLBACK_SECRET": CALLBACK_SECRET, "PORTICO_CALLBACK_ALLOWED_URLS": f"http://127.0.0.1:{RECEIVER_PORT}/"}
    lines = []
    for line in (DOCKER / ".env.example").read_text().splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={values[name]}" if name in values and not line.startswith("#") else line)
    path = tmp_path_factory.mktemp("compose") / ".env"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def config(env_file):
    result = compose(env_file, "config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_the_compose_file_validates(config):
    assert set(PORTICO_SERVICES) | {"temporal", "temporal-ui", "postgresql"} <= set(config["services"])
    assert "temporal-data" in config["volumes"]  # Temporal's database outlives its containers


def test_env_example_names_every_required_variable_and_leaves_secrets_empty():
    required = set(re.findall(r"\$\{(\w+):\?", (DOCKER / "docker-compose.yml").read_text()))
    example = dict(line.split("=", 1) for line in (DOCKER / ".env.example").read_text().splitlines()
                   if "=" in line and not line.startswith("#"))
    assert required <= set(example), required - set(example)
    assert all(not example[name] for name in ("POSTGRES_PASSWORD", "PORTICO_CODEC_KEYS", "GITHUB_WEBHOOK_SECRET",
                                              "PORTICO_CALLBACK_SECRET"))
    refused = compose(DOCKER / ".env.example", "config")
    assert refused.returncode != 0 and "set POSTGRES_PASSWORD in docker/.env" in refused.stderr, refused.stderr


def test_the_ui_decrypts_through_the_published_gateway(config):
    ui, gateway = config["services"]["temporal-ui"], config["services"]["portico-gateway"]
    published = {str(p["published"]) if isinstance(p, dict) else p.split(":")[-2]: p for p in gateway["ports"]}
    codec = ui["environment"]["TEMPORAL_CODEC_ENDPOINT"]
    assert re.fullmatch(r"http://127\.0\.0\.1:(\d+)/codec", codec) and codec.split(":")[2].split("/")[0] in published
    ui_port = str(next(p["published"] if isinstance(p, dict) else p.split(":")[-2] for p in ui["ports"]))
    assert f"http://127.0.0.1:{ui_port}" in gateway["environment"]["PORTICO_CODEC_CORS_ORIGINS"].split(",")


# ---- The services on the host -------------------------------------------------------------------

def dockerfile_stages():
    """Per stage of docker/Dockerfile: its base stage, ENV, ENTRYPOINT, HEALTHCHECK command, and
    the files it copies (image path -> path in the repository, build outputs included)."""
    stages, current = {}, None
    for line in (DOCKER / "Dockerfile").read_text().splitlines():
        words = line.split()
        if not words or line.startswith((" ", "\t", "#")):
            continue
        if words[0] == "FROM":
            base = stages.get(words[1], {})
            current = stages.setdefault(words[3], {"env": dict(base.get("env", {})),
                                                   "files": dict(base.get("files", {})), "entrypoint": None})
        elif words[0] == "ENV":
            name, value = words[1].split("=", 1)
            current["env"][name] = value
        elif words[0] == "ENTRYPOINT":
            current["entrypoint"] = json.loads(line.split(None, 1)[1])
        elif words[0] == "HEALTHCHECK":
            current["healthcheck"] = json.loads(line.split("CMD", 1)[1])
        elif words[0] == "COPY":
            source, target = words[-2], words[-1]
            current["files"][target] = TOP / source.removeprefix("/src/")
    return stages


class HostNetwork:
    """Compose's network on the host: each (service, port) gets a free port on 127.0.0.1."""

    def __init__(self, services, temporal_port):
        self.ports = {("temporal", "7233"): str(temporal_port)}
        self.services = services

    def port(self, service, port):
        if (service, port) not in self.ports:
            self.ports[(service, port)] = str(free_port())
        return self.ports[(service, port)]

    def rewrite(self, service, value):
        value = re.sub(r"^0\.0\.0\.0:(\d+)$", lambda m: "127.0.0.1:" + self.port(service, m.group(1)), value)
        names = "|".join(map(re.escape, self.services))
        return re.sub(rf"(?<![\w.-])({names}):(\d+)", lambda m: "127.0.0.1:" + self.port(m.group(1), m.group(2)),
                      value)


def host_path(files, path):
    """Where a file of the image is in the repository or the build; a bare command name is
    looked up where the images install programs."""
    if "/" not in path and f"/usr/local/bin/{path}" in files:
        path = f"/usr/local/bin/{path}"
    if path == "/opt/venv/bin/python":  # the examples stage's virtual environment
        return sys.executable
    for image_path, source in sorted(files.items(), key=lambda item: -len(item[0])):
        if path == image_path:
            return str(source)
        if image_path.endswith("/") and path.startswith(image_path):
            return str(source / path[len(image_path):])
    return path


class Service:
    def __init__(self, name, spec, stage, network, volumes):
        files = dict(stage["files"])
        files.update(volumes)
        self.env = {k: network.rewrite(name, host_path(files, str(v)))
                    for k, v in {**stage["env"], **spec.get("environment", {})}.items()}
        entry = [host_path(files, word) for word in stage["entrypoint"]]
        self.command = entry + [host_path(files, word) for word in spec.get("command", [])]
        # The image's check: its script, on the service's own port as mapped here, and its path.
        script, port, path = stage.get("healthcheck", [None, None, None])
        self.healthcheck = [host_path(files, script), network.port(name, port), path] if script else None
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("PORTICO_", "TEMPORAL_", "GITHUB_"))}
        self.program = LoggedProcess(self.command, {**clean, **self.env}, prefix=f"compose-{name}-")
        self.output, self.stop = self.program.output, self.program.stop

    def healthy(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.program.process.poll() is None, self.output()
            if subprocess.run(self.healthcheck, capture_output=True, timeout=10).returncode == 0:
                return True
            time.sleep(0.2)
        return False


@pytest.fixture(scope="module")
def deployment(config):
    stages = dockerfile_stages()
    with DevServer() as server:
        network = HostNetwork(config["services"], server.port)
        running = {}
        try:
            for name in PORTICO_SERVICES:
                spec = config["services"][name]
                volumes = {}
                for volume in spec.get("volumes", []):
                    source, target = volume.split(":")[:2] if isinstance(volume, str) else (volume["source"],
                                                                                           volume["target"])
                    volumes[target] = Path(source)
                running[name] = Service(name, spec, stages[spec["build"]["target"]], network, volumes)
            yield type("Deployment", (), {"services": running, "network": network, "config": config})
        finally:
            for name, service in running.items():
                assert service.stop() == 0, f"{name}: {service.output()}"


def test_the_images_health_checks_pass(deployment):
    for name in ("portico-gateway", "portico-worker"):
        assert deployment.services[name].healthy(), f"{name}: {deployment.services[name].output()}"


def gateway_url(deployment):
    return f"http://127.0.0.1:{deployment.network.port('portico-gateway', '8080')}"


def test_a_saga_runs_through_the_composed_services(deployment):
    assert deployment.services["portico-gateway"].healthy()
    check_compensated_saga(gateway_url(deployment))


def test_a_signed_push_reaches_the_gateway_from_the_pipeline(deployment, env_file):
    """The pipeline calls the gateway at PORTICO_URL (http://portico-gateway:8080): the name and port
    the Compose file gives the example worker reach the gateway."""
    secret = dict(line.split("=", 1) for line in env_file.read_text().splitlines()
                  if "=" in line and not line.startswith("#"))["GITHUB_WEBHOOK_SECRET"]
    check_signed_push(gateway_url(deployment), secret, "acme/compose")



def test_the_saga_flow_compensates_through_the_mounted_flows(deployment):
    """examples/flows, mounted in the gateway and the worker, as the Compose file says."""
    check_compensated_flow(gateway_url(deployment))

def test_a_sagas_outcome_comes_back_as_a_signed_completion_webhook(deployment):
    """Temporal calls the composed gateway back at PORTICO_CALLBACK_URL, and it delivers."""
    check_completion_webhook(gateway_url(deployment), CALLBACK_SECRET, RECEIVER_PORT)
