"""Read-side queries of the members pages, kept out of the views.

At 100k users a page must stay a few index lookups: the list is ordered by the
(organization_id, email_key) unique index, a search asks the search index
(`core.models.search`: FTS5 on SQLite, pg_trgm on PostgreSQL) which users
match, and the extras (groups, Okta links) are fetched for the page's ids only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement
from sqlalchemy import Select
from sqlalchemy import column
from sqlalchemy import false
from sqlalchemy import table

from blueprints.members import filters
from blueprints.members.filters import Filters
from core import linking
from core.extensions import db
from core.models import Group
from core.models import GroupMember
from core.models import OktaIdentity
from core.models import Organization
from core.models import User
from core.models import fold
from core.models import search as search_index

# Up to this many matching rows (of every organization), SQLite reads a search's
# hits by id and sorts them; more, and it walks the organization's email index.
FEW_MATCHES = 1_000
# When more match: if the page lies among this many first members in page
# order, SQLite tests their text instead of reading every hit from the index.
WINDOW = 500
# The FTS5 table of SQLite (its hidden column of the table's name takes MATCH).
_FTS = table(
    search_index.SEARCH_TABLE, column("rowid"), column(search_index.SEARCH_TABLE)
)


@dataclass
class MemberPage:
    """One page of the members list with what each row shows."""

    users: list[User]
    total: int | None  # None for searches: counting would read every match
    page: int
    pages: int | None
    has_next: bool
    groups: dict[int, list[str]]
    link_states: dict[int, str]  # filters.LINKED, NOT_LINKED or RELINK

    @property
    def linked(self) -> set[int]:
        """Ids of the page's members linked at the organization's current Okta."""
        return {
            user_id
            for user_id, state in self.link_states.items()
            if state == filters.LINKED
        }


def like_escape(text: str) -> str:
    """Escape LIKE wildcards so a search for "a_b" means exactly that."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_condition(
    org_id: int, key: str, status: str = "", rows: int | None = None
) -> ColumnElement[bool]:
    """Members of `org_id` whose email or name holds the folded search `key`.

    Answered by the search index (`core.models.search`): on PostgreSQL, LIKE on
    the trigram-indexed `search_text`, wildcards escaped; on SQLite, the FTS5
    table (`sqlite_condition`). `rows`: how many rows of the result the caller
    reads in page order (None: all), which lets SQLite choose how to read them.
    """
    needle = search_index.search_needle(key)
    if needle is None:
        return false()
    pattern = f"%{like_escape(needle)}%"
    if db.session.get_bind().dialect.name == "sqlite":
        return sqlite_condition(org_id, needle, pattern, status, rows)
    return (User.organization_id == org_id) & User.search_text.like(
        pattern, escape="\\"
    )


def sqlite_condition(
    org_id: int, needle: str, pattern: str, status: str, rows: int | None
) -> ColumnElement[bool]:
    """The search on SQLite: the FTS5 table says which rows match, the search
    quoted as one string (so `"`, `*`, `OR`, `NEAR`, `-` or `email:` are text,
    never query syntax). Then:

    - at most FEW_MATCHES matching rows (in every organization): they are read
      by id and sorted;
    - else, when the `rows` asked for lie among the organization's first
      WINDOW members in page order (a text most members hold): the email index
      is walked in page order, testing each member's text, and stops there;
    - else, the email index is walked in page order keeping the matching ids.
    """
    tenant = User.organization_id == org_id
    fts = _FTS.c[search_index.SEARCH_TABLE]
    hits = db.select(_FTS.c.rowid).where(fts.match(search_index.fts_phrase(needle)))
    if _count(hits.limit(FEW_MATCHES + 1)) <= FEW_MATCHES:
        # SQLite would otherwise walk the organization's (organization_id,
        # email_key) index for the order and test each id: `+ 0` makes the
        # term one that no index answers, so it looks the hits up by id.
        return ((User.organization_id + 0) == org_id) & User.id.in_(hits)
    if rows is not None and _window_holds(org_id, pattern, status, rows):
        return tenant & User.search_text.like(pattern, escape="\\")
    return tenant & User.id.in_(hits)


def _window_holds(org_id: int, pattern: str, status: str, rows: int) -> bool:
    """Whether the organization's first WINDOW members in page order hold the
    `rows` matches a page needs: reading them costs at most WINDOW rows."""
    if rows > WINDOW:
        return False
    first = (
        db.select(User.search_text)
        .where(User.organization_id == org_id, *_status_terms(status))
        .order_by(User.email_key)
        .limit(WINDOW)
        .subquery()
    )
    text = first.c.search_text
    matching = db.select(text).where(text.like(pattern, escape="\\")).limit(rows)
    return _count(matching) >= rows


def _count(query: Select) -> int:
    """How many rows `query` gives."""
    return db.session.execute(
        db.select(db.func.count()).select_from(query.subquery())
    ).scalar_one()


def _status_terms(status: str) -> list[ColumnElement[bool]]:
    """The status filter of the list ("" or anything else: every status)."""
    return [User.status == status] if status in ("active", "inactive") else []


def member_query(
    org_id: int,
    search: str,
    status: str,
    *,
    rows: int | None = None,
    extra: Sequence[ColumnElement[bool]] = (),
) -> Select:
    """The filtered members of an organization (not yet ordered or paged).

    `rows`: how many rows the caller reads in page order, if it knows.
    `extra`: the list's other filters (`filters.conditions`).
    """
    key = fold(search)
    return db.select(User).where(
        search_condition(org_id, key, status, None if extra else rows)
        if key
        else User.organization_id == org_id,
        *_status_terms(status),
        *extra,
    )


def member_page(
    org: Organization, *, search: str, chosen: Filters, page: int, per_page: int
) -> MemberPage:
    """Load one page of members, with their group names and Okta link states.

    A plain listing counts its rows (an index-only count); a search does not,
    since counting would read every match: it reads one row more than a page to
    know whether there is a next page. The extras are one query each for the
    page's ids, whatever the page's size.
    """
    page = max(1, page)
    query = member_query(
        org.id,
        search,
        chosen.status,
        rows=page * per_page + 1,
        extra=filters.conditions(org, chosen),
    )
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
    if ids:
        for user_id, name in db.session.execute(
            db.select(GroupMember.user_id, Group.display_name)
            .join(Group, Group.id == GroupMember.group_id)
            .where(GroupMember.user_id.in_(ids))
            .order_by(Group.display_name_key)
        ):
            groups[user_id].append(name)
    states = link_states(org, ids)
    return MemberPage(users, total, page, pages, has_next, dict(groups), states)


def link_states(org: Organization, ids: list[int]) -> dict[int, str]:
    """The link state of each of these members, in one query: LINKED (an
    identity at the organization's current Okta), RELINK (identities only at
    another protocol or issuer: they confirm again) or NOT_LINKED."""
    states = dict.fromkeys(ids, filters.NOT_LINKED)
    if not ids:
        return states
    config = org.sso_config
    current = linking.current_identity(config) if config is not None else db.false()
    rows = db.session.execute(
        db.select(
            OktaIdentity.user_id,
            db.func.max(db.case((current, 1), else_=0)),
        )
        .where(OktaIdentity.user_id.in_(ids))
        .group_by(OktaIdentity.user_id)
    )
    for user_id, is_current in rows:
        states[user_id] = filters.LINKED if is_current else filters.RELINK
    return states


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
