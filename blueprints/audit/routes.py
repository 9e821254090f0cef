"""Views of the audit blueprint."""

from __future__ import annotations

from flask import current_app
from flask import render_template
from flask import request
from flask_login import current_user

from blueprints.audit import bp
from core.extensions import db
from core.models import AuditEvent
from core.params import query_row_id
from core.security import admin_required


@bp.get("")
@admin_required
def index() -> str:
    """Audit events of the organization, newest first, filtered by kind.

    Paged by id (`before`), so deep pages cost the same as the first one.
    """
    org_id = current_user.organization_id
    kind = request.args.get("kind", "")[:60]
    before = query_row_id("before")
    per_page = current_app.config["AUDIT_PER_PAGE"]
    query = db.select(AuditEvent).where(AuditEvent.organization_id == org_id)
    if kind:
        query = query.where(AuditEvent.kind == kind)
    if before:
        query = query.where(AuditEvent.id < before)
    events = (
        db.session.execute(query.order_by(AuditEvent.id.desc()).limit(per_page + 1))
        .scalars()
        .all()
    )
    more = len(events) > per_page
    events = events[:per_page]
    kinds = (
        db.session.execute(
            db.select(AuditEvent.kind)
            .where(AuditEvent.organization_id == org_id)
            .distinct()
            .order_by(AuditEvent.kind)
        )
        .scalars()
        .all()
    )
    return render_template(
        "audit/index.html",
        events=events,
        kinds=kinds,
        kind=kind,
        next_before=events[-1].id if more else None,
        first_page=before is None,
    )
