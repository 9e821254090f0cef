"""Okta sign-in over OpenID Connect: the flow from the SSO pages to the callback.

The callback signs nobody in with a wrong, missing or replayed state, a sign-in
started too long ago or before the settings changed; Okta's errors become a
page; `next` is honoured only on this host; the SSO pages do not tell which
organizations exist. Servers, constants and round trips: tests/support/oidc.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from flask import Flask

from core.extensions import db
from core.models import AuditEvent
from core.models import Organization
from core.models import SsoConfig
from core.models import UserSession
from core.security import hash_token
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import sign_in
from tests.support.hostile_oidc import HostileProvider
from tests.support.live import serve
from tests.support.oidc import CLIENT_ID
from tests.support.oidc import at_provider
from tests.support.oidc import connect_okta
from tests.support.oidc import discovery
from tests.support.oidc import okta_sign_in
from tests.support.oidc import okta_successes
from tests.support.oidc import okta_user
from tests.support.oidc import refusal_reasons
from tests.support.oidc import start
from tests.support.rows import assert_nobody_signed_in
from tests.support.rows import events
from tests.support.rows import identities
from tests.support.rows import signed_in_user_id
from tests.support.rows import user_count
from tests.support.rows import user_row

# The mock provider signs its ID tokens through an Authlib hook Authlib has
# deprecated; the warning is raised in the provider's thread, not by our code.
pytestmark = [
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
    pytest.mark.usefixtures("quick_passwords"),
]


# -- the callback: state, replay, errors ---------------------------------------


@pytest.mark.parametrize(
    "tamper",
    [
        lambda query: {**query, "state": "forged-state"},
        lambda query: {**query, "state": ""},
        lambda query: {k: v for k, v in query.items() if k != "state"},
    ],
    ids=["forged", "empty", "missing"],
)
def test_a_callback_with_the_wrong_state_signs_nobody_in(
    app: Flask,
    org: OrgInfo,
    provider: str,
    tamper: Callable[[dict[str, str]], dict[str, str]],
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-alice", "alice@acme.test")
    browser = app.test_client()
    callback = at_provider(start(browser), "00u-alice")
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    users_before = user_count(app)

    response = browser.get("/okta/callback", query_string=tamper(query))

    assert response.status_code == 403
    assert "does not belong to the sign-in you started" in response.text
    assert_nobody_signed_in(app, browser)
    assert user_count(app) == users_before
    assert identities(app) == []
    assert refusal_reasons(app)[-1] == "state does not match the sign-in in progress"
    # A forged answer cannot spend the sign-in in progress: the genuine one works.
    assert browser.get(callback).status_code == 302


def test_a_replayed_callback_is_refused(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-alice", "alice@acme.test")
    browser = app.test_client()
    callback = at_provider(start(browser), "00u-alice")
    assert browser.get(callback).status_code == 302
    alice = user_row(app, org.id, "alice@acme.test")
    assert alice is not None

    # The same browser, again.
    response = browser.get(callback)
    assert response.status_code == 400
    assert "expired or was already used" in response.text
    # Another browser that stole the URL.
    thief = app.test_client()
    response = thief.get(callback)
    assert response.status_code == 400
    assert_nobody_signed_in(app, thief)
    # Another browser with a sign-in of its own in progress.
    other = app.test_client()
    start(other)
    response = other.get(callback)
    assert response.status_code == 403
    assert_nobody_signed_in(app, other)

    with app.app_context():
        sessions = db.session.execute(
            db.select(db.func.count())
            .select_from(UserSession)
            .filter_by(user_id=alice["id"])
        ).scalar_one()
    assert sessions == 1
    assert user_count(app) == 2
    # Three refusals; the two with no sign-in in progress, from one address,
    # are one row that counts them (anyone can repeat them for free).
    with app.app_context():
        counted = db.session.execute(
            db.select(AuditEvent.details, AuditEvent.repeat_count)
            .filter_by(kind="sign_in.refused")
            .order_by(AuditEvent.id)
        ).all()
    assert [(details["reason"], count) for details, count in counted] == [
        ("no sign-in in progress (expired, replayed or another browser)", 2),
        ("state does not match the sign-in in progress", 1),
    ]


@pytest.mark.parametrize(
    "query",
    [{}, {"code": "abc", "state": "xyz"}, {"error": "access_denied", "state": "x"}],
    ids=["bare", "code", "error"],
)
def test_a_callback_without_a_sign_in_in_progress_is_refused(
    app: Flask, org: OrgInfo, provider: str, query: dict[str, str]
) -> None:
    connect_okta(app, org, provider)
    browser = app.test_client()

    response = browser.get("/okta/callback", query_string=query)

    assert response.status_code == 400
    assert "Start again from the sign-in page" in response.text
    assert_nobody_signed_in(app, browser)
    [event] = events(app, "sign_in.refused")
    assert event["reason"].startswith("no sign-in in progress")


def test_a_sign_in_started_too_long_ago_is_refused(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-alice", "alice@acme.test")
    browser = app.test_client()
    callback = at_provider(start(browser), "00u-alice")
    with browser.session_transaction() as session:
        session["okta_flow"] = {**session["okta_flow"], "started": time.time() - 3600}

    response = browser.get(callback)

    assert response.status_code == 400
    assert_nobody_signed_in(app, browser)
    assert user_row(app, org.id, "alice@acme.test") is None
    assert refusal_reasons(app)[-1].startswith("no sign-in in progress")


def test_a_sign_in_started_before_the_settings_changed_is_refused(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-alice", "alice@acme.test")
    browser = app.test_client()
    callback = at_provider(start(browser), "00u-alice")
    connect_okta(app, org, provider, client_id="0oa-another-client")

    response = browser.get(callback)

    assert response.status_code == 400
    assert "settings changed" in response.text
    assert_nobody_signed_in(app, browser)
    assert refusal_reasons(app)[-1] == "Okta settings changed during sign-in"


def test_an_error_without_state_cannot_end_the_sign_in_in_progress(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-alice", "alice@acme.test")
    browser = app.test_client()
    callback = at_provider(start(browser), "00u-alice")
    forged = browser.get("/okta/callback?error=access_denied")
    assert forged.status_code == 403
    assert "ask your Okta administrator to assign you" in forged.text
    assert_nobody_signed_in(app, browser)
    assert browser.get(callback).status_code == 302  # the real answer still works


def test_access_denied_by_okta_tells_what_to_ask_the_okta_admin(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-alice", "alice@acme.test")
    browser = app.test_client()
    callback = at_provider(start(browser), "00u-alice", action="deny")
    assert "error=access_denied" in callback

    response = browser.get(callback)

    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "ask your Okta administrator to assign you" in response.text
    assert '"error"' not in response.text
    assert_nobody_signed_in(app, browser)
    assert user_row(app, org.id, "alice@acme.test") is None
    event = events(app, "sign_in.refused")[-1]
    assert event["reason"] == "Okta returned access_denied"
    assert event["organization_id"] == org.id


@pytest.mark.parametrize(
    ("error", "description", "expected"),
    [
        (
            "access_denied",
            "User is not assigned to the client application.",
            "ask your Okta administrator to assign you",
        ),
        (
            "temporarily_unavailable",
            "",
            "Okta refused the sign-in (temporarily_unavailable). Ask your Okta",
        ),
        ("<script>alert(1)</script>", "", "&lt;script&gt;"),
    ],
    ids=["not-assigned", "other", "markup"],
)
def test_okta_errors_become_a_page_not_raw_json(
    app: Flask,
    org: OrgInfo,
    provider: str,
    error: str,
    description: str,
    expected: str,
) -> None:
    connect_okta(app, org, provider)
    browser = app.test_client()
    state = parse_qs(urlsplit(start(browser)).query)["state"][0]

    response = browser.get(
        "/okta/callback",
        query_string={
            "error": error,
            "error_description": description,
            "state": state,
        },
    )

    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert expected in response.text
    assert "<script>alert" not in response.text
    assert_nobody_signed_in(app, browser)
    event = events(app, "sign_in.refused")[-1]
    assert event["reason"] == f"Okta returned {error}"
    assert event["description"] == description


def test_an_unreachable_okta_at_sign_in_is_explained(app: Flask, org: OrgInfo) -> None:
    gone = HostileProvider()
    with serve(gone.wsgi) as url:
        gone.base = url
        connect_okta(app, org, gone.base)
    browser = app.test_client()

    response = browser.get("/sso/okta?org=Acme")

    assert response.status_code == 502
    assert "could not reach your organization's Okta" in response.text.replace(
        "&#39;", "'"
    )
    assert_nobody_signed_in(app, browser)
    assert refusal_reasons(app)[-1] == "Okta metadata unreachable"


# -- next ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("next_url", "landing"),
    [
        ("https://evil.example", "/members"),
        ("//evil.example/members", "/members"),
        ("/\\evil.example", "/members"),
        ("/\t/evil.example", "/members"),
        ("javascript:alert(1)", "/members"),
        ("/groups", "/groups"),
        ("/members?page=2", "/members?page=2"),
    ],
)
def test_next_is_honoured_only_on_this_host(
    app: Flask, org: OrgInfo, provider: str, next_url: str, landing: str
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-alice", "alice@acme.test")
    browser = app.test_client()

    response = okta_sign_in(browser, provider, "00u-alice", next=next_url)

    assert response.status_code == 302
    assert response.headers["Location"] == landing
    assert signed_in_user_id(app, browser) is not None


# -- the SSO pages -------------------------------------------------------------


def test_sso_pages_do_not_tell_which_organizations_exist(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider)
    make_org(app, "Plain")  # pro, Okta not set up
    free = make_org(app, "Freebie", plan="free")
    with app.app_context():  # Okta set up on a plan since downgraded
        freebie = db.session.get(Organization, free.id)
        freebie.sso_config = SsoConfig(
            provider="okta",
            oidc_client_id=CLIENT_ID,
            oidc_metadata_url=discovery(provider),
        )
        db.session.commit()
    client = app.test_client()

    answers = {}
    for name in ("Nowhere Inc", "Plain", "Freebie"):
        page = client.post("/sso", data={"organization": name})
        start_page = client.get("/sso/okta", query_string={"org": name})
        answers[name] = (
            page.status_code,
            page.text.replace(name, "NAME"),
            start_page.status_code,
            start_page.text,
        )

    assert answers["Nowhere Inc"] == answers["Plain"] == answers["Freebie"]
    status, text, start_status, _ = answers["Plain"]
    assert (status, start_status) == (404, 404)
    assert "Single sign-on is not available for that" in text
    assert okta_successes(app) == []
    # Acme, with Okta, gets the button that starts the flow.
    page = client.post("/sso", data={"organization": "acme"})
    assert page.status_code == 200
    assert 'href="/sso/okta?org=Acme"' in page.text
    assert "Sign in with Okta" in page.text


def test_nav_shows_who_is_signed_in(app: Flask, org: OrgInfo) -> None:
    client = app.test_client()
    sign_in(client, org.owner_email)
    assert 'class="whoami"' in client.get("/members").text


def test_an_okta_sign_in_records_how_the_session_started(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-alice", "alice@acme.test")
    browser = app.test_client()

    assert okta_sign_in(browser, provider, "00u-alice").status_code == 302

    user_id = signed_in_user_id(app, browser)
    alice = user_row(app, org.id, "alice@acme.test")
    assert alice is not None and alice["id"] == user_id
    assert alice["last_sign_in_method"] == "okta-oidc"
    with app.app_context():
        methods = db.session.scalars(
            db.select(UserSession.method).filter_by(user_id=user_id)
        ).all()
    assert methods == ["okta-oidc"]


def test_signing_in_again_in_a_signed_in_browser_ends_its_old_session(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    """An Okta sign-in in a browser signed in with a password (here as another
    person) replaces its session: a copy of the old cookie is dead."""
    connect_okta(app, org, provider)
    okta_user(provider, "00u-alice", "alice@acme.test")
    browser = app.test_client()
    assert sign_in(browser, org.owner_email).status_code == 302
    with browser.session_transaction() as session:
        old_token = session["_user_id"]

    assert okta_sign_in(browser, provider, "00u-alice").status_code == 302

    copy = app.test_client()
    with copy.session_transaction() as session:
        session["_user_id"] = old_token
    assert_nobody_signed_in(app, copy)
    assert signed_in_user_id(app, browser) not in (None, org.owner_id)
    with app.app_context():
        old = db.session.scalars(
            db.select(UserSession).filter_by(token_hash=hash_token(old_token))
        ).one()
    assert old.revoked_at is not None
