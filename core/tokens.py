"""Emailed single-use links: issuing, finding, spending and voiding them.

One pattern for every kind (Okta link invitations in `core.linking`, password
resets and invitations in `core.passwords`): the secret is 256 random bits that
only the email carries; the table keeps its SHA-256 (`EmailedToken`), so a copy
of the database opens no account. A token is live while unused and unexpired.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import TypeVar

from core.extensions import db
from core.models import EmailedToken
from core.models import User
from core.models import utcnow
from core.security import hash_token

T = TypeVar("T", bound=EmailedToken)

# Longer than any secret we issue; anything longer is not looked up.
MAX_SECRET_LENGTH = 200


def issue(
    model: type[T], user: User, lifetime: timedelta, **values: Any
) -> tuple[T, str]:
    """A new token row for `user` (added, not committed) and its secret."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    row = model(
        token_hash=hash_token(secret),
        user_id=user.id,
        created_at=now,
        expires_at=now + lifetime,
        **values,
    )
    db.session.add(row)
    return row, secret


def find_live(model: type[T], secret: str) -> T | None:
    """The unused, unexpired token of this secret, or None."""
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        return None
    return find_live_by_hash(model, hash_token(secret))


def find_live_by_hash(model: type[T], token_hash: str) -> T | None:
    """The unused, unexpired token with this hash, or None."""
    row = db.session.execute(
        db.select(model).filter_by(token_hash=token_hash)
    ).scalar_one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    return row


def last_issued(model: type[T], user: User) -> datetime | None:
    """When the newest token of this kind was made for `user`, or None."""
    return db.session.execute(
        db.select(db.func.max(model.created_at)).filter_by(user_id=user.id)
    ).scalar_one_or_none()


def spend(model: type[T], row: T) -> bool:
    """Mark `row` used if it is still live, by compare-and-set (not committed).

    Of two requests spending one token at once, only one gets True: the UPDATE
    matches the row only while `used_at` is empty.
    """
    now = utcnow()
    result = db.session.execute(
        db.update(model)
        .where(model.id == row.id, model.used_at.is_(None), model.expires_at > now)
        .values(used_at=now)
    )
    return result.rowcount == 1


def end_pending(model: type[T], user: User) -> int:
    """Void every unused token of this kind of `user` (not committed); how many."""
    result = db.session.execute(
        db.update(model)
        .where(model.user_id == user.id, model.used_at.is_(None))
        .values(used_at=utcnow())
    )
    return result.rowcount
