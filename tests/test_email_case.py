"""Emails are kept as sent, and compared without case.

"Ada@Example.com" stays "Ada@Example.com" (SCIM, Okta sign-in, the members
page, the CLI: none lower-cases the domain any more), while uniqueness, look-ups,
filters, password sign-in and Okta account linking go through the case-folded
`email_key`, so "ada@example.com" is still the same person.
"""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner

from tests.support.builders import OrgInfo
from tests.support.builders import make_user
from tests.support.builders import scim_key
from tests.support.builders import sign_in
from tests.support.constants import PASSWORD
from tests.support.constants import REPO
from tests.support.oidc import connect_okta
from tests.support.oidc import okta_sign_in
from tests.support.oidc import okta_user
from tests.support.rows import get_user
from tests.support.rows import identities
from tests.support.rows import signed_in_user_id
from tests.support.rows import snapshot
from tests.support.rows import user_count
from tests.support.rows import user_row
from tests.support.scim import PATCH_SCHEMA as PATCH
from tests.support.scim import USER_SCHEMA as USER
from tests.support.scim import ScimClient

# The mock provider signs its ID tokens through a hook Authlib has deprecated
# (as in tests/test_okta_oidc_*.py).
pytestmark = [
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
    pytest.mark.usefixtures("quick_passwords"),
]


class Scim(ScimClient):
    """A SCIM client of the app with an organization key."""

    def create(self, user_name: str, email: str | None = None) -> dict[str, Any]:
        """POST a user (with `email` as its primary work address, if given)."""
        body: dict[str, Any] = {"schemas": [USER], "userName": user_name}
        if email is not None:
            body["emails"] = [{"value": email, "type": "work", "primary": True}]
        response = self.call("POST", "/Users", body)
        assert response.status_code == 201, response.text
        return response.get_json()


@pytest.fixture
def scim(app: Flask, org: OrgInfo) -> Scim:
    """SCIM with Acme's organization key."""
    return Scim(app.test_client(), scim_key(app, org.id))


def test_scim_returns_the_email_and_user_name_as_sent(app: Flask, scim: Scim) -> None:
    created = scim.create("Ada.Lovelace@Example.COM", " Ada@Example.com ")
    assert created["userName"] == "Ada.Lovelace@Example.COM"
    assert created["emails"][0]["value"] == "Ada@Example.com"
    read = scim.call("GET", f"/Users/{created['id']}").get_json()
    assert read["emails"][0]["value"] == "Ada@Example.com"
    assert read["userName"] == "Ada.Lovelace@Example.COM"
    row = get_user(app, int(created["id"]))
    assert (row["email"], row["email_key"]) == ("Ada@Example.com", "ada@example.com")
    assert row["user_name_key"] == "ada.lovelace@example.com"

    # Without emails, a userName that is an email stands for it, as sent too.
    bo = scim.create("Bo.Chen@Example.COM")
    assert bo["emails"][0]["value"] == "Bo.Chen@Example.COM"


def test_scim_finds_and_refuses_emails_whatever_their_case(
    app: Flask, scim: Scim
) -> None:
    ada = scim.create("ada", "Ada@Example.com")
    assert ada["emails"][0]["value"] == "Ada@Example.com"
    for query in (
        'emails.value eq "ada@example.com"',
        'emails[value eq "ADA@EXAMPLE.COM"]',
        'userName eq "ADA"',
    ):
        found = scim.call("GET", f"/Users?filter={query}").get_json()
        assert [user["id"] for user in found["Resources"]] == [ada["id"]], query

    before = snapshot(app, scim_writes=True)
    duplicate = scim.call(
        "POST",
        "/Users",
        {
            "schemas": [USER],
            "userName": "other",
            "emails": [{"value": "ada@EXAMPLE.com"}],
        },
    )
    assert duplicate.status_code == 409, duplicate.text
    assert duplicate.get_json()["scimType"] == "uniqueness"
    assert snapshot(app, scim_writes=True) == before


def test_a_scim_email_change_is_kept_as_sent(app: Flask, scim: Scim) -> None:
    ada = scim.create("ada", "ada@example.com")
    response = scim.call(
        "PATCH",
        f"/Users/{ada['id']}",
        {
            "schemas": [PATCH],
            "Operations": [
                {
                    "op": "replace",
                    "path": 'emails[type eq "work"].value',
                    "value": "Ada.King@Example.com",
                }
            ],
        },
    )
    assert response.status_code == 200, response.text
    assert response.get_json()["emails"][0]["value"] == "Ada.King@Example.com"
    row = get_user(app, int(ada["id"]))
    assert (row["email"], row["email_key"]) == (
        "Ada.King@Example.com",
        "ada.king@example.com",
    )
    # Changing only the case is a change of the text, not of the person.
    response = scim.call(
        "PUT",
        f"/Users/{ada['id']}",
        {
            "schemas": [USER],
            "userName": "ada",
            "emails": [{"value": "ADA.KING@example.com"}],
        },
    )
    assert response.status_code == 200, response.text
    assert get_user(app, int(ada["id"]))["email"] == "ADA.KING@example.com"


def test_a_member_added_with_capitals_signs_in_in_lower_case(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    response = owner_client.post(
        "/members/new",
        data={
            "email": "Grace@Example.com",
            "given_name": "Grace",
            "family_name": "Hopper",
            "role": "member",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302, response.text
    grace = user_row(app, org.id, "grace@example.com")
    assert grace is not None and grace["email"] == "Grace@Example.com"
    again = owner_client.post(
        "/members/new",
        data={"email": "GRACE@example.COM", "role": "member", "password": ""},
    )
    assert again.status_code == 400
    assert "already a member" in again.text

    browser = app.test_client()
    assert sign_in(browser, "grace@EXAMPLE.com").status_code == 302
    assert signed_in_user_id(app, browser) == grace["id"]


def test_org_create_keeps_the_owners_email_as_typed(
    app: Flask, runner: FlaskCliRunner
) -> None:
    result = runner.invoke(
        args=["org", "create", "Initech", "--owner-email", "Peter@Initech.TEST"]
        + ["--owner-password", PASSWORD]
    )
    assert result.exit_code == 0, result.output
    assert "Peter@Initech.TEST" in result.stdout
    browser = app.test_client()
    assert sign_in(browser, "peter@initech.test").status_code == 302
    assert signed_in_user_id(app, browser) is not None


def test_okta_sign_in_with_another_case_lands_in_the_scim_account(
    app: Flask,
    org: OrgInfo,
    scim: Scim,
    provider: str,
) -> None:
    ada = scim.create("Ada@Example.com", "Ada@Example.com")
    assert ada["emails"][0]["value"] == "Ada@Example.com"
    connect_okta(app, org, provider)
    okta_user(provider, "00u-ada", "ada@example.com")
    users_before = user_count(app)

    browser = app.test_client()
    response = okta_sign_in(browser, provider, "00u-ada")

    assert response.status_code == 302, response.text
    assert signed_in_user_id(app, browser) == int(ada["id"])
    assert user_count(app) == users_before
    assert identities(app) == [(org.id, int(ada["id"]), "oidc", provider, "00u-ada")]
    # The address stays as SCIM sent it.
    assert get_user(app, int(ada["id"]))["email"] == "Ada@Example.com"


def test_a_person_okta_creates_keeps_the_email_okta_sent(
    app: Flask,
    org: OrgInfo,
    provider: str,
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-grace", "Grace.Hopper@Example.COM", given_name="Grace")
    browser = app.test_client()
    assert okta_sign_in(browser, provider, "00u-grace").status_code == 302
    grace = user_row(app, org.id, "grace.hopper@example.com")
    assert grace is not None and grace["email"] == "Grace.Hopper@Example.COM"
    assert signed_in_user_id(app, browser) == grace["id"]

    # Next time Okta says it in lower case: the same account, by its identity.
    okta_user(provider, "00u-grace", "grace.hopper@example.com")
    again = app.test_client()
    assert okta_sign_in(again, provider, "00u-grace").status_code == 302
    assert signed_in_user_id(app, again) == grace["id"]
    assert user_count(app) == 2


# -- addresses that look the same are the same member (review of #11) -----------

NFC = "jos\u00e9@acme.test"  # é as one code point
NFD = unicodedata.normalize("NFD", NFC)  # e + combining acute: looks the same


@pytest.mark.parametrize(
    "variant",
    [
        NFD,
        "JOS\u00c9@ACME.TEST",
        "jos\u00e9@\uff41cme.test",
        "jos\u00e9@acme\uff0etest",
    ],
    ids=["decomposed", "upper case", "full-width letter", "full-width dot"],
)
def test_a_look_alike_email_is_not_a_second_member(
    app: Flask, scim: Scim, variant: str
) -> None:
    first = scim.call(
        "POST",
        "/Users",
        {"schemas": [USER], "userName": "jose1", "emails": [{"value": NFC}]},
    )
    assert first.status_code == 201
    before = user_count(app)

    second = scim.call(
        "POST",
        "/Users",
        {"schemas": [USER], "userName": "jose2", "emails": [{"value": variant}]},
    )

    assert second.status_code == 409, second.get_json()
    assert user_count(app) == before


def test_an_okta_sign_in_with_a_look_alike_email_needs_confirmation(
    app: Flask,
    org: OrgInfo,
    provider: str,
) -> None:
    """A local member josé@ (with a password); an Okta user asserting the same
    address in decomposed form is that member, so the confirmation rule holds
    (before: a new account with the look-alike address was made and signed in)."""
    victim = make_user(app, org.id, NFC)
    connect_okta(app, org, provider)
    okta_user(provider, "00uattacker00000000x", NFD)
    before = user_count(app)
    browser = app.test_client()

    response = okta_sign_in(browser, provider, "00uattacker00000000x")

    assert response.status_code == 403
    assert "Confirm your account first" in response.text
    assert signed_in_user_id(app, browser) is None
    assert user_count(app) == before
    assert get_user(app, victim)["email"] == NFC


def test_an_address_key_does_not_depend_on_what_else_was_imported() -> None:
    """Keys of internal-domain addresses are the same in a script that imports only
    the models as in the app (the domain rule once lived in provisioning)."""
    script = (
        "from core.models import email_fold; "
        "print(email_fold('Ann@\\uff23\\uff2f\\uff32\\uff30.local'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ann@corp.local"
