"""Who requiring Okta sign-in affects, before anything changes (and who turning
it off affects).

Every list is read with a bounded number of queries whatever the size of the
organization: a count and the first `LIMIT` rows of each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.extensions import db
from core.linking import current_identity
from core.models import ApiKey
from core.models import OktaExemption
from core.models import OktaIdentity
from core.models import Organization
from core.models import User
from core.models import UserSession
from core.models import utcnow
from core.okta_sweep import covered_ids
from core.okta_sweep import password_started
from core.require_okta import exempt_members

# Rows shown per list (the count is always the whole).
LIMIT = 50


@dataclass(frozen=True)
class Listing:
    """The first rows of a list and how many there are in all."""

    total: int
    rows: list[Any]

    @property
    def more(self) -> int:
        """How many are not shown."""
        return max(0, self.total - len(self.rows))


@dataclass(frozen=True)
class Preview:
    """Who requiring Okta sign-in affects.

    linked: active members linked to the organization's Okta (they sign in as
    today); unlinked: active, not exempt, not linked (refused until they link);
    scim_never: accounts SCIM made that never signed in (Okta lets them in);
    exempt: the exempt accounts; sessions: live password-started sessions that
    end (with `session_members`, whose); personal_keys: live personal API keys,
    which keep working.
    """

    linked: Listing
    unlinked: Listing
    scim_never: Listing
    exempt: list[User]
    sessions: int
    session_members: Listing
    personal_keys: Listing


def _listing(query: Any, order: Any) -> Listing:
    """Count `query`'s rows and read the first LIMIT of them in `order`."""
    total = db.session.execute(
        db.select(db.func.count()).select_from(query.order_by(None).subquery())
    ).scalar_one()
    rows = list(db.session.execute(query.order_by(order).limit(LIMIT)).scalars())
    return Listing(total, rows)


def _active(org: Organization) -> Any:
    return db.select(User).where(
        User.organization_id == org.id, User.status == "active"
    )


def preview(org: Organization) -> Preview:
    """What turning the requirement on would do now (changes nothing)."""
    config = org.sso_config
    linked_ids = (
        db.select(OktaIdentity.user_id).where(current_identity(config))
        if config is not None
        else db.select(OktaIdentity.user_id).where(db.false())
    )
    exempt_ids = db.select(OktaExemption.user_id).where(
        OktaExemption.organization_id == org.id
    )
    live_sessions = db.select(UserSession.user_id).where(
        UserSession.user_id.in_(covered_ids(org)),
        UserSession.revoked_at.is_(None),
        UserSession.expires_at > utcnow(),
        password_started(),
    )
    sessions = db.session.execute(
        db.select(db.func.count()).select_from(live_sessions.subquery())
    ).scalar_one()
    return Preview(
        linked=_listing(_active(org).where(User.id.in_(linked_ids)), User.email_key),
        unlinked=_listing(
            _active(org).where(User.id.not_in(linked_ids), User.id.not_in(exempt_ids)),
            User.email_key,
        ),
        scim_never=_listing(
            _active(org).where(User.scim_managed, User.last_sign_in_at.is_(None)),
            User.email_key,
        ),
        exempt=exempt_members(org),
        sessions=sessions,
        session_members=_listing(
            _active(org).where(User.id.in_(live_sessions)), User.email_key
        ),
        personal_keys=_listing(
            db.select(ApiKey)
            .join(User, User.id == ApiKey.user_id)
            .where(
                ApiKey.organization_id == org.id,
                ApiKey.revoked_at.is_(None),
                User.status == "active",
            ),
            ApiKey.id,
        ),
    )


@dataclass(frozen=True)
class TurnOffEffect:
    """Turning the requirement off: `passwords` members with a password may
    sign in with it again (and reset it); the exempt accounts stay named."""

    passwords: int
    exempt: int


def turn_off_effect(org: Organization) -> TurnOffEffect:
    """What stopping the requirement would change."""
    exempt_ids = db.select(OktaExemption.user_id).where(
        OktaExemption.organization_id == org.id
    )
    passwords = db.session.execute(
        db.select(db.func.count())
        .select_from(User)
        .where(
            User.organization_id == org.id,
            User.status == "active",
            User.password_hash.is_not(None),
            User.id.not_in(exempt_ids),
        )
    ).scalar_one()
    exempt = db.session.execute(
        db.select(db.func.count()).select_from(exempt_ids.subquery())
    ).scalar_one()
    return TurnOffEffect(passwords, exempt)
