"""SCIM PATCH (RFC 7644 §3.5.2) applied to a resource's JSON form.

A PATCH is applied to the resource as SCIM renders it, and the result then goes
through the same validation and storage as a PUT: one set of rules for both of
Okta's update styles. Group membership is the exception (a group can have tens of
thousands of members), handled in `groups.py`. The request itself is read and
checked by `patch_syntax`.

Okta and Entra quirks handled here: operations without a path whose value holds
several attributes (`{"active": false}`) or dotted paths as keys
(`{"name.givenName": "Ann"}`), booleans as strings ("False", read as the PUT
path reads them), and value-path filters matched against the items of a
multi-valued attribute (`emails[type eq "work"].value`).
"""

from __future__ import annotations

from typing import Any

from blueprints.scim.errors import bad_request
from blueprints.scim.patch_syntax import Operation
from blueprints.scim.patch_syntax import Path
from blueprints.scim.patch_syntax import parse_path
from blueprints.scim.schema import MAX_STRING
from blueprints.scim.schema import MAX_VALUES
from blueprints.scim.schema import SUB_ATTRIBUTES
from core.models import fold
from core.models import parse_row_id

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
    """Apply one operation to a multi-valued attribute (emails): to its whole
    list, or to the items its path's filter selects."""
    items: list[dict] = [
        item for item in resource.get(attribute) or [] if isinstance(item, dict)
    ]
    if path.sub is not None:
        _check_item(attribute, {path.sub: value})
    elif op != "remove" and isinstance(value, dict):
        _check_item(attribute, value)
    if path.value_filter is None and path.sub is None:
        items = _apply_to_list(items, op, attribute, value)
    else:
        items = _apply_to_selected(items, op, attribute, path, value)
    resource[attribute] = _bounded(attribute, items)


def _apply_to_list(items: list[dict], op: str, attribute: str, value: Any) -> list:
    """`add`, `replace` or `remove` of whole items (a path without a filter)."""
    new_items = value if isinstance(value, list) else [value]
    if op == "remove":
        if value is None:
            return []
        doomed = {
            fold(str(_item_value(item, "value")))
            for item in new_items
            if isinstance(item, dict)
        }
        return [
            item
            for item in items
            if fold(str(_item_value(item, "value"))) not in doomed
        ]
    if not all(isinstance(item, dict) for item in new_items):
        raise bad_request(f"{attribute} values must be objects.")
    if len(new_items) > MAX_VALUES:
        raise bad_request(f"{attribute} can hold at most {MAX_VALUES} values.")
    for item in new_items:
        _check_item(attribute, item)
    if op == "replace":
        return list(new_items)
    if any(
        _item_value(item, "primary") in (True, "true", "True") for item in new_items
    ):
        for item in items:
            item["primary"] = False
    return items + list(new_items)


def _apply_to_selected(
    items: list[dict], op: str, attribute: str, path: Path, value: Any
) -> list:
    """An operation on the items a path selects (`emails[type eq "work"].value`);
    a `replace` or `add` that selects none adds the item the filter describes."""
    selected = [
        item
        for item in items
        if path.value_filter is None or matches(path.value_filter, item)
    ]
    if op == "remove":
        if not path.sub:
            return [item for item in items if item not in selected]
        for item in selected:
            for key in [key for key in item if key.lower() == path.sub.lower()]:
                del item[key]
        return items
    if not selected:
        if op == "replace" and path.value_filter is not None and path.sub is None:
            raise bad_request(f"No {attribute} entry matches the path.", "noTarget")
        selected = [_item_from_filter(path.value_filter)]
        items.append(selected[0])
    for item in selected:
        if path.sub:
            item[path.sub] = value
        elif isinstance(value, dict):
            item.update(value)
    return items


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
