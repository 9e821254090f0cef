"""Refusal and not-found pages in the app's own chrome (issue #13), while the
SCIM API keeps answering its clients in SCIM's error format."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import scim_key
from tests.support.builders import sign_in
from tests.support.constants import PASSWORD
from tests.support.rows import snapshot

SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def client_as(app: Flask, org: OrgInfo, email: str, role: str) -> FlaskClient:
    make_user(app, org.id, email, role=role, password=PASSWORD)
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


def reason(page: str) -> str:
    found = re.search(r'<p id="error-reason">([^<]*)</p>', page)
    assert found, page
    return found.group(1)


def in_chrome(page: str) -> bool:
    """The page is the app's own: stylesheet, skip link, navigation."""
    return all(
        part in page
        for part in ('href="/static/style.css', 'class="skip-link"', 'id="main"')
    )


def test_a_member_opening_settings_gets_the_friendly_403(
    app: Flask, org: OrgInfo
) -> None:
    member = client_as(app, org, "mia@acme.test", "member")
    response = member.get("/settings")
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert in_chrome(response.text)
    assert reason(response.text) == "Only owners and admins can open Settings."
    assert 'aria-label="Main"' in response.text  # signed in: the navigation
    assert "Werkzeug" not in response.text and "Forbidden</h1>" not in response.text
    assert "mia@acme.test (member)" in response.text


def test_each_area_says_what_it_needs(app: Flask, org: OrgInfo) -> None:
    member = client_as(app, org, "mia@acme.test", "member")
    admin = client_as(app, org, "abe@acme.test", "admin")
    assert reason(member.get("/audit").text) == (
        "Only owners and admins can read the audit log."
    )
    assert reason(member.get("/settings/provisioning").text) == (
        "Only owners and admins can open Provisioning activity."
    )
    assert reason(member.get("/members/new").text) == (
        "Only owners and admins can add, change or remove members."
    )
    before = snapshot(app)
    renamed = admin.post("/settings/name", data={"name": "Evil"})
    assert renamed.status_code == 403
    assert reason(renamed.text) == "Only owners can rename the organization."
    assert snapshot(app) == before


def test_404_is_in_the_chrome_signed_in_or_not(app: Flask, org: OrgInfo) -> None:
    anonymous = app.test_client().get("/no-such-page")
    assert anonymous.status_code == 404 and in_chrome(anonymous.text)
    assert "Page not found" in anonymous.text
    assert 'href="/login"' in anonymous.text
    owner = app.test_client()
    sign_in(owner, org.owner_email)
    missing = owner.get("/no-such-page")
    assert missing.status_code == 404 and in_chrome(missing.text)
    assert 'href="/members"' in missing.text


def test_another_organizations_member_is_a_friendly_404(
    app: Flask, org: OrgInfo
) -> None:
    other = make_org(app, "Globex")
    owner = app.test_client()
    sign_in(owner, org.owner_email)
    response = owner.get(f"/members/{other.owner_id}")
    assert response.status_code == 404
    assert in_chrome(response.text)
    assert "belongs to another organization" in reason(response.text)
    assert other.owner_email not in response.text


def test_scim_answers_keep_the_scim_error_format(app: Flask, org: OrgInfo) -> None:
    client = app.test_client()
    unknown = client.get("/api/v1/scim/NoSuchResource")
    assert unknown.status_code == 404
    assert unknown.mimetype == "application/scim+json"
    assert unknown.get_json()["schemas"] == [SCIM_ERROR]
    secret = scim_key(app, org.id)
    headers = {"Authorization": f"Bearer {secret}"}
    missing = client.get("/api/v1/scim/Users/999999", headers=headers)
    assert missing.status_code == 404
    assert missing.get_json()["schemas"] == [SCIM_ERROR]
    refused = client.get("/api/v1/scim/Users", headers={"Authorization": "Bearer x"})
    assert refused.status_code == 401
    assert refused.get_json()["schemas"] == [SCIM_ERROR]
    assert "<html" not in refused.text.lower()
    free = make_org(app, "Freebie", plan="free")
    free_secret = scim_key(app, free.id)
    on_free = client.get(
        "/api/v1/scim/Users", headers={"Authorization": f"Bearer {free_secret}"}
    )
    assert on_free.status_code == 403
    assert on_free.get_json()["schemas"] == [SCIM_ERROR]
