"""The filters of the logs: read from the query string, checked, made SQL.

Shared by the audit log and the provisioning activity. Whatever a URL holds,
a filter is either understood or refused with a sentence (the page answers
400 and shows it); it never reaches the database unchecked. Text filters are
case-insensitive substrings with LIKE's wildcards escaped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta

from sqlalchemy import ColumnElement
from sqlalchemy import or_
from werkzeug.datastructures import MultiDict

# The longest text a filter keeps (longer input is refused, not cut).
MAX_TEXT = 200


@dataclass
class Filters:
    """The values a person typed (as typed, for the form) and what they mean."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    since: datetime | None = None
    until: datetime | None = None

    def text(self, name: str) -> str:
        """A text filter's value ("" when absent)."""
        return self.values.get(name, "")

    def query_args(self) -> dict[str, str]:
        """The filter as query-string arguments (for the pager and the CSV link)."""
        return {name: value for name, value in self.values.items() if value}


def read(args: MultiDict[str, str], texts: tuple[str, ...]) -> Filters:
    """Read `texts` (free-text filters) and the dates `from`/`to` from `args`."""
    found = Filters()
    for name in texts:
        value = " ".join(args.get(name, "").split())
        if len(value) > MAX_TEXT:
            found.errors[name] = f"At most {MAX_TEXT} characters."
            value = value[:MAX_TEXT]
        if "\x00" in value:
            found.errors[name] = "This text cannot be searched for."
            value = value.replace("\x00", "")
        found.values[name] = value
    found.since = _day(args, "from", found)
    until = _day(args, "to", found)
    found.until = _end_of(until) if until else None
    if found.since and found.until and found.since >= found.until:
        found.errors["to"] = "The end date is before the start date."
    return found


def _day(args: MultiDict[str, str], name: str, found: Filters) -> datetime | None:
    """The start (UTC) of the day in `args[name]` (YYYY-MM-DD), or None."""
    value = args.get(name, "").strip()
    found.values[name] = value[:10] if len(value) <= 10 else value[:40]
    if not value:
        return None
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        day = None
    if day is None:
        found.errors[name] = "A date such as 2026-12-01 (YYYY-MM-DD)."
        return None
    return datetime.combine(day, time.min, tzinfo=UTC)


def _end_of(start: datetime) -> datetime | None:
    """The start of the next day (None after 9999-12-31: no upper bound)."""
    try:
        return start + timedelta(days=1)
    except OverflowError:
        return None


def like_pattern(text: str) -> str:
    """`%text%` with LIKE's wildcards escaped (escape character: backslash)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains(column: ColumnElement[str], text: str) -> ColumnElement[bool]:
    """`column` holds `text`, whatever the case."""
    return column.ilike(like_pattern(text), escape="\\")


def contains_json(column: ColumnElement[str], text: str) -> ColumnElement[bool]:
    """A JSON column's text holds `text`, as typed or as JSON escapes it.

    JSON columns store non-ASCII characters and quotes escaped (`\\u00e9`,
    `\\"`), so both spellings are searched.
    """
    escaped = json.dumps(text)[1:-1]
    if escaped == text:
        return contains(column, text)
    return or_(contains(column, text), contains(column, escaped))
