"""Passwords: changing one's own, choosing a new one through an emailed link
("Forgot your password?"), and the invitation a new member gets to choose one.

Reset and invitation links are `PasswordToken`s (`core.tokens`): single-use,
expiring, only their SHA-256 stored, their address built from `core.urls`
(never from the request). Using one spends every other password link of that
account too and ends every session of it.

"Forgot your password?" answers the same whatever the email: whether it has
accounts, in how many organizations, active or not, with a password or Okta
only. The work that differs is small and done in the request (a token row);
the emails themselves go out after the response has been sent
(`send_reset_emails`, from the view's `call_on_close`), so the time an SMTP
exchange takes does not tell either. One email per account: an address with
accounts in several organizations gets one message per organization, each
naming it, each link choosing that account's password only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask
from flask import current_app
from flask import render_template

from core import audit
from core import authority
from core import throttle
from core import tokens
from core.authority import AccountError
from core.authority import Actor
from core.extensions import db
from core.linking import FAILED
from core.linking import NO_PUBLIC_URL
from core.linking import OUTBOX
from core.linking import SENT
from core.mailer import checked_message
from core.mailer import send_message
from core.models import PasswordToken
from core.models import User
from core.models import email_fold
from core.models import utcnow
from core.provisioning.users import email_in_other_organizations
from core.security import hash_password
from core.security import password_problem
from core.security import verify_password
from core.sessions import restart_session
from core.sessions import revoke_all_sessions
from core.sso import sso_available
from core.urls import public_base_url

RESET = "reset"
INVITATION = "invitation"

# The path of a password link on the public address (blueprints/passwords).
LINK_PATH = "/password/reset/"


@dataclass(frozen=True)
class LinkEmail:
    """What one kind of password link is: how long it lives, what its email
    says, and how its delivery is audited."""

    lifetime: timedelta
    lifetime_words: str
    subject: str  # formatted with org=<organization name>
    template: str  # email/<template>.txt and .html
    sent_kind: str
    failed_kind: str


EMAILS = {
    RESET: LinkEmail(
        timedelta(hours=1),
        "1 hour",
        "Choose a new password for {org}",
        "email/password_reset",
        "password.reset_email_sent",
        "password.reset_email_failed",
    ),
    INVITATION: LinkEmail(
        timedelta(days=7),
        "7 days",
        "You are invited to {org} on Gatehouse",
        "email/password_invitation",
        "password.invitation_sent",
        "password.invitation_failed",
    ),
}

CHANGED = "changed"
WRONG_PASSWORD = "wrong password"
THROTTLED = "throttled"


# -- the link pages ---------------------------------------------------------------


def find_link(secret: str) -> PasswordToken | None:
    """The live password link of this secret, if its account is active; else None."""
    row = tokens.find_live(PasswordToken, secret)
    if row is None or not row.user.is_active:
        return None
    return row


def check_new_password(password: str) -> None:
    """:raise AccountError: when `password` breaks the password rules."""
    problem = password_problem(password)
    if problem:
        raise AccountError(problem)


def set_password_by_link(row: PasswordToken, password: str) -> bool:
    """Spend `row` and give its account `password`; audit, commit.

    Every other password link of the account dies and every session of it
    ends. False (nothing changed) when the link was spent meanwhile, by a
    concurrent request or otherwise.
    :raise AccountError: when `password` breaks the password rules.
    """
    check_new_password(password)
    # Hashed before the first write, so the write lock is held briefly.
    password_hash = hash_password(password)
    if not tokens.spend(PasswordToken, row):
        db.session.rollback()
        return False
    user = row.user
    user.password_hash = password_hash
    tokens.end_pending(PasswordToken, user)
    ended = revoke_all_sessions(user)
    if not email_in_other_organizations(user):
        # The lockout guards the email across organizations (see unlock).
        throttle.clear_account(user.email, commit=False)
    audit.record(
        "password.reset" if row.purpose == RESET else "password.invitation_accepted",
        user.organization_id,
        actor=user,
        target=user.email,
        sessions_ended=ended,
    )
    db.session.commit()
    return True


# -- changing one's own password ------------------------------------------------


def change_password(user: User, current: str, new: str, address: str) -> str:
    """Change the signed-in `user`'s password; audit, commit.

    Returns CHANGED (every other session of the account ended, this browser
    carries on under a fresh session token), WRONG_PASSWORD (counted by the
    sign-in throttle, against the email and the address) or THROTTLED (too
    many failures lately: the current password was not checked).
    :raise AccountError: when `new` breaks the rules (nothing is counted).
    """
    check_new_password(new)
    if throttle.is_throttled(user.email, address):
        audit.record_repeated(
            "password.change_refused",
            user.organization_id,
            key=f"{user.id}|{address}",
            actor=user,
            reason="throttled",
        )
        db.session.commit()
        return THROTTLED
    if not verify_password(user.password_hash, current):
        throttle.record_failure(user.email, address)
        audit.record(
            "password.change_refused",
            user.organization_id,
            actor=user,
            reason="wrong password",
            commit=True,
        )
        return WRONG_PASSWORD
    user.password_hash = hash_password(new)
    # A reset link asked for earlier must not undo this change.
    tokens.end_pending(PasswordToken, user)
    ended = revoke_all_sessions(user)
    audit.record(
        "password.changed",
        user.organization_id,
        actor=user,
        target=user.email,
        other_sessions_ended=max(0, ended - 1),
    )
    restart_session(user)
    return CHANGED


# -- "Forgot your password?" ----------------------------------------------------


@dataclass(frozen=True)
class ResetRequest:
    """What a reset request came to: refused by the throttle, or the links made
    (token id, secret) that `send_reset_emails` mails after the response."""

    throttled: bool = False
    links: tuple[tuple[int, str], ...] = ()


def accounts_with_email(email: str) -> list[User]:
    """Every account, in any organization, with this email."""
    return list(
        db.session.execute(
            db.select(User).filter_by(email_key=email_fold(email)).order_by(User.id)
        ).scalars()
    )


def request_reset(email: str, address: str) -> ResetRequest:
    """Make a reset link for each account of `email` that should get one;
    count the request against `address`, audit, commit.

    No link for a deactivated account, an account without a password whose
    organization signs in with Okta (it has no password to forget), or one
    emailed within PASSWORD_RESET_EMAIL_INTERVAL_SECONDS (no mailbombing).
    """
    if throttle.reset_requests_throttled(address):
        audit.record_repeated(
            "password.reset_refused",
            None,
            key=address,
            actor="anonymous",
            reason="throttled",
        )
        db.session.commit()
        return ResetRequest(throttled=True)
    throttle.count_reset_request(address)
    links = []
    for user in accounts_with_email(email):
        result = _reset_decision(user)
        if result == "link":
            links.append(
                tokens.issue(PasswordToken, user, EMAILS[RESET].lifetime, purpose=RESET)
            )
        audit.record(
            "password.reset_requested",
            user.organization_id,
            actor="anonymous",
            target=user.email,
            result=result,
        )
    db.session.commit()
    return ResetRequest(links=tuple((row.id, secret) for row, secret in links))


def _reset_decision(user: User) -> str:
    """Whether `user` gets a reset link ("link") or, in words, why not."""
    if not user.is_active:
        return "not sent: deactivated"
    if user.password_hash is None and sso_available(user.organization):
        return "not sent: signs in with Okta"
    if not public_base_url():
        return "not sent: no public address"
    interval = timedelta(
        seconds=current_app.config["PASSWORD_RESET_EMAIL_INTERVAL_SECONDS"]
    )
    last = tokens.last_issued(PasswordToken, user)
    if last is not None and utcnow() - last < interval:
        return "not sent: emailed recently"
    return "link"


def send_reset_emails(app: Flask, links: Sequence[tuple[int, str]]) -> None:
    """Email the reset links `request_reset` made; run after the response.

    Nobody waits for the outcome: failures are logged and audited, never raised.
    """
    if not links:
        return
    with app.app_context():
        for token_id, secret in links:
            try:
                row = db.session.get(PasswordToken, token_id)
                if row is not None:
                    deliver(row, secret, actor="anonymous")
            except Exception:
                db.session.rollback()
                app.logger.exception("Could not send a password reset email")


# -- invitations ----------------------------------------------------------------


def send_invitation(user: User, *, actor: User) -> str:
    """Email `user` a link to choose their password (a new member); commit.

    Returns SENT, OUTBOX, FAILED or NO_PUBLIC_URL (nothing made or sent), as
    `core.linking.send_link_email` does.
    :raise AccountError: when `actor` may not, or `user` is deactivated or
        already has a password (they use "Forgot your password?").
    """
    authority.check(Actor.of_user(actor), "send_invitation", user)
    if not user.is_active:
        raise AccountError("Reactivate the member first.")
    if user.password_hash is not None:
        raise AccountError(
            f"{user.email} already has a password; they can choose a new one "
            "with “Forgot your password?” on the sign-in page."
        )
    if not public_base_url():
        return NO_PUBLIC_URL
    row, secret = tokens.issue(
        PasswordToken, user, EMAILS[INVITATION].lifetime, purpose=INVITATION
    )
    db.session.commit()
    return deliver(row, secret, actor=actor)


# -- delivery ---------------------------------------------------------------------


def deliver(row: PasswordToken, secret: str, *, actor: User | str) -> str:
    """Email the link of `row` (committed) to its account; audit, commit.

    Returns SENT, OUTBOX (written to instance/outbox/), FAILED (the link is
    voided: nobody received it) or NO_PUBLIC_URL.
    """
    user = row.user
    base = public_base_url()
    if not base:
        return NO_PUBLIC_URL
    kind = EMAILS[row.purpose]
    context = {
        "user": user,
        "org": user.organization,
        "url": f"{base}{LINK_PATH}{secret}",
        "sign_in_url": f"{base}/login",
        "lifetime": kind.lifetime_words,
        "inviter": actor if isinstance(actor, User) else None,
    }
    try:
        send_message(
            checked_message(
                user.email,
                kind.subject.format(org=user.organization.name),
                render_template(f"{kind.template}.txt", **context),
                render_template(f"{kind.template}.html", **context),
            )
        )
    except (OSError, ValueError) as exc:
        return _failed(row, kind, actor, exc)
    to_outbox = not current_app.config["SMTP_HOST"]
    if not to_outbox:
        row.sent_at = utcnow()
    details = {"to": "outbox"} if to_outbox else {}
    audit.record(
        kind.sent_kind, user.organization_id, actor=actor, target=user.email, **details
    )
    db.session.commit()
    return OUTBOX if to_outbox else SENT


def _failed(
    row: PasswordToken, kind: LinkEmail, actor: User | str, error: Exception
) -> str:
    """Void the link nobody received, log and audit the failure; commit; FAILED."""
    user = row.user
    current_app.logger.error(
        "Could not email %s its password link: %s", user.email, error
    )
    row.used_at = utcnow()
    audit.record(
        kind.failed_kind,
        user.organization_id,
        actor=actor,
        target=user.email,
        error=str(error)[:200],
    )
    db.session.commit()
    return FAILED
