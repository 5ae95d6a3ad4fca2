"""`audiobook user add|remove|list`: named users of the embedded stack or of the compose stack.

The registry (services.app.users) is the data directory's for the embedded stack, or the folder
given with ``--compose`` (the compose stack's ``nats/``: its ``roles.conf`` is written again with
the users). A user's own object store is made by the operator: at once when a server is reachable
as admin (the embedded ``convert`` running here, or ``--nats-url`` with the admin credentials in
the environment), else at the embedded stack's next start or by running the command again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from dataclasses import replace
from pathlib import Path

from events import names
from services.app.stack import RUNNING, private_dir, reload_server, running_stack, stack_credentials, write_users
from services.app.users import add_user, load_users, remove_user, write_compose_roles
from services.bus.connect import connect_client
from services.bus.topology import user_store
from services.settings import Settings

log = logging.getLogger(__name__)


def user(args: argparse.Namespace, settings: Settings) -> int:
    """Add, remove or list named users; print what a new user needs to connect."""
    folder: Path = args.compose if args.compose else private_dir(settings.data_dir)
    if args.user_command == "list":
        for name in load_users(folder):
            print(name)
        return 0
    if args.user_command == "remove":
        remove_user(folder, args.name)
        print(f"removed {args.name!r}: {_apply(folder, args, settings, None)}")
        print(f"their object store {names.user_bucket(args.name)!r} (uploads and books) is kept; their running "
              "jobs finish")
        return 0
    password = add_user(folder, args.name)
    made = _apply(folder, args, settings, args.name)
    if password is None:
        print(f"{args.name!r} is already a user (their password stands): {made}")
        return 0
    print(f"added {args.name!r}: {made}")
    print(f"password (shown once): {password}")
    print("they connect as themselves, e.g.\n"
          f"  AUDIOBOOK_NATS_USER={args.name} AUDIOBOOK_NATS_PASSWORD=... audiobook convert BOOK --nats-url URL\n"
          f"  nats --user {args.name} --password ... pub {names.request_subject(args.name)} '{{...}}'")
    return 0


def _apply(folder: Path, args: argparse.Namespace, settings: Settings, added: str | None) -> str:
    """Tell the server (when one is reachable) and make a new user's store; what was done, in words."""
    said = []
    if args.compose:
        write_compose_roles(folder)
        said.append(f"{folder / 'roles.conf'} written; reload the server: docker compose kill -s HUP nats")
    else:
        running = _running_server(settings)
        if running is not None:
            write_users(settings.data_dir / "nats", stack_credentials(settings.data_dir), load_users(folder))
            reload_server(running)
            said.append("the running embedded server reloaded its users")
        else:
            said.append("the embedded stack takes it at its next start")
    if added is not None:
        said.append(_make_store(args, settings, added))
    return "; ".join(said)


def _running_server(settings: Settings) -> int | None:
    """The pid of the nats-server of an embedded ``convert`` running in this data directory, or None."""
    if running_stack(settings) is None:
        return None
    try:
        return int(json.loads((settings.data_dir / RUNNING).read_text(encoding="utf-8"))["server_pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _make_store(args: argparse.Namespace, settings: Settings, name: str) -> str:
    """Make the user's object store as admin, where a server is reachable."""
    attached = running_stack(settings)
    url = args.nats_url or settings.nats_url or (attached.nats_url if attached else None)
    if not url:
        return (f"their store {names.user_bucket(name)!r} is made at the embedded stack's next start"
                if not args.compose else
                "their store is made when you run this again with --nats-url and the admin credentials "
                "(AUDIOBOOK_NATS_USER=admin AUDIOBOOK_NATS_PASSWORD=$NATS_ADMIN_PASSWORD)")
    admin = attached if attached is not None and not args.nats_url and not settings.nats_url else settings

    async def make() -> None:
        nc = await connect_client(str(url), admin)
        try:
            await user_store(nc.jetstream(), name, replace(admin, user_store_gb=settings.user_store_gb))
        finally:
            await nc.close()

    asyncio.run(make())
    return f"their store {names.user_bucket(name)!r} is ready"
