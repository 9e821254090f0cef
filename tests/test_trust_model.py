"""The trust model (issue "trust model"): its six reported cases, end to end.

Each case goes through the real HTTP paths: the Flask test client for the pages
and the SCIM API, `oidc-provider-mock` as Okta's OpenID provider, pysaml2
(`tests.support.saml_idp.SamlIdp`) as Okta's SAML IdP, and a real SMTP server for the
emailed links. The cases, as reported:

1. a member's API key with the scim scope (and an admin's organization key)
   could deactivate, change and delete anyone, owners included;
2. through SCIM an owner's email could be moved to an attacker's Okta address,
   and an Okta sign-in with a matching email then landed in the account;
3. SCIM could deactivate or delete the organization's only owner, and nothing
   could make a new owner;
4. emailed links and the values for Okta were built from the request's Host;
5. concurrent first sign-ins of one new person (OIDC; the SAML variant is in
   test_okta_saml.py);
6. after a switch from OIDC to SAML, members looked linked when they were not,
   nobody was emailed, and pages claimed emails that were never sent.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from core import first_run
from core.extensions import db
from core.models import LinkToken
from core.models import OktaIdentity
from core.models import Organization
from core.models import User
from core.provisioning import organizations
from core.sso_rollout import turn_on
from tests.support.builders import OrgInfo
from tests.support.builders import make_app
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import scim_key
from tests.support.builders import setup_form as complete_setup_form
from tests.support.constants import PASSWORD
from tests.support.live import free_port
from tests.support.live import serve
from tests.support.mail import Mailbox
from tests.support.mail import smtp_settings
from tests.support.oidc import PUBLIC_BASE_URL as BASE
from tests.support.oidc import connect_okta
from tests.support.oidc import discovery
from tests.support.oidc import oidc_test_sign_in
from tests.support.oidc import okta_form
from tests.support.oidc import okta_sign_in
from tests.support.oidc import okta_user
from tests.support.oidc import turn_on_for_everyone
from tests.support.rows import assert_nobody_signed_in
from tests.support.rows import events
from tests.support.rows import identities
from tests.support.rows import signed_in_user_id
from tests.support.rows import snapshot
from tests.support.rows import user_row
from tests.support.saml import ACS_PATH
from tests.support.saml import connect
from tests.support.saml import connected
from tests.support.saml import post_from_okta
from tests.support.saml import saml_test_sign_in
from tests.support.saml_idp import SamlIdp
from tests.support.scim import GROUP_SCHEMA
from tests.support.scim import SCIM
from tests.support.scim import USER_SCHEMA
from tests.support.scim import ScimClient
from tests.support.scim import patch_body as patch

# The mock provider signs its ID tokens through an Authlib hook Authlib has
# deprecated; the warning is raised in the provider's thread, not by our code.
pytestmark = [
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
    pytest.mark.usefixtures("quick_passwords"),
]

ATTACKER_HOST = "attacker.example"
ATTACKER_ROOT = f"http://{ATTACKER_HOST}"
# The attacker's own Okta account (in the organization's Okta, or any Okta the
# attacker can make assert an address).
MALLORY = "mallory@okta-mallory.test"
SECRET = re.compile(r'id="secret-value">(gh_[A-Za-z0-9_-]+)<')
LINKED_BADGE = '<span class="badge ok">linked</span>'
N_AT_ONCE = 8
ROUNDS = 12
# Threads switch this often (seconds) while the sign-ins race, so that one sign-in
# can finish between two steps of another, as it does under load.
SWITCH_INTERVAL = 1e-5


# -- apps and servers -------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path, mailbox: tuple[Mailbox, int]) -> Iterator[Flask]:
    """An app at BASE whose mail goes to the real `mailbox`."""
    app = make_app(
        tmp_path,
        PUBLIC_BASE_URL=BASE,
        **smtp_settings(mailbox[1]),
    )
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def inbox(mailbox: tuple[Mailbox, int]) -> Mailbox:
    """The messages the real SMTP server received."""
    return mailbox[0]


@pytest.fixture
def bare_app(tmp_path: Path, mailbox: tuple[Mailbox, int]) -> Iterator[Flask]:
    """An app with no public address configured (none in config, none stored)."""
    app = make_app(
        tmp_path,
        PUBLIC_BASE_URL="",
        **smtp_settings(mailbox[1]),
    )
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def idp(tmp_path: Path) -> Iterator[SamlIdp]:
    """A SAML IdP on 127.0.0.1 that knows Gatehouse (at BASE) as its SP."""
    with SamlIdp(BASE, BASE + ACS_PATH, tmp_dir=tmp_path / "idp") as server:
        yield server


# -- helpers ----------------------------------------------------------------------


def browser_of(app: Flask, email: str, *, host: str = "localhost") -> FlaskClient:
    """A client signed in with `email`'s password, through `host`.

    Cookies are kept per host: a client signed in through `host` must send its
    later requests there too (`base_url=`).
    """
    client = app.test_client()
    response = client.post(
        "/login",
        data={"email": email, "password": PASSWORD},
        base_url=f"http://{host}",
    )
    assert response.status_code == 302, response.text
    return client


def user_id(app: Flask, org_id: int, email: str) -> int:
    """The id of the organization's user with this email."""
    row = user_row(app, org_id, email)
    assert row is not None, email
    return int(row["id"])


def field(app: Flask, org_id: int, email: str, name: str) -> Any:
    """One column of the organization's user with this email."""
    row = user_row(app, org_id, email)
    assert row is not None, email
    return row[name]


def create_key_on_page(
    client: FlaskClient, *, kind: str, role: str | None = None
) -> str:
    """Create a scim key on the API keys page; return its secret (shown once)."""
    data = {"name": f"{kind} key", "kind": kind, "scopes": "scim"}
    if role is not None:
        data["role"] = role
        data["name"] += f" as {role}"  # a live key's name is unique per owner
    response = client.post("/api-keys", data=data, follow_redirects=True)
    assert response.status_code == 200, response.text
    match = SECRET.search(response.text)
    assert match, response.text
    return match.group(1)


def sync_on(app: Flask, org_id: int) -> None:
    """Switch SCIM provisioning on for the organization."""
    with app.app_context():
        org = db.session.get(Organization, org_id)
        assert org is not None
        organizations.set_scim_sync(org, True, actor="cli")


def scim(
    app: Flask,
    secret: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    host: str = "localhost",
) -> TestResponse:
    """One SCIM request with the key `secret`, as Okta sends it."""
    okta = ScimClient(app.test_client(), secret, idp="okta")
    return okta.call(method, path, body, base_url=f"http://{host}")


def user_body(
    user_name: str,
    email: str | None = None,
    *,
    active: bool = True,
    external_id: str | None = None,
) -> dict[str, Any]:
    """A SCIM User as Okta's create or PUT sends it."""
    body: dict[str, Any] = {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": email or user_name, "type": "work"}],
        "active": active,
    }
    if external_id is not None:
        body["externalId"] = external_id
    return body


DEACTIVATE = patch({"op": "replace", "value": {"active": False}})


def new_email(address: str) -> dict[str, Any]:
    """Okta's PATCH that changes the work email."""
    return patch(
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": address}
    )


def detail(response: TestResponse) -> str:
    """The `detail` of a SCIM error."""
    body = response.get_json()
    assert isinstance(body, dict), response.text
    return str(body.get("detail", ""))


def assert_not_let_in(app: Flask, browser: FlaskClient, response: TestResponse) -> None:
    """The Okta sign-in stopped at "Confirm your account first": nobody signed in."""
    assert response.status_code == 403, response.text
    assert "Confirm your account first" in response.text
    assert_nobody_signed_in(app, browser)


def link_url(message: EmailMessage) -> str:
    """The /okta/link/<token> URL in a link email's text."""
    text = str(message.get_body(preferencelist=("plain",)).get_content())
    match = re.search(r"\S+/okta/link/[A-Za-z0-9_-]+", text)
    assert match, text
    return match.group(0)


def flashed(client: FlaskClient, response: TestResponse, **kwargs: Any) -> str:
    """The page a redirect leads to (with the flashed message)."""
    assert response.status_code == 302, response.text
    return client.get(response.headers["Location"], **kwargs).text


def add_identity(app: Flask, org_id: int, uid: int, issuer: str, subject: str) -> int:
    """An OIDC identity of `uid` at `issuer` (as a finished link leaves it)."""
    with app.app_context():
        identity = OktaIdentity(
            organization_id=org_id,
            user_id=uid,
            protocol="oidc",
            issuer=issuer,
            subject=subject,
        )
        db.session.add(identity)
        db.session.commit()
        return identity.id


# -- 1. keys never have more power than their holder -------------------------------


def test_a_member_is_offered_no_scim_key_and_cannot_create_one(
    app: Flask, org: OrgInfo
) -> None:
    make_user(app, org.id, "mo@acme.test")
    member = browser_of(app, "mo@acme.test")

    page = member.get("/api-keys")
    assert page.status_code == 200
    assert 'id="no-key-for-you"' in page.text
    assert 'name="scopes"' not in page.text
    before = snapshot(app)
    for kind in ("personal", "organization"):
        response = member.post(
            "/api-keys", data={"name": "mine", "kind": kind, "scopes": "scim"}
        )
        assert response.status_code == 403, (kind, response.text)
    assert snapshot(app) == before


def test_a_members_existing_scim_key_is_refused_at_every_request(
    app: Flask, org: OrgInfo
) -> None:
    """A key made while its holder was an admin stops once they are a member."""
    adam = make_user(app, org.id, "adam@acme.test", role="admin")
    mel = make_user(app, org.id, "mel@acme.test")
    secret = create_key_on_page(browser_of(app, "adam@acme.test"), kind="personal")
    sync_on(app, org.id)
    assert scim(app, secret, "GET", "/Users").status_code == 200  # works as admin
    owner = browser_of(app, org.owner_email)
    assert (
        owner.post(f"/members/{adam}/role", data={"role": "member"}).status_code == 302
    )
    assert field(app, org.id, "adam@acme.test", "role") == "member"
    before = snapshot(app, scim_writes=True)

    owner_path = f"/Users/{org.owner_id}"
    attempts = [
        ("GET", "/Users", None),
        ("GET", owner_path, None),
        ("POST", "/Users", user_body("new.person@acme.test")),
        ("PATCH", owner_path, DEACTIVATE),
        ("PATCH", owner_path, new_email(MALLORY)),
        ("PUT", owner_path, user_body(org.owner_email, MALLORY)),
        ("DELETE", owner_path, None),
        ("PATCH", f"/Users/{mel}", DEACTIVATE),
        ("DELETE", f"/Users/{mel}", None),
        ("GET", "/Groups", None),
        ("POST", "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Mine"}),
    ]
    for method, path, body in attempts:
        response = scim(app, secret, method, path, body)
        assert response.status_code == 403, (method, path, response.text)
        assert "adam@acme.test, who is not an owner or admin" in detail(response)

    assert snapshot(app, scim_writes=True) == before
    activity = owner.get("/settings/provisioning").text
    assert "who is not an owner or admin" in activity


def test_an_admin_level_organization_key_cannot_change_an_owner(
    app: Flask, org: OrgInfo
) -> None:
    make_user(app, org.id, "ada@acme.test", role="admin")
    mel = make_user(app, org.id, "mel@acme.test")
    olive = make_user(app, org.id, "olive@acme.test", role="owner")
    admin_key = create_key_on_page(
        browser_of(app, "ada@acme.test"), kind="organization"
    )
    sync_on(app, org.id)
    owner_before = user_row(app, org.id, org.owner_email)
    before = snapshot(app, scim_writes=True)

    owner_path = f"/Users/{org.owner_id}"
    for method, body in (
        ("PATCH", DEACTIVATE),
        ("PATCH", new_email(MALLORY)),
        ("PUT", user_body(org.owner_email, MALLORY)),
        ("PUT", user_body(org.owner_email, active=False)),
        ("DELETE", None),
    ):
        response = scim(app, admin_key, method, owner_path, body)
        assert response.status_code == 403, (method, body, response.text)
        assert "only an owner-level key can change an owner" in detail(response)

    assert snapshot(app, scim_writes=True) == before
    assert user_row(app, org.id, org.owner_email) == owner_before
    owner = browser_of(app, org.owner_email)
    activity = owner.get("/settings/provisioning?errors=1").text
    assert activity.count("only an owner-level key can change an owner") == 5

    # The same key still manages members; an owner-level key manages owners.
    assert scim(app, admin_key, "PATCH", f"/Users/{mel}", DEACTIVATE).status_code == 200
    assert field(app, org.id, "mel@acme.test", "status") == "inactive"
    owner_key = create_key_on_page(owner, kind="organization", role="owner")
    response = scim(app, owner_key, "PATCH", f"/Users/{olive}", DEACTIVATE)
    assert response.status_code == 200, response.text
    assert field(app, org.id, "olive@acme.test", "status") == "inactive"


# -- 2. the takeover --------------------------------------------------------------


def test_scim_cannot_move_an_owners_or_admins_email_to_the_attackers_address(
    app: Flask, org: OrgInfo
) -> None:
    ada = make_user(app, org.id, "ada@acme.test", role="admin")
    make_user(app, org.id, "adam@acme.test", role="admin")
    admin_key = create_key_on_page(
        browser_of(app, "ada@acme.test"), kind="organization"
    )
    member_key = create_key_on_page(browser_of(app, "adam@acme.test"), kind="personal")
    sync_on(app, org.id)
    adam = user_id(app, org.id, "adam@acme.test")
    owner = browser_of(app, org.owner_email)
    assert (
        owner.post(f"/members/{adam}/role", data={"role": "member"}).status_code == 302
    )
    before = snapshot(app, scim_writes=True)

    for secret in (admin_key, member_key):
        for method, path, body in (
            ("PATCH", f"/Users/{org.owner_id}", new_email(MALLORY)),
            ("PUT", f"/Users/{org.owner_id}", user_body(MALLORY)),
            ("PUT", f"/Users/{org.owner_id}", user_body(org.owner_email, MALLORY)),
            ("PATCH", f"/Users/{ada}", new_email(MALLORY)),
        ):
            response = scim(app, secret, method, path, body)
            assert response.status_code == 403, (method, path, response.text)

    assert snapshot(app, scim_writes=True) == before
    assert user_row(app, org.id, MALLORY) is None
    assert field(app, org.id, org.owner_email, "email") == org.owner_email


def test_an_okta_sign_in_with_a_scim_set_email_does_not_land_in_a_password_account(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    """What SCIM may still do (an admin key: a member's email; an owner key: an
    owner's) does not let the attacker's Okta identity into those accounts."""
    connect_okta(app, org, provider)
    make_user(app, org.id, "ada@acme.test", role="admin")
    bob = make_user(app, org.id, "bob@acme.test")
    admin_key = create_key_on_page(
        browser_of(app, "ada@acme.test"), kind="organization"
    )
    owner_key = create_key_on_page(
        browser_of(app, org.owner_email), kind="organization", role="owner"
    )
    sync_on(app, org.id)
    owner_alias = "mallory.owner@okta-mallory.test"
    response = scim(app, admin_key, "PATCH", f"/Users/{bob}", new_email(MALLORY))
    assert response.status_code == 200, response.text
    response = scim(
        app, owner_key, "PATCH", f"/Users/{org.owner_id}", new_email(owner_alias)
    )
    assert response.status_code == 200, response.text
    assert field(app, org.id, MALLORY, "id") == bob
    assert field(app, org.id, owner_alias, "id") == org.owner_id

    for sub, address in (("00u-mallory", MALLORY), ("00u-mallory-2", owner_alias)):
        okta_user(provider, sub, address)
        browser = app.test_client()
        assert_not_let_in(app, browser, okta_sign_in(browser, provider, sub))
        refused = events(app, "sign_in.refused")[-1]
        assert (refused["reason"], refused["target"]) == ("needs_confirmation", address)
    assert identities(app) == []


def test_a_saml_dashboard_sign_in_with_a_scim_set_email_does_not_land_in_an_account(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    connected(app, org, idp)
    make_user(app, org.id, "ada@acme.test", role="admin")
    bob = make_user(app, org.id, "bob@acme.test")
    admin_key = create_key_on_page(
        browser_of(app, "ada@acme.test"), kind="organization"
    )
    owner_key = create_key_on_page(
        browser_of(app, org.owner_email), kind="organization", role="owner"
    )
    sync_on(app, org.id)
    owner_alias = "mallory.owner@okta-mallory.test"
    assert (
        scim(app, admin_key, "PATCH", f"/Users/{bob}", new_email(MALLORY)).status_code
        == 200
    )
    assert (
        scim(
            app, owner_key, "PATCH", f"/Users/{org.owner_id}", new_email(owner_alias)
        ).status_code
        == 200
    )

    for address in (MALLORY, owner_alias):
        idp.user = {
            "name_id": address,
            "email": address,
            "firstName": "Mal",
            "lastName": "Lory",
        }
        browser = app.test_client()
        response = post_from_okta(browser, idp.unsolicited())
        assert_not_let_in(app, browser, response)
    assert identities(app) == []


def test_an_account_adopted_by_scim_is_not_linked_but_one_scim_created_is(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider)
    carol = make_user(app, org.id, "carol@acme.test")  # local, with a password
    key = scim_key(app, org.id)
    response = scim(app, key, "POST", "/Users", user_body("carol@acme.test"))
    assert response.status_code in (200, 201), response.text
    assert response.get_json()["id"] == str(carol)
    assert field(app, org.id, "carol@acme.test", "scim_managed") is True

    okta_user(provider, "00u-carol", "carol@acme.test")
    browser = app.test_client()
    assert_not_let_in(app, browser, okta_sign_in(browser, provider, "00u-carol"))
    assert identities(app) == []

    # Positive control: an account SCIM made, without a password, is Okta's.
    response = scim(app, key, "POST", "/Users", user_body("dave@acme.test"))
    assert response.status_code == 201, response.text
    dave = int(response.get_json()["id"])
    okta_user(provider, "00u-dave", "dave@acme.test")
    browser = app.test_client()
    response = okta_sign_in(browser, provider, "00u-dave")
    assert response.status_code == 302, response.text
    assert signed_in_user_id(app, browser) == dave
    assert identities(app) == [(org.id, dave, "oidc", provider, "00u-dave")]


def test_an_oidc_sub_other_than_the_okta_user_id_from_scim_is_not_linked(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider)
    key = scim_key(app, org.id)
    okta_id = "00uERINabcdefghij123"  # an Okta user id: 00u + 17 letters and digits
    other = "00uMALLORYabcdefghi9"  # another Okta user's id
    assert all(re.fullmatch(r"00u[0-9A-Za-z]{17}", sub) for sub in (okta_id, other))
    response = scim(
        app, key, "POST", "/Users", user_body("erin@acme.test", external_id=okta_id)
    )
    assert response.status_code == 201, response.text
    erin = int(response.get_json()["id"])

    okta_user(provider, other, "erin@acme.test")
    browser = app.test_client()
    assert_not_let_in(app, browser, okta_sign_in(browser, provider, other))
    assert identities(app) == []

    okta_user(provider, okta_id, "erin@acme.test")
    browser = app.test_client()
    assert okta_sign_in(browser, provider, okta_id).status_code == 302
    assert signed_in_user_id(app, browser) == erin
    assert identities(app) == [(org.id, erin, "oidc", provider, okta_id)]


def test_an_admin_removes_an_okta_identity_and_it_no_longer_signs_in(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider)
    ada = make_user(app, org.id, "ada@acme.test", role="admin")
    bob = make_user(app, org.id, "bob@acme.test")
    bobs = add_identity(app, org.id, bob, provider, "00u-bob")
    owners = add_identity(app, org.id, org.owner_id, provider, "00u-owner")
    okta_user(provider, "00u-bob", "bob@acme.test")
    browser = app.test_client()
    assert okta_sign_in(browser, provider, "00u-bob").status_code == 302
    assert signed_in_user_id(app, browser) == bob  # the link works before

    admin = browser_of(app, "ada@acme.test")
    page = admin.get(f"/members/{bob}").text
    assert 'id="identities"' in page and "00u-bob" in page
    assert f"/members/{bob}/identities/{bobs}/remove" in page
    owner_page = admin.get(f"/members/{org.owner_id}").text
    assert 'id="identities"' in owner_page and "00u-owner" in owner_page
    assert f"/identities/{owners}/remove" not in owner_page

    # An admin cannot remove an owner's identity.
    response = admin.post(f"/members/{org.owner_id}/identities/{owners}/remove")
    assert "Only an owner can change an owner" in flashed(admin, response)
    assert len(identities(app)) == 2

    response = admin.post(f"/members/{bob}/identities/{bobs}/remove")
    assert "was removed" in flashed(admin, response)
    assert identities(app) == [(org.id, org.owner_id, "oidc", provider, "00u-owner")]
    [removed] = events(app, "okta.identity_removed")
    assert (removed["target"], removed["actor_user_id"]) == ("bob@acme.test", ada)
    assert (removed["protocol"], removed["subject"]) == ("oidc", "00u-bob")

    later = app.test_client()
    assert_not_let_in(app, later, okta_sign_in(later, provider, "00u-bob"))

    owner = browser_of(app, org.owner_email)
    response = owner.post(f"/members/{org.owner_id}/identities/{owners}/remove")
    assert response.status_code == 302
    assert identities(app) == []


# -- 3. an organization always has an active owner --------------------------------


def test_scim_cannot_deactivate_or_delete_the_only_owner(
    app: Flask, org: OrgInfo
) -> None:
    owner = browser_of(app, org.owner_email)
    key = create_key_on_page(owner, kind="organization", role="owner")
    sync_on(app, org.id)
    before = snapshot(app, scim_writes=True)

    path = f"/Users/{org.owner_id}"
    for method, body in (
        ("PATCH", DEACTIVATE),
        ("PUT", user_body(org.owner_email, active=False)),
        ("DELETE", None),
    ):
        response = scim(app, key, method, path, body)
        assert response.status_code == 409, (method, response.text)
        assert "only active owner" in detail(response)
        assert "scimType" not in response.get_json()

    assert snapshot(app, scim_writes=True) == before
    assert field(app, org.id, org.owner_email, "status") == "active"
    # With a second active owner, one of them may go.
    olive = make_user(app, org.id, "olive@acme.test", role="owner")
    assert scim(app, key, "PATCH", f"/Users/{olive}", DEACTIVATE).status_code == 200


def test_the_command_line_makes_an_owner_when_no_active_owner_is_left(
    app: Flask, org: OrgInfo
) -> None:
    ada = make_user(app, org.id, "ada@acme.test", role="admin")
    with app.app_context():  # left like this by the bug, before the upgrade
        db.session.get(User, org.owner_id).status = "inactive"
        db.session.commit()
    runner = app.test_cli_runner()

    result = runner.invoke(
        args=["member", "set-role", "--org", "Acme", "ada@acme.test", "owner"]
    )

    assert result.exit_code == 0, result.output
    assert "admin -> owner" in result.output
    assert field(app, org.id, "ada@acme.test", "role") == "owner"
    changed = events(app, "member.role_changed")[-1]
    assert changed["target"] == "ada@acme.test"
    assert browser_of(app, "ada@acme.test").get("/settings").status_code == 200
    # The new only active owner cannot be demoted, even from the command line.
    result = runner.invoke(
        args=["member", "set-role", "--org", "Acme", "ada@acme.test", "member"]
    )
    assert result.exit_code != 0
    assert "only active owner" in result.output
    assert field(app, org.id, "ada@acme.test", "id") == ada
    assert field(app, org.id, "ada@acme.test", "role") == "owner"


# -- 4. the public address comes from configuration, never the Host header ------


def test_without_a_public_address_a_forged_host_gets_no_link_email(
    bare_app: Flask, inbox: Mailbox, provider: str
) -> None:
    app = bare_app
    org = make_org(app)
    # Saved on the page; on for members the operator's way (a test sign-in, and
    # so the page's Turn on, needs the public address this install lacks).
    owner = browser_of(app, org.owner_email)
    response = owner.post("/settings/okta", data=okta_form(discovery(provider)))
    assert response.status_code == 302, response.text
    with app.app_context():
        acme = db.session.get(Organization, org.id)
        assert acme is not None
        turn_on(acme, "oidc", actor="cli", send_links=False, require_test=False)
    bob = make_user(app, org.id, "bob@acme.test")
    make_user(app, org.id, "ada@acme.test", role="admin")
    admin = browser_of(app, "ada@acme.test", host=ATTACKER_HOST)

    response = admin.post(f"/members/{bob}/okta-link", base_url=ATTACKER_ROOT)

    assert inbox.to("bob@acme.test") == []
    assert ATTACKER_HOST not in "".join(str(m) for m in inbox.messages)
    page = flashed(admin, response, base_url=ATTACKER_ROOT)
    assert "Nothing was sent" in page
    assert "flask site set-url" in page
    with app.app_context():
        assert (
            db.session.execute(db.select(LinkToken).filter_by(user_id=bob)).all() == []
        )


def test_a_stored_public_address_is_used_whatever_the_host_header(
    bare_app: Flask, inbox: Mailbox, provider: str
) -> None:
    app = bare_app
    result = app.test_cli_runner().invoke(args=["site", "set-url", BASE])
    assert result.exit_code == 0, result.output
    org = make_org(app)
    connect_okta(app, org, provider)
    bob = make_user(app, org.id, "bob@acme.test")
    owner = browser_of(app, org.owner_email, host=ATTACKER_HOST)

    # The emailed link.
    response = owner.post(f"/members/{bob}/okta-link", base_url=ATTACKER_ROOT)
    assert "Emailed bob@acme.test" in flashed(owner, response, base_url=ATTACKER_ROOT)
    [message] = inbox.to("bob@acme.test")
    assert link_url(message).startswith(f"{BASE}/okta/link/")
    assert ATTACKER_HOST not in str(message)

    # The values pasted into Okta (the page shows one protocol's at a time).
    page = owner.get("/settings/okta?protocol=oidc", base_url=ATTACKER_ROOT).text
    page += owner.get("/settings/okta?protocol=saml", base_url=ATTACKER_ROOT).text
    for value in (
        f"{BASE}/okta/callback",
        f"{BASE}/api/v1/auth/login/okta/callback",
        f"{BASE}{SCIM}",
        f"{BASE}/saml/metadata",
    ):
        assert value in page, value
    assert ATTACKER_HOST not in page

    # The SAML SP metadata.
    metadata = app.test_client().get("/saml/metadata", base_url=ATTACKER_ROOT).text
    assert f'entityID="{BASE}"' in metadata
    assert f'Location="{BASE}{ACS_PATH}"' in metadata
    assert ATTACKER_HOST not in metadata

    # The redirect URI sent to the OpenID provider.
    response = app.test_client().get(
        "/sso/okta", query_string={"org": "Acme"}, base_url=ATTACKER_ROOT
    )
    assert response.status_code == 302, response.text
    authorize = urlsplit(response.headers["Location"])
    assert f"{authorize.scheme}://{authorize.netloc}" == provider
    assert parse_qs(authorize.query)["redirect_uri"] == [f"{BASE}/okta/callback"]

    # SCIM resource locations.
    key = scim_key(app, org.id)
    response = scim(app, key, "GET", f"/Users/{bob}", host=ATTACKER_HOST)
    assert response.status_code == 200, response.text
    assert response.get_json()["meta"]["location"] == f"{BASE}{SCIM}/Users/{bob}"
    response = scim(
        app, key, "POST", "/Users", user_body("new@acme.test"), host=ATTACKER_HOST
    )
    assert response.status_code == 201, response.text
    assert response.headers["Location"].startswith(f"{BASE}{SCIM}/Users/")


def test_first_run_setup_asks_for_the_public_address_and_refuses_a_bad_one(
    bare_app: Flask,
) -> None:
    app = bare_app
    client = app.test_client()
    page = client.get("/setup").text
    assert 'name="public_url"' in page
    assert 'value="http://localhost"' in page  # a suggestion, from the request
    code = first_run.setup_code(app)
    before = snapshot(app)

    for bad, problem in (
        ("http://evil.example", "Use https"),
        ("https://x/path", "without a path"),
        ("javascript:alert(1)", "Enter an address like"),
        ("https://user:pw@gatehouse.example.com", "user name or password"),
        ("", "Enter the address"),
    ):
        response = client.post("/setup", data=setup_form(code, bad))
        assert response.status_code == 400, (bad, response.status_code)
        assert problem in response.text, bad
        assert snapshot(app) == before, bad

    response = client.post(
        "/setup", data=setup_form(code, "https://Gatehouse.Example.COM/")
    )
    assert response.status_code == 302, response.text
    result = app.test_cli_runner().invoke(args=["site", "show"])
    assert f"Public address: {BASE} (stored" in result.output
    # Every value for Okta now comes from it, whatever the Host header says.
    owner = browser_of(app, "peter@initech.test", host=ATTACKER_HOST)
    page = owner.get("/settings/okta", base_url=ATTACKER_ROOT).text
    assert f"{BASE}/okta/callback" in page
    assert ATTACKER_HOST not in page


# -- 5. concurrent first sign-ins (OIDC; the SAML variant is in test_okta_saml) ---


def first_sign_ins_at_once(base: str, sub: str) -> list[tuple[int, str]]:
    """N_AT_ONCE browsers sign in as `sub` at the provider, then all come back
    to the callback at the same moment; returns (status, Location) of each."""
    flows: list[tuple[requests.Session, str]] = []
    for _ in range(N_AT_ONCE):
        session = requests.Session()
        started = session.get(
            f"{base}/sso/okta", params={"org": "Acme"}, allow_redirects=False
        )
        assert started.status_code == 302, started.text
        answered = requests.post(
            started.headers["Location"],
            data={"sub": sub},
            allow_redirects=False,
            timeout=10,
        )
        assert answered.status_code == 302, answered.text
        callback = answered.headers["Location"]
        assert callback.startswith(f"{base}/okta/callback?"), callback
        flows.append((session, callback))
    barrier = threading.Barrier(N_AT_ONCE)

    def finish(flow: tuple[requests.Session, str]) -> tuple[int, str]:
        session, callback = flow
        barrier.wait(timeout=10)
        response = session.get(callback, allow_redirects=False, timeout=30)
        return response.status_code, response.headers.get("Location", "")

    with ThreadPoolExecutor(N_AT_ONCE) as pool:
        return list(pool.map(finish, flows))


def test_a_new_persons_first_oidc_sign_ins_at_once_make_one_account(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    """Several tabs finish their first Okta sign-in at the same moment.

    The race (one tab creates the account between another's two lookups) is
    narrow, so several new people each try it.
    """
    people = [(f"00u-new-{n}", f"new.{n}@acme.test") for n in range(ROUNDS)]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        with serve(app, set_public_base_url=True) as base:
            connect_okta(app, org, provider)
            answers: dict[str, list[tuple[int, str]]] = {}
            for sub, address in people:
                okta_user(provider, sub, address)
                answers[sub] = first_sign_ins_at_once(base, sub)
    finally:
        sys.setswitchinterval(switch)

    assert answers == {sub: [(302, "/members")] * N_AT_ONCE for sub, _ in people}
    users = [user_row(app, org.id, address) for _, address in people]
    assert sorted(identities(app)) == sorted(
        (org.id, user["id"], "oidc", provider, sub)
        for user, (sub, _) in zip(users, people, strict=True)
        if user is not None
    )
    assert len(identities(app)) == ROUNDS
    outcomes = sorted(
        event["outcome"]
        for event in events(app, "sign_in.succeeded")
        if event.get("method") == "okta-oidc"
    )
    assert outcomes == sorted((["created"] + ["signed_in"] * (N_AT_ONCE - 1)) * ROUNDS)


# -- 6. a switch of protocol, and honest claims about emails ----------------------


def test_switching_from_oidc_to_saml_relinks_members_and_says_so(
    app: Flask, org: OrgInfo, provider: str, idp: SamlIdp, inbox: Mailbox
) -> None:
    connect_okta(app, org, provider)
    olga, pete = "olga@acme.test", "pete@acme.test"
    for sub, address in (("00u-olga", olga), ("00u-pete", pete)):
        okta_user(provider, sub, address)
        assert okta_sign_in(app.test_client(), provider, sub).status_code == 302
    olga_id = user_id(app, org.id, olga)
    owner = browser_of(app, org.owner_email)
    assert owner.get("/members").text.count(LINKED_BADGE) == 2
    assert inbox.to(olga) == inbox.to(pete) == []

    # SAML saved and tested: members still sign in with OIDC, nobody emailed.
    assert connect(app, org, idp, client=owner).status_code == 302
    assert saml_test_sign_in(owner, idp).status_code == 302
    assert inbox.to(olga) == inbox.to(pete) == []
    assert owner.get("/members").text.count(LINKED_BADGE) == 2
    page = owner.get("/settings/okta?protocol=saml").text
    warning = re.search(r'<p[^>]*id="relink-saml"[^>]*>(.*?)</p>', page, re.S)
    assert warning, page
    assert "2 members linked over OIDC" in " ".join(warning.group(1).split())
    assert 'id="relink-oidc"' not in owner.get("/settings/okta?protocol=oidc").text
    # The switch shows its impact first, then happens once confirmed.
    preview = owner.post("/settings/okta/on", data={"protocol": "saml"})
    assert preview.status_code == 200
    switch = re.search(r'id="switch-warning">(.*?)</p>', preview.text, re.S)
    assert switch and "2 members linked over" in " ".join(switch.group(1).split())
    assert owner.get("/members").text.count(LINKED_BADGE) == 2
    assert turn_on_for_everyone(owner, "saml").status_code == 302

    assert owner.get("/members").text.count(LINKED_BADGE) == 0
    show = owner.get(f"/members/{olga_id}").text
    assert 'id="identities"' in show
    row = re.search(r"<tr[^>]*>\s*<td>OIDC.*?</tr>", show, re.S)
    assert row and "not in use" in row.group(0), show
    assert 'id="okta-status"' in show and "Not linked" in show
    for address in (olga, pete):
        [message] = inbox.to(address)
        assert link_url(message).startswith(f"{BASE}/okta/link/")
    # The warning is about the other protocol only.
    assert 'id="relink-saml"' not in owner.get("/settings/okta?protocol=saml").text


def test_link_emails_are_claimed_only_when_the_mail_server_took_them(
    tmp_path: Path, provider: str, mailbox: tuple[Mailbox, int]
) -> None:
    inbox, working_port = mailbox
    app = make_app(
        tmp_path,
        PUBLIC_BASE_URL=BASE,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=free_port(),  # nobody listens: the mail server is unreachable
        SMTP_STARTTLS=False,
    )
    try:
        org = make_org(app)
        bob = make_user(app, org.id, "bob@acme.test")
        owner = browser_of(app, org.owner_email)

        # Turning Okta on tries to email everyone unlinked, and says it failed.
        response = owner.post(
            "/settings/okta",
            data={
                "default_role": "member",
                "protocol": "oidc",
                "client_id": "0oa-gatehouse-client",
                "client_secret": "s3cr3t",
                "metadata_url": f"{provider}/.well-known/openid-configuration",
            },
        )
        assert "were emailed" not in flashed(owner, response)
        assert oidc_test_sign_in(owner).status_code == 302
        page = flashed(owner, turn_on_for_everyone(owner))
        assert "could not be sent" in page
        assert "were emailed" not in page

        # "Email the link" on the member page says it failed.
        response = owner.post(f"/members/{bob}/okta-link")
        page = flashed(owner, response)
        assert "could not be sent" in page
        assert "Emailed bob@acme.test" not in page

        # The confirm page does not claim a link was emailed.
        okta_user(provider, "00u-bob", "bob@acme.test")
        browser = app.test_client()
        response = okta_sign_in(browser, provider, "00u-bob")
        assert response.status_code == 403
        status = re.search(r'id="link-status">(.*?)</p>', response.text, re.S)
        assert status, response.text
        assert "No link has been emailed to bob@acme.test" in status.group(1)
        assert inbox.messages == []

        # Once the mail server takes it, the page says so.
        app.config["SMTP_PORT"] = working_port
        response = owner.post(f"/members/{bob}/okta-link")
        assert "Emailed bob@acme.test" in flashed(owner, response)
        assert len(inbox.to("bob@acme.test")) == 1
        browser = app.test_client()
        response = okta_sign_in(browser, provider, "00u-bob")
        status = re.search(r'id="link-status">(.*?)</p>', response.text, re.S)
        assert status, response.text
        assert "A link was emailed to bob@acme.test on" in " ".join(
            status.group(1).split()
        )
    finally:
        with app.app_context():
            db.engine.dispose()


def setup_form(code: str, public_url: str) -> dict[str, str]:
    """The first-run setup form."""
    return complete_setup_form(code, public_url=public_url)
