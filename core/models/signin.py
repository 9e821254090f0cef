"""Short-lived rows of signing in: SAML requests awaiting their answer, the
assertion replay cache, and failed sign-ins kept for the throttle."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from core.extensions import db
from core.models.values import UTCDateTime
from core.models.values import utcnow


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
    # Set on a test sign-in: the owner or admin who started it. Its answer only
    # fills in the organization's test result; it never signs anyone in.
    test_user_id: Mapped[int | None] = mapped_column(
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


class SignInFailure(db.Model):
    """A failed sign-in, kept for a short window to throttle guessing.

    In the database rather than in memory so that every worker sees the count.
    """

    __tablename__ = "sign_in_failure"
    __table_args__ = (Index("ix_sign_in_failure_key_at", "key", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
