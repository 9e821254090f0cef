"""Okta sign-in over OpenID Connect: which account an Okta identity lands in.

A newcomer is created just in time with the default role, an account SCIM made
is linked, a deactivated one is refused; an identity linked in one organization
never signs into another, nor does another organization's code. (Members with a
password confirm by email first: test_okta_oidc_link.py.) Servers, constants
and round trips: tests/support/oidc.py.
"""

from __future__ import annotations

from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from flask import Flask

from core.extensions import db
from core.models import OktaIdentity
from core.models import User
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.oidc import at_provider
from tests.support.oidc import connect_okta
from tests.support.oidc import okta_sign_in
from tests.support.oidc import okta_user
from tests.support.oidc import start
from tests.support.rows import assert_nobody_signed_in
from tests.support.rows import events
from tests.support.rows import identities
from tests.support.rows import signed_in_user_id
from tests.support.rows import user_count
from tests.support.rows import user_row

# The mock provider signs its ID tokens through an Authlib hook Authlib has
# deprecated; the warning is raised in the provider's thread, not by our code.
pytestmark = [
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
    pytest.mark.usefixtures("quick_passwords"),
]


# -- the sign-in rules ---------------------------------------------------------


@pytest.mark.parametrize("default_role", ["member", "admin"])
def test_a_new_person_is_created_just_in_time_with_the_default_role(
    app: Flask, org: OrgInfo, provider: str, default_role: str
) -> None:
    connect_okta(app, org, provider, default_role=default_role)
    okta_user(
        provider,
        "00u-alice",
        "alice@acme.test",
        given_name="Alice",
        family_name="Liddell",
        name="Alice Liddell",
    )
    browser = app.test_client()

    response = okta_sign_in(browser, provider, "00u-alice")

    assert response.status_code == 302
    assert response.headers["Location"] == "/members"
    alice = user_row(app, org.id, "alice@acme.test")
    assert alice is not None
    assert alice["role"] == default_role
    assert alice["source"] == "sso"
    assert alice["status"] == "active"
    assert (alice["given_name"], alice["family_name"]) == ("Alice", "Liddell")
    assert alice["password_hash"] is None
    assert identities(app) == [(org.id, alice["id"], "oidc", provider, "00u-alice")]
    assert signed_in_user_id(app, browser) == alice["id"]
    assert browser.get("/members").status_code == 200
    event = events(app, "sign_in.succeeded")[-1]
    assert event["actor_user_id"] == alice["id"]
    assert (event["method"], event["outcome"]) == ("okta-oidc", "created")
    assert event["organization_id"] == org.id

    # The second time, the link signs her in, even with another email at Okta.
    okta_user(provider, "00u-alice", "alice.new@acme.test")
    again = app.test_client()
    response = okta_sign_in(again, provider, "00u-alice")
    assert response.status_code == 302
    assert signed_in_user_id(app, again) == alice["id"]
    assert user_row(app, org.id, "alice.new@acme.test") is None
    assert len(identities(app)) == 1
    assert events(app, "sign_in.succeeded")[-1]["outcome"] == "signed_in"


def test_a_person_created_by_scim_is_linked_and_signed_in(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    sam_id = make_user(app, org.id, "sam.scim@acme.test", source="scim", password=None)
    with app.app_context():
        db.session.get(User, sam_id).scim_managed = True
        db.session.commit()
    connect_okta(app, org, provider)
    okta_user(provider, "00u-sam", "Sam.Scim@ACME.test")
    users_before = user_count(app)
    browser = app.test_client()

    response = okta_sign_in(browser, provider, "00u-sam")

    assert response.status_code == 302
    assert response.headers["Location"] == "/members"
    assert signed_in_user_id(app, browser) == sam_id
    assert user_count(app) == users_before
    assert identities(app) == [(org.id, sam_id, "oidc", provider, "00u-sam")]
    event = events(app, "sign_in.succeeded")[-1]
    assert (event["actor_user_id"], event["outcome"]) == (sam_id, "linked")


def test_an_inactive_person_is_refused_without_and_with_a_link(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    carol_id = make_user(app, org.id, "carol@acme.test", status="inactive")
    dave_id = make_user(app, org.id, "dave@acme.test", source="scim", password=None)
    connect_okta(app, org, provider)
    okta_user(provider, "00u-carol", "carol@acme.test")
    okta_user(provider, "00u-dave", "dave@acme.test")

    browser = app.test_client()
    response = okta_sign_in(browser, provider, "00u-carol")
    assert response.status_code == 403
    assert "Your account is deactivated" in response.text
    assert_nobody_signed_in(app, browser)
    assert identities(app) == []
    refused = events(app, "sign_in.refused")[-1]
    assert (refused["reason"], refused["actor_user_id"]) == ("inactive", carol_id)

    # Dave links by signing in once, then is deactivated.
    assert okta_sign_in(app.test_client(), provider, "00u-dave").status_code == 302
    assert [row[1] for row in identities(app)] == [dave_id]
    with app.app_context():
        db.session.get(User, dave_id).status = "inactive"
        db.session.commit()
    browser = app.test_client()
    response = okta_sign_in(browser, provider, "00u-dave")
    assert response.status_code == 403
    assert "Your account is deactivated" in response.text
    assert_nobody_signed_in(app, browser)
    refused = events(app, "sign_in.refused")[-1]
    assert (refused["reason"], refused["actor_user_id"]) == ("inactive", dave_id)


# -- one organization, one Okta ------------------------------------------------


@pytest.fixture
def two_orgs(app: Flask, provider: str) -> tuple[OrgInfo, OrgInfo]:
    """Acme and Globex on the same OpenID provider, each with its own client."""
    acme = make_org(app, "Acme")
    globex = make_org(app, "Globex")
    connect_okta(app, acme, provider, client_id="acme-client")
    connect_okta(app, globex, provider, client_id="globex-client")
    return acme, globex


def test_an_identity_linked_in_one_organization_never_signs_into_another(
    app: Flask, two_orgs: tuple[OrgInfo, OrgInfo], provider: str
) -> None:
    acme, globex = two_orgs
    okta_user(provider, "00u-alice", "alice@shared.test")
    okta_user(provider, "00u-bob", "bob@shared.test")
    browser = app.test_client()
    assert okta_sign_in(browser, provider, "00u-alice", org="Acme").status_code == 302
    acme_alice = user_row(app, acme.id, "alice@shared.test")
    assert acme_alice is not None
    # Globex has its own Alice, made by hand: Acme's link does not reach her.
    globex_alice_id = make_user(app, globex.id, "alice@shared.test")

    browser = app.test_client()
    response = okta_sign_in(browser, provider, "00u-alice", org="Globex")

    assert response.status_code == 403
    assert "Confirm your account first" in response.text
    assert_nobody_signed_in(app, browser)
    assert identities(app) == [
        (acme.id, acme_alice["id"], "oidc", provider, "00u-alice")
    ]
    refused = events(app, "sign_in.refused")[-1]
    assert (refused["organization_id"], refused["actor_user_id"]) == (globex.id, None)
    assert refused["target"] == "alice@shared.test"
    assert user_row(app, globex.id, "alice@shared.test")["id"] == globex_alice_id  # type: ignore[index]

    # Bob signs into Acme, then into Globex: two separate accounts.
    acme_browser, globex_browser = app.test_client(), app.test_client()
    okta_sign_in(acme_browser, provider, "00u-bob", org="Acme")
    okta_sign_in(globex_browser, provider, "00u-bob", org="Globex")
    acme_bob = user_row(app, acme.id, "bob@shared.test")
    globex_bob = user_row(app, globex.id, "bob@shared.test")
    assert acme_bob is not None and globex_bob is not None
    assert acme_bob["id"] != globex_bob["id"]
    assert signed_in_user_id(app, acme_browser) == acme_bob["id"]
    assert signed_in_user_id(app, globex_browser) == globex_bob["id"]
    with app.app_context():
        for user_id, org_id in (
            (acme_bob["id"], acme.id),
            (globex_bob["id"], globex.id),
        ):
            [link] = db.session.execute(
                db.select(OktaIdentity).filter_by(user_id=user_id)
            ).scalars()
            assert link.organization_id == org_id


def test_a_callback_for_one_organization_refuses_another_organizations_code(
    app: Flask, two_orgs: tuple[OrgInfo, OrgInfo], provider: str
) -> None:
    _, globex = two_orgs
    okta_user(provider, "00u-alice", "alice@shared.test")
    acme_browser = app.test_client()
    acme_callback = at_provider(start(acme_browser, "Acme"), "00u-alice")
    acme_code = parse_qs(urlsplit(acme_callback).query)["code"][0]
    globex_browser = app.test_client()
    globex_state = parse_qs(urlsplit(start(globex_browser, "Globex")).query)["state"][0]

    response = globex_browser.get(
        "/okta/callback", query_string={"code": acme_code, "state": globex_state}
    )

    assert response.status_code == 403
    assert "could not be verified" in response.text
    assert_nobody_signed_in(app, globex_browser)
    assert user_count(app) == 2
    assert identities(app) == []
    event = events(app, "sign_in.refused")[-1]
    assert event["organization_id"] == globex.id
    assert event["reason"] == "Okta's answer failed verification"
