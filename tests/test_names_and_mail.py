"""Names refuse control and separator characters everywhere; mail never raises into
a page. One validation path for a group's displayName and externalId, whatever the
verb (POST, PUT, PATCH with or without a path).
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from core.extensions import db
from core.models import Group
from core.models import LinkToken
from core.models import Organization
from core.models import SsoConfig
from tests.support.builders import OrgInfo
from tests.support.builders import make_user
from tests.support.builders import scim_key
from tests.support.rows import events
from tests.support.rows import snapshot
from tests.support.scim import GROUP_SCHEMA as GROUP
from tests.support.scim import PATCH_SCHEMA as PATCH
from tests.support.scim import ScimClient

pytestmark = pytest.mark.usefixtures("quick_passwords")

UNSAFE = ["a\x00b", "a\x1bb", "a\x07b", "a\u2028b", "a\u2029b", "a\x85b", "a\x7fb"]


def scim(
    client: FlaskClient, method: str, path: str, secret: str, body: Any = None
) -> TestResponse:
    """One SCIM request."""
    return ScimClient(client, secret).call(method, path, body)


@pytest.mark.parametrize("name", UNSAFE)
def test_an_organization_name_with_control_or_separators_is_refused(
    owner_client: FlaskClient, app: Flask, org: OrgInfo, name: str
) -> None:
    before = snapshot(app)
    response = owner_client.post("/settings/name", data={"name": name})
    assert response.status_code == 400
    assert "control or line-separator" in response.text
    assert snapshot(app) == before
    result = app.test_cli_runner().invoke(
        args=["org", "create", name, "--owner-email", "x@y.test"]
        + ["--owner-password", "a long enough password"]
    )
    assert result.exit_code == 1 and "line-separator" in result.output


@pytest.mark.parametrize("name", UNSAFE)
def test_a_member_name_with_control_or_separators_is_refused(
    owner_client: FlaskClient, app: Flask, name: str
) -> None:
    before = snapshot(app)
    response = owner_client.post(
        "/members/new",
        data={"email": "zed@acme.test", "given_name": name, "role": "member"},
    )
    assert response.status_code == 400
    assert snapshot(app) == before


def new_group(app: Flask, org_id: int, secret: str, client: FlaskClient) -> str:
    response = scim(
        client, "POST", "/Groups", secret, {"schemas": [GROUP], "displayName": "Eng"}
    )
    assert response.status_code == 201, response.text
    return response.get_json(force=True)["id"]


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "displayName", "value": "Eng\x00\x1b\x07"},
        {"op": "replace", "value": {"displayName": "Eng\u2028x"}},
        {"op": "replace", "path": "externalId", "value": "x" * 1_000_000},
        {"op": "add", "value": {"externalId": "x" * 401}},
        {"op": "replace", "path": "displayName", "value": ""},
        {"op": "replace", "path": "displayName", "value": 7},
    ],
    ids=["controls", "separator", "huge externalId", "long externalId", "empty", "int"],
)
def test_a_group_patch_runs_the_same_checks_as_post_and_put(
    app: Flask, org: OrgInfo, operation: dict[str, Any]
) -> None:
    """Group PATCH used to store what POST and PUT refuse (and copy it into logs)."""
    client = app.test_client()
    secret = scim_key(app, org.id)
    group_id = new_group(app, org.id, secret, client)
    before = snapshot(app, scim_writes=True)
    response = scim(
        client,
        "PATCH",
        f"/Groups/{group_id}",
        secret,
        {"schemas": [PATCH], "Operations": [operation]},
    )
    assert response.status_code == 400, response.text
    assert snapshot(app, scim_writes=True) == before
    with app.app_context():
        group = db.session.get(Group, int(group_id))
        assert group is not None and group.display_name == "Eng"
    # Nothing of the value reaches the activity log either.
    page = app.test_client()
    assert (
        page.post(
            "/login",
            data={"email": org.owner_email, "password": "correct horse battery staple"},
        ).status_code
        == 302
    )
    assert "x" * 1000 not in page.get("/settings/provisioning").text


def test_a_group_patch_with_good_values_still_renames(app: Flask, org: OrgInfo) -> None:
    client = app.test_client()
    secret = scim_key(app, org.id)
    group_id = new_group(app, org.id, secret, client)
    response = scim(
        client,
        "PATCH",
        f"/Groups/{group_id}",
        secret,
        {
            "schemas": [PATCH],
            "Operations": [
                {
                    "op": "replace",
                    "value": {"displayName": "  Platform  ", "externalId": "g1"},
                }
            ],
        },
    )
    assert response.status_code == 204, response.text
    with app.app_context():
        group = db.session.get(Group, int(group_id))
        assert group is not None
        assert (group.display_name, group.external_id) == ("Platform", "g1")


def test_a_link_email_that_cannot_be_written_is_a_message_not_a_500(
    owner_client: FlaskClient, app: Flask, org: OrgInfo
) -> None:
    """An organization named before names were checked, with U+2028: the Subject
    cannot be written. The page says so and no link is left behind."""
    bob = make_user(app, org.id, "bob@acme.test")
    with app.app_context():
        organization = db.session.get(Organization, org.id)
        assert organization is not None
        organization.name = "Acme\u2028Rockets"
        db.session.add(
            SsoConfig(
                organization_id=org.id,
                provider="okta",
                protocol="oidc",
                oidc_issuer="https://acme.okta.com",
            )
        )
        db.session.commit()
    response = owner_client.post(f"/members/{bob}/okta-link", follow_redirects=True)
    assert response.status_code == 200
    assert "could not be sent" in response.text
    with app.app_context():
        assert db.session.execute(db.select(LinkToken)).all() == []
    assert events(app, "okta.link_email_failed")[-1]["target"] == "bob@acme.test"
    assert events(app, "okta.link_email_sent") == []
