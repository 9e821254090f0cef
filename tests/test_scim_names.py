"""Every user resource has a `name`, and the first owner is asked for theirs.

Okta's "Test API credentials" reads the first user of
GET /Users?startIndex=1&count=1, usually the owner made at setup or by
`flask org create`: both take the owner's given and family names now. A member
Gatehouse knows no name of still answers with `name.formatted`, built from the
display name, else the email's local part.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner

from core import first_run
from core.extensions import db
from core.models import Organization
from core.models import User
from tests.support.builders import OrgInfo
from tests.support.builders import make_user
from tests.support.builders import scim_key
from tests.support.builders import setup_form as complete_setup_form
from tests.support.constants import PASSWORD
from tests.support.rows import snapshot
from tests.support.scim import PATCH_SCHEMA as PATCH
from tests.support.scim import USER_SCHEMA as USER
from tests.support.scim import ScimClient

pytestmark = pytest.mark.usefixtures("quick_passwords")


class Scim:
    """A SCIM client of the app with an organization key."""

    def __init__(self, client: FlaskClient, secret: str) -> None:
        self.scim = ScimClient(client, secret)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Send a request; returns the JSON body after checking a 2xx status."""
        response = self.scim.call(method, path, body)
        assert response.status_code < 300, (method, path, response.text)
        return response.get_json()


@pytest.fixture
def scim(app: Flask, org: OrgInfo) -> Scim:
    """SCIM with Acme's organization key."""
    return Scim(app.test_client(), scim_key(app, org.id))


def first_user(scim: Scim) -> dict[str, Any]:
    """What Okta's "Test API credentials" reads."""
    listing = scim.call("GET", "/Users?startIndex=1&count=1")
    assert listing["itemsPerPage"] == 1
    return listing["Resources"][0]


# -- the fallback --------------------------------------------------------------


def test_a_member_without_names_answers_with_the_email_local_part(
    app: Flask, org: OrgInfo, scim: Scim
) -> None:
    # make_org's owner has no names (as organizations made before this change).
    assert first_user(scim)["name"] == {"formatted": "owner"}
    ann = make_user(app, org.id, "Ann.Lee@Acme.test")
    assert scim.call("GET", f"/Users/{ann}")["name"] == {"formatted": "Ann.Lee"}
    listed = scim.call("GET", '/Users?filter=userName eq "ann.lee@acme.test"')
    assert listed["Resources"][0]["name"] == {"formatted": "Ann.Lee"}


def test_the_display_name_comes_before_the_email(scim: Scim) -> None:
    created = scim.call(
        "POST",
        "/Users",
        {"schemas": [USER], "userName": "bo@acme.test", "displayName": "Bo Chen"},
    )
    assert created["name"] == {"formatted": "Bo Chen"}
    assert scim.call("GET", f"/Users/{created['id']}")["name"] == {
        "formatted": "Bo Chen"
    }


def test_known_names_are_returned_as_sent_and_nothing_is_made_up(
    scim: Scim,
) -> None:
    created = scim.call(
        "POST",
        "/Users",
        {
            "schemas": [USER],
            "userName": "cy@acme.test",
            "displayName": "Cy D.",
            "name": {"givenName": "Cy", "familyName": "Diaz", "formatted": "X"},
        },
    )
    # formatted is the server's (readOnly), and only for a member without names.
    assert created["name"] == {"givenName": "Cy", "familyName": "Diaz"}
    only_given = scim.call(
        "POST",
        "/Users",
        {"schemas": [USER], "userName": "di@acme.test", "name": {"givenName": "Di"}},
    )
    assert only_given["name"] == {"givenName": "Di"}


def test_removing_the_name_leaves_a_formatted_one(scim: Scim) -> None:
    created = scim.call(
        "POST",
        "/Users",
        {
            "schemas": [USER],
            "userName": "ed@acme.test",
            "name": {"givenName": "Ed", "familyName": "Fox"},
        },
    )
    patched = scim.call(
        "PATCH",
        f"/Users/{created['id']}",
        {"schemas": [PATCH], "Operations": [{"op": "remove", "path": "name"}]},
    )
    assert patched["name"] == {"formatted": "ed"}
    assert scim.call("GET", f"/Users/{created['id']}")["name"] == {"formatted": "ed"}


# -- flask org create ------------------------------------------------------------


def org_create(runner: FlaskCliRunner, *extra: str) -> Any:
    """`flask org create Initech` with an owner, plus `extra` options."""
    return runner.invoke(
        args=[
            "org",
            "create",
            "Initech",
            "--owner-email",
            "ann@initech.test",
            "--owner-password",
            PASSWORD,
            "--plan",
            "pro",
            *extra,
        ]
    )


def owner_of(app: Flask, name: str) -> tuple[int, int, str, str]:
    """(organization id, owner id, given name, family name)."""
    with app.app_context():
        org = db.session.execute(
            db.select(Organization).filter_by(name=name)
        ).scalar_one()
        owner = db.session.execute(
            db.select(User).filter_by(organization_id=org.id, role="owner")
        ).scalar_one()
        return org.id, owner.id, owner.given_name, owner.family_name


def test_org_create_takes_the_owners_names(app: Flask, runner: FlaskCliRunner) -> None:
    result = org_create(
        runner, "--owner-given-name", " Ann ", "--owner-family-name", "Example"
    )
    assert result.exit_code == 0, result.output
    assert "with owner Ann Example <ann@initech.test>." in result.stdout
    org_id, owner_id, given, family = owner_of(app, "Initech")
    assert (given, family) == ("Ann", "Example")
    scim = Scim(app.test_client(), scim_key(app, org_id))
    owner = first_user(scim)
    assert owner["id"] == str(owner_id)
    assert owner["name"] == {"givenName": "Ann", "familyName": "Example"}


def test_org_create_without_names_leaves_a_formatted_name(
    app: Flask, runner: FlaskCliRunner
) -> None:
    result = org_create(runner)
    assert result.exit_code == 0, result.output
    assert "with owner ann@initech.test." in result.stdout
    org_id, _owner_id, given, family = owner_of(app, "Initech")
    assert (given, family) == ("", "")
    scim = Scim(app.test_client(), scim_key(app, org_id))
    assert first_user(scim)["name"] == {"formatted": "ann"}


def test_org_create_help_names_the_options(runner: FlaskCliRunner) -> None:
    text = runner.invoke(args=["org", "create", "--help"]).stdout
    assert "--owner-given-name" in text and "--owner-family-name" in text


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--owner-given-name", "Ann\nEvil", "Given name: A name cannot contain"),
        ("--owner-family-name", "x" * 201, "Family name: Use at most 200"),
    ],
)
def test_org_create_refuses_a_bad_name_and_changes_nothing(
    app: Flask, runner: FlaskCliRunner, option: str, value: str, message: str
) -> None:
    before = snapshot(app)
    result = org_create(runner, option, value)
    assert result.exit_code == 1
    assert message in result.stderr
    assert snapshot(app) == before


# -- the first-run setup page ------------------------------------------------------


def test_setup_asks_for_the_owners_names(app: Flask, client: FlaskClient) -> None:
    page = client.get("/setup").text
    assert 'name="given_name"' in page and 'name="family_name"' in page
    assert "required" in page.split('name="given_name"')[1].split(">")[0]
    response = client.post("/setup", data=setup_form(first_run.setup_code(app)))
    assert response.status_code == 302
    org_id, owner_id, given, family = owner_of(app, "Initech")
    assert (given, family) == ("Peter", "Gibbons")
    scim = Scim(app.test_client(), scim_key(app, org_id))
    owner = first_user(scim)
    assert owner["id"] == str(owner_id)
    assert owner["name"] == {"givenName": "Peter", "familyName": "Gibbons"}


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("given_name", "Enter your first name."),
        ("family_name", "Enter your last name."),
    ],
)
@pytest.mark.parametrize("value", ["", "   "])
def test_setup_refuses_a_missing_name_and_creates_nothing(
    app: Flask, client: FlaskClient, field: str, message: str, value: str
) -> None:
    code = first_run.setup_code(app)
    before = snapshot(app)
    response = client.post("/setup", data=setup_form(code, **{field: value}))
    assert message in response.text
    assert snapshot(app) == before
    with app.app_context():
        assert first_run.setup_needed()


def test_setup_refuses_a_name_with_a_line_break(
    app: Flask, client: FlaskClient
) -> None:
    code = first_run.setup_code(app)
    before = snapshot(app)
    response = client.post("/setup", data=setup_form(code, family_name="Gib\u2028bons"))
    assert response.status_code == 400
    # Said at the family name field (setup shows each problem at its field).
    assert '<p class="error" id="family_name-error-1">A name cannot contain' in (
        response.text
    )
    assert snapshot(app) == before


def setup_form(code: str, **changes: str) -> dict[str, str]:
    """The setup form with the test client's address as the public one."""
    return complete_setup_form(code, **{"public_url": "http://localhost", **changes})
