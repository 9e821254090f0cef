"""Every table of Gatehouse, as SQLAlchemy 2.0 typed models.

Every row that belongs to an organization carries `organization_id`, and every
query made on behalf of a request filters on it: that column is the tenant wall.
Case-insensitive uniqueness (organization names, emails, group names) is enforced
by a unique index on a lower-cased `*_key` column, so it holds on SQLite and
PostgreSQL alike and under concurrent writers.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError
from email_validator import validate_email
from flask_login import UserMixin
from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import DateTime
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import TypeDecorator
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from core.extensions import db

PLANS = ("free", "pro", "enterprise")
PAID_PLANS = ("pro", "enterprise")
ROLES = ("owner", "admin", "member")
STATUSES = ("active", "inactive")
SOURCES = ("local", "sso", "scim")
PROTOCOLS = ("oidc", "saml")


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware.

    PostgreSQL stores it as `timestamp with time zone` (given and read back
    aware); SQLite has no timezone type, so it stores naive UTC and the value is
    tagged UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Any
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(
        self, value: datetime | None, dialect: Any
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_ID = re.compile(r"[0-9]{1,18}")


def parse_row_id(text: object) -> int | None:
    """A row id from text: ASCII digits only (not "²" or "٢"), else None."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    if isinstance(text, str) and _ID.fullmatch(text):
        return int(text)
    return None


def unsafe_characters(text: str) -> bool:
    """Whether `text` has control or line/paragraph separator characters.

    Unicode categories Cc (tab, newline, NUL, DEL, U+0085 ...), Zl (U+2028) and
    Zp (U+2029): none belongs in a name, and in an email header they break it.
    """
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text)


def fold(text: str) -> str:
    """The case-insensitive key of a name: trimmed, in Unicode's composed form
    (NFC, so "é" typed either way is one name) and case-folded."""
    return unicodedata.normalize("NFC", text.strip()).casefold()


def email_fold(address: str) -> str:
    """The key under which an email is unique and looked up.

    What is stored and shown is the address as sent; its key is the address as
    mail systems treat it: the local part composed (NFC), the domain through
    IDNA (full-width letters, "．" and xn-- forms are one domain), then
    case-folded. Two addresses that look the same are the same member.
    """
    try:
        normalized = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError:
        return fold(address)
    return fold(normalized.normalized)


class Organization(db.Model):
    """A customer organization: the tenant every other row belongs to."""

    __tablename__ = "organization"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100), unique=True)
    plan: Mapped[str] = mapped_column(String(20), default="free")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    sso_config: Mapped[SsoConfig | None] = relationship(
        back_populates="organization", uselist=False, cascade="all, delete-orphan"
    )

    @property
    def has_paid_plan(self) -> bool:
        """Okta SSO and SCIM need the pro or enterprise plan."""
        return self.plan in PAID_PLANS


class User(UserMixin, db.Model):
    """A person's account in one organization.

    The same email may have accounts in several organizations; they are separate
    rows that share nothing.
    """

    __tablename__ = "user"
    __table_args__ = (
        UniqueConstraint("organization_id", "email_key", name="uq_user_org_email"),
        UniqueConstraint(
            "organization_id", "user_name_key", name="uq_user_org_user_name"
        ),
        Index("ix_user_org_external_id", "organization_id", "external_id"),
        Index("ix_user_org_name_key", "organization_id", "name_key"),
        Index("ix_user_org_status", "organization_id", "status"),
        Index("ix_user_email_key", "email_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320))
    # SCIM userName: Okta's unique identifier for the account, usually the email.
    # Set to the email for accounts made here, so SCIM can find and adopt them.
    user_name: Mapped[str] = mapped_column(String(320))
    user_name_key: Mapped[str] = mapped_column(String(320))
    given_name: Mapped[str] = mapped_column(String(200), default="")
    family_name: Mapped[str] = mapped_column(String(200), default="")
    display_name: Mapped[str] = mapped_column(String(400), default="")
    # Lower-cased "display given family" for the members search.
    name_key: Mapped[str] = mapped_column(String(800), default="")
    role: Mapped[str] = mapped_column(String(20), default="member")
    status: Mapped[str] = mapped_column(String(20), default="active")
    source: Mapped[str] = mapped_column(String(20), default="local")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # True while the email is the one Okta set (SCIM or an Okta sign-in), not one
    # typed in Gatehouse: one condition for linking an Okta sign-in on email alone.
    email_from_okta: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=db.false()
    )
    # SCIM `emails[].primary` of the one address kept, as the IdP sent it; None
    # when it said nothing (the kept address is then the primary one).
    email_primary: Mapped[bool | None] = mapped_column(Boolean)
    # SCIM: set once Okta manages this account (created or adopted by SCIM).
    scim_managed: Mapped[bool] = mapped_column(Boolean, default=False)
    external_id: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organization: Mapped[Organization] = relationship()

    # Flask-Login: the id stored in the browser session is the session token,
    # set by core.sessions when the session is created or loaded.
    session_token = None  # type: str | None

    def get_id(self) -> str | None:
        """Return the token of the browser session this user object was loaded for."""
        return self.session_token

    @property
    def is_active(self) -> bool:
        """Inactive users keep their data but cannot sign in by any means."""
        return self.status == "active"

    @property
    def is_admin(self) -> bool:
        """Owners and admins manage the organization."""
        return self.role in ("owner", "admin")

    @property
    def full_name(self) -> str:
        """The name to show: display name, else given + family, else the email."""
        if self.display_name:
            return self.display_name
        joined = f"{self.given_name} {self.family_name}".strip()
        return joined or self.email

    def refresh_name_key(self) -> None:
        """Recompute the search key after a name changes."""
        self.name_key = fold(
            f"{self.display_name} {self.given_name} {self.family_name}"
        )


class UserSession(db.Model):
    """A signed-in browser session, so that it can be ended from the server.

    The browser holds only the token; the table holds its SHA-256. Deactivating a
    user revokes every row of theirs, so reactivation cannot revive an old cookie.
    """

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")

    user: Mapped[User] = relationship()


class Group(db.Model):
    """A group of users within one organization, usually pushed from Okta."""

    __tablename__ = "group"
    __table_args__ = (
        UniqueConstraint(
            "organization_id", "display_name_key", name="uq_group_org_display_name"
        ),
        Index("ix_group_org_external_id", "organization_id", "external_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    display_name: Mapped[str] = mapped_column(String(400))
    display_name_key: Mapped[str] = mapped_column(String(400))
    scim_managed: Mapped[bool] = mapped_column(Boolean, default=False)
    external_id: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )

    organization: Mapped[Organization] = relationship()


class GroupMember(db.Model):
    """Membership of a user in a group; both always of the same organization."""

    __tablename__ = "group_member"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("group.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OktaIdentity(db.Model):
    """The link between a user and an Okta subject for one protocol.

    Keyed on (organization, protocol, issuer, subject) so one organization's Okta
    can never vouch for an account of another.
    """

    __tablename__ = "okta_identity"
    __table_args__ = (
        UniqueConstraint(
            "organization_id",
            "protocol",
            "issuer",
            "subject",
            name="uq_okta_identity_subject",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    protocol: Mapped[str] = mapped_column(String(10))
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SsoConfig(db.Model):
    """An organization's Okta SSO configuration (at most one per organization)."""

    __tablename__ = "sso_config"
    __table_args__ = (
        Index("ux_sso_config_saml_entity_id", "saml_entity_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), unique=True
    )
    provider: Mapped[str] = mapped_column(String(20), default="none")
    protocol: Mapped[str] = mapped_column(String(10), default="oidc")
    default_role: Mapped[str] = mapped_column(String(20), default="member")
    oidc_client_id: Mapped[str | None] = mapped_column(String(300))
    # Encrypted with a key derived from SECRET_KEY (core.security.encrypt_secret).
    oidc_client_secret_enc: Mapped[str | None] = mapped_column(Text)
    oidc_issuer: Mapped[str | None] = mapped_column(String(500))
    metadata_url: Mapped[str | None] = mapped_column(String(1000))
    # Unique (see __table_args__): dashboard sign-ins are routed by it, so one
    # Okta app serves one organization, and stays reserved after a switch to
    # OIDC or None.
    saml_entity_id: Mapped[str | None] = mapped_column(String(1000))
    saml_sso_url: Mapped[str | None] = mapped_column(String(1000))
    # JSON list of PEM-less base64 certificates, every signing key the IdP publishes.
    saml_certificates: Mapped[list[str]] = mapped_column(JSON, default=list)
    idp_initiated_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    scim_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped at every change, so cached clients built from an old version are not used.
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )

    organization: Mapped[Organization] = relationship(back_populates="sso_config")

    @property
    def okta_enabled(self) -> bool:
        """True when Okta is the organization's SSO provider."""
        return self.provider == "okta"


class ApiKey(db.Model):
    """An organization key (no user) or a personal key (with a user).

    Only the SHA-256 of the secret is stored: keys are 256-bit random, so a fast
    hash is enough and lets a request find its key with one index lookup.
    """

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )
    # Who made the key, as shown in lists: their email then, or "command line".
    # Kept as text so it survives the creator's departure.
    created_by_label: Mapped[str] = mapped_column(String(400), default="")
    # The role an organization key acts with ("admin" or "owner"), chosen at
    # creation and never above the creator's. None for personal keys: they act
    # with their holder's role at each request (core.authority).
    role: Mapped[str | None] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    # The first characters of the key, shown in lists so people can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(20))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    organization: Mapped[Organization] = relationship()

    @property
    def scope_list(self) -> list[str]:
        """The key's scopes as a list."""
        return self.scopes.split()

    @property
    def is_personal(self) -> bool:
        """Personal keys act for one user and die with their access."""
        return self.user_id is not None


class AuditEvent(db.Model):
    """Who did what, when: sign-ins, SCIM changes, settings and key changes.

    A refusal an attacker can repeat at will is one row per organization, kind,
    key and window that counts its repeats (core.audit.record_repeated):
    `created_at` is the first occurrence, `last_at` the latest, `repeat_count`
    how many. Deleted after AUDIT_RETENTION_DAYS (core.housekeeping).
    """

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_org_id", "organization_id", "id"),
        Index("ix_audit_org_kind_id", "organization_id", "kind", "id"),
        Index("ix_audit_created_at", "created_at"),
        Index("ux_audit_repeat_key", "repeat_key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(60))
    # Who acted: a user's email, "api key <prefix>", "cli", "okta", or "anonymous".
    actor: Mapped[str] = mapped_column(String(400), default="")
    actor_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )
    target: Mapped[str] = mapped_column(String(400), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # How many times this event happened (more than 1 only for aggregated rows).
    repeat_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # The latest occurrence of an aggregated row (None for ordinary events).
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # SHA-256 of organization|kind|key while the row still counts repeats; NULL
    # for ordinary events and for aggregated rows whose window is over.
    repeat_key: Mapped[str | None] = mapped_column(String(64))

    @property
    def details_text(self) -> str:
        """Details as compact `key=value` text for the audit page."""
        return ", ".join(
            f"{key}={value if isinstance(value, str) else json.dumps(value)}"
            for key, value in sorted(self.details.items())
        )


class SignInFailure(db.Model):
    """A failed sign-in, kept for a short window to throttle guessing.

    In the database rather than in memory so that every worker sees the count.
    """

    __tablename__ = "sign_in_failure"
    __table_args__ = (Index("ix_sign_in_failure_key_at", "key", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScimRequest(db.Model):
    """One SCIM request as the provisioning activity page shows it.

    Never the body: only what was touched and which fields changed (before and
    after), with secrets such as Okta's placeholder password left out.
    """

    __tablename__ = "scim_request"
    __table_args__ = (Index("ix_scim_request_org_id", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, index=True
    )
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_key.id", ondelete="SET NULL")
    )
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    status: Mapped[int] = mapped_column(Integer)
    scim_type: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(String(500))
    resource_type: Mapped[str | None] = mapped_column(String(10))
    resource_id: Mapped[int | None] = mapped_column(Integer)
    resource_label: Mapped[str | None] = mapped_column(String(400))
    # {"field": [before, after]} for every attribute the request changed.
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    duration_ms: Mapped[float] = mapped_column(default=0.0)

    api_key: Mapped[ApiKey | None] = relationship()


class LinkToken(db.Model):
    """A single-use, expiring invitation to link a user's account to Okta.

    Emailed when Okta SSO is set up (and on request); only the SHA-256 of the
    token is stored.
    """

    __tablename__ = "link_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the mail server accepted the email carrying it; None if sending failed.
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class SamlRequest(db.Model):
    """An AuthnRequest sent to an organization's Okta and not answered yet.

    Okta answers with a cross-site POST that carries no session cookie, so the
    organization, the page to return to and the emailed link being used are kept
    here under the request's ID; the response's InResponseTo finds them. A row is
    deleted when its response is accepted, so it answers once.
    """

    __tablename__ = "saml_request"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    # The organization's SsoConfig.version when the request was sent.
    config_version: Mapped[int] = mapped_column(Integer)
    next_url: Mapped[str] = mapped_column(String(2000), default="")
    link_token_hash: Mapped[str | None] = mapped_column(String(64))
    # "Link my Okta account" from a signed-in session: the account to bind.
    link_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE")
    )
    # SHA-256 of the random value in the browser's SAML cookie: the answer must
    # come back through the browser that asked (login and linking CSRF).
    browser_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class SamlAssertionSeen(db.Model):
    """The replay cache: every SAML assertion ID accepted, until it expires.

    A row outlives the assertion's own validity (plus the allowed clock skew), so
    an assertion can never be accepted twice, whichever worker receives it.
    """

    __tablename__ = "saml_assertion_seen"

    assertion_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class SiteSetting(db.Model):
    """Settings of the whole installation, shared by every app server.

    `public_base_url` (asked for at first-run setup) lives here; the setting of
    the same name in the environment or instance/config.py overrides it.
    """

    __tablename__ = "site_setting"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )
