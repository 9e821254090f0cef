"""What happened: the audit log and the SCIM provisioning activity."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from core.extensions import db
from core.models.values import UTCDateTime
from core.models.values import utcnow

if TYPE_CHECKING:
    from core.models.keys import ApiKey


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
