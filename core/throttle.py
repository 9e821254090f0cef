"""Throttles: password sign-in per account and per client address, refused
SAML answers and password reset requests per client address.

Failures are rows in `sign_in_failure`, so every worker shares the count. Past
the limit within the window the key is refused without checking the password.

A failed sign-in counts against the email (`account_key`, what an email
without an account is throttled on, and recovery codes) and against each
account of that email in any organization (`user_key`). An admin's Unlock
clears their own member's account key only, so it never lifts the guessing
against another organization's account with the same email, and what the
member page shows is that account's own count (nothing about the others).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from flask import current_app

from core.extensions import db
from core.models import SignInFailure
from core.models import User
from core.models import email_fold
from core.models import utcnow


def account_key(email: str) -> str:
    """Throttle key for an email, across organizations."""
    return "account:" + email_fold(email)


def user_key(user_id: int) -> str:
    """Throttle key for one account (one organization's member)."""
    return f"user:{user_id}"


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


def accounts_of(email: str) -> list[int]:
    """Ids of the email's accounts, in every organization."""
    return list(
        db.session.execute(
            db.select(User.id).filter_by(email_key=email_fold(email)).order_by(User.id)
        ).scalars()
    )


def address_throttled(address: str) -> bool:
    """True when this client address has failed too often lately (whatever
    account it tried)."""
    limit = current_app.config["SIGNIN_MAX_FAILURES_PER_ADDRESS"]
    return recent_failures(address_key(address)) >= limit


def locked_users(user_ids: Sequence[int]) -> set[int]:
    """The accounts among `user_ids` locked out right now (one query)."""
    if not user_ids:
        return set()
    limit = current_app.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"]
    keys = {user_key(user_id): user_id for user_id in user_ids}
    counts = db.session.execute(
        db.select(SignInFailure.key, db.func.count())
        .where(
            SignInFailure.key.in_(keys), SignInFailure.created_at > utcnow() - _window()
        )
        .group_by(SignInFailure.key)
    ).all()
    return {keys[key] for key, count in counts if count >= limit}


def is_throttled(email: str, address: str, user_ids: Sequence[int] = ()) -> bool:
    """True when the address, or the account, has failed too often lately.

    With `user_ids` (the accounts an attempt is checked against) the account
    side is theirs: throttled when every one of them is locked. Without, the
    email's own count (an unknown email is refused like a locked account).
    """
    address_limit = current_app.config["SIGNIN_MAX_FAILURES_PER_ADDRESS"]
    if recent_failures(address_key(address)) >= address_limit:
        return True
    if user_ids:
        return locked_users(user_ids) == set(user_ids)
    return account_locked(email)


def account_locked(email: str) -> bool:
    """Whether the email's own count is past the limit (what throttles an email
    without a password account, and recovery codes)."""
    limit = current_app.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"]
    return recent_failures(account_key(email)) >= limit


def record_user_failures(user_ids: Sequence[int]) -> None:
    """Count one failed attempt against each of these accounts only (not
    committed): a password that opened another account of the same email
    failed for these all the same."""
    now = utcnow()
    db.session.add_all(
        SignInFailure(key=user_key(user_id), created_at=now) for user_id in user_ids
    )


def record_failure(email: str | None, address: str) -> None:
    """Count one failed attempt against the address and, unless `email` is
    None, the email and each of its accounts (in any organization); commit."""
    now = utcnow()
    keys = [address_key(address)]
    if email:
        keys += [account_key(email), *map(user_key, accounts_of(email))]
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


def clear_user(user_id: int) -> int:
    """Forget one account's failures (not committed); how many were forgotten.

    The email's count, and the other accounts of the email, are left alone.
    """
    result = db.session.execute(
        db.delete(SignInFailure).filter_by(key=user_key(user_id))
    )
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
