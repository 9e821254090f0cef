"""Everything that talks to an organization's Okta over the network.

Metadata is fetched through `core.outbound` (https only, public addresses only,
no redirects, time and size caps). Every failure is an `OktaError` whose message
can be shown to the admin as it is.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import requests

from core import outbound

WELL_KNOWN = "/.well-known/openid-configuration"


class OktaError(Exception):
    """A metadata URL or document that cannot be used; the message says why."""


def check_metadata_url(url: str) -> str:
    """Return the URL stripped, or raise OktaError saying what is wrong with it."""
    if not (url or "").strip():
        raise OktaError("Enter the metadata URL.")
    try:
        return outbound.check_url(url, "The metadata URL")
    except outbound.OutboundError as exc:
        raise OktaError(str(exc)) from exc


def fetch(url: str, accept: str) -> bytes:
    """GET `url` (already checked) through the guarded fetcher.

    Redirects are not followed: a metadata URL that moves is a configuration
    error the admin should see, not something to chase to another host.
    :raise OktaError: on refused destinations, network errors, non-200 answers
        and oversized bodies.
    """
    try:
        response = outbound.get(url, accept)
    except outbound.OutboundError as exc:
        raise OktaError(f"Gatehouse did not fetch the metadata URL: {exc}") from exc
    except requests.Timeout as exc:
        raise OktaError("Okta did not answer in time; check the metadata URL.") from exc
    except requests.RequestException as exc:
        raise OktaError(
            "Could not reach the metadata URL; check the address and that this "
            "server can reach Okta."
        ) from exc
    if 300 <= response.status_code < 400:
        raise OktaError(
            "The metadata URL redirects elsewhere; Gatehouse does not follow "
            "redirects. Copy the URL again from the app's Sign On tab in Okta."
        )
    if response.status_code != 200:
        raise OktaError(
            f"The metadata URL answered HTTP {response.status_code}; "
            "check the URL you copied from Okta."
        )
    return response.content


def fetch_oidc_metadata(url: str) -> dict[str, Any]:
    """Fetch and check an OpenID Provider configuration document.

    It must be JSON with the endpoints an authorization-code sign-in needs, and
    its `issuer` must be the URL it was fetched from, minus the well-known path
    (OpenID Connect Discovery §4.3): a document copied from elsewhere is refused.
    :raise OktaError: saying what is wrong.
    """
    url = check_metadata_url(url)
    document = _oidc_document(url)
    _check_endpoints(document)
    _check_issuer(url, document)
    return document


def _oidc_document(url: str) -> dict[str, Any]:
    """The JSON object at `url`, with every endpoint a sign-in needs."""
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
    return document


def _check_endpoints(document: dict[str, Any]) -> None:
    """Every endpoint Gatehouse (or Authlib) will call must be a fetchable URL."""
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


def _check_issuer(url: str, document: dict[str, Any]) -> None:
    """The issuer must be the metadata URL without the well-known path."""
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
