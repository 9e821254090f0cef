"""Turning Okta sign-in on must not surprise anyone: Save, Test, Turn on.

Against the real OpenID provider (`provider`, oidc-provider-mock), the real
SAML IdP (pysaml2, `SamlIdp`) and a real SMTP server (`mailbox`): saving
changes nothing for members; a test sign-in shows what Okta sent, signs
nobody in and can never be replayed into a sign-in; turning on needs a
passing test and shows who gets the link email first; turning off and
switching protocol show their impact first. The browser journey (CSRF on) is
at the end.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser
from playwright.sync_api import expect

from core.authority import Actor
from core.extensions import db
from core.models import OktaIdentity
from core.models import SamlRequest
from core.security import decrypt_secret
from core.sso_authority import sso_test_problem
from tests.support.builders import AppMaker
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.constants import PASSWORD
from tests.support.live import serve
from tests.support.mail import Mailbox
from tests.support.mail import outbox
from tests.support.mail import smtp_settings
from tests.support.oidc import CLIENT_ID
from tests.support.oidc import CLIENT_SECRET
from tests.support.oidc import TEST_SUB
from tests.support.oidc import connect_okta
from tests.support.oidc import discovery
from tests.support.oidc import oidc_test_sign_in
from tests.support.oidc import okta_form
from tests.support.oidc import okta_user
from tests.support.oidc import start as start_sign_in
from tests.support.oidc import through_provider
from tests.support.oidc import turn_on_for_everyone
from tests.support.rows import assert_nobody_signed_in
from tests.support.rows import events
from tests.support.rows import identities
from tests.support.rows import signed_in_user_id
from tests.support.rows import snapshot
from tests.support.rows import sso_config
from tests.support.saml import PUBLIC_BASE_URL as SAML_BASE
from tests.support.saml import connect
from tests.support.saml import post_from_okta
from tests.support.saml import saml_sign_in
from tests.support.saml import saml_test_sign_in
from tests.support.saml_idp import SamlIdp

pytestmark = [
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
    pytest.mark.usefixtures("quick_passwords"),
]

# What a test sign-in may write: its result and its audit event, and (SAML)
# the spent request, the replay cache and a failure count. Nothing else.
TEST_WRITES = {"sso_test_result", "audit_event", "saml_assertion_seen"}


def without(rows: dict[str, list[tuple]], *tables: str) -> dict[str, list[tuple]]:
    """A snapshot without the tables a step may write by design."""
    return {name: value for name, value in rows.items() if name not in tables}


def owner_of(app: Flask, org: OrgInfo) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, org.owner_email).status_code == 302
    return client


def save_oidc(client: FlaskClient, base: str, **changes: str) -> Any:
    return client.post("/settings/okta", data=okta_form(discovery(base), **changes))


def text_of(page: str, element_id: str) -> str:
    """The text of the element with this id, its children's included (tags and
    spacing dropped)."""
    start = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>', page)
    assert start, f"no #{element_id} in the page"
    tag, depth, at = start.group(1), 1, start.end()
    for match in re.finditer(rf"<(/?){tag}\b[^>]*>", page[at:]):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            inner = page[at : at + match.start()]
            return " ".join(re.sub(r"<[^>]+>", " ", inner).split())
    raise AssertionError(f"#{element_id} is not closed")


# -- Save changes nothing for members ------------------------------------------


def test_saving_emails_nobody_and_does_not_offer_okta_to_members(
    smtp_app: Flask, mailbox: tuple[Mailbox, int], provider: str
) -> None:
    inbox, _ = mailbox
    org = make_org(smtp_app)
    make_user(smtp_app, org.id, "bob@acme.test")
    owner = owner_of(smtp_app, org)

    response = save_oidc(owner, provider)

    assert response.status_code == 302, response.text
    assert "Nothing changed for members" in owner.get(response.headers["Location"]).text
    assert inbox.messages == []
    assert events(smtp_app, "okta.link_email_sent") == []
    config = sso_config(smtp_app, org.id)
    assert config is not None and config["provider"] == "none"
    visitor = smtp_app.test_client()
    page = visitor.post("/sso", data={"organization": "Acme"})
    assert page.status_code == 404 and "not available" in page.text
    assert visitor.get("/sso/okta?org=Acme").status_code == 404
    assert 'id="sso-saved-off"' in owner.get("/settings").text


# -- Test sign-in with Okta: OIDC -------------------------------------------------


def test_an_oidc_test_shows_what_okta_sent_and_signs_nobody_in(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner = owner_of(app, org)
    assert save_oidc(owner, provider).status_code == 302
    okta_user(
        provider, TEST_SUB, "grace@acme.test", given_name="Grace", family_name="Hopper"
    )
    before = snapshot(app)

    response = oidc_test_sign_in(owner)

    assert response.status_code == 302
    assert response.headers["Location"] == (
        "/settings/okta?protocol=oidc&tested=1#test-result"
    )
    # Nobody signed in, nothing made or linked, the owner's session untouched.
    assert without(snapshot(app), *TEST_WRITES) == without(before, *TEST_WRITES)
    assert signed_in_user_id(app, owner) == org.owner_id
    page = owner.get("/settings/okta?protocol=oidc&tested=1").text
    assert "Passed" in text_of(page, "test-result")
    assert text_of(page, "test-subject") == TEST_SUB
    assert text_of(page, "test-email") == "grace@acme.test"
    assert text_of(page, "test-given-name") == "Grace"
    assert text_of(page, "test-family-name") == "Hopper"
    [event] = events(app, "settings.okta_tested")
    assert (event["protocol"], event["passed"], event["subject"]) == (
        "oidc",
        True,
        TEST_SUB,
    )
    assert events(app, "sign_in.succeeded")[-1]["method"] == "password"


def test_an_oidc_test_answer_is_never_a_sign_in(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    """The test's callback (code and state) is refused when replayed: in the
    same browser, in another one, and to finish a real sign-in started since."""
    connect_okta(app, org, provider)
    owner = owner_of(app, org)
    okta_user(provider, TEST_SUB, "owner@acme.test")
    started = owner.post("/okta/test", data={"protocol": "oidc"})
    callback = through_provider(
        started.headers["Location"], TEST_SUB, "http://localhost"
    )
    # A real sign-in started meanwhile in the same browser: the test's answer
    # must not complete it.
    assert owner.get("/sso/okta?org=Acme").status_code == 302
    hijack = owner.get(callback)
    assert hijack.status_code == 403
    assert signed_in_user_id(app, owner) == org.owner_id
    before = snapshot(app)

    for client in (owner, app.test_client()):
        assert client.get(callback).status_code in (400, 403)
    stranger = app.test_client()
    assert stranger.get(callback).status_code == 400
    assert_nobody_signed_in(app, stranger)
    assert signed_in_user_id(app, owner) == org.owner_id
    assert without(snapshot(app), "audit_event") == without(before, "audit_event")
    assert [
        e for e in events(app, "sign_in.succeeded") if e["method"] != "password"
    ] == []


def test_a_completed_oidc_test_cannot_be_replayed(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner = owner_of(app, org)
    assert save_oidc(owner, provider).status_code == 302
    started = owner.post("/okta/test", data={"protocol": "oidc"})
    callback = through_provider(
        started.headers["Location"], TEST_SUB, "http://localhost"
    )
    assert owner.get(callback).status_code == 302
    result = sso_config(app, org.id)

    again = owner.get(callback)

    assert again.status_code == 400
    assert "expired or was already used" in again.text
    assert sso_config(app, org.id) == result
    assert len(events(app, "settings.okta_tested")) == 1
    assert identities(app) == []


def test_a_failed_oidc_test_says_why(app: Flask, org: OrgInfo, provider: str) -> None:
    owner = owner_of(app, org)
    assert save_oidc(owner, provider).status_code == 302
    started = owner.post("/okta/test", data={"protocol": "oidc"})

    answer = through_provider(
        started.headers["Location"], TEST_SUB, "http://localhost", action="deny"
    )
    response = owner.get(answer)

    assert response.status_code == 302
    page = owner.get("/settings/okta?protocol=oidc").text
    assert "Failed" in text_of(page, "test-result")
    assert "not assigned to the Gatehouse app" in text_of(page, "test-reason")
    problem = owner.post(
        "/settings/okta/on", data={"protocol": "oidc", "confirm": "yes"}
    )
    assert problem.status_code == 409
    assert "The last test sign-in failed" in problem.text


# -- Test sign-in with Okta: SAML -------------------------------------------------


def test_a_saml_test_shows_what_okta_sent_and_signs_nobody_in(
    saml_app: Flask, idp: SamlIdp
) -> None:
    org = make_org(saml_app)
    owner = owner_of(saml_app, org)
    assert connect(saml_app, org, idp, client=owner).status_code == 302
    idp.user = {
        "name_id": "grace@acme.test",
        "email": "grace@acme.test",
        "firstName": "Grace",
        "lastName": "Hopper",
    }
    before = snapshot(saml_app)

    response = saml_test_sign_in(owner, idp)

    assert response.status_code == 302, response.text
    assert response.headers["Location"].startswith("/settings/okta?protocol=saml")
    assert without(snapshot(saml_app), *TEST_WRITES, "saml_request") == without(
        before, *TEST_WRITES, "saml_request"
    )
    assert signed_in_user_id(saml_app, owner) == org.owner_id
    with saml_app.app_context():  # the test's AuthnRequest is spent
        assert db.session.execute(db.select(SamlRequest)).first() is None
    page = owner.get("/settings/okta?protocol=saml").text
    assert "Passed" in text_of(page, "test-result")
    assert text_of(page, "test-subject") == "grace@acme.test"
    assert text_of(page, "test-given-name") == "Grace"
    assert "emailAddress" in text_of(page, "test-name-id-format")
    attributes = text_of(page, "test-attributes")
    assert "firstName : Grace" in attributes and "email : grace@acme.test" in attributes


def test_a_saml_test_response_is_never_a_sign_in(saml_app: Flask, idp: SamlIdp) -> None:
    """Replayed after the test, even once Okta sign-in is on (for the same
    browser or a fresh one), the test's response is refused like any replay."""
    org = make_org(saml_app)
    owner = owner_of(saml_app, org)
    assert connect(saml_app, org, idp, client=owner).status_code == 302
    started = owner.post("/okta/test", data={"protocol": "saml"})
    fields = idp.respond_to(started.headers["Location"])
    assert post_from_okta(owner, fields).status_code == 302
    # Saved and tested, not on: not even a dashboard sign-in gets in.
    dashboard = saml_app.test_client()
    assert post_from_okta(dashboard, idp.unsolicited()).status_code == 403
    assert_nobody_signed_in(saml_app, dashboard)
    assert turn_on_for_everyone(owner, "saml", send_links=False).status_code == 302
    before = snapshot(saml_app)

    for client in (owner, saml_app.test_client()):
        replay = post_from_okta(client, fields)
        assert replay.status_code == 400
        assert "expired or was already used" in replay.text
    assert signed_in_user_id(saml_app, owner) == org.owner_id
    assert identities(saml_app) == []
    assert without(snapshot(saml_app), "audit_event", "sign_in_failure") == without(
        before, "audit_event", "sign_in_failure"
    )
    # Members now sign in for real; that is a sign-in, not a test.
    assert saml_sign_in(saml_app.test_client(), idp).status_code == 302


def test_a_saml_test_answer_from_another_browser_records_nothing(
    saml_app: Flask, idp: SamlIdp
) -> None:
    org = make_org(saml_app)
    owner = owner_of(saml_app, org)
    assert connect(saml_app, org, idp, client=owner).status_code == 302
    started = owner.post("/okta/test", data={"protocol": "saml"})
    fields = idp.respond_to(started.headers["Location"])

    response = post_from_okta(saml_app.test_client(), fields)

    assert response.status_code == 403
    assert events(saml_app, "settings.okta_tested") == []
    page = owner.get("/settings/okta?protocol=saml").text
    assert "Not tested" in text_of(page, "test-result")


def test_signing_out_ends_a_saml_test_in_progress(
    saml_app: Flask, idp: SamlIdp
) -> None:
    """The browser's next user cannot finish the owner's test as the owner."""
    org = make_org(saml_app)
    owner = owner_of(saml_app, org)
    assert connect(saml_app, org, idp, client=owner).status_code == 302
    started = owner.post("/okta/test", data={"protocol": "saml"})
    assert owner.post("/logout").status_code == 302

    response = post_from_okta(owner, idp.respond_to(started.headers["Location"]))

    assert response.status_code == 400
    assert events(saml_app, "settings.okta_tested") == []


# -- who may test, and who sees the result --------------------------------------


def test_only_owners_and_admins_start_a_test(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner = owner_of(app, org)
    assert save_oidc(owner, provider).status_code == 302
    make_user(app, org.id, "mia@acme.test")
    make_user(app, org.id, "adam@acme.test", role="admin")
    member = app.test_client()
    assert sign_in(member, "mia@acme.test").status_code == 302
    before = snapshot(app)

    refused = member.post("/okta/test", data={"protocol": "oidc"})

    assert refused.status_code == 403
    assert "Only owners and admins" in refused.text
    assert snapshot(app) == before
    with member.session_transaction() as session:
        assert "okta_flow" not in session
    admin = app.test_client()
    assert sign_in(admin, "adam@acme.test").status_code == 302
    assert oidc_test_sign_in(admin).status_code == 302
    page = admin.get("/settings/okta?protocol=oidc").text
    assert "Passed" in text_of(page, "test-result")
    assert 'id="test-sign-in-button"' in page
    # An admin tests but does not turn on: only an owner changes the connection.
    assert 'id="turn-on-button"' not in page
    response = turn_on_for_everyone(admin)
    assert response.status_code == 403
    assert sso_config(app, org.id)["provider"] == "none"  # type: ignore[index]


def test_another_organizations_admin_never_sees_the_result(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner = owner_of(app, org)
    assert save_oidc(owner, provider).status_code == 302
    okta_user(provider, TEST_SUB, "secret.person@acme.test")
    assert oidc_test_sign_in(owner).status_code == 302
    other = make_org(app, "Globex")
    globex = owner_of(app, other)

    for protocol in ("oidc", "saml"):
        page = globex.get(f"/settings/okta?protocol={protocol}").text
        assert "secret.person@acme.test" not in page and TEST_SUB not in page
        assert "Not tested" in text_of(page, "test-result")
    # Globex has nothing saved: its owner can neither test nor turn on.
    assert 'id="test-sign-in-button"' not in page
    response = globex.post("/okta/test", data={"protocol": "oidc"})
    assert (
        response.status_code == 302 and "protocol=oidc" in response.headers["Location"]
    )
    assert turn_on_for_everyone(globex).status_code == 409
    assert sso_config(app, org.id)["provider"] == "none"  # type: ignore[index]


# -- Turn on for everyone --------------------------------------------------------


def test_turning_on_is_refused_until_the_saved_settings_passed_a_test(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner = owner_of(app, org)
    assert save_oidc(owner, provider).status_code == 302
    before = snapshot(app)

    untested = turn_on_for_everyone(owner)

    assert untested.status_code == 409
    assert "Test sign-in with Okta first" in untested.text
    assert snapshot(app) == before
    assert oidc_test_sign_in(owner).status_code == 302
    # A change of the settings makes the test stale.
    assert save_oidc(owner, provider, client_id="0oa-another").status_code == 302
    page = owner.get("/settings/okta?protocol=oidc").text
    assert "Not tested since the last change" in text_of(page, "test-result")
    assert "disabled" in re.search(r'id="turn-on-button"[^>]*>', page).group(0)  # type: ignore[union-attr]
    stale = turn_on_for_everyone(owner)
    assert stale.status_code == 409
    assert "changed since the last test sign-in" in stale.text
    assert sso_config(app, org.id)["provider"] == "none"  # type: ignore[index]
    # A default role is not part of what a test proves: still fresh after it.
    assert oidc_test_sign_in(owner).status_code == 302
    assert (
        save_oidc(
            owner,
            provider,
            client_id="0oa-another",
            client_secret="",
            default_role="admin",
        ).status_code
        == 302
    )
    assert turn_on_for_everyone(owner).status_code == 302
    assert sso_config(app, org.id)["provider"] == "okta"  # type: ignore[index]


def ready_to_turn_on(app: Flask, org: OrgInfo, provider: str) -> FlaskClient:
    """Saved and tested; members: Bob (local), Carl (inactive), Dana (linked)."""
    owner = owner_of(app, org)
    assert save_oidc(owner, provider).status_code == 302
    assert oidc_test_sign_in(owner).status_code == 302
    make_user(app, org.id, "bob@acme.test", given_name="Bob", family_name="Local")
    make_user(app, org.id, "carl@acme.test", status="inactive")
    dana = make_user(app, org.id, "dana@acme.test", password=None, source="sso")
    with app.app_context():
        db.session.add(
            OktaIdentity(
                organization_id=org.id,
                user_id=dana,
                protocol="oidc",
                issuer=provider,
                subject="00u-dana",
            )
        )
        db.session.commit()
    other = make_org(app, "Globex")
    make_user(app, other.id, "eve@globex.test")
    return owner


def test_the_preview_lists_exactly_the_unlinked_active_members(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner = ready_to_turn_on(app, org, provider)
    before = snapshot(app)

    preview = owner.post("/settings/okta/on", data={"protocol": "oidc"})

    assert preview.status_code == 200
    assert snapshot(app) == before
    assert text_of(preview.text, "to-email-count").startswith("2 active members")
    emails = re.findall(r"<td>([^<]+@[^<]+)</td>", preview.text)
    assert emails == ["owner@acme.test", "bob@acme.test"]
    assert "Bob Local" in preview.text
    # Confirming without choosing whether to send changes nothing either.
    unchosen = owner.post(
        "/settings/okta/on", data={"protocol": "oidc", "confirm": "yes"}
    )
    assert unchosen.status_code == 400
    assert "Choose whether to email the link now" in unchosen.text
    assert snapshot(app) == before


@pytest.mark.parametrize("send", [False, True], ids=["dont-send", "send"])
def test_turning_on_sends_the_link_to_exactly_them_or_nobody(
    new_app: AppMaker, mailbox: tuple[Mailbox, int], provider: str, send: bool
) -> None:
    inbox, port = mailbox
    app = new_app(**smtp_settings(port))
    org = make_org(app)
    owner = ready_to_turn_on(app, org, provider)

    response = turn_on_for_everyone(owner, send_links=send)

    assert response.status_code == 302
    assert sso_config(app, org.id)["provider"] == "okta"  # type: ignore[index]
    flashed = owner.get(response.headers["Location"]).text
    recipients = sorted(message["To"] for message in inbox.messages)
    if send:
        assert recipients == ["bob@acme.test", "owner@acme.test"]
        assert "2 member(s) were emailed a link" in flashed
    else:
        assert recipients == []
        assert "No link email was sent" in flashed
    [event] = events(app, "settings.okta_turned_on")
    assert (event["protocol"], event["tested"], event["send_links"]) == (
        "oidc",
        True,
        send,
    )
    visitor = app.test_client()
    assert visitor.get("/sso/okta?org=Acme").status_code == 302


# -- Turning off, switching protocol, moving to another Okta -----------------------


def test_turning_off_shows_who_loses_their_way_in_first(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider, send_links=False)
    make_user(app, org.id, "jit@acme.test", password=None, source="sso")
    make_user(app, org.id, "scim@acme.test", password=None, source="scim")
    make_user(app, org.id, "gone@acme.test", password=None, status="inactive")
    make_user(app, org.id, "local@acme.test")
    owner = owner_of(app, org)
    before = snapshot(app)

    impact = owner.post("/settings/sso", data={"provider": "none"})

    assert impact.status_code == 200
    assert snapshot(app) == before
    assert sso_config(app, org.id)["provider"] == "okta"  # type: ignore[index]
    warning = text_of(impact.text, "stranded-warning")
    assert "2 members will have no way to sign in" in warning
    stranded = re.search(r'id="stranded">(.*?)</table>', impact.text, re.S)
    assert stranded is not None
    assert re.findall(r"<td>([^<]+@[^<]+)</td>", stranded.group(1)) == [
        "jit@acme.test",
        "scim@acme.test",
    ]
    confirmed = owner.post("/settings/sso", data={"provider": "none", "confirm": "yes"})
    assert confirmed.status_code == 302
    assert sso_config(app, org.id)["provider"] == "none"  # type: ignore[index]
    assert app.test_client().get("/sso/okta?org=Acme").status_code == 404


def test_the_settings_drop_down_s_turn_off_page_confirms_when_clicked(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    """Settings' drop-down form posts an empty `confirm` (its hidden field): the
    page it gets must still carry confirm=yes, or its button never turns off."""
    connect_okta(app, org, provider, send_links=False)
    owner = owner_of(app, org)

    impact = owner.post("/settings/sso", data={"provider": "none", "confirm": ""})

    assert impact.status_code == 200
    assert re.search(r'name="confirm"[^>]*value="yes"', impact.text), impact.text
    assert sso_config(app, org.id)["provider"] == "okta"  # type: ignore[index]


def test_switching_protocol_keeps_the_other_protocols_settings(
    saml_app: Flask, idp: SamlIdp, provider: str
) -> None:
    app = saml_app
    org = make_org(app)
    connect_okta(app, org, provider, send_links=False)
    okta_user(provider, "00u-olga", "olga@acme.test")
    olga = app.test_client()
    answer = through_provider(start_sign_in(olga), "00u-olga", SAML_BASE)
    assert olga.get(answer).status_code == 302
    oidc = {
        key: value
        for key, value in (sso_config(app, org.id) or {}).items()
        if key.startswith("oidc_")
    }
    owner = owner_of(app, org)

    assert connect(app, org, idp, client=owner).status_code == 302
    assert saml_test_sign_in(owner, idp).status_code == 302

    config = sso_config(app, org.id) or {}
    assert (config["provider"], config["protocol"]) == ("okta", "oidc")  # still OIDC
    assert {key: config[key] for key in oidc} == oidc
    preview = owner.post("/settings/okta/on", data={"protocol": "saml"})
    assert preview.status_code == 200
    assert "1 member linked over OIDC" in text_of(preview.text, "switch-warning")
    assert turn_on_for_everyone(owner, "saml", send_links=False).status_code == 302
    config = sso_config(app, org.id) or {}
    assert (config["provider"], config["protocol"]) == ("okta", "saml")
    assert {key: config[key] for key in oidc} == oidc
    page = owner.get("/settings/okta?protocol=oidc").text
    assert CLIENT_ID in page and discovery(provider) in page
    assert "Client secret saved" in page


def test_moving_live_sign_in_to_another_okta_asks_first(
    app: Flask, org: OrgInfo, provider: str, hostile: Any
) -> None:
    connect_okta(app, org, provider, send_links=False)
    owner = owner_of(app, org)
    before = snapshot(app)

    asked = save_oidc(owner, hostile.base)

    assert asked.status_code == 200
    assert snapshot(app) == before
    assert hostile.base in text_of(asked.text, "move-impact")
    assert 'name="confirm" value="yes"' in asked.text
    assert CLIENT_SECRET not in asked.text
    assert "Client secret kept" in asked.text
    # Confirmed (the kept secret is used): members move to the new Okta.
    confirmed = owner.post(
        "/settings/okta",
        data=okta_form(
            discovery(hostile.base), client_secret="", confirm="yes", send_links="no"
        ),
    )
    assert confirmed.status_code == 302, confirmed.text
    config = sso_config(app, org.id) or {}
    assert (config["provider"], config["oidc_issuer"]) == ("okta", hostile.base)
    with app.app_context():
        assert decrypt_secret(config["oidc_client_secret_enc"]) == CLIENT_SECRET


# -- the form: every error at once, the secret never in the page -------------------


def test_every_error_is_shown_at_once_at_its_field(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner = owner_of(app, org)
    before = snapshot(app)

    response = owner.post(
        "/settings/okta",
        data=okta_form("http://127.0.0.1:9/nothing", client_id="", client_secret=""),
    )

    assert response.status_code == 400
    assert snapshot(app) == before
    page = response.text
    for field, message in (
        ("client_id", "Enter the client ID"),
        ("client_secret", "Enter the client secret"),
        ("metadata_url", "metadata"),
    ):
        assert message in text_of(page, f"{field}-error"), field
        tag = re.search(rf'<input[^>]*id="{field}"[^>]*>', page)
        assert tag is not None, field
        assert f"{field}-error" in tag.group(0) and 'aria-invalid="true"' in tag.group(
            0
        )
    focused = re.findall(r"<input[^>]*autofocus[^>]*>", page)
    assert len(focused) == 1 and 'id="client_id"' in focused[0]


def test_a_typed_secret_survives_an_error_but_never_reaches_the_page(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner = owner_of(app, org)
    typed = "typed-secret-from-okta-0123456789"

    refused = owner.post("/settings/okta", data=okta_form("nope", client_secret=typed))

    assert refused.status_code == 400
    assert typed not in refused.text
    assert "Client secret kept (not saved yet)" in refused.text
    with owner.session_transaction() as session:
        assert typed not in repr(dict(session))  # encrypted in the session
    assert sso_config(app, org.id) is None or not (sso_config(app, org.id) or {}).get(
        "oidc_client_secret_enc"
    )
    saved = save_oidc(owner, provider, client_secret="")
    assert saved.status_code == 302, saved.text
    config = sso_config(app, org.id) or {}
    with app.app_context():
        assert decrypt_secret(config["oidc_client_secret_enc"]) == typed
    page = owner.get("/settings/okta?protocol=oidc").text
    assert typed not in page and "Client secret saved" in page


def test_the_page_shows_only_the_chosen_protocol(app: Flask, org: OrgInfo) -> None:
    owner = owner_of(app, org)

    oidc = owner.get("/settings/okta?protocol=oidc").text
    saml = owner.get("/settings/okta?protocol=saml").text

    assert 'id="redirect-url"' in oidc and 'id="acs-url"' not in oidc
    assert 'name="client_id"' in oidc and 'name="saml_metadata_url"' not in oidc
    assert 'id="acs-url"' in saml and 'id="redirect-url"' not in saml
    assert 'name="saml_metadata_url"' in saml and 'name="client_id"' not in saml
    for copy in ("acs-url", "audience", "name-id-format", "app-username"):
        assert f'data-copy="{copy}"' in saml, copy
    for name in ("firstName", "lastName", "email"):
        assert f'data-copy="attr-{name}"' in saml, name
    assert "<h1>Okta authentication</h1>" in oidc


# -- the command line ---------------------------------------------------------------


def test_cli_save_only_leaves_members_alone_and_disable_names_the_stranded(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    runner = app.test_cli_runner()
    args = ["sso", "set-oidc", "--org", "Acme", "--client-id", CLIENT_ID]
    args += ["--client-secret", CLIENT_SECRET, "--metadata-url", discovery(provider)]

    saved = runner.invoke(args=[*args, "--save-only"])

    assert saved.exit_code == 0, saved.output
    assert "is not on for members" in saved.output
    assert sso_config(app, org.id)["provider"] == "none"  # type: ignore[index]
    turned_on = runner.invoke(args=[*args, "--no-email"])
    assert turned_on.exit_code == 0, turned_on.output
    assert "Okta sign-in is on for everyone (OIDC)." in turned_on.output
    assert events(app, "okta.link_email_sent") == []
    make_user(app, org.id, "jit@acme.test", password=None, source="sso")
    off = runner.invoke(args=["sso", "disable", "--org", "Acme"])
    assert off.exit_code == 0, off.output
    assert "1 active member(s) have no Gatehouse password" in off.output
    assert "jit@acme.test" in off.output
    help_text = runner.invoke(args=["sso", "set-oidc", "--help"]).output
    assert "turn it on for everyone" in " ".join(help_text.split())
    assert "--save-only" in help_text and "--no-email" in help_text


# -- authority ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "allowed"),
    [
        (Actor("user", "member", 1, 9), False),
        (Actor("user", "admin", 1, 9), True),
        (Actor("user", "owner", 1, 9), True),
        (Actor("key", "owner", 1), True),
        (Actor.command_line(), False),
    ],
    ids=["member", "admin", "owner", "owner-level key", "command line"],
)
def test_who_may_test_okta_sign_in(actor: Actor, allowed: bool) -> None:
    assert (sso_test_problem(actor) is None) is allowed


# -- one journey in a real browser, CSRF on --------------------------------------


@pytest.mark.browser
def test_save_test_turn_on_then_off_in_a_browser(
    live_app: Flask, browser: Browser, provider: str
) -> None:
    """Save → Test sign-in with Okta → Turn on for everyone (the preview, the
    choice to send), then Turn off with its warning; at 1280×800, CSRF on."""
    org = make_org(live_app)
    make_user(live_app, org.id, "jo@acme.test", password=None, source="sso")
    okta_user(provider, TEST_SUB, "owner@acme.test", given_name="Olive")
    with serve(live_app, set_public_base_url=True) as base:
        context = browser.new_context(
            base_url=base, viewport={"width": 1280, "height": 800}
        )
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Email").fill(org.owner_email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto("/settings/okta?protocol=oidc")
        page.get_by_label("Client ID").fill(CLIENT_ID)
        page.get_by_label("Client secret").fill(CLIENT_SECRET)
        page.get_by_label("OpenID Provider metadata URL").fill(discovery(provider))
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".flash-success")).to_contain_text("Nothing changed")
        expect(page.locator("#turn-on-button")).to_be_disabled()

        page.get_by_role("button", name="Test sign-in with Okta").click()
        page.get_by_placeholder("sub").fill(TEST_SUB)
        page.get_by_role("button", name="Authorize").click()
        expect(page.locator("#test-finished")).to_contain_text("passed")
        expect(page.locator("#test-given-name")).to_have_text("Olive")
        expect(page.locator("#sso-state")).to_have_text("Off")

        page.get_by_role("button", name="Turn on for everyone…").click()
        expect(page.locator("#to-email-count")).to_contain_text("2 active members")
        expect(page.locator("#to-email")).to_contain_text("jo@acme.test")
        page.get_by_label("Don't send it now").check()
        page.get_by_role("button", name="Turn on for everyone").click()
        expect(page.locator(".flash-success")).to_contain_text(
            "Okta sign-in is on for everyone (OIDC). No link email was sent"
        )
        expect(page.locator("#sso-state")).to_have_text("On")
        assert outbox(live_app) == []

        page.get_by_role("button", name="Turn off…").click()
        expect(page.locator("#stranded-warning")).to_contain_text(
            "1 member will have no way to sign in"
        )
        expect(page.locator("#stranded")).to_contain_text("jo@acme.test")
        page.get_by_role("button", name="Turn off Okta sign-in").click()
        expect(page.locator(".flash-success")).to_contain_text(
            "Okta single sign-on is off"
        )
        assert sso_config(live_app, org.id)["provider"] == "none"  # type: ignore[index]
        # The same signed-in browser, but a POST without the form's CSRF token.
        forged = context.request.post(
            f"{base}/settings/okta/on",
            form={"protocol": "oidc", "confirm": "yes", "send_links": "yes"},
        )
        assert forged.status == 400
        assert sso_config(live_app, org.id)["provider"] == "none"  # type: ignore[index]
        context.close()
