"""Projection of a resource to the attributes a request asks for
(`attributes` / `excludedAttributes`, RFC 7644 §3.4.2.5): `id` and `schemas`
are always returned."""

from __future__ import annotations

from typing import Any

ALWAYS_RETURNED = {"id", "schemas"}


def _split_attribute_list(
    text: str | None, core_schema: str
) -> list[tuple[str, str | None]]:
    paths = []
    for raw in (text or "").split(","):
        raw = raw.strip()
        if not raw:
            continue
        if raw.lower().startswith(core_schema.lower() + ":"):
            raw = raw[len(core_schema) + 1 :]
        top, _, sub = raw.partition(".")
        paths.append((top.lower(), sub.lower() or None))
    return paths


def project(
    resource: dict, attributes: str | None, excluded: str | None, core_schema: str
) -> dict:
    """Keep only `attributes`, or drop `excludedAttributes`; id and schemas stay."""
    wanted = _split_attribute_list(attributes, core_schema)
    unwanted = _split_attribute_list(excluded, core_schema)
    if wanted:
        result: dict[str, Any] = {}
        for key, value in resource.items():
            if key.lower() in ALWAYS_RETURNED:
                result[key] = value
                continue
            subs = [sub for top, sub in wanted if top == key.lower()]
            if not subs:
                continue
            if None in subs or not isinstance(value, dict | list):
                result[key] = value
            elif isinstance(value, dict):
                result[key] = {k: v for k, v in value.items() if k.lower() in subs}
            else:
                result[key] = [
                    {k: v for k, v in item.items() if k.lower() in subs}
                    for item in value
                ]
        return result
    result = dict(resource)
    for top, sub in unwanted:
        for key in list(result):
            if key.lower() != top or key.lower() in ALWAYS_RETURNED:
                continue
            if sub is None:
                del result[key]
            elif isinstance(result[key], dict):
                result[key] = {k: v for k, v in result[key].items() if k.lower() != sub}
    return result
