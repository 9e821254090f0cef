"""Okta's signing keys (JWKS) for Universal Logout tokens, cached per process.

Keys are fetched through `core.okta.fetch` (so through `core.outbound`'s
guarded fetcher: https only, public addresses only, no redirects, caps) and
kept for KEYS_TTL per source. A token whose `kid` is not in the cached set
makes one fresh fetch, at most once per REFETCH_INTERVAL per source, so a
stream of made-up kids cannot make Gatehouse hammer Okta. The cache is per
process (each app server fetches for itself; see docs/okta-universal-logout.md).
A failed fetch is remembered per source for ULO_KEYS_BACKOFF_SECONDS: during
an outage, unsigned tokens naming an organization cannot make Gatehouse fetch
on every request.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jwk import RSAKey

from core.okta import OktaError
from core.okta import fetch
from core.okta import fetch_oidc_metadata

_CACHE_KEY = "gatehouse.okta_keys"
_FAILED_KEY = "gatehouse.okta_keys_failed"
_LOCK = threading.Lock()
# Key types a Universal Logout token may be signed with (RS256, ES256).
KEY_TYPES = {"RSA": RSAKey, "EC": ECKey}
MAX_KEYS = 50


@dataclass
class _Entry:
    keys: dict[str, RSAKey | ECKey]
    fetched_at: float


@dataclass(frozen=True)
class KeySource:
    """Where an organization's keys come from: a JWKS URL, or the OIDC
    discovery document whose `jwks_uri` names it."""

    url: str
    discovery: bool = False


def _cache() -> dict[KeySource, _Entry]:
    return current_app.extensions.setdefault(_CACHE_KEY, {})


def _failures() -> dict[KeySource, float]:
    """When each source's last fetch failed (monotonic seconds)."""
    return current_app.extensions.setdefault(_FAILED_KEY, {})


def signing_key(source: KeySource, kid: str) -> RSAKey | ECKey | None:
    """The public key `kid` of `source`, or None when Okta does not publish it.

    :raise OktaError: when the keys cannot be fetched or read.
    """
    config = current_app.config
    now = time.monotonic()
    with _LOCK:
        entry = _cache().get(source)
    fresh = (
        entry is not None and now - entry.fetched_at < config["ULO_KEYS_TTL_SECONDS"]
    )
    if fresh and kid in entry.keys:  # type: ignore[union-attr]
        return entry.keys[kid]  # type: ignore[union-attr]
    may_fetch = (
        entry is None
        or not fresh
        or now - entry.fetched_at >= config["ULO_KEYS_REFETCH_SECONDS"]
    )
    if not may_fetch:
        return None
    entry = _Entry(keys=_fetch_remembering_failure(source), fetched_at=time.monotonic())
    with _LOCK:
        _cache()[source] = entry
    return entry.keys.get(kid)


def _fetch_remembering_failure(source: KeySource) -> dict[str, RSAKey | ECKey]:
    """`_fetch_keys`, unless it failed within ULO_KEYS_BACKOFF_SECONDS.

    :raise OktaError: the fetch failed now or a moment ago.
    """
    backoff = current_app.config["ULO_KEYS_BACKOFF_SECONDS"]
    with _LOCK:
        failed_at = _failures().get(source)
    if failed_at is not None and time.monotonic() - failed_at < backoff:
        raise OktaError(f"they failed moments ago; retrying after {backoff} s.")
    try:
        keys = _fetch_keys(source)
    except OktaError:
        with _LOCK:
            _failures()[source] = time.monotonic()
        raise
    with _LOCK:
        _failures().pop(source, None)
    return keys


def _fetch_keys(source: KeySource) -> dict[str, RSAKey | ECKey]:
    """Fetch the key set of `source`: RSA and EC public keys by kid."""
    url = source.url
    if source.discovery:
        url = fetch_oidc_metadata(url)["jwks_uri"]
    try:
        document = json.loads(fetch(url, "application/json"))
    except (ValueError, RecursionError) as exc:
        raise OktaError("Okta's keys are not JSON.") from exc
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise OktaError("Okta's keys are not a JSON Web Key Set.")
    return _read_keys(document["keys"][:MAX_KEYS])


def _read_keys(entries: list[Any]) -> dict[str, RSAKey | ECKey]:
    """Public RSA and EC keys with a kid; anything else is skipped."""
    keys: dict[str, RSAKey | ECKey] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        key_type = KEY_TYPES.get(str(entry.get("kty")))
        if key_type is None or entry.get("use", "sig") != "sig":
            continue
        public = {name: value for name, value in entry.items() if name != "d"}
        try:
            keys[entry["kid"]] = key_type.import_key(public)
        except (JoseError, ValueError, TypeError):
            continue
    return keys


def forget_keys() -> None:
    """Drop every cached key set of this process (tests, and after a change)."""
    with _LOCK:
        _cache().clear()
        _failures().clear()
