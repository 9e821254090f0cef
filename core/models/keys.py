"""API keys: organization keys and personal keys, stored as hashes."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from core.extensions import db
from core.models.values import UTCDateTime
from core.models.values import utcnow

if TYPE_CHECKING:
    from core.models.organizations import Organization
    from core.models.people import User


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
