"""Requiring Okta sign-in: the organization's setting, its exempt accounts, and
the owners' recovery codes (core/require_okta.py, core/recovery_codes.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean
from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from core.extensions import db
from core.models.people import User
from core.models.values import UTCDateTime
from core.models.values import utcnow


class OktaRequirement(db.Model):
    """Whether an organization requires Okta sign-in (no row: optional)."""

    __tablename__ = "okta_requirement"

    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
    )
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who changed it last, as shown on the page ("cli" for the command line).
    changed_by: Mapped[str] = mapped_column(String(320), default="")


class OktaExemption(db.Model):
    """An account that keeps signing in with its password while Okta is required
    (at most three per organization, each an active member of it)."""

    __tablename__ = "okta_exemption"
    __table_args__ = (
        UniqueConstraint("organization_id", "user_id", name="uq_okta_exemption_user"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()


class RecoveryCode(db.Model):
    """One single-use recovery code of an owner: only its SHA-256 is kept.

    A set is ten rows made together; making a new set deletes the old one.
    `confirmed_at` is set on the whole set when the owner says they saved it.
    """

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()
