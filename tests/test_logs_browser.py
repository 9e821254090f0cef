"""The log pages in chromium: no word broken mid-way at 1280 px, cards and no
horizontal overflow at 390 px (#13: "ADD RESS", "127 .0. 0.1")."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Browser
from playwright.sync_api import Page

from core import audit
from core.extensions import db
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.live import screenshot
from tests.support.live import serve
from tests.support.logs import okta_made
from tests.support.logs import user_body

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("quick_passwords")]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
LONG_EMAIL = "alexandria.konstantinopoulou@engineering.acme-rockets.test"

# Every word of every text node in the table's cells whose pieces sit on more
# than one line: a word broken mid-way. Words end at spaces and after hyphens
# (where typography breaks too); a <wbr> after @ or / splits the text into
# nodes, so a break there is not counted either.
BROKEN_WORDS = """(selector) => {
  const broken = [];
  for (const cell of document.querySelectorAll(`${selector} th, ${selector} td`)) {
    if (cell.offsetParent === null) continue;
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.textContent.matchAll(/[^\\s-]+-?/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const lines = new Set([...range.getClientRects()]
          .filter((rect) => rect.width > 0).map((rect) => Math.round(rect.bottom)));
        if (lines.size > 1) broken.push(match[0]);
      }
    }
  }
  return broken;
}"""
OVERFLOW = """() => {
  const wide = [];
  const limit = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > limit) wide.push("page");
  const boxes = ".table-wrap, table.log, table.log tbody tr";
  for (const node of document.querySelectorAll(boxes)) {
    const name = node.tagName;
    if (node.scrollWidth > node.clientWidth + 1) wide.push(name + " scrolls");
    if (node.getBoundingClientRect().right > limit + 1) wide.push(name + " overflows");
  }
  return wide;
}"""


def history(app: Flask) -> None:
    """An organization whose logs hold long emails, group changes, refusals."""
    org = make_org(app, "Acme Rockets", owner_email="ada.owner@acme-rockets.test")
    make_user(app, org.id, LONG_EMAIL, given_name="Alexandria")
    world = okta_made(app, org, key_name="Okta provisioning (production)")
    world.scim.post("/Users", user_body("dana@acme.test"))  # 409
    with app.app_context():
        audit.record(
            "sign_in.refused",
            org.id,
            actor=LONG_EMAIL,
            reason="wrong password",
            reference="20261201-1712-WRONGPASSWORD",
        )
        audit.record(
            "settings.okta_configured",
            org.id,
            actor="cli",
            protocol="saml",
            default_role="member",
            live=False,
            entity_id="http://www.okta.com/exk1fcia6d6EMsf331d8",
            sso_url="https://acme-rockets.okta.com/app/acme-rockets_gatehouse_1/exk1fcia6d6EMsf331d8/sso/saml",
        )
        db.session.commit()


def sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill("ada.owner@acme-rockets.test")
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/members")


def check(page: Page, url: str, table: str, name: str) -> None:
    page.goto(url)
    assert page.locator(f"{table} tbody tr").count() >= 5
    screenshot(page, name)
    assert page.evaluate(BROKEN_WORDS, table) == [], name
    assert page.evaluate(OVERFLOW) == [], name


def test_log_tables_break_no_word_and_never_overflow(
    live_app: Flask, browser: Browser
) -> None:
    history(live_app)
    with serve(live_app) as base:
        page = browser.new_page(viewport=DESKTOP)
        sign_in(page, base)
        for path, table, name in (
            ("/audit", "#audit", "audit"),
            ("/settings/provisioning", "#activity", "provisioning"),
        ):
            page.set_viewport_size(DESKTOP)
            check(page, base + path, table, f"{name}-1280.png")
            # Headings are whole words in one line (not "ADD RESS").
            heights = page.eval_on_selector_all(
                f"{table} th", "(ths) => ths.map((th) => th.getClientRects().length)"
            )
            assert set(heights) == {1}
            page.set_viewport_size(PHONE)
            check(page, base + path, table, f"{name}-390.png")
            # On a phone each row is a card: cells stacked, headings inside.
            display = page.eval_on_selector(
                f"{table} tbody td", "(td) => getComputedStyle(td).display"
            )
            assert display == "block"
            label = page.eval_on_selector(
                f"{table} tbody td",
                "(td) => getComputedStyle(td, '::before').content",
            )
            assert label == '"When"'
        page.close()
