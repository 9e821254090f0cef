"""The admin console in a real browser: invitations, passwords, turning Okta off.

Headless Debian chromium through Playwright against the app served for real on
127.0.0.1 with CSRF on; mail goes to a real SMTP server on 127.0.0.1 and the
links are read out of the messages it received. Screenshots go to
tests/artifacts/ (docs/images/ with GATEHOUSE_DOC_SCREENSHOTS=1).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser
from playwright.sync_api import BrowserContext
from playwright.sync_api import Page
from playwright.sync_api import expect

from core.extensions import db
from core.models import UserSession
from tests.support.builders import OrgInfo
from tests.support.builders import make_app
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.constants import PASSWORD
from tests.support.live import VIEWPORT
from tests.support.live import screenshot
from tests.support.live import serve
from tests.support.mail import Mailbox
from tests.support.mail import smtp_settings
from tests.support.oidc import connect_okta
from tests.support.rows import events
from tests.support.rows import user_row

ORGANIZATION = "Acme Console"
OWNER_EMAIL = "olivia.owner@acme.test"
INVITED = "ivan.invited@acme.test"
CHOSEN = "a passphrase Ivan chose himself"
CHANGED = "and then another one he likes better"
RESET = "the one after he forgot it"
RESET_LINK = re.compile(r"https?://[^/\s]+(/password/reset/[A-Za-z0-9_-]+)")

pytestmark = [
    pytest.mark.browser,
    # oidc-provider-mock 0.3.x hands Authlib its JWT settings the deprecated way.
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
]


@pytest.fixture
def console(tmp_path: Path, mailbox: tuple[Mailbox, int]) -> Iterator[Flask]:
    """A production-like app (CSRF on) that sends mail to the real SMTP server."""
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True, **smtp_settings(mailbox[1]))
    yield app
    with app.app_context():
        db.engine.dispose()


def new_context(browser: Browser, base_url: str) -> BrowserContext:
    """A fresh browser profile (no cookies)."""
    return browser.new_context(base_url=base_url, viewport=VIEWPORT)


def sign_in(page: Page, email: str, password: str) -> None:
    """The sign-in form, as a person fills it."""
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def link_in(message: EmailMessage) -> str:
    """The /password/reset/<token> path of a message's plain-text link."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    match = RESET_LINK.search(body.get_content())
    assert match is not None, body.get_content()
    return match.group(1)


def sessions_alive(app: Flask, user_id: int) -> int:
    """How many sessions of the user are still valid."""
    with app.app_context():
        return len(
            db.session.scalars(
                db.select(UserSession).filter_by(user_id=user_id, revoked_at=None)
            ).all()
        )


def test_invitation_then_change_then_reset_a_password(
    console: Flask, mailbox: tuple[Mailbox, int], browser: Browser
) -> None:
    org = make_org(console, ORGANIZATION, owner_email=OWNER_EMAIL)
    inbox = mailbox[0]
    with serve(console, set_public_base_url=True) as base_url:
        owner = new_context(browser, base_url)
        ivan = new_context(browser, base_url)
        elsewhere = new_context(browser, base_url)
        try:
            page = owner.new_page()
            sign_in(page, OWNER_EMAIL, PASSWORD)
            expect(page).to_have_url(re.compile(r"/members$"))

            # -- the owner adds Ivan; he is emailed an invitation ----------------
            page.goto("/members/new")
            page.get_by_label("Email", exact=True).fill(INVITED)
            page.get_by_label("First name").fill("Ivan")
            page.get_by_label("Last name").fill("Invited")
            page.get_by_label(
                "Email them an invitation to choose their password"
            ).check()
            screenshot(page, "console-add-member.png")
            page.get_by_role("button", name="Add member").click()
            expect(page.get_by_text(f"Emailed {INVITED} an invitation")).to_be_visible()
            [invitation] = inbox.wait_for(INVITED)

            # -- Ivan chooses his password from the email -----------------------
            his = ivan.new_page()
            his.goto(link_in(invitation))
            expect(
                his.get_by_role("heading", name="Choose your password")
            ).to_be_visible()
            screenshot(his, "console-invitation.png")
            his.get_by_label("New password", exact=True).fill(CHOSEN)
            his.get_by_label("Repeat the new password").fill(CHOSEN)
            his.get_by_role("button", name="Save password").click()
            expect(his).to_have_url(re.compile(r"/login$"))
            expect(
                his.get_by_text("Your password is set. Sign in with it.")
            ).to_be_visible()
            # The invitation is spent: opening it again sets nothing.
            again = ivan.new_page()
            again.goto(link_in(invitation))
            expect(again.get_by_label("New password", exact=True)).to_have_count(0)
            again.close()

            sign_in(his, INVITED, CHOSEN)
            expect(his).to_have_url(re.compile(r"/members$"))
            ivan_id = _user_id(console, org, INVITED)

            # -- a second browser of Ivan's; then he changes his password -------
            other = elsewhere.new_page()
            sign_in(other, INVITED, CHOSEN)
            expect(other).to_have_url(re.compile(r"/members$"))
            assert sessions_alive(console, ivan_id) == 2

            his.goto("/account/password")
            his.get_by_label("Current password").fill("not my password")
            his.get_by_label("New password", exact=True).fill(CHANGED)
            his.get_by_label("Repeat the new password").fill(CHANGED)
            his.get_by_role("button", name="Change password").click()
            expect(
                his.get_by_text("That is not your current password.")
            ).to_be_visible()
            assert sessions_alive(console, ivan_id) == 2

            his.get_by_label("Current password").fill(CHOSEN)
            his.get_by_label("New password", exact=True).fill(CHANGED)
            his.get_by_label("Repeat the new password").fill(CHANGED)
            screenshot(his, "console-change-password.png")
            his.get_by_role("button", name="Change password").click()
            expect(his.get_by_text("Your password was changed.")).to_be_visible()
            # This browser carries on; the other one is signed out.
            assert sessions_alive(console, ivan_id) == 1
            other.goto("/members")
            expect(other).to_have_url(re.compile(r"/login\?next="))

            # -- he forgets it: the emailed link sets a new one ------------------
            his.get_by_role("navigation", name="Main").get_by_role(
                "button", name="Sign out"
            ).click()
            his.goto("/login")
            his.get_by_role("link", name="Forgot your password?").click()
            his.get_by_label("Email").fill(INVITED)
            his.get_by_role("button", name="Email me a link").click()
            [_, reset] = inbox.wait_for(INVITED, count=2)
            his.goto(link_in(reset))
            expect(
                his.get_by_role("heading", name="Choose a new password")
            ).to_be_visible()
            his.get_by_label("New password", exact=True).fill(RESET)
            his.get_by_label("Repeat the new password").fill(RESET)
            his.get_by_role("button", name="Save password").click()
            expect(his).to_have_url(re.compile(r"/login$"))

            sign_in(his, INVITED, CHANGED)
            expect(his.get_by_text("Wrong email or password")).to_be_visible()
            sign_in(his, INVITED, RESET)
            expect(his).to_have_url(re.compile(r"/members$"))
        finally:
            for context in (owner, ivan, elsewhere):
                context.close()
    assert len(events(console, "password.changed")) == 1


def test_turning_okta_off_shows_who_is_left_without_a_way_in_first(
    console: Flask, provider: str, browser: Browser
) -> None:
    org = make_org(console, ORGANIZATION, owner_email=OWNER_EMAIL)
    console.config["WTF_CSRF_ENABLED"] = False  # the setup below is not the journey
    connect_okta(console, org, provider, send_links=False)
    console.config["WTF_CSRF_ENABLED"] = True
    make_user(
        console,
        org.id,
        "jit.jane@acme.test",
        password=None,
        source="sso",
        given_name="Jane",
        family_name="Jit",
    )
    with serve(console) as base_url:
        context = new_context(browser, base_url)
        try:
            page = context.new_page()
            sign_in(page, OWNER_EMAIL, PASSWORD)
            page.goto("/settings")
            drop_down = page.get_by_label("Single sign on (SSO) Authentication")
            expect(drop_down).to_have_value("okta")

            # None + Connect: the impact first, nothing changed yet.
            drop_down.select_option(label="None")
            page.get_by_role("button", name="Connect").click()
            expect(
                page.get_by_role("heading", name="Turn off Okta sign-in?")
            ).to_be_visible()
            expect(page.locator("#stranded-warning")).to_contain_text(
                "1 member will have no way to sign in"
            )
            expect(page.locator("#turn-off-impact")).to_contain_text(
                "jit.jane@acme.test"
            )
            screenshot(page, "console-turn-off-okta.png")
            page.get_by_role("link", name="Cancel").click()
            page.goto("/settings")
            expect(
                page.get_by_label("Single sign on (SSO) Authentication")
            ).to_have_value("okta")

            # Confirmed: Okta sign-in is off.
            page.get_by_label("Single sign on (SSO) Authentication").select_option(
                label="None"
            )
            page.get_by_role("button", name="Connect").click()
            page.get_by_role("button", name="Turn off Okta sign-in").click()
            expect(page).to_have_url(re.compile(r"/settings$"))
            expect(page.get_by_text("Okta single sign-on is off.")).to_be_visible()
            expect(
                page.get_by_label("Single sign on (SSO) Authentication")
            ).to_have_value("none")
        finally:
            context.close()
    assert len(events(console, "settings.okta_disconnected")) == 1


def _user_id(app: Flask, org: OrgInfo, address: str) -> int:
    """The id of the organization's user with this email."""
    row = user_row(app, org.id, address)
    assert row is not None
    return int(row["id"])
