"""Recovery: the `flask member` commands and the member page's Okta and lockout tools.

The server administrator can always get an organization back on its feet from
the command line (give a role, unlock password sign-in, remove Okta links),
with one refusal: the last active owner keeps the role. On /members/<id>,
owners and admins see a member's Okta identities and may remove them or clear
a lockout, never for an owner unless they are one. The API keys pages say who
made each key and warn when that person no longer holds the authority.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner
from lxml import html
from werkzeug.test import TestResponse

from core.extensions import db
from core.models import ApiKey
from core.models import OktaIdentity
from core.models import Organization
from core.models import SsoConfig
from core.models import User
from core.provisioning import organizations
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.constants import PASSWORD
from tests.support.rows import events
from tests.support.rows import get_user
from tests.support.rows import identities
from tests.support.rows import snapshot
from tests.support.scim import PATCH_SCHEMA as PATCH
from tests.support.scim import ScimClient

pytestmark = pytest.mark.usefixtures("quick_passwords")

ISSUER = "https://acme.okta.com"
SAML_ISSUER = "http://www.okta.com/exk-acme"
WRONG = "not the password at all"


# -- helpers ----------------------------------------------------------------------


def member(runner: FlaskCliRunner, *args: str) -> Result:
    """Run `flask member ...`."""
    return runner.invoke(args=["member", *args])


def assert_refused(result: Result, message: str, exit_code: int = 1) -> None:
    """The command failed with `exit_code` and said `message` on stderr."""
    assert result.exit_code == exit_code, result.output
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.output


def client_for(app: Flask, email: str) -> FlaskClient:
    """A client signed in as `email`."""
    client = app.test_client()
    response = sign_in(client, email)
    assert response.status_code == 302, response.text
    return client


def lock_out(app: Flask, email: str) -> None:
    """Fail password sign-in for `email` until the account is locked."""
    client = app.test_client()
    for _ in range(app.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"]):
        assert sign_in(client, email, WRONG).status_code == 401
    assert sign_in(client, email).status_code == 429


def flashes(client: FlaskClient) -> list[str]:
    """The flash messages waiting in the client's session."""
    with client.session_transaction() as session:
        return [message for _category, message in session.get("_flashes", [])]


def turn_okta_on(app: Flask, org_id: int) -> None:
    """Okta over OIDC at ISSUER is the organization's sign-in (no network)."""
    with app.app_context():
        db.session.add(
            SsoConfig(
                organization_id=org_id,
                provider="okta",
                protocol="oidc",
                oidc_client_id="0oa-client",
                oidc_issuer=ISSUER,
            )
        )
        db.session.commit()


def add_identity(
    app: Flask,
    org_id: int,
    user_id: int,
    subject: str,
    *,
    protocol: str = "oidc",
    issuer: str = ISSUER,
    created_at: datetime | None = None,
    last_used_at: datetime | None = None,
) -> int:
    """Link a user to an Okta subject directly in the database; return its id."""
    with app.app_context():
        identity = OktaIdentity(
            organization_id=org_id,
            user_id=user_id,
            protocol=protocol,
            issuer=issuer,
            subject=subject,
            last_used_at=last_used_at,
        )
        if created_at is not None:
            identity.created_at = created_at
        db.session.add(identity)
        db.session.commit()
        return identity.id


def identity_rows(text: str) -> list[list[str]]:
    """The text of each cell of each row of the member page's identities table."""
    tree = html.fromstring(text)
    return [
        [" ".join(cell.text_content().split()) for cell in row.xpath("./td")]
        for row in tree.xpath('//table[@id="identities"]/tbody/tr')
    ]


def remove_identity(client: FlaskClient, user_id: int, identity_id: int) -> int:
    """POST the Unlink button of one identity; return the status."""
    return client.post(
        f"/members/{user_id}/identities/{identity_id}/remove"
    ).status_code


def key_warnings(text: str) -> list[str]:
    """The text of every key-warning notice on a page."""
    tree = html.fromstring(text)
    return [
        " ".join(node.text_content().split())
        for node in tree.xpath('//*[contains(@class, "key-warning")]')
    ]


def create_key(client: FlaskClient, kind: str, role: str = "admin") -> str:
    """Create a scim key on /api-keys; return its secret."""
    response = client.post(
        "/api-keys",
        data={"name": f"{kind} key", "kind": kind, "role": role, "scopes": "scim"},
        follow_redirects=True,
    )
    assert response.status_code == 200, response.text
    [secret] = html.fromstring(response.text).xpath('//*[@id="secret-value"]/text()')
    return secret


def scim(
    client: FlaskClient, secret: str, method: str, path: str, body: Any = None
) -> TestResponse:
    """A SCIM request with a key."""
    return ScimClient(client, secret).call(method, path, body)


def switch_scim_on(app: Flask, org_id: int) -> None:
    """Turn SCIM sync on for the organization."""
    with app.app_context():
        org = db.session.get(Organization, org_id)
        assert org is not None
        organizations.set_scim_sync(org, True, actor="cli")


# -- flask member set-role ----------------------------------------------------------


def test_set_role_changes_the_role_and_audits_cli(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    mia = make_user(app, org.id, "mia@acme.test")
    result = member(runner, "set-role", "--org", "acme", "MIA@acme.test", "admin")
    assert result.exit_code == 0, result.output
    assert "mia@acme.test of 'Acme': member -> admin." in result.stdout
    assert get_user(app, mia)["role"] == "admin"
    [event] = events(app, "member.role_changed")
    assert (event["actor"], event["actor_user_id"]) == ("cli", None)
    assert event["organization_id"] == org.id
    assert event["target"] == "mia@acme.test"
    assert (event["before"], event["after"]) == ("member", "admin")


def test_set_role_can_make_and_unmake_an_owner(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    mia = make_user(app, org.id, "mia@acme.test")
    assert (
        member(runner, "set-role", "--org", "Acme", "mia@acme.test", "owner").exit_code
        == 0
    )
    assert get_user(app, mia)["role"] == "owner"
    # Two active owners now: the first one may step down.
    result = member(runner, "set-role", "--org", "Acme", org.owner_email, "member")
    assert result.exit_code == 0, result.output
    assert get_user(app, org.owner_id)["role"] == "member"


@pytest.mark.parametrize(
    ("args", "message", "exit_code"),
    [
        (
            ["--org", "Globex", "mia@acme.test", "admin"],
            "No organization named 'Globex'",
            1,
        ),
        (
            ["--org", "Acme", "nobody@acme.test", "admin"],
            "has no member 'nobody@acme.test'",
            1,
        ),
        (
            ["--org", "Acme", "mia@acme.test", "boss"],
            "is not one of 'owner', 'admin', 'member'",
            2,
        ),
        (
            ["--org", "Acme", "mia@acme.test", "Owner"],
            "is not one of 'owner', 'admin', 'member'",
            2,
        ),
        (["mia@acme.test", "admin"], "Missing option '--org'", 2),
    ],
)
def test_set_role_refuses_bad_input_and_changes_nothing(
    app: Flask,
    runner: FlaskCliRunner,
    org: OrgInfo,
    args: list[str],
    message: str,
    exit_code: int,
) -> None:
    make_user(app, org.id, "mia@acme.test")
    before = snapshot(app)
    assert_refused(member(runner, "set-role", *args), message, exit_code)
    assert snapshot(app) == before


def test_set_role_does_not_reach_into_another_organization(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    globex = make_org(app, "Globex")
    before = snapshot(app)
    result = member(runner, "set-role", "--org", "Acme", globex.owner_email, "member")
    assert_refused(result, "has no member")
    assert snapshot(app) == before


@pytest.mark.parametrize("role", ["admin", "member"])
def test_set_role_refuses_to_demote_the_last_active_owner(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo, role: str
) -> None:
    # Another owner who is deactivated does not count.
    make_user(app, org.id, "old@acme.test", role="owner", status="inactive")
    before = snapshot(app)
    result = member(runner, "set-role", "--org", "Acme", org.owner_email, role)
    assert_refused(result, "only active owner")
    assert "make someone else an owner first" in result.stderr
    assert snapshot(app) == before
    assert get_user(app, org.owner_id)["role"] == "owner"


def test_set_role_promotes_when_the_only_owner_is_inactive(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    with app.app_context():
        owner = db.session.get(User, org.owner_id)
        assert owner is not None
        owner.status = "inactive"
        db.session.commit()
    ada = make_user(app, org.id, "ada@acme.test", role="admin")
    result = member(runner, "set-role", "--org", "Acme", "ada@acme.test", "owner")
    assert result.exit_code == 0, result.output
    assert "admin -> owner" in result.stdout
    assert get_user(app, ada)["role"] == "owner"
    # The new owner runs the organization from the web again.
    client = client_for(app, "ada@acme.test")
    response = client.post(f"/members/{org.owner_id}/status", data={"status": "active"})
    assert response.status_code == 302
    assert get_user(app, org.owner_id)["status"] == "active"


def test_member_commands_have_help(runner: FlaskCliRunner) -> None:
    group = runner.invoke(args=["member", "--help"])
    assert group.exit_code == 0, group.output
    assert "Recover members" in group.stdout
    for command in ("set-role", "unlock", "unlink"):
        assert command in group.stdout
    expected = {
        "set-role": "Give a member a role",
        "unlock": "Clear a member's password sign-in lockout",
        "unlink": "Remove every Okta link of a member",
    }
    for command, text in expected.items():
        result = runner.invoke(args=["member", command, "--help"])
        assert result.exit_code == 0, result.output
        assert text in result.stdout
        assert "--org" in result.stdout and "EMAIL" in result.stdout
    assert "owner|admin|member" in runner.invoke(
        args=["member", "set-role", "--help"]
    ).stdout.replace("[", "").replace("]", "")


# -- lockout and flask member unlock ------------------------------------------------


def test_unlock_from_the_command_line(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    make_user(app, org.id, "mia@acme.test")
    lock_out(app, "mia@acme.test")
    # Locked for the right password too, from anywhere.
    elsewhere = app.test_client().post(
        "/login",
        data={"email": "mia@acme.test", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.7.7.7"},
    )
    assert elsewhere.status_code == 429

    result = member(runner, "unlock", "--org", "Acme", "mia@acme.test")
    assert result.exit_code == 0, result.output
    assert (
        "Unlocked password sign-in for mia@acme.test (5 failed attempts"
        in result.stdout
    )
    assert sign_in(app.test_client(), "mia@acme.test").status_code == 302
    [event] = events(app, "member.unlocked")
    assert (event["actor"], event["actor_user_id"]) == ("cli", None)
    assert event["target"] == "mia@acme.test"
    assert event["failures_cleared"] == 5


def test_unlock_unlocks_an_owner_too(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    lock_out(app, org.owner_email)
    assert member(runner, "unlock", "--org", "acme", org.owner_email).exit_code == 0
    assert sign_in(app.test_client(), org.owner_email).status_code == 302


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "Globex", "mia@acme.test"], "No organization named 'Globex'"),
        (["--org", "Acme", "nobody@acme.test"], "has no member 'nobody@acme.test'"),
    ],
)
def test_unlock_refuses_unknown_names_and_keeps_the_lock(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo, args: list[str], message: str
) -> None:
    make_user(app, org.id, "mia@acme.test")
    lock_out(app, "mia@acme.test")
    before = snapshot(app)
    assert_refused(member(runner, "unlock", *args), message)
    assert snapshot(app) == before
    assert sign_in(app.test_client(), "mia@acme.test").status_code == 429


def test_member_page_offers_unlock_only_to_admins_while_locked(
    app: Flask, org: OrgInfo
) -> None:
    mia = make_user(app, org.id, "mia@acme.test")
    make_user(app, org.id, "ada@acme.test", role="admin")
    make_user(app, org.id, "max@acme.test")
    admin = client_for(app, "ada@acme.test")
    other_member = client_for(app, "max@acme.test")
    assert 'id="unlock"' not in admin.get(f"/members/{mia}").text

    lock_out(app, "mia@acme.test")
    page = admin.get(f"/members/{mia}")
    assert page.status_code == 200
    assert 'id="unlock"' in page.text
    assert f'action="/members/{mia}/unlock"' in page.text
    member_view = other_member.get(f"/members/{mia}")
    assert member_view.status_code == 200
    assert 'id="unlock"' not in member_view.text

    # An admin may not unlock an owner, so the owner's page offers nothing.
    lock_out(app, org.owner_email)
    assert 'id="unlock"' not in admin.get(f"/members/{org.owner_id}").text


def test_admin_unlocks_a_member_on_the_page(app: Flask, org: OrgInfo) -> None:
    mia = make_user(app, org.id, "mia@acme.test")
    ada = make_user(app, org.id, "ada@acme.test", role="admin")
    admin = client_for(app, "ada@acme.test")
    lock_out(app, "mia@acme.test")
    response = admin.post(f"/members/{mia}/unlock")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/members/{mia}"
    assert flashes(admin) == ["mia@acme.test can try their password again."]
    assert 'id="unlock"' not in admin.get(f"/members/{mia}").text
    assert sign_in(app.test_client(), "mia@acme.test").status_code == 302
    [event] = events(app, "member.unlocked")
    assert (event["actor"], event["actor_user_id"]) == ("ada@acme.test", ada)
    assert event["target"] == "mia@acme.test"


def test_admin_cannot_unlock_an_owner(app: Flask, org: OrgInfo) -> None:
    make_user(app, org.id, "ada@acme.test", role="admin")
    admin = client_for(app, "ada@acme.test")
    lock_out(app, org.owner_email)
    before = snapshot(app)
    response = admin.post(f"/members/{org.owner_id}/unlock")
    assert response.status_code == 302
    assert flashes(admin) == ["Only an owner can change an owner."]
    assert snapshot(app) == before
    assert events(app, "member.unlocked") == []
    assert sign_in(app.test_client(), org.owner_email).status_code == 429


def test_owner_unlocks_another_owner(app: Flask, org: OrgInfo) -> None:
    olga = make_user(app, org.id, "olga@acme.test", role="owner")
    owner = client_for(app, org.owner_email)
    lock_out(app, "olga@acme.test")
    assert 'id="unlock"' in owner.get(f"/members/{olga}").text
    assert owner.post(f"/members/{olga}/unlock").status_code == 302
    assert sign_in(app.test_client(), "olga@acme.test").status_code == 302


def test_member_cannot_unlock_anyone(app: Flask, org: OrgInfo) -> None:
    mia = make_user(app, org.id, "mia@acme.test")
    make_user(app, org.id, "max@acme.test")
    other_member = client_for(app, "max@acme.test")
    lock_out(app, "mia@acme.test")
    before = snapshot(app)
    assert other_member.post(f"/members/{mia}/unlock").status_code == 403
    assert snapshot(app) == before
    assert sign_in(app.test_client(), "mia@acme.test").status_code == 429


def test_unlock_of_another_organizations_member_is_404(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    globex = make_org(app, "Globex")
    mia = make_user(app, org.id, "mia@acme.test")
    lock_out(app, globex.owner_email)
    lock_out(app, "mia@acme.test")
    assert owner_client.post(f"/members/{globex.owner_id}/unlock").status_code == 404
    assert sign_in(app.test_client(), globex.owner_email).status_code == 429
    # The same owner unlocks their own member: the 404 was the tenant wall.
    assert owner_client.post(f"/members/{mia}/unlock").status_code == 302
    assert sign_in(app.test_client(), "mia@acme.test").status_code == 302


# -- flask member unlink --------------------------------------------------------


def test_unlink_removes_every_identity_and_audits_each(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    mia = make_user(app, org.id, "mia@acme.test")
    max_id = make_user(app, org.id, "max@acme.test")
    add_identity(app, org.id, mia, "00u-mia-oidc")
    add_identity(app, org.id, mia, "mia@acme.test", protocol="saml", issuer=SAML_ISSUER)
    add_identity(app, org.id, max_id, "00u-max-oidc")

    result = member(runner, "unlink", "--org", "Acme", "mia@acme.test")
    assert result.exit_code == 0, result.output
    assert "Removed 2 Okta link(s) of mia@acme.test." in result.stdout
    assert identities(app) == [(org.id, max_id, "oidc", ISSUER, "00u-max-oidc")]
    removed = events(app, "okta.identity_removed")
    assert [(e["protocol"], e["issuer"], e["subject"]) for e in removed] == [
        ("oidc", ISSUER, "00u-mia-oidc"),
        ("saml", SAML_ISSUER, "mia@acme.test"),
    ]
    for event in removed:
        assert (event["actor"], event["actor_user_id"]) == ("cli", None)
        assert event["target"] == "mia@acme.test"
        assert event["organization_id"] == org.id

    again = member(runner, "unlink", "--org", "Acme", "mia@acme.test")
    assert again.exit_code == 0, again.output
    assert "Removed 0 Okta link(s)" in again.stdout


def test_unlink_works_for_an_owner(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    add_identity(app, org.id, org.owner_id, "00u-owner")
    result = member(runner, "unlink", "--org", "Acme", org.owner_email)
    assert result.exit_code == 0, result.output
    assert "Removed 1 Okta link(s)" in result.stdout
    assert identities(app) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--org", "Globex", "mia@acme.test"], "No organization named 'Globex'"),
        (["--org", "Acme", "nobody@acme.test"], "has no member 'nobody@acme.test'"),
    ],
)
def test_unlink_refuses_unknown_names_and_changes_nothing(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo, args: list[str], message: str
) -> None:
    mia = make_user(app, org.id, "mia@acme.test")
    add_identity(app, org.id, mia, "00u-mia-oidc")
    before = snapshot(app)
    assert_refused(member(runner, "unlink", *args), message)
    assert snapshot(app) == before


# -- the member page's identity table ---------------------------------------------


def test_identity_table_shows_protocol_subject_and_dates(
    app: Flask, org: OrgInfo
) -> None:
    turn_okta_on(app, org.id)
    mia = make_user(app, org.id, "mia@acme.test")
    make_user(app, org.id, "ada@acme.test", role="admin")
    add_identity(
        app,
        org.id,
        mia,
        "00u-mia-oidc",
        created_at=datetime(2024, 3, 1, 9, 0, tzinfo=UTC),
        last_used_at=datetime(2024, 5, 2, 10, 30, tzinfo=UTC),
    )
    add_identity(
        app,
        org.id,
        mia,
        "mia@acme.test",
        protocol="saml",
        issuer=SAML_ISSUER,
        created_at=datetime(2023, 12, 24, tzinfo=UTC),
    )
    page = client_for(app, "ada@acme.test").get(f"/members/{mia}")
    assert page.status_code == 200
    current, old = identity_rows(page.text)
    assert current[:5] == [
        "OIDC",
        "00u-mia-oidc",
        ISSUER,
        "2024-03-01",
        "2024-05-02 10:30 UTC",
    ]
    assert current[5] == "Unlink"
    assert old[0] == "SAML not in use"
    assert old[1:5] == ["mia@acme.test", SAML_ISSUER, "2023-12-24", "never"]
    assert 'id="okta-status"' in page.text and "linked" in page.text


def test_a_member_sees_only_their_own_identities_and_no_remove_button(
    app: Flask, org: OrgInfo
) -> None:
    """Other members' Okta subjects and password status are no one else's business
    (they would be a target list): only admins and the member see them."""
    mia = make_user(app, org.id, "mia@acme.test")
    make_user(app, org.id, "max@acme.test")
    add_identity(app, org.id, mia, "00u-mia-oidc")
    page = client_for(app, "max@acme.test").get(f"/members/{mia}")
    assert page.status_code == 200
    assert identity_rows(page.text) == []
    assert "00u-mia-oidc" not in page.text and "Password" not in page.text
    own = client_for(app, "mia@acme.test").get(f"/members/{mia}")
    [row] = identity_rows(own.text)
    assert row[:2] == ["OIDC not in use", "00u-mia-oidc"]
    assert row[5] == ""
    assert "/identities/" not in own.text


def test_admin_removes_a_members_identity(app: Flask, org: OrgInfo) -> None:
    mia = make_user(app, org.id, "mia@acme.test")
    ada = make_user(app, org.id, "ada@acme.test", role="admin")
    add_identity(app, org.id, mia, "mia@acme.test", protocol="saml", issuer=SAML_ISSUER)
    gone = add_identity(app, org.id, mia, "00u-mia-oidc")
    admin = client_for(app, "ada@acme.test")
    assert remove_identity(admin, mia, gone) == 302
    assert flashes(admin)[0].startswith("The Okta link of mia@acme.test was removed")
    assert identities(app) == [(org.id, mia, "saml", SAML_ISSUER, "mia@acme.test")]
    [row] = identity_rows(admin.get(f"/members/{mia}").text)
    assert row[1] == "mia@acme.test"
    [event] = events(app, "okta.identity_removed")
    assert (event["actor"], event["actor_user_id"]) == ("ada@acme.test", ada)
    assert event["target"] == "mia@acme.test"
    assert (event["protocol"], event["issuer"], event["subject"]) == (
        "oidc",
        ISSUER,
        "00u-mia-oidc",
    )


def test_admin_cannot_remove_an_owners_identity(app: Flask, org: OrgInfo) -> None:
    make_user(app, org.id, "ada@acme.test", role="admin")
    identity = add_identity(app, org.id, org.owner_id, "00u-owner")
    admin = client_for(app, "ada@acme.test")
    page = admin.get(f"/members/{org.owner_id}")
    [row] = identity_rows(page.text)
    assert row[1] == "00u-owner" and row[5] == ""  # no Unlink button
    before = snapshot(app)
    assert remove_identity(admin, org.owner_id, identity) == 302
    assert flashes(admin) == ["Only an owner can change an owner."]
    assert snapshot(app) == before
    assert identities(app) == [(org.id, org.owner_id, "oidc", ISSUER, "00u-owner")]


def test_owner_removes_another_owners_identity(app: Flask, org: OrgInfo) -> None:
    olga = make_user(app, org.id, "olga@acme.test", role="owner")
    identity = add_identity(app, org.id, olga, "00u-olga")
    owner = client_for(app, org.owner_email)
    assert "Unlink" in identity_rows(owner.get(f"/members/{olga}").text)[0][5]
    assert remove_identity(owner, olga, identity) == 302
    assert identities(app) == []


def test_member_cannot_remove_an_identity(app: Flask, org: OrgInfo) -> None:
    mia = make_user(app, org.id, "mia@acme.test")
    make_user(app, org.id, "max@acme.test")
    identity = add_identity(app, org.id, mia, "00u-mia-oidc")
    themselves, other = (
        client_for(app, "mia@acme.test"),
        client_for(app, "max@acme.test"),
    )
    before = snapshot(app)
    # Not even their own.
    assert remove_identity(themselves, mia, identity) == 403
    assert remove_identity(other, mia, identity) == 403
    assert snapshot(app) == before


def test_another_organizations_identity_is_404(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    mia = make_user(app, org.id, "mia@acme.test")
    globex = make_org(app, "Globex")
    theirs = add_identity(app, globex.id, globex.owner_id, "00u-globex")
    ours = add_identity(app, org.id, org.owner_id, "00u-owner")
    before = snapshot(app)
    # Another organization's identity under one of our members...
    assert remove_identity(owner_client, mia, theirs) == 404
    # ...or under its own member...
    assert remove_identity(owner_client, globex.owner_id, theirs) == 404
    # ...and one of ours under the wrong member of ours.
    assert remove_identity(owner_client, mia, ours) == 404
    assert snapshot(app) == before
    # The right pair works: the 404s were the tenant wall, not a missing page.
    assert remove_identity(owner_client, org.owner_id, ours) == 302
    assert identities(app) == [
        (globex.id, globex.owner_id, "oidc", ISSUER, "00u-globex")
    ]


# -- API keys: who made them, and when that matters -----------------------------------


def test_keys_page_says_who_made_each_key(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    make_user(app, org.id, "ada@acme.test", role="admin")
    admin = client_for(app, "ada@acme.test")
    create_key(admin, "organization")
    assert (
        runner.invoke(
            args=["apikey", "create", "--org", "Acme", "--scope", "scim"]
        ).exit_code
        == 0
    )
    page = client_for(app, org.owner_email).get("/api-keys")
    assert page.status_code == 200
    assert "by ada@acme.test" in page.text
    assert "by command line" in page.text
    assert key_warnings(page.text) == []


@pytest.mark.parametrize(
    ("path", "data"),
    [("role", {"role": "member"}), ("status", {"status": "inactive"})],
)
def test_org_key_of_a_demoted_or_deactivated_creator_is_flagged(
    app: Flask, org: OrgInfo, path: str, data: dict[str, str]
) -> None:
    ada = make_user(app, org.id, "ada@acme.test", role="admin")
    secret = create_key(client_for(app, "ada@acme.test"), "organization")
    owner = client_for(app, org.owner_email)
    assert key_warnings(owner.get("/api-keys").text) == []
    assert key_warnings(owner.get("/settings/provisioning").text) == []

    assert owner.post(f"/members/{ada}/{path}", data=data).status_code == 302
    assert get_user(app, ada)[path] == data[path]
    expected = (
        "Made by ada@acme.test, who is no longer an active owner or admin. "
        "It keeps working; revoke it if it should not."
    )
    assert key_warnings(owner.get("/api-keys").text) == [expected]
    assert key_warnings(owner.get("/settings/provisioning").text) == [expected]
    # What the warning says is true: the key still works.
    switch_scim_on(app, org.id)
    assert scim(app.test_client(), secret, "GET", "/Users").status_code == 200


def test_personal_key_of_a_demoted_holder_stopped_working(
    app: Flask, org: OrgInfo
) -> None:
    ada = make_user(app, org.id, "ada@acme.test", role="admin")
    secret = create_key(client_for(app, "ada@acme.test"), "personal")
    owner = client_for(app, org.owner_email)
    switch_scim_on(app, org.id)
    assert scim(app.test_client(), secret, "GET", "/Users").status_code == 200
    assert key_warnings(owner.get("/api-keys").text) == []

    assert (
        owner.post(f"/members/{ada}/role", data={"role": "member"}).status_code == 302
    )
    expected = (
        "Stopped working: ada@acme.test is a member, and only owners and admins "
        "may use the scim scope."
    )
    keys_page = owner.get("/api-keys").text
    assert "Personal (ada@acme.test)" in keys_page
    assert key_warnings(keys_page) == [expected]
    assert key_warnings(owner.get("/settings/provisioning").text) == [expected]
    # What the warning says is true: the key is refused now.
    assert scim(app.test_client(), secret, "GET", "/Users").status_code == 403


def test_personal_key_of_a_deactivated_holder_stopped_working(
    app: Flask, org: OrgInfo
) -> None:
    ada = make_user(app, org.id, "ada@acme.test", role="admin")
    create_key(client_for(app, "ada@acme.test"), "personal")
    owner = client_for(app, org.owner_email)
    assert (
        owner.post(f"/members/{ada}/status", data={"status": "inactive"}).status_code
        == 302
    )
    assert key_warnings(owner.get("/api-keys").text) == [
        "Stopped working: its holder is deactivated."
    ]


def test_owner_key_of_a_creator_now_admin_is_flagged(app: Flask, org: OrgInfo) -> None:
    olga = make_user(app, org.id, "olga@acme.test", role="owner")
    create_key(client_for(app, "olga@acme.test"), "organization", role="owner")
    owner = client_for(app, org.owner_email)
    assert key_warnings(owner.get("/api-keys").text) == []
    assert (
        owner.post(f"/members/{olga}/role", data={"role": "admin"}).status_code == 302
    )
    [warning] = key_warnings(owner.get("/api-keys").text)
    assert warning.startswith("Acts as owner, but olga@acme.test is now admin.")


# -- flask apikey create --role -------------------------------------------------------


def key_roles(app: Flask) -> list[tuple[str | None, str]]:
    """(role, created_by_label) of every key, oldest first."""
    with app.app_context():
        rows = db.session.execute(
            db.select(ApiKey.role, ApiKey.created_by_label).order_by(ApiKey.id)
        )
        return [tuple(row) for row in rows]


def test_apikey_create_makes_an_admin_key_by_default_and_owner_on_request(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    default = runner.invoke(
        args=["apikey", "create", "--org", "Acme", "--scope", "scim"]
    )
    assert default.exit_code == 0, default.output
    assert "acts as admin." in default.stdout
    owner_level = runner.invoke(
        args=["apikey", "create", "--org", "Acme", "--scope", "scim", "--role", "owner"]
    )
    assert owner_level.exit_code == 0, owner_level.output
    assert "acts as owner." in owner_level.stdout
    assert key_roles(app) == [("admin", "command line"), ("owner", "command line")]
    [first, second] = events(app, "api_key.created")
    assert (first["acts_as"], second["acts_as"]) == ("admin", "owner")


def test_apikey_create_refuses_another_role(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    before = snapshot(app)
    result = runner.invoke(
        args=[
            "apikey",
            "create",
            "--org",
            "Acme",
            "--scope",
            "scim",
            "--role",
            "member",
        ]
    )
    assert_refused(result, "Invalid value for '--role'", exit_code=2)
    assert snapshot(app) == before


def test_owner_key_from_the_cli_can_change_an_owner_and_admin_key_cannot(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    olga = make_user(app, org.id, "olga@acme.test", role="owner")
    switch_scim_on(app, org.id)

    def secret_of(*extra: str) -> str:
        result = runner.invoke(
            args=["apikey", "create", "--org", "Acme", "--scope", "scim", *extra]
        )
        assert result.exit_code == 0, result.output
        return result.stdout.rstrip("\n").splitlines()[-1]

    admin_key, owner_key = secret_of(), secret_of("--role", "owner")
    deactivate = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "value": {"active": False}}],
    }
    client = app.test_client()
    refused = scim(client, admin_key, "PATCH", f"/Users/{olga}", deactivate)
    assert refused.status_code == 403, refused.text
    assert "owner-level key" in refused.get_json()["detail"]
    assert get_user(app, olga)["status"] == "active"
    allowed = scim(client, owner_key, "PATCH", f"/Users/{olga}", deactivate)
    assert allowed.status_code == 200, allowed.text
    assert get_user(app, olga)["status"] == "inactive"
