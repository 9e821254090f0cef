"""Every page an owner, an admin, a member or a visitor can open, in chromium
(issue #13): at 390×844 and 1280×800 nothing overflows horizontally, the skip
link is the first Tab stop, Tab reaches every interactive element, every input
has a label, text meets WCAG AA contrast, and on a phone the menu opens with
the keyboard and says so (aria-expanded).

The pages come from the app's URL map: `test_every_page_is_checked_or_excluded`
fails when a GET page is neither checked here nor excluded with its reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser
from playwright.sync_api import BrowserContext
from playwright.sync_api import Page

from core.extensions import db
from tests.support.builders import make_app
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import scim_key
from tests.support.constants import PASSWORD
from tests.support.live import chromium
from tests.support.live import serve

pytestmark = pytest.mark.browser

VIEWPORTS = {"phone": (390, 844), "desktop": (1280, 800)}
ROLES = ("owner", "admin", "member")

# GET pages each role opens; {member} and {group} are ids of the seeded data.
SIGNED_IN = [
    "/members",
    "/members/{member}",
    "/groups",
    "/groups/{group}",
    "/organization",
    "/api-keys",
    "/account/password",
    "/logout",
    "/no-such-page",
]
ADMIN_ONLY = [
    "/members/new",
    "/settings",
    "/settings/okta",
    "/settings/provisioning",
    "/settings/okta/require",
    "/settings/okta/universal-logout",
    "/audit",
]
ANONYMOUS = ["/login", "/login/backup", "/password/forgot", "/sso", "/no-such-page"]
# Pages of an empty install: setup, and setup after a blank submit (errors).
EMPTY_INSTALL = ["/setup", "/setup#submitted-blank"]
# GET endpoints not checked here, and why.
EXCLUDED = {
    "login.index": "redirects only",
    "health.healthz": "JSON for load balancers",
    "okta_saml.metadata": "XML for Okta",
    "okta_oidc.callback": "Okta's redirect target, needs a sign-in under way",
    "okta.start": "redirects to Okta",
    "okta.link": "needs an emailed single-use token",
    "passwords.reset": "needs an emailed single-use token",
    "login.choose": "needs a password that opened several organizations",
    "static": "files",
}
# What a member gets instead of an admin page (the friendly 403, checked too).
FORBIDDEN_FOR_MEMBER = ["/settings", "/audit"]

FOCUSABLE_JS = """
() => {
  const selector = 'a[href], button, input:not([type=hidden]), select, textarea, '
    + 'summary, [tabindex]:not([tabindex="-1"])';
  const seenRadios = new Set();
  const all = [...document.querySelectorAll(selector)].filter((el) => {
    if (el.disabled || el.closest('[inert]')) return false;
    if (el.getAttribute('tabindex') === '-1') return false;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || el.getClientRects().length === 0) return false;
    if (el.type === 'radio') {
      if (seenRadios.has(el.name)) return false;
      seenRadios.add(el.name);
    }
    return true;
  });
  all.forEach((el, index) => { el.dataset.focusIndex = String(index); });
  return all.length;
}
"""

# The element Tab reached: its index among the focusables (a radio stands for
# its group), "body" when focus left the page, or a description of a stranger.
ACTIVE_JS = """
() => {
  let el = document.activeElement;
  if (!el || el === document.body) return 'body';
  if (el.type === 'radio') {
    const group = `input[type=radio][name="${el.name}"][data-focus-index]`;
    el = document.querySelector(group) || el;
  }
  return el.dataset.focusIndex ?? ('other:' + el.outerHTML.slice(0, 120));
}
"""

UNLABELLED_JS = """
() => [...document.querySelectorAll('input, select, textarea')].filter((el) => {
  if (['hidden', 'submit', 'button', 'reset', 'image'].includes(el.type)) return false;
  if (el.getClientRects().length === 0) return false;
  const named = el.labels.length > 0 || el.getAttribute('aria-label')
    || el.getAttribute('aria-labelledby') || el.getAttribute('title');
  return !named;
}).map((el) => el.outerHTML.slice(0, 160))
"""

CONTRAST_JS = """
() => {
  const parse = (text) => {
    const m = text.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  };
  const background = (el) => {
    const layers = [];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const colour = parse(getComputedStyle(node).backgroundColor);
      if (colour[3] > 0) layers.push(colour);
      if (colour[3] === 1) break;
    }
    let result = [255, 255, 255, 1];
    for (const layer of layers.reverse()) result = over(layer, result);
    return result;
  };
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const failures = [];
  for (const el of document.querySelectorAll('body *')) {
    const text = [...el.childNodes].filter((n) => n.nodeType === 3)
      .map((n) => n.textContent).join('').trim();
    if (!text || el.getClientRects().length === 0) continue;
    if (el.closest(':disabled') || el.closest('.skip-link')) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden') continue;
    const bg = background(el);
    const fg = over(parse(style.color), bg);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      failures.push(`${ratio.toFixed(2)} ${style.color} on rgb(${bg.slice(0, 3)}): `
        + `<${el.tagName.toLowerCase()} class="${el.className}"> ${text.slice(0, 40)}`);
    }
  }
  return failures;
}
"""


@dataclass
class Site:
    """The seeded install, the empty one, and a signed-in context per role."""

    url: str
    empty_url: str
    ids: dict[str, int]
    contexts: dict[str, BrowserContext]
    browser: Browser


def seed(app: Flask) -> dict[str, int]:
    """An organization with an owner, an admin, a member, a SCIM user and a group."""
    org = make_org(app, owner_email="owner@acme.test")
    make_user(app, org.id, "admin@acme.test", role="admin", password=PASSWORD)
    make_user(app, org.id, "member@acme.test", role="member", password=PASSWORD)
    secret = scim_key(app, org.id)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    user = client.post(
        "/api/v1/scim/Users",
        headers=headers,
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "dana.from.okta.with.a.rather.long.address@acme.test",
            "name": {"givenName": "Dana", "familyName": "Okta"},
            "emails": [
                {"value": "dana.from.okta.with.a.rather.long.address@acme.test"}
            ],
            "active": True,
        },
    )
    assert user.status_code == 201, user.text
    group = client.post(
        "/api/v1/scim/Groups",
        headers=headers,
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Engineering",
            "members": [{"value": user.get_json()["id"]}],
        },
    )
    assert group.status_code == 201, group.text
    return {"member": int(user.get_json()["id"]), "group": int(group.get_json()["id"])}


def signed_in_context(browser: Browser, url: str, email: str) -> BrowserContext:
    context = browser.new_context(base_url=url)
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/members$"))
    page.close()
    return context


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, Flask]]:
    root = tmp_path_factory.mktemp("pages")
    (root / "seeded").mkdir()
    (root / "empty").mkdir()
    seeded = make_app(root / "seeded", WTF_CSRF_ENABLED=True)
    # Its own SQLite file even on a PostgreSQL run, where every test app
    # shares one database (the seeded one: setup would be over).
    empty = make_app(
        root / "empty",
        WTF_CSRF_ENABLED=True,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{root / 'empty' / 'empty.sqlite'}",
    )
    yield seeded, empty
    for app in (seeded, empty):
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="module")
def site(apps: tuple[Flask, Flask]) -> Iterator[Site]:
    seeded, empty = apps
    ids = seed(seeded)
    with (
        serve(seeded, set_public_base_url=True) as url,
        serve(empty) as empty_url,
        chromium() as browser,
    ):
        contexts = {
            role: signed_in_context(browser, url, f"{role}@acme.test") for role in ROLES
        }
        contexts["anonymous"] = browser.new_context(base_url=url)
        contexts["empty"] = browser.new_context(base_url=empty_url)
        try:
            yield Site(url, empty_url, ids, contexts, browser)
        finally:
            for context in contexts.values():
                context.close()


def cases() -> list[Any]:
    """(who, path) for every page, with the ids filled in at run time."""
    found = []
    for role in ROLES:
        pages = SIGNED_IN + (FORBIDDEN_FOR_MEMBER if role == "member" else ADMIN_ONLY)
        found += [pytest.param(role, path, id=f"{role}:{path}") for path in pages]
    found += [
        pytest.param("anonymous", path, id=f"anonymous:{path}") for path in ANONYMOUS
    ]
    found += [pytest.param("empty", path, id=f"empty:{path}") for path in EMPTY_INSTALL]
    return found


def open_page(site: Site, who: str, path: str, viewport: tuple[int, int]) -> Page:
    page = site.contexts[who].new_page()
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    address, _, state = path.format(**site.ids).partition("#")
    response = page.goto(address)
    assert response is not None
    if state == "submitted-blank":
        page.get_by_role("button", name="Create organization").click()
        page.wait_for_selector(".error")
    return page


def focus_top(page: Page) -> None:
    """Start Tab from the top of the page, as on a fresh load (a field with
    autofocus would otherwise be the starting point)."""
    page.evaluate(
        """() => {
          const start = document.createElement('span');
          start.tabIndex = -1;
          start.id = 'tab-start';
          document.body.prepend(start);
          start.focus();
        }"""
    )


def tab_through(page: Page) -> tuple[list[str], int]:
    """Press Tab until focus leaves the page; return what it reached, in order.

    A date field takes one Tab stop per part (day, month, year) in chromium:
    its repeats count once, and the presses allowed leave room for them.
    """
    count = page.evaluate(FOCUSABLE_JS)
    focus_top(page)
    reached: list[str] = []
    for _ in range(count * 3 + 5):
        page.keyboard.press("Tab")
        active = page.evaluate(ACTIVE_JS)
        if active == "body" or (reached and active == reached[0]):
            break
        if not reached or active != reached[-1]:
            reached.append(active)
    return reached, count


def check_menu(page: Page) -> None:
    """On a phone: Tab to Menu, Enter opens it (aria-expanded), Escape closes."""
    focus_top(page)
    toggle = page.locator("#nav-toggle")
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "nav-toggle":
            break
    else:
        raise AssertionError("Tab never reached the Menu button")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert toggle.get_attribute("aria-controls") == "main-nav"
    assert not page.locator("#main-nav").is_visible()
    page.keyboard.press("Enter")
    assert toggle.get_attribute("aria-expanded") == "true"
    assert page.locator("#main-nav").is_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("() => !!document.activeElement.closest('#main-nav')")
    page.keyboard.press("Escape")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert not page.locator("#main-nav").is_visible()
    assert page.evaluate("() => document.activeElement.id") == "nav-toggle"


@pytest.mark.parametrize(("who", "path"), cases())
@pytest.mark.parametrize("viewport", list(VIEWPORTS), ids=list(VIEWPORTS))
def test_page_is_usable_by_keyboard_on_a_phone_and_a_desktop(
    site: Site, who: str, path: str, viewport: str
) -> None:
    page = open_page(site, who, path, VIEWPORTS[viewport])
    try:
        width = page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert width[0] <= width[1], f"{width[0]} px wide in a {width[1]} px window"
        assert 'autocomplete="None"' not in page.content()
        assert page.evaluate(UNLABELLED_JS) == []
        assert page.evaluate(CONTRAST_JS) == []

        reached, count = tab_through(page)
        first = page.locator("[data-focus-index='0']")
        assert first.get_attribute("class") == "skip-link"
        assert reached[:1] == ["0"], "the skip link is the first Tab stop"
        assert [stop for stop in reached if stop.startswith("other:")] == []
        assert sorted(set(reached), key=int) == [str(i) for i in range(count)], (
            f"Tab reached {len(set(reached))} of {count} focusable elements"
        )

        if viewport == "phone" and who in ROLES:
            check_menu(page)
    finally:
        page.close()


def test_the_skip_link_moves_focus_to_the_main_content(site: Site) -> None:
    page = site.contexts["owner"].new_page()
    try:
        page.goto("/members")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        assert page.evaluate("() => document.activeElement.id") == "main"
        page.keyboard.press("Tab")
        assert page.evaluate("() => !!document.activeElement.closest('main')")
    finally:
        page.close()


def test_every_page_is_checked_or_excluded(apps: tuple[Flask, Flask]) -> None:
    seeded, _ = apps
    checked = {
        re.sub(r"\{[a-z]+\}", "<id>", path.partition("#")[0])
        for path in SIGNED_IN + ADMIN_ONLY + ANONYMOUS + EMPTY_INSTALL
    }
    missing = []
    for rule in seeded.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint.startswith("scim."):
            continue
        shape = re.sub(r"<[^>]+>", "<id>", rule.rule)
        if shape not in checked and rule.endpoint not in EXCLUDED:
            missing.append(f"{rule.rule} ({rule.endpoint})")
    assert missing == [], "add these pages to tests/test_browser_pages.py"
