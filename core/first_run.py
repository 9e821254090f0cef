"""First-run setup: the one-time code that guards `/setup` on an empty install.

Whoever reaches a fresh install first must not be able to claim it, so `/setup`
asks for a code that only the person who started the server can read: it is
printed to the server's output at start and kept in `instance/setup_code`
(mode 0600) so every worker process shares it. It is deleted once setup is done.
"""

from __future__ import annotations

import hmac
import os
import secrets
import sys
from pathlib import Path

import click
from flask import Flask
from flask import current_app
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import ProgrammingError

from core.extensions import db
from core.models import Organization


def _code_path(app: Flask) -> Path:
    return Path(app.instance_path) / "setup_code"


def setup_needed() -> bool:
    """True while the database holds no organization at all."""
    return db.session.execute(db.select(Organization.id).limit(1)).first() is None


def setup_code(app: Flask) -> str:
    """Return the install's setup code, creating it on first use."""
    path = _code_path(app)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    code = "-".join(secrets.token_hex(3).upper() for _ in range(3))
    with os.fdopen(fd, "w") as handle:
        handle.write(code)
    return code


def check_setup_code(candidate: str) -> bool:
    """Compare a submitted code with the install's, in constant time."""
    expected = setup_code(current_app._get_current_object())  # type: ignore[attr-defined]
    return hmac.compare_digest(candidate.strip().upper().encode(), expected.encode())


def forget_setup_code() -> None:
    """Delete the code once the first organization exists."""
    _code_path(current_app._get_current_object()).unlink(missing_ok=True)  # type: ignore[attr-defined]


def announce_setup_code(app: Flask) -> None:
    """Print the setup code at start when the database is migrated but empty.

    Only when serving (gunicorn, `flask run`): other `flask` commands stay quiet.
    """
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.info_name != "run":
        return
    with app.app_context():
        try:
            needed = setup_needed()
        except (OperationalError, ProgrammingError):
            db.session.rollback()
            return  # not migrated yet (e.g. during `flask db upgrade`)
        finally:
            db.session.remove()
        if not needed:
            return
        code = setup_code(app)
    base = app.config["PUBLIC_BASE_URL"]
    where = f"{base}/setup" if base else "/setup on this server"
    print(
        f"\n  Gatehouse has no organization yet. Open {where} and enter the"
        f" setup code:\n\n      {code}\n",
        file=sys.stderr,
        flush=True,
    )
