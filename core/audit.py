"""The audit log: one function that every blueprint calls to record an event."""

from __future__ import annotations

from typing import Any

from flask import has_request_context
from flask import request
from flask_login import current_user

from core.authority import Actor
from core.extensions import db
from core.models import AuditEvent
from core.models import Organization
from core.models import User
from core.models import utcnow


def record(
    kind: str,
    organization: Organization | int | None,
    *,
    actor: User | Actor | str | None = None,
    target: str = "",
    commit: bool = False,
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the session (and commit it when asked).

    `actor` defaults to the signed-in user of the request, or "anonymous". Pass a
    string for non-user actors: "cli", "api key gh_abc…", "okta".
    Never put secrets in `details`: the log is shown to every admin.
    """
    event = AuditEvent(**_values(kind, organization, actor, target, details))
    db.session.add(event)
    if commit:
        db.session.commit()
    return event


def record_now(
    kind: str, organization_id: int, *, actor: str, target: str = "", **details: Any
) -> None:
    """Insert an audit event at once with plain SQL (not committed).

    For hot paths such as SCIM, where the ORM's unit of work would cost more than
    the insert itself.
    """
    values = _values(kind, organization_id, actor, target, details)
    values["created_at"] = utcnow()
    db.session.connection().execute(_INSERT, values)


_INSERT = AuditEvent.__table__.insert()


def _values(
    kind: str,
    organization: Organization | int | None,
    actor: User | Actor | str | None,
    target: str,
    details: dict[str, Any],
) -> dict[str, Any]:
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user
    actor_user_id = None
    if isinstance(actor, Actor):
        actor_user_id = actor.user_id if actor.kind == "user" else None
        actor = actor.label
    elif isinstance(actor, User):
        actor_user_id = actor.id
        actor = actor.email
    actor_label = actor or "anonymous"
    return {
        "organization_id": organization.id
        if isinstance(organization, Organization)
        else organization,
        "kind": kind,
        "actor": actor_label[:400],
        "actor_user_id": actor_user_id,
        "target": target[:400],
        "ip": (request.remote_addr or "") if has_request_context() else "",
        "details": details,
    }
