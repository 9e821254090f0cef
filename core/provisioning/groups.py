"""Groups: finding, creating or adopting them for SCIM, renaming, membership.

Nothing here commits: SCIM commits each request's work once.
"""

from __future__ import annotations

from core.authority import AccountError
from core.authority import Conflict
from core.extensions import db
from core.models import Group
from core.models import GroupMember
from core.models import User
from core.models import fold
from core.models import parse_row_id
from core.models import utcnow


def find_group_by_name(org_id: int, display_name: str) -> Group | None:
    """The group of the organization with this name (case-insensitive)."""
    return db.session.execute(
        db.select(Group).filter_by(
            organization_id=org_id, display_name_key=fold(display_name)
        )
    ).scalar_one_or_none()


def resolve_member_ids(org_id: int, ids: list[str]) -> list[int]:
    """Turn SCIM member values into user ids of this organization.

    :raise AccountError: naming the first value that is not a user of this
        organization (unknown ids and other organizations' ids alike).
    """
    wanted: list[int] = []
    for value in ids:
        row_id = parse_row_id(value)
        if row_id is None:
            raise AccountError(f"Member {value} is not a user of this organization.")
        wanted.append(row_id)
    unique = sorted(set(wanted))
    found: set[int] = set()
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        found.update(
            db.session.execute(
                db.select(User.id).where(
                    User.organization_id == org_id, User.id.in_(chunk)
                )
            ).scalars()
        )
    missing = [value for value in unique if value not in found]
    if missing:
        raise AccountError(f"Member {missing[0]} is not a user of this organization.")
    return unique


def group_member_ids(group: Group) -> set[int]:
    """Ids of the group's members."""
    return set(
        db.session.execute(
            db.select(GroupMember.user_id).filter_by(group_id=group.id)
        ).scalars()
    )


def change_group_members(
    group: Group, steps: list[tuple[str, list[int] | None]]
) -> tuple[list[int], list[int]]:
    """Apply membership steps in order; return (added, removed), each sorted.

    A step is ("add", ids), ("remove", ids), ("replace", ids) or ("remove", None)
    for everyone; ids are already checked to be users of the group's
    organization. The member set is read once and the steps are applied to it in
    memory, so a PATCH of a thousand operations costs one read and one write of
    the difference, whatever the group's size. Not committed.
    """
    current = group_member_ids(group)
    members = set(current)
    for op, ids in steps:
        if op == "replace":
            members = set(ids or ())
        elif op == "add":
            members.update(ids or ())
        elif ids is None:
            members.clear()
        else:
            members.difference_update(ids)
    added = sorted(members - current)
    removed = sorted(current - members)
    if added:
        now = utcnow()
        db.session.execute(
            db.insert(GroupMember),
            [
                {"group_id": group.id, "user_id": user_id, "created_at": now}
                for user_id in added
            ],
        )
    for start in range(0, len(removed), 500):
        db.session.execute(
            db.delete(GroupMember).where(
                GroupMember.group_id == group.id,
                GroupMember.user_id.in_(removed[start : start + 500]),
            )
        )
    if added or removed:
        group.updated_at = utcnow()
    return added, removed


def add_group_members(group: Group, user_ids: list[int]) -> list[int]:
    """Add users (already checked to be of the group's organization); return the new."""
    return change_group_members(group, [("add", user_ids)])[0]


def set_group_members(group: Group, user_ids: list[int]) -> tuple[list[int], list[int]]:
    """Make the group's members exactly `user_ids`; return (added, removed)."""
    return change_group_members(group, [("replace", user_ids)])


def rename_group(group: Group, display_name: str) -> dict[str, list[object]]:
    """Rename a group; return the change. Not committed.

    :raise Conflict: if another group of the organization has that name.
    """
    if display_name == group.display_name:
        return {}
    other = find_group_by_name(group.organization_id, display_name)
    if other is not None and other.id != group.id:
        raise Conflict(f"A group named {display_name} already exists.")
    before = group.display_name
    group.display_name, group.display_name_key = display_name, fold(display_name)
    return {"displayName": [before, display_name]}


def scim_create_group(
    org_id: int, display_name: str, external_id: str | None
) -> tuple[Group, bool]:
    """Create a group for SCIM, or adopt a same-named group not yet SCIM-managed.

    Returns (group, adopted). Not committed.
    :raise Conflict: if a SCIM-managed group already has that name.
    """
    existing = find_group_by_name(org_id, display_name)
    if existing is not None:
        if existing.scim_managed:
            raise Conflict(f"A group named {display_name} already exists.")
        existing.scim_managed = True
        existing.external_id = external_id
        existing.updated_at = utcnow()
        return existing, True
    group = Group(
        organization_id=org_id,
        display_name=display_name,
        display_name_key=fold(display_name),
        external_id=external_id,
        scim_managed=True,
    )
    db.session.add(group)
    return group, False
