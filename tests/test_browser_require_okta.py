"""Require Okta sign-in in a real browser, with CSRF on, against the real OpenID
provider: the owner tests Okta, links their account, signs in through Okta,
saves recovery codes, previews and requires Okta sign-in; a member's password
is then refused with the Okta button; the owner gets back in at /login/backup
with a recovery code and turns the requirement off.

Okta sign-in is switched on by the operator's command line first (a step the
OIDC journey in tests/test_browser_oidc.py walks through on the page).
Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
from flask import Flask
from oidc_provider_mock import run_server_in_thread
from playwright.sync_api import Browser
from playwright.sync_api import Page
from playwright.sync_api import expect

from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.constants import BROWSER_OWNER_EMAIL as OWNER_EMAIL
from tests.support.constants import DOCS_ORGANIZATION as ORGANIZATION
from tests.support.constants import PASSWORD
from tests.support.live import VIEWPORT
from tests.support.live import screenshot
from tests.support.live import serve
from tests.support.oidc import CLIENT_SECRET
from tests.support.rows import events

OFF_MACHINE = re.compile(r"^(?!https?://127\.0\.0\.1[:/])[a-z]+://")
OWNER_SUB = "00u1owner"
MEMBER_EMAIL = "linus.local@acme.test"


@pytest.fixture
def provider() -> Iterator[str]:
    """A real OpenID provider on 127.0.0.1 that knows the owner."""
    with run_server_in_thread(port=0, require_nonce=True) as server:
        base = f"http://127.0.0.1:{server.server_port}"
        claims = {"email": OWNER_EMAIL, "email_verified": True, "name": "Ada Owner"}
        requests.put(
            f"{base}/users/{OWNER_SUB}", json=claims, timeout=10
        ).raise_for_status()
        yield base


@pytest.fixture
def base_url(live_app: Flask) -> Iterator[str]:
    with serve(live_app, set_public_base_url=True) as url:
        yield url


def at_provider(page: Page, provider: str) -> None:
    """Sign in at the provider's page as the owner."""
    expect(page).to_have_url(
        re.compile("^" + re.escape(f"{provider}/oauth2/authorize"))
    )
    page.get_by_placeholder("sub").fill(OWNER_SUB)
    page.get_by_role("button", name="Authorize").click()


def password_sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def sign_out(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role(
        "button", name="Sign out"
    ).click()
    expect(page).to_have_url(re.compile(r"/login$"))


def okta_on_from_the_command_line(app: Flask, provider: str) -> None:
    result = app.test_cli_runner().invoke(
        args=[
            "sso",
            "set-oidc",
            "--org",
            ORGANIZATION,
            "--client-id",
            "0oa8gatehouse5x7",
            "--client-secret",
            CLIENT_SECRET,
            "--metadata-url",
            f"{provider}/.well-known/openid-configuration",
            "--no-email",
        ]
    )
    assert result.exit_code == 0, result.output


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")
def test_require_okta_then_get_back_in_with_a_recovery_code(
    live_app: Flask, base_url: str, provider: str, browser: Browser
) -> None:
    org = make_org(live_app, ORGANIZATION, owner_email=OWNER_EMAIL)
    make_user(live_app, org.id, MEMBER_EMAIL, given_name="Linus", family_name="Local")
    okta_on_from_the_command_line(live_app, provider)
    context = browser.new_context(base_url=base_url, viewport=VIEWPORT)
    context.route(OFF_MACHINE, lambda route: route.abort())
    try:
        page = context.new_page()
        # The owner (password) passes a test sign-in and links their account.
        password_sign_in(page, OWNER_EMAIL)
        page.goto("/settings/okta")
        page.get_by_role("button", name="Test sign-in with Okta").click()
        at_provider(page, provider)
        expect(page.locator("#test-result")).to_contain_text("Passed")
        page.goto(f"/members/{org.owner_id}")
        page.locator("#link-mine").click()
        at_provider(page, provider)
        sign_out(page)

        # Signed in through Okta now; the page lists what is missing.
        page.get_by_role("link", name="Single Sign On (SSO)").click()
        page.get_by_label("Organization name").fill(ORGANIZATION)
        page.get_by_role("button", name="Continue").click()
        page.get_by_role("link", name="Sign in with Okta").click()
        at_provider(page, provider)
        expect(page).to_have_url(re.compile(r"/members$"))
        page.goto("/settings/okta")
        page.locator("#require-okta-link a").click()
        expect(page.get_by_role("heading", name="Require Okta sign-in")).to_be_visible()
        expect(page.locator("#read-this-first")).to_contain_text(
            "Read this before you require Okta sign-in"
        )
        expect(page.locator("#pre-tested")).to_have_class("met")
        expect(page.locator("#pre-recent_okta")).to_have_class("met")
        expect(page.locator("#pre-owner_linked")).to_have_class("met")
        expect(page.locator("#pre-recovery")).to_have_class("unmet")
        expect(page.locator("#require-on-button")).to_be_disabled()
        expect(page.locator("#unlinked-count")).to_have_text("1")
        expect(page.locator("#unlinked")).to_contain_text(MEMBER_EMAIL)

        # Recovery codes: shown once, then "I saved them".
        page.locator("#codes-generate").click()
        codes = page.locator("#code-list code").all_inner_texts()
        assert len(codes) == 10
        screenshot(page, "require-okta-codes.png")
        page.locator("#codes-saved").click()
        expect(page.locator("#code-list")).to_have_count(0)
        expect(page.locator("#pre-recovery")).to_have_class("met")
        screenshot(page, "require-okta-checklist.png")
        page.locator("#require-on-button").click()
        expect(page.locator("#require-status")).to_contain_text("Required")
        sign_out(page)

        # A member's password: refused, with the way to Okta.
        password_sign_in(page, MEMBER_EMAIL)
        expect(page.locator("#okta-required")).to_contain_text(
            "Your organization requires sign-in with Okta"
        )
        screenshot(page, "require-okta-refused.png")
        page.locator("#okta-required-sso").click()
        expect(page.get_by_role("heading", name="Single Sign On (SSO)")).to_be_visible()

        # Okta is "lost": the owner gets back in with a recovery code.
        page.goto("/login/backup")
        page.get_by_label("Owner's email").fill(OWNER_EMAIL)
        page.get_by_label("Recovery code").fill(codes[0])
        page.locator("#recovery-code-submit").click()
        expect(page).to_have_url(re.compile(r"/members$"))
        page.goto("/settings/okta/require")
        page.locator("#require-off-button").click()
        expect(page.locator("#off-effect")).to_contain_text("2 members")
        page.locator("#confirm-require-off").click()
        expect(page.locator("#require-status")).to_contain_text("Optional")
    finally:
        context.close()
    kinds = [event["kind"] for event in events(live_app)]
    assert "recovery_code.used" in kinds
    assert kinds.index("settings.okta_required") < kinds.index(
        "settings.okta_not_required"
    )
