"""The API keys page: create → redirect → the secret once, what to paste into Okta,
names unique per owner, flashes that name the key.

Creating a key answers 303 to `/api-keys?created=<id>`; that page shows the
secret the first time only, to the session that created it. The secret is
never in a URL, a header, a cookie, a log line or a database row in clear.
"""

from __future__ import annotations

import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from lxml import html
from playwright.sync_api import Browser
from playwright.sync_api import expect
from werkzeug.test import TestResponse

from core.extensions import db
from core.models import ApiKey
from core.models import ApiKeyReveal
from core.models import utcnow
from tests.support.builders import AppMaker
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.constants import APP_ROOT
from tests.support.constants import PASSWORD
from tests.support.live import serve
from tests.support.rows import snapshot

SCIM_BASE = APP_ROOT + "/api/v1/scim"
OKTA = {"name": "Okta provisioning", "kind": "organization", "scopes": "scim"}
TIMEOUT_MS = 10_000


def client_of(app: Flask, email: str) -> FlaskClient:
    """A client signed in as `email`."""
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


def key_count(app: Flask) -> int:
    with app.app_context():
        return db.session.execute(db.select(db.func.count(ApiKey.id))).scalar_one()


def shown_secret(page: str) -> str | None:
    """The secret in the one-time box, or None."""
    found = html.fromstring(page).xpath('//*[@id="secret-value"]/text()')
    return found[0] if found else None


def create(client: FlaskClient, **data: str) -> TestResponse:
    """POST the create form (OKTA, with `data` over it), not followed."""
    return client.post("/api-keys", data={**OKTA, **data})


def field_errors(page: str, field: str) -> list[str]:
    """The errors shown at a field of the create form."""
    tree = html.fromstring(page)
    return [
        " ".join(node.text_content().split())
        for node in tree.xpath(
            f'//input[@id="{field}"]/ancestor::div[contains(@class, "field")]'
            '//p[@class="error"]'
        )
    ]


# -- Post/Redirect/Get, the secret once -----------------------------------------------


def test_create_redirects_and_a_reload_creates_nothing(
    app: Flask, owner_client: FlaskClient
) -> None:
    response = create(owner_client)
    assert response.status_code == 303
    with app.app_context():
        key_id = db.session.execute(db.select(ApiKey.id)).scalar_one()
    assert response.headers["Location"] == f"/api-keys?created={key_id}"
    for _reload in range(3):
        assert owner_client.get(response.headers["Location"]).status_code == 200
    assert key_count(app) == 1


def test_the_secret_is_shown_once_on_the_page_the_creation_lands_on(
    app: Flask, owner_client: FlaskClient
) -> None:
    landing = create(owner_client).headers["Location"]
    first = owner_client.get(landing).text
    secret = shown_secret(first)
    assert secret is not None and secret.startswith("gh_")
    assert first.count(secret) == 1
    again = owner_client.get(landing).text
    assert secret not in again and shown_secret(again) is None
    assert 'id="secret-gone"' in again
    assert "Okta provisioning" in again
    assert secret not in owner_client.get("/api-keys").text
    with app.app_context():
        assert db.session.execute(db.select(ApiKeyReveal)).first() is None


def test_another_session_of_the_creator_or_another_admin_never_sees_the_secret(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    make_user(app, org.id, "ada@acme.test", role="admin")
    landing = create(owner_client).headers["Location"]
    for other in (client_of(app, org.owner_email), client_of(app, "ada@acme.test")):
        page = other.get(landing)
        assert page.status_code == 200 and shown_secret(page.text) is None
    # ... and that did not spend the creator's one display.
    assert shown_secret(owner_client.get(landing).text) is not None


def test_another_organizations_landing_page_shows_nothing_of_the_key(
    app: Flask, owner_client: FlaskClient
) -> None:
    landing = create(owner_client, name="Acme secret plans").headers["Location"]
    globex = make_org(app, "Globex")
    page = client_of(app, globex.owner_email).get(landing)
    assert page.status_code == 200
    assert "Acme secret plans" not in page.text and 'id="new-secret"' not in page.text


def test_an_expired_secret_is_not_shown(app: Flask, owner_client: FlaskClient) -> None:
    landing = create(owner_client).headers["Location"]
    with app.app_context():
        db.session.execute(
            db.update(ApiKeyReveal).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    page = owner_client.get(landing).text
    assert shown_secret(page) is None and 'id="secret-gone"' in page


def test_the_secret_is_in_no_url_header_cookie_row_or_log(
    app: Flask, owner_client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    posted = create(owner_client)
    stored = json.dumps(snapshot(app), default=str)  # the secret waits encrypted
    landed = owner_client.get(posted.headers["Location"])
    secret = shown_secret(landed.text)
    assert secret is not None
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    cookie = owner_client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    assert landed.headers["Cache-Control"] == "no-store"  # not kept for "Back"
    for response in (posted, landed):
        assert secret not in str(response.headers)  # Location and Set-Cookie included
    assert secret not in cookie.value
    assert secret not in json.dumps(serializer.loads(cookie.value))
    assert secret not in stored and secret[10:] not in stored
    assert secret not in json.dumps(snapshot(app), default=str)
    assert secret not in caplog.text
    assert secret not in owner_client.get("/audit").text


# -- the form and the one-time box ----------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_with_the_scim_scope_the_form_starts_from_an_organization_key(
    app: Flask, org: OrgInfo, role: str
) -> None:
    if role != "owner":
        make_user(app, org.id, "ada@acme.test", role=role)
    email = org.owner_email if role == "owner" else "ada@acme.test"
    tree = html.fromstring(client_of(app, email).get("/api-keys").text)
    assert tree.xpath('//input[@name="scopes"][@value="scim"]/@checked')
    checked = tree.xpath('//input[@name="kind"][@checked]/@value')
    assert checked == ["organization"]


def test_a_form_posted_without_a_kind_makes_an_organization_key(
    app: Flask, owner_client: FlaskClient
) -> None:
    data = {"name": "Okta", "scopes": "scim"}
    assert owner_client.post("/api-keys", data=data).status_code == 303
    with app.app_context():
        key = db.session.execute(db.select(ApiKey)).scalar_one()
        assert (key.user_id, key.role) == (None, "admin")


def test_the_box_shows_both_values_to_paste_into_okta_each_with_copy(
    app: Flask, owner_client: FlaskClient
) -> None:
    landing = create(owner_client).headers["Location"]
    # The connector URL comes from the configured address, never the Host header.
    cookie = owner_client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    owner_client.set_cookie(cookie.key, cookie.value, domain="evil.example")
    page = owner_client.get(landing, base_url="http://evil.example").text
    tree = html.fromstring(page)
    [box] = tree.xpath('//*[@id="new-secret"]')
    secret = shown_secret(page)
    assert secret is not None
    assert box.xpath('string(.//*[@id="scim-base-url"])') == SCIM_BASE
    assert "evil.example" not in page
    header = " ".join(
        box.xpath('string(.//*[@id="secret-value"]/ancestor::dd)').split()
    )
    assert header.startswith(f"Authorization: Bearer {secret}")
    for target in ("scim-base-url", "secret-value"):
        [button] = box.xpath(f'.//button[@data-copy="{target}"]')
        assert button.text_content() == "Copy" and button.get("type") == "button"
    assert tree.xpath('//script[@src="/static/app.js"]')


def test_without_a_public_address_the_box_says_so_and_still_shows_the_secret(
    new_app: AppMaker,
) -> None:
    app = new_app(PUBLIC_BASE_URL="")
    org = make_org(app)
    owner = client_of(app, org.owner_email)
    page = owner.get(create(owner).headers["Location"]).text
    tree = html.fromstring(page)
    assert tree.xpath('//*[@id="new-secret"]//*[@id="no-public-url"]')
    assert not tree.xpath('//*[@id="scim-base-url"]')
    assert shown_secret(page) is not None


def test_flashes_name_the_key(app: Flask, owner_client: FlaskClient) -> None:
    page = owner_client.get(create(owner_client).headers["Location"]).text
    assert "Key “Okta provisioning” created." in page
    with app.app_context():
        key_id = db.session.execute(db.select(ApiKey.id)).scalar_one()
    revoked = owner_client.post(f"/api-keys/{key_id}/revoke", follow_redirects=True)
    assert "Key “Okta provisioning” revoked." in revoked.text


# -- names unique per owner ------------------------------------------------------------


def test_a_duplicate_name_is_refused_at_the_field_and_changes_nothing(
    app: Flask, owner_client: FlaskClient
) -> None:
    assert create(owner_client).status_code == 303
    before = snapshot(app)
    for name in ("Okta provisioning", "  okta PROVISIONING ", "OKTA PROVISIONING"):
        response = create(owner_client, name=name)
        assert response.status_code == 400, name
        assert field_errors(response.text, "name") == [
            "This organization already has a key named “"
            + name.strip()
            + "”. Choose another name."
        ]
        assert 'value="' + name + '"' in response.text  # what was typed stays
    assert snapshot(app) == before


def test_personal_and_organization_names_are_separate_scopes(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    make_user(app, org.id, "ada@acme.test", role="admin")
    ada = client_of(app, "ada@acme.test")
    assert create(owner_client).status_code == 303  # the organization's
    assert create(owner_client, kind="personal").status_code == 303  # the owner's
    assert create(ada, kind="personal").status_code == 303  # Ada's
    before = snapshot(app)
    again = create(ada, kind="personal", name="OKTA Provisioning")
    assert again.status_code == 400
    assert field_errors(again.text, "name") == [
        "You already have a key named “OKTA Provisioning”. Choose another name."
    ]
    assert create(ada, kind="organization").status_code == 400
    assert snapshot(app) == before
    assert key_count(app) == 3


def test_another_organizations_key_names_do_not_collide(
    app: Flask, owner_client: FlaskClient
) -> None:
    globex = make_org(app, "Globex")
    assert create(client_of(app, globex.owner_email)).status_code == 303
    assert create(owner_client).status_code == 303
    assert key_count(app) == 2


def test_a_revoked_keys_name_can_be_given_to_its_replacement(
    app: Flask, owner_client: FlaskClient
) -> None:
    assert create(owner_client).status_code == 303
    with app.app_context():
        key_id = db.session.execute(db.select(ApiKey.id)).scalar_one()
    assert owner_client.post(f"/api-keys/{key_id}/revoke").status_code == 302
    assert create(owner_client).status_code == 303
    assert key_count(app) == 2


N = 8


def test_concurrent_creations_of_one_name_make_one_key_and_no_500(
    app: Flask, org: OrgInfo
) -> None:
    """Released together through a threaded server: the unique index decides."""
    with serve(app) as url:
        session = requests.Session()
        signed_in = session.post(
            url + "/login",
            data={"email": org.owner_email, "password": PASSWORD},
            allow_redirects=False,
        )
        assert signed_in.status_code == 302
        barrier = Barrier(N)

        def one(_index: int) -> int:
            barrier.wait()
            return session.post(
                url + "/api-keys", data=OKTA, allow_redirects=False, timeout=60
            ).status_code

        with ThreadPoolExecutor(N) as pool:
            statuses = sorted(pool.map(one, range(N)))
    assert statuses == [303] + [400] * (N - 1)
    assert key_count(app) == 1


# -- in a real browser ----------------------------------------------------------------


@pytest.mark.browser
def test_create_copy_and_reload_in_chromium(
    live_app: Flask, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    """Copy works under the CSP (our own app.js) and a reload shows no secret."""
    caplog.set_level(logging.DEBUG)
    org = make_org(live_app)
    problems: list[str] = []
    with serve(live_app, set_public_base_url=True) as url:
        context = browser.new_context(base_url=url)
        context.set_default_timeout(TIMEOUT_MS)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
        context.on("weberror", lambda error: problems.append(str(error.error)))
        page = context.new_page()
        page.on(
            "console",
            lambda message: message.type == "error" and problems.append(message.text),
        )
        page.goto("/login")
        page.get_by_label("Email").fill(org.owner_email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/members$"))
        page.goto("/api-keys")
        expect(
            page.get_by_role("radio", name=re.compile("^Organization:"))
        ).to_be_checked()
        page.get_by_label("Name").fill("Okta provisioning")
        page.get_by_role("button", name="Create key").click()
        expect(page).to_have_url(re.compile(r"/api-keys\?created=\d+$"))
        expect(page.locator(".flash-success")).to_have_text(
            "Key “Okta provisioning” created."
        )
        secret = page.locator("#secret-value").text_content()
        assert secret and secret.startswith("gh_")
        for target, value in (
            ("scim-base-url", url + "/api/v1/scim"),
            ("secret-value", secret),
        ):
            copy = page.locator(f'button[data-copy="{target}"]')
            copy.click()
            expect(copy).to_have_text("Copied")
            assert page.evaluate("navigator.clipboard.readText()") == value
        page.reload()
        expect(page.locator("#secret-gone")).to_be_visible()
        expect(page.locator("#secret-value")).to_have_count(0)
        assert secret not in page.content()
        context.close()
    assert key_count(live_app) == 1
    assert problems == []
    assert secret not in caplog.text
