"""Read-side queries of the members pages, kept out of the views.

At 100k users a page must stay a few index lookups: the list is ordered by the
(organization_id, email_key) unique index, and the extras (groups, Okta links)
are fetched for the page's ids only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import Select

from core import linking
from core.extensions import db
from core.models import Group
from core.models import GroupMember
from core.models import OktaIdentity
from core.models import Organization
from core.models import User
from core.models import fold


@dataclass
class MemberPage:
    """One page of the members list with what each row shows."""

    users: list[User]
    total: int | None  # None for searches: counting every match costs a full scan
    page: int
    pages: int | None
    has_next: bool
    groups: dict[int, list[str]]
    linked: set[int]


def like_escape(text: str) -> str:
    """Escape LIKE wildcards so a search for "a_b" means exactly that."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def member_query(org_id: int, search: str, status: str) -> Select:
    """The filtered members of an organization (not yet ordered or paged)."""
    query = db.select(User).where(User.organization_id == org_id)
    key = fold(search)
    if key:
        pattern = f"%{like_escape(key)}%"
        query = query.where(
            User.email_key.like(pattern, escape="\\")
            | User.name_key.like(pattern, escape="\\")
        )
    if status in ("active", "inactive"):
        query = query.where(User.status == status)
    return query


def member_page(
    org_id: int, *, search: str, status: str, page: int, per_page: int
) -> MemberPage:
    """Load one page of members, with their group names and Okta link flags.

    A plain listing counts its rows (an index-only count); a search does not,
    since a substring match cannot use an index: it reads one row more than a
    page to know whether there is a next page.
    """
    query = member_query(org_id, search, status)
    page = max(1, page)
    total: int | None = None
    pages: int | None = None
    if not fold(search):
        total = db.session.execute(
            query.with_only_columns(db.func.count()).order_by(None)
        ).scalar_one()
        pages = max(1, -(-total // per_page))
        page = min(page, pages)
    users = list(
        db.session.execute(
            query.order_by(User.email_key)
            .limit(per_page + 1)
            .offset((page - 1) * per_page)
        ).scalars()
    )
    has_next = len(users) > per_page
    users = users[:per_page]
    ids = [user.id for user in users]
    groups: dict[int, list[str]] = defaultdict(list)
    linked: set[int] = set()
    if ids:
        for user_id, name in db.session.execute(
            db.select(GroupMember.user_id, Group.display_name)
            .join(Group, Group.id == GroupMember.group_id)
            .where(GroupMember.user_id.in_(ids))
            .order_by(Group.display_name_key)
        ):
            groups[user_id].append(name)
        org = db.session.get(Organization, org_id)
        assert org is not None
        linked = linking.linked_user_ids(org, ids)
    return MemberPage(users, total, page, pages, has_next, dict(groups), linked)


def groups_of(user: User) -> list[Group]:
    """The groups `user` is in, by name."""
    return list(
        db.session.execute(
            db.select(Group)
            .join(GroupMember, GroupMember.group_id == Group.id)
            .where(GroupMember.user_id == user.id)
            .order_by(Group.display_name_key)
        ).scalars()
    )


def identities_of(user: User) -> list[OktaIdentity]:
    """The Okta identities linked to `user`, oldest first."""
    return list(
        db.session.execute(
            db.select(OktaIdentity).filter_by(user_id=user.id).order_by(OktaIdentity.id)
        ).scalars()
    )
