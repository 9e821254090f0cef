"""Okta Universal Logout: each organization's switch, the last request Okta
sent (Okta ignores our answer, so this row is how an admin sees failures), and
the replay store of the tokens' `jti`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from core.extensions import db
from core.models.values import UTCDateTime
from core.models.values import utcnow


class UniversalLogoutConfig(db.Model):
    """Whether an organization accepts Universal Logout from Okta (one per org).

    An OIDC organization is addressed by its Okta issuer and client ID (from
    its SSO settings); a SAML organization has no client ID, so its admin
    enters the Okta base URL and the app instance id here.
    """

    __tablename__ = "universal_logout_config"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), unique=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # "Universal Logout also suspends personal keys": revoke the person's keys.
    revoke_personal_keys: Mapped[bool] = mapped_column(Boolean, default=False)
    # SAML organizations: https://{org}.okta.com and the Okta app's instance id.
    saml_okta_url: Mapped[str | None] = mapped_column(String(200))
    saml_app_id: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )


class UniversalLogoutAttempt(db.Model):
    """The last Universal Logout request addressed to an organization.

    Written for every request whose token names the organization (its issuer
    and client or app id), refused ones included; `verified` says whether the
    token's signature checked out (an unverified request may come from anyone).
    """

    __tablename__ = "universal_logout_attempt"

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(300), default="")
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    jti: Mapped[str] = mapped_column(String(200), default="")
    # Who was named ("email a@b.c" or "iss_sub 00u..."), when it was read.
    subject: Mapped[str] = mapped_column(String(400), default="")
    sessions_ended: Mapped[int] = mapped_column(Integer, default=0)


class UniversalLogoutJti(db.Model):
    """A Universal Logout token already spent, kept until it expires (replay store).

    In the database so that every app server refuses a token another accepted.
    """

    __tablename__ = "universal_logout_jti"
    __table_args__ = (
        UniqueConstraint("organization_id", "jti", name="uq_universal_logout_jti"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    jti: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class UniversalLogoutUnverified(db.Model):
    """The last request naming an organization whose signature did not verify.

    Kept apart from `UniversalLogoutAttempt` (the last verified result, Okta's
    own): anyone may send such a request, so it never replaces Okta's result
    and carries only a status and one of Gatehouse's own short reasons.
    """

    __tablename__ = "universal_logout_unverified"

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(300), default="")
