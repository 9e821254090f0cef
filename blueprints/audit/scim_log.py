"""The provisioning activity (Settings → Provisioning): filters and words.

Each SCIM request as a person reads it: when, which key (by name), what it
asked ("Update user"), how it ended (HTTP status in words), whom it touched
and what changed, said about people. Filters: key, status, method, resource,
dates and free text. A page costs a fixed number of statements: the keys of
the organization, the page of requests, and the members its group changes name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from flask import request
from sqlalchemy import Select
from sqlalchemy import Text
from sqlalchemy import cast
from sqlalchemy import or_

from blueprints.audit import filters
from blueprints.audit.changes import change_lines
from blueprints.audit.changes import member_ids
from blueprints.audit.labels import HTTP_WORDS
from blueprints.audit.labels import REQUEST_WORDS
from blueprints.audit.labels import SCIM_TYPE_WORDS
from core.extensions import db
from core.models import ApiKey
from core.models import ScimRequest
from core.models import User
from core.models import parse_row_id
from core.params import query_row_id

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
RESOURCES = {"User": "Users", "Group": "Groups"}
STATUSES = {"ok": "Succeeded", "error": "Failed"}
# At most this many keys are offered in the key filter (newest first).
MAX_KEYS = 200


@dataclass(frozen=True)
class KeyOption:
    """A SCIM key of the organization, as the key filter and the rows name it."""

    id: int
    name: str
    prefix: str
    revoked: bool


@dataclass(frozen=True)
class RequestView:
    """One SCIM request in words."""

    id: int
    created_at: datetime
    key: str
    key_prefix: str
    method: str
    path: str
    asked: str
    status: int
    status_words: str
    ok: bool
    problem: str
    detail: str
    resource_type: str | None
    resource_id: int | None
    resource_label: str
    lines: list[str]


def activity_page(org_id: int) -> tuple[dict[str, Any], int]:
    """The template values of the activity page for this request, and its status
    (400 when a filter is not understood: the form says which)."""
    found = filters.read(request.args, ("q",))
    keys = key_options(org_id)
    choices = _choices(found, {key.id for key in keys})
    context: dict[str, Any] = {"found": found, "keys": keys, "rows": []}
    context.update(choices=choices, key_pairs=key_pairs(keys), resources=RESOURCES)
    context.update(method_pairs=[(method, method) for method in METHODS])
    context.update(statuses=STATUSES, next_before=None, first_page=True)
    if found.errors:
        return context, 400
    before = query_row_id("before")
    per_page = current_app.config["AUDIT_PER_PAGE"]
    query = request_query(org_id, found, choices)
    if before:
        query = query.where(ScimRequest.id < before)
    rows = db.session.execute(query.limit(per_page + 1)).scalars().all()
    more = len(rows) > per_page
    rows = rows[:per_page]
    context["rows"] = present(rows, org_id, {key.id: key for key in keys})
    context["next_before"] = rows[-1].id if more else None
    context["first_page"] = before is None
    return context, 200


def key_options(org_id: int) -> list[KeyOption]:
    """The organization's keys with the scim scope, newest first."""
    rows = db.session.execute(
        db.select(ApiKey.id, ApiKey.name, ApiKey.prefix, ApiKey.revoked_at)
        .where(ApiKey.organization_id == org_id, ApiKey.scopes.contains("scim"))
        .order_by(ApiKey.id.desc())
        .limit(MAX_KEYS)
    )
    return [KeyOption(r.id, r.name, r.prefix, r.revoked_at is not None) for r in rows]


def key_pairs(keys: list[KeyOption]) -> list[tuple[str, str]]:
    """(value, words) of the key filter's options."""
    return [
        (
            str(key.id),
            f"{key.name} ({key.prefix}…)" + (" · revoked" if key.revoked else ""),
        )
        for key in keys
    ]


def _choices(found: filters.Filters, key_ids: set[int]) -> dict[str, str]:
    """The select filters (key, status, method, resource), checked."""
    args = request.args
    status = "error" if args.get("errors") == "1" else args.get("status", "")
    chosen = {
        "key": args.get("key", "").strip(),
        "status": status,
        "method": args.get("method", "").strip().upper(),
        "resource": args.get("resource", "").strip(),
    }
    if chosen["key"] and parse_row_id(chosen["key"]) not in key_ids:
        found.errors["key"] = "No such SCIM key in this organization."
    if chosen["status"] and chosen["status"] not in STATUSES:
        found.errors["status"] = "Choose succeeded or failed."
    if chosen["method"] and chosen["method"] not in METHODS:
        found.errors["method"] = "Choose one of " + ", ".join(METHODS) + "."
    if chosen["resource"] and chosen["resource"] not in RESOURCES:
        found.errors["resource"] = "Choose users or groups."
    for name, value in chosen.items():
        found.values[name] = value[:40]
    return chosen


def request_query(
    org_id: int, found: filters.Filters, chosen: dict[str, str]
) -> Select[tuple[ScimRequest]]:
    """The organization's SCIM requests that pass the filters, newest first."""
    query = db.select(ScimRequest).where(ScimRequest.organization_id == org_id)
    if chosen["key"]:
        query = query.where(ScimRequest.api_key_id == parse_row_id(chosen["key"]))
    if chosen["status"] == "ok":
        query = query.where(ScimRequest.status < 400)
    elif chosen["status"] == "error":
        query = query.where(ScimRequest.status >= 400)
    if chosen["method"]:
        query = query.where(ScimRequest.method == chosen["method"])
    if chosen["resource"]:
        path = f"%/{RESOURCES[chosen['resource']]}%"
        query = query.where(
            or_(
                ScimRequest.resource_type == chosen["resource"],
                ScimRequest.path.like(path),
            )
        )
    if found.since is not None:
        query = query.where(ScimRequest.created_at >= found.since)
    if found.until is not None:
        query = query.where(ScimRequest.created_at < found.until)
    text = found.text("q")
    if text:
        query = query.where(
            or_(
                filters.contains(ScimRequest.path, text),
                filters.contains(ScimRequest.detail, text),
                filters.contains(ScimRequest.resource_label, text),
                filters.contains(ScimRequest.scim_type, text),
                filters.contains_json(cast(ScimRequest.changes, Text), text),
            )
        )
    return query.order_by(ScimRequest.id.desc())


def present(
    rows: list[ScimRequest], org_id: int, keys: dict[int, KeyOption]
) -> list[RequestView]:
    """The requests in words (one query for the members they name)."""
    ids: set[int] = set()
    for row in rows:
        ids |= member_ids(row.changes if isinstance(row.changes, dict) else {})
    emails: dict[int, str] = {}
    if ids:
        found = db.session.execute(
            db.select(User.id, User.email).where(
                User.organization_id == org_id, User.id.in_(ids)
            )
        )
        emails = {user_id: email for user_id, email in found}
    return [view(row, keys, emails) for row in rows]


def view(
    row: ScimRequest, keys: dict[int, KeyOption], emails: dict[int, str]
) -> RequestView:
    """One request in words."""
    key = keys.get(row.api_key_id or 0)
    resource = row.resource_type or _resource_of(row.path)
    problem = ""
    if row.scim_type:
        words = SCIM_TYPE_WORDS.get(row.scim_type)
        problem = f"{words} ({row.scim_type})" if words else row.scim_type
    label = row.resource_label or ""
    return RequestView(
        id=row.id,
        created_at=row.created_at,
        key=f"Key “{key.name}”" if key else "No valid key",
        key_prefix=f"{key.prefix}…" if key else "",
        method=row.method,
        path=row.path,
        asked=REQUEST_WORDS.get((row.method, resource or ""), row.method),
        status=row.status,
        status_words=HTTP_WORDS.get(row.status, ""),
        ok=row.status < 400,
        problem=problem,
        detail=row.detail or "",
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        resource_label=label,
        lines=change_lines(row.changes or {}, group=label, members=emails),
    )


def _resource_of(path: str) -> str | None:
    """ "User" or "Group" from a SCIM path (for requests that touched nothing)."""
    for resource, segment in RESOURCES.items():
        if f"/{segment}" in path:
            return resource
    return None
