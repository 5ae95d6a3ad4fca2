"""The compose stack's contract: services, scaling, ports, credentials, and every file it mounts exists."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from events.roles import ROLES, SERVICE_ROLES, password_variable
from tests.conftest import ROOT


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


def test_services_roles_and_credentials() -> None:
    services = compose()["services"]
    assert set(services) == {"nats", "parse", "tts", "tts-gpu", "assemble", "check", "jaeger"}
    for role in SERVICE_ROLES:
        service = services[role]
        assert service["command"] == ["serve", role]
        env = service["environment"]
        assert env["AUDIOBOOK_NATS_USER"] == role, "each service connects as its own role"
        assert env["AUDIOBOOK_NATS_PASSWORD"].startswith(f"${{{password_variable(role)}:?"), "no default password"
        assert env["AUDIOBOOK_NATS_URL"] == "nats://nats:4222"
        assert env["AUDIOBOOK_OTLP_ENDPOINT"] == "http://jaeger:4318"
        assert service["depends_on"] == {"nats": {"condition": "service_healthy"}}
        assert service["healthcheck"]["test"] == ["CMD", "audiobook", "health", "--role", role]
        assert "container_name" not in service and "ports" not in service, "scalable: no fixed names or ports"
        assert ("AUDIOBOOK_COMMAND_KEY" in env) == (role in ("parse", "assemble")), \
            "the command key is the core's, never a worker's (tts, check)"
    assert "AUDIOBOOK_COMMAND_KEY" not in services["tts-gpu"]["environment"]
    nats_env = services["nats"]["environment"]
    assert {password_variable(role) for role in ROLES} == set(nats_env)
    assert all(value.endswith(":?set " + name + "}") for name, value in nats_env.items())


def test_cpu_and_gpu_workers_split_the_engines() -> None:
    services = compose()["services"]
    cpu, gpu = services["tts"], services["tts-gpu"]
    assert set(cpu["environment"]["AUDIOBOOK_ENGINES"].split(",")) == {"piper", "espeak", "test"}
    assert gpu["environment"]["AUDIOBOOK_ENGINES"] == "coqui" and gpu["environment"]["AUDIOBOOK_DEVICE"] == "cuda"
    assert gpu["environment"]["AUDIOBOOK_NATS_USER"] == "tts" and gpu["command"] == ["serve", "tts"]
    assert gpu["build"]["args"]["EXTRAS"] == "coqui" and gpu["profiles"] == ["gpu"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["count"] == 1 and device["capabilities"] == ["gpu"], "one GPU per replica: --scale tts-gpu=N"
    for name in ("parse", "tts", "tts-gpu"):  # parse picks voices from the same folder the workers load
        assert "./voices:/voices:ro" in services[name]["volumes"]
        assert services[name]["environment"]["AUDIOBOOK_VOICE_DIRS"] == "/voices"
    assert 'ARG EXTRAS=""' in (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_ports_are_published_on_loopback_only() -> None:
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)


def test_every_mounted_file_and_build_context_exists() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                if source in ("./books", "./voices"):
                    continue  # the user's books and voices folders, created by docker on first use
                assert (ROOT / source).exists(), (name, source)
        if "build" in service:
            context = service["build"]["context"] if isinstance(service["build"], dict) else service["build"]
            assert (ROOT / context / "Dockerfile").exists()
    mounted = {v.split(":")[0] for v in services["nats"]["volumes"]}
    assert {"./nats/server.conf", "./nats/roles.conf"} <= mounted, "the nats config the security tests check"
    assert 'include "roles.conf"' in (ROOT / "nats" / "server.conf").read_text(encoding="utf-8")


def test_the_image_holds_what_the_services_import() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    for folder in ("events", "services", "tui"):
        assert f"COPY {folder} ./{folder}" in dockerfile


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed")
def test_docker_compose_validates_the_file(tmp_path: Path) -> None:
    env = dict(os.environ, AUDIOBOOK_COMMAND_KEY="k", **{password_variable(role): "x" for role in ROLES})
    result = subprocess.run(["docker-compose", "-f", str(ROOT / "compose.yaml"), "config", "-q"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    missing = subprocess.run(["docker-compose", "-f", str(ROOT / "compose.yaml"), "config", "-q"], cwd=ROOT,
                             env={k: v for k, v in env.items() if k != "NATS_TTS_PASSWORD"}, capture_output=True,
                             text=True, timeout=60)
    assert missing.returncode != 0 and "NATS_TTS_PASSWORD" in missing.stderr, "a missing password stops compose"
    no_key = subprocess.run(["docker-compose", "-f", str(ROOT / "compose.yaml"), "config", "-q"], cwd=ROOT,
                            env={k: v for k, v in env.items() if k != "AUDIOBOOK_COMMAND_KEY"}, capture_output=True,
                            text=True, timeout=60)
    assert no_key.returncode != 0 and "AUDIOBOOK_COMMAND_KEY" in no_key.stderr, "the core's command key is required"
