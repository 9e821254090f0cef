"""SCIM filter expressions (RFC 7644 §3.4.2.2) compiled to SQLAlchemy.

    filter    = attrExp / logExp / valuePath / "not" "(" filter ")" / "(" filter ")"
    attrExp   = attrPath "pr" / attrPath compareOp compValue
    valuePath = attrPath "[" valFilter "]" [ "." subAttr compareOp compValue ]

Precedence is `not` > `and` > `or`. The trailing `.subAttr op value` after a value
path is not in the RFC's filter grammar, but Entra sends it
(`emails[type eq "work"].value eq "x"`), so it is read as
`emails[type eq "work" and value eq "x"]`.

Each resource declares its attributes as `Field`s. Case-insensitive attributes
(RFC 7643 `caseExact: false`, e.g. userName) compare against a case-folded key
column, so `userName eq "..."` is one index lookup whatever the case sent.
Anything not understood is a `FilterError` (400 invalidFilter), never a 500.
"""

from __future__ import annotations

import json
import re
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

from core.models import fold
from core.models import parse_row_id

MAX_FILTER_LENGTH = 2000
MAX_DEPTH = 32
COMPARE_OPS = ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")


class FilterError(ValueError):
    """The filter cannot be parsed or uses something this server does not support."""


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


# -- tokens -------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    \s*(?:
      (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<punct>[()\[\]])
    | (?P<word>[^\s()\[\]"]+)
    )""",
    re.VERBOSE,
)


def tokenize(text: str) -> list[tuple[str, Any]]:
    """Split a filter into (kind, value) tokens: string, punct, word."""
    tokens: list[tuple[str, Any]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FilterError(f"Unexpected character at position {position + 1}.")
        position = match.end()
        if match.group("string") is not None:
            try:
                value = json.loads(match.group("string"))
                value.encode("utf-8")
            except (json.JSONDecodeError, UnicodeEncodeError) as exc:
                raise FilterError("A quoted value is not a valid JSON string.") from exc
            tokens.append(("string", value))
        elif match.group("punct") is not None:
            tokens.append(("punct", match.group("punct")))
        else:
            tokens.append(("word", match.group("word")))
    return tokens


# -- parser -------------------------------------------------------------------


class _Parser:
    """Recursive descent over the tokens, producing a small tuple AST."""

    def __init__(self, tokens: list[tuple[str, Any]]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> tuple[str, Any]:
        token = self.peek()
        if token is None:
            raise FilterError("The filter ends too early.")
        self.index += 1
        return token

    def expect(self, punct: str) -> None:
        token = self.take()
        if token != ("punct", punct):
            raise FilterError(f"Expected {punct!r}.")

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token and token[0] == "word" and token[1].lower() in words:
            self.index += 1
            return token[1].lower()
        return None

    def parse(self) -> tuple:
        node = self.parse_or()
        if self.peek() is not None:
            raise FilterError(f"Unexpected {self.peek()[1]!r}.")  # type: ignore[index]
        return node

    def parse_or(self) -> tuple:
        node = self.parse_and()
        while self.keyword("or"):
            node = ("or", node, self.parse_and())
        return node

    def parse_and(self) -> tuple:
        node = self.parse_not()
        while self.keyword("and"):
            node = ("and", node, self.parse_not())
        return node

    def parse_not(self) -> tuple:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterError("The filter is nested too deeply.")
        try:
            if self.keyword("not"):
                self.expect("(")
                node = self.parse_or()
                self.expect(")")
                return ("not", node)
            if self.peek() == ("punct", "("):
                self.take()
                node = self.parse_or()
                self.expect(")")
                return node
            return self.parse_attr()
        finally:
            self.depth -= 1

    def parse_attr(self) -> tuple:
        kind, path = self.take()
        if kind != "word" or path.lower() in ("and", "or", "not"):
            raise FilterError("Expected an attribute name.")
        if self.peek() == ("punct", "["):
            self.take()
            inner = self.parse_or()
            self.expect("]")
            node: tuple = ("vp", path, inner)
            following = self.peek()
            if following and following[0] == "word" and following[1].startswith("."):
                self.take()
                sub = following[1][1:]
                node = ("vp", path, ("and", inner, self.parse_comparison(sub)))
            return node
        return self.parse_comparison(path)

    def parse_comparison(self, path: str) -> tuple:
        operator = self.keyword("pr", *COMPARE_OPS)
        if operator is None:
            token = self.peek()
            shown = token[1] if token else "the end"
            raise FilterError(f"Expected an operator after {path!r}, found {shown!r}.")
        if operator == "pr":
            return ("pr", path)
        kind, value = self.take()
        if kind == "word":
            value = _literal(value)
        elif kind != "string":
            raise FilterError(f"Expected a value after {path!r} {operator}.")
        return ("cmp", path, operator, value)


def _literal(word: str) -> Any:
    lowered = word.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    try:
        return json.loads(word)
    except json.JSONDecodeError as exc:
        raise FilterError(f"{word!r} is not a value; quote strings.") from exc


def parse_filter(text: str) -> tuple:
    """Parse a filter into an AST of nested tuples.

    :raise FilterError: on any syntax error or an oversized filter.
    """
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"Filters are limited to {MAX_FILTER_LENGTH} characters.")
    if not text.strip():
        raise FilterError("The filter is empty.")
    return _Parser(tokenize(text)).parse()


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
