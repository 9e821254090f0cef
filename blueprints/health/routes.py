"""GET /healthz: 200 when this app server can serve, 503 (and why) when not.

It checks what every page needs: the database answers, its schema is the one
this code expects (the latest migration has run: after an upgrade, a node whose
database is behind, or ahead, is taken out of rotation until `flask db upgrade`
or its own upgrade), and this node's SECRET_KEY is the install's (a node with
another key could not read the stored Okta secrets nor the other nodes'
sessions: core/key_check.py). Nothing secret is said: no versions, hosts, keys
or errors, and nothing is written.
"""

from __future__ import annotations

import time
from functools import cache
from pathlib import Path

from alembic.script import ScriptDirectory
from flask import Response
from flask import current_app
from flask import jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from blueprints.health import bp
from core import key_check
from core.extensions import db

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@cache
def expected_revisions() -> frozenset[str]:
    """The head revision(s) of the migrations shipped with this code."""
    return frozenset(ScriptDirectory(str(MIGRATIONS)).get_heads())


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Database reachable, migrations current, SECRET_KEY the install's."""
    try:
        problem = _problem()
    except SQLAlchemyError:
        db.session.rollback()
        _log_outage()
        problem = "the database did not answer"
    if problem is not None:
        return _answer("unavailable", problem, 503)
    return _answer("ok", None, 200)


def _problem() -> str | None:
    current = frozenset(
        db.session.execute(text("SELECT version_num FROM alembic_version"))
        .scalars()
        .all()
    )
    if current != expected_revisions():
        return "the database schema is not this version's: migrate"
    if key_check.matches() is False:
        return "this node's SECRET_KEY is not the one the install's other nodes use"
    return None


_last_logged = {"at": 0.0}


def _log_outage() -> None:
    """Log a database outage with its traceback, at most once a minute: a load
    balancer polls every few seconds."""
    now = time.monotonic()
    if now - _last_logged["at"] >= 60:
        _last_logged["at"] = now
        current_app.logger.exception("Health check: the database did not answer")


def _answer(status: str, problem: str | None, code: int) -> tuple[Response, int]:
    body = {"status": status}
    if problem:
        body["problem"] = problem
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, code
