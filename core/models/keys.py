"""API keys: organization keys and personal keys, stored as hashes."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship
from sqlalchemy.orm import validates

from core.extensions import db
from core.models.values import UTCDateTime
from core.models.values import fold
from core.models.values import utcnow

if TYPE_CHECKING:
    from core.models.organizations import Organization
    from core.models.people import User

# The names of a live key's owner: an organization key's among the
# organization's live keys, a personal key's among its holder's. A revoked key
# leaves both, so its name can be given to the key that replaces it.
_LIVE_ORG_KEY = text("user_id IS NULL AND revoked_at IS NULL")
_LIVE_PERSONAL_KEY = text("user_id IS NOT NULL AND revoked_at IS NULL")
# The index names carry "name_key": both databases name it (or its columns) in
# the error a duplicate raises, which is how provisioning tells that refusal
# from any other.
ORG_NAME_INDEX = "uq_api_key_org_name_key"
HOLDER_NAME_INDEX = "uq_api_key_holder_name_key"


class ApiKey(db.Model):
    """An organization key (no user) or a personal key (with a user).

    Only the SHA-256 of the secret is stored: keys are 256-bit random, so a fast
    hash is enough and lets a request find its key with one index lookup.
    """

    __tablename__ = "api_key"
    __table_args__ = (
        Index(
            ORG_NAME_INDEX,
            "organization_id",
            "name_key",
            unique=True,
            sqlite_where=_LIVE_ORG_KEY,
            postgresql_where=_LIVE_ORG_KEY,
        ),
        Index(
            HOLDER_NAME_INDEX,
            "user_id",
            "name_key",
            unique=True,
            sqlite_where=_LIVE_PERSONAL_KEY,
            postgresql_where=_LIVE_PERSONAL_KEY,
        ),
    )

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
    # `fold(name)`, set with the name: live keys of one owner have different ones.
    name_key: Mapped[str] = mapped_column(String(400))
    # The first characters of the key, shown in lists so people can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(20))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    organization: Mapped[Organization] = relationship()

    @validates("name")
    def _key_the_name(self, _attribute: str, name: str) -> str:
        """Keep `name_key` the fold of the name, whoever sets it."""
        self.name_key = fold(name)
        return name

    @property
    def scope_list(self) -> list[str]:
        """The key's scopes as a list."""
        return self.scopes.split()

    @property
    def is_personal(self) -> bool:
        """Personal keys act for one user and die with their access."""
        return self.user_id is not None


class ApiKeyReveal(db.Model):
    """A new key's secret, kept for the one page that shows it.

    Creating a key redirects to the keys page (so a reload cannot create a
    second one), and that page needs the secret once. It waits here, encrypted
    with a key derived from the creator's session token, which only their
    browser holds (the database keeps the token's SHA-256): the row is useless
    to anyone reading the database. The first display deletes it, and an
    undisplayed one expires within minutes.
    """

    __tablename__ = "api_key_reveal"

    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_key.id", ondelete="CASCADE"), primary_key=True
    )
    # `hash_token` of the session that created the key: the only one that sees it.
    session_hash: Mapped[str] = mapped_column(String(64), index=True)
    ciphertext: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
