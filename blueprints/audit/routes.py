"""Views of the audit blueprint."""

from __future__ import annotations

from flask import current_app
from flask import render_template
from flask import request
from flask_login import current_user
from werkzeug.wrappers import Response

from blueprints.audit import bp
from blueprints.audit import export
from blueprints.audit import filters
from blueprints.audit.labels import KIND_LABELS
from blueprints.audit.present import EventView
from blueprints.audit.present import present
from blueprints.audit.queries import TEXTS
from blueprints.audit.queries import event_query
from core.extensions import db
from core.models import AuditEvent
from core.params import query_row_id
from core.security import admin_required


@bp.get("")
@admin_required
def index() -> str | Response | tuple[str, int]:
    """Audit events of the organization, newest first, filtered; `?format=csv`
    downloads the filtered events instead (owners and admins, like the page).

    Paged by id (`before`), so deep pages cost the same as the first one.
    """
    org_id = current_user.organization_id
    found = filters.read(request.args, TEXTS)
    if found.errors:
        return _page(found, [], None, first_page=True), 400
    query = event_query(org_id, found)
    if request.args.get("format") == "csv":
        return export.export(query, org_id, "audit-log.csv")
    before = query_row_id("before")
    if before:
        query = query.where(AuditEvent.id < before)
    per_page = current_app.config["AUDIT_PER_PAGE"]
    events = db.session.execute(query.limit(per_page + 1)).scalars().all()
    more = len(events) > per_page
    events = events[:per_page]
    return _page(
        found,
        present(events, org_id),
        events[-1].id if more else None,
        first_page=before is None,
    )


def _page(
    found: filters.Filters,
    rows: list[EventView],
    next_before: int | None,
    *,
    first_page: bool,
) -> str:
    kind = found.text("kind")
    kinds = sorted(KIND_LABELS.items(), key=lambda item: item[1])
    if kind and kind not in KIND_LABELS:
        kinds.append((kind, kind))
    return render_template(
        "audit/index.html",
        rows=rows,
        found=found,
        kinds=kinds,
        next_before=next_before,
        first_page=first_page,
    )
