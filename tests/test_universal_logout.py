"""Okta Universal Logout, the accepted paths: a real Okta-shaped key server on
127.0.0.1 (`tests.support.universal_logout.OktaOrg`) signs the tokens, the app
fetches its keys through the guarded fetcher, and a member's live session ends.
Hostile requests are in tests/test_universal_logout_hostile.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core import housekeeping
from core.extensions import db
from core.models import ApiKey
from core.models import UniversalLogoutJti
from core.models import UserSession
from core.models import utcnow
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import scim_key
from tests.support.builders import sign_in
from tests.support.hostile_oidc import HOSTILE_EMAIL
from tests.support.hostile_oidc import HOSTILE_SUB
from tests.support.hostile_oidc import at_hostile
from tests.support.hostile_oidc import hostile_sign_in
from tests.support.oidc import connect_okta
from tests.support.rows import assert_nobody_signed_in
from tests.support.rows import events
from tests.support.rows import get_user
from tests.support.rows import signed_in_user_id
from tests.support.saml import PUBLIC_BASE_URL as SAML_BASE_URL
from tests.support.saml import connected
from tests.support.saml_idp import SamlIdp
from tests.support.scim import ScimClient
from tests.support.universal_logout import SAML_APP_ID
from tests.support.universal_logout import OktaOrg
from tests.support.universal_logout import email_subject
from tests.support.universal_logout import endpoint
from tests.support.universal_logout import last_attempt
from tests.support.universal_logout import okta_fixture  # noqa: F401
from tests.support.universal_logout import okta_servers_fixture  # noqa: F401
from tests.support.universal_logout import post_logout

pytestmark = pytest.mark.usefixtures("quick_passwords")


def cli(app: Flask, *args: str) -> Any:
    """`flask sso universal-logout ...`."""
    return app.test_cli_runner().invoke(args=["sso", "universal-logout", *args])


def turn_on(app: Flask, org: OrgInfo, *args: str) -> None:
    """Turn Universal Logout on from the command line."""
    result = cli(app, "--org", org.name, "--on", *args)
    assert result.exit_code == 0, result.output


def oidc_ready(app: Flask, org: OrgInfo, okta: OktaOrg) -> None:
    """Okta OIDC sign-in on (saved, tested, turned on), Universal Logout on."""
    connect_okta(app, org, okta.base, send_links=False)
    turn_on(app, org)


def linked_member(app: Flask, org: OrgInfo) -> tuple[int, FlaskClient]:
    """A member with a password who linked their Okta account from their own
    session (so both ways in work); returns their id and signed-in client."""
    user_id = make_user(app, org.id, HOSTILE_EMAIL)
    member = app.test_client()
    assert sign_in(member, HOSTILE_EMAIL).status_code == 302
    going = member.post("/okta/link-mine")
    assert going.status_code == 302, going.text
    assert member.get(at_hostile(going.headers["Location"])).status_code == 302
    assert signed_in_user_id(app, member) == user_id
    return user_id, member


def test_okta_logout_ends_a_live_session_and_the_next_sign_in_goes_through_okta(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    oidc_ready(app, org, okta)
    user_id, member = linked_member(app, org)
    live = live_sessions(app, user_id)
    assert live >= 1
    claims = okta.claims(endpoint(app))

    answer = post_logout(
        app.test_client(), okta.sign(claims), email_subject(HOSTILE_EMAIL)
    )

    assert answer.status_code == 204, answer.text
    assert answer.data == b""
    assert_nobody_signed_in(app, member)
    [event] = events(app, "universal_logout.accepted")
    assert (event["target"], event["sessions_ended"], event["jti"]) == (
        HOSTILE_EMAIL,
        live,
        claims["jti"],
    )
    assert event["actor"].startswith("okta")
    row = last_attempt(app, org.id)
    assert row is not None
    assert (row["status"], row["verified"], row["sessions_ended"]) == (204, True, live)
    assert live_sessions(app, user_id) == 0
    # A password is refused, with a page that sends them to Okta.
    refused = sign_in(app.test_client(), HOSTILE_EMAIL)
    assert refused.status_code == 403
    assert 'id="okta-after-logout"' in refused.text
    assert "/sso/okta?org=Acme" in refused.text
    assert events(app, "sign_in.refused")[-1]["reason"].startswith("okta sign-in")
    # Okta lets them in, and that lifts the demand: the password works again.
    assert hostile_sign_in(member).status_code == 302
    assert signed_in_user_id(app, member) == user_id
    assert get_user(app, user_id)["okta_required_after_logout"] is False
    assert sign_in(app.test_client(), HOSTILE_EMAIL).status_code == 302


def live_sessions(app: Flask, user_id: int) -> int:
    """Session rows of the user that still open a browser."""
    with app.app_context():
        return len(
            db.session.execute(
                db.select(UserSession).filter_by(user_id=user_id, revoked_at=None)
            ).all()
        )


def test_every_session_of_the_person_ends_and_nobody_else_s(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    oidc_ready(app, org, okta)
    make_user(app, org.id, "ana@acme.test")
    phones = [app.test_client() for _ in range(3)]
    for phone in phones:
        assert sign_in(phone, "ana@acme.test").status_code == 302
    owner = app.test_client()
    assert sign_in(owner, org.owner_email).status_code == 302

    token = okta.logout_token(endpoint(app))
    assert (
        post_logout(
            app.test_client(), token, email_subject("ANA@acme.test")
        ).status_code
        == 204
    )

    for phone in phones:
        assert_nobody_signed_in(app, phone)
    assert signed_in_user_id(app, owner) == org.owner_id
    assert events(app, "universal_logout.accepted")[0]["sessions_ended"] == 3


def test_it_is_idempotent_and_a_person_without_a_session_is_204(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    oidc_ready(app, org, okta)
    user_id = make_user(app, org.id, "ana@acme.test")
    for _ in range(2):
        token = okta.logout_token(endpoint(app))
        answer = post_logout(app.test_client(), token, email_subject("ana@acme.test"))
        assert answer.status_code == 204
    assert [e["sessions_ended"] for e in events(app, "universal_logout.accepted")] == [
        0,
        0,
    ]
    assert get_user(app, user_id)["okta_required_after_logout"] is True


def test_iss_sub_finds_the_linked_okta_subject_and_the_scim_external_id(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    oidc_ready(app, org, okta)
    linked_id, member = linked_member(app, org)
    scim = ScimClient(app.test_client(), scim_key(app, org.id))
    created = scim.call(
        "POST",
        "/Users",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "sam@acme.test",
            "externalId": "00u-okta-sam",
            "emails": [{"value": "sam@acme.test", "primary": True}],
            "active": True,
        },
    )
    assert created.status_code == 201, created.text

    for sub, key in ((HOSTILE_SUB, "sub_id"), ("00u-okta-sam", "subject")):
        body = {key: {"format": "iss_sub", "iss": okta.base, "sub": sub}}
        answer = post_logout(app.test_client(), okta.logout_token(endpoint(app)), body)
        assert answer.status_code == 204, answer.text

    assert [e["target"] for e in events(app, "universal_logout.accepted")] == [
        HOSTILE_EMAIL,
        "sam@acme.test",
    ]
    assert_nobody_signed_in(app, member)
    assert get_user(app, linked_id)["okta_required_after_logout"] is True


def test_an_es256_token_is_accepted(app: Flask, org: OrgInfo, okta: OktaOrg) -> None:
    oidc_ready(app, org, okta)
    make_user(app, org.id, "ana@acme.test")
    token = okta.sign(okta.claims(endpoint(app)), alg="ES256")
    assert (
        post_logout(
            app.test_client(), token, email_subject("ana@acme.test")
        ).status_code
        == 204
    )


def test_keys_are_fetched_once_then_cached(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    oidc_ready(app, org, okta)
    make_user(app, org.id, "ana@acme.test")
    okta.reset()  # forget the fetches of the sign-in test

    for _ in range(3):
        token = okta.logout_token(endpoint(app))
        assert (
            post_logout(
                app.test_client(), token, email_subject("ana@acme.test")
            ).status_code
            == 204
        )

    assert (okta.discovery_fetches, okta.key_fetches) == (1, 1)


def test_a_rotated_key_is_fetched_once_on_its_unknown_kid(
    new_app: Any, tmp_path: Path, okta: OktaOrg
) -> None:
    app = new_app(ULO_KEYS_REFETCH_SECONDS=0)
    org = make_org(app)
    oidc_ready(app, org, okta)
    make_user(app, org.id, "ana@acme.test")
    first = okta.logout_token(endpoint(app))
    assert (
        post_logout(
            app.test_client(), first, email_subject("ana@acme.test")
        ).status_code
        == 204
    )
    fetched = okta.key_fetches
    rotated = type(okta.rsa_key).generate_key(2048, parameters={"kid": "rotated-2"})
    okta.extra_keys.append(rotated)

    token = okta.sign(okta.claims(endpoint(app)), key=rotated)
    answer = post_logout(app.test_client(), token, email_subject("ana@acme.test"))

    assert answer.status_code == 204, answer.text
    assert okta.key_fetches == fetched + 1


def test_personal_keys_are_untouched_unless_the_organization_asks(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    oidc_ready(app, org, okta)
    ana = make_user(app, org.id, "ana@acme.test", role="admin")
    scim_key(app, org.id, user_id=ana)  # her personal key, "laptop"
    scim_key(app, org.id, name="okta")

    token = okta.logout_token(endpoint(app))
    assert (
        post_logout(
            app.test_client(), token, email_subject("ana@acme.test")
        ).status_code
        == 204
    )
    assert live_keys(app) == {"laptop", "okta"}

    turn_on(app, org, "--revoke-personal-keys")
    token = okta.logout_token(endpoint(app))
    assert (
        post_logout(
            app.test_client(), token, email_subject("ana@acme.test")
        ).status_code
        == 204
    )
    assert live_keys(app) == {"okta"}
    assert events(app, "universal_logout.accepted")[-1]["personal_keys_revoked"] == 1


def live_keys(app: Flask) -> set[str]:
    """Names of the keys not revoked."""
    with app.app_context():
        return set(
            db.session.execute(
                db.select(ApiKey.name).filter_by(revoked_at=None)
            ).scalars()
        )


def test_spent_tokens_are_pruned_once_expired(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    oidc_ready(app, org, okta)
    make_user(app, org.id, "ana@acme.test")
    token = okta.logout_token(endpoint(app))
    assert (
        post_logout(
            app.test_client(), token, email_subject("ana@acme.test")
        ).status_code
        == 204
    )
    with app.app_context():
        assert housekeeping.prune()["universal_logout_jti"] == 0
        later = utcnow() + timedelta(minutes=10)
        assert housekeeping.prune(later)["universal_logout_jti"] == 1
        assert db.session.execute(db.select(UniversalLogoutJti)).first() is None


# -- settings page and command line ----------------------------------------------


def test_the_settings_page_shows_the_url_the_okta_steps_and_the_last_request(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    connect_okta(app, org, okta.base, send_links=False)
    owner = app.test_client()
    assert sign_in(owner, org.owner_email).status_code == 302
    assert 'id="universal-logout-link"' in owner.get("/settings/okta").text

    page = owner.get("/settings/okta/universal-logout")

    assert page.status_code == 200
    assert f'<code id="ulo-endpoint">{endpoint(app)}</code>' in page.text
    assert 'data-copy="ulo-endpoint"' in page.text
    assert "Okta system or admin initiates logout" in page.text
    assert 'id="ulo-last-none"' in page.text
    saved = owner.post("/settings/okta/universal-logout", data={"enabled": "y"})
    assert saved.status_code == 302, saved.text
    assert events(app, "universal_logout.settings_changed")[-1]["enabled"] is True
    # A refused request shows on the page, with its reason.
    wrong = okta.sign(
        okta.claims("https://elsewhere.example/api/v1/okta/universal-logout")
    )
    assert (
        post_logout(app.test_client(), wrong, email_subject("x@acme.test")).status_code
        == 401
    )
    page = owner.get("/settings/okta/universal-logout").text
    assert "HTTP 401" in page
    assert "https://elsewhere.example" in page
    assert "not verified" not in page  # the signature was Okta's


def test_members_cannot_see_or_change_universal_logout(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    connect_okta(app, org, okta.base, send_links=False)
    make_user(app, org.id, "ana@acme.test")
    member = app.test_client()
    assert sign_in(member, "ana@acme.test").status_code == 302
    assert member.get("/settings/okta/universal-logout").status_code == 403
    answer = member.post("/settings/okta/universal-logout", data={"enabled": "y"})
    assert answer.status_code == 403
    assert events(app, "universal_logout.settings_changed") == []


def test_the_command_line_needs_saved_okta_settings_and_switches_it(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    refused = cli(app, "--org", org.name, "--on")
    assert refused.exit_code == 1
    assert "Save your Okta settings first" in refused.output
    assert cli(app, "--org", "Nobody", "--on").exit_code == 1
    connect_okta(app, org, okta.base, send_links=False)
    assert cli(app, "--org", org.name, "--on").exit_code == 0
    result = cli(app, "--org", org.name, "--off")
    assert result.exit_code == 0
    assert "off" in result.output
    assert [e["enabled"] for e in events(app, "universal_logout.settings_changed")] == [
        True,
        False,
    ]


# -- a SAML organization -----------------------------------------------------------


def test_a_saml_organization_names_its_okta_and_app_and_uses_okta_s_org_keys(
    saml_app: Flask, idp: SamlIdp, okta: OktaOrg
) -> None:
    app = saml_app
    org = make_org(app)
    connected(app, org, idp, send_links=False)
    missing = cli(app, "--org", org.name, "--on")
    assert missing.exit_code == 1
    assert "Okta address" in missing.output
    turn_on(app, org, "--okta-url", okta.base, "--app-id", SAML_APP_ID)
    make_user(app, org.id, "ana@acme.test")
    member = app.test_client()
    assert sign_in(member, "ana@acme.test").status_code == 302
    okta.reset()

    token = okta.logout_token(endpoint(app), sub=SAML_APP_ID)
    answer = post_logout(app.test_client(), token, email_subject("ana@acme.test"))

    assert answer.status_code == 204, answer.text
    assert_nobody_signed_in(app, member)
    assert (okta.discovery_fetches, okta.key_fetches) == (0, 1)
    assert endpoint(app) == SAML_BASE_URL + "/api/v1/okta/universal-logout"
    # The page asks a SAML organization for its Okta address and app id.
    owner = app.test_client()
    assert sign_in(owner, org.owner_email).status_code == 302
    page = owner.get("/settings/okta/universal-logout").text
    assert 'name="okta_url"' in page
    assert f'value="{SAML_APP_ID}"' in page


def test_okta_s_post_needs_no_csrf_token_where_forms_do(
    new_app: Any, okta: OktaOrg
) -> None:
    app = new_app(WTF_CSRF_ENABLED=True)
    org = make_org(app)
    connect_without_csrf(app, org, okta)
    make_user(app, org.id, "ana@acme.test")

    token = okta.logout_token(endpoint(app))
    answer = post_logout(app.test_client(), token, email_subject("ana@acme.test"))

    assert answer.status_code == 204, answer.text
    owner = app.test_client()
    assert owner.post("/settings/okta/universal-logout", data={}).status_code == 400


def connect_without_csrf(app: Flask, org: OrgInfo, okta: OktaOrg) -> None:
    """Okta OIDC and Universal Logout on, with CSRF off only meanwhile."""
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        oidc_ready(app, org, okta)
    finally:
        app.config["WTF_CSRF_ENABLED"] = True


def test_only_an_owner_names_a_saml_organization_s_okta_and_app(
    saml_app: Flask, idp: SamlIdp, okta: OktaOrg
) -> None:
    app = saml_app
    org = make_org(app)
    connected(app, org, idp, send_links=False)
    make_user(app, org.id, "adam@acme.test", role="admin")
    admin = app.test_client()
    assert sign_in(admin, "adam@acme.test").status_code == 302
    form = {"enabled": "y", "okta_url": okta.base, "app_id": SAML_APP_ID}

    refused = admin.post("/settings/okta/universal-logout", data=form)

    assert refused.status_code == 403
    assert "Only an owner" in refused.text
    owner = app.test_client()
    assert sign_in(owner, org.owner_email).status_code == 302
    bad = owner.post(
        "/settings/okta/universal-logout",
        data={**form, "okta_url": "https://acme.okta.com/app/x"},
    )
    assert bad.status_code == 400
    assert "Enter only your Okta address" in bad.text
    assert events(app, "universal_logout.settings_changed") == []
    saved = owner.post("/settings/okta/universal-logout", data=form)
    assert saved.status_code == 302, saved.text
    # The admin may switch it off and on, leaving the owner's addressing alone.
    assert admin.post("/settings/okta/universal-logout", data={}).status_code == 302
    [_, switched] = events(app, "universal_logout.settings_changed")
    assert switched["enabled"] is False
    assert "saml_okta_url" not in switched
