"""Passwords: changing one's own, choosing a new one through an emailed link
("Forgot your password?"), and the invitation a new member gets to choose one.

Reset and invitation links are `PasswordToken`s (`core.tokens`): single-use,
expiring, only their SHA-256 stored, their address built from `core.urls`
(never from the request). Using one spends every other password link of that
account too and ends every session of it.

"Forgot your password?" answers the same whatever the email: whether it has
accounts, in how many organizations, active or not, with a password or Okta
only. The request only counts itself against the client's address; looking
the email up, making links and sending them all happen after the response has
been sent (`send_reset_links`, from the view's `call_on_close`), so neither
the page nor the time it takes depends on the email. One email per account: an
address with accounts in several organizations gets one message per
organization, each naming it, each link choosing that account's password only.
"""

from __future__ import annotations

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
from core.extensions import upsert_insert
from core.linking import FAILED
from core.linking import NO_PUBLIC_URL
from core.linking import OUTBOX
from core.linking import SENT
from core.mailer import checked_message
from core.mailer import send_message
from core.models import PasswordResetMail
from core.models import PasswordToken
from core.models import User
from core.models import email_fold
from core.models import utcnow
from core.provisioning.users import email_in_other_organizations
from core.require_okta import reset_refusal
from core.security import hash_password
from core.security import password_problem
from core.security import verify_password
from core.sessions import restart_session
from core.sessions import revoke_all_sessions
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
    throttle.clear_user(user.id)
    if not email_in_other_organizations(user):
        # The email's count guards every account of it (see core.throttle).
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
    if throttle.is_throttled(user.email, address, [user.id]):
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


def accept_reset_request(address: str) -> bool:
    """Count a reset request from `address`; False when the address has made
    too many lately (audited). Commit.

    Nothing here looks at the email: what happens to it is decided after the
    response (`send_reset_links`), so the answer cannot depend on it.
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
        return False
    throttle.count_reset_request(address)
    db.session.commit()
    return True


def accounts_with_email(email: str) -> list[User]:
    """Every account, in any organization, with this email."""
    return list(
        db.session.execute(
            db.select(User).filter_by(email_key=email_fold(email)).order_by(User.id)
        ).scalars()
    )


def send_reset_links(app: Flask, email: str, address: str) -> None:
    """Make and email a reset link for each account of `email` that should get
    one, auditing each; run after the response, in an app context of its own.

    Nobody waits for the outcome: failures are logged and audited, never raised.
    """
    with app.app_context():
        try:
            for user in accounts_with_email(email):
                _reset_account(user, address)
        except Exception:
            db.session.rollback()
            app.logger.exception("Could not send a password reset email")


def _reset_account(user: User, address: str) -> None:
    """Audit a reset request for `user` and, if it gets a link, email one."""
    result = _reset_decision(user)
    audit.record(
        "password.reset_requested",
        user.organization_id,
        actor="anonymous",
        target=user.email,
        result=result,
        requested_from=address,
    )
    if result != "link":
        db.session.commit()
        return
    row, secret = tokens.issue(
        PasswordToken, user, EMAILS[RESET].lifetime, purpose=RESET
    )
    db.session.commit()
    deliver(row, secret, actor="anonymous")


def _reset_decision(user: User) -> str:
    """Whether `user` gets a reset link ("link") or, in words, why not.

    No link for a deactivated account, one Okta signs in (`reset_refusal`:
    no password to forget, or Okta sign-in required), or one emailed
    within PASSWORD_RESET_EMAIL_INTERVAL_SECONDS (no mailbombing).
    """
    if not user.is_active:
        return "not sent: deactivated"
    if refusal := reset_refusal(user):
        return refusal
    if not public_base_url():
        return "not sent: no public address"
    if not claim_reset_mail(user):
        return "not sent: emailed recently"
    return "link"


def claim_reset_mail(user: User) -> bool:
    """Claim this interval's reset email for `user` (not committed).

    One compare-and-set: the row is inserted, or moved to now only if the last
    email is older than PASSWORD_RESET_EMAIL_INTERVAL_SECONDS. Of requests racing
    for one inbox, from any worker or address, one gets True.
    """
    now = utcnow()
    interval = timedelta(
        seconds=current_app.config["PASSWORD_RESET_EMAIL_INTERVAL_SECONDS"]
    )
    table = PasswordResetMail.__table__
    statement = upsert_insert()(table).values(user_id=user.id, sent_at=now)
    claimed = db.session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.user_id],
            set_={"sent_at": now},
            where=table.c.sent_at <= now - interval,
        ).returning(table.c.user_id)
    )
    # RETURNING, not rowcount: drivers need not count an upsert's rows.
    return claimed.first() is not None


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
