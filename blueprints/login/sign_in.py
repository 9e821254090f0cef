"""Password sign-in and sign-out: the units of work behind the login views.

Each function records what happened (audit, throttle) and commits; the views
only read forms and choose pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from core import audit
from core import throttle
from core.extensions import db
from core.models import User
from core.models import email_fold
from core.require_okta import hold
from core.require_okta import password_allowed
from core.security import spend_password_check
from core.security import verify_password
from core.sessions import end_session
from core.sessions import start_session
from core.sso import sso_available

THROTTLED = "throttled"
WRONG_PASSWORD = "wrong password"
OKTA_ONLY = "okta only"
OKTA_REQUIRED = "okta required"
MATCHED = "matched"


@dataclass(frozen=True)
class PasswordCheck:
    """What a password sign-in attempt came to.

    outcome: THROTTLED, WRONG_PASSWORD, OKTA_ONLY (no account of this email has
    a password, and one signs in with Okta), OKTA_REQUIRED (the password opened
    none of the accounts allowed a password, and an account of this email is
    in an organization that requires Okta) or MATCHED.
    active: the active accounts the password opened (MATCHED only; may be empty
    when every matching account is deactivated).
    """

    outcome: str
    active: list[User] = field(default_factory=list)


def check_password(email: str, password: str, address: str) -> PasswordCheck:
    """Check `password` against every account with this email; audit, commit.

    One email may have an account (with a password) in several organizations.
    """
    everyone = accounts_with_password(email)
    org_ids = sorted({user.organization_id for user in everyone})
    # Every account of the email counts, with a password or not: throttled
    # when all are locked, so an Unlock anywhere reveals nothing of the others.
    ids = throttle.accounts_of(email)
    if throttle.is_throttled(email, address, ids):
        _refuse_throttled(email, address, org_ids)
        return PasswordCheck(THROTTLED)
    # A locked account (another organization's may be) is never checked.
    locked = throttle.locked_users(ids)
    # Accounts whose organization requires Okta are never checked: the answer
    # for them is the same whether the password is right or wrong (no oracle).
    allowed = {user.id: password_allowed(user) for user in everyone}
    candidates = [u for u in everyone if allowed[u.id] and u.id not in locked]
    covered = sorted({u.organization_id for u in everyone if not allowed[u.id]})
    if not candidates:
        spend_password_check(password)
    matched = [
        user for user in candidates if verify_password(user.password_hash, password)
    ]
    okta_org_ids = [] if everyone else okta_only_organizations(email)
    if okta_org_ids:
        _refuse_wrong_password(email, address, okta_org_ids, reason=OKTA_ONLY)
        return PasswordCheck(OKTA_ONLY)
    if not matched and covered:
        _refuse_wrong_password(email, address, covered, reason=OKTA_REQUIRED)
        return PasswordCheck(OKTA_REQUIRED)
    if not matched:
        # A wrong password, whether or not another account of the email is
        # locked (a 429 here would tell which emails have one elsewhere); the
        # locked account's organization reads that it was throttled.
        throttled = {u.organization_id for u in everyone if u.id in locked}
        _refuse_wrong_password(email, address, org_ids, throttled=throttled)
        return PasswordCheck(WRONG_PASSWORD)
    failed = [user for user in candidates if user not in matched]
    return PasswordCheck(MATCHED, _accept(email, everyone, matched, failed))


def accounts_with_password(email: str) -> list[User]:
    """Accounts, in any organization, with this email and a password."""
    return list(
        db.session.execute(
            db.select(User)
            .filter_by(email_key=email_fold(email))
            .where(User.password_hash.is_not(None))
            .order_by(User.id)
        ).scalars()
    )


def _refuse_throttled(email: str, address: str, org_ids: list[int]) -> None:
    """Audit a sign-in refused by the throttle; commit.

    Counted, not written one by one: a client hammering a locked account adds
    one row per organization, account and address per window. Without an
    account the email is left out of the key (anyone can make up a new one per
    request).
    """
    for org_id in org_ids or [None]:
        audit.record_repeated(
            "sign_in.refused",
            org_id,
            key=f"{email_fold(email) if org_id is not None else '*'}|{address}",
            actor=email,
            reason="throttled",
        )
    db.session.commit()


def okta_only_organizations(email: str) -> list[int]:
    """Organizations where this email's account is active, has no password, and
    signs in with Okta: a password attempt there is told to use Okta.

    Asked only when no account of the email has a password, and for unknown
    emails too (the same query either way).
    """
    accounts = db.session.execute(
        db.select(User).filter_by(
            email_key=email_fold(email), status="active", password_hash=None
        )
    ).scalars()
    return sorted(
        {user.organization_id for user in accounts if sso_available(user.organization)}
    )


def _refuse_wrong_password(
    email: str,
    address: str,
    org_ids: list[int],
    reason: str = WRONG_PASSWORD,
    throttled: set[int] | frozenset[int] = frozenset(),
) -> None:
    """Count a failed attempt against the account and address, audit it; commit.

    An Okta-only account's refusal (`reason` OKTA_ONLY) is counted the same,
    so asking which emails sign in with Okta costs as much as guessing
    passwords. The organizations in `throttled` (whose account was locked,
    so not checked) read THROTTLED instead.
    """
    throttle.record_failure(email, address)
    for org_id in org_ids or [None]:
        said = THROTTLED if org_id in throttled else reason
        audit.record("sign_in.refused", org_id, actor=email, reason=said)
    db.session.commit()


def _accept(
    email: str, candidates: list[User], matched: list[User], failed: list[User]
) -> list[User]:
    """The password was right for `matched`: clear their throttle, count a
    failure against each account in `failed` (checked, not opened), audit the
    deactivated; commit.

    Without that count a second account of a victim's email, whose password
    an attacker sets to each guess, would make guessing the victim's free.
    Returns the active accounts among `matched`.
    """
    for user in matched:
        # Each account the password opened: never the others of the email.
        throttle.clear_user(user.id)
    throttle.record_user_failures([user.id for user in failed])
    if len(candidates) == 1:
        # Only when this email opens one account: a success in one organization
        # must not lift a lockout that guards the same email in another.
        throttle.clear_account(email)
    active = [user for user in matched if user.is_active]
    for user in matched:
        if not user.is_active:
            audit.record(
                "sign_in.refused",
                user.organization_id,
                actor=user,
                reason="inactive user",
            )
    db.session.commit()
    return active


def start_password_session(user: User) -> bool:
    """Audit the sign-in of `user` and start their session (which commits).

    False, with nothing started (the refusal audited), when their organization
    required Okta sign-in while their password was being checked: asked again
    under the organization's lock, which turning the requirement on holds too.
    """
    hold(user.organization)
    if not password_allowed(user):
        db.session.rollback()
        audit.record(
            "sign_in.refused",
            user.organization_id,
            actor=user,
            reason=OKTA_REQUIRED,
            commit=True,
        )
        return False
    audit.record(
        "sign_in.succeeded", user.organization_id, actor=user, method="password"
    )
    start_session(user, "password")
    return True


def sign_out(user: User) -> None:
    """Audit the sign-out (committed first) and end the browser's session."""
    audit.record("sign_out", user.organization_id, actor=user, commit=True)
    end_session(user)
