"""End to end in a real browser: Okta sign-in over SAML, from settings to signed in.

Headless Debian chromium driven by Playwright against the app served for real on
http://127.0.0.1 (CSRF on, as in production) and a real SAML identity provider
(pysaml2, `tests.support.saml_idp.SamlIdp`) standing in for Okta. The IdP's URLs use
http://localhost, another site than the app, so its POST to the ACS is
cross-site as Okta's is: the app's SameSite=Lax session cookie does not travel
with it, and the sign-in must not need it; only the SAML cookie (SameSite=None,
Secure, which chromium accepts on a loopback address) that ties the request to
the browser comes along.

The admin connects Okta with the IdP's metadata URL on OKTA AUTHENTICATION and
sees the IdP and its signing certificate; a new person signs in through Single
Sign On (SSO) and is created just in time; another signs in from the Okta
dashboard; an expired answer is refused with a page that says why; and once the
admin switches dashboard sign-in off, a dashboard sign-in is refused. A second
test links an existing local member's account through the emailed link, which
needs a session started by the cross-site POST and a form that posts to
Gatehouse and is redirected to the IdP. No page may log a console error (a
Content-Security-Policy violation would be one).

Screenshots go to tests/artifacts/; with GATEHOUSE_DOC_SCREENSHOTS=1 they go to
docs/images/ instead (a normal test run must not rewrite committed files).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from collections.abc import Iterator
from email import message_from_bytes
from email import policy
from email.message import EmailMessage
from pathlib import Path
from wsgiref.types import StartResponse
from wsgiref.types import WSGIEnvironment

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Flask
from lxml import etree
from playwright.sync_api import Browser
from playwright.sync_api import BrowserContext
from playwright.sync_api import ConsoleMessage
from playwright.sync_api import Locator
from playwright.sync_api import Page
from playwright.sync_api import expect

from blueprints.okta_saml.flow import BROWSER_COOKIE
from core.extensions import db
from core.models import User
from core.saml_metadata import ACS_PATH
from core.saml_metadata import SP_METADATA_PATH
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.constants import BROWSER_OWNER_EMAIL as OWNER_EMAIL
from tests.support.constants import DOCS_ORGANIZATION as ORGANIZATION
from tests.support.constants import PASSWORD as OWNER_PASSWORD
from tests.support.live import VIEWPORT
from tests.support.live import screenshot
from tests.support.live import serve
from tests.support.saml import refusals
from tests.support.saml import saml_successes
from tests.support.saml_idp import SamlIdp

# Anything but the two servers on this machine (the app on 127.0.0.1, the IdP
# as localhost) is refused inside the browser, so the test never leaves it.
OFF_MACHINE = re.compile(r"^(?!https?://(?:127\.0\.0\.1|localhost)[:/])[a-z]+://")
TIMEOUT_MS = 10_000
# Chromium's console line for a page answered with an HTTP error status.
HTTP_STATUS = re.compile(r"Failed to load resource: the server responded with a status")
MD_NS = "urn:oasis:names:tc:SAML:2.0:metadata"


# People as the IdP knows them (SamlIdp.user).
NEWCOMER = {
    "name_id": "grace.hopper@acme.test",
    "email": "grace.hopper@acme.test",
    "firstName": "Grace",
    "lastName": "Hopper",
}
LOCAL = {
    "name_id": "linus.local@acme.test",
    "email": "linus.local@acme.test",
    "firstName": "Linus",
    "lastName": "Local",
}
DASHBOARD_USER = {
    "name_id": "katherine.johnson@acme.test",
    "email": "katherine.johnson@acme.test",
    "firstName": "Katherine",
    "lastName": "Johnson",
}


@pytest.fixture
def base_url(live_app: Flask) -> Iterator[str]:
    """Serve `live_app` on 127.0.0.1 from a thread; yield its base URL."""
    with serve(live_app, set_public_base_url=True) as url:
        yield url


@pytest.fixture
def idp(base_url: str, tmp_path: Path) -> Iterator[SamlIdp]:
    """A SAML IdP that knows Gatehouse as its SP, at http://localhost:PORT."""
    with SamlIdp(
        base_url,
        base_url + ACS_PATH,
        tmp_dir=tmp_path / "idp",
        public_host="localhost",
    ) as server:
        yield server


def new_context(browser: Browser, base_url: str, problems: list[str]) -> BrowserContext:
    """A fresh browser profile (no cookies) that stays on this machine.

    Console errors (a Content-Security-Policy violation is one) and uncaught
    script errors of its pages are appended to `problems`; an HTTP error status
    is not one (the refusal pages are 403 on purpose).
    """
    context = browser.new_context(base_url=base_url, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    context.route(OFF_MACHINE, lambda route: route.abort())

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not HTTP_STATUS.match(message.text):
            where = message.page.url if message.page else "?"
            problems.append(f"{where}: {message.text}")

    context.on("console", on_console)
    context.on("weberror", lambda error: problems.append(str(error.error)))
    return context


def fingerprint(cert_der: bytes) -> str:
    """SHA-256 fingerprint as the settings page writes it (AB:CD:...)."""
    digest = hashlib.sha256(cert_der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def nav(page: Page) -> Locator:
    """The main navigation (only there when someone is signed in)."""
    return page.get_by_role("navigation", name="Main")


def sign_in_with_okta(page: Page, idp: SamlIdp) -> None:
    """Login page → Single Sign On (SSO) → organization → Sign in with Okta → IdP."""
    page.goto("/login")
    page.get_by_role("link", name="Single Sign On (SSO)").click()
    expect(page).to_have_url(re.compile(r"/sso$"))
    page.get_by_label("Organization name").fill(ORGANIZATION)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name=ORGANIZATION)).to_be_visible()
    page.get_by_role("link", name="Sign in with Okta").click()
    # Gatehouse sent the browser to the IdP's HTTP-Redirect endpoint.
    expect(page).to_have_url(
        re.compile("^" + re.escape(idp.sso_url + "?SAMLRequest=")), timeout=TIMEOUT_MS
    )
    expect(page.get_by_role("heading", name="Test IdP sign-in")).to_be_visible()


def expect_signed_in_as(page: Page, email: str, path: str = "/members") -> None:
    """At `path` with `email` in the navigation; Members loads afterwards too."""
    expect(page).to_have_url(re.compile(re.escape(path) + "$"), timeout=TIMEOUT_MS)
    expect(nav(page).locator(".whoami")).to_have_text(email)
    page.goto("/members")
    expect(page).to_have_url(re.compile(r"/members$"))
    expect(nav(page).locator(".whoami")).to_have_text(email)


def expect_signed_out(page: Page) -> None:
    """Nobody is signed in in this browser: Members sends it to the login page."""
    expect(nav(page)).to_have_count(0)
    page.goto("/members")
    expect(page).to_have_url(re.compile(r"/login(\?.*)?$"))
    expect(nav(page)).to_have_count(0)


def record_acs_posts(app: Flask) -> list[dict[str, str]]:
    """From now on, the headers of every POST to the ACS, as the app receives them.

    Header names are lower-case with dashes ("sec-fetch-site", "cookie").
    """
    seen: list[dict[str, str]] = []
    inner = app.wsgi_app

    def wsgi_app(
        environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == ACS_PATH:
            seen.append(
                {
                    key[5:].lower().replace("_", "-"): value
                    for key, value in environ.items()
                    if key.startswith("HTTP_")
                }
            )
        return inner(environ, start_response)

    app.wsgi_app = wsgi_app  # type: ignore[method-assign]
    return seen


def link_email_to(app: Flask, address: str) -> str:
    """The confirmation link of the newest email in the outbox to `address`."""
    outbox = Path(app.instance_path) / "outbox"
    messages = [
        message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime)
    ]
    mine = [m for m in messages if m["To"] == address]
    assert mine, f"no email to {address} in {outbox}"
    message = mine[-1]
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(r"https?://\S+/okta/link/\S+", body.get_content())
    assert match, body.get_content()
    return match.group(0)


def user_facts(app: Flask, email: str) -> tuple[str, str, str, str, str]:
    """(role, source, status, given name, family name) of the user with `email`."""
    with app.app_context():
        user = db.session.execute(db.select(User).filter_by(email=email)).scalar_one()
        return (
            user.role,
            user.source,
            user.status,
            user.given_name,
            user.family_name,
        )


@pytest.mark.browser
def test_connect_okta_saml_then_sign_in(
    live_app: Flask, base_url: str, idp: SamlIdp, browser: Browser
) -> None:
    make_org(live_app, ORGANIZATION, owner_email=OWNER_EMAIL, password=OWNER_PASSWORD)
    acs_url = base_url + ACS_PATH
    acs_posts = record_acs_posts(live_app)
    cert = idp.signing_key.certificate
    problems: list[str] = []

    # -- the admin connects Okta (SAML) -----------------------------------------
    admin_context = new_context(browser, base_url, problems)
    admin_context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=base_url
    )
    admin = admin_context.new_page()
    try:
        admin.goto("/login")
        admin.get_by_label("Email").fill(OWNER_EMAIL)
        admin.get_by_label("Password").fill(OWNER_PASSWORD)
        admin.get_by_role("button", name="Sign in").click()
        expect(admin).to_have_url(re.compile(r"/members$"))

        nav(admin).get_by_role("link", name="Settings").click()
        expect(admin).to_have_url(re.compile(r"/settings$"))
        admin.get_by_label("Single sign on (SSO) Authentication").select_option(
            label="Okta"
        )
        admin.get_by_role("button", name="Connect").click()

        expect(admin).to_have_url(re.compile(r"/settings/okta$"))
        expect(admin.get_by_role("heading", name="Okta authentication")).to_be_visible()
        # Choose the protocol first: then only its values and fields show.
        expect(admin.locator("#acs-url")).to_have_count(0)
        admin.locator("#choose-saml").click()
        expect(admin).to_have_url(re.compile(r"/settings/okta\?protocol=saml$"))
        expect(admin.get_by_label("Client ID")).to_have_count(0)
        # What to paste into Okta, before anything is saved.
        expect(admin.locator("#acs-url")).to_have_text(acs_url)
        expect(admin.locator("#audience")).to_have_text(base_url)
        expect(admin.locator("#saml-idp")).to_have_count(0)
        copy = admin.locator('button[data-copy="acs-url"]')
        copy.click()
        expect(copy).to_have_text("Copied")
        assert admin.evaluate("navigator.clipboard.readText()") == acs_url
        copy = admin.locator('button[data-copy="name-id-format"]')
        copy.click()
        expect(copy).to_have_text("Copied")
        assert admin.evaluate("navigator.clipboard.readText()") == "EmailAddress"
        admin.get_by_label("Default role for new members").select_option(label="Member")
        admin.get_by_label("Identity Provider metadata URL").fill(idp.metadata_url)
        screenshot(admin, "saml-okta-authentication.png")
        admin.get_by_role("button", name="Save").click()

        expect(admin.locator(".flash-success")).to_contain_text(
            "The SAML settings are saved. Nothing changed for members",
            timeout=TIMEOUT_MS,
        )
        expect(admin).to_have_url(re.compile(r"/settings/okta\?protocol=saml$"))
        assert idp.metadata_fetches == 1
        card = admin.locator("#saml-idp")
        expect(card.locator("#idp-entity-id")).to_have_text(idp.entity_id)
        expect(card.locator("#idp-sso-url")).to_have_text(idp.sso_url)
        rows = card.locator("#idp-certificates tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.locator(".fingerprint")).to_have_text(
            fingerprint(cert.public_bytes(Encoding.DER))
        )
        expect(rows.locator("td").nth(1)).to_have_text(
            cert.not_valid_after_utc.strftime("%Y-%m-%d")
        )
        expect(rows.locator(".badge")).to_have_text("valid")
        expect(card).to_contain_text("allowed")
        expect(admin.get_by_label("Identity Provider metadata URL")).to_have_value(
            idp.metadata_url
        )
        expect(admin.locator("#acs-url")).to_have_text(acs_url)
        expect(admin.locator("#audience")).to_have_text(base_url)
        screenshot(admin, "saml-idp-saved.png")

        # Test sign-in with Okta, then Turn on for everyone (the owner is the
        # one member to email; the outbox, since there is no mail server).
        admin.get_by_role("button", name="Test sign-in with Okta").click()
        expect(admin.get_by_role("heading", name="Test IdP sign-in")).to_be_visible()
        admin.locator("#idp-sign-in").click()
        expect(admin.locator("#test-result")).to_contain_text(
            "Passed", timeout=TIMEOUT_MS
        )
        expect(admin.locator("#test-name-id-format")).to_contain_text("emailAddress")
        # The test's answer came cross-site without the owner's session cookie,
        # and left that session alone: the owner is still signed in.
        (test_post,) = acs_posts
        sent = [part.split("=")[0] for part in test_post["cookie"].split("; ")]
        assert sent == [BROWSER_COOKIE], test_post
        expect(nav(admin).locator(".whoami")).to_have_text(OWNER_EMAIL)
        acs_posts.clear()
        admin.get_by_role("button", name="Turn on for everyone…").click()
        expect(admin.locator("#to-email-count")).to_contain_text("1 active member")
        admin.get_by_label("Email them the link now").check()
        admin.get_by_role("button", name="Turn on for everyone").click()
        expect(admin.locator(".flash-success")).to_contain_text(
            "Okta sign-in is on for everyone (SAML)."
        )

        # The SP metadata link downloads XML naming our entity ID and ACS URL.
        link = admin.locator("#sp-metadata")
        expect(link).to_have_attribute("href", base_url + SP_METADATA_PATH)
        with admin.expect_download() as download_info:
            link.click()
        download = download_info.value
        assert download.failure() is None
        root = etree.fromstring(Path(download.path()).read_bytes())
        assert root.tag == f"{{{MD_NS}}}EntityDescriptor"
        assert root.get("entityID") == base_url
        (acs,) = root.iter(f"{{{MD_NS}}}AssertionConsumerService")
        assert acs.get("Location") == acs_url

        # -- a new person signs in with Okta and is created just in time ---------
        idp.user = dict(NEWCOMER)
        person = new_context(browser, base_url, problems)
        try:
            page = person.new_page()
            sign_in_with_okta(page, idp)
            expect(page.locator("#idp-user")).to_contain_text(NEWCOMER["email"])
            screenshot(page, "saml-idp-page.png")
            page.locator("#idp-sign-in").click()
            expect_signed_in_as(page, NEWCOMER["email"])
            # Truly cross-site, as from Okta: the app's session cookie (set on
            # the SSO step, SameSite=Lax) did not come with the POST; only the
            # SAML cookie (SameSite=None) that binds the request to this browser.
            (acs_post,) = acs_posts
            assert acs_post.get("sec-fetch-site") == "cross-site", acs_post
            assert acs_post.get("origin") == idp.base_url, acs_post
            sent = [part.split("=")[0] for part in acs_post["cookie"].split("; ")]
            assert sent == [BROWSER_COOKIE], acs_post
            names = {c["name"] for c in person.cookies() if c["domain"] == "127.0.0.1"}
            assert {"gatehouse_session", BROWSER_COOKIE} <= names
            row = page.locator("#members tr", has_text=NEWCOMER["email"])
            expect(row).to_contain_text("Grace Hopper")
            expect(row).to_contain_text("member")
            # A member, not an admin: no Settings.
            expect(nav(page).get_by_role("link", name="Settings")).to_have_count(0)
            screenshot(page, "saml-signed-in.png")
        finally:
            person.close()
        assert user_facts(live_app, NEWCOMER["email"]) == (
            "member",
            "sso",
            "active",
            "Grace",
            "Hopper",
        )
        (success,) = saml_successes(live_app)
        assert success["outcome"] == "created"

        # -- someone signs in from the Okta dashboard (IdP-initiated), with the
        # app's Default RelayState set to a page of Gatehouse ----------------------
        idp.user = dict(DASHBOARD_USER)
        person = new_context(browser, base_url, problems)
        try:
            page = person.new_page()
            page.goto(f"{idp.dashboard_url}?RelayState=/groups")
            expect(
                page.get_by_role("heading", name="Test IdP dashboard")
            ).to_be_visible()
            page.locator("#idp-dashboard-app").click()
            expect_signed_in_as(page, DASHBOARD_USER["email"], "/groups")
        finally:
            person.close()
        assert acs_posts[-1].get("sec-fetch-site") == "cross-site", acs_posts[-1]
        assert user_facts(live_app, DASHBOARD_USER["email"])[:3] == (
            "member",
            "sso",
            "active",
        )

        # -- an expired answer (the IdP's clock, or ours, is an hour off) ---------
        idp.user = dict(NEWCOMER)
        idp.http_overrides = {"time_shift": -3600}
        person = new_context(browser, base_url, problems)
        try:
            page = person.new_page()
            sign_in_with_okta(page, idp)
            page.locator("#idp-sign-in").click()
            expect(
                page.get_by_role("heading", name="You were not signed in")
            ).to_be_visible(timeout=TIMEOUT_MS)
            expect(page.locator("#reason")).to_contain_text(
                re.compile(r"expired\. Check that this server's clock is right")
            )
            screenshot(page, "saml-refused-expired.png")
            expect_signed_out(page)
        finally:
            person.close()
        idp.http_overrides = {}
        assert [event["failure"] for event in refusals(live_app)] == ["expired"]

        # -- the admin switches dashboard sign-in off; it is then refused ---------
        admin.goto("/settings/okta")
        toggle = admin.locator("#dashboard-toggle")
        expect(toggle).to_have_text("Switch off sign-in from the Okta dashboard")
        toggle.click()
        expect(admin).to_have_url(re.compile(r"/settings/okta\?protocol=saml$"))
        expect(admin.locator(".flash-success")).to_have_text(
            "Sign-in from the Okta dashboard is switched off."
        )
        expect(admin.locator("#saml-idp .badge.off")).to_have_text("off")
        expect(toggle).to_have_text("Allow sign-in from the Okta dashboard")

        person = new_context(browser, base_url, problems)
        try:
            page = person.new_page()
            page.goto(idp.dashboard_url)
            page.locator("#idp-dashboard-app").click()
            expect(
                page.get_by_role("heading", name="You were not signed in")
            ).to_be_visible(timeout=TIMEOUT_MS)
            expect(page.locator("#reason")).to_contain_text(
                "Signing in from the Okta dashboard is switched off"
            )
            screenshot(page, "saml-refused-dashboard-off.png")
            expect_signed_out(page)
        finally:
            person.close()
        assert [event["failure"] for event in refusals(live_app)] == [
            "expired",
            "dashboard_off",
        ]
        # Two sign-ins succeeded in all: Grace's and the dashboard one.
        assert len(saml_successes(live_app)) == 2
        assert problems == []
    finally:
        admin_context.close()


@pytest.mark.browser
def test_existing_member_links_okta_through_saml(
    live_app: Flask, base_url: str, idp: SamlIdp, browser: Browser
) -> None:
    """A local member Okta vouches for confirms by email, then is linked.

    Two things only a browser checks: the session started by the response to
    Okta's cross-site POST ("Confirm your account first") carries the next
    same-site form (CSRF on); and "Continue to Okta" on the emailed link's page
    posts and is redirected to the IdP's origin, which the page's
    Content-Security-Policy form-action must allow.
    """
    org = make_org(
        live_app, ORGANIZATION, owner_email=OWNER_EMAIL, password=OWNER_PASSWORD
    )
    linus_id = make_user(
        live_app, org.id, LOCAL["email"], given_name="Linus", family_name="Local"
    )
    result = live_app.test_cli_runner().invoke(
        args=[
            "sso",
            "set-saml",
            "--org",
            ORGANIZATION,
            "--metadata-url",
            idp.metadata_url,
        ]
    )
    assert result.exit_code == 0, result.output
    idp.user = dict(LOCAL)
    problems: list[str] = []
    context = new_context(browser, base_url, problems)
    try:
        page = context.new_page()
        sign_in_with_okta(page, idp)
        page.locator("#idp-sign-in").click()
        expect(
            page.get_by_role("heading", name="Confirm your account first")
        ).to_be_visible(timeout=TIMEOUT_MS)
        expect(page.get_by_text(f"Okta says you are {LOCAL['email']}")).to_be_visible()
        expect(nav(page)).to_have_count(0)
        screenshot(page, "saml-confirm-first.png")
        page.get_by_role("button", name="Email me the link", exact=True).click()
        expect(page.get_by_role("heading", name="Link requested")).to_be_visible()

        page.goto(link_email_to(live_app, LOCAL["email"]))
        expect(
            page.get_by_role("heading", name="Link your Okta account")
        ).to_be_visible()
        page.get_by_role("button", name="Continue to Okta").click()
        expect(page).to_have_url(
            re.compile("^" + re.escape(idp.sso_url + "?SAMLRequest=")),
            timeout=TIMEOUT_MS,
        )
        page.locator("#idp-sign-in").click()
        expect(page).to_have_url(re.compile(r"/members$"), timeout=TIMEOUT_MS)
        expect(page.locator(".flash-success")).to_have_text(
            "Your Okta account is now linked. Next time, sign in with Okta."
        )
        expect_signed_in_as(page, LOCAL["email"])
        nav(page).get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/login$"))

        # From now on Okta signs Linus straight in.
        sign_in_with_okta(page, idp)
        page.locator("#idp-sign-in").click()
        expect_signed_in_as(page, LOCAL["email"])
    finally:
        context.close()
    with live_app.app_context():
        linus = db.session.get(User, linus_id)
        assert linus is not None
        assert (linus.source, linus.status) == ("local", "active")
    outcomes = [event["outcome"] for event in saml_successes(live_app)]
    assert outcomes == ["linked", "signed_in"]
    assert problems == []
