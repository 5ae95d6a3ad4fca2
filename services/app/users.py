"""Named users of a shared stack: who they are, kept in one file, and how the server learns of them.

`audiobook user add NAME` gives a person (or a script) credentials of their own. Their rights are
``events.roles.user_publish``: their own requests, their own jobs' events, their own object store
(``user-NAME``: uploads and finished books) and their own inbox. The registry is a JSON file of
names and bcrypt hashes (the password is shown once, never stored): ``users.json`` in the data
directory for the embedded stack, or beside the compose stack's ``roles.conf`` (``--compose``).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import bcrypt

from events import names
from events.errors import PermanentError
from events.roles import ROLES, compose_roles_conf

USERS_FILE = "users.json"
BCRYPT_COST = 11  # what `nats server passwd` uses


class UserError(PermanentError):
    """A user name that cannot be added, or removed."""


def load_users(folder: Path) -> dict[str, str]:
    """The registry in ``folder``: user name -> bcrypt hash of their password (empty when none)."""
    try:
        saved = json.loads((folder / USERS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise UserError(f"{folder / USERS_FILE} is not a users file ({exc}): repair or remove it") from None
    if not isinstance(saved, dict):
        raise UserError(f"{folder / USERS_FILE} is not a users file: repair or remove it")
    return {str(name): str(hashed) for name, hashed in saved.items()
            if not names.user_name_refusal(str(name), ROLES) and str(hashed).startswith("$2")}


def save_users(folder: Path, users: dict[str, str]) -> None:
    """Write the registry, readable by its owner only (it holds password hashes)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / USERS_FILE
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(dict(sorted(users.items())), indent=1) + "\n", encoding="utf-8")
    partial.chmod(0o600)
    partial.replace(path)


def hashed(password: str) -> str:
    """The bcrypt hash nats-server checks a password against."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()


def add_user(folder: Path, name: str) -> str | None:
    """Register ``name`` with a new password, and return it (shown once); None when ``name`` is
    already registered (their password stands)."""
    if refusal := names.user_name_refusal(name, ROLES):
        raise UserError(refusal)
    users = load_users(folder)
    if name in users:
        return None
    password = secrets.token_urlsafe(24)
    users[name] = hashed(password)
    save_users(folder, users)
    return password


def remove_user(folder: Path, name: str) -> None:
    """Take ``name`` out of the registry (their object store and books stay)."""
    users = load_users(folder)
    if name not in users:
        raise UserError(f"no user {name!r} in {folder / USERS_FILE}")
    del users[name]
    save_users(folder, users)


def write_compose_roles(folder: Path) -> Path:
    """The compose stack's ``roles.conf`` in ``folder``, with the roles and every registered user."""
    path = folder / "roles.conf"
    path.write_text(compose_roles_conf(load_users(folder)), encoding="utf-8")
    return path
