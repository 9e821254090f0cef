"""End to end in a real browser: Okta sign-in over OIDC, from settings to signed in.

Headless Debian chromium driven by Playwright against the app served for real on
127.0.0.1 (CSRF on, as in production) and a real OpenID provider
(`oidc-provider-mock`) standing in for Okta on another port. The admin connects
Okta on the settings page; then a new person signs in through Single Sign On
(SSO) and is created just in time; then the pages a member can be refused with
(unknown organization, Okta's refusal, inactive account, "confirm your account
first") and the page the emailed link opens. A second test follows that link
through Okta and checks the account is linked.

Screenshots go to tests/artifacts/; with GATEHOUSE_DOC_SCREENSHOTS=1 they go to
docs/images/ instead, to refresh the ones in docs/okta-oidc.md (a normal test run
must not rewrite committed files).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import message_from_bytes
from email import policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote_plus

import pytest
import requests
from flask import Flask
from oidc_provider_mock import run_server_in_thread
from playwright.sync_api import Browser
from playwright.sync_api import BrowserContext
from playwright.sync_api import Page
from playwright.sync_api import expect

from blueprints.okta_oidc.routes import OKTA_ERRORS
from core.extensions import db
from core.models import User
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.constants import BROWSER_OWNER_EMAIL as OWNER_EMAIL
from tests.support.constants import DOCS_ORGANIZATION as ORGANIZATION
from tests.support.constants import PASSWORD as OWNER_PASSWORD
from tests.support.live import VIEWPORT
from tests.support.live import screenshot
from tests.support.live import serve
from tests.support.oidc import CLIENT_SECRET

# Anything but the two servers on 127.0.0.1 (the provider's page links a CDN
# stylesheet) is refused inside the browser, so the test never leaves the machine.
OFF_MACHINE = re.compile(r"^(?!https?://127\.0\.0\.1[:/])[a-z]+://")

CLIENT_ID = "0oa8gatehouse5x7"

# People as the provider knows them: (sub, claims).
NEWCOMER = (
    "00u1newcomer",
    {
        "email": "grace.hopper@acme.test",
        "email_verified": True,
        "given_name": "Grace",
        "family_name": "Hopper",
        "name": "Grace Hopper",
    },
)
LOCAL = (
    "00u2local",
    {
        "email": "linus.local@acme.test",
        "email_verified": True,
        "given_name": "Linus",
        "family_name": "Local",
        "name": "Linus Local",
    },
)
DEACTIVATED = (
    "00u3inactive",
    {
        "email": "ines.inactive@acme.test",
        "email_verified": True,
        "given_name": "Ines",
        "family_name": "Inactive",
        "name": "Ines Inactive",
    },
)


@pytest.fixture
def provider() -> Iterator[str]:
    """A real OpenID provider on 127.0.0.1 that knows our three people."""
    with run_server_in_thread(port=0, require_nonce=True) as server:
        base = f"http://127.0.0.1:{server.server_port}"
        for sub, claims in (NEWCOMER, LOCAL, DEACTIVATED):
            requests.put(
                f"{base}/users/{sub}", json=claims, timeout=10
            ).raise_for_status()
        yield base


@pytest.fixture
def base_url(live_app: Flask) -> Iterator[str]:
    """Serve `live_app` on 127.0.0.1 from a thread; yield its base URL."""
    with serve(live_app, set_public_base_url=True) as url:
        yield url


def new_context(browser: Browser, base_url: str) -> BrowserContext:
    """A fresh browser profile (no cookies) that stays on this machine."""
    context = browser.new_context(base_url=base_url, viewport=VIEWPORT)
    context.route(OFF_MACHINE, lambda route: route.abort())
    return context


def start_sso(page: Page, organization: str, shots: bool = False) -> None:
    """Login page → Single Sign On (SSO) → organization name → Continue."""
    page.goto("/login")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    if shots:
        screenshot(page, "oidc-login.png")
    page.get_by_role("link", name="Single Sign On (SSO)").click()
    expect(page).to_have_url(re.compile(r"/sso$"))
    expect(page.get_by_role("heading", name="Single Sign On (SSO)")).to_be_visible()
    page.get_by_label("Organization name").fill(organization)
    if shots:
        screenshot(page, "oidc-sso-org.png")
    page.get_by_role("button", name="Continue").click()


def sign_in_at_provider(page: Page, provider: str, sub: str | None) -> None:
    """On the provider's page (Okta's sign-in page here): sign in as `sub`.

    `sub` None clicks Deny instead.
    """
    expect(page).to_have_url(
        re.compile("^" + re.escape(f"{provider}/oauth2/authorize"))
    )
    if sub is None:
        page.get_by_role("button", name="Deny").click()
        return
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()


def sign_in_with_okta(
    page: Page, provider: str, sub: str | None, shots: bool = False
) -> None:
    """From the SSO organization step: Sign in with Okta, then sign in at Okta."""
    expect(page.get_by_role("heading", name=ORGANIZATION)).to_be_visible()
    button = page.get_by_role("link", name="Sign in with Okta")
    expect(button).to_have_attribute(
        "href", f"/sso/okta?org={quote_plus(ORGANIZATION)}"
    )
    if shots:
        screenshot(page, "oidc-sign-in-with-okta.png")
    button.click()
    sign_in_at_provider(page, provider, sub)


def sign_out(page: Page) -> None:
    """Sign out from the navigation."""
    page.get_by_role("navigation", name="Main").get_by_role(
        "button", name="Sign out"
    ).click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_text("You are signed out.")).to_be_visible()


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


def seed(app: Flask) -> int:
    """Acme Rockets (Pro) with its owner, a local member and a deactivated one.

    Returns the local member's id.
    """
    org = make_org(app, ORGANIZATION, owner_email=OWNER_EMAIL, password=OWNER_PASSWORD)
    local_id = make_user(
        app, org.id, LOCAL[1]["email"], given_name="Linus", family_name="Local"
    )
    make_user(
        app,
        org.id,
        DEACTIVATED[1]["email"],
        status="inactive",
        given_name="Ines",
        family_name="Inactive",
    )
    return local_id


@pytest.mark.browser
# oidc-provider-mock 0.3.x still gives Authlib its JWT settings the deprecated way;
# the warning is raised in the provider's thread when it issues an ID token.
@pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")
def test_connect_okta_then_sign_in_with_okta(
    live_app: Flask, base_url: str, provider: str, browser: Browser
) -> None:
    seed(live_app)
    metadata_url = f"{provider}/.well-known/openid-configuration"

    # -- the admin connects Okta --------------------------------------------------
    context = new_context(browser, base_url)
    try:
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Email").fill(OWNER_EMAIL)
        page.get_by_label("Password").fill(OWNER_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/members$"))

        page.get_by_role("navigation", name="Main").get_by_role(
            "link", name="Settings"
        ).click()
        expect(page).to_have_url(re.compile(r"/settings$"))
        drop_down = page.get_by_label("Single sign on (SSO) Authentication")
        expect(drop_down).to_have_value("none")
        drop_down.select_option(label="Okta")
        screenshot(page, "oidc-settings-sso.png")
        page.get_by_role("button", name="Connect").click()

        expect(page).to_have_url(re.compile(r"/settings/okta$"))
        expect(page.get_by_role("heading", name="Okta authentication")).to_be_visible()
        # What to paste into Okta, before anything is saved (OIDC is chosen).
        expect(page.locator("#choose-oidc")).to_have_attribute("aria-current", "page")
        expect(page.locator("#redirect-url")).to_have_text(f"{base_url}/okta/callback")
        page.get_by_label("Default role for new members").select_option(label="Member")
        page.get_by_label("Client ID").fill(CLIENT_ID)
        page.get_by_label("Client secret").fill(CLIENT_SECRET)
        page.get_by_label("OpenID Provider metadata URL").fill(metadata_url)
        screenshot(page, "oidc-okta-authentication.png")
        page.get_by_role("button", name="Save").click()

        # Saved: nothing changed for members, nobody was emailed yet.
        expect(page).to_have_url(re.compile(r"/settings/okta\?protocol=oidc$"))
        expect(
            page.get_by_text(
                "The OIDC settings are saved. Nothing changed for members: test "
                "sign-in with Okta, then turn it on for everyone."
            )
        ).to_be_visible()
        expect(page.locator("#redirect-url")).to_have_text(f"{base_url}/okta/callback")
        expect(page.get_by_label("Client ID")).to_have_value(CLIENT_ID)
        expect(page.locator("#client-secret-state")).to_contain_text(
            "Client secret saved"
        )
        expect(page.get_by_label("Client secret")).to_have_value("")
        expect(page.get_by_label("OpenID Provider metadata URL")).to_have_value(
            metadata_url
        )

        # Test sign-in with Okta: the owner's own round trip, which signs nobody
        # in (Grace is not created by it: she arrives just in time below).
        page.get_by_role("button", name="Test sign-in with Okta").click()
        sign_in_at_provider(page, provider, NEWCOMER[0])
        expect(page).to_have_url(re.compile(r"/settings/okta\?protocol=oidc&tested=1"))
        expect(page.locator("#test-result")).to_contain_text("Passed")
        expect(page.locator("#test-email")).to_have_text("grace.hopper@acme.test")

        # Turn on for everyone: the two active, unlinked members (owner and
        # Linus) are listed, and get the link into the outbox (no mail server).
        page.get_by_role("button", name="Turn on for everyone…").click()
        expect(page.locator("#to-email-count")).to_contain_text("2 active members")
        page.get_by_label("Email them the link now").check()
        page.get_by_role("button", name="Turn on for everyone").click()
        expect(
            page.get_by_text(
                "Okta sign-in is on for everyone (OIDC). No mail server is "
                "configured: the link emails for 2 member(s) were written to the "
                "server's outbox (instance/outbox/), not sent."
            )
        ).to_be_visible()
        page.get_by_role("link", name="← Settings").click()
        expect(page.get_by_label("Single sign on (SSO) Authentication")).to_have_value(
            "okta"
        )
        expect(page.get_by_text("Okta sign-in is on (OIDC).")).to_be_visible()

        sign_out(page)

        # -- a new person signs in with Okta and is created just in time ----------
        sub, claims = NEWCOMER
        start_sso(page, ORGANIZATION, shots=True)
        sign_in_with_okta(page, provider, sub, shots=True)
        expect(page).to_have_url(re.compile(r"/members$"))
        row = page.locator("#members tr", has_text=claims["email"])
        expect(row).to_contain_text("Grace Hopper")
        expect(row).to_contain_text("member")
        expect(row).to_contain_text("Okta OIDC")  # how they last signed in
        expect(row).to_contain_text("linked")
        nav = page.get_by_role("navigation", name="Main")
        expect(nav.get_by_role("button", name="Sign out")).to_be_visible()
        # A member, not an admin: no Settings.
        expect(nav.get_by_role("link", name="Settings")).to_have_count(0)
        screenshot(page, "oidc-signed-in.png")
        with live_app.app_context():
            grace = db.session.execute(
                db.select(User).filter_by(email=claims["email"])
            ).scalar_one()
            assert (grace.role, grace.source, grace.status) == (
                "member",
                "sso",
                "active",
            )
        sign_out(page)
    finally:
        context.close()

    # -- the pages a member can be refused with -------------------------------
    context = new_context(browser, base_url)
    try:
        page = context.new_page()

        # An organization name Gatehouse does not know (or without Okta).
        start_sso(page, "Initech")
        expect(page.locator("#sso-unavailable")).to_contain_text(
            "Single sign-on is not available for that organization name."
        )
        screenshot(page, "oidc-sso-unavailable.png")

        # Okta refuses (here the person clicks Deny; in Okta, typically a person
        # not assigned to the app): Okta's error becomes a page that says what to do.
        start_sso(page, ORGANIZATION)
        sign_in_with_okta(page, provider, None)
        expect(
            page.get_by_role("heading", name="You were not signed in")
        ).to_be_visible()
        expect(page.locator("#reason")).to_have_text(OKTA_ERRORS["access_denied"])
        screenshot(page, "oidc-refused.png")

        # A deactivated member.
        start_sso(page, ORGANIZATION)
        sign_in_with_okta(page, provider, DEACTIVATED[0])
        expect(
            page.get_by_role("heading", name="Your account is deactivated")
        ).to_be_visible()
        screenshot(page, "oidc-inactive.png")

        # An existing local account with the email Okta vouches for.
        start_sso(page, ORGANIZATION)
        sign_in_with_okta(page, provider, LOCAL[0])
        expect(
            page.get_by_role("heading", name="Confirm your account first")
        ).to_be_visible()
        expect(
            page.get_by_text(f"Okta says you are {LOCAL[1]['email']}")
        ).to_be_visible()
        screenshot(page, "oidc-confirm-first.png")
        # Only the outbox has it: the page does not claim it was emailed.
        expect(page.locator("#link-status")).to_contain_text("No link has been emailed")
        page.get_by_role("button", name="Email me the link", exact=True).click()
        expect(page.get_by_role("heading", name="Link requested")).to_be_visible()

        # The emailed link explains what will happen (continuing is tested below).
        page.goto(link_email_to(live_app, LOCAL[1]["email"]))
        expect(
            page.get_by_role("heading", name="Link your Okta account")
        ).to_be_visible()
        screenshot(page, "oidc-link-account.png")

        # The bookmarkable URL signs an already linked person straight in.
        page.goto(f"/sso/okta?org={quote_plus(ORGANIZATION)}")
        sign_in_at_provider(page, provider, NEWCOMER[0])
        expect(page).to_have_url(re.compile(r"/members$"))
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    finally:
        context.close()


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")
def test_emailed_link_links_the_okta_account(
    live_app: Flask, base_url: str, provider: str, browser: Browser
) -> None:
    local_id = seed(live_app)
    result = live_app.test_cli_runner().invoke(
        args=[
            "sso",
            "set-oidc",
            "--org",
            ORGANIZATION,
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
            "--metadata-url",
            f"{provider}/.well-known/openid-configuration",
        ]
    )
    assert result.exit_code == 0, result.output
    context = new_context(browser, base_url)
    try:
        page = context.new_page()
        page.goto(link_email_to(live_app, LOCAL[1]["email"]))
        page.get_by_role("button", name="Continue to Okta").click()
        sign_in_at_provider(page, provider, LOCAL[0])
        expect(page).to_have_url(re.compile(r"/members$"))
        expect(
            page.get_by_text(
                "Your Okta account is now linked. Next time, sign in with Okta."
            )
        ).to_be_visible()
        sign_out(page)

        # From now on Okta signs Linus in without asking again.
        page.goto(f"/sso/okta?org={quote_plus(ORGANIZATION)}")
        sign_in_at_provider(page, provider, LOCAL[0])
        expect(page).to_have_url(re.compile(r"/members$"))
        with live_app.app_context():
            linus = db.session.get(User, local_id)
            assert linus is not None
            assert linus.source == "local"
    finally:
        context.close()
