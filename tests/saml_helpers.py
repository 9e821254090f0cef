"""Helpers shared by the SAML sign-in tests: connect Okta, go through the IdP.

The app under test answers at PUBLIC_BASE_URL (its SP entity ID); the IdP is
`tests.saml_idp.SamlIdp`. The test client posts the IdP's form to the ACS as a
browser would.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from core.extensions import db
from core.models import SamlRequest
from tests.conftest import OrgInfo
from tests.conftest import sign_in
from tests.okta_helpers import events
from tests.saml_idp import SamlIdp

PUBLIC_BASE_URL = "https://gatehouse.test"
ACS_PATH = "/api/v1/auth/login/okta/callback"
ACS_URL = PUBLIC_BASE_URL + ACS_PATH
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


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


def connected(app: Flask, org: OrgInfo, idp: SamlIdp, **kwargs: Any) -> None:
    """`connect`, which must succeed."""
    response = connect(app, org, idp, **kwargs)
    assert response.status_code == 302, response.text


def start(client: FlaskClient, org: str = "Acme", **params: str) -> str:
    """GET /sso/okta; returns the IdP URL (with the AuthnRequest) it redirects to."""
    response = client.get("/sso/okta", query_string={"org": org, **params})
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def saml_sign_in(
    client: FlaskClient, idp: SamlIdp, org: str = "Acme", **overrides: Any
) -> Any:
    """Start at Gatehouse, answer at the IdP, post the answer to the ACS."""
    fields = idp.respond_to(start(client, org), **overrides)
    return client.post(ACS_PATH, data=fields)


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
