"""The provisioning activity log: one row per SCIM request, and an audit event
for each change to a user or group.

One transaction per request: views change and flush, `finish_request` adds the
activity row (and the audit event) and commits once. A failure rolls everything
back first and then records the failed request alone, so nothing is ever
half-applied. Old rows are deleted by `core.housekeeping`, never here.
"""

from __future__ import annotations

import time

from flask import Response
from flask import current_app
from flask import g
from flask import request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import SQLAlchemyError

from blueprints.scim.errors import ScimError
from blueprints.scim.http import error_response
from core import audit
from core.extensions import db
from core.models import ScimRequest
from core.models import utcnow


def note(
    resource_type: str, resource_id: int | None, label: str, changes: dict | None = None
) -> None:
    """Tell the activity log which resource this request touched and how."""
    g.scim_resource = (resource_type, resource_id, label)
    if changes:
        g.scim_changes = changes


def finish_request(response: Response) -> Response:
    """Record the request in the activity log and commit the request's work once."""
    if g.get("org_id") is None:
        return response  # refused before we knew the organization: nothing to log
    error: ScimError | None = g.get("scim_error")
    if response.status_code < 400:
        error = _commit_with_activity(response.status_code)
        if error is None:
            return response
        response = error_response(error)
    db.session.rollback()
    try:
        _record_activity(response.status_code, error)
        db.session.commit()
    except (SQLAlchemyError, UnicodeError):
        db.session.rollback()
        current_app.logger.exception("Could not record a failed SCIM request")
    return response


def _commit_with_activity(status: int) -> ScimError | None:
    """Commit the request's work with its activity row; the error if that failed."""
    try:
        _record_activity(status, None)
        _audit_change()
        db.session.commit()
        return None
    except IntegrityError:
        db.session.rollback()
        return ScimError(
            409,
            "Another request changed the same value at the same time.",
            "uniqueness",
        )
    except (SQLAlchemyError, UnicodeError):
        db.session.rollback()
        current_app.logger.exception("SCIM commit failed")
        return ScimError(503, "The database is busy; retry the request.")


_ACTIVITY_INSERT = ScimRequest.__table__.insert()


def _record_activity(status: int, error: ScimError | None) -> None:
    """Insert this request's activity row with plain SQL: it runs on every request."""
    resource_type, resource_id, label = g.get("scim_resource", (None, None, None))
    started = g.get("scim_started", time.perf_counter())
    values = dict(
        created_at=utcnow(),
        organization_id=g.org_id,
        api_key_id=g.api_key_id,
        method=request.method,
        path=request.full_path.rstrip("?")[:500],
        status=status,
        scim_type=error.scim_type if error else None,
        detail=error.detail[:500] if error else None,
        resource_type=resource_type,
        resource_id=resource_id,
        resource_label=(label or "")[:400] or None,
        changes=g.get("scim_changes", {}),
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    db.session.connection().execute(_ACTIVITY_INSERT, values)


def _audit_change() -> None:
    """Write an audit event for a request that changed a user or group."""
    resource_type, resource_id, label = g.get("scim_resource", (None, None, None))
    changes = g.get("scim_changes")
    if request.method == "GET" or not resource_type or not changes:
        return
    if request.method == "POST":
        verb = "adopted" if "adopted" in changes else "created"
    elif request.method == "DELETE":
        verb = "deleted"
    elif "active" in changes:
        verb = "reactivated" if changes["active"][1] else "deactivated"
    else:
        verb = "updated"
    audit.record_now(
        f"scim.{resource_type.lower()}.{verb}",
        g.org_id,
        actor=f"api key {g.api_key_prefix}…",
        target=label or "",
        changes=changes,
    )
