"""Groups of users within one organization, and their members."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any

from sqlalchemy import Boolean
from sqlalchemy import Connection
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import String
from sqlalchemy import UniqueConstraint
from sqlalchemy import event
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship
from sqlalchemy.orm.attributes import flag_modified

from core.extensions import db
from core.models.people import User
from core.models.values import UTCDateTime
from core.models.values import Versioned
from core.models.values import utcnow

if TYPE_CHECKING:
    from core.models.organizations import Organization


class Group(Versioned, db.Model):
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


@event.listens_for(User, "before_delete")
def _new_version_of_groups_of(_mapper: Any, connection: Connection, user: User) -> None:
    """Deleting a user takes it out of its groups (ON DELETE CASCADE, which no
    UPDATE of the group sees): give each of those groups a new version."""
    connection.execute(
        update(Group)
        .where(
            Group.id.in_(
                select(GroupMember.group_id).where(GroupMember.user_id == user.id)
            )
        )
        .values(version=Group.version + 1, updated_at=utcnow())
    )


@event.listens_for(Group.updated_at, "set")
def _changed_now(group: Group, _value: Any, _old: Any, _initiator: Any) -> None:
    """Setting `updated_at` says the group changed now: provisioning does so when
    its members change (rows of another table, which no UPDATE of the group
    sees). Always write it then, so the UPDATE gives a new version even when
    the clock has not moved since the last change."""
    if inspect(group).persistent:
        flag_modified(group, "updated_at")
