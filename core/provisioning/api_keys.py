"""API keys: creating and revoking them (authentication is core.security's).

A live key's name is unique among its owner's live keys, case-insensitively:
an organization key's among the organization's, a personal key's among its
holder's. The unique indexes on `name_key` decide (core/models/keys.py), so
two people creating "Okta" at once get one key and one clear refusal.

A new key's secret is shown once, on the page its creation redirects to: it
waits for that page in `api_key_reveal`, encrypted with a key derived from the
creator's session token (which the database does not hold), and the first
display deletes it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken
from sqlalchemy.exc import IntegrityError

from core import audit
from core import authority
from core.authority import AccountError
from core.authority import Actor
from core.authority import Conflict
from core.extensions import db
from core.key_authority import key_creation_problem
from core.models import ApiKey
from core.models import ApiKeyReveal
from core.models import Organization
from core.models import User
from core.models import fold
from core.models import utcnow
from core.security import SCOPES
from core.security import hash_token
from core.security import new_api_key_secret

NAME_LENGTH = 100
# How long a new secret waits for the page that shows it (the redirect is
# followed at once; this only bounds what an unfollowed one leaves behind).
REVEAL_LIFETIME = timedelta(minutes=10)
_REVEAL_LABEL = b"gatehouse api key reveal v1"


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
    if not name or len(name) > NAME_LENGTH:
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


def name_taken_message(name: str, *, personal: bool) -> str:
    """What a person is told when the key's owner already has a live key so named."""
    owner = "You already have" if personal else "This organization already has"
    return f"{owner} a key named “{name}”. Choose another name."


def numbered_name(name: str, number: int) -> str:
    """`name (number)`, the name shortened so the whole fits a key name."""
    suffix = f" ({number})"
    return name[: NAME_LENGTH - len(suffix)].rstrip() + suffix


def unused_org_key_name(org: Organization, name: str) -> str:
    """`name`, or the first of "name (2)", "name (3)"... no live organization
    key of `org` has (for `flask apikey create` without --name)."""
    taken = set(
        db.session.execute(
            db.select(ApiKey.name_key).filter_by(
                organization_id=org.id, user_id=None, revoked_at=None
            )
        ).scalars()
    )
    candidate, number = name, 1
    while fold(candidate) in taken:
        number += 1
        candidate = numbered_name(name, number)
    return candidate


def create_api_key(
    org: Organization,
    *,
    name: str,
    scopes: list[str],
    user: User | None = None,
    actor: User | str,
    role: str | None = None,
    reveal_to_session: str | None = None,
) -> tuple[ApiKey, str]:
    """Create an organization key (no `user`) or a personal key, audit, commit.

    A personal key belongs to `actor` (the signed-in person); an organization
    key acts with `role` ("admin" by default, or "owner"), never above its
    creator's role.
    `actor` "cli" is the server administrator. Returns the key and its secret.
    With `reveal_to_session` (the creator's session token), the secret is also
    kept for `take_new_secret` to show once; otherwise it exists nowhere else.
    :raise Conflict: when the owner already has a live key of that name.
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
        role=None if user is not None else role,
        name=name,
        prefix=secret[:10],
        secret_hash=hash_token(secret),
        scopes=" ".join(sorted(set(scopes))),
        **_creator(actor),
    )
    _insert(key, personal=user is not None)
    if reveal_to_session is not None:
        _keep_for_display(key, secret, reveal_to_session)
    _record_creation(key, actor)
    db.session.commit()
    return key, secret


def _record_creation(key: ApiKey, actor: User | str) -> None:
    """The audit event of a new key (what it is, never its secret)."""
    audit.record(
        "api_key.created",
        key.organization_id,
        actor=actor,
        target=f"{key.name} ({key.prefix}…)",
        key_kind="personal" if key.is_personal else "organization",
        scopes=key.scopes,
        **({} if key.is_personal else {"acts_as": key.role}),
    )


def _creator(actor: User | str) -> dict[str, int | str | None]:
    """Who made a key, as its row records it (the label outlives the person)."""
    if isinstance(actor, User):
        return {"created_by_id": actor.id, "created_by_label": actor.email}
    return {"created_by_id": None, "created_by_label": "command line"}


def _insert(key: ApiKey, *, personal: bool) -> None:
    """Add `key` and flush: its owner's name index accepts it or it is refused.

    :raise Conflict: (everything rolled back) when the owner has a live key
        whose name folds the same; a concurrent creation is refused here too.
    """
    name = key.name
    db.session.add(key)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        if "name_key" not in str(exc.orig):
            raise
        raise Conflict(name_taken_message(name, personal=personal)) from exc


def _reveal_cipher(session_token: str) -> Fernet:
    """The cipher of a session's pending secrets: its key is derived from the
    session token, which only the browser holds (the database has its SHA-256)."""
    digest = hmac.new(session_token.encode(), _REVEAL_LABEL, hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _keep_for_display(key: ApiKey, secret: str, session_token: str) -> None:
    """Keep `secret` for one display to `session_token`'s browser (not committed)."""
    db.session.execute(
        db.delete(ApiKeyReveal).where(ApiKeyReveal.expires_at <= utcnow())
    )
    db.session.add(
        ApiKeyReveal(
            api_key_id=key.id,
            session_hash=hash_token(session_token),
            ciphertext=_reveal_cipher(session_token).encrypt(secret.encode()).decode(),
            expires_at=utcnow() + REVEAL_LIFETIME,
        )
    )


def take_new_secret(key_id: int, session_token: str) -> str | None:
    """The secret of a key this session just created, once; then None forever.

    The row is deleted whether or not it can still be read, and commit; of two
    requests racing for it, only the one whose delete removed it shows it.
    """
    session_hash = hash_token(session_token)
    ciphertext = db.session.execute(
        db.select(ApiKeyReveal.ciphertext).filter(
            ApiKeyReveal.api_key_id == key_id,
            ApiKeyReveal.session_hash == session_hash,
            ApiKeyReveal.expires_at > utcnow(),
        )
    ).scalar_one_or_none()
    taken = db.session.execute(
        db.delete(ApiKeyReveal).filter_by(api_key_id=key_id, session_hash=session_hash)
    )
    db.session.commit()
    if ciphertext is None or taken.rowcount != 1:
        return None
    try:
        return _reveal_cipher(session_token).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        return None


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
