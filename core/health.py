"""The health panel of one organization: is Okta sign-in and provisioning working?

Read-only facts for owners and admins (Settings and OKTA AUTHENTICATION show
them): SSO and SCIM status, the last Okta sign-in and the last refusal (with
its reference), the SAML certificates' expiry, the last SCIM request, SCIM
errors in the last 24 hours including 401s, and the keys with their creator
and last use.

A fixed number of queries (QUERIES), whatever the number of audit rows,
requests, keys or members: each reads one row or an aggregate through the
organization's indexes, and every query filters on `organization_id`.

401s come from `scim.unauthorized` audit rows, counted per key, reason and
window (blueprints/scim/activity.py): a row's `repeat_count` occurrences fall
between its `created_at` and `last_at`, so "in 24 hours" counts the rows whose
latest occurrence is that recent (at most one window's worth of older ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from core.extensions import db
from core.models import PAID_PLANS
from core.models import ApiKey
from core.models import AuditEvent
from core.models import Organization
from core.models import ScimRequest
from core.models import SsoConfig
from core.models import utcnow
from core.saml_metadata import CertificateFacts
from core.saml_metadata import certificate_facts

# The audit kind of a counted SCIM 401 (written by blueprints/scim/activity.py).
SCIM_UNAUTHORIZED = "scim.unauthorized"
OKTA_METHODS = ("okta-oidc", "okta-saml")
PROTOCOL_OF_METHOD = {"okta-oidc": "OIDC", "okta-saml": "SAML"}
# Why a SCIM request was a 401, as the panel says it.
UNAUTHORIZED_REASONS = {
    "revoked": "revoked key",
    "holder_inactive": "key of a deactivated member",
    "wrong_scheme": "key sent without 'Bearer'",
    "unknown_key": "unknown key",
    "no_key": "no key",
}
# The OIDC `error` codes Okta sends back, as the panel says them. Anyone can
# send any `error` to /okta/callback, so any other code is shown as
# OKTA_UNKNOWN_ERROR (the audit row keeps what was sent).
OKTA_ERROR_PREFIX = "Okta returned "
OKTA_ERROR_WORDS = {
    "access_denied": "access denied (not assigned to the app, or a sign-on policy)",
    "login_required": "login required (sign in to Okta again)",
    "consent_required": "consent required (the app asks for user consent)",
    "interaction_required": "interaction required (sign in to Okta again)",
    "invalid_client": "invalid client (check the client ID)",
    "invalid_request": "invalid request",
    "invalid_scope": "invalid scope (the app does not allow a scope asked for)",
    "unauthorized_client": "unauthorized client (check the app's grant types)",
    "unsupported_response_type": "unsupported response type",
    "server_error": "server error (Okta's side)",
    "temporarily_unavailable": "temporarily unavailable (Okta's side)",
}
OKTA_UNKNOWN_ERROR = "Okta returned an unrecognised error"
KEYS_SHOWN = 10
ERROR_WINDOW = timedelta(hours=24)
# How many statements `health_of` runs (tests/test_health_panel.py counts them).
QUERIES = 7


@dataclass(frozen=True)
class SignIn:
    """The last successful Okta sign-in."""

    who: str
    at: datetime
    protocol: str


@dataclass(frozen=True)
class Refusal:
    """The last refused Okta sign-in; `count` > 1 for a counted row."""

    at: datetime
    reason: str
    protocol: str
    reference: str | None
    count: int


@dataclass(frozen=True)
class ScimCall:
    """The last SCIM request the provisioning activity recorded."""

    at: datetime
    method: str
    path: str
    status: int
    key: str


@dataclass(frozen=True)
class Unauthorized:
    """The last counted SCIM 401: when, which key, why, how often that window."""

    at: datetime
    key: str
    reason: str
    count: int


@dataclass(frozen=True)
class KeyFacts:
    """A key as the panel lists it."""

    name: str
    prefix: str
    creator: str
    scopes: str
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def used_after_revocation(self) -> bool:
        """Someone still sends this revoked key (its use is refused)."""
        return bool(
            self.revoked_at
            and self.last_used_at
            and self.last_used_at > self.revoked_at
        )


@dataclass(frozen=True)
class Health:
    """Everything the panel shows for one organization."""

    paid: bool
    sso: str  # "off", "saved" (saved, not on for members) or "on"
    protocol: str | None  # the protocol that is on (or saved), upper case
    scim_on: bool
    last_sign_in: SignIn | None
    last_refusal: Refusal | None
    certificates: list[CertificateFacts]
    last_scim: ScimCall | None
    scim_requests_24h: int
    scim_errors_24h: int  # 4xx and 5xx in the activity log, 401s not included
    scim_unauthorized_24h: int
    last_unauthorized: Unauthorized | None
    keys: list[KeyFacts]

    @property
    def scim_failures_24h(self) -> int:
        """Every failed SCIM request of the last 24 hours, 401s included."""
        return self.scim_errors_24h + self.scim_unauthorized_24h


def health_of(organization_id: int) -> Health:
    """The health panel of the organization (QUERIES statements)."""
    plan, config = _organization(organization_id)
    sso, protocol = sso_status(config)
    requests_24h, errors_24h, unauthorized_24h = _scim_counts(organization_id)
    return Health(
        paid=plan in PAID_PLANS,
        sso=sso,
        protocol=protocol,
        scim_on=bool(config and config.scim_enabled),
        last_sign_in=_last_sign_in(organization_id),
        last_refusal=_last_refusal(organization_id),
        certificates=saml_certificates(config),
        last_scim=_last_scim(organization_id),
        scim_requests_24h=requests_24h,
        scim_errors_24h=errors_24h,
        scim_unauthorized_24h=unauthorized_24h,
        last_unauthorized=_last_unauthorized(organization_id),
        keys=_keys(organization_id),
    )


def sso_status(config: SsoConfig | None) -> tuple[str, str | None]:
    """("on", protocol), ("saved", protocol) or ("off", None)."""
    if config is None:
        return "off", None
    if config.okta_enabled:
        return "on", config.protocol.upper()
    saved = [p for p in (config.protocol, "oidc", "saml") if config.is_saved(p)]
    return ("saved", saved[0].upper()) if saved else ("off", None)


def saml_certificates(config: SsoConfig | None) -> list[CertificateFacts]:
    """The saved SAML signing certificates, soonest expiry first."""
    if config is None or not config.is_saved("saml"):
        return []
    facts = [certificate_facts(cert) for cert in config.saml_certificates or []]
    return sorted(facts, key=lambda cert: cert.not_after)


def _organization(organization_id: int) -> tuple[str | None, SsoConfig | None]:
    row = db.session.execute(
        db.select(Organization.plan, SsoConfig)
        .outerjoin(SsoConfig, SsoConfig.organization_id == Organization.id)
        .where(Organization.id == organization_id)
    ).one_or_none()
    return (row[0], row[1]) if row is not None else (None, None)


def _method() -> Any:
    return AuditEvent.details["method"].as_string()


def _latest(kind: str, organization_id: int) -> Any:
    """The organization's events of `kind`, latest occurrence first."""
    return (
        db.select(AuditEvent)
        .where(AuditEvent.organization_id == organization_id)
        .where(AuditEvent.kind == kind)
        .order_by(
            db.func.coalesce(AuditEvent.last_at, AuditEvent.created_at).desc(),
            AuditEvent.id.desc(),
        )
        .limit(1)
    )


def _last_sign_in(organization_id: int) -> SignIn | None:
    event = db.session.execute(
        db.select(AuditEvent)
        .where(AuditEvent.organization_id == organization_id)
        .where(AuditEvent.kind == "sign_in.succeeded")
        .where(_method().in_(OKTA_METHODS))
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if event is None:
        return None
    method = str(event.details.get("method", ""))
    return SignIn(event.actor, event.created_at, PROTOCOL_OF_METHOD.get(method, ""))


def _last_refusal(organization_id: int) -> Refusal | None:
    event = db.session.execute(
        _latest("sign_in.refused", organization_id).where(_method().in_(OKTA_METHODS))
    ).scalar_one_or_none()
    if event is None:
        return None
    details = event.details if isinstance(event.details, dict) else {}
    reference = details.get("reference")
    return Refusal(
        at=event.last_at or event.created_at,
        reason=refusal_words(str(details.get("reason", ""))),
        protocol=PROTOCOL_OF_METHOD.get(str(details.get("method", "")), ""),
        reference=reference if isinstance(reference, str) else None,
        count=event.repeat_count or 1,
    )


def refusal_words(reason: str) -> str:
    """A refusal's reason as the panel says it: an Okta `error` code only when
    it is one Okta sends (the callback takes any text)."""
    if reason.startswith(OKTA_ERROR_PREFIX):
        code = reason.removeprefix(OKTA_ERROR_PREFIX)
        words = OKTA_ERROR_WORDS.get(code)
        return OKTA_ERROR_PREFIX + words if words else OKTA_UNKNOWN_ERROR
    return reason.replace("_", " ")


def _last_scim(organization_id: int) -> ScimCall | None:
    row = db.session.execute(
        db.select(
            ScimRequest.created_at,
            ScimRequest.method,
            ScimRequest.path,
            ScimRequest.status,
            ApiKey.name,
            ApiKey.prefix,
        )
        .outerjoin(ApiKey, ApiKey.id == ScimRequest.api_key_id)
        .where(ScimRequest.organization_id == organization_id)
        .order_by(ScimRequest.id.desc())
        .limit(1)
    ).one_or_none()
    if row is None:
        return None
    key = f"{row.name} ({row.prefix}…)" if row.name else "a deleted key"
    return ScimCall(row.created_at, row.method, row.path, row.status, key)


def _scim_counts(organization_id: int) -> tuple[int, int, int]:
    """Requests and errors in the activity log, and counted 401s, in 24 hours."""
    since = utcnow() - ERROR_WINDOW
    recent = db.select(db.func.count()).where(
        ScimRequest.organization_id == organization_id,
        ScimRequest.created_at >= since,
    )
    unauthorized = _unauthorized_since(organization_id, since)
    row = db.session.execute(
        db.select(
            recent.scalar_subquery(),
            recent.where(ScimRequest.status >= 400).scalar_subquery(),
            unauthorized.scalar_subquery(),
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def _unauthorized_since(organization_id: int, since: datetime) -> Any:
    """The number of SCIM 401s counted for the organization since `since` (a
    select): the repeats of its `scim.unauthorized` rows seen since then."""
    return db.select(db.func.coalesce(db.func.sum(AuditEvent.repeat_count), 0)).where(
        AuditEvent.organization_id == organization_id,
        AuditEvent.kind == SCIM_UNAUTHORIZED,
        db.func.coalesce(AuditEvent.last_at, AuditEvent.created_at) >= since,
    )


def unauthorized_24h(organization_id: int) -> int:
    """SCIM requests refused for their key (401) in the last 24 hours (one query)."""
    since = utcnow() - ERROR_WINDOW
    return int(
        db.session.execute(_unauthorized_since(organization_id, since)).scalar_one()
    )


def _last_unauthorized(organization_id: int) -> Unauthorized | None:
    event = db.session.execute(
        _latest(SCIM_UNAUTHORIZED, organization_id)
    ).scalar_one_or_none()
    if event is None:
        return None
    reason = str(event.details.get("reason", ""))
    return Unauthorized(
        at=event.last_at or event.created_at,
        key=event.actor,
        reason=UNAUTHORIZED_REASONS.get(reason, reason),
        count=event.repeat_count or 1,
    )


def _keys(organization_id: int) -> list[KeyFacts]:
    """Live keys, then revoked ones still sent; most recently used first."""
    rows = db.session.execute(
        db.select(
            ApiKey.name,
            ApiKey.prefix,
            ApiKey.created_by_label,
            ApiKey.scopes,
            ApiKey.last_used_at,
            ApiKey.revoked_at,
        )
        .where(ApiKey.organization_id == organization_id)
        .where(
            db.or_(
                ApiKey.revoked_at.is_(None),
                ApiKey.last_used_at > ApiKey.revoked_at,
            )
        )
        .order_by(
            ApiKey.revoked_at.is_not(None),
            ApiKey.last_used_at.is_(None),
            ApiKey.last_used_at.desc(),
            ApiKey.id.desc(),
        )
        .limit(KEYS_SHOWN)
    ).all()
    return [
        KeyFacts(
            name=row.name,
            prefix=row.prefix,
            creator=row.created_by_label or "unknown",
            scopes=row.scopes,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )
        for row in rows
    ]
