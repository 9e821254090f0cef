"""GET /healthz: 200 when this app server can serve, 503 (and why) when not.

It checks what every page needs: the database answers, its schema is the one
this code expects (the latest migration has run: after an upgrade, a node whose
database is behind, or ahead, is taken out of rotation until `flask db upgrade`
or its own upgrade), and this node's SECRET_KEY is the install's (a node with
another key could not read the stored Okta secrets nor the other nodes'
sessions). Nothing secret is said: no versions, hosts, keys or errors.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import cache
from pathlib import Path

from alembic.script import ScriptDirectory
from flask import Response
from flask import current_app
from flask import jsonify
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import SQLAlchemyError

from blueprints.health import bp
from core.extensions import db
from core.models import SiteSetting

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
KEY_CHECK = "secret_key_check"


@cache
def expected_revisions() -> frozenset[str]:
    """The head revision(s) of the migrations shipped with this code."""
    return frozenset(ScriptDirectory(str(MIGRATIONS)).get_heads())


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Database reachable and migrations current."""
    try:
        current = frozenset(
            db.session.execute(text("SELECT version_num FROM alembic_version"))
            .scalars()
            .all()
        )
    except SQLAlchemyError:
        db.session.rollback()
        current_app.logger.exception("Health check: the database did not answer")
        return _answer("unavailable", "the database did not answer", 503)
    if current != expected_revisions():
        return _answer(
            "unavailable", "the database schema is not this version's: migrate", 503
        )
    if not same_secret_key():
        return _answer(
            "unavailable",
            "this node's SECRET_KEY is not the one the install's other nodes use",
            503,
        )
    return _answer("ok", None, 200)


def key_fingerprint() -> str:
    """A one-way mark of SECRET_KEY: equal keys give equal marks, and the mark
    tells nothing about the key."""
    return hmac.new(
        current_app.config["SECRET_KEY"].encode(),
        b"gatehouse: the SECRET_KEY every node shares",
        hashlib.sha256,
    ).hexdigest()


def same_secret_key() -> bool:
    """Whether this node's SECRET_KEY is the install's; the first node to ask
    records its key's mark."""
    mine = key_fingerprint()
    stored = db.session.get(SiteSetting, KEY_CHECK)
    if stored is None:
        db.session.add(SiteSetting(key=KEY_CHECK, value=mine))
        try:
            db.session.commit()
            return True
        except IntegrityError:  # another node recorded its mark meanwhile
            db.session.rollback()
            stored = db.session.get(SiteSetting, KEY_CHECK)
            if stored is None:
                return False
    return hmac.compare_digest(stored.value, mine)


def _answer(status: str, problem: str | None, code: int) -> tuple[Response, int]:
    body = {"status": status}
    if problem:
        body["problem"] = problem
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response, code
