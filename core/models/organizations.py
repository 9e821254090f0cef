"""The tenant and what configures it: organizations, their Okta SSO settings, and
the settings of the whole installation.

Every row that belongs to an organization carries `organization_id`, and every
query made on behalf of a request filters on it: that column is the tenant wall.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from core.extensions import db
from core.models.values import UTCDateTime
from core.models.values import utcnow

PLANS = ("free", "pro", "enterprise")
PAID_PLANS = ("pro", "enterprise")
PROTOCOLS = ("oidc", "saml")


class Organization(db.Model):
    """A customer organization: the tenant every other row belongs to."""

    __tablename__ = "organization"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100), unique=True)
    plan: Mapped[str] = mapped_column(String(20), default="free")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set while a click of "Email the link to everyone not linked" is sending
    # (a compare-and-set claim, so a double click mails nobody twice); a claim
    # older than the resend interval is stale (a worker died mid-way).
    link_emails_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    sso_config: Mapped[SsoConfig | None] = relationship(
        back_populates="organization", uselist=False, cascade="all, delete-orphan"
    )

    @property
    def has_paid_plan(self) -> bool:
        """Okta SSO and SCIM need the pro or enterprise plan."""
        return self.plan in PAID_PLANS


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
    # Each protocol keeps its own settings, so switching never wipes the other's.
    oidc_metadata_url: Mapped[str | None] = mapped_column(String(1000))
    saml_metadata_url: Mapped[str | None] = mapped_column(String(1000))
    # Unique (see __table_args__): dashboard sign-ins are routed by it, so one
    # Okta app serves one organization, and stays reserved after a switch to
    # OIDC or None.
    saml_entity_id: Mapped[str | None] = mapped_column(String(1000))
    saml_sso_url: Mapped[str | None] = mapped_column(String(1000))
    # JSON list of PEM-less base64 certificates, every signing key the IdP publishes.
    saml_certificates: Mapped[list[str]] = mapped_column(JSON, default=list)
    idp_initiated_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    scim_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped at every change, so cached clients built from an old version are not
    # used and sign-ins started before the change start again.
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Raised when that protocol's own settings change: a test sign-in proves the
    # settings version it ran with (SsoTestResult.settings_version).
    oidc_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    saml_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )

    organization: Mapped[Organization] = relationship(back_populates="sso_config")

    @property
    def okta_enabled(self) -> bool:
        """True when Okta sign-in is on for the organization's members.

        Saving settings never turns it on; *Turn on for everyone* (or the
        operator's `flask sso set-oidc`/`set-saml`) does.
        """
        return self.provider == "okta"

    @property
    def metadata_url(self) -> str | None:
        """The metadata URL of the protocol members sign in with (or last chose)."""
        return self.metadata_url_of(self.protocol)

    def metadata_url_of(self, protocol: str) -> str | None:
        """The saved metadata URL of `protocol`."""
        return self.oidc_metadata_url if protocol == "oidc" else self.saml_metadata_url

    def settings_version(self, protocol: str) -> int:
        """The version of `protocol`'s own settings (raised at each change)."""
        return (self.oidc_version if protocol == "oidc" else self.saml_version) or 1

    def bump_settings(self, protocol: str) -> None:
        """Note a change of `protocol`'s settings (and of the configuration)."""
        if protocol == "oidc":
            self.oidc_version = (self.oidc_version or 1) + 1
        else:
            self.saml_version = (self.saml_version or 1) + 1
        self.version = (self.version or 0) + 1

    def is_saved(self, protocol: str) -> bool:
        """Whether `protocol` has complete saved settings (a sign-in could use them)."""
        if protocol == "oidc":
            return bool(
                self.oidc_client_id
                and self.oidc_client_secret_enc
                and self.oidc_issuer
                and self.oidc_metadata_url
            )
        return bool(
            self.saml_entity_id and self.saml_sso_url and self.saml_certificates
        )


class SsoTestResult(db.Model):
    """The last test sign-in of an organization's Okta, per protocol.

    A test is an Okta round trip for one owner or admin that proves the saved
    settings; it never signs anyone in. It counts only for the settings version
    it ran with: any change of that protocol's settings makes it stale.
    """

    __tablename__ = "sso_test_result"
    __table_args__ = (
        UniqueConstraint(
            "organization_id", "protocol", name="uq_sso_test_result_org_protocol"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    protocol: Mapped[str] = mapped_column(String(10))
    settings_version: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean)
    # Why it failed, as a person reads it ("" when it passed).
    reason: Mapped[str] = mapped_column(String(500), default="")
    # What Okta sent (empty when the answer could not be verified).
    subject: Mapped[str] = mapped_column(String(500), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    given_name: Mapped[str] = mapped_column(String(200), default="")
    family_name: Mapped[str] = mapped_column(String(200), default="")
    name_id_format: Mapped[str] = mapped_column(String(200), default="")
    # SAML attribute statements: name -> values.
    attributes: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    tested_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )
    tested_by: Mapped[str] = mapped_column(String(320), default="")
    tested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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
