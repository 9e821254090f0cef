"""Helpers shared by the SAML sign-in tests: connect Okta, go through the IdP.

The app under test answers at PUBLIC_BASE_URL (its SP entity ID); the IdP is
`tests.support.saml_idp.SamlIdp`. Okta's form reaches the ACS as a cross-site
POST, so `post_from_okta` sends it with only the cookies a browser would send
then (the SameSite=None ones), and puts what the answer sets back into the
test's client.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.http import parse_date
from werkzeug.test import TestResponse

from blueprints.okta_saml.flow import BROWSER_COOKIE
from core.extensions import db
from core.models import SamlRequest
from tests.support.builders import OrgInfo
from tests.support.builders import make_app
from tests.support.builders import sign_in
from tests.support.constants import ORG_NAME
from tests.support.oidc import turn_on_for_everyone
from tests.support.rows import events
from tests.support.rows import sso_config
from tests.support.saml_idp import SamlIdp

PUBLIC_BASE_URL = "https://gatehouse.test"
ACS_PATH = "/api/v1/auth/login/okta/callback"
ACS_URL = PUBLIC_BASE_URL + ACS_PATH
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


# Fixtures: a test module that signs in over SAML imports them by name.


@pytest.fixture
def saml_app(tmp_path: Path) -> Iterator[Flask]:
    """An app whose public address is the SAML tests' (its SP entity ID)."""
    app = make_app(tmp_path, PUBLIC_BASE_URL=PUBLIC_BASE_URL)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def idp(tmp_path: Path) -> Iterator[SamlIdp]:
    """A SAML IdP on 127.0.0.1 that knows Gatehouse as its SP."""
    with SamlIdp(PUBLIC_BASE_URL, ACS_URL, tmp_dir=tmp_path / "idp") as server:
        yield server


def owner(app: Flask, org: OrgInfo) -> FlaskClient:
    """A client signed in as the organization's owner."""
    client = app.test_client()
    assert sign_in(client, org.owner_email).status_code == 302
    return client


def connect(
    app: Flask,
    org: OrgInfo,
    idp: SamlIdp,
    *,
    default_role: str = "member",
    client: FlaskClient | None = None,
) -> Any:
    """Continue on OKTA AUTHENTICATION with SAML and the IdP's metadata URL."""
    return (client or owner(app, org)).post(
        "/settings/okta",
        data={
            "default_role": default_role,
            "protocol": "saml",
            "saml_metadata_url": idp.metadata_url,
        },
    )


def connected(
    app: Flask,
    org: OrgInfo,
    idp: SamlIdp,
    *,
    send_links: bool = True,
    **kwargs: Any,
) -> None:
    """Set SAML up the way the page asks: Save (`connect`), Test sign-in with
    Okta (a round trip through `idp`), then Turn on for everyone (emailing the
    link when `send_links`), unless members sign in with SAML already."""
    client = kwargs.pop("client", None) or owner(app, org)
    response = connect(app, org, idp, client=client, **kwargs)
    assert response.status_code == 302, response.text
    assert saml_test_sign_in(client, idp).status_code == 302
    config = sso_config(app, org.id)
    if config is not None and (config["provider"], config["protocol"]) == (
        "okta",
        "saml",
    ):
        return  # on already: the save reached members
    response = turn_on_for_everyone(client, "saml", send_links=send_links)
    assert response.status_code == 302, response.text


def saml_test_sign_in(
    client: FlaskClient, idp: SamlIdp, **overrides: Any
) -> TestResponse:
    """Test sign-in with Okta (SAML) as `client`: the test AuthnRequest, the
    IdP's answer, posted cross-site to the ACS; returns the ACS's answer."""
    response = client.post("/okta/test", data={"protocol": "saml"})
    assert response.status_code == 302, response.text
    return post_from_okta(
        client, idp.respond_to(response.headers["Location"], **overrides)
    )


def start(client: FlaskClient, org: str = ORG_NAME, **params: str) -> str:
    """GET /sso/okta; returns the IdP URL (with the AuthnRequest) it redirects to."""
    response = client.get("/sso/okta", query_string={"org": org, **params})
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def cross_site_cookies(client: FlaskClient) -> dict[str, str]:
    """The cookies of `client` that a browser sends with a cross-site POST.

    Only SameSite=None cookies go with a POST from another site (Lax and Strict
    ones, and those without the attribute, which browsers treat as Lax, stay
    behind), and a browser keeps a SameSite=None cookie only when it is Secure.
    The app sets two cookies: its session and the SAML browser cookie.
    """
    names = (client.application.config["SESSION_COOKIE_NAME"], BROWSER_COOKIE)
    sent = {}
    for name in names:
        cookie = client.get_cookie(name, path="/")
        if (
            cookie is not None
            and (cookie.same_site or "").lower() == "none"
            and cookie.secure
        ):
            sent[name] = cookie.value
    return sent


def store_cookies(client: FlaskClient, response: TestResponse) -> None:
    """Keep in `client` the cookies `response` sets or deletes, as a browser does.

    A browser stores what the answer to a cross-site POST sets: that is how the
    session started at the ACS reaches the person's next page.
    """
    for header in response.headers.getlist("Set-Cookie"):
        pair, *attributes = header.split(";")
        name, _, value = pair.strip().partition("=")
        options: dict[str, str] = {}
        for attribute in attributes:
            key, _, option = attribute.strip().partition("=")
            options[key.lower()] = option
        path = options.get("path") or "/"
        expires = parse_date(options.get("expires"))
        if options.get("max-age") == "0" or (
            expires is not None and expires.timestamp() == 0
        ):
            client.delete_cookie(name, path=path)
            continue
        client.set_cookie(
            name,
            value,
            path=path,
            max_age=int(options["max-age"]) if options.get("max-age") else None,
            secure="secure" in options,
            httponly="httponly" in options,
            samesite=options.get("samesite"),
        )


def post_from_okta(client: FlaskClient, fields: dict[str, str]) -> TestResponse:
    """POST the IdP's form to the ACS as `client`'s browser does: cross-site.

    The POST goes out from a fresh client (from `client`'s address) that holds
    only `cross_site_cookies` (none for a dashboard sign-in started in a fresh
    browser); what the answer sets is stored in `client`, where the test goes
    on (e.g. to the page the ACS redirects to).
    """
    okta_form = client.application.test_client()
    okta_form.environ_base.update(client.environ_base)  # same address and agent
    for name, value in cross_site_cookies(client).items():
        okta_form.set_cookie(name, value, path="/")
    response = okta_form.post(ACS_PATH, data=fields)
    store_cookies(client, response)
    return response


def saml_sign_in(
    client: FlaskClient, idp: SamlIdp, org: str = ORG_NAME, **overrides: Any
) -> TestResponse:
    """Start at Gatehouse, answer at the IdP, post the answer to the ACS."""
    fields = idp.respond_to(start(client, org), **overrides)
    return post_from_okta(client, fields)


def saml_successes(app: Flask) -> list[dict[str, Any]]:
    """`sign_in.succeeded` events of SAML sign-ins."""
    return [
        event
        for event in events(app, "sign_in.succeeded")
        if event.get("method") == "okta-saml"
    ]


def refusals(app: Flask) -> list[dict[str, Any]]:
    """`sign_in.refused` events of SAML sign-ins."""
    return [
        event
        for event in events(app, "sign_in.refused")
        if event.get("method") == "okta-saml"
    ]


def pending_requests(app: Flask) -> list[str]:
    """IDs of the AuthnRequests still waiting for an answer."""
    with app.app_context():
        return list(db.session.execute(db.select(SamlRequest.id)).scalars())
