"""A SCIM PATCH request read and checked (RFC 7644 §3.5.2): its operations and
their paths, before any is applied (`patch` applies them).

Okta and Entra quirks handled here: op names in any case ("Replace") and
value-path filters in paths (`emails[type eq "work"].value`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from blueprints.scim.errors import ScimError
from blueprints.scim.errors import bad_request
from blueprints.scim.filter_syntax import FilterError
from blueprints.scim.filter_syntax import parse_filter
from blueprints.scim.schema import PATCH_SCHEMA

# Operations per request, where each key of a path-less value counts as one: that
# is how Entra sends many changes in one operation, and each key is a path.
MAX_OPERATIONS = 1000
OPS = ("add", "replace", "remove")
# Comparisons in one value filter of a PATCH path (`emails[type eq "work"]` has
# one): each is matched against every item, for every operation.
MAX_PATH_COMPARISONS = 10


@dataclass(frozen=True)
class Path:
    """A parsed PATCH path: attribute, optional value filter, optional sub-attribute."""

    attribute: str
    value_filter: tuple | None = None
    sub: str | None = None


@dataclass(frozen=True)
class Operation:
    """One PATCH operation, validated."""

    op: str
    path: Path | None
    value: Any


def parse_path(text: str, schemas: tuple[str, ...]) -> Path:
    """Parse `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`.

    :raise ScimError: 400 invalidPath.
    """
    raw = text.strip()
    if not raw or len(raw) > 1000:
        raise bad_request("The path is empty or too long.", "invalidPath")
    for schema in schemas:
        if raw.lower().startswith(schema.lower() + ":"):
            raw = raw[len(schema) + 1 :]
            break
    value_filter = None
    sub = None
    if "[" in raw:
        head, _, rest = raw.partition("[")
        inner, closing, tail = rest.rpartition("]")
        if not closing:
            raise bad_request(f"Unclosed '[' in path {text!r}.", "invalidPath")
        try:
            value_filter = parse_filter(inner)
        except FilterError as exc:
            raise bad_request(
                f"Bad filter in path {text!r}: {exc}", "invalidPath"
            ) from exc
        if _comparisons(value_filter) > MAX_PATH_COMPARISONS:
            raise bad_request(
                f"A path filter may make at most {MAX_PATH_COMPARISONS} comparisons.",
                "invalidPath",
            )
        if tail and not tail.startswith("."):
            raise bad_request(f"Unexpected {tail!r} in path {text!r}.", "invalidPath")
        attribute, sub = head, tail[1:] or None
    else:
        attribute, _, sub_text = raw.partition(".")
        sub = sub_text or None
    if not attribute or not all(ch.isalnum() or ch in "_-$:" for ch in attribute):
        raise bad_request(f"{text!r} is not a valid path.", "invalidPath")
    return Path(attribute, value_filter, sub)


def _comparisons(node: tuple) -> int:
    """How many comparisons a parsed filter makes."""
    if node[0] in ("and", "or"):
        return _comparisons(node[1]) + _comparisons(node[2])
    if node[0] == "not":
        return _comparisons(node[1])
    return 1


def parse_operations(body: Any, schemas: tuple[str, ...]) -> list[Operation]:
    """Validate a PatchOp body and return its operations.

    :raise ScimError: 400 invalidSyntax / invalidPath / invalidValue.
    """
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object.", "invalidSyntax")
    declared = body.get("schemas")
    if declared is not None and (
        not isinstance(declared, list) or PATCH_SCHEMA not in declared
    ):
        raise bad_request(f"schemas must include {PATCH_SCHEMA}.", "invalidSyntax")
    raw_operations = body.get("Operations", body.get("operations"))
    if not isinstance(raw_operations, list) or not raw_operations:
        raise bad_request("Operations must be a non-empty list.", "invalidSyntax")
    _check_operation_count(raw_operations)
    operations = []
    for raw in raw_operations:
        if not isinstance(raw, dict) or not isinstance(raw.get("op"), str):
            raise bad_request("Each operation needs an op.", "invalidSyntax")
        op = raw["op"].strip().lower()
        if op not in OPS:
            raise bad_request(
                f"Unknown op {raw['op']!r}; use add, replace or remove.",
                "invalidSyntax",
            )
        path_text = raw.get("path")
        if path_text is not None and not isinstance(path_text, str):
            raise bad_request("path must be a string.", "invalidPath")
        path = parse_path(path_text, schemas) if path_text else None
        if path is None and op == "remove":
            raise bad_request("remove needs a path.", "noTarget")
        if op != "remove" and "value" not in raw:
            raise bad_request(f"{op} needs a value.", "invalidValue")
        if path is None and not isinstance(raw.get("value"), dict):
            raise bad_request(
                f"{op} without a path needs an object value.", "invalidValue"
            )
        operations.append(Operation(op, path, raw.get("value")))
    return operations


def _check_operation_count(raw_operations: list) -> None:
    """Refuse more than MAX_OPERATIONS operations, counting path-less keys."""
    count = 0
    for raw in raw_operations:
        value = raw.get("value") if isinstance(raw, dict) else None
        path_less = isinstance(raw, dict) and not raw.get("path")
        count += max(1, len(value)) if path_less and isinstance(value, dict) else 1
        if count > MAX_OPERATIONS:
            raise ScimError(
                413,
                f"At most {MAX_OPERATIONS} operations per request (each attribute "
                "of an operation without a path counts as one).",
                "tooMany",
            )
