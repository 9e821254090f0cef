"""Passwords: change my password, "Forgot your password?", reset and invitation
links, and Okta-only accounts at the password form.

Emails are read from a real SMTP server (`mailbox`); Okta-only accounts belong
to an organization connected to a real OpenID provider (`provider`). The reset
emails go out after the response has been sent: `forgot` closes the response,
as a WSGI server does once the page is on its way.
"""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser
from playwright.sync_api import expect
from sqlalchemy import event
from werkzeug.test import TestResponse

from core import passwords
from core import tokens
from core.extensions import db
from core.models import PasswordResetMail
from core.models import PasswordToken
from core.models import SignInFailure
from core.models import User
from tests.support.builders import AppMaker
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import scim_key
from tests.support.builders import sign_in
from tests.support.constants import PASSWORD
from tests.support.live import screenshot
from tests.support.live import serve
from tests.support.mail import Mailbox
from tests.support.mail import smtp_settings
from tests.support.oidc import connect_okta
from tests.support.oidc import okta_sign_in
from tests.support.oidc import okta_user
from tests.support.rows import assert_nobody_signed_in
from tests.support.rows import events
from tests.support.rows import get_user
from tests.support.rows import signed_in_user_id
from tests.support.rows import snapshot
from tests.support.scim import ScimClient
from tests.support.scim import patch_body

NEW_PASSWORD = "a brand new long passphrase"
LINK = re.compile(r"(https?://[^/\s]+)(/password/reset/[A-Za-z0-9_-]+)")


# The mock provider signs ID tokens through a hook Authlib has deprecated; the
# warning is the provider's, raised in its thread (connecting Okta makes a test
# sign-in through it).
pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")


def forgot(client: FlaskClient, email: str, **options: object) -> TestResponse:
    """Post "Forgot your password?" and close the response (the emails go then)."""
    response = client.post("/password/forgot", data={"email": email}, **options)
    response.get_data()
    response.close()
    return response


def link_of(message: EmailMessage) -> tuple[str, str]:
    """(origin, path) of the password link in an email's text part."""
    text = str(message.get_body(preferencelist=("plain",)).get_content())
    match = LINK.search(text)
    assert match, text
    return match.group(1), match.group(2)


def path_of(message: EmailMessage) -> str:
    """The /password/reset/<token> path of an email's link."""
    return link_of(message)[1]


def signed_in(app: Flask, email: str, password: str = PASSWORD) -> FlaskClient:
    """A fresh client signed in with a password."""
    client = app.test_client()
    assert sign_in(client, email, password).status_code == 302
    return client


def password_token_rows(app: Flask, user_id: int) -> list[dict[str, object]]:
    """A user's password links, oldest first, as dicts."""
    with app.app_context():
        rows = db.session.execute(
            db.select(PasswordToken)
            .filter_by(user_id=user_id)
            .order_by(PasswordToken.id)
        ).scalars()
        return [
            {
                "purpose": row.purpose,
                "lifetime": row.expires_at - row.created_at,
                "used": row.used_at is not None,
                "sent": row.sent_at is not None,
            }
            for row in rows
        ]


def age_password_tokens(app: Flask, user_id: int, by: timedelta) -> None:
    """Move a user's password links back in time (made and expiring earlier),
    and the last reset email with them."""
    with app.app_context():
        for row in db.session.execute(
            db.select(PasswordToken).filter_by(user_id=user_id)
        ).scalars():
            row.created_at -= by
            row.expires_at -= by
        claim = db.session.get(PasswordResetMail, user_id)
        if claim is not None:
            claim.sent_at -= by
        db.session.commit()


def session_token(client: FlaskClient) -> str:
    """The session token the client's cookie carries."""
    with client.session_transaction() as session:
        return str(session["_user_id"])


def client_with_token(app: Flask, token: str) -> FlaskClient:
    """A client whose cookie carries `token` (a copied cookie)."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = token
    return client


# -- change my password -----------------------------------------------------------


def test_changing_my_password_ends_my_other_sessions_and_keeps_this_one(
    app: Flask, org: OrgInfo
) -> None:
    here = signed_in(app, org.owner_email)
    elsewhere = signed_in(app, org.owner_email)
    old_token = session_token(here)
    signed_in_at = get_user(app, org.owner_id)["last_sign_in_at"]
    assert "/account/password" in here.get(f"/members/{org.owner_id}").text

    response = here.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )

    assert response.status_code == 302
    assert response.headers["Location"] == f"/members/{org.owner_id}"
    assert signed_in_user_id(app, here) == org.owner_id
    assert session_token(here) != old_token
    # A change of password is not a sign-in.
    assert get_user(app, org.owner_id)["last_sign_in_at"] == signed_in_at
    assert "Your password was changed" in here.get(response.headers["Location"]).text
    assert_nobody_signed_in(app, elsewhere)
    assert_nobody_signed_in(app, client_with_token(app, old_token))
    assert sign_in(app.test_client(), org.owner_email).status_code == 401
    assert sign_in(app.test_client(), org.owner_email, NEW_PASSWORD).status_code == 302
    [changed] = events(app, "password.changed")
    assert (changed["actor_user_id"], changed["other_sessions_ended"]) == (
        org.owner_id,
        1,
    )


def test_a_wrong_current_password_is_refused_then_throttled(
    app: Flask, org: OrgInfo
) -> None:
    client = signed_in(app, org.owner_email)
    before = get_user(app, org.owner_id)["password_hash"]
    wrong = {
        "current_password": "not it at all",
        "password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
    }

    for _ in range(app.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"]):
        response = client.post("/account/password", data=wrong)
        assert response.status_code == 400
        assert "That is not your current password." in response.text
    right = {**wrong, "current_password": PASSWORD}
    response = client.post("/account/password", data=right)

    assert response.status_code == 429
    assert "Too many wrong passwords" in response.text
    assert get_user(app, org.owner_id)["password_hash"] == before
    assert signed_in_user_id(app, client) == org.owner_id
    # The same throttle as sign-in: the account's password is locked for both.
    assert sign_in(app.test_client(), org.owner_email).status_code == 429
    reasons = [event["reason"] for event in events(app, "password.change_refused")]
    assert reasons == ["wrong password"] * 5 + ["throttled"]


@pytest.mark.parametrize(
    ("new", "confirm", "message"),
    [
        ("short", "short", "at least 10 characters"),
        (NEW_PASSWORD, NEW_PASSWORD + "!", "The passwords differ."),
        ("", "", "Choose a password."),
    ],
)
def test_a_bad_new_password_changes_nothing_and_counts_nothing(
    app: Flask, org: OrgInfo, new: str, confirm: str, message: str
) -> None:
    client = signed_in(app, org.owner_email)
    before = snapshot(app)
    response = client.post(
        "/account/password",
        data={
            "current_password": "wrong but unchecked",
            "password": new,
            "confirm": confirm,
        },
    )
    assert response.status_code == 400
    assert message in response.text
    assert snapshot(app) == before


def test_change_password_needs_a_session(client: FlaskClient, org: OrgInfo) -> None:
    response = client.post(
        "/account/password",
        data={"current_password": PASSWORD, "password": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


# -- "Forgot your password?" ------------------------------------------------------


@pytest.fixture
def okta_org(smtp_app: Flask, provider: str) -> OrgInfo:
    """Acme, signing in with Okta (OIDC at the real provider), mail to `mailbox`."""
    org = make_org(smtp_app)
    connect_okta(smtp_app, org, provider)
    return org


def test_forgot_answers_the_same_whatever_the_email(
    smtp_app: Flask, mailbox: tuple[Mailbox, int], okta_org: OrgInfo
) -> None:
    app, (inbox, _) = smtp_app, mailbox
    make_user(app, okta_org.id, "ann@acme.test")
    make_user(app, okta_org.id, "dee@acme.test", status="inactive")
    make_user(app, okta_org.id, "olga@acme.test", password=None, source="scim")
    emails = ["ann@acme.test", "dee@acme.test", "olga@acme.test", "nobody@acme.test"]
    page = app.test_client().get("/login").text
    assert 'href="/password/forgot"' in page

    answers = {email: forgot(app.test_client(), email) for email in emails}

    assert {answer.status_code for answer in answers.values()} == {200}
    assert len({answer.text for answer in answers.values()}) == 1
    assert "Check your email" in answers["nobody@acme.test"].text
    [message] = inbox.to("ann@acme.test")
    assert message["Subject"] == "Choose a new password for Acme"
    assert [inbox.to(email) for email in emails[1:]] == [[], [], []]
    results = {
        event["target"]: event["result"]
        for event in events(app, "password.reset_requested")
    }
    assert results == {
        "ann@acme.test": "link",
        "dee@acme.test": "not sent: deactivated",
        "olga@acme.test": "not sent: signs in with Okta",
    }


def test_the_email_is_looked_up_only_after_the_response(
    smtp_app: Flask, mailbox: tuple[Mailbox, int]
) -> None:
    """The answer cannot depend on the email: before the response has been
    sent, an existing and an unknown email cost the same SQL, and nothing of
    the account (link, audit, mail) exists yet."""
    app, inbox = smtp_app, mailbox[0]
    org = make_org(app)
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def count(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement.split()[0])

    sql = {}
    responses = {}
    event.listen(engine, "before_cursor_execute", count)
    try:
        for email in (org.owner_email, "nobody@acme.test"):
            statements.clear()
            response = app.test_client().post("/password/forgot", data={"email": email})
            response.get_data()
            sql[email], responses[email] = list(statements), response
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert sql[org.owner_email] == sql["nobody@acme.test"]
    assert inbox.messages == []
    assert password_token_rows(app, org.owner_id) == []
    assert events(app, "password.reset_requested") == []
    for response in responses.values():
        response.close()
    assert len(inbox.to(org.owner_email)) == 1
    assert password_token_rows(app, org.owner_id)[0]["sent"] is True
    [requested] = events(app, "password.reset_requested")
    assert requested["requested_from"] == "127.0.0.1"


def test_one_reset_email_per_account_every_few_minutes(
    smtp_app: Flask, mailbox: tuple[Mailbox, int]
) -> None:
    app, inbox = smtp_app, mailbox[0]
    org = make_org(app)
    for _ in range(3):
        assert forgot(app.test_client(), org.owner_email).status_code == 200
    assert len(inbox.to(org.owner_email)) == 1
    assert [e["result"] for e in events(app, "password.reset_requested")] == [
        "link",
        "not sent: emailed recently",
        "not sent: emailed recently",
    ]

    age_password_tokens(app, org.owner_id, timedelta(minutes=6))
    forgot(app.test_client(), org.owner_email)
    assert len(inbox.to(org.owner_email)) == 2


def test_forgot_is_throttled_per_address_whatever_the_email(
    new_app: AppMaker, mailbox: tuple[Mailbox, int]
) -> None:
    app = new_app(PASSWORD_RESET_MAX_PER_ADDRESS=3, **smtp_settings(mailbox[1]))
    org = make_org(app)
    for n in range(3):
        assert forgot(app.test_client(), f"stranger{n}@acme.test").status_code == 200

    refused = [
        forgot(app.test_client(), org.owner_email),
        forgot(app.test_client(), "x@y.test"),
    ]

    assert [answer.status_code for answer in refused] == [429, 429]
    # The page differs only by the email typed back into its form.
    assert refused[0].text.replace(org.owner_email, "@") == refused[1].text.replace(
        "x@y.test", "@"
    )
    assert "Too many requests" in refused[0].text
    assert mailbox[0].to(org.owner_email) == []
    other = forgot(
        app.test_client(), org.owner_email, environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert other.status_code == 200
    assert len(mailbox[0].to(org.owner_email)) == 1


def test_a_reset_link_works_once_and_ends_every_session(
    smtp_app: Flask, mailbox: tuple[Mailbox, int]
) -> None:
    app, inbox = smtp_app, mailbox[0]
    org = make_org(app)
    sessions = [signed_in(app, org.owner_email) for _ in range(2)]
    forgot(app.test_client(), org.owner_email)
    [message] = inbox.to(org.owner_email)
    origin, path = link_of(message)
    assert origin == "http://localhost"
    browser = app.test_client()

    page = browser.get(path)
    assert page.status_code == 200
    assert "Choose a new password" in page.text and org.owner_email in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    done = browser.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})

    assert done.status_code == 302 and done.headers["Location"] == "/login"
    assert "Your password is set" in browser.get("/login").text
    for client in sessions:
        assert_nobody_signed_in(app, client)
    assert sign_in(app.test_client(), org.owner_email).status_code == 401
    assert sign_in(app.test_client(), org.owner_email, NEW_PASSWORD).status_code == 302
    [event] = events(app, "password.reset")
    assert (event["actor_user_id"], event["sessions_ended"]) == (org.owner_id, 2)
    again = {"password": "yet another passphrase", "confirm": "yet another passphrase"}
    for answer in (browser.get(path), browser.post(path, data=again)):
        assert answer.status_code == 404
        assert "expired or was already used" in answer.text
    assert sign_in(app.test_client(), org.owner_email, NEW_PASSWORD).status_code == 302


def test_a_link_read_by_two_requests_at_once_is_spent_by_one(
    app: Flask, org: OrgInfo
) -> None:
    """The compare-and-set: a request holding the link loaded before another
    request spent it sets nothing."""
    with app.app_context():
        user = db.session.get(User, org.owner_id)
        _row, secret = tokens.issue(
            PasswordToken, user, timedelta(hours=1), purpose="reset"
        )
        db.session.commit()
    with app.test_request_context(), app.app_context():
        stale = passwords.find_link(secret)
        assert stale is not None
        form = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
        first = app.test_client().post(f"/password/reset/{secret}", data=form)
        assert first.status_code == 302
        assert passwords.set_password_by_link(stale, "the loser's passphrase") is False
    assert sign_in(app.test_client(), org.owner_email, NEW_PASSWORD).status_code == 302
    assert len(events(app, "password.reset")) == 1


def test_a_reset_link_expires_after_an_hour(
    smtp_app: Flask, mailbox: tuple[Mailbox, int]
) -> None:
    app, inbox = smtp_app, mailbox[0]
    org = make_org(app)
    forgot(app.test_client(), org.owner_email)
    path = path_of(inbox.to(org.owner_email)[0])
    [row] = password_token_rows(app, org.owner_id)
    assert row["lifetime"] == timedelta(hours=1)
    age_password_tokens(app, org.owner_id, timedelta(hours=1, seconds=1))
    before = snapshot(app)

    form = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    answers = [app.test_client().get(path), app.test_client().post(path, data=form)]

    assert [answer.status_code for answer in answers] == [404, 404]
    assert snapshot(app) == before


def test_using_a_link_kills_the_links_sent_before_it(
    smtp_app: Flask, mailbox: tuple[Mailbox, int]
) -> None:
    app, inbox = smtp_app, mailbox[0]
    org = make_org(app)
    forgot(app.test_client(), org.owner_email)
    age_password_tokens(app, org.owner_id, timedelta(minutes=10))
    forgot(app.test_client(), org.owner_email)
    first, second = (path_of(message) for message in inbox.to(org.owner_email))
    form = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}

    assert app.test_client().post(second, data=form).status_code == 302
    assert app.test_client().post(first, data=form).status_code == 404
    assert [row["used"] for row in password_token_rows(app, org.owner_id)] == [
        True,
        True,
    ]


def test_a_link_sets_the_password_of_its_own_account_only(
    smtp_app: Flask, mailbox: tuple[Mailbox, int]
) -> None:
    """One email, an account in two organizations: one email each, naming it."""
    app, inbox = smtp_app, mailbox[0]
    acme, globex = make_org(app), make_org(app, "Globex")
    ann_acme = make_user(app, acme.id, "ann@shared.test")
    ann_globex = make_user(app, globex.id, "ann@shared.test")
    forgot(app.test_client(), "ANN@shared.test")
    messages = {m["Subject"]: path_of(m) for m in inbox.to("ann@shared.test")}
    assert sorted(messages) == [
        "Choose a new password for Acme",
        "Choose a new password for Globex",
    ]
    globex_hash = get_user(app, ann_globex)["password_hash"]
    form = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}

    acme_link = messages["Choose a new password for Acme"]
    page = app.test_client().get(acme_link).text
    assert "Acme" in page and "Globex" not in page
    assert app.test_client().post(acme_link, data=form).status_code == 302

    assert get_user(app, ann_globex)["password_hash"] == globex_hash
    new_one = app.test_client()
    assert sign_in(new_one, "ann@shared.test", NEW_PASSWORD).status_code == 302
    assert signed_in_user_id(app, new_one) == ann_acme
    old_one = app.test_client()
    assert sign_in(old_one, "ann@shared.test").status_code == 302
    assert signed_in_user_id(app, old_one) == ann_globex
    # The other organization's link is still alive, for its own account.
    globex_link = messages["Choose a new password for Globex"]
    assert app.test_client().get(globex_link).status_code == 200


def test_reset_links_use_the_public_address_never_the_host_header(
    new_app: AppMaker, mailbox: tuple[Mailbox, int]
) -> None:
    app = new_app(
        PUBLIC_BASE_URL="https://gatehouse.example.com", **smtp_settings(mailbox[1])
    )
    org = make_org(app)
    forgot(
        app.test_client(),
        org.owner_email,
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    [message] = mailbox[0].to(org.owner_email)
    assert link_of(message)[0] == "https://gatehouse.example.com"
    assert "evil.example" not in message.as_string()


def test_without_a_public_address_no_link_is_made(
    new_app: AppMaker, mailbox: tuple[Mailbox, int]
) -> None:
    app = new_app(PUBLIC_BASE_URL="", **smtp_settings(mailbox[1]))
    org = make_org(app)
    answer = forgot(app.test_client(), org.owner_email)
    assert answer.status_code == 200 and "Check your email" in answer.text
    assert mailbox[0].messages == []
    assert password_token_rows(app, org.owner_id) == []
    [event] = events(app, "password.reset_requested")
    assert event["result"] == "not sent: no public address"


def test_a_deactivated_member_s_links_die_and_stay_dead(
    smtp_app: Flask, mailbox: tuple[Mailbox, int]
) -> None:
    app, inbox = smtp_app, mailbox[0]
    org = make_org(app)
    ann = make_user(app, org.id, "ann@acme.test")
    forgot(app.test_client(), "ann@acme.test")
    path = path_of(inbox.to("ann@acme.test")[0])
    owner = signed_in(app, org.owner_email)
    owner.post(f"/members/{ann}/status", data={"status": "inactive"})
    assert app.test_client().get(path).status_code == 404
    owner.post(f"/members/{ann}/status", data={"status": "active"})
    assert app.test_client().get(path).status_code == 404


def test_an_email_changed_by_okta_voids_the_links_sent_to_the_old_one(
    smtp_app: Flask, mailbox: tuple[Mailbox, int]
) -> None:
    app, inbox = smtp_app, mailbox[0]
    org = make_org(app)
    ann = make_user(app, org.id, "ann@acme.test")
    forgot(app.test_client(), "ann@acme.test")
    path = path_of(inbox.to("ann@acme.test")[0])
    scim = ScimClient(app.test_client(), scim_key(app, org.id), idp="okta")
    body = patch_body({"op": "replace", "path": "userName", "value": "ann@new.test"})
    body["Operations"].append(
        {"op": "replace", "path": "emails", "value": [{"value": "ann@new.test"}]}
    )
    assert scim.patch(f"/Users/{ann}", body).status_code == 200, "SCIM"
    assert get_user(app, ann)["email"] == "ann@new.test"
    assert app.test_client().get(path).status_code == 404


# -- invitations ----------------------------------------------------------------


def add_member(client: FlaskClient, email: str, **form: str) -> TestResponse:
    """Post the Add member form (names and role filled in)."""
    data = {"email": email, "given_name": "Nia", "family_name": "Ray", "role": "member"}
    return client.post("/members/new", data={**data, **form})


def test_an_added_member_is_invited_to_choose_a_password_and_signs_in(
    smtp_app: Flask, mailbox: tuple[Mailbox, int]
) -> None:
    app, inbox = smtp_app, mailbox[0]
    org = make_org(app)
    owner = signed_in(app, org.owner_email)
    form = owner.get("/members/new").text
    assert re.search(r'<input checked[^>]* value="invite"', form), form

    response = add_member(owner, "nia@acme.test", access="invite")

    assert response.status_code == 302
    assert (
        "Emailed nia@acme.test an invitation"
        in owner.get(response.headers["Location"]).text
    )
    nia = int(response.headers["Location"].rsplit("/", 1)[1])
    assert get_user(app, nia)["password_hash"] is None
    [message] = inbox.to("nia@acme.test")
    assert message["Subject"] == "You are invited to Acme on Gatehouse"
    text = str(message.get_body(preferencelist=("plain",)).get_content())
    assert org.owner_email in text and "7 days" in text
    [row] = password_token_rows(app, nia)
    assert (row["purpose"], row["lifetime"], row["sent"]) == (
        "invitation",
        timedelta(days=7),
        True,
    )
    path = path_of(message)
    page = app.test_client().get(path)
    assert "Choose your password" in page.text and "nia@acme.test" in page.text
    nia_browser = app.test_client()
    done = nia_browser.post(
        path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert done.status_code == 302
    assert sign_in(nia_browser, "nia@acme.test", NEW_PASSWORD).status_code == 302
    assert signed_in_user_id(app, nia_browser) == nia
    kinds = [e["kind"] for e in events(app) if e["target"] == "nia@acme.test"]
    assert kinds == [
        "member.added",
        "password.invitation_sent",
        "password.invitation_accepted",
    ]
    assert app.test_client().get(path).status_code == 404


def test_an_admin_may_still_type_the_password(
    smtp_app: Flask, mailbox: tuple[Mailbox, int]
) -> None:
    app = smtp_app
    org = make_org(app)
    owner = signed_in(app, org.owner_email)
    response = add_member(
        owner, "nia@acme.test", access="password", password=NEW_PASSWORD
    )
    assert response.status_code == 302
    assert mailbox[0].messages == []
    assert sign_in(app.test_client(), "nia@acme.test", NEW_PASSWORD).status_code == 302
    nia = int(response.headers["Location"].rsplit("/", 1)[1])
    assert password_token_rows(app, nia) == []


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"access": "password"}, "Type the password"),
        ({"access": "invite", "password": NEW_PASSWORD}, "A password was typed"),
        ({"access": "none", "password": NEW_PASSWORD}, "A password was typed"),
        ({"access": "telepathy"}, "Choose how they sign in."),
        ({"access": "password", "password": "short"}, "at least 10 characters"),
    ],
)
def test_a_confused_add_member_form_changes_nothing(
    app: Flask, owner_client: FlaskClient, form: dict[str, str], message: str
) -> None:
    before = snapshot(app)
    response = add_member(owner_client, "nia@acme.test", **form)
    assert response.status_code == 400
    assert message in response.text
    assert snapshot(app) == before


def test_without_a_public_address_add_member_cannot_invite(new_app: AppMaker) -> None:
    app = new_app(PUBLIC_BASE_URL="")
    org = make_org(app)
    owner = signed_in(app, org.owner_email)
    page = owner.get("/members/new").text
    assert 'id="no-invitations"' in page
    assert re.search(r'<input checked[^>]* value="password"', page), page
    assert re.search(r'<input[^>]*disabled[^>]*value="invite"', page), page
    before = snapshot(app)

    response = add_member(owner, "nia@acme.test", access="invite")

    assert response.status_code == 400
    assert "Gatehouse cannot email an invitation" in response.text
    assert snapshot(app) == before
    typed = add_member(owner, "nia@acme.test", access="password", password=PASSWORD)
    assert typed.status_code == 302


def test_an_admin_resends_an_invitation_only_where_it_belongs(
    smtp_app: Flask, mailbox: tuple[Mailbox, int]
) -> None:
    app, inbox = smtp_app, mailbox[0]
    acme, globex = make_org(app), make_org(app, "Globex")
    nia = make_user(app, acme.id, "nia@acme.test", password=None)
    ann = make_user(app, acme.id, "ann@acme.test")
    stranger = make_user(app, globex.id, "gus@globex.test", password=None)
    owner = signed_in(app, acme.owner_email)
    assert 'id="invitation"' in owner.get(f"/members/{nia}").text
    assert 'id="invitation"' not in owner.get(f"/members/{ann}").text

    assert owner.post(f"/members/{nia}/invitation").status_code == 302
    assert len(inbox.to("nia@acme.test")) == 1
    refused = owner.post(f"/members/{ann}/invitation", follow_redirects=True)
    assert "already has a password" in refused.text
    assert owner.post(f"/members/{stranger}/invitation").status_code == 404
    member = signed_in(app, "ann@acme.test")
    assert member.post(f"/members/{nia}/invitation").status_code == 403
    assert inbox.to("ann@acme.test") == inbox.to("gus@globex.test") == []
    assert len(inbox.to("nia@acme.test")) == 1


# -- Okta-only accounts at the password form --------------------------------------


def test_a_password_attempt_on_an_okta_only_account_says_to_use_okta(
    smtp_app: Flask, okta_org: OrgInfo
) -> None:
    app = smtp_app
    make_user(app, okta_org.id, "olga@acme.test", password=None, source="scim")
    make_user(app, okta_org.id, "gone@acme.test", password=None, status="inactive")

    response = sign_in(app.test_client(), "Olga@acme.test", "any guess at all")

    assert response.status_code == 401
    assert "This account signs in with Okta." in response.text
    assert 'id="okta-only"' in response.text and 'href="/sso"' in response.text
    assert "Wrong email or password" not in response.text
    [refused] = events(app, "sign_in.refused")
    assert (refused["organization_id"], refused["reason"]) == (okta_org.id, "okta only")
    for hidden in ("gone@acme.test", "nobody@acme.test"):
        answer = sign_in(app.test_client(), hidden, "any guess at all")
        assert answer.status_code == 401
        assert "Wrong email or password." in answer.text
        assert 'id="okta-only"' not in answer.text


def test_okta_only_answers_are_counted_by_the_sign_in_throttle(
    smtp_app: Flask, okta_org: OrgInfo
) -> None:
    app = smtp_app
    make_user(app, okta_org.id, "olga@acme.test", password=None, source="scim")
    limit = app.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"]
    for _ in range(limit):
        assert sign_in(app.test_client(), "olga@acme.test", "guess").status_code == 401
    throttled = sign_in(app.test_client(), "olga@acme.test", "guess")
    assert throttled.status_code == 429
    assert "signs in with Okta" not in throttled.text
    with app.app_context():
        failures = db.session.execute(
            db.select(db.func.count()).select_from(SignInFailure)
        ).scalar_one()
    assert failures == 3 * limit  # the email's, the account's and the address's


def test_without_okta_a_passwordless_account_is_just_a_wrong_password(
    app: Flask, org: OrgInfo
) -> None:
    make_user(app, org.id, "olga@acme.test", password=None)
    answer = sign_in(app.test_client(), "olga@acme.test", "any guess at all")
    assert answer.status_code == 401
    assert "Wrong email or password." in answer.text


def test_an_okta_member_has_no_password_to_change(
    smtp_app: Flask, okta_org: OrgInfo, provider: str
) -> None:
    app = smtp_app
    okta_user(provider, "00u-jit", "jit@acme.test")
    browser = app.test_client()
    assert okta_sign_in(browser, provider, "00u-jit").status_code == 302
    page = browser.get("/account/password")
    assert page.status_code == 200
    assert 'id="no-password"' in page.text and "you sign in with Okta" in page.text
    assert 'name="current_password"' not in page.text
    jit = signed_in_user_id(app, browser)
    assert 'id="change-password"' not in browser.get(f"/members/{jit}").text


# -- CSRF, and the whole journey in a browser ---------------------------------------


def test_password_forms_need_their_csrf_token(live_app: Flask) -> None:
    org = make_org(live_app)
    with live_app.app_context():
        user = db.session.get(User, org.owner_id)
        _row, secret = tokens.issue(
            PasswordToken, user, timedelta(hours=1), purpose="reset"
        )
        db.session.commit()
    before = snapshot(live_app)
    client = live_app.test_client()
    form = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}

    answers = [
        client.post("/password/forgot", data={"email": org.owner_email}),
        client.post(f"/password/reset/{secret}", data=form),
    ]

    assert [answer.status_code for answer in answers] == [400, 400]
    assert snapshot(live_app) == before


@pytest.mark.browser
def test_forgot_email_reset_sign_in_and_change_in_a_browser(
    live_app: Flask, browser: Browser, mailbox: tuple[Mailbox, int]
) -> None:
    inbox, port = mailbox
    live_app.config.update(smtp_settings(port))
    org = make_org(live_app)
    with serve(live_app, set_public_base_url=True) as base:
        context = browser.new_context(base_url=base)
        try:
            page = context.new_page()
            page.goto("/login")
            page.get_by_role("link", name="Forgot your password?").click()
            expect(page).to_have_url(re.compile(r"/password/forgot$"))
            page.get_by_label("Email").fill(org.owner_email)
            page.get_by_role("button", name="Email me a link").click()
            expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
            screenshot(page, "password-forgot-sent.png")

            [message] = inbox.wait_for(org.owner_email)
            origin, path = link_of(message)
            assert origin == base
            page.goto(origin + path)
            expect(
                page.get_by_role("heading", name="Choose a new password")
            ).to_be_visible()
            page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
            page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
            screenshot(page, "password-reset.png")
            page.get_by_role("button", name="Save password").click()

            expect(page).to_have_url(re.compile(r"/login$"))
            expect(page.get_by_text("Your password is set.")).to_be_visible()
            page.get_by_label("Email").fill(org.owner_email)
            page.get_by_label("Password").fill(NEW_PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page).to_have_url(re.compile(r"/members$"))

            # Then from the member's own page: change it again.
            page.goto(f"/members/{org.owner_id}")
            page.get_by_role("link", name="Change my password").click()
            page.get_by_label("Current password").fill(NEW_PASSWORD)
            page.get_by_label("New password", exact=True).fill(PASSWORD)
            page.get_by_label("Repeat the new password").fill(PASSWORD)
            page.get_by_role("button", name="Change password").click()
            expect(page).to_have_url(re.compile(rf"/members/{org.owner_id}$"))
            expect(page.get_by_text("Your password was changed.")).to_be_visible()
            page.goto("/members")
            expect(page).to_have_url(re.compile(r"/members$"))
        finally:
            context.close()
    kinds = [event["kind"] for event in events(live_app)]
    assert kinds.index("password.reset") < kinds.index("password.changed")
    assert password_token_rows(live_app, org.owner_id)[0]["used"] is True
