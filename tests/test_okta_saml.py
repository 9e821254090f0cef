"""Okta sign-in over SAML 2.0, end to end against a real IdP on 127.0.0.1.

`tests.support.saml_idp.SamlIdp` (pysaml2 acting as the IdP, signing with its own
RSA key through xmlsec1) stands in for Okta: it serves its metadata over HTTP,
reads the AuthnRequests Gatehouse sends and answers with signed responses. The browser
is Flask's test client; the IdP's form reaches the ACS cross-site, as Okta's
does, with only the SameSite=None cookie (`tests.support.saml.post_from_okta`).
The hostile responses are in test_okta_saml_hostile.py.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from flask import request
from lxml import etree

from blueprints.okta_saml.flow import BROWSER_COOKIE
from core.extensions import db
from core.models import SamlAssertionSeen
from core.models import SamlRequest
from tests.support.builders import OrgInfo
from tests.support.builders import make_app
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.live import serve
from tests.support.mail import Mailbox
from tests.support.mail import smtp_settings
from tests.support.rows import assert_nobody_signed_in
from tests.support.rows import events
from tests.support.rows import identities
from tests.support.rows import signed_in_user_id
from tests.support.rows import snapshot
from tests.support.rows import sso_config
from tests.support.rows import user_row
from tests.support.saml import ACS_PATH
from tests.support.saml import ACS_URL
from tests.support.saml import NAMEID_EMAIL
from tests.support.saml import PUBLIC_BASE_URL
from tests.support.saml import connect
from tests.support.saml import connected
from tests.support.saml import owner
from tests.support.saml import pending_requests
from tests.support.saml import post_from_okta
from tests.support.saml import refusals
from tests.support.saml import saml_sign_in
from tests.support.saml import saml_successes
from tests.support.saml import start
from tests.support.saml_idp import SamlIdp
from tests.support.saml_xml import STATUS_REQUEST_DENIED
from tests.support.saml_xml import STATUS_RESPONDER

pytestmark = pytest.mark.usefixtures("quick_passwords")
N_AT_ONCE = 8


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """An app whose public address is PUBLIC_BASE_URL (the SP entity ID)."""
    app = make_app(tmp_path, PUBLIC_BASE_URL=PUBLIC_BASE_URL)
    yield app
    with app.app_context():
        db.engine.dispose()


def fingerprint(cert_b64: str) -> str:
    """SHA-256 fingerprint as the settings page writes it."""
    digest = hashlib.sha256(base64.b64decode(cert_b64)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def short_lived_cert(days: int) -> str:
    """A self-signed certificate (base64 DER) that expires in `days` days."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expiring")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=300))
        .not_valid_after(now + timedelta(days=days, hours=12))
        .sign(key, hashes.SHA256())
    )
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


# -- OKTA AUTHENTICATION with SAML -----------------------------------------------


def test_save_with_saml_stores_the_idp_and_shows_its_certificate(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    """Save stores the IdP's settings (not on for members yet: see
    tests/test_sso_rollout.py for test sign-in and turning on)."""
    admin = owner(app, org)
    response = connect(app, org, idp, default_role="admin", client=admin)
    assert response.status_code == 302
    assert response.headers["Location"] == "/settings/okta?protocol=saml"
    config = sso_config(app, org.id)
    assert config is not None
    assert config["provider"] == "none" and config["protocol"] == "saml"
    assert config["default_role"] == "admin"
    assert config["saml_entity_id"] == idp.entity_id
    assert config["saml_sso_url"] == idp.sso_url
    assert config["saml_certificates"] == [idp.cert_b64]
    assert config["saml_metadata_url"] == idp.metadata_url
    assert config["idp_initiated_enabled"] is True

    page = admin.get("/settings/okta?protocol=saml").text
    assert "The SAML settings are saved. Nothing changed for members" in page
    assert idp.entity_id in page and idp.sso_url in page
    assert fingerprint(idp.cert_b64) in page
    expires = idp.signing_key.certificate.not_valid_after_utc.strftime("%Y-%m-%d")
    assert expires in page
    assert 'id="cert-warning"' not in page
    assert ACS_URL in page and PUBLIC_BASE_URL + "/saml/metadata" in page
    assert 'aria-current="page">SAML</a>' in page  # the chosen protocol
    assert [e["protocol"] for e in events(app, "settings.okta_configured")] == ["saml"]


@pytest.mark.parametrize(
    ("served", "message"),
    [
        (
            {"include_signing_cert": False},
            "The metadata has no signing certificate",
        ),
        (
            {"binding_redirect": False},
            "The metadata has no sign-on URL for the HTTP-Redirect binding",
        ),
        (
            b"<html><body>Okta Admin Console</body></html>",
            "does not describe a SAML identity provider",
        ),
        (b"not xml at all", "did not return SAML metadata"),
        (
            b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x "boom">]>'
            b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'
            b' entityID="&x;"/>',
            "did not return SAML metadata",
        ),
        (
            b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'
            b' entityID="http://sp.example"><md:SPSSODescriptor'
            b' protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/>'
            b"</md:EntityDescriptor>",
            "does not describe a SAML identity provider",
        ),
        (404, "The metadata URL answered HTTP 404"),
    ],
)
def test_unusable_metadata_is_explained_and_nothing_is_saved(
    app: Flask, org: OrgInfo, idp: SamlIdp, served: Any, message: str
) -> None:
    if isinstance(served, dict):
        idp.metadata_options = served
    elif isinstance(served, int):
        idp.metadata_status = served
    else:
        idp.served_metadata = served
    admin = owner(app, org)
    before = snapshot(app)
    response = connect(app, org, idp, client=admin)
    assert response.status_code == 400
    assert message in response.text
    assert snapshot(app) == before


def test_metadata_asking_for_signed_requests_is_refused(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    document = idp.metadata_xml().replace(
        b'WantAuthnRequestsSigned="false"', b'WantAuthnRequestsSigned="true"'
    )
    assert b'WantAuthnRequestsSigned="true"' in document
    idp.served_metadata = document
    admin = owner(app, org)
    before = snapshot(app)
    response = connect(app, org, idp, client=admin)
    assert response.status_code == 400
    assert "turn off" in response.text and "Signed Requests" in response.text
    assert snapshot(app) == before


def test_plain_http_metadata_is_refused_without_the_loopback_switch(
    tmp_path: Path, idp: SamlIdp
) -> None:
    strict = make_app(
        tmp_path / "strict",
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        OKTA_ALLOW_INSECURE_LOOPBACK=False,
    )
    org = make_org(strict)
    admin = owner(strict, org)
    before = snapshot(strict)
    response = connect(strict, org, idp, client=admin)
    assert response.status_code == 400
    assert "The metadata URL must use https://." in response.text
    assert idp.metadata_fetches == 0
    assert snapshot(strict) == before


def test_one_okta_app_cannot_serve_two_organizations(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    connected(app, org, idp)
    other = make_org(app, "Beta")
    admin = owner(app, other)
    was = snapshot(app)
    response = connect(app, other, idp, client=admin)
    assert response.status_code == 400
    assert "already connected to another Gatehouse organization" in response.text
    assert snapshot(app) == was
    assert sso_config(app, other.id) is None


def test_a_certificate_expiring_within_30_days_is_flagged(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    expiring = short_lived_cert(10)
    idp.metadata_options = {"extra_certs": [expiring]}
    connected(app, org, idp)
    assert sso_config(app, org.id)["saml_certificates"] == [idp.cert_b64, expiring]
    page = owner(app, org).get("/settings/okta").text
    assert 'id="cert-warning"' in page
    assert "expires in 10 days" in page
    assert fingerprint(expiring) in page and fingerprint(idp.cert_b64) in page
    settings = owner(app, org).get("/settings").text
    assert settings.count('class="notice cert-expiring"') == 1
    assert "expires in 10 days" in settings
    assert fingerprint(expiring)[:23] in settings


def test_no_certificate_warning_when_all_are_far_from_expiry(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    connected(app, org, idp)
    assert "cert-expiring" not in owner(app, org).get("/settings").text


def test_refresh_metadata_picks_up_a_rotated_key(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    connected(app, org, idp)
    old_key = idp.signing_key
    idp.rotate_key()  # metadata now lists the new key and the old one
    idp.finish_rotation()  # ...and then only the new one
    browser = app.test_client()
    response = saml_sign_in(browser, idp)
    assert response.status_code == 403
    assert "click Refresh metadata" in response.text
    assert_nobody_signed_in(app, browser)
    assert refusals(app)[-1]["failure"] == "signature"

    admin = owner(app, org)
    response = admin.post("/settings/okta/refresh")
    assert response.status_code == 302
    page = admin.get("/settings/okta").text
    assert "Okta&#39;s signing certificates changed" in page
    assert fingerprint(idp.cert_b64) in page
    assert fingerprint(old_key.cert_b64) not in page
    assert events(app, "settings.okta_metadata_refreshed")[-1]["certificates_changed"]

    response = saml_sign_in(browser, idp)
    assert response.status_code == 302, response.text
    assert signed_in_user_id(app, browser) is not None


def test_both_certificates_are_trusted_while_a_rotation_is_in_progress(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    old_key = idp.signing_key
    idp.rotate_key()
    connected(app, org, idp)
    assert len(sso_config(app, org.id)["saml_certificates"]) == 2
    for key in (idp.signing_key, old_key):
        browser = app.test_client()
        response = saml_sign_in(browser, idp, signing_key=key)
        assert response.status_code == 302, response.text
        assert signed_in_user_id(app, browser) is not None


def test_a_failed_refresh_keeps_the_saved_settings(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    connected(app, org, idp)
    before = sso_config(app, org.id)
    idp.metadata_options = {"include_signing_cert": False}
    admin = owner(app, org)
    response = admin.post("/settings/okta/refresh")
    assert response.status_code == 302
    page = admin.get("/settings/okta").text
    assert "The metadata was not refreshed" in page
    assert "no signing certificate" in page
    assert sso_config(app, org.id) == before


def test_the_sp_metadata_is_downloadable(app: Flask) -> None:
    response = app.test_client().get("/saml/metadata")
    assert response.status_code == 200
    assert response.mimetype == "application/samlmetadata+xml"
    root = etree.fromstring(response.data)
    ns = {"md": "urn:oasis:names:tc:SAML:2.0:metadata"}
    assert root.get("entityID") == PUBLIC_BASE_URL
    assert root.get("validUntil") is None
    acs = root.find("md:SPSSODescriptor/md:AssertionConsumerService", ns)
    assert acs is not None and acs.get("Location") == ACS_URL
    assert acs.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    nameid = root.find("md:SPSSODescriptor/md:NameIDFormat", ns)
    assert nameid is not None and nameid.text == NAMEID_EMAIL
    descriptor = root.find("md:SPSSODescriptor", ns)
    assert descriptor is not None
    assert descriptor.get("WantAssertionsSigned") == "true"
    requested = [
        node.get("Name")
        for node in descriptor.iterfind(
            "md:AttributeConsumingService/md:RequestedAttribute", ns
        )
    ]
    assert requested == ["firstName", "lastName", "email"]


# -- SP-initiated sign-in ----------------------------------------------------------


@pytest.mark.parametrize("default_role", ["member", "admin"])
def test_sp_initiated_sign_in_creates_a_new_person_just_in_time(
    app: Flask, org: OrgInfo, idp: SamlIdp, default_role: str
) -> None:
    connected(app, org, idp, default_role=default_role)
    idp.user = {
        "name_id": "grace@acme.test",
        "email": "grace@acme.test",
        "firstName": "Grace",
        "lastName": "Hopper",
    }
    browser = app.test_client()
    location = start(browser)
    assert location.startswith(idp.sso_url + "?SAMLRequest=")

    response = post_from_okta(browser, idp.respond_to(location))

    assert response.status_code == 302, response.text
    assert response.headers["Location"] == "/members"
    received = idp.requests[-1]
    assert received.acs_url in (None, ACS_URL)
    assert received.issuer == PUBLIC_BASE_URL
    assert received.destination == idp.sso_url
    assert received.name_id_format == NAMEID_EMAIL
    assert received.signed is False
    user = user_row(app, org.id, "grace@acme.test")
    assert user is not None
    assert (user["role"], user["source"], user["status"]) == (
        default_role,
        "sso",
        "active",
    )
    assert (user["given_name"], user["family_name"]) == ("Grace", "Hopper")
    assert signed_in_user_id(app, browser) == user["id"]
    assert identities(app) == [
        (org.id, user["id"], "saml", idp.entity_id, "grace@acme.test")
    ]
    assert [e["outcome"] for e in saml_successes(app)] == ["created"]
    assert pending_requests(app) == []
    assert browser.get("/members").status_code == 200


def test_a_linked_person_signs_in_again_without_a_new_account(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    connected(app, org, idp)
    first, second = app.test_client(), app.test_client()
    assert saml_sign_in(first, idp).status_code == 302
    assert saml_sign_in(second, idp).status_code == 302
    assert signed_in_user_id(app, first) == signed_in_user_id(app, second)
    assert [e["outcome"] for e in saml_successes(app)] == ["created", "signed_in"]
    assert len(identities(app)) == 1


def test_next_is_followed_only_to_local_paths(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    connected(app, org, idp)
    for asked, landed in [
        ("/groups", "/groups"),
        ("https://evil.test/phish", "/members"),
        ("//evil.test/phish", "/members"),
    ]:
        browser = app.test_client()
        location = start(browser, next=asked)
        response = post_from_okta(browser, idp.respond_to(location))
        assert response.status_code == 302
        assert response.headers["Location"] == landed, asked


def test_email_falls_back_to_the_name_id_and_names_are_optional(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    connected(app, org, idp)
    browser = app.test_client()
    response = saml_sign_in(browser, idp, name_id="nora@acme.test", attributes={})
    assert response.status_code == 302, response.text
    user = user_row(app, org.id, "nora@acme.test")
    assert user is not None and signed_in_user_id(app, browser) == user["id"]


def test_a_scim_member_is_linked_and_signed_in(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    user_id = make_user(app, org.id, "Ann@Acme.test", source="scim", password=None)
    connected(app, org, idp)
    browser = app.test_client()
    assert saml_sign_in(browser, idp).status_code == 302
    assert signed_in_user_id(app, browser) == user_id
    assert identities(app) == [
        (org.id, user_id, "saml", idp.entity_id, "ann@acme.test")
    ]
    assert [e["outcome"] for e in saml_successes(app)] == ["linked"]


def test_a_local_member_must_confirm_through_the_email_first(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    make_user(app, org.id, "ann@acme.test")
    connected(app, org, idp)
    browser = app.test_client()
    response = saml_sign_in(browser, idp)
    assert response.status_code == 403
    assert "Confirm your account first" in response.text
    assert_nobody_signed_in(app, browser)
    assert identities(app) == []
    assert refusals(app)[-1]["reason"] == "needs_confirmation"


def test_an_inactive_member_is_refused(app: Flask, org: OrgInfo, idp: SamlIdp) -> None:
    make_user(app, org.id, "ann@acme.test", source="scim", status="inactive")
    connected(app, org, idp)
    browser = app.test_client()
    response = saml_sign_in(browser, idp)
    assert response.status_code == 403
    assert "deactivated" in response.text
    assert_nobody_signed_in(app, browser)


def link_path(message: EmailMessage) -> str:
    """The /okta/link/<token> path in a link email."""
    text = str(message.get_body(preferencelist=("plain",)).get_content())
    match = re.search(re.escape(PUBLIC_BASE_URL) + r"(/okta/link/[\w-]+)", text)
    assert match, text
    return match.group(1)


def test_the_emailed_link_binds_the_okta_account_through_saml(
    tmp_path: Path, mailbox: tuple[Mailbox, int], idp: SamlIdp
) -> None:
    inbox, port = mailbox
    app = make_app(
        tmp_path / "mail",
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        **smtp_settings(port),
    )
    org = make_org(app)
    member_id = make_user(app, org.id, "linus@acme.test")
    connected(app, org, idp)
    (message,) = inbox.to("linus@acme.test")
    path = link_path(message)

    browser = app.test_client()
    page = browser.get(path)
    assert page.status_code == 200
    idp_origin = idp.base_url
    assert f"form-action 'self' {idp_origin}" in page.headers["Content-Security-Policy"]
    response = browser.post(path)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(idp.sso_url + "?SAMLRequest=")
    # At Okta the person uses an account whose address differs from Gatehouse's.
    idp.user = {
        "name_id": "l.torvalds@okta-acme.test",
        "email": "l.torvalds@okta-acme.test",
        "firstName": "Linus",
        "lastName": "T",
    }
    response = post_from_okta(browser, idp.respond_to(location))
    assert response.status_code == 302, response.text
    assert signed_in_user_id(app, browser) == member_id
    assert identities(app) == [
        (org.id, member_id, "saml", idp.entity_id, "l.torvalds@okta-acme.test")
    ]
    assert [e["outcome"] for e in saml_successes(app)] == ["linked"]
    assert browser.get(path).status_code == 404  # the link is spent
    with app.app_context():
        db.engine.dispose()


def test_the_okta_form_reaches_the_acs_with_only_the_saml_cookie(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    """Okta's POST is cross-site: the browser's Lax session cookie stays behind
    and only the SameSite=None SAML cookie goes (none, for a dashboard sign-in
    from a fresh browser). The sign-in must work without the session, and the
    session it starts replaces the one the browser had."""
    sent: list[set[str]] = []

    @app.before_request
    def note_cookies() -> None:
        if request.path == ACS_PATH:
            sent.append(set(request.cookies))

    connected(app, org, idp)
    sent.clear()  # the owner's test sign-in went the same way
    browser = owner(app, org)
    assert browser.get_cookie(app.config["SESSION_COOKIE_NAME"]) is not None
    response = saml_sign_in(browser, idp)
    assert response.status_code == 302, response.text
    assert sent == [{BROWSER_COOKIE}]
    ann = user_row(app, org.id, "ann@acme.test")
    assert ann is not None and signed_in_user_id(app, browser) == ann["id"]
    assert browser.get(response.headers["Location"]).status_code == 200

    dashboard = app.test_client()
    assert post_from_okta(dashboard, idp.unsolicited()).status_code == 302
    assert sent[-1] == set()
    assert signed_in_user_id(app, dashboard) == ann["id"]


# -- Okta dashboard (IdP-initiated) ------------------------------------------------


def test_dashboard_sign_in_finds_the_organization_from_the_issuer(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    connected(app, org, idp)
    make_org(app, "Beta")
    browser = app.test_client()
    response = post_from_okta(browser, idp.unsolicited())
    assert response.status_code == 302, response.text
    assert response.headers["Location"] == "/members"
    user = user_row(app, org.id, "ann@acme.test")
    assert user is not None and signed_in_user_id(app, browser) == user["id"]


@pytest.mark.parametrize(
    ("relay_state", "landed"),
    [
        ("/groups", "/groups"),
        ("https://evil.test/", "/members"),
        ("//evil.test/", "/members"),
        ("javascript:alert(1)", "/members"),
    ],
)
def test_dashboard_relay_state_is_followed_only_to_local_paths(
    app: Flask, org: OrgInfo, idp: SamlIdp, relay_state: str, landed: str
) -> None:
    connected(app, org, idp)
    response = post_from_okta(
        app.test_client(), idp.unsolicited(relay_state=relay_state)
    )
    assert response.status_code == 302
    assert response.headers["Location"] == landed


def test_dashboard_sign_in_can_be_switched_off(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    connected(app, org, idp)
    admin = owner(app, org)
    assert admin.post("/settings/okta/dashboard", data={}).status_code == 302
    assert sso_config(app, org.id)["idp_initiated_enabled"] is False
    assert (
        "Sign-in from the Okta dashboard is switched off."
        in admin.get("/settings/okta").text
    )

    browser = app.test_client()
    response = post_from_okta(browser, idp.unsolicited())
    assert response.status_code == 403
    assert "switched off for your organization" in response.text
    assert_nobody_signed_in(app, browser)
    assert user_row(app, org.id, "ann@acme.test") is None
    # SP-initiated sign-in still works.
    assert saml_sign_in(browser, idp).status_code == 302

    response = admin.post("/settings/okta/dashboard", data={"enabled": "y"})
    assert response.status_code == 302
    assert sso_config(app, org.id)["idp_initiated_enabled"] is True


# -- refusals that are not attacks ---------------------------------------------


def test_okta_refusing_the_person_says_to_ask_for_an_assignment(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    connected(app, org, idp)
    browser = app.test_client()
    response = saml_sign_in(
        browser, idp, status=STATUS_RESPONDER, sub_status=STATUS_REQUEST_DENIED
    )
    assert response.status_code == 403
    assert "not assigned to the Gatehouse app in Okta" in response.text
    assert_nobody_signed_in(app, browser)
    refusal = refusals(app)[-1]
    assert refusal["failure"] == "denied"
    assert "RequestDenied" in refusal["reason"]


def test_settings_changed_while_at_okta_means_start_again(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    connected(app, org, idp)
    browser = app.test_client()
    location = start(browser)
    admin = owner(app, org)
    idp.rotate_key()
    assert admin.post("/settings/okta/refresh").status_code == 302
    response = post_from_okta(browser, idp.respond_to(location))
    assert response.status_code == 403
    assert "Okta settings changed" in response.text
    assert_nobody_signed_in(app, browser)


def test_a_refresh_that_changes_nothing_leaves_sign_ins_in_progress_alone(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    connected(app, org, idp)
    version = sso_config(app, org.id)["version"]
    browser = app.test_client()
    location = start(browser)
    assert owner(app, org).post("/settings/okta/refresh").status_code == 302
    assert sso_config(app, org.id)["version"] == version
    response = post_from_okta(browser, idp.respond_to(location))
    assert response.status_code == 302, response.text
    assert signed_in_user_id(app, browser) is not None


def test_an_answer_to_an_expired_request_is_refused(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    connected(app, org, idp)
    browser = app.test_client()
    location = start(browser)
    with app.app_context():
        db.session.execute(
            db.update(SamlRequest).values(
                expires_at=datetime.now(UTC) - timedelta(seconds=1)
            )
        )
        db.session.commit()
    response = post_from_okta(browser, idp.respond_to(location))
    assert response.status_code == 400
    assert "expired or was already used" in response.text
    assert_nobody_signed_in(app, browser)


def test_sign_in_stops_when_okta_is_switched_off(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    connected(app, org, idp)
    browser = app.test_client()
    location = start(browser)
    admin = owner(app, org)
    response = admin.post("/settings/sso", data={"provider": "none", "confirm": "yes"})
    assert response.status_code == 302
    response = post_from_okta(browser, idp.respond_to(location))
    assert response.status_code == 403
    assert_nobody_signed_in(app, browser)
    response = post_from_okta(browser, idp.unsolicited())
    assert response.status_code == 403
    assert_nobody_signed_in(app, browser)


def test_the_replay_cache_forgets_assertions_only_after_they_expire(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    connected(app, org, idp)
    assert saml_sign_in(app.test_client(), idp).status_code == 302
    with app.app_context():
        # The owner's test sign-in's assertion and the sign-in's.
        rows = list(db.session.execute(db.select(SamlAssertionSeen)).scalars())
        assert len(rows) == 2
        for row in rows:
            # The assertion lives 300 s (+ 300 s skew) at the test IdP.
            assert row.expires_at > datetime.now(UTC) + timedelta(seconds=500)


# -- command line ------------------------------------------------------------------


def test_cli_set_saml_and_refresh_metadata(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "sso",
            "set-saml",
            "--org",
            "Acme",
            "--metadata-url",
            idp.metadata_url,
            "--default-role",
            "admin",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Okta SAML sign-in is configured for 'Acme'." in result.output
    assert fingerprint(idp.cert_b64) in result.output
    config = sso_config(app, org.id)
    assert config is not None and config["protocol"] == "saml"
    assert config["default_role"] == "admin"

    result = runner.invoke(args=["sso", "refresh-metadata", "--org", "Acme"])
    assert result.exit_code == 0, result.output
    assert "signing certificates unchanged." in result.output

    idp.rotate_key()
    result = runner.invoke(args=["sso", "refresh-metadata", "--org", "Acme"])
    assert result.exit_code == 0, result.output
    assert "signing certificates changed." in result.output
    assert len(sso_config(app, org.id)["saml_certificates"]) == 2


def test_cli_refuses_bad_input_and_changes_nothing(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    runner = app.test_cli_runner()
    before = snapshot(app)
    result = runner.invoke(
        args=["sso", "set-saml", "--org", "Nope", "--metadata-url", idp.metadata_url]
    )
    assert result.exit_code == 1 and "No organization named 'Nope'" in result.output
    idp.metadata_options = {"include_signing_cert": False}
    result = runner.invoke(
        args=["sso", "set-saml", "--org", "Acme", "--metadata-url", idp.metadata_url]
    )
    assert result.exit_code == 1 and "no signing certificate" in result.output
    result = runner.invoke(args=["sso", "refresh-metadata", "--org", "Acme"])
    assert result.exit_code == 1 and "not set up" in result.output
    app.config["PUBLIC_BASE_URL"] = ""
    result = runner.invoke(
        args=["sso", "set-saml", "--org", "Acme", "--metadata-url", idp.metadata_url]
    )
    assert result.exit_code == 1 and "public address first" in result.output
    assert snapshot(app) == before


def test_the_authn_request_travels_deflated_in_the_query(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    connected(app, org, idp)
    location = start(app.test_client())
    query = parse_qs(urlsplit(location).query)
    assert set(query) == {"SAMLRequest"}
    (request_id,) = pending_requests(app)
    assert idp.receive_redirect(location).id == request_id


# -- several workers -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sp-initiated", "dashboard"])
def test_one_response_posted_at_once_to_a_threaded_server_signs_in_once(
    app: Flask, org: OrgInfo, idp: SamlIdp, kind: str
) -> None:
    connected(app, org, idp)
    victim_id = make_user(app, org.id, "ann@acme.test", source="scim", password=None)
    cookies: dict[str, str] = {}
    if kind == "sp-initiated":
        browser = app.test_client()
        fields = idp.respond_to(start(browser))
        cookie = browser.get_cookie(BROWSER_COOKIE, path="/")
        assert cookie is not None
        cookies[BROWSER_COOKIE] = cookie.value
    else:
        fields = idp.unsolicited()
    barrier = threading.Barrier(N_AT_ONCE)

    def post(base: str) -> tuple[int, str]:
        barrier.wait(timeout=10)
        response = requests.post(
            base + ACS_PATH,
            data=fields,
            cookies=cookies,
            allow_redirects=False,
            timeout=30,
        )
        return response.status_code, response.headers.get("Location", "")

    with serve(app) as base, ThreadPoolExecutor(N_AT_ONCE) as pool:
        answers = list(pool.map(post, [base] * N_AT_ONCE))

    assert sorted(status for status, _ in answers) == [302] + [400] * (N_AT_ONCE - 1)
    assert [location for status, location in answers if status == 302] == ["/members"]
    assert [e["outcome"] for e in saml_successes(app)] == ["linked"]
    assert identities(app) == [
        (org.id, victim_id, "saml", idp.entity_id, "ann@acme.test")
    ]
    assert len(refusals(app)) == N_AT_ONCE - 1


def test_a_new_persons_first_sign_ins_at_once_make_one_account(
    app: Flask, org: OrgInfo, idp: SamlIdp
) -> None:
    """Several tiles clicked at once: different assertions, one new person."""
    connected(app, org, idp)
    answers = [idp.unsolicited() for _ in range(N_AT_ONCE)]
    barrier = threading.Barrier(N_AT_ONCE)

    def post(fields: dict[str, str]) -> int:
        barrier.wait(timeout=10)
        response = requests.post(
            base + ACS_PATH, data=fields, allow_redirects=False, timeout=30
        )
        return response.status_code

    with serve(app) as base, ThreadPoolExecutor(N_AT_ONCE) as pool:
        statuses = list(pool.map(post, answers))

    assert statuses == [302] * N_AT_ONCE
    user = user_row(app, org.id, "ann@acme.test")
    assert user is not None
    assert identities(app) == [
        (org.id, user["id"], "saml", idp.entity_id, "ann@acme.test")
    ]
    outcomes = sorted(e["outcome"] for e in saml_successes(app))
    assert outcomes == ["created"] + ["signed_in"] * (N_AT_ONCE - 1)
