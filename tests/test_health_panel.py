"""The health panel on Settings and OKTA AUTHENTICATION (core/health.py).

A refused Okta sign-in (through the real OpenID provider) shows a reference on
its page, and the panel shows the reason and that reference, linked to the
audit log's search; SCIM 401s of a revoked key and of a key sent with the
wrong scheme are counted for the key's organization (never for another), and
a flood of them stays a few rows; the panel costs a fixed number of statements
whatever the number of rows; and in chromium, at 1280 and 390 pixels wide, it
never overflows the page.
"""

from __future__ import annotations

import base64
import datetime
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser
from playwright.sync_api import Page
from playwright.sync_api import expect

from core import health
from core.extensions import db
from core.models import ApiKey
from core.models import AuditEvent
from core.models import Organization
from core.models import ScimRequest
from core.models import SsoConfig
from core.models import User
from core.models import utcnow
from core.provisioning import api_keys
from core.provisioning import users
from tests.support.builders import OrgInfo
from tests.support.builders import make_app
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import scim_key
from tests.support.builders import sign_in
from tests.support.live import screenshot
from tests.support.live import serve
from tests.support.oidc import at_provider
from tests.support.oidc import connect_okta
from tests.support.oidc import okta_user
from tests.support.oidc import start
from tests.support.rows import events
from tests.support.saml import ACS_URL
from tests.support.saml import PUBLIC_BASE_URL as SAML_BASE_URL
from tests.support.saml import connected
from tests.support.saml import saml_sign_in
from tests.support.saml_idp import SamlIdp
from tests.support.saml_xml import STATUS_REQUEST_DENIED
from tests.support.saml_xml import STATUS_RESPONDER
from tests.support.scim import SCIM
from tests.support.sql import statements

pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")

REFERENCE = re.compile(r'id="reference-code">([0-9a-z-]+)<')
PANEL_PAGES = ("/settings", "/settings/okta")


def reference_on(page_html: str) -> str:
    """The reference a refusal page shows."""
    match = REFERENCE.search(page_html)
    assert match, page_html
    return match.group(1)


def panel(client: FlaskClient, path: str = "/settings") -> str:
    """The health panel's HTML on `path`."""
    response = client.get(path)
    assert response.status_code == 200, response.text
    match = re.search(r'<section class="card health".*?</section>', response.text, re.S)
    assert match, response.text
    return match.group(0)


def owner_of(app: Flask, org: OrgInfo) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, org.owner_email).status_code == 302
    return client


def revoked_key(app: Flask, org: OrgInfo, name: str = "old okta") -> str:
    """The secret of a scim key of `org` that its owner revoked."""
    with app.app_context():
        organization = db.session.get(Organization, org.id)
        owner = db.session.get(User, org.owner_id)
        assert organization is not None and owner is not None
        key, secret = api_keys.create_api_key(
            organization, name=name, scopes=["scim"], actor="cli"
        )
        api_keys.revoke_api_key(key, actor=owner)
        return secret


def scim_get(client: FlaskClient, authorization: str | None) -> int:
    headers = {} if authorization is None else {"Authorization": authorization}
    return client.get(SCIM + "/Users", headers=headers).status_code


def unauthorized_rows(app: Flask) -> list[dict[str, Any]]:
    with app.app_context():
        rows = db.session.execute(
            db.select(AuditEvent).filter_by(kind=health.SCIM_UNAUTHORIZED)
        ).scalars()
        return [
            {
                "org": row.organization_id,
                "count": row.repeat_count,
                "reason": row.details["reason"],
            }
            for row in rows
        ]


# -- refusals and their references ---------------------------------------------


def test_the_panel_shows_only_okta_error_codes_okta_sends(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    """Anyone can send any `error` to /okta/callback: the panel names the codes
    Okta sends and no other text; the audit row keeps what was sent."""
    connect_okta(app, org, provider)
    owner = owner_of(app, org)
    sent = "call_support_at_555_0100_now"
    for error, shown in (
        ("consent_required", "Okta returned consent required"),
        (sent, "Okta returned an unrecognised error"),
    ):
        person = app.test_client()
        state = parse_qs(urlsplit(start(person)).query)["state"][0]
        answer = person.get(
            "/okta/callback", query_string={"error": error, "state": state}
        )
        assert answer.status_code == 403
        html = panel(owner)
        assert shown in html
    assert "555" not in html and "support" not in html
    assert events(app, "sign_in.refused")[-1]["reason"] == f"Okta returned {sent}"


def test_a_refused_okta_sign_in_shows_a_reference_that_the_panel_shows_and_links(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider)
    other = make_org(app, "Globex")
    okta_user(provider, "00u-alice", "alice@acme.test")
    person = app.test_client()

    page = person.get(at_provider(start(person), "00u-alice", action="deny"))

    assert page.status_code == 403
    reference = reference_on(page.text)
    assert re.fullmatch(r"\d{4}-okta-access-denied-[2-9a-z]{4}", reference)
    (refusal,) = events(app, "sign_in.refused")
    assert refusal["reference"] == reference
    owner = owner_of(app, org)
    for path in PANEL_PAGES:
        html = panel(owner, path)
        assert "Okta returned access denied" in html
        assert f'<code id="health-reference">{reference}</code>' in html
        assert f'href="/audit?q={reference}"' in html
    # Refused again in the same window: the counted row keeps its reference,
    # and the page shows that one, so it still finds the row.
    again = person.get(at_provider(start(person), "00u-alice", action="deny"))
    assert reference_on(again.text) == reference
    assert "2 times" in panel(owner)
    # Another organization's panel knows nothing of it.
    assert reference not in panel(owner_of(app, other))
    assert "health-reference" not in panel(owner_of(app, other))


def test_a_verified_refusal_gets_its_own_reference(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-bob", "bob@acme.test", email_verified=False)
    person = app.test_client()

    page = person.get(at_provider(start(person), "00u-bob"))

    assert page.status_code == 403
    reference = reference_on(page.text)
    assert "-email-unverified-" in reference
    assert events(app, "sign_in.refused")[-1]["reference"] == reference
    html = panel(owner_of(app, org), "/settings/okta")
    assert "email unverified" in html and reference in html


def test_a_refused_saml_sign_in_has_a_reference_naming_its_failure(
    tmp_path: Path,
) -> None:
    app = make_app(tmp_path, PUBLIC_BASE_URL=SAML_BASE_URL)
    org = make_org(app)
    with SamlIdp(SAML_BASE_URL, ACS_URL, tmp_dir=tmp_path / "idp") as idp:
        connected(app, org, idp)
        person = app.test_client()
        page = saml_sign_in(
            person, idp, status=STATUS_RESPONDER, sub_status=STATUS_REQUEST_DENIED
        )

    assert page.status_code == 403
    reference = reference_on(page.text)
    assert re.fullmatch(r"\d{4}-denied-[2-9a-z]{4}", reference)
    assert events(app, "sign_in.refused")[-1]["reference"] == reference
    html = panel(owner_of(app, org), "/settings/okta")
    assert f'<code id="health-reference">{reference}</code>' in html
    assert "(SAML)" in html and '<span class="badge ok">on · SAML</span>' in html
    assert "valid</span>" in html and "days left" in html
    with app.app_context():
        db.engine.dispose()


def test_an_okta_sign_in_shows_in_the_panel_with_its_protocol(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner = owner_of(app, org)
    assert "none yet" in panel(owner).split("Last SCIM")[0]
    connect_okta(app, org, provider)
    okta_user(provider, "00u-carol", "carol@acme.test")
    person = app.test_client()
    assert person.get(at_provider(start(person), "00u-carol")).status_code == 302

    html = panel(owner)

    assert re.search(r"carol@acme\.test,\s*<time[^>]*>[^<]+</time> \(OIDC\)", html)
    assert '<span class="badge ok">on · OIDC</span>' in html


# -- SCIM 401s -------------------------------------------------------------------


def test_401s_of_a_revoked_key_and_a_wrong_scheme_count_for_that_organization(
    app: Flask, org: OrgInfo
) -> None:
    live = scim_key(app, org.id)
    revoked = revoked_key(app, org)
    other = make_org(app, "Globex")
    scim_key(app, other.id)
    client = app.test_client()

    assert scim_get(client, f"Bearer {revoked}") == 401
    assert scim_get(client, f"Token {live}") == 401
    assert scim_get(client, f"Bearer gh_{'x' * 43}") == 401  # nobody's key
    assert scim_get(client, None) == 401

    rows = unauthorized_rows(app)
    assert sorted((row["org"] or 0, row["reason"]) for row in rows) == [
        (0, "no_key"),
        (0, "unknown_key"),
        (org.id, "revoked"),
        (org.id, "wrong_scheme"),
    ]
    html = panel(owner_of(app, org))
    assert '<span id="health-scim-401">2</span>' in html
    assert '<strong id="health-scim-failures">2</strong>' in html
    assert re.search(r"api key gh_[\w-]+…, (revoked key|key sent without)", html)
    # The revoked key was used (and refused): its last use says so.
    assert "after revocation (refused)" in html
    keys_page = owner_of(app, org).get("/api-keys").text
    assert "used-after-revocation" in keys_page
    other_html = panel(owner_of(app, other))
    assert '<span id="health-scim-401">0</span>' in other_html
    # The provisioning activity says so too, and leads to those audit rows.
    activity = owner_of(app, org).get("/settings/provisioning").text
    card = re.search(r'id="refused-keys-24h"[^>]*>(.*?)</a>', activity, re.S)
    assert card is not None and "<strong>2</strong>" in card.group(1)
    assert "/audit?kind=scim.unauthorized" in activity
    other_activity = owner_of(app, other).get("/settings/provisioning").text
    assert re.search(
        r'id="refused-keys-24h".*?<strong>0</strong>', other_activity, re.S
    )
    assert "revoked" not in other_html and "health-last-401" not in other_html


def test_a_flood_of_401s_stays_a_few_counted_rows(app: Flask, org: OrgInfo) -> None:
    revoked = revoked_key(app, org)
    client = app.test_client()

    with statements(app, r"\s*UPDATE\s+api_key\b") as key_updates:
        for _ in range(150):
            assert scim_get(client, f"Bearer {revoked}") == 401
            assert scim_get(client, f"Bearer gh_{'y' * 43}") == 401
            assert scim_get(client, "Basic b2t0YTpzZWNyZXQ=") == 401

    rows = unauthorized_rows(app)
    assert len(rows) == 3
    assert sorted(row["count"] for row in rows) == [150, 150, 150]
    assert len(key_updates) == 1  # a key's last use is written once a minute
    with app.app_context():
        assert (
            db.session.execute(db.select(db.func.count(ScimRequest.id))).scalar() == 0
        )
    assert '<span id="health-scim-401">150</span>' in panel(owner_of(app, org))


def test_failed_scim_requests_still_note_the_keys_use(app: Flask, org: OrgInfo) -> None:
    secret = scim_key(app, org.id)
    client = app.test_client()
    response = client.get(
        SCIM + "/Users/999999", headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 404
    with app.app_context():
        assert db.session.execute(db.select(ApiKey.last_used_at)).scalar() is not None
    html = panel(owner_of(app, org))
    assert re.search(
        r'"health-path">GET /api/v1/scim/Users/999999</code>\s*<span', html
    )
    assert '<strong id="health-scim-failures">1</strong>' in html


# -- certificates, members, cost --------------------------------------------------


def certificate_b64(days_left: int) -> str:
    """A self-signed certificate that expires in `days_left` days, base64 DER."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "okta-idp")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=300))
        .not_valid_after(now + datetime.timedelta(days=days_left, hours=12))
        .sign(key, hashes.SHA256())
    )
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def save_saml(app: Flask, org_id: int, certificates: list[str]) -> None:
    with app.app_context():
        config = db.session.execute(
            db.select(SsoConfig).filter_by(organization_id=org_id)
        ).scalar_one_or_none() or SsoConfig(organization_id=org_id)
        config.protocol = "saml"
        config.saml_entity_id = f"http://idp.example/{org_id}"
        config.saml_sso_url = "https://idp.example/sso"
        config.saml_certificates = certificates
        db.session.add(config)
        db.session.commit()


def test_saml_certificates_show_their_expiry(app: Flask, org: OrgInfo) -> None:
    save_saml(app, org.id, [certificate_b64(400), certificate_b64(12)])

    html = panel(owner_of(app, org))

    assert '<span class="badge warn">saved, not on · SAML</span>' in html
    soon, later = html.split('class="health-cert"')[1:]
    assert "expiring" in soon and "(12 days left)" in soon
    assert "valid" in later and "(400 days left)" in later


def test_members_do_not_get_the_panel(app: Flask, org: OrgInfo) -> None:
    make_user(app, org.id, "mia@acme.test")
    member = app.test_client()
    assert sign_in(member, "mia@acme.test").status_code == 302
    for path in PANEL_PAGES:
        response = member.get(path)
        assert response.status_code == 403
        assert 'id="health"' not in response.text


def crowd(app: Flask, org_id: int, owner_id: int, n: int) -> None:
    """`n` members, keys, SCIM requests and audit rows of every kind it reads."""
    with app.app_context():
        organization = db.session.get(Organization, org_id)
        assert organization is not None
        now = utcnow()
        for i in range(n):
            users.new_user(organization, email=f"p{n}-{i}@acme.test", password=None)
            for kind, details in (
                ("sign_in.succeeded", {"method": "okta-saml"}),
                ("sign_in.succeeded", {"method": "password"}),
                ("sign_in.refused", {"method": "okta-oidc", "reason": "x"}),
                (health.SCIM_UNAUTHORIZED, {"reason": "revoked"}),
            ):
                db.session.add(
                    AuditEvent(
                        organization_id=org_id, kind=kind, details=details, actor="a"
                    )
                )
            db.session.add(
                ScimRequest(
                    organization_id=org_id,
                    created_at=now,
                    method="GET",
                    path="/Users",
                    status=200 if i % 2 else 500,
                )
            )
        db.session.commit()
        for i in range(min(n, 30)):
            api_keys.create_api_key(
                organization, name=f"key {n}-{i}", scopes=["scim"], actor="cli"
            )


def health_statements(app: Flask, org_id: int) -> tuple[int, health.Health]:
    with app.app_context(), statements(app) as seen:
        facts = health.health_of(org_id)
    return len(seen), facts


def test_the_panel_costs_the_same_statements_whatever_the_rows(
    app: Flask, org: OrgInfo
) -> None:
    owner = owner_of(app, org)
    crowd(app, org.id, org.owner_id, 2)
    few, facts = health_statements(app, org.id)
    with statements(app) as page_few:
        panel(owner)

    crowd(app, org.id, org.owner_id, 300)
    many, facts = health_statements(app, org.id)
    with statements(app) as page_many:
        panel(owner)

    assert few == many == health.QUERIES
    assert len(page_few) == len(page_many)
    assert facts.scim_errors_24h == 151 and facts.scim_unauthorized_24h == 302
    assert facts.last_sign_in is not None and facts.last_sign_in.protocol == "SAML"
    assert len(facts.keys) == health.KEYS_SHOWN


# -- in chromium ------------------------------------------------------------------


@pytest.fixture
def live_url(live_app: Flask) -> Iterator[str]:
    with serve(live_app, set_public_base_url=True) as url:
        yield url


def no_horizontal_overflow(page: Page) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width


@pytest.mark.browser
def test_the_panel_after_a_refused_sign_in_and_a_scim_401_in_chromium(
    live_app: Flask, live_url: str, provider: str, browser: Browser
) -> None:
    org = make_org(live_app, "Acme")
    live_app.config["WTF_CSRF_ENABLED"] = False  # set-up through the test client
    connect_okta(live_app, org, provider)
    live_app.config["WTF_CSRF_ENABLED"] = True
    revoked = revoked_key(live_app, org, name="Okta provisioning (old)")
    okta_user(provider, "00u-dave", "dave.a.very.long.address@acme.test")
    assert scim_get(live_app.test_client(), f"Bearer {revoked}") == 401

    context = browser.new_context(
        base_url=live_url, viewport={"width": 1280, "height": 800}
    )
    context.route(
        re.compile(r"^(?!https?://127\.0\.0\.1[:/])[a-z]+://"), lambda r: r.abort()
    )
    page = context.new_page()
    page.goto("/sso/okta?org=Acme")
    page.get_by_role("button", name="Deny").click()
    reference = page.locator("#reference-code").inner_text()
    expect(page.locator("#reason")).to_contain_text("Okta did not let you")
    page.goto("/login")
    page.get_by_label("Email").fill(org.owner_email)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        for path in PANEL_PAGES:
            page.goto(path)
            panel_box = page.locator("#health")
            expect(panel_box.locator("#health-reference")).to_have_text(reference)
            expect(panel_box.locator("#health-scim-401")).to_have_text("1")
            expect(panel_box).to_contain_text("after revocation (refused)")
            no_horizontal_overflow(page)
        screenshot(page, f"health-panel-{width}.png")
    context.close()
