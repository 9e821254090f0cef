"""Audit events as a person reads them: who, what, to whom, how it ended.

`present(events, org_id)` turns a page of `AuditEvent` rows into `EventView`s
with two queries whatever the page holds: the people it names (actors and the
members of group changes) and the API keys it names (by their prefix).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from blueprints.audit.changes import change_lines
from blueprints.audit.changes import member_ids
from blueprints.audit.labels import FAILED_KINDS
from blueprints.audit.labels import REFUSED_KINDS
from blueprints.audit.labels import field_words
from blueprints.audit.labels import kind_label
from blueprints.audit.labels import value_words
from core.extensions import db
from core.models import ApiKey
from core.models import AuditEvent
from core.models import User

KEY_ACTOR = "api key "
# Actors that are not people or keys, in words.
ACTOR_WORDS = {
    "cli": "CLI",
    "okta": "Okta",
    "okta sign-in": "Okta",
    "anonymous": "Anonymous",
    "": "Anonymous",
}
# Kinds whose before/after details are one change of one thing.
BEFORE_AFTER = {
    "member.role_changed": "Role",
    "organization.renamed": "Name",
    "organization.plan_changed": "Plan",
}
SWITCHES = {"settings.scim_sync": "after", "settings.okta_dashboard_sign_in": "enabled"}


@dataclass(frozen=True)
class EventView:
    """One audit row as the page and the CSV show it."""

    id: int
    created_at: datetime
    last_at: datetime | None
    repeat_count: int
    kind: str
    label: str
    actor: str
    actor_email: str
    target: str
    lines: list[str]
    status: str  # "success", "refused" or "failed"
    ip: str


@dataclass(frozen=True)
class Names:
    """What a page's rows name: people by id, keys by prefix."""

    people: Mapping[int, tuple[str, str]]
    keys: Mapping[str, str]

    @cached_property
    def emails(self) -> dict[int, str]:
        """Member ids to emails, for group membership changes."""
        return {user_id: email for user_id, (_name, email) in self.people.items()}


def present(events: Iterable[AuditEvent], org_id: int) -> list[EventView]:
    """The events in words (two queries, however many events)."""
    events = list(events)
    names = look_up(events, org_id)
    return [view(event, names) for event in events]


def look_up(events: list[AuditEvent], org_id: int) -> Names:
    """Load the people and keys these events name, within the organization."""
    ids = {e.actor_user_id for e in events if e.actor_user_id is not None}
    for event in events:
        ids |= member_ids(_changes(event.details))
    prefixes = {key_prefix(e.actor) for e in events if e.actor.startswith(KEY_ACTOR)}
    people: dict[int, tuple[str, str]] = {}
    if ids:
        rows = db.session.execute(
            db.select(User).where(User.organization_id == org_id, User.id.in_(ids))
        ).scalars()
        people = {user.id: (user.full_name, user.email) for user in rows}
    keys: dict[str, str] = {}
    if prefixes:
        for prefix, name in db.session.execute(
            db.select(ApiKey.prefix, ApiKey.name)
            .where(ApiKey.organization_id == org_id, ApiKey.prefix.in_(prefixes))
            .order_by(ApiKey.id)
        ):
            keys[prefix] = name
    return Names(people, keys)


def key_prefix(actor: str) -> str:
    """The key prefix in an actor label "api key gh_abc1234…"."""
    return actor[len(KEY_ACTOR) :].rstrip("…")


def view(event: AuditEvent, names: Names) -> EventView:
    """One event in words."""
    actor, email = actor_words(event, names)
    details = event.details if isinstance(event.details, dict) else {}
    return EventView(
        id=event.id,
        created_at=event.created_at,
        last_at=event.last_at if event.repeat_count > 1 else None,
        repeat_count=event.repeat_count,
        kind=event.kind,
        label=kind_label(event.kind),
        actor=actor,
        actor_email=email,
        target=event.target,
        lines=detail_lines(event.kind, details, event.target, names),
        status=status(event.kind, details),
        ip=event.ip,
    )


def actor_words(event: AuditEvent, names: Names) -> tuple[str, str]:
    """(name, email): a person's name and email, a key's name, "Okta", "CLI"."""
    person = names.people.get(event.actor_user_id or 0)
    if person is not None:
        name, email = person
        return (name, email) if name != email else (email, "")
    if event.actor.startswith(KEY_ACTOR):
        prefix = key_prefix(event.actor)
        name = names.keys.get(prefix)
        return (f"Key “{name}”", f"{prefix}…") if name else (f"API key {prefix}…", "")
    return ACTOR_WORDS.get(event.actor, event.actor), ""


def status(kind: str, details: Mapping[str, Any]) -> str:
    """How the event ended: "success", "refused" or "failed"."""
    if kind in REFUSED_KINDS:
        return "refused"
    if kind in FAILED_KINDS:
        return "failed"
    if kind == "settings.okta_tested" and not details.get("passed"):
        return "failed"
    return "success"


def detail_lines(
    kind: str, details: Mapping[str, Any], target: str, names: Names
) -> list[str]:
    """What happened, one sentence per line; never JSON or `key=value`."""
    rest = dict(details)
    lines: list[str] = []
    if "changes" in rest:
        lines += change_lines(_changes(rest), group=target, members=names.emails)
        rest.pop("changes")
    if kind in BEFORE_AFTER and {"before", "after"} <= rest.keys():
        before, after = rest.pop("before"), rest.pop("after")
        change = f"{value_words(before)} → {value_words(after)}"
        lines.append(f"{BEFORE_AFTER[kind]}: {change}")
    if kind in SWITCHES and SWITCHES[kind] in rest:
        lines.append("Turned on" if rest.pop(SWITCHES[kind]) else "Turned off")
        rest.pop("before", None)
    if "reason" in rest:
        lines.append(_sentence(value_words(rest.pop("reason"))))
    if "method" in rest:
        lines.append(f"With {value_words(rest.pop('method'))}")
    lines += [
        f"{field_words(key)}: {value_words(value)}"
        for key, value in sorted(rest.items())
    ]
    return lines


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _changes(details: object) -> dict[str, Any]:
    """The `changes` detail of a SCIM event ({} for any other event)."""
    changes = details.get("changes") if isinstance(details, dict) else None
    return changes if isinstance(changes, dict) else {}
