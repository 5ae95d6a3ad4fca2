"""docs/architecture.md maps every module: a new module without its line fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("events", "services", "tui")


def mapped_modules() -> set[str]:
    """The module paths the map's code block names, from its indentation (two spaces a level)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = text.split("```", 2)[1]
    folders: list[str] = []
    found: set[str] = set()
    for line in block.splitlines():
        entry = re.match(r"^( *)(\S+)", line)
        if not entry or not re.match(r"[\w./,]+$", entry.group(2).rstrip(",")):
            continue
        depth, name = len(entry.group(1)) // 2, entry.group(2).rstrip(",")
        if len(entry.group(1)) % 2 or depth > len(folders):
            continue  # a continuation line of the description before
        del folders[depth:]
        if name.endswith("/"):
            folders.append(name.rstrip("/"))
        elif name.endswith(".py"):
            found.add("/".join([*folders, name]))
    return found


def modules() -> set[str]:
    return {str(path.relative_to(ROOT)) for package in PACKAGES for path in (ROOT / package).rglob("*.py")
            if path.name not in ("__init__.py", "__main__.py")}


def test_every_module_is_on_the_map() -> None:
    assert modules() - mapped_modules() == set()


def test_the_map_names_no_module_that_is_gone() -> None:
    assert mapped_modules() - modules() == set()
