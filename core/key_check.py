"""Whether this app server's SECRET_KEY is the one its install uses.

Every node of an install must share SECRET_KEY: it signs the session cookies and
encrypts the Okta client secrets in the database. A one-way mark of the key (an
HMAC of a constant: it tells nothing about the key) is recorded in `site_setting`
when the install's first organization is created, and by `flask site
record-key` (after rotating the key, or to repair a wrong record). /healthz
compares this node's mark with it. Nothing a request does writes the record.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from sqlalchemy.exc import IntegrityError

from core.extensions import db
from core.models import SiteSetting

KEY = "secret_key_check"


def mark() -> str:
    """This node's mark of SECRET_KEY."""
    return hmac.new(
        current_app.config["SECRET_KEY"].encode(),
        b"gatehouse: the SECRET_KEY every node shares",
        hashlib.sha256,
    ).hexdigest()


def record(*, replace: bool = False) -> None:
    """Record this node's mark as the install's (and commit); an existing record
    is kept unless `replace`."""
    row = db.session.get(SiteSetting, KEY)
    if row is None:
        db.session.add(SiteSetting(key=KEY, value=mark()))
    elif replace:
        row.value = mark()
    else:
        return
    try:
        db.session.commit()
    except IntegrityError:  # another node recorded it at the same moment
        db.session.rollback()


def matches() -> bool | None:
    """Whether this node's key is the install's; None when none is recorded yet."""
    row = db.session.get(SiteSetting, KEY)
    return None if row is None else hmac.compare_digest(row.value, mark())
