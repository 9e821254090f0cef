"""Okta identities of members: unlinking them (linking is core.linking's).

Owners' identities only by owners, and an admin's only by an owner or the admin.
The member's sessions are left alone: a link decides future Okta sign-ins only.
"""

from __future__ import annotations

from core import audit
from core import authority
from core import linking
from core.authority import Actor
from core.extensions import db
from core.models import OktaIdentity
from core.models import User
from core.require_okta import password_signs_in


def remove_identity(actor: Actor | User, identity: OktaIdentity) -> None:
    """Unlink one Okta identity from its member, audit, commit.

    :raise AccountError: if the actor may not.
    """
    user = db.session.get(User, identity.user_id)
    assert user is not None
    _remove_identities(Actor.of(actor), user, [identity])


def remove_all_identities(actor: Actor | User, user: User) -> int:
    """Unlink every Okta identity of `user`, audit, commit; return how many."""
    rows = list(
        db.session.execute(db.select(OktaIdentity).filter_by(user_id=user.id)).scalars()
    )
    _remove_identities(Actor.of(actor), user, rows)
    return len(rows)


def _remove_identities(
    actor: Actor, user: User, identities: list[OktaIdentity]
) -> None:
    fields = {authority.LAST_WAY_IN} if _last_way_in(user, identities) else set()
    authority.check(actor, "remove_identity", user, fields=fields)
    for identity in identities:
        audit.record(
            "okta.identity_removed",
            user.organization_id,
            actor=actor,
            target=user.email,
            protocol=identity.protocol,
            issuer=identity.issuer,
            subject=identity.subject,
        )
        db.session.delete(identity)
    db.session.commit()


def _last_way_in(user: User, identities: list[OktaIdentity]) -> bool:
    """Whether removing `identities` leaves `user` without a password that
    signs in (core.require_okta) and without an identity at the organization's
    current Okta, having had one."""
    config = user.organization.sso_config
    if config is None or password_signs_in(user):
        return False
    current = set(
        db.session.execute(
            db.select(OktaIdentity.id).where(
                linking.current_identity(config), OktaIdentity.user_id == user.id
            )
        ).scalars()
    )
    removed = {identity.id for identity in identities}
    return bool(current & removed) and not current - removed
