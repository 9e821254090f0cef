"""Everything that talks to an organization's Okta over the network.

Metadata is fetched with a short timeout and a size cap, over https only (plain
http to 127.0.0.1/localhost only when OKTA_ALLOW_INSECURE_LOOPBACK is set, for
local trials and tests). Every failure is an `OktaError` whose message can be
shown to the admin as it is.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import current_app

FETCH_TIMEOUT_SECONDS = 5
MAX_METADATA_BYTES = 512 * 1024
WELL_KNOWN = "/.well-known/openid-configuration"


class OktaError(Exception):
    """A metadata URL or document that cannot be used; the message says why."""


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine (localhost or a loopback address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_metadata_url(url: str) -> str:
    """Return the URL stripped, or raise OktaError saying what is wrong with it."""
    url = (url or "").strip()
    if not url:
        raise OktaError("Enter the metadata URL.")
    if len(url) > 1000:
        raise OktaError("The metadata URL is too long.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError as exc:  # "https://[::1", "https://host:99999"
        raise OktaError(
            "The metadata URL is not a valid address; copy it again from Okta."
        ) from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise OktaError("The metadata URL must be a full https:// address.")
    if parts.username or parts.password:
        raise OktaError("The metadata URL must not contain a user name or password.")
    if parts.scheme == "http":
        allowed = current_app.config["OKTA_ALLOW_INSECURE_LOOPBACK"]
        if not (allowed and is_loopback(parts.hostname)):
            raise OktaError("The metadata URL must use https://.")
    return url


def fetch(url: str, accept: str) -> bytes:
    """GET `url` (already checked) with a timeout and a size cap.

    Redirects are not followed: a metadata URL that moves is a configuration
    error the admin should see, not something to chase to another host.
    :raise OktaError: on network errors, non-200 answers and oversized bodies.
    """
    try:
        with requests.get(
            url,
            headers={"Accept": accept, "User-Agent": "Gatehouse"},
            timeout=FETCH_TIMEOUT_SECONDS,
            allow_redirects=False,
            stream=True,
        ) as response:
            if response.status_code != 200:
                raise OktaError(
                    f"The metadata URL answered HTTP {response.status_code}; "
                    "check the URL you copied from Okta."
                )
            body = b""
            for chunk in response.iter_content(65536):
                body += chunk
                if len(body) > MAX_METADATA_BYTES:
                    raise OktaError("The metadata document is too large.")
            return body
    except requests.Timeout as exc:
        raise OktaError("Okta did not answer in time; check the metadata URL.") from exc
    except requests.RequestException as exc:
        raise OktaError(
            "Could not reach the metadata URL; check the address and that this "
            "server can reach Okta."
        ) from exc


def fetch_oidc_metadata(url: str) -> dict[str, Any]:
    """Fetch and check an OpenID Provider configuration document.

    It must be JSON with the endpoints an authorization-code sign-in needs, and
    its `issuer` must be the URL it was fetched from, minus the well-known path
    (OpenID Connect Discovery §4.3): a document copied from elsewhere is refused.
    :raise OktaError: saying what is wrong.
    """
    url = check_metadata_url(url)
    try:
        document = json.loads(fetch(url, "application/json"))
    except (ValueError, RecursionError) as exc:
        raise OktaError(
            "The metadata URL did not return JSON. Copy the OpenID Provider "
            "Metadata URL from the app's Sign On tab in Okta."
        ) from exc
    if not isinstance(document, dict):
        raise OktaError("The metadata is not an OpenID Provider configuration.")
    missing = [
        key
        for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
        if not isinstance(document.get(key), str) or not document[key]
    ]
    if missing:
        raise OktaError(
            "The metadata is not an OpenID Provider configuration "
            f"(missing {', '.join(missing)})."
        )
    for key in (
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
    ):
        if key in document:
            try:
                check_metadata_url(str(document[key]))
            except OktaError as exc:
                raise OktaError(f"The metadata's {key} is not an https URL.") from exc
    # Okta also offers the URL with "?client_id=...": the path is what counts.
    parts = urlsplit(url)
    expected = f"{parts.scheme}://{parts.netloc}{parts.path.split(WELL_KNOWN)[0]}"
    expected = expected.rstrip("/")
    if (
        not parts.path.endswith(WELL_KNOWN)
        or document["issuer"].rstrip("/") != expected
    ):
        raise OktaError(
            f"The metadata's issuer ({document['issuer']}) does not match the URL. "
            f"Use {document['issuer'].rstrip('/')}{WELL_KNOWN}."
        )
    return document
