"""The embedded server's storage: room for what an older store already reserves (services.app.stack)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from events.roles import ROLES
from services.app.stack import DEFAULT_STORE_SHARE, reserved_bytes, server_config, store_limit

CREDENTIALS = {role: "x" for role in ROLES}


def saved_stream(store: Path, name: str, max_bytes: int, storage: str = "file") -> None:
    folder = store / "jetstream" / "$G" / "streams" / name
    folder.mkdir(parents=True)
    (folder / "meta.inf").write_text(json.dumps({"name": name, "max_bytes": max_bytes, "storage": storage}))


def test_a_new_store_gets_the_server_s_default(tmp_path: Path) -> None:
    assert reserved_bytes(tmp_path) == 0 and store_limit(tmp_path) == 0
    config = server_config(tmp_path, CREDENTIALS).read_text()  # written out: a server can then reload its users
    written = int(config.split("max_file_store: ")[1].split()[0])
    assert abs(written - int(DEFAULT_STORE_SHARE * shutil.disk_usage(tmp_path).free)) < 2**24
    assert "max_memory_store: " in config


def test_a_store_reserving_more_than_the_disk_has_now_gets_room_for_new_streams(tmp_path: Path) -> None:
    default = int(DEFAULT_STORE_SHARE * shutil.disk_usage(tmp_path).free)
    saved_stream(tmp_path, "OBJ_audiobook", 2 * default)  # fitted when the disk had more room
    saved_stream(tmp_path, "EVENTS", 2**30)
    saved_stream(tmp_path, "EXHAUSTED", 2**24, storage="memory")  # memory: not from the disk
    (tmp_path / "jetstream" / "$G" / "streams" / "BROKEN").mkdir()
    (tmp_path / "jetstream" / "$G" / "streams" / "BROKEN" / "meta.inf").write_text("not json")
    assert reserved_bytes(tmp_path) == 2 * default + 2**30
    assert abs(store_limit(tmp_path) - (2 * default + 2**30 + default // 2)) < 2**20  # (the disk moves a little)
    written = int(server_config(tmp_path, CREDENTIALS).read_text().split("max_file_store: ")[1].split()[0])
    assert abs(written - store_limit(tmp_path)) < 2**24
