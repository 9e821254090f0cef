"""The sweep of requiring Okta sign-in: ending the password sessions and
spending the password links of the members it covers.

Low in the layers (models only), so that both `core.require_okta` (turning it
on, changing the exempt accounts) and `core.sso_rollout` (turning Okta sign-in
back on while it is required) can run it in their own transaction.

The requirement counts only while Okta sign-in is on (`core.require_okta.
is_required`): turning Okta off suspends it and members may use passwords
meanwhile. Turning Okta back on applies it again (`apply_again`): the password
sessions and unused reset links of that gap must not outlive it.
"""

from __future__ import annotations

from core.extensions import db
from core.models import OktaExemption
from core.models import OktaRequirement
from core.models import Organization
from core.models import PasswordToken
from core.models import User
from core.models import UserSession
from core.models import utcnow

# Sessions a password started ("setup" is the first owner's password at
# setup); NULL (sessions from before migration 0012) and "" (what an earlier
# restart_session wrote for those after a password change) count as one too:
# their origin is unknown, so the sweep ends them.
PASSWORD_METHODS = ("password", "setup", "")


def requirement_set(org: Organization) -> bool:
    """Whether the organization's requirement is set, Okta sign-in on or not."""
    row = db.session.get(OktaRequirement, org.id)
    return bool(row and row.required)


def covered_ids(org: Organization):  # type: ignore[no-untyped-def]
    """A subquery: ids of the organization's members that are not exempt."""
    exempt = db.select(OktaExemption.user_id).where(
        OktaExemption.organization_id == org.id
    )
    return db.select(User.id).where(
        User.organization_id == org.id, User.id.not_in(exempt)
    )


def password_started():  # type: ignore[no-untyped-def]
    """A where-clause: sessions a password started (or of unknown origin: NULL
    or "")."""
    return UserSession.method.in_(PASSWORD_METHODS) | UserSession.method.is_(None)


def end_password_sessions(org: Organization) -> int:
    """Revoke every live password-started session of the members the
    requirement covers (not committed); return how many."""
    result = db.session.execute(
        db.update(UserSession)
        .where(
            UserSession.user_id.in_(covered_ids(org)),
            UserSession.revoked_at.is_(None),
            password_started(),
        )
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def void_password_links(org: Organization) -> int:
    """Spend the unused password links (resets, invitations) of the members the
    requirement covers (not committed): one emailed earlier must not outlive
    it. Returns how many."""
    result = db.session.execute(
        db.update(PasswordToken)
        .where(
            PasswordToken.user_id.in_(covered_ids(org)), PasswordToken.used_at.is_(None)
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def apply_again(org: Organization) -> int | None:
    """Okta sign-in is on again: if the requirement is set, end the password
    sessions and spend the password links of the gap (not committed).

    Returns how many sessions ended, or None when Okta is not required.
    """
    if not requirement_set(org):
        return None
    void_password_links(org)
    return end_password_sessions(org)
