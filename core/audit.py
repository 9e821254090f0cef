"""The audit log: one function that every blueprint calls to record an event."""

from __future__ import annotations

from typing import Any

from flask import has_request_context
from flask import request
from flask_login import current_user

from core.extensions import db
from core.models import AuditEvent
from core.models import Organization
from core.models import User


def record(
    kind: str,
    organization: Organization | int | None,
    *,
    actor: User | str | None = None,
    target: str = "",
    commit: bool = False,
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the session (and commit it when asked).

    `actor` defaults to the signed-in user of the request, or "anonymous". Pass a
    string for non-user actors: "cli", "api key gh_abc…", "okta".
    Never put secrets in `details`: the log is shown to every admin.
    """
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user
    actor_user_id = actor.id if isinstance(actor, User) else None
    actor_label = actor.email if isinstance(actor, User) else (actor or "anonymous")
    org_id = organization.id if isinstance(organization, Organization) else organization
    event = AuditEvent(
        organization_id=org_id,
        kind=kind,
        actor=actor_label[:400],
        actor_user_id=actor_user_id,
        target=target[:400],
        ip=(request.remote_addr or "") if has_request_context() else "",
        details=details,
    )
    db.session.add(event)
    if commit:
        db.session.commit()
    return event
