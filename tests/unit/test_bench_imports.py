"""The benchmarks stand on the product and its test harness (``services.testing``), never on the
tests or on a private name: read every bench/*.py with ``ast``."""

from __future__ import annotations

import ast

from tests.conftest import ROOT

OURS = {"events", "services", "tui", "bench", "tests"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def offences(source: str) -> list[str]:
    """Imports of ``tests`` and private names of our packages in ``source``, one line each."""
    found: list[str] = []
    modules: set[str] = set()  # local names bound to our modules (or names taken from them)
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root == "tests":
                    found.append(f"{node.lineno}: import {alias.name}")
                elif root in OURS:
                    found += [f"{node.lineno}: import {alias.name}" for part in alias.name.split(".") if _private(part)]
                    modules.add(alias.asname or root)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            root = node.module.split(".")[0]
            if root == "tests":
                found.append(f"{node.lineno}: from {node.module} import ...")
            elif root in OURS:
                for alias in node.names:
                    if _private(alias.name) or any(_private(part) for part in node.module.split(".")):
                        found.append(f"{node.lineno}: from {node.module} import {alias.name}")
                    modules.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base: ast.expr = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in modules:
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_benchmark_imports_the_tests_or_a_private_name() -> None:
    files = sorted((ROOT / "bench").glob("*.py"))
    assert len(files) > 5, "the benchmarks are where they were"
    found = {str(path.relative_to(ROOT)): offences(path.read_text(encoding="utf-8")) for path in files}
    assert {path: lines for path, lines in found.items() if lines} == {}


def test_the_check_sees_each_kind_of_offence() -> None:
    source = "\n".join([
        "import tests.whisper",
        "from tests.coqui_models import build_tiny_vits",
        "from services.tts.render import _encode, to_aac",
        "from services.tts import render",
        "import services.tts.render as r",
        "render._encode(b'', 1)",
        "r._encode(b'', 1)",
        "from bench.common import _quietly",
        "self._ready()",  # a method of a class of its own: not an import
        "from services import __name__",
    ])
    assert offences(source) == [
        "1: import tests.whisper",
        "2: from tests.coqui_models import ...",
        "3: from services.tts.render import _encode",
        "8: from bench.common import _quietly",
        "6: render._encode",
        "7: r._encode",
    ]
