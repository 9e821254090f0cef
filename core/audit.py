"""The audit log: one function that every blueprint calls to record an event.

`record_repeated` is for refusals an attacker can repeat at will (a throttled
sign-in, an OIDC callback with no sign-in in progress): it writes one row per
organization, kind, key and window, and counts the repeats on it, so the log
grows with the attacker's effort (addresses, accounts, time), not with their
request rate.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from flask import current_app
from flask import has_request_context
from flask import request
from flask_login import current_user

from core.authority import Actor
from core.extensions import db
from core.extensions import upsert_insert
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
_TABLE = AuditEvent.__table__


def repeat_window() -> timedelta:
    """How long one aggregated row keeps counting: the sign-in throttle's window."""
    return timedelta(seconds=current_app.config["SIGNIN_FAILURE_WINDOW_SECONDS"])


def repeat_key(kind: str, organization_id: int | None, key: str) -> str:
    """The `repeat_key` of the open row for (organization, kind, key)."""
    text = f"{organization_id if organization_id is not None else ''}|{kind}|{key}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def record_repeated(
    kind: str,
    organization: Organization | int | None,
    *,
    key: str,
    actor: User | Actor | str | None = None,
    target: str = "",
    **details: Any,
) -> None:
    """Record an event that may repeat many times: count it on one row per window.

    The first occurrence of (organization, kind, `key`) inserts a row with
    `repeat_count` 1; every later one within the window (`repeat_window()`,
    counted from that first occurrence, which stays `created_at`) adds one to
    `repeat_count` and moves `last_at`. Actor, target, address and details are
    the first occurrence's: put what tells occurrences apart into `key`, and
    only values the attacker cannot vary freely (or every request would open a
    row of its own). Runs at once, in the caller's transaction (the caller
    commits).

    Safe under concurrent writers on SQLite and PostgreSQL: the open row holds
    `repeat_key` (a unique index), so concurrent first occurrences become one
    insert and increments (INSERT ... ON CONFLICT DO UPDATE). When the window
    is over, the old row is closed (its `repeat_key` set to NULL, which never
    collides) and the next occurrence opens a new one.
    """
    values = _values(kind, organization, actor, target, details)
    now = utcnow()
    digest = repeat_key(kind, values["organization_id"], key)
    session = db.session
    session.execute(
        _TABLE.update()
        .where(_TABLE.c.repeat_key == digest)
        .where(_TABLE.c.created_at <= now - repeat_window())
        .values(repeat_key=None)
    )
    statement = upsert_insert()(_TABLE).values(
        **values, created_at=now, last_at=now, repeat_count=1, repeat_key=digest
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[_TABLE.c.repeat_key],
            set_={
                "repeat_count": _TABLE.c.repeat_count + 1,
                "last_at": statement.excluded.last_at,
            },
        )
    )


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
