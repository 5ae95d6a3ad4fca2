"""EPUBCheck (the W3C's EPUB validator) for tests: does a read-along EPUB conform?

Debian's ``epubcheck`` package (Java) installs the validator as a jar; ``scripts/setup test`` installs
it where it may (root with apt). It is run as ``java -jar``: the package's ``/usr/bin/epubcheck`` is
the jar itself, which only runs where the kernel is set up to start jars.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

JARS = (Path("/usr/share/java/epubcheck.jar"),)
REQUIRED = "AUDIOBOOK_REQUIRE_EPUBCHECK"  # set (CI): a missing validator fails the tests, not skips them


def epubcheck_command() -> list[str] | None:
    """How to run EPUBCheck here, or None when it is not installed."""
    java = shutil.which("java")
    program = shutil.which("epubcheck")
    jars = [Path(program).resolve()] if program else []
    jar = next((path for path in [*jars, *JARS] if path.suffix == ".jar" and path.is_file()), None)
    # (4.2.6 checks a media overlay's reading order by recursion, a level per sentence: a book of
    # thousands of sentences overflows Java's default thread stack)
    return [java, "-Xss512m", "-jar", str(jar)] if java and jar else None


def epubcheck_required() -> bool:
    return os.environ.get(REQUIRED, "") not in ("", "0")


def epubcheck(path: Path, timeout: float = 300.0) -> tuple[bool, str]:
    """Whether EPUBCheck finds no error in the EPUB at ``path`` (warnings count as errors), and what it said."""
    command = epubcheck_command()
    if command is None:
        raise FileNotFoundError("EPUBCheck is not installed (Debian: apt-get install epubcheck)")
    done = subprocess.run([*command, "--failonwarnings", str(path)], capture_output=True, text=True,
                          timeout=timeout)
    return done.returncode == 0, (done.stdout + done.stderr)[-4000:]
