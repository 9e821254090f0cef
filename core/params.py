"""Numbers from URLs and query strings, checked before they reach the database.

SQLite and PostgreSQL store 64-bit integers; a larger one in a URL made the
driver raise (OverflowError, a 500). Ids are at most 18 ASCII digits (as SCIM
ids already are, `core.models.parse_row_id`); anything else cannot exist (404).
"""

from __future__ import annotations

from flask import request
from werkzeug.routing import BaseConverter

from core.models import parse_row_id

# The highest page number a list accepts; beyond it a page is empty anyway.
MAX_PAGE = 1_000_000


class RowIdConverter(BaseConverter):
    """`<id:name>` in a route: a row id of 1 to 18 ASCII digits, else 404."""

    regex = r"[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        """The id as an int."""
        return int(value)

    def to_url(self, value: object) -> str:
        """The id as digits."""
        return str(int(value))  # type: ignore[call-overload]


def query_row_id(name: str) -> int | None:
    """A row id from the query string (`?before=`), or None when absent or not one."""
    return parse_row_id(request.args.get(name, ""))


def query_page(name: str = "page") -> int:
    """The page asked for in the query: 1 if absent or unreadable, at most MAX_PAGE."""
    value = parse_row_id(request.args.get(name, ""))
    return min(max(1, value or 1), MAX_PAGE)
