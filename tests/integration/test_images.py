"""Portico's images run for real: `scripts/images.sh` (make images) builds them with podman, and the
gateway, worker and example-worker services of docker/docker-compose.yml start as containers of
those images with the Compose file's command, environment, volumes and restart policy, and the
images' own health checks, as `docker-compose config` gives them.

They are started with `podman run` from the parsed file, not with podman-compose: Debian's
podman-compose (1.0.3) puts every container on the project's network as well, and podman refuses
host networking beside another network ("cannot set multiple networks without bridge network
mode"). Host networking stands in for Compose's network: every service name resolves to 127.0.0.1
(--add-host), and the `temporal` service, whose image (like PostgreSQL's and the UI's) cannot be
had here, is a dev server on that loopback with the Compose file's dynamic config. All of it runs
in a network namespace of this module's own, so the Compose file's fixed ports (7233, 8080, 9464)
collide with nothing else on the machine.

Podman runs health checks from systemd timers, and there is no systemd here: the module runs
`podman healthcheck run`, which records the result podman reports."""

import base64
import ctypes
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid

import pytest
import yaml

from deployment_checks import (check_completion_webhook, check_compensated_flow, check_compensated_saga,
                               check_signed_push)
from devserver import TOP, DevServer, free_port
from http_client import get, post

DOCKER = TOP / "docker"
SERVICES = ("portico-gateway", "portico-worker", "portico-examples")
NAME = f"portico-images-{os.getpid()}"  # the network namespace's, and the containers' prefix
ENV = dict(os.environ, CONTAINERS_CONF=os.environ.get("CONTAINERS_CONF", str(DOCKER / "podman/containers.conf")))
CALLBACK_SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
RECEIVER_PORT = free_port()  # where the gateway may send completion webhooks


def why_not():
    """Why the images cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root: rootful podman, debootstrap for the base image and a network namespace"
    if shutil.which("podman") is None:
        return "podman is not installed (scripts/setup.sh installs it, with runc and debootstrap, from Debian)"
    return None


pytestmark = pytest.mark.skipif(why_not() is not None, reason=why_not() or "")


def podman(*args, timeout=120):
    return subprocess.run(["podman", *args], env=ENV, capture_output=True, text=True, timeout=timeout)


def container(service):
    return f"{NAME}-{service}"


class NetworkNamespace:
    """A network namespace with only a loopback. enter() moves the calling thread into it, so
    that what it starts (podman, whose host network is this one) and connects to is there;
    processes started through `wrap` also see `hosts` as /etc/hosts (`ip netns exec`)."""

    CLONE_NEWNET = 0x40000000

    def __init__(self, name, hosts):
        self.name, self._home = name, None
        self._libc = ctypes.CDLL(None, use_errno=True)
        created = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
        if created.returncode != 0:
            pytest.skip(f"cannot make a network namespace: {created.stderr.strip()}")
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        os.makedirs(f"/etc/netns/{name}", exist_ok=True)
        with open(f"/etc/netns/{name}/hosts", "w") as f:
            f.write("".join(f"127.0.0.1 {host}\n" for host in ["localhost", *hosts]))

    def _setns(self, fd):
        if self._libc.setns(fd, self.CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")

    def enter(self):
        self._home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            self._setns(fd)
        finally:
            os.close(fd)

    def wrap(self, program, directory):
        """A script that runs program in the namespace with its hosts file."""
        script = os.path.join(directory, os.path.basename(program))
        with open(script, "w") as f:
            f.write(f'#!/bin/sh\nexec ip netns exec {self.name} {program} "$@"\n')
        os.chmod(script, 0o755)
        return script

    def close(self):
        if self._home is not None:
            self._setns(self._home)
            os.close(self._home)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        shutil.rmtree(f"/etc/netns/{self.name}", ignore_errors=True)


@pytest.fixture(scope="module")
def images():
    """Builds the images, tagged for this run alone, so that a build from another checkout cannot
    replace them meanwhile (podman's layer cache makes that seconds when nothing changed)."""
    built = subprocess.run([str(TOP / "scripts/images.sh")], env=dict(ENV, PORTICO_IMAGES_TAG=NAME),
                           capture_output=True, text=True, timeout=1800)
    assert built.returncode == 0, built.stdout + built.stderr
    yield built.stdout
    for target in ("gateway", "worker", "examples"):
        podman("untag", f"localhost/portico-{target}:{NAME}", f"localhost/portico-{target}:{NAME}")


@pytest.fixture(scope="module")
def env_file(tmp_path_factory):
    """A filled-in docker/.env, as an operator would write it from .env.example."""
    values = {"POSTGRES_PASSWORD": uuid.uuid4().hex, "GITHUB_WEBHOOK_SECRET": uuid.uuid4().hex,
              "PORTICO_CODEC_KEYS": "images-test=" + base64.b64encode(os.urandom(32)).decode(),
              "PORTICO_CALLBACK_SECRET": CALLBACK_SECRET,
              "PORTICO_CALLBACK_ALLOWED_URLS": f"http://127.0.0.1:{RECEIVER_PORT}/"}
    lines = [f"{line.split('=', 1)[0]}={values[line.split('=', 1)[0]]}"
             if line.split("=", 1)[0] in values and not line.startswith("#") else line
             for line in (DOCKER / ".env.example").read_text().splitlines()]
    path = tmp_path_factory.mktemp("images") / ".env"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def config(env_file):
    result = subprocess.run(["docker-compose", "--env-file", str(env_file), "-f", str(DOCKER / "docker-compose.yml"),
                             "config"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def run_arguments(service, spec, names):
    """`podman run` for a Compose service, with host networking and service names on loopback."""
    args = ["run", "-d", "--name", container(service), "--network", "host"]
    args += [f"--add-host={name}:127.0.0.1" for name in names]
    args += [f"--env={key}={value}" for key, value in spec.get("environment", {}).items()]
    for volume in spec.get("volumes", []):
        args += ["--volume", volume if isinstance(volume, str) else
                 f"{volume['source']}:{volume['target']}" + (":ro" if volume.get("read_only") else "")]
    if "restart" in spec:
        args += ["--restart", spec["restart"]]
    return args + [f"localhost/portico-{spec['build']['target']}:{NAME}", *spec.get("command", [])]


@pytest.fixture(scope="module")
def deployment(images, config):
    dynamic = yaml.safe_load((DOCKER / "dynamicconfig/portico.yaml").read_text())
    namespace = NetworkNamespace(NAME, config["services"])
    try:
        namespace.enter()
        with tempfile.TemporaryDirectory() as scripts:
            temporal = namespace.wrap(os.environ.get("TEMPORAL_CLI") or str(TOP / ".tools/bin/temporal"), scripts)
            with DevServer(temporal_cli=temporal, port=7233, dynamic_config={
                    key: json.dumps(value[0]["value"]) for key, value in dynamic.items()}) as server:
                try:
                    for service in SERVICES:
                        started = podman(*run_arguments(service, config["services"][service], config["services"]))
                        assert started.returncode == 0, started.stderr
                    yield server
                finally:
                    for service in SERVICES:
                        podman("rm", "-f", "-t", "0", container(service))
    finally:
        namespace.close()


def logs(service):
    output = podman("logs", container(service))
    return output.stdout + output.stderr


def state(service, field):
    return podman("inspect", "--format", "{{" + field + "}}", container(service)).stdout.strip()


def healthy(service, timeout=90):
    """Runs the image's health check until it passes; podman's recorded status, at the end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert state(service, ".State.Status") == "running", logs(service)
        if podman("healthcheck", "run", container(service)).returncode == 0:
            break
        time.sleep(1)
    return state(service, ".State.Health.Status")


GATEWAY = "http://127.0.0.1:8080"  # the gateway's port in its own network namespace


def test_the_health_checks_report_healthy(deployment):
    for service in ("portico-gateway", "portico-worker"):
        assert healthy(service) == "healthy", logs(service)


def test_every_process_runs_as_the_non_root_user(deployment):
    for service in SERVICES:
        top = podman("top", container(service), "user", "args")
        users = {line.split()[0] for line in top.stdout.splitlines()[1:]}
        assert users == {"portico"}, top.stdout + top.stderr
        assert podman("exec", container(service), "id", "-u").stdout.strip() == "10001"


def test_a_compensated_saga_runs_through_the_containers(deployment):
    assert healthy("portico-gateway") == "healthy"
    check_compensated_saga(GATEWAY, lambda: logs("portico-examples") + logs("portico-worker"))


def test_a_signed_push_runs_the_pipeline_which_calls_the_gateway_by_its_service_name(deployment, env_file):
    secret = dict(line.split("=", 1) for line in env_file.read_text().splitlines()
                  if "=" in line and not line.startswith("#"))["GITHUB_WEBHOOK_SECRET"]
    check_signed_push(GATEWAY, secret, "acme/images")



def test_the_saga_flow_compensates_through_the_mounted_flows(deployment):
    """examples/flows, mounted in the gateway and the worker, as the Compose file says."""
    check_compensated_flow(GATEWAY, lambda: logs("portico-worker"))

def test_a_sagas_outcome_comes_back_as_a_signed_completion_webhook(deployment):
    """Temporal calls the gateway back at PORTICO_CALLBACK_URL (its service name, allowed by the
    Compose file's dynamic config), and the gateway delivers, signed."""
    check_completion_webhook(GATEWAY, CALLBACK_SECRET, RECEIVER_PORT, lambda: logs("portico-gateway"))


def test_sigterm_drains_each_container_as_on_the_host(deployment):
    """`podman stop` (SIGTERM, as `docker compose stop` sends it) while a result wait is in flight:
    the gateway finishes it before exiting 0; the workers stop gracefully too, none killed."""
    workflow_id = f"approval-{uuid.uuid4().hex[:8]}"
    started = post(f"{GATEWAY}/api/v1/namespaces/default/workflows/{workflow_id}",
                   {"workflowType": "Approval", "taskQueue": "portico-examples",
                    "args": [{"title": "drain", "timeoutSeconds": 3}]})
    assert started.status == 200, started
    answer = {}
    waiter = threading.Thread(target=lambda: answer.update(response=get(
        f"{GATEWAY}/api/v1/namespaces/default/workflows/{workflow_id}/result?timeout=60s")))
    waiter.start()
    time.sleep(1)  # the wait is in flight; the approval expires 2 s later
    stopped = podman("stop", "-t", "30", container("portico-gateway"))
    waiter.join(timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert answer["response"].status == 200, answer["response"]
    assert answer["response"].json["result"][0]["status"] == "expired", answer["response"]
    assert state("portico-gateway", ".State.ExitCode") == "0", logs("portico-gateway")
    assert "no new connections; finishing 1 request(s)" in logs("portico-gateway")
    assert podman("stop", "-t", "30", container("portico-worker")).returncode == 0
    assert state("portico-worker", ".State.ExitCode") == "0", logs("portico-worker")
    assert "finishing activities in flight" in logs("portico-worker")
    assert podman("stop", "-t", "30", container("portico-examples")).returncode == 0
    assert state("portico-examples", ".State.ExitCode") == "0", logs("portico-examples")
