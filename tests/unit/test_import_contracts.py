"""The purity contract names packages: every parse module is covered, a new one with no edit.

The contracts live in pyproject.toml (``[tool.importlinter]``). These tests read them, and run
the real ``lint-imports`` on a copy of the code with one throwaway module added.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NATS_CONTRACT = "Only the bus kit and the stage adapters talk to NATS; the pure decisions never do"
ADAPTERS_CONTRACT = "Parse's NATS adapters are imported by no pure module (so none reaches NATS through them)"
FACE_CONTRACT = "The readers have one face: services.parse.formats"
PARSE_ADAPTERS = {"services.parse.service", "services.parse.source", "services.parse.speaker",
                  "services.parse.release"}


def _contract(name: str) -> dict[str, Any]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    [contract] = [c for c in config["tool"]["importlinter"]["contracts"] if c["name"] == name]
    return contract


def _modules(package: str) -> list[str]:
    """Every module under a package, as a dotted name, found on disk (a new file counts at once)."""
    folder = ROOT.joinpath(*package.split("."))
    names = []
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _covered(module: str, sources: list[str]) -> bool:
    return any(module == source or module.startswith(source + ".") for source in sources)


def test_every_parse_module_is_covered_by_the_nats_contract() -> None:
    contract = _contract(NATS_CONTRACT)
    modules = _modules("services.parse")
    assert "services.parse.readers.epub" in modules and "services.parse.plan" in modules
    uncovered = [m for m in modules if not _covered(m, contract["source_modules"])]
    assert uncovered == []


def test_the_only_parse_modules_allowed_nats_are_its_adapters() -> None:
    contract = _contract(NATS_CONTRACT)
    importers = {line.split(" -> ")[0] for line in contract["ignore_imports"]}
    assert {i for i in importers if i.startswith("services.parse")} == PARSE_ADAPTERS
    assert set(_contract(ADAPTERS_CONTRACT)["protected_modules"]) == PARSE_ADAPTERS


def _copy_of_the_code(folder: Path) -> Path:
    for package in ("events", "services", "tui"):
        shutil.copytree(ROOT / package, folder / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", folder / "pyproject.toml")
    return folder


def _lint_imports(folder: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(folder)}
    command = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
               "sys.exit(lint_imports_command())", "--no-cache"]
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def test_lint_imports_keeps_the_code_as_it_is(tmp_path: Path) -> None:
    result = _lint_imports(_copy_of_the_code(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "source", "contract", "caught"), [
    ("services/parse/readers/rogue.py", "import nats\n", NATS_CONTRACT,
     "services.parse.readers.rogue -> nats"),
    ("services/parse/readers/rogue.py", "from services.bus import uploads\n", NATS_CONTRACT,
     "services.parse.readers.rogue -> services.bus.uploads"),
    ("services/parse/rogue.py", "from services.parse.source import human_size\n", ADAPTERS_CONTRACT,
     "services.parse.rogue -> services.parse.source"),
    ("services/parse/rogue.py", "from services.parse.readers.epub import read_epub\n", FACE_CONTRACT,
     "services.parse.rogue -> services.parse.readers.epub"),
], ids=["reader-imports-nats", "reader-imports-bus-kit", "pure-module-imports-adapter", "reader-past-formats"])
def test_lint_imports_catches_a_new_module_no_one_listed(
    tmp_path: Path, module: str, source: str, contract: str, caught: str,
) -> None:
    folder = _copy_of_the_code(tmp_path)
    (folder / module).write_text(source)
    result = _lint_imports(folder)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in " ".join(broken.split())
    assert caught in broken
