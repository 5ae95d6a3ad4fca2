"""The screenshots in docs/dashboard.md, from a real conversion: Alice with the real Piper voice
and two tts workers, the dashboard watching it; the SVGs are written by the app itself.

    .venv/bin/python -m bench.dashboard_screens [SECONDS_IN] [OUT_DIR]
"""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import nats

from bench.common import BOOKS, Stack, temp_folder
from tui.app import Dashboard


async def shoot(url: str, seconds: float, out: Path) -> None:
    app = Dashboard(lambda: nats.connect(url), tick=1.0)
    async with app.run_test(size=(110, 32)) as pilot:
        await pilot.pause(seconds)
        for key, name in (("1", "jobs"), ("2", "workers"), ("3", "queue")):
            await pilot.press(key)
            await pilot.pause(0.5)
            app.save_screenshot(str(out / f"dashboard-{name}.svg"))
            print(f"wrote {out / f'dashboard-{name}.svg'}")


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 40.0
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).resolve().parent.parent / "docs"
    with Stack(temp_folder("screens"), workers=2, threads=1) as stack:
        converting = threading.Thread(
            target=lambda: stack.convert(BOOKS / "epub" / "alice_epub3-nav-only_epubjs.epub", engine="piper"),
            daemon=True)
        converting.start()
        asyncio.run(shoot(stack.url, seconds, out))


if __name__ == "__main__":
    main()
