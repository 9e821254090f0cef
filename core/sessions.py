"""Signed-in sessions that the server can end.

The browser's signed cookie carries only a random token; `user_session` holds its
hash, expiry and revocation. Flask-Login stores that token as the "user id", so the
user loader below checks the row on every request.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app
from flask import request
from flask import session
from flask_login import login_user
from flask_login import logout_user

from core.extensions import db
from core.extensions import login_manager
from core.models import SamlRequest
from core.models import User
from core.models import UserSession
from core.models import utcnow
from core.security import hash_token


def start_session(
    user: User,
    method: str,
    *,
    max_age: int | None = None,
    okta_issuer: str | None = None,
) -> None:
    """Sign `user` in with a fresh session (nothing of the previous one survives).

    `method` says how they proved who they are ("password", "okta-oidc",
    "okta-saml", "setup", "backup"); the session row and the user keep it.
    `max_age` (seconds) shortens the session below SESSION_MAX_AGE_SECONDS
    (a recovery code's lasts 4 hours). `okta_issuer`: for an Okta sign-in,
    the issuer (or SAML entity ID) of the Okta that vouched for it.
    """
    row = _open_session(user, method, max_age)
    row.okta_issuer = okta_issuer if method.startswith("okta-") else None
    user.last_sign_in_at = utcnow()
    user.last_sign_in_method = method
    if method.startswith("okta-"):
        user.okta_required_after_logout = False  # Universal Logout's demand met
    db.session.commit()
    login_user(user)


def restart_session(user: User) -> None:
    """Give the signed-in browser of `user` a fresh session token; commit.

    After a password change: the caller has revoked every session of `user`
    (this browser's too), and this one carries on under a new token, so a
    copy of the old cookie is dead. Not a sign-in (`last_sign_in_at` stays);
    the new session keeps the method and the expiry of the one it replaces
    (a 4-hour recovery-code session stays one), its start and its Okta (what
    "signed in through Okta in the last 10 minutes" reads).
    """
    current = current_session(user)
    if current is None:
        _open_session(user, None)  # origin unknown: NULL, as the sweep reads it
    else:
        remaining = (current.expires_at - utcnow()).total_seconds()
        row = _open_session(user, current.method or None, max(0, int(remaining)))
        row.created_at = current.created_at
        row.okta_issuer = current.okta_issuer
    db.session.commit()
    login_user(user)


def current_session(user: User) -> UserSession | None:
    """The row of the browser's current session of `user`, if any."""
    if not user.session_token:
        return None
    return db.session.scalar(
        db.select(UserSession).filter_by(token_hash=hash_token(user.session_token))
    )


def _open_session(
    user: User, method: str | None, max_age: int | None = None
) -> UserSession:
    """Revoke the session this browser held (if any), clear it and add a new
    session row for `user` (not committed) and return it; `user.session_token`
    becomes its token.

    The old row is revoked whoever it belonged to: a sign-in while signed in
    ("Link my Okta account", another account in the same browser) replaces
    the browser's session, and a copy of the old cookie must not outlive it.
    """
    previous = session.get("_user_id")
    if isinstance(previous, str) and previous:
        db.session.execute(
            db.update(UserSession)
            .filter_by(token_hash=hash_token(previous), revoked_at=None)
            .values(revoked_at=utcnow())
        )
    session.clear()
    token = secrets.token_urlsafe(32)
    now = utcnow()
    seconds = current_app.config["SESSION_MAX_AGE_SECONDS"]
    if max_age is not None:
        seconds = min(seconds, max_age)
    row = UserSession(
        token_hash=hash_token(token),
        user_id=user.id,
        created_at=now,
        expires_at=now + timedelta(seconds=seconds),
        ip=request.remote_addr or "",
        user_agent=(request.user_agent.string or "")[:300],
        method=method,
    )
    db.session.add(row)
    user.session_token = token
    return row


def end_session(user: User) -> None:
    """Sign the current browser out and revoke its session row.

    A "Link my Okta account" started in SAML and not answered yet dies too:
    the browser's next user must not finish it as this member.
    """
    forget_own_links(user)
    if user.session_token:
        db.session.execute(
            db.update(UserSession)
            .filter_by(token_hash=hash_token(user.session_token))
            .values(revoked_at=utcnow())
        )
    db.session.commit()
    logout_user()
    session.clear()


def forget_own_links(user: User) -> None:
    """Drop `user`'s unanswered SAML own-account link and test sign-in requests
    (not committed): the browser's next user must not finish them as `user`."""
    db.session.execute(
        db.delete(SamlRequest).where(
            (SamlRequest.link_user_id == user.id)
            | (SamlRequest.test_user_id == user.id)
        )
    )


def revoke_all_sessions(user: User) -> int:
    """Revoke every session of `user` (the caller commits); return how many."""
    forget_own_links(user)
    result = db.session.execute(
        db.update(UserSession)
        .filter_by(user_id=user.id, revoked_at=None)
        .values(revoked_at=utcnow())
    )
    return result.rowcount


@login_manager.user_loader
def load_user(token: str) -> User | None:
    """Load the user of a live session token; anything else signs the browser out."""
    row = db.session.execute(
        db.select(UserSession).filter_by(token_hash=hash_token(token))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    user = row.user
    if not user.is_active:
        return None
    user.session_token = token
    return user
