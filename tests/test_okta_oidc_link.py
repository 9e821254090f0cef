"""Okta sign-in over OpenID Connect: the emailed link that confirms a member.

A member who already has an account is signed in through Okta only after
following the link emailed to them (read from a real SMTP server); the link
explains before it acts, works once, expires, and cannot bind an Okta account
already linked to someone else. Servers, constants and round trips:
tests/support/oidc.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask

from core.extensions import db
from core.models import LinkToken
from core.models import utcnow
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.mail import Mailbox
from tests.support.oidc import at_provider
from tests.support.oidc import connect_okta
from tests.support.oidc import link_path
from tests.support.oidc import okta_sign_in
from tests.support.oidc import okta_user
from tests.support.oidc import refusal_reasons
from tests.support.rows import assert_nobody_signed_in
from tests.support.rows import events
from tests.support.rows import identities
from tests.support.rows import signed_in_user_id
from tests.support.rows import user_row

# The mock provider signs its ID tokens through an Authlib hook Authlib has
# deprecated; the warning is raised in the provider's thread, not by our code.
pytestmark = [
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
    pytest.mark.usefixtures("quick_passwords"),
]


def test_a_local_member_is_signed_in_only_after_confirming_the_emailed_link(
    smtp_app: Flask, mailbox: tuple[Mailbox, int], provider: str
) -> None:
    app, (inbox, _) = smtp_app, mailbox
    org = make_org(app)
    connect_okta(app, org, provider)
    # Setting Okta up emailed the owner, the only member then.
    assert len(inbox.to(org.owner_email)) == 1
    bob_id = make_user(app, org.id, "bob@acme.test")
    okta_user(provider, "00u-bob", "bob@acme.test")
    browser = app.test_client()

    response = okta_sign_in(browser, provider, "00u-bob")

    assert response.status_code == 403
    assert "Confirm your account first" in response.text
    assert "bob@acme.test" in response.text
    # Bob joined after Okta was set up: nothing was emailed, and the page says so.
    assert "No link has been emailed to bob@acme.test yet" in response.text
    assert "Email me the link again" not in response.text
    assert "Email me the link" in response.text
    assert_nobody_signed_in(app, browser)
    assert identities(app) == []
    refused = events(app, "sign_in.refused")[-1]
    # Audited as the Okta person who tried, with Bob's account as the target.
    assert (refused["reason"], refused["actor"], refused["actor_user_id"]) == (
        "needs_confirmation",
        "bob@acme.test",
        None,
    )
    assert refused["target"] == "bob@acme.test"

    # "Email me the link again" sends a real message.
    assert inbox.to("bob@acme.test") == []
    response = browser.post("/okta/resend")
    assert response.status_code == 200
    assert "Check your email" in response.text
    [message] = inbox.to("bob@acme.test")
    assert message["Subject"] == "Confirm and link your Okta account to Acme"
    assert events(app, "okta.link_email_sent")[-1]["target"] == "bob@acme.test"
    path = link_path(message)

    # The link explains first; nothing happens on GET.
    page = browser.get(path)
    assert page.status_code == 200
    assert "Link your Okta account" in page.text
    assert "bob@acme.test" in page.text
    assert "Continue to Okta" in page.text
    # Its form ends in a redirect to Okta, which the page's policy must allow.
    assert provider in page.headers["Content-Security-Policy"]
    assert identities(app) == []

    # Continue goes through Okta, where Bob uses an account with another email.
    okta_user(provider, "00u-robert", "robert@okta-home.test")
    response = browser.post(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(provider + "/oauth2/authorize")
    response = browser.get(at_provider(response.headers["Location"], "00u-robert"))

    assert response.status_code == 302
    assert response.headers["Location"] == "/members"
    assert signed_in_user_id(app, browser) == bob_id
    assert identities(app) == [(org.id, bob_id, "oidc", provider, "00u-robert")]
    assert user_row(app, org.id, "robert@okta-home.test") is None
    with app.app_context():
        tokens = db.session.execute(
            db.select(LinkToken).filter_by(user_id=bob_id)
        ).scalars()
        assert [token.used_at is not None for token in tokens] == [True]
    event = events(app, "sign_in.succeeded")[-1]
    assert (event["actor_user_id"], event["outcome"]) == (bob_id, "linked")
    assert "Your Okta account is now linked" in browser.get("/members").text

    # The link works once.
    for method in (browser.get, browser.post, app.test_client().get):
        again = method(path)
        assert again.status_code == 404
        assert "expired or was already used" in again.text

    # From now on the Okta account signs Bob in directly.
    later = app.test_client()
    assert okta_sign_in(later, provider, "00u-robert").status_code == 302
    assert signed_in_user_id(app, later) == bob_id


def test_an_expired_link_is_refused_before_and_after_okta(
    smtp_app: Flask, mailbox: tuple[Mailbox, int], provider: str
) -> None:
    app, (inbox, _) = smtp_app, mailbox
    org = make_org(app)
    bob_id = make_user(app, org.id, "bob@acme.test")
    connect_okta(app, org, provider)
    [message] = inbox.to("bob@acme.test")  # everyone unlinked was invited
    path = link_path(message)
    with app.app_context():
        db.session.execute(
            db.update(LinkToken)
            .filter_by(user_id=bob_id)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        db.session.commit()

    browser = app.test_client()
    for answer in (browser.get(path), browser.post(path)):
        assert answer.status_code == 404
        assert "expired or was already used" in answer.text
    assert_nobody_signed_in(app, browser)

    # A fresh link, from an administrator, expires while its owner is at Okta.
    owner = app.test_client()
    sign_in(owner, org.owner_email)
    assert owner.post(f"/members/{bob_id}/okta-link").status_code == 302
    fresh = link_path(inbox.to("bob@acme.test")[-1])
    assert fresh != path
    okta_user(provider, "00u-bob", "bob@acme.test")
    going = browser.post(fresh)
    assert going.status_code == 302
    callback = at_provider(going.headers["Location"], "00u-bob")
    with app.app_context():
        db.session.execute(
            db.update(LinkToken)
            .filter_by(user_id=bob_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    response = browser.get(callback)

    assert response.status_code == 400
    assert "expired or was already used" in response.text
    assert_nobody_signed_in(app, browser)
    assert identities(app) == []
    assert refusal_reasons(app)[-1] == "link expired or already used"


def test_an_okta_account_linked_to_someone_else_is_not_linked_through_the_email(
    smtp_app: Flask, mailbox: tuple[Mailbox, int], provider: str
) -> None:
    app, (inbox, _) = smtp_app, mailbox
    org = make_org(app)
    bob_id = make_user(app, org.id, "bob@acme.test")
    connect_okta(app, org, provider)
    [invitation] = inbox.to("bob@acme.test")
    path = link_path(invitation)
    okta_user(provider, "00u-alice", "alice@acme.test")
    okta_user(provider, "00u-bob", "bob@acme.test")
    assert okta_sign_in(app.test_client(), provider, "00u-alice").status_code == 302
    alice = user_row(app, org.id, "alice@acme.test")
    assert alice is not None

    # Asking again right after the invitation: the same page, no second email.
    browser = app.test_client()
    assert okta_sign_in(browser, provider, "00u-bob").status_code == 403
    response = browser.post("/okta/resend")
    assert response.status_code == 200
    assert "Check your email" in response.text
    assert len(inbox.to("bob@acme.test")) == 1

    # Bob's link, but Alice's Okta account.
    going = browser.post(path)
    response = browser.get(at_provider(going.headers["Location"], "00u-alice"))

    assert response.status_code == 403
    assert "already linked to another member" in response.text
    assert_nobody_signed_in(app, browser)
    assert [row[1] for row in identities(app)] == [alice["id"]]
    refused = events(app, "sign_in.refused")[-1]
    assert (refused["reason"], refused["actor_user_id"]) == ("identity_taken", None)
    assert refused["target"] == "bob@acme.test"

    # The link is still good for Bob's own Okta account.
    going = browser.post(path)
    assert going.status_code == 302
    response = browser.get(at_provider(going.headers["Location"], "00u-bob"))
    assert response.status_code == 302
    assert signed_in_user_id(app, browser) == bob_id
    assert sorted(row[1] for row in identities(app)) == sorted([alice["id"], bob_id])
