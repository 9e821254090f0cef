"""The way back in while Okta sign-in is required: the exempt accounts, and
the rule that no change removes the last way back in.

A way back in is an owner holding recovery codes they confirmed saving, or an
exempt account that can sign in with its password (active, with a password);
turning the requirement on needs one (`core.require_okta.preconditions`).
While it is required, nobody at a page may remove the last one: clearing or
changing the exempt accounts (`set_exemptions`), deactivating or deleting
the only exempt account, or deactivating, demoting or deleting the only owner
with saved codes (`removal_problem`, asked by `core.provisioning.users`).
Okta itself (SCIM deprovisioning) and the command line still may: a person
who left must lose their account, and the operator has `flask sso require
--off`.

Each check holds the organization's lock (`core.require_okta.hold`), so two
changes at once cannot each remove one of the last two ways back in.
"""

from __future__ import annotations

from core import audit
from core import require_okta
from core.authority import AccountError
from core.authority import Actor
from core.extensions import db
from core.models import OktaExemption
from core.models import Organization
from core.models import RecoveryCode
from core.models import User
from core.models import email_fold
from core.okta_sweep import end_password_sessions
from core.okta_sweep import void_password_links
from core.sso_authority import require_okta_problem

NO_WAY_BACK = (
    "Okta sign-in is required, and this would leave no way back in if Okta "
    "fails: {what}. First name another exempt account that has a password, or "
    "have an owner generate and save recovery codes (or stop requiring Okta "
    "sign-in)."
)


def ways_back_in(
    org: Organization,
    *,
    without: User | None = None,
    exempt: list[User] | None = None,
    keeps_exemption: bool = False,
) -> int:
    """How many ways back in `org` has: owners with saved codes, plus exempt
    accounts that can sign in with a password.

    `without`: as if this account lost them (its codes, and its exemption
    unless `keeps_exemption`: a demoted owner stays exempt); `exempt`: with
    these accounts exempt instead of the current ones.
    """
    codes = db.select(db.func.count(db.distinct(RecoveryCode.user_id))).join(
        User, User.id == RecoveryCode.user_id
    )
    codes = codes.where(
        RecoveryCode.organization_id == org.id,
        RecoveryCode.used_at.is_(None),
        RecoveryCode.confirmed_at.is_not(None),
        User.role == "owner",
        User.status == "active",
    )
    if without is not None:
        codes = codes.where(User.id != without.id)
    accounts = require_okta.exempt_members(org) if exempt is None else exempt
    lost = without.id if without is not None and not keeps_exemption else None
    exempt_ways = sum(
        1
        for user in accounts
        if user.is_active and user.password_hash and user.id != lost
    )
    return db.session.execute(codes).scalar_one() + exempt_ways


class NoWayBackIn(AccountError):
    """The change would leave an organization that requires Okta sign-in
    without a way back in (HTTP 409)."""


def check_removal(
    actor: Actor, user: User, *, status: str | None = None, role: str | None = None
) -> None:
    """Raise why `actor` may not make this change to `user` (`removal_problem`).

    :raise NoWayBackIn: it would take the last way back in.
    """
    problem = removal_problem(actor, user, status=status, role=role)
    if problem:
        raise NoWayBackIn(problem)


def removal_problem(
    actor: Actor, user: User, *, status: str | None = None, role: str | None = None
) -> str | None:
    """Why `actor` may not deactivate (`status`), demote (`role`) or delete
    (neither) `user` now, or None: while Okta is required, it would take the
    organization's last way back in.

    The command line and API keys (Okta's SCIM deprovisioning) are not asked.
    Holds the organization's lock when it asks (the caller commits).
    """
    if actor.kind != "user":
        return None
    if status == "active" or (role is not None and role == "owner"):
        return None
    org = user.organization
    if not require_okta.is_required(org):
        return None
    require_okta.hold(org)
    after = ways_back_in(org, without=user, keeps_exemption=role is not None)
    if after or not ways_back_in(org):
        return None
    return NO_WAY_BACK.format(what=f"{user.email} is the last one")


def set_exemptions(org: Organization, emails: list[str], actor: User | Actor) -> None:
    """Make exactly these accounts (by email) the exempt ones; audit, commit.

    Each must be an active member of `org`; at most MAX_EXEMPT. While Okta is
    required, an account that stops being exempt loses its password sessions
    and unused password links, and the change may not leave the organization
    without a way back in.
    :raise Refused: why not (nothing changes then).
    """
    problem = require_okta_problem(Actor.of(actor))
    if problem:
        raise require_okta.Refused(problem, 403)
    users = _exempt_candidates(org, emails)
    required = require_okta.is_required(org)
    if required:
        require_okta.hold(org)
        if not ways_back_in(org, exempt=users) and ways_back_in(org):
            what = "no exempt account could sign in, and no owner saved codes"
            raise require_okta.Refused(NO_WAY_BACK.format(what=what))
    db.session.execute(db.delete(OktaExemption).filter_by(organization_id=org.id))
    db.session.add_all(
        OktaExemption(organization_id=org.id, user_id=user.id) for user in users
    )
    db.session.flush()
    ended = end_password_sessions(org) if required else 0
    if required:
        void_password_links(org)  # a reset link of an account no longer exempt
    audit.record(
        "settings.okta_exemptions_changed",
        org,
        actor=actor,
        exempt=[user.email for user in users],
        sessions_ended=ended,
    )
    db.session.commit()


def _exempt_candidates(org: Organization, emails: list[str]) -> list[User]:
    """The active members of `org` with these emails, in order, without repeats.

    :raise Refused: too many, or one is not an active member of `org` (the
        same words whether the email has an account elsewhere or nowhere).
    """
    wanted: dict[str, str] = {}
    for email in (email.strip() for email in emails):
        if email and len(email) <= 320:
            wanted.setdefault(email_fold(email), email)
    if len(wanted) > require_okta.MAX_EXEMPT:
        raise require_okta.Refused(
            f"At most {require_okta.MAX_EXEMPT} exempt accounts.", 400
        )
    found = {
        user.email_key: user
        for user in db.session.execute(
            db.select(User).where(
                User.organization_id == org.id, User.email_key.in_(list(wanted))
            )
        ).scalars()
    }
    for key, email in wanted.items():
        user = found.get(key)
        if user is None or not user.is_active:
            raise require_okta.Refused(
                f"{email} is not an active member of {org.name}.", 400
            )
    return [found[key] for key in wanted]
