"""First-run setup: the one-time code that guards `/setup` on an empty install.

Whoever reaches a fresh install first must not be able to claim it, so `/setup`
asks for a code that only the person who started the server can read: it is
printed to the server's output at start. It is kept in the database (the
`site_setting` table), so every worker and every app server of the install
prints and accepts the same code, and deleted once setup is done.
"""

from __future__ import annotations

import hmac
import os
import secrets
import sys
from contextlib import nullcontext

import click
from flask import Flask
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import ProgrammingError

from core.extensions import db
from core.models import Organization
from core.models import SiteSetting

CODE_KEY = "setup_code"
# Set in the environment once the code is printed, so the processes this one
# starts afterwards (`flask run`'s reloaded server) do not print it again; set
# by gunicorn.conf.py in every worker but the first of a start.
ANNOUNCED_ENV = "GATEHOUSE_SETUP_CODE_SHOWN"


def setup_needed() -> bool:
    """True while the database holds no organization at all."""
    return db.session.execute(db.select(Organization.id).limit(1)).first() is None


def setup_code(app: Flask | None = None) -> str:
    """Return the install's setup code, creating it on first use (committed).

    Several workers or servers starting at once all get the code the first of
    them stored (the key is the table's primary key).
    """
    with app.app_context() if app is not None else nullcontext():
        row = db.session.get(SiteSetting, CODE_KEY)
        if row is not None:
            return row.value
        code = "-".join(secrets.token_hex(3).upper() for _ in range(3))
        db.session.add(SiteSetting(key=CODE_KEY, value=code))
        try:
            db.session.commit()
        except IntegrityError:  # another worker stored its code first
            db.session.rollback()
            stored = db.session.get(SiteSetting, CODE_KEY)
            assert stored is not None
            return stored.value
        return code


def check_setup_code(candidate: str) -> bool:
    """Compare a submitted code with the install's, in constant time."""
    expected = setup_code()
    return hmac.compare_digest(candidate.strip().upper().encode(), expected.encode())


def forget_setup_code() -> None:
    """Delete the code once the first organization exists (and commit)."""
    db.session.execute(db.delete(SiteSetting).where(SiteSetting.key == CODE_KEY))
    db.session.commit()


def announce_setup_code(app: Flask) -> None:
    """Print the setup code at start when the database is migrated but empty.

    Only when serving (gunicorn, `flask run`): other `flask` commands stay quiet.
    Once per start of the server: only gunicorn's first worker prints it
    (gunicorn.conf.py, `post_fork`).
    """
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.info_name != "run":
        return
    if os.environ.get(ANNOUNCED_ENV) == "1":
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
        code = setup_code()
    base = app.config["PUBLIC_BASE_URL"]
    where = f"{base}/setup" if base else "/setup on this server"
    print(
        f"\n  Gatehouse has no organization yet. Open {where} and enter the"
        f" setup code:\n\n      {code}\n",
        file=sys.stderr,
        flush=True,
    )
    os.environ[ANNOUNCED_ENV] = "1"
