"""Who is calling: the API key of a SCIM request, its organization and its role.

Every request: the API key decides the organization (`g.org_id`); the key must
have the scim scope and the authority it needs, and the organization must be on
a paid plan with sync switched on. Otherwise the answer says what to fix.

A 401 is left on `g.scim_unauthorized` for `activity.record_unauthorized`,
which counts it (bounded); a key whose secret matched is left on
`g.scim_key_seen`, whose use `activity.note_key_use` writes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from flask import Response
from flask import current_app
from flask import g
from flask import request
from sqlalchemy import Row

from blueprints.scim.errors import ScimError
from blueprints.scim.http import error_response
from core.authority import Actor
from core.extensions import db
from core.models import PAID_PLANS
from core.models import ApiKey
from core.models import Organization
from core.models import SsoConfig
from core.models import User
from core.security import hash_token
from core.security import key_problem

NO_KEY = (
    "Send the API key as 'Authorization: Bearer <key>'. Create a key with "
    "the scim scope in Gatehouse under API keys."
)
FREE_PLAN = (
    "Organization {org} is on the Free plan; SCIM provisioning needs Pro or Enterprise."
)
SYNC_OFF = (
    "SCIM provisioning is switched off for this organization. An admin can "
    "turn on 'Sync the groups & users from your SSO provider' in Settings."
)


@dataclass(frozen=True)
class Unauthorized:
    """A 401, for the counted record of refusals (`activity.record_unauthorized`).

    `organization_id` and `key_id` are set only when the secret matched a key
    (revoked, its holder deactivated, or sent with the wrong scheme).
    """

    organization_id: int | None
    key_id: int | None
    prefix: str
    reason: str


def authenticate() -> Response | None:
    """Resolve the API key to the organization, or refuse with what to fix."""
    g.scim_started = time.perf_counter()
    request.max_content_length = current_app.config["SCIM_MAX_BODY_BYTES"]
    scheme_ok, secret = presented_secret()
    key = load_key(secret) if secret else None
    if key is not None:
        # Its secret matched: a use of the key, whatever the answer (written
        # once, with the request's activity: activity.note_key_use).
        g.scim_key_seen = (key.id, key.last_used_at)
    if not scheme_ok:
        g.scim_unauthorized = unauthorized(key, "wrong_scheme" if secret else "no_key")
        return error_response(ScimError(401, NO_KEY))
    refusal = key_refusal(key)
    if refusal is not None:
        if refusal.status == 401:
            g.scim_unauthorized = unauthorized(key, refusal_reason(key))
        elif key is not None:
            # A real key without the authority: show it on the activity page.
            g.api_key_id, g.org_id = key.id, key.organization_id
        return error_response(refusal)
    assert key is not None
    remember(key)
    return error_response(refusal) if (refusal := organization_refusal(key)) else None


def presented_secret() -> tuple[bool, str | None]:
    """Whether the scheme is right, and the key the header carries.

    `Authorization: Bearer <key>` (or `API-Key <key>`) is right. Any other
    scheme, or a bare key, is refused, but the key it carries is still looked
    up, so a real key sent the wrong way is counted against its organization.
    """
    header = (request.headers.get("Authorization") or "").strip()
    scheme, _, rest = header.partition(" ")
    if scheme.lower() in ("bearer", "api-key"):
        return bool(rest.strip()), rest.strip() or None
    return False, (rest.strip() or scheme) or None


def refusal_reason(key: Row | None) -> str:
    """Why a presented key is a 401: unknown, revoked, or its holder left."""
    if key is None:
        return "unknown_key"
    return "revoked" if key.revoked_at is not None else "holder_inactive"


def unauthorized(key: Row | None, reason: str) -> Unauthorized:
    """What a 401 leaves for `activity.record_unauthorized`.

    Attributed to an organization only when the secret matched one of its
    keys; a key nobody has, or no key, names no organization.
    """
    if key is None:
        return Unauthorized(None, None, "", reason)
    return Unauthorized(key.organization_id, key.id, key.prefix, reason)


def key_refusal(key: Row | None) -> ScimError | None:
    """Why this key may not use SCIM (unknown, revoked, no scope, no authority)."""
    personal = key is not None and key.user_id is not None
    problem = key_problem(
        found=key is not None,
        revoked=key is not None and key.revoked_at is not None,
        personal=personal,
        holder=key.holder_email if key is not None else None,
        holder_role=key.holder_role if key is not None else None,
        user_active=None if not personal else key.user_status == "active",
        org_key_role=key.role if key is not None else None,
        scopes=key.scopes.split() if key is not None else [],
        scope="scim",
    )
    return ScimError(problem.status, problem.detail) if problem else None


def remember(key: Row) -> None:
    """Keep who is calling for the request's views and its activity row."""
    # Plain values, not ORM objects: they survive a rollback, and loading four
    # ORM objects on every request cost more than the rest of a lookup.
    g.api_key_id, g.api_key_prefix, g.org_id = key.id, key.prefix, key.organization_id
    g.default_role = key.default_role or "member"
    personal = key.user_id is not None
    # The key acts with its holder's role now (personal) or its own (organization).
    g.actor = Actor(
        "key",
        key.holder_role if personal else key.role,
        key.organization_id,
        key.user_id,
        f"api key {key.prefix}…",
        creator_id=None if personal else key.created_by_id,
    )


def organization_refusal(key: Row) -> ScimError | None:
    """Why the key's organization may not use SCIM (plan, sync switched off)."""
    if key.plan not in PAID_PLANS:
        return ScimError(403, FREE_PLAN.format(org=key.org_name))
    if not key.scim_enabled:
        return ScimError(403, SYNC_OFF)
    return None


def load_key(secret: str) -> Row | None:
    """The key for `secret` with what authentication needs, in one query."""
    if len(secret) > 200:
        return None
    return db.session.execute(
        _KEY_QUERY.where(ApiKey.secret_hash == hash_token(secret))
    ).one_or_none()


_KEY_QUERY = (
    db.select(
        ApiKey.id,
        ApiKey.organization_id,
        ApiKey.prefix,
        ApiKey.revoked_at,
        ApiKey.scopes,
        ApiKey.last_used_at,
        ApiKey.user_id,
        ApiKey.created_by_id,
        ApiKey.role,
        User.status.label("user_status"),
        User.role.label("holder_role"),
        User.email.label("holder_email"),
        Organization.name.label("org_name"),
        Organization.plan,
        SsoConfig.scim_enabled,
        SsoConfig.default_role,
    )
    .join(Organization, Organization.id == ApiKey.organization_id)
    .outerjoin(SsoConfig, SsoConfig.organization_id == ApiKey.organization_id)
    .outerjoin(User, User.id == ApiKey.user_id)
)
