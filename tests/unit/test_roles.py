"""The role table: the compose stack's nats/roles.conf is generated from it, and nats-server accepts both configs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from events.roles import PUBLISH, ROLES, compose_roles_conf, password_variable
from services.app.stack import nats_server_binary, server_config
from tests.conftest import ROOT


def test_the_compose_roles_file_is_the_generated_one() -> None:
    assert (ROOT / "nats" / "roles.conf").read_text(encoding="utf-8") == compose_roles_conf(), (
        "regenerate: python -c \"from events.roles import compose_roles_conf; "
        "open('nats/roles.conf','w').write(compose_roles_conf())\"")


def test_nats_server_accepts_the_compose_and_embedded_configs(tmp_path: Path) -> None:
    env = dict(os.environ, **{password_variable(role): f"pw-{role}" for role in ROLES})
    compose = subprocess.run([nats_server_binary(), "-c", str(ROOT / "nats" / "server.conf"), "-t"], env=env,
                             capture_output=True, text=True, timeout=30)
    assert compose.returncode == 0, compose.stderr
    embedded = server_config(tmp_path / "store", {role: f"pw-{role}" for role in ROLES})
    assert oct(embedded.stat().st_mode & 0o777) == "0o600"
    check = subprocess.run([nats_server_binary(), "-c", str(embedded), "-t"], capture_output=True, text=True,
                           timeout=30)
    assert check.returncode == 0, check.stderr


def test_only_the_owner_of_a_fact_may_publish_it() -> None:
    owners = {"job.accepted": "parse", "book.parsed": "parse", "segment.synthesized": "tts",
              "job.completed": "assemble", "job.failed": "assemble"}
    for kind, owner in owners.items():
        for role in ("client", "parse", "tts", "assemble"):
            allowed = f"events.*.{kind}" in PUBLISH[role]
            assert allowed == (role == owner), (kind, role)
    assert "synth.>" in PUBLISH["parse"] and not any(s.startswith("synth") for s in PUBLISH["client"] + PUBLISH["tts"])
    assert not any(s.startswith("$O.audiobook") for s in PUBLISH["client"]), "clients write only the uploads bucket"
    assert not any(s.startswith("$JS.ACK") for s in PUBLISH["client"]), "clients ack no one's work"
