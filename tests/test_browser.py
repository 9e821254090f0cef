"""End to end in a real browser: first-run setup, sign out, sign in, members.

Headless Debian chromium driven by Playwright against the app served for real on
127.0.0.1 (CSRF on, as in production). Screenshots go to tests/artifacts/ for a
person to look at; nothing here asserts on how the pages look.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser
from playwright.sync_api import Page
from playwright.sync_api import expect

from core import first_run
from tests.support.constants import BROWSER_OWNER_EMAIL as OWNER_EMAIL
from tests.support.constants import PASSWORD as OWNER_PASSWORD
from tests.support.live import serve

ARTIFACTS = Path(__file__).parent / "artifacts"

ORGANIZATION = "Acme Browser Test"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def base_url(live_app: Flask) -> Iterator[str]:
    """Serve `live_app` on 127.0.0.1 from a thread; yield its base URL."""
    with serve(live_app) as url:
        yield url


def screenshot(page: Page, name: str) -> None:
    """Save a full-page PNG to tests/artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


@pytest.mark.browser
def test_setup_sign_out_sign_in_members(
    live_app: Flask, base_url: str, browser: Browser
) -> None:
    context = browser.new_context(base_url=base_url)
    try:
        page = context.new_page()

        # An empty install sends everyone to the setup page.
        page.goto("/")
        expect(page).to_have_url(re.compile(r"/setup$"))
        expect(page.get_by_role("heading", name="Set up Gatehouse")).to_be_visible()

        # The operator reads the code from the server's output.
        code = first_run.setup_code(live_app)
        page.get_by_label("Setup code").fill(code)
        page.get_by_label("Organization name").fill(ORGANIZATION)
        page.get_by_label("Plan").select_option("pro")
        page.get_by_label("Your first name").fill("Ada")
        page.get_by_label("Your last name").fill("Lovelace")
        page.get_by_label("Your email").fill(OWNER_EMAIL)
        page.get_by_label("Password", exact=True).fill(OWNER_PASSWORD)
        page.get_by_label("Repeat the password").fill(OWNER_PASSWORD)
        screenshot(page, "setup.png")
        page.get_by_role("button", name="Create organization").click()

        # Signed in as the owner, on the members page.
        expect(page).to_have_url(re.compile(r"/members$"))
        expect(page.get_by_text(f"Welcome! {ORGANIZATION} is ready.")).to_be_visible()
        members = page.locator("#members")
        expect(members).to_contain_text(OWNER_EMAIL)
        expect(members).to_contain_text("Ada Lovelace")
        expect(members).to_contain_text("owner")

        # Sign out from the navigation.
        page.get_by_role("navigation", name="Main").get_by_role(
            "button", name="Sign out"
        ).click()
        expect(page).to_have_url(re.compile(r"/login$"))
        expect(page.get_by_text("You are signed out.")).to_be_visible()
        expect(page.get_by_role("button", name="Sign out")).to_have_count(0)

        # A wrong password is refused with a clear message.
        page.get_by_label("Email").fill(OWNER_EMAIL)
        page.get_by_label("Password").fill("not the password at all")
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/login$"))
        expect(page.get_by_text("Wrong email or password.")).to_be_visible()
        screenshot(page, "login.png")

        # The right one signs in.
        page.get_by_label("Email").fill(OWNER_EMAIL)
        page.get_by_label("Password").fill(OWNER_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/members$"))

        # The Members page from the navigation lists the owner.
        page.get_by_role("navigation", name="Main").get_by_role(
            "link", name="Members"
        ).click()
        expect(page).to_have_url(re.compile(r"/members$"))
        expect(page.get_by_role("heading", name="Members")).to_be_visible()
        expect(page.locator("#members")).to_contain_text(OWNER_EMAIL)
        screenshot(page, "members.png")

        # The same page on a phone.
        page.set_viewport_size(PHONE)
        page.reload()
        expect(page.locator("#members")).to_contain_text(OWNER_EMAIL)
        screenshot(page, "members-phone.png")
    finally:
        context.close()
