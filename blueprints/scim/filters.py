"""SCIM list filters (RFC 7644 §3.4.2.2) compiled to SQLAlchemy, and sortBy.

Each resource declares its attributes as `Field`s. Case-insensitive attributes
(RFC 7643 `caseExact: false`, e.g. userName) compare against a case-folded key
column, so `userName eq "..."` is one index lookup whatever the case sent.
The filter's syntax is `filter_syntax`'s; anything not understood is a
`FilterError` (400 invalidFilter), never a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import and_
from sqlalchemy import false
from sqlalchemy import not_
from sqlalchemy import or_
from sqlalchemy import true

from blueprints.scim.filter_syntax import FilterError
from blueprints.scim.filter_syntax import parse_filter
from core.models import fold
from core.models import parse_row_id


@dataclass(frozen=True)
class Field:
    """How one SCIM attribute maps to SQL.

    kind:
      "ci"       case-insensitive string; `column` holds values keyed by `key`
                 (case-folded names; `email_fold` for emails)
      "exact"    case-sensitive string
      "int_id"   integer primary key exposed as a string id
      "bool"     `column` is a boolean SQL expression
      "datetime" timestamp column (UTC)
      "const"    a fixed value for every row (`const`), e.g. emails.type "work"
      "exists"   `build(op, value)` returns the whole expression (e.g. members.value)
    """

    kind: str
    column: Any = None
    const: Any = None
    build: Callable[[str, Any], ColumnElement[bool]] | None = None
    nullable: bool = False
    sortable: bool = True
    key: Callable[[str], str] = fold


# -- compiler -----------------------------------------------------------------


def strip_schema(path: str, schemas: tuple[str, ...]) -> str:
    """Drop a known schema URN prefix (`urn:...:User:userName` → `userName`)."""
    if path.lower().startswith("urn:"):
        for schema in schemas:
            if path.lower().startswith(schema.lower() + ":"):
                return path[len(schema) + 1 :]
        raise FilterError(f"Attribute {path!r} belongs to a schema this server lacks.")
    return path


def compile_filter(
    text: str, fields: dict[str, Field], schemas: tuple[str, ...]
) -> ColumnElement[bool]:
    """Compile a SCIM filter into a SQLAlchemy boolean expression.

    :param fields: attribute path (lower-cased, e.g. "name.givenname") → Field.
    :raise FilterError: when the filter is malformed or names unknown attributes.
    """
    return _Compiler(fields, schemas).build(parse_filter(text), prefix="")


class _Compiler:
    def __init__(self, fields: dict[str, Field], schemas: tuple[str, ...]) -> None:
        self.fields = fields
        self.schemas = schemas

    def field(self, path: str) -> Field:
        key = strip_schema(path, self.schemas).lower()
        found = self.fields.get(key)
        if found is None:
            raise FilterError(f"Filtering on {path!r} is not supported.")
        return found

    def build(self, node: tuple, prefix: str) -> ColumnElement[bool]:
        kind = node[0]
        if kind == "and":
            return and_(self.build(node[1], prefix), self.build(node[2], prefix))
        if kind == "or":
            return or_(self.build(node[1], prefix), self.build(node[2], prefix))
        if kind == "not":
            return not_(self.build(node[1], prefix))
        if kind == "vp":
            if prefix:
                raise FilterError("Value paths cannot be nested.")
            return self.build(node[2], strip_schema(node[1], self.schemas) + ".")
        if kind == "pr":
            return self.present(self.field(prefix + node[1]))
        return self.compare(self.field(prefix + node[1]), node[2], node[3])

    @staticmethod
    def present(field: Field) -> ColumnElement[bool]:
        if field.kind in ("bool", "int_id"):
            return true()
        if field.kind == "const":
            return true() if field.const is not None else false()
        if field.kind == "exists":
            assert field.build is not None
            return field.build("pr", None)
        if field.kind == "datetime":
            return field.column.is_not(None)
        return and_(field.column.is_not(None), field.column != "")

    def compare(self, field: Field, op: str, value: Any) -> ColumnElement[bool]:
        if field.kind == "exists":
            assert field.build is not None
            return field.build(op, value)
        if field.kind == "const":
            return true() if _python_compare(field.const, op, value) else false()
        if value is None:
            if op == "eq":
                return field.column.is_(None) if field.nullable else false()
            if op == "ne":
                return field.column.is_not(None) if field.nullable else true()
            raise FilterError(f"{op} cannot compare with null.")
        if field.kind == "bool":
            return self.compare_bool(field, op, value)
        if field.kind == "int_id":
            return self.compare_id(field, op, value)
        if field.kind == "datetime":
            return self.compare_datetime(field, op, value)
        if not isinstance(value, str):
            raise FilterError("This attribute is compared with a quoted string.")
        column = field.column
        if field.kind == "ci":
            value = field.key(value)
        if "\x00" in value:
            # No stored value holds NUL (every input refuses control characters),
            # PostgreSQL cannot be sent one, and SQLite's LIKE stops reading at
            # it: such a comparison matches nothing, except `ne`, which is all.
            return true() if op == "ne" else false()
        expression = _string_compare(column, op, value)
        if op == "ne" and field.nullable:
            expression = or_(expression, column.is_(None))
        return expression

    @staticmethod
    def compare_bool(field: Field, op: str, value: Any) -> ColumnElement[bool]:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool) or op not in ("eq", "ne"):
            raise FilterError(
                "Boolean attributes support eq and ne with true or false."
            )
        wanted = value if op == "eq" else not value
        return field.column if wanted else not_(field.column)

    @staticmethod
    def compare_id(field: Field, op: str, value: Any) -> ColumnElement[bool]:
        if op not in ("eq", "ne"):
            raise FilterError("id supports eq and ne.")
        row_id = parse_row_id(str(value))
        if row_id is None:
            return false() if op == "eq" else true()
        return field.column == row_id if op == "eq" else field.column != row_id

    @staticmethod
    def compare_datetime(field: Field, op: str, value: Any) -> ColumnElement[bool]:
        if op in ("co", "sw", "ew") or not isinstance(value, str):
            raise FilterError(
                "Dates support eq, ne, gt, ge, lt and le with a quoted date."
            )
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise FilterError(f"{value!r} is not an ISO 8601 date-time.") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            moment = moment.astimezone(UTC)
        except OverflowError as exc:
            raise FilterError(f"{value!r} is outside the calendar.") from exc
        return _ordered_compare(field.column, op, moment)


def _string_compare(column: Any, op: str, value: str) -> ColumnElement[bool]:
    if op == "co":
        return column.contains(value, autoescape=True)
    if op == "sw":
        return column.startswith(value, autoescape=True)
    if op == "ew":
        return column.endswith(value, autoescape=True)
    return _ordered_compare(column, op, value)


def _ordered_compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    operations = {
        "eq": column.__eq__,
        "ne": column.__ne__,
        "gt": column.__gt__,
        "ge": column.__ge__,
        "lt": column.__lt__,
        "le": column.__le__,
    }
    return operations[op](value)


def _python_compare(actual: Any, op: str, value: Any) -> bool:
    if isinstance(actual, str) and isinstance(value, str):
        actual, value = fold(actual), fold(value)
    if op == "eq":
        return actual == value
    if op == "ne":
        return actual != value
    if isinstance(actual, str) and isinstance(value, str):
        return {
            "co": value in actual,
            "sw": actual.startswith(value),
            "ew": actual.endswith(value),
            "gt": actual > value,
            "ge": actual >= value,
            "lt": actual < value,
            "le": actual <= value,
        }[op]
    raise FilterError(f"{op} does not apply to this attribute.")


def sort_column(
    sort_by: str, fields: dict[str, Field], schemas: tuple[str, ...]
) -> Any:
    """The column to order by for `sortBy` (RFC 7644 §3.4.2.3).

    :raise FilterError: for attributes that cannot be sorted on.
    """
    field = fields.get(strip_schema(sort_by, schemas).lower())
    if field is None or not field.sortable or field.kind in ("const", "exists"):
        raise FilterError(f"Sorting by {sort_by!r} is not supported.")
    return field.column
