"""Throttles: password sign-in per account (email) and per client address,
refused SAML answers and password reset requests per client address.

Failures are rows in `sign_in_failure`, so every worker shares the count. Past
the limit within the window the key is refused without checking the password.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from core.extensions import db
from core.models import SignInFailure
from core.models import email_fold
from core.models import utcnow


def account_key(email: str) -> str:
    """Throttle key for an email, across organizations."""
    return "account:" + email_fold(email)


def address_key(address: str) -> str:
    """Throttle key for a client address."""
    return "address:" + address


def _window() -> timedelta:
    return timedelta(seconds=current_app.config["SIGNIN_FAILURE_WINDOW_SECONDS"])


def recent_failures(key: str) -> int:
    """Failures recorded for `key` within the window."""
    since = utcnow() - _window()
    return db.session.execute(
        db.select(db.func.count())
        .select_from(SignInFailure)
        .where(SignInFailure.key == key, SignInFailure.created_at > since)
    ).scalar_one()


def is_throttled(email: str, address: str) -> bool:
    """True when either the account or the address has failed too often lately."""
    config = current_app.config
    return (
        recent_failures(account_key(email)) >= config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"]
        or recent_failures(address_key(address))
        >= config["SIGNIN_MAX_FAILURES_PER_ADDRESS"]
    )


def address_throttled(address: str) -> bool:
    """True when this client address has failed too often lately (whatever
    account it tried)."""
    limit = current_app.config["SIGNIN_MAX_FAILURES_PER_ADDRESS"]
    return recent_failures(address_key(address)) >= limit


def account_locked(email: str) -> bool:
    """Whether password sign-in for this email is locked out right now."""
    limit = current_app.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"]
    return recent_failures(account_key(email)) >= limit


def record_failure(email: str | None, address: str) -> None:
    """Count one failed attempt against the account (unless `email` is None)
    and the address; commit."""
    now = utcnow()
    keys = [address_key(address)] + ([account_key(email)] if email else [])
    db.session.add_all(SignInFailure(key=key, created_at=now) for key in keys)
    # Old rows are useless: drop them as we go so the table stays small.
    db.session.execute(
        db.delete(SignInFailure).where(SignInFailure.created_at < now - _window())
    )
    db.session.commit()


def clear_account(email: str, *, commit: bool = True) -> int:
    """Forget an account's failures (after it signs in, or an admin unlocks it).

    Returns how many were forgotten.
    """
    result = db.session.execute(
        db.delete(SignInFailure).filter_by(key=account_key(email))
    )
    if commit:
        db.session.commit()
    return result.rowcount


def saml_key(address: str) -> str:
    """Throttle key for refused SAML answers from a client address."""
    return "saml:" + address


def saml_throttled(address: str) -> bool:
    """True when this address has sent too many refused SAML answers lately."""
    limit = current_app.config["SAML_MAX_FAILURES_PER_ADDRESS"]
    return recent_failures(saml_key(address)) >= limit


def count_saml_failure(address: str) -> None:
    """Count one refused SAML answer from `address` (the caller commits)."""
    db.session.add(SignInFailure(key=saml_key(address), created_at=utcnow()))


def reset_key(address: str) -> str:
    """Throttle key for "Forgot your password?" requests from a client address."""
    return "reset:" + address


def reset_requests_throttled(address: str) -> bool:
    """True when this address has asked for too many password resets lately.

    Counted per address whatever the email asked for, so the answer says
    nothing about which emails have accounts.
    """
    limit = current_app.config["PASSWORD_RESET_MAX_PER_ADDRESS"]
    return recent_failures(reset_key(address)) >= limit


def count_reset_request(address: str) -> None:
    """Count one password reset request from `address` (the caller commits)."""
    now = utcnow()
    db.session.add(SignInFailure(key=reset_key(address), created_at=now))
    db.session.execute(
        db.delete(SignInFailure).where(
            SignInFailure.key == reset_key(address),
            SignInFailure.created_at < now - _window(),
        )
    )
