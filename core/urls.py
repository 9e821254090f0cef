"""The URLs Gatehouse shows to Okta and puts in emails: from configuration only.

The public base URL is configured once: asked for at first-run setup and stored
in the database (so every app server agrees), or `PUBLIC_BASE_URL` in the
environment or instance/config.py, which wins. It is never taken from the
request: a Host header is whatever the client says, and a link built from it
would send a member's single-use token to the client's choice of server.
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

from flask import current_app
from flask import g

from core.extensions import db
from core.models import SiteSetting
from core.outbound import is_loopback_name

PUBLIC_BASE_URL_KEY = "public_base_url"
MISSING_HELP = (
    "Gatehouse does not know its public address yet, so it cannot show the "
    "values to paste into Okta or email links. The server administrator sets it "
    "with `flask site set-url https://gatehouse.example.com` (or the "
    "PUBLIC_BASE_URL setting)."
)


_HOST_AND_PORT = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::[0-9]{1,5})?"
)


class PublicUrlMissing(RuntimeError):
    """No public base URL is configured; MISSING_HELP says how to set one."""

    def __init__(self) -> None:
        super().__init__(MISSING_HELP)


# How long an app server keeps the stored address before reading it again: it
# changes only by `flask site set-url`, and every SCIM response names it.
STORED_URL_SECONDS = 30.0
_CACHE_KEY = "gatehouse.public_base_url"


def public_base_url() -> str | None:
    """The configured public base URL without a trailing slash, or None.

    `PUBLIC_BASE_URL` wins over the stored value. The stored value is kept by
    each app server for STORED_URL_SECONDS once known (so a change made on
    another server is seen within that time); "not set" is never kept, so the
    address saved at first-run setup is used at once everywhere.
    """
    configured = current_app.config.get("PUBLIC_BASE_URL") or ""
    if configured:
        return configured.rstrip("/")
    cached = current_app.extensions.get(_CACHE_KEY)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    if "public_base_url" in g:
        return g.public_base_url
    value = stored_public_base_url()
    g.public_base_url = value
    if value is not None:
        current_app.extensions[_CACHE_KEY] = (
            value,
            time.monotonic() + STORED_URL_SECONDS,
        )
    return value


def stored_public_base_url() -> str | None:
    """The public base URL saved at setup (or by `flask site set-url`), or None."""
    row = db.session.get(SiteSetting, PUBLIC_BASE_URL_KEY)
    return row.value.rstrip("/") if row is not None and row.value else None


def public_url(path: str = "") -> str:
    """The public base URL + `path`.

    :raise PublicUrlMissing: when none is configured.
    """
    base = public_base_url()
    if not base:
        raise PublicUrlMissing()
    return base + path


def base_url_problem(text: str) -> str | None:
    """What is wrong with a public base URL someone typed, or None.

    An origin only (scheme, host, optional port): https, or http on this
    machine (localhost, 127.0.0.1, ::1) for local trials.
    """
    text = text.strip()
    if not text:
        return "Enter the address people use to reach Gatehouse."
    if len(text) > 200 or any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in text):
        return "Enter an address like https://gatehouse.example.com."
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return "Enter an address like https://gatehouse.example.com."
    if parts.scheme not in ("https", "http") or not host:
        return "Enter an address like https://gatehouse.example.com."
    if parts.username is not None or parts.password is not None:
        return "The address cannot contain a user name or password."
    if not _HOST_AND_PORT.fullmatch(parts.netloc):
        # Only host-name letters, an IP address, and an optional port: Okta
        # and python3-saml refuse anything else, and "\" reads as a path.
        return "Enter an address like https://gatehouse.example.com."
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return "Enter only the scheme and host (and port), without a path."
    if parts.scheme == "http" and not is_loopback_name(host):
        return "Use https (plain http is only for localhost, for local trials)."
    return None


def normalize_base_url(text: str) -> str:
    """The form stored: scheme and host lower-cased, no trailing slash."""
    parts = urlsplit(text.strip())
    netloc = parts.netloc.lower()
    return f"{parts.scheme.lower()}://{netloc}"


def save_public_base_url(text: str) -> str:
    """Validate and store the public base URL (the caller commits); return it.

    :raise ValueError: with the problem, when the URL is not acceptable.
    """
    problem = base_url_problem(text)
    if problem:
        raise ValueError(problem)
    value = normalize_base_url(text)
    row = db.session.get(SiteSetting, PUBLIC_BASE_URL_KEY)
    if row is None:
        db.session.add(SiteSetting(key=PUBLIC_BASE_URL_KEY, value=value))
    else:
        row.value = value
    g.pop("public_base_url", None)
    current_app.extensions.pop(_CACHE_KEY, None)
    return value


def set_public_base_url(text: str) -> str:
    """Validate, store and commit the public base URL (`flask site set-url`).

    :raise ValueError: with the problem, when the URL is not acceptable.
    """
    value = save_public_base_url(text)
    db.session.commit()
    return value
