"""The audit log as CSV: the page's filter, at most CSV_MAX_ROWS rows.

Cells are what the page shows, in words. A cell that a spreadsheet would run
as a formula (starting with = + - @, or a tab or carriage return) gets a
leading apostrophe (OWASP's advice for CSV injection), so an event's text,
which anyone signing in can influence (a typed email), never executes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from flask import Response
from sqlalchemy import Select

from blueprints.audit.present import EventView
from blueprints.audit.present import present
from core.extensions import db
from core.models import AuditEvent

# The most rows one export holds (newest first); the docs say so.
CSV_MAX_ROWS = 10_000
# Rows named per batch of look-ups (people and keys).
BATCH = 500
HEADER = [
    "Time (UTC)",
    "Event",
    "Kind",
    "Actor",
    "Actor email",
    "Target",
    "What happened",
    "Status",
    "Times",
    "Last time (UTC)",
    "Address",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The cell's text, defused if a spreadsheet would take it for a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def row_of(event: EventView) -> list[str]:
    """One event as CSV cells."""
    cells = [
        event.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        event.label,
        event.kind,
        event.actor,
        event.actor_email,
        event.target,
        "; ".join(event.lines),
        event.status,
        str(event.repeat_count),
        event.last_at.strftime("%Y-%m-%d %H:%M:%S") if event.last_at else "",
        event.ip,
    ]
    return [safe_cell(cell) for cell in cells]


def csv_text(views: Iterable[EventView]) -> str:
    """The CSV document (header first)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(row_of(view) for view in views)
    return out.getvalue()


def export(query: Select[tuple[AuditEvent]], org_id: int, filename: str) -> Response:
    """The filtered events as a CSV download (newest first, capped)."""
    events = db.session.execute(query.limit(CSV_MAX_ROWS)).scalars().all()
    views: list[EventView] = []
    for start in range(0, len(events), BATCH):
        views += present(events[start : start + BATCH], org_id)
    response = Response(csv_text(views), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
