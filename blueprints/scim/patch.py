"""SCIM PATCH (RFC 7644 §3.5.2) applied to a resource's JSON form.

A PATCH is applied to the resource as SCIM renders it, and the result then goes
through the same validation and storage as a PUT: one set of rules for both of
Okta's update styles. Group membership is the exception (a group can have tens of
thousands of members), handled in `groups.py` with `member_operations()`.

Okta and Entra quirks handled here: op names in any case ("Replace"), operations
without a path whose value holds several attributes (`{"active": false}`) or dotted
paths as keys (`{"name.givenName": "Ann"}`), booleans as strings ("False"), and
value-path filters (`emails[type eq "work"].value`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from blueprints.scim.errors import ScimError
from blueprints.scim.errors import bad_request
from blueprints.scim.filters import FilterError
from blueprints.scim.filters import parse_filter
from blueprints.scim.schema import MAX_STRING
from blueprints.scim.schema import MAX_VALUES
from blueprints.scim.schema import PATCH_SCHEMA
from blueprints.scim.schema import SUB_ATTRIBUTES
from core.models import fold
from core.models import parse_row_id

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


# -- evaluating value filters against one item of a multi-valued attribute ---------


def _item_value(item: dict, attribute: str) -> Any:
    for key, value in item.items():
        if key.lower() == attribute.lower():
            return value
    return None


def matches(node: tuple, item: dict) -> bool:
    """Does a multi-valued attribute's item match a parsed value filter?"""
    kind = node[0]
    if kind == "and":
        return matches(node[1], item) and matches(node[2], item)
    if kind == "or":
        return matches(node[1], item) or matches(node[2], item)
    if kind == "not":
        return not matches(node[1], item)
    if kind == "vp":
        raise bad_request("Value paths cannot be nested.", "invalidFilter")
    actual = _item_value(item, node[1])
    if kind == "pr":
        return actual not in (None, "", [])
    op, expected = node[2], node[3]
    if isinstance(actual, str) and isinstance(expected, str):
        actual, expected = fold(actual), fold(expected)
    elif isinstance(actual, int) and parse_row_id(expected) is not None:
        expected = parse_row_id(expected)
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if not (isinstance(actual, str) and isinstance(expected, str)):
        return False
    return {
        "co": expected in actual,
        "sw": actual.startswith(expected),
        "ew": actual.endswith(expected),
        "gt": actual > expected,
        "ge": actual >= expected,
        "lt": actual < expected,
        "le": actual <= expected,
    }[op]


# -- applying operations to a resource dict ------------------------------------------


def _canonical(resource_keys: dict[str, str], attribute: str) -> str | None:
    return resource_keys.get(attribute.lower())


def apply_operations(
    resource: dict,
    operations: list[Operation],
    *,
    attributes: tuple[str, ...],
    multi_valued: tuple[str, ...] = (),
    read_only: tuple[str, ...] = ("id", "meta", "schemas"),
    schemas: tuple[str, ...] = (),
) -> dict:
    """Return a copy of `resource` with the operations applied.

    `schemas` are the URNs that may prefix attribute names.
    `attributes` are the canonical names this resource stores; any other attribute
    is ignored (RFC 7644 lets a server ignore what it does not support, and Okta
    sends profile attributes an app may not map).
    """
    result = {key: _copy(value) for key, value in resource.items()}
    keys = {name.lower(): name for name in attributes}
    for operation in operations:
        if operation.path is None:
            for raw_key, value in operation.value.items():
                # Entra flattens changes into keys that are paths themselves:
                # "name.givenName", 'emails[type eq "work"].value', schema URNs.
                path = parse_path(str(raw_key), schemas)
                _apply(result, operation.op, path, value, keys, multi_valued, read_only)
        else:
            _apply(
                result,
                operation.op,
                operation.path,
                operation.value,
                keys,
                multi_valued,
                read_only,
            )
    return result


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def _apply(
    resource: dict,
    op: str,
    path: Path,
    value: Any,
    keys: dict[str, str],
    multi_valued: tuple[str, ...],
    read_only: tuple[str, ...],
) -> None:
    if path.attribute.lower() in read_only:
        return  # Okta repeats "id" in a no-path replace; nothing to change.
    attribute = _canonical(keys, path.attribute)
    if attribute is None:
        return
    if attribute in multi_valued:
        _apply_multi(resource, op, attribute, path, value)
    elif path.sub:
        current = resource.get(attribute)
        if not isinstance(current, dict):
            current = {}
        sub = next(
            (key for key in current if key.lower() == path.sub.lower()), path.sub
        )
        if op == "remove":
            current.pop(sub, None)
        else:
            current[sub] = value
        resource[attribute] = current
    elif op == "remove":
        resource[attribute] = None
    elif isinstance(value, dict) and isinstance(resource.get(attribute), dict):
        merged = dict(resource[attribute])
        merged.update(value)
        resource[attribute] = merged
    else:
        resource[attribute] = value


def _apply_multi(
    resource: dict, op: str, attribute: str, path: Path, value: Any
) -> None:
    items: list[dict] = [
        item for item in resource.get(attribute) or [] if isinstance(item, dict)
    ]
    if path.sub is not None:
        _check_item(attribute, {path.sub: value})
    elif op != "remove" and isinstance(value, dict):
        _check_item(attribute, value)
    if path.value_filter is None and path.sub is None:
        new_items = value if isinstance(value, list) else [value]
        if op != "remove" and not all(isinstance(item, dict) for item in new_items):
            raise bad_request(f"{attribute} values must be objects.")
        if op != "remove":
            if len(new_items) > MAX_VALUES:
                raise bad_request(f"{attribute} can hold at most {MAX_VALUES} values.")
            for item in new_items:
                _check_item(attribute, item)
        if op == "remove":
            if value is None:
                items = []
            else:
                doomed = {
                    fold(str(_item_value(item, "value")))
                    for item in new_items
                    if isinstance(item, dict)
                }
                items = [
                    item
                    for item in items
                    if fold(str(_item_value(item, "value"))) not in doomed
                ]
        elif op == "replace":
            items = list(new_items)
        else:
            if any(
                _item_value(item, "primary") in (True, "true", "True")
                for item in new_items
            ):
                for item in items:
                    item["primary"] = False
            items = items + list(new_items)
        resource[attribute] = _bounded(attribute, items)
        return
    selected = [
        item
        for item in items
        if path.value_filter is None or matches(path.value_filter, item)
    ]
    if op == "remove":
        if path.sub:
            for item in selected:
                for key in [key for key in item if key.lower() == path.sub.lower()]:
                    del item[key]
        else:
            items = [item for item in items if item not in selected]
    elif not selected:
        if op == "replace" and path.value_filter is not None and path.sub is None:
            raise bad_request(f"No {attribute} entry matches the path.", "noTarget")
        new_item = _item_from_filter(path.value_filter)
        if path.sub:
            new_item[path.sub] = value
        elif isinstance(value, dict):
            new_item.update(value)
        items.append(new_item)
    else:
        for item in selected:
            if path.sub:
                item[path.sub] = value
            elif isinstance(value, dict):
                item.update(value)
    resource[attribute] = _bounded(attribute, items)


def _check_item(attribute: str, item: dict) -> None:
    """400 unless `item` has only the attribute's sub-attributes, with short
    scalar values: an item with made-up keys would make every later filter
    comparison walk them."""
    allowed = SUB_ATTRIBUTES.get(attribute)
    if allowed is None:
        return
    if len(item) > len(allowed):
        raise bad_request(f"An item of {attribute} has too many sub-attributes.")
    for key, value in item.items():
        if not isinstance(key, str) or key.lower() not in allowed:
            raise bad_request(
                f"{attribute} items have only {', '.join(allowed)}; not {key!r}.",
                "invalidPath",
            )
        if isinstance(value, str):
            if len(value) > MAX_STRING["email"]:
                raise bad_request(f"{attribute}.{key} is too long.")
        elif value is not None and not isinstance(value, bool | int):
            raise bad_request(f"{attribute}.{key} must be a string or a boolean.")


def _bounded(attribute: str, items: list) -> list:
    """`items`, or 400 when a PATCH has grown the attribute past MAX_VALUES.

    Checked as each operation is applied: value filters are matched against
    every item, so the bound also keeps a PATCH's cost linear in its size.
    """
    if len(items) > MAX_VALUES:
        raise bad_request(f"{attribute} can hold at most {MAX_VALUES} values.")
    return items


def _item_from_filter(node: tuple | None) -> dict:
    """Seed a new multi-valued item from the `eq` tests of a path filter."""
    if node is None:
        return {}
    if node[0] == "cmp" and node[2] == "eq":
        return {node[1]: node[3]}
    if node[0] == "and":
        return {**_item_from_filter(node[1]), **_item_from_filter(node[2])}
    return {}
