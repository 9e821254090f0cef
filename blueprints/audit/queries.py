"""The audit log's query: one organization's events, filtered, newest first.

Paged by id (keyset: `before`), so a deep page costs what the first one does.
Text filters are substrings (the organization's events are scanned, within
the retention window: AUDIT_RETENTION_DAYS); the statement count per page is
fixed whatever the filter.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement
from sqlalchemy import Select
from sqlalchemy import Text
from sqlalchemy import cast
from sqlalchemy import literal
from sqlalchemy import or_

from blueprints.audit.filters import Filters
from blueprints.audit.filters import contains
from blueprints.audit.filters import contains_json
from blueprints.audit.labels import KIND_LABELS
from blueprints.audit.present import KEY_ACTOR
from core.extensions import db
from core.models import ApiKey
from core.models import AuditEvent
from core.models import User

TEXTS = ("actor", "kind", "q")
# How many people or keys a name filter may stand for.
MAX_NAMED = 500


def event_query(org_id: int, found: Filters) -> Select[tuple[AuditEvent]]:
    """The organization's events that pass the filters, newest first."""
    query = db.select(AuditEvent).where(AuditEvent.organization_id == org_id)
    kind = found.text("kind")
    if kind:
        query = query.where(AuditEvent.kind == kind)
    if found.text("actor"):
        query = query.where(actor_condition(org_id, found.text("actor")))
    if found.text("q"):
        query = query.where(text_condition(org_id, found.text("q")))
    if found.since is not None:
        query = query.where(AuditEvent.created_at >= found.since)
    if found.until is not None:
        query = query.where(AuditEvent.created_at < found.until)
    return query.order_by(AuditEvent.id.desc())


def actor_condition(org_id: int, text: str) -> ColumnElement[bool]:
    """The actor is `text`: the label stored, a person's name or email, a key's name."""
    people = (
        db.select(User.id)
        .where(
            User.organization_id == org_id,
            or_(
                contains(User.email, text),
                contains(User.display_name, text),
                contains(User.given_name + " " + User.family_name, text),
            ),
        )
        .limit(MAX_NAMED)
    )
    keys = (
        db.select(literal(KEY_ACTOR) + ApiKey.prefix + literal("…"))
        .where(ApiKey.organization_id == org_id, contains(ApiKey.name, text))
        .limit(MAX_NAMED)
    )
    return or_(
        contains(AuditEvent.actor, text),
        AuditEvent.actor_user_id.in_(people.scalar_subquery()),
        AuditEvent.actor.in_(keys.scalar_subquery()),
    )


def text_condition(org_id: int, text: str) -> ColumnElement[bool]:
    """Free text: in the actor, the target, the details (a refusal's reference
    code included), the kind or its label."""
    folded = text.casefold()
    kinds = [kind for kind, label in KIND_LABELS.items() if folded in label.casefold()]
    conditions = [
        actor_condition(org_id, text),
        contains(AuditEvent.target, text),
        contains(AuditEvent.kind, text),
        contains_json(cast(AuditEvent.details, Text), text),
    ]
    if kinds:
        conditions.append(AuditEvent.kind.in_(kinds))
    return or_(*conditions)
