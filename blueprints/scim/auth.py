"""Who is calling: the API key of a SCIM request, its organization and its role.

Every request: the API key decides the organization (`g.org_id`); the key must
have the scim scope and the authority it needs, and the organization must be on
a paid plan with sync switched on. Otherwise the answer says what to fix.
"""

from __future__ import annotations

import time

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
from core.security import note_api_key_use_by_id

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


def authenticate() -> Response | None:
    """Resolve the API key to the organization, or refuse with what to fix."""
    g.scim_started = time.perf_counter()
    request.max_content_length = current_app.config["SCIM_MAX_BODY_BYTES"]
    secret = bearer_secret()
    if secret is None:
        return error_response(ScimError(401, NO_KEY))
    key = load_key(secret)
    refusal = key_refusal(key)
    if refusal is not None:
        if key is not None and refusal.status == 403:
            # A real key without the authority: show it on the activity page.
            g.api_key_id, g.org_id = key.id, key.organization_id
        return error_response(refusal)
    assert key is not None
    remember(key)
    refusal = organization_refusal(key)
    if refusal is not None:
        return error_response(refusal)
    note_api_key_use_by_id(key.id, key.last_used_at)
    return None


def bearer_secret() -> str | None:
    """The key sent as `Authorization: Bearer <key>` (or `API-Key <key>`)."""
    scheme, _, secret = (
        (request.headers.get("Authorization") or "").strip().partition(" ")
    )
    if scheme.lower() not in ("bearer", "api-key") or not secret.strip():
        return None
    return secret.strip()


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
