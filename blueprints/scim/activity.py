"""The provisioning activity log: one row per SCIM request, and an audit event
for each change to a user or group.

A 401 (no key, an unknown, revoked or deactivated member's key, the wrong
scheme) gets no activity row: anyone can send millions. It is counted instead
(`record_unauthorized`): one `scim.unauthorized` audit row per key, reason and
window, attributed to an organization only when the secret matched one of its
keys. Unknown keys and missing keys name no organization, so they are counted
on install-wide rows (no organization) that no organization's pages show.

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

from blueprints.scim.auth import Unauthorized
from blueprints.scim.errors import ScimError
from blueprints.scim.http import error_response
from blueprints.scim.results import Outcome
from blueprints.scim.results import what_happened
from core import audit
from core.extensions import db
from core.health import SCIM_UNAUTHORIZED
from core.models import ScimRequest
from core.models import utcnow
from core.security import note_api_key_use_by_id


def finish_request(response: Response) -> Response:
    """Record the request in the activity log and commit the request's work once.

    What the request did comes with the response its view (or error handler)
    returned: see `results.ScimResponse`.
    """
    unauthorized = g.get("scim_unauthorized")
    if unauthorized is not None:
        record_unauthorized(unauthorized)
        return response
    if g.get("org_id") is None:
        return response  # refused before we knew the organization: nothing to log
    outcome, error = what_happened(response)
    if response.status_code < 400:
        error = _commit_with_activity(response.status_code, outcome)
        if error is None:
            return response
        response = error_response(error)
    db.session.rollback()
    try:
        note_key_use()
        _record_activity(response.status_code, outcome, error)
        db.session.commit()
    except (SQLAlchemyError, UnicodeError):
        db.session.rollback()
        current_app.logger.exception("Could not record a failed SCIM request")
    return response


def _commit_with_activity(status: int, outcome: Outcome | None) -> ScimError | None:
    """Commit the request's work with its activity row; the error if that failed."""
    try:
        note_key_use()
        _record_activity(status, outcome, None)
        _audit_change(outcome)
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


def note_key_use() -> None:
    """Note the use of the key whose secret the request presented, if any.

    Written with the request's activity (a failed request's rollback would
    lose it otherwise) and also for refused keys: a revoked key that Okta
    still sends is in use, and its "last used" says so.
    """
    seen = g.get("scim_key_seen")
    if seen is not None:
        note_api_key_use_by_id(*seen)


def record_unauthorized(refusal: Unauthorized) -> None:
    """Count a 401 on its window's row (core.audit.record_repeated) and commit.

    One row per (organization, key, reason) and window, whatever the request
    rate; the method and path are the window's first request's. The client's
    address is not in the key, so many addresses cannot open many rows.
    """
    try:
        note_key_use()
        audit.record_repeated(
            SCIM_UNAUTHORIZED,
            refusal.organization_id,
            key=f"{refusal.key_id or ''}|{refusal.reason}",
            actor=f"api key {refusal.prefix}…" if refusal.prefix else "unknown caller",
            reason=refusal.reason,
            key_id=refusal.key_id,
            status=401,
            method=request.method,
            path=request.path[:200],
        )
        db.session.commit()
    except (SQLAlchemyError, UnicodeError):
        db.session.rollback()
        current_app.logger.exception("Could not count a refused SCIM request")


_ACTIVITY_INSERT = ScimRequest.__table__.insert()


def _record_activity(
    status: int, outcome: Outcome | None, error: ScimError | None
) -> None:
    """Insert this request's activity row with plain SQL: it runs on every request."""
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
        resource_type=outcome.resource_type if outcome else None,
        resource_id=outcome.resource_id if outcome else None,
        resource_label=(outcome.label if outcome else "")[:400] or None,
        changes=outcome.changes if outcome else {},
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    db.session.connection().execute(_ACTIVITY_INSERT, values)


def _audit_change(outcome: Outcome | None) -> None:
    """Write an audit event for a request that changed a user or group."""
    if request.method == "GET" or outcome is None or not outcome.changes:
        return
    changes = outcome.changes
    if request.method == "POST":
        verb = "adopted" if "adopted" in changes else "created"
    elif request.method == "DELETE":
        verb = "deleted"
    elif "active" in changes:
        verb = "reactivated" if changes["active"][1] else "deactivated"
    else:
        verb = "updated"
    audit.record_now(
        f"scim.{outcome.resource_type.lower()}.{verb}",
        g.org_id,
        actor=f"api key {g.api_key_prefix}…",
        target=outcome.label or "",
        changes=changes,
    )
