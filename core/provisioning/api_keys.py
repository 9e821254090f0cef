"""API keys: creating and revoking them (authentication is core.security's)."""

from __future__ import annotations

from core import audit
from core import authority
from core.authority import AccountError
from core.authority import Actor
from core.extensions import db
from core.key_authority import key_creation_problem
from core.models import ApiKey
from core.models import Organization
from core.models import User
from core.models import utcnow
from core.security import SCOPES
from core.security import hash_token
from core.security import new_api_key_secret


def _check_key_request(
    org: Organization,
    *,
    name: str,
    scopes: list[str],
    user: User | None,
    actor: User | str,
    role: str | None,
) -> None:
    """Refuse a key that may not be created, in the order the errors are told.

    :raise AccountError: on an empty name, an unknown scope, or a key the actor
        may not create (core.authority).
    """
    if not name or len(name) > 100:
        raise AccountError("Give the key a name of 1 to 100 characters.")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise AccountError(f"Scopes must be chosen from: {', '.join(SCOPES)}.")
    who = Actor.of_user(actor) if isinstance(actor, User) else Actor.command_line()
    if user is not None and isinstance(actor, User) and user.id != actor.id:
        raise AccountError("A personal key can only be created by its holder.")
    if who.organization_id not in (None, org.id):
        raise AccountError("That organization is not yours.")
    problem = key_creation_problem(
        Actor.of_user(user) if user is not None else who,
        scopes=list(scopes),
        personal=user is not None,
        role=role,
    )
    if problem:
        raise authority.NotAllowed(problem)


def create_api_key(
    org: Organization,
    *,
    name: str,
    scopes: list[str],
    user: User | None = None,
    actor: User | str,
    role: str | None = None,
) -> tuple[ApiKey, str]:
    """Create an organization key (no `user`) or a personal key, audit, commit.

    A personal key belongs to `actor` (the signed-in person); an organization
    key acts with `role` ("admin" by default, or "owner"), never above its
    creator's role.
    `actor` "cli" is the server administrator. Returns the key and its secret;
    the secret exists nowhere else afterwards.
    :raise AccountError: on an empty name, an unknown scope, or a key the actor
        may not create (core.authority).
    """
    name = name.strip()
    if user is None and role is None:
        role = "admin"  # the least an organization key for SCIM can act as
    _check_key_request(org, name=name, scopes=scopes, user=user, actor=actor, role=role)
    secret = new_api_key_secret()
    key = ApiKey(
        organization=org,
        user=user,
        created_by_id=actor.id if isinstance(actor, User) else None,
        created_by_label=actor.email if isinstance(actor, User) else "command line",
        role=None if user is not None else role,
        name=name,
        prefix=secret[:10],
        secret_hash=hash_token(secret),
        scopes=" ".join(sorted(set(scopes))),
    )
    db.session.add(key)
    audit.record(
        "api_key.created",
        org,
        actor=actor,
        target=f"{name} ({key.prefix}…)",
        key_kind="personal" if user else "organization",
        scopes=key.scopes,
        **({"acts_as": role} if user is None else {}),
    )
    db.session.commit()
    return key, secret


def revoke_api_key(key: ApiKey, *, actor: User) -> None:
    """Revoke a key for good, audit, commit."""
    if key.revoked_at is not None:
        return
    key.revoked_at = utcnow()
    audit.record(
        "api_key.revoked",
        key.organization_id,
        actor=actor,
        target=f"{key.name} ({key.prefix}…)",
    )
    db.session.commit()
