"""What /Users and /Groups share: list parameters, filtering, ids and ETags."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask import g
from flask import request
from sqlalchemy import Select
from sqlalchemy.exc import IntegrityError

from blueprints.scim.errors import ScimError
from blueprints.scim.errors import bad_request
from blueprints.scim.filter_syntax import FilterError
from blueprints.scim.filters import Field
from blueprints.scim.filters import compile_filter
from blueprints.scim.filters import sort_column
from blueprints.scim.projection import project
from blueprints.scim.schema import etag
from core.extensions import db
from core.models import Group
from core.models import User
from core.models import parse_row_id


@dataclass
class Page:
    """One page of a filtered list."""

    rows: list[Any]
    total: int
    start_index: int


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise bad_request(f"{name} must be an integer.") from exc


def list_page(
    query: Select, model_id: Any, fields: dict[str, Field], schemas: tuple[str, ...]
) -> Page:
    """Apply `filter`, `sortBy`/`sortOrder` and `startIndex`/`count` (RFC 7644 §3.4.2).

    startIndex is 1-based (values below 1 count as 1); count=0 asks for the total
    only; count is capped at SCIM_MAX_PAGE_SIZE.
    """
    text = request.args.get("filter")
    if text is not None:
        try:
            query = query.where(compile_filter(text, fields, schemas))
        except FilterError as exc:
            raise bad_request(str(exc), "invalidFilter") from exc
    start_index = max(1, _int_arg("startIndex", 1))
    count = min(
        max(0, _int_arg("count", 100)), current_app.config["SCIM_MAX_PAGE_SIZE"]
    )
    total = db.session.execute(
        query.with_only_columns(db.func.count()).order_by(None)
    ).scalar_one()
    if count == 0 or start_index > total:
        return Page([], total, start_index)
    order = model_id
    sort_by = request.args.get("sortBy")
    if sort_by:
        try:
            order = sort_column(sort_by, fields, schemas)
        except FilterError as exc:
            raise bad_request(str(exc), "invalidValue") from exc
    descending = request.args.get("sortOrder", "ascending").lower() == "descending"
    ordering = [order.desc() if descending else order.asc()]
    if order is not model_id:
        ordering.append(model_id)
    rows = list(
        db.session.execute(
            query.order_by(*ordering).offset(start_index - 1).limit(count)
        ).scalars()
    )
    return Page(rows, total, start_index)


def load_resource(model: Any, resource_id: str, resource: str) -> Any:
    """A row of the key's organization by SCIM id; any other id is 404.

    :raise ScimError: 404 if it does not exist in this organization.
    """
    row = db.session.execute(
        db.select(model).filter_by(
            id=parse_id(resource_id, resource), organization_id=g.org_id
        )
    ).scalar_one_or_none()
    if row is None:
        raise ScimError(404, f"{resource} {resource_id} not found")
    return row


def flush_or_conflict(detail: str) -> None:
    """Flush; a unique index violation (a racing request) becomes a 409."""
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise ScimError(409, detail, "uniqueness") from exc


def projected(body: dict, core_schema: str) -> dict:
    """`body` cut to the request's `attributes` / `excludedAttributes`."""
    return project(
        body,
        request.args.get("attributes"),
        request.args.get("excludedAttributes"),
        core_schema,
    )


def parse_id(resource_id: str, resource: str) -> int:
    """Our ids are integers; anything else cannot exist (404, not 400)."""
    row_id = parse_row_id(resource_id)
    if row_id is None:
        raise ScimError(404, f"{resource} {resource_id} not found")
    return row_id


def check_if_match(row: User | Group) -> None:
    """Honour If-Match (RFC 7644 §3.14): a stale version is 412.

    :raise ScimError: 412 when the client's version is not the current one.
    """
    wanted = request.headers.get("If-Match")
    if not wanted or wanted.strip() == "*":
        return
    current = etag(row)
    candidates = [tag.strip() for tag in wanted.split(",")]
    if current not in candidates and current.removeprefix("W/") not in candidates:
        raise ScimError(412, "The resource changed since you read it (If-Match).")
