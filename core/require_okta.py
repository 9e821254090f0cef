"""Requiring Okta sign-in, with a way back in.

An organization's Okta sign-in is *optional* (no row, or `required` False) or
*required*: then no member may sign in with a password, nor reset one, except
the (at most three) exempt accounts. `password_allowed` is the one place that
decides "may this person sign in with a password here": the login page, the
backup page and "Forgot your password?" ask it.

The requirement counts only while Okta sign-in is on for the organization
(`sso_available`): with Okta turned off or a Free plan nobody could sign in
at all, so it is suspended (members may use passwords meanwhile; the pages
that turn Okta off say so) and applies again, with its sweep, when Okta comes
back (`core.okta_sweep.apply_again`). Turning it on is refused, with the
reason, until every precondition holds (`preconditions`); it ends the
password-started sessions of everyone it covers. Owners' recovery codes
(`core.recovery_codes`) and exempt accounts are the way back in, at
`/login/backup`; `flask sso require --org NAME --off` is the operator's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core import audit
from core import recovery_codes
from core.authority import Actor
from core.extensions import db
from core.linking import current_identity
from core.linking import current_issuer
from core.models import OktaExemption
from core.models import OktaIdentity
from core.models import OktaRequirement
from core.models import Organization
from core.models import User
from core.models import utcnow
from core.okta_sweep import end_password_sessions
from core.okta_sweep import void_password_links
from core.sessions import current_session
from core.sso import sso_available
from core.sso_authority import require_okta_problem
from core.sso_rollout import sign_in_test_status

MAX_EXEMPT = 3
# How recently the owner turning it on must have signed in through Okta.
RECENT_OKTA = timedelta(minutes=10)


class Refused(ValueError):
    """A change of the requirement that is not allowed; the message says why.

    `status`: 403 (not an owner) or 409 (a precondition is not met, or the
    input is wrong: 400).
    """

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


# -- the one decision -------------------------------------------------------------


def requirement(org: Organization) -> OktaRequirement | None:
    """The organization's requirement row, if it was ever set."""
    return db.session.get(OktaRequirement, org.id)


def is_required(org: Organization) -> bool:
    """Whether the organization requires Okta sign-in right now."""
    row = requirement(org)
    return bool(row and row.required and sso_available(org))


def hold(org: Organization) -> None:
    """Take the organization's lock for the rest of this transaction, and read
    its requirement afresh.

    Turning the requirement on and opening a password session both hold it,
    so they happen one after the other: a password sign-in that read
    "optional" before its (slow) password check either opens its session
    before the sweep (which then ends it) or sees the requirement after it
    (and opens none). A no-op UPDATE: the row lock on PostgreSQL, the write
    lock on SQLite (as `core.authority` counts owners).
    """
    db.session.execute(
        db.update(Organization)
        .where(Organization.id == org.id)
        .values(plan=Organization.plan)
    )
    row = requirement(org)
    if row is not None:
        db.session.refresh(row)


def exempt_members(org: Organization) -> list[User]:
    """The organization's exempt accounts, oldest exemption first."""
    return list(
        db.session.execute(
            db.select(User)
            .join(OktaExemption, OktaExemption.user_id == User.id)
            .where(OktaExemption.organization_id == org.id)
            .order_by(OktaExemption.id)
        ).scalars()
    )


def is_exempt(user: User) -> bool:
    """Whether `user` is one of their organization's exempt accounts."""
    return (
        db.session.execute(
            db.select(OktaExemption.id).filter_by(
                organization_id=user.organization_id, user_id=user.id
            )
        ).first()
        is not None
    )


def password_allowed(user: User) -> bool:
    """May `user` sign in with a password (or reset it) here?

    No while their organization requires Okta sign-in, unless they are one of
    its exempt accounts. (Whether the account is active, and the password
    right, is asked elsewhere.)
    """
    return not is_required(user.organization) or is_exempt(user)


def password_signs_in(user: User) -> bool:
    """Is `user`'s password a way into the account right now?

    Not without one, nor while the organization requires Okta (unless
    exempt), nor after an Okta Universal Logout until their next Okta sign-in.
    """
    return (
        bool(user.password_hash)
        and password_allowed(user)
        and not user.okta_required_after_logout
    )


# -- preconditions ----------------------------------------------------------------


@dataclass(frozen=True)
class Precondition:
    """One item of the checklist: `met`, what it is, and how to meet it."""

    key: str
    met: bool
    label: str
    how: str


def preconditions(org: Organization, owner: User) -> list[Precondition]:
    """The checklist for `owner` turning the requirement on, in order."""
    config = org.sso_config
    live = bool(config and sso_available(org))
    tested = bool(live and config and sign_in_test_status(org, config.protocol).passed)
    return [
        Precondition(
            "tested",
            tested,
            "Okta sign-in is on and its settings passed a test sign-in",
            "On Okta authentication, turn Okta sign-in on for everyone and pass "
            "Test sign-in with Okta with the settings members use now.",
        ),
        Precondition(
            "recent_okta",
            signed_in_through_okta_recently(owner),
            "You signed in through Okta in the last 10 minutes",
            "Sign out, sign in again with Single Sign On (SSO), and come back "
            "here within 10 minutes: this proves Okta lets you in.",
        ),
        Precondition(
            "owner_linked",
            live and _owner_linked(org),
            "At least one owner is linked to Okta",
            "An owner links their Okta account: Link my Okta account, or the "
            "emailed link.",
        ),
        Precondition(
            "recovery",
            _recovery_path(org),
            "A way back in if Okta fails",
            "Generate recovery codes below and confirm you saved them, or name "
            "an exempt account that has a password.",
        ),
    ]


def signed_in_through_okta_recently(user: User) -> bool:
    """The browser's current session of `user` was started lately by the
    organization's current Okta (protocol and issuer: not the Okta it left)."""
    row = current_session(user)
    config = user.organization.sso_config
    return bool(
        row is not None
        and config is not None
        and row.method == f"okta-{config.protocol}"
        and row.okta_issuer is not None
        and row.okta_issuer == current_issuer(config)
        and row.created_at >= utcnow() - RECENT_OKTA
    )


BACKUP_SESSION_REFUSAL = (
    "You signed in with a recovery code: this session cannot make new recovery "
    "codes or link an Okta account (either would outlast its 4 hours). Sign in "
    "through Okta, or ask another owner."
)


def backup_session_problem(user: User) -> str | None:
    """Why the browser's session of `user` may not make recovery codes or link
    an Okta account, or None: a recovery-code session is capped at 4 hours,
    and either would give its holder a way back in after that."""
    row = current_session(user)
    if row is not None and row.method == "backup":
        return BACKUP_SESSION_REFUSAL
    return None


def _owner_linked(org: Organization) -> bool:
    """An active owner has an identity at the organization's current Okta."""
    config = org.sso_config
    assert config is not None
    found = db.session.execute(
        db.select(OktaIdentity.id)
        .join(User, User.id == OktaIdentity.user_id)
        .where(current_identity(config), User.role == "owner", User.status == "active")
        .limit(1)
    ).first()
    return found is not None


def _recovery_path(org: Organization) -> bool:
    """An owner holds saved recovery codes, or an exempt account can sign in
    with its password."""
    if recovery_codes.owners_with_saved_codes(org):
        return True
    return any(user.is_active and user.password_hash for user in exempt_members(org))


def turn_on_problem(org: Organization, owner: User) -> str | None:
    """Why `owner` may not turn the requirement on now, or None."""
    try:
        _check_turn_on(org, owner)
    except Refused as exc:
        return str(exc)
    return None


def _check_turn_on(org: Organization, owner: User) -> None:
    """:raise Refused: the first reason `owner` may not turn it on."""
    problem = require_okta_problem(Actor.of_user(owner))
    if problem:
        raise Refused(problem, 403)
    if is_required(org):
        raise Refused("Okta sign-in is required already.")
    for item in preconditions(org, owner):
        if not item.met:
            raise Refused(f"{item.label}: not yet. {item.how}")


# -- turning on and off -------------------------------------------------------------


def turn_on(org: Organization, owner: User) -> int:
    """Require Okta sign-in; end the password-started sessions it covers; audit,
    commit. Returns how many sessions ended.

    :raise Refused: why not (nothing changes then).
    """
    hold(org)  # a password sign-in in flight opens its session before or not at all
    _check_turn_on(org, owner)
    row = requirement(org)
    if row is None:
        row = OktaRequirement(organization_id=org.id)
        db.session.add(row)
    row.required = True
    row.changed_at = utcnow()
    row.changed_by = owner.email
    ended = end_password_sessions(org)
    void_password_links(org)
    audit.record(
        "settings.okta_required",
        org,
        actor=owner,
        sessions_ended=ended,
        exempt=[user.email for user in exempt_members(org)],
    )
    db.session.commit()
    return ended


def turn_off(org: Organization, actor: User | Actor) -> bool:
    """Stop requiring Okta sign-in (members may use passwords again); audit,
    commit. False when it was not required.

    :raise Refused: when `actor` is not an owner (nor the command line).
    """
    problem = require_okta_problem(Actor.of(actor))
    if problem:
        raise Refused(problem, 403)
    row = requirement(org)
    if row is None or not row.required:
        return False
    row.required = False
    row.changed_at = utcnow()
    row.changed_by = Actor.of(actor).label
    audit.record("settings.okta_not_required", org, actor=actor)
    db.session.commit()
    return True


def reset_refusal(user: User) -> str | None:
    """Why `user` gets no password reset link because of Okta, in words, or None.

    An account without a password whose organization signs in with Okta has no
    password to forget; a member covered by the requirement may not use one.
    """
    if user.password_hash is None and sso_available(user.organization):
        return "not sent: signs in with Okta"
    if not password_allowed(user):
        return "not sent: Okta sign-in required"
    return None
