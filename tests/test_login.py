"""Password sign-in, sign-out, throttling, sessions, `next`, first-run setup."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core import first_run
from core.extensions import db
from core.models import AuditEvent
from core.models import Organization
from core.models import SiteSetting
from core.models import User
from core.models import UserSession
from tests.support.builders import OrgInfo
from tests.support.builders import make_app
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import setup_form
from tests.support.builders import sign_in
from tests.support.constants import PASSWORD
from tests.support.rows import get_user


def audit_kinds(app: Flask) -> list[tuple[str, str]]:
    """(kind, reason) of every audit event, oldest first."""
    with app.app_context():
        events = db.session.execute(
            db.select(AuditEvent).order_by(AuditEvent.id)
        ).scalars()
        return [(event.kind, event.details.get("reason", "")) for event in events]


def test_sign_in_and_out(app: Flask, client: FlaskClient, org: OrgInfo) -> None:
    assert client.get("/members").status_code == 302
    response = sign_in(client, org.owner_email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/members"
    page = client.get("/members")
    assert page.status_code == 200
    assert org.owner_email in page.text

    assert "Sign out?" in client.get("/logout").text  # GET only asks
    assert client.get("/members").status_code == 200
    response = client.post("/logout")
    assert response.status_code == 302
    assert client.get("/members").status_code == 302
    assert ("sign_out", "") in audit_kinds(app)


def test_email_is_case_insensitive(client: FlaskClient, org: OrgInfo) -> None:
    assert sign_in(client, org.owner_email.upper()).status_code == 302


def test_wrong_password_is_refused_and_audited(
    app: Flask, client: FlaskClient, org: OrgInfo
) -> None:
    response = sign_in(client, org.owner_email, "wrong password!!")
    assert response.status_code == 401
    assert "Wrong email or password." in response.text
    assert client.get("/members").status_code == 302
    assert ("sign_in.refused", "wrong password") in audit_kinds(app)


def test_unknown_email_gets_the_same_answer(client: FlaskClient, org: OrgInfo) -> None:
    response = sign_in(client, "nobody@acme.test")
    assert response.status_code == 401
    assert "Wrong email or password." in response.text


def test_throttle_per_account(app: Flask, client: FlaskClient, org: OrgInfo) -> None:
    limit = app.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"]
    for _ in range(limit):
        assert sign_in(client, org.owner_email, "wrong password!!").status_code == 401
    # Even the right password is refused now, from any address.
    other = app.test_client()
    response = other.post(
        "/login",
        data={"email": org.owner_email, "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
    )
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.text
    assert other.get("/members").status_code == 302
    assert ("sign_in.refused", "throttled") in audit_kinds(app)


def test_throttle_per_address(app: Flask, client: FlaskClient, org: OrgInfo) -> None:
    app.config["SIGNIN_MAX_FAILURES_PER_ADDRESS"] = 3
    for n in range(3):
        assert (
            sign_in(client, f"guess{n}@acme.test", "wrong password!!").status_code
            == 401
        )
    # The owner's account is fine, but this address is blocked.
    assert sign_in(client, org.owner_email).status_code == 429
    elsewhere = client.post(
        "/login",
        data={"email": org.owner_email, "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert elsewhere.status_code == 302


def test_success_clears_account_failures(
    app: Flask, client: FlaskClient, org: OrgInfo
) -> None:
    limit = app.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"]
    for _ in range(limit - 1):
        sign_in(client, org.owner_email, "wrong password!!")
    assert sign_in(client, org.owner_email).status_code == 302
    client.post("/logout")
    for _ in range(limit - 1):
        sign_in(client, org.owner_email, "wrong password!!")
    assert sign_in(client, org.owner_email).status_code == 302


def test_inactive_user_cannot_sign_in(
    app: Flask, client: FlaskClient, org: OrgInfo
) -> None:
    make_user(app, org.id, "gone@acme.test", status="inactive")
    response = sign_in(client, "gone@acme.test")
    assert response.status_code == 403
    assert "deactivated" in response.text
    assert client.get("/members").status_code == 302
    assert ("sign_in.refused", "inactive user") in audit_kinds(app)


def test_inactive_user_with_wrong_password_learns_nothing(
    app: Flask, client: FlaskClient, org: OrgInfo
) -> None:
    make_user(app, org.id, "gone@acme.test", status="inactive")
    response = sign_in(client, "gone@acme.test", "wrong password!!")
    assert response.status_code == 401
    assert "deactivated" not in response.text


def test_deactivation_ends_open_session_for_good(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    member_id = make_user(app, org.id, "mia@acme.test")
    member = app.test_client()
    assert sign_in(member, "mia@acme.test").status_code == 302
    assert member.get("/members").status_code == 200

    response = owner_client.post(
        f"/members/{member_id}/status", data={"status": "inactive"}
    )
    assert response.status_code == 302
    assert get_user(app, member_id)["status"] == "inactive"
    assert member.get("/members").status_code == 302  # signed out at once

    owner_client.post(f"/members/{member_id}/status", data={"status": "active"})
    assert get_user(app, member_id)["status"] == "active"
    # Reactivation does not revive the old session...
    assert member.get("/members").status_code == 302
    # ...but a new sign-in works.
    assert sign_in(member, "mia@acme.test").status_code == 302
    assert member.get("/members").status_code == 200


def test_each_sign_in_gets_a_fresh_session(app: Flask, org: OrgInfo) -> None:
    client = app.test_client()
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    sign_in(client, org.owner_email)
    with client.session_transaction() as session:
        assert "planted" not in session
        first_token = session["_user_id"]
    client.post("/logout")
    sign_in(client, org.owner_email)
    with client.session_transaction() as session:
        assert session["_user_id"] != first_token


def test_sign_out_revokes_the_session_server_side(app: Flask, org: OrgInfo) -> None:
    client = app.test_client()
    sign_in(client, org.owner_email)
    with client.session_transaction() as session:
        stolen = dict(session)
    client.post("/logout")
    thief = app.test_client()
    with thief.session_transaction() as session:
        session.update(stolen)
    assert thief.get("/members").status_code == 302
    with app.app_context():
        rows = db.session.execute(db.select(UserSession)).scalars().all()
        assert len(rows) == 1 and rows[0].revoked_at is not None


def test_forged_session_token_is_refused(app: Flask, org: OrgInfo) -> None:
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(org.owner_id)
        session["_fresh"] = True
    assert client.get("/members").status_code == 302


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/groups", "/groups"),
        ("/members?q=a", "/members?q=a"),
        ("https://evil.example/", "/members"),
        ("//evil.example/", "/members"),
        ("/\\evil.example", "/members"),
        ("\\\\evil.example", "/members"),
        ("javascript:alert(1)", "/members"),
        ("/\t/evil.example", "/members"),
        ("http:/evil.example", "/members"),
    ],
)
def test_next_only_to_local_paths(
    client: FlaskClient, org: OrgInfo, next_url: str, expected: str
) -> None:
    response = sign_in(client, org.owner_email, next=next_url)
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_signed_out_visitor_is_sent_to_login_with_next(
    client: FlaskClient, org: OrgInfo
) -> None:
    response = client.get("/groups?x=1")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert "%2Fgroups" in response.headers["Location"]


def test_root_redirects(client: FlaskClient, org: OrgInfo) -> None:
    assert client.get("/").headers["Location"] == "/login"
    sign_in(client, org.owner_email)
    assert client.get("/").headers["Location"] == "/members"


def test_same_email_in_two_organizations_chooses(
    app: Flask, client: FlaskClient
) -> None:
    acme = make_org(app, "Acme")
    globex = make_org(app, "Globex")
    make_user(app, acme.id, "sam@both.test")
    sam_globex = make_user(app, globex.id, "sam@both.test")
    make_user(app, globex.id, "other@both.test")
    response = sign_in(client, "sam@both.test", next="/groups")
    assert response.headers["Location"] == "/login/choose"
    page = client.get("/login/choose")
    assert "Acme" in page.text and "Globex" in page.text
    response = client.post("/login/choose", data={"account": sam_globex})
    assert response.headers["Location"] == "/groups"
    assert "Globex" in client.get("/organization").text


def test_choose_refuses_an_account_that_was_not_offered(
    app: Flask, client: FlaskClient
) -> None:
    acme = make_org(app, "Acme")
    globex = make_org(app, "Globex")
    make_user(app, acme.id, "sam@both.test")
    make_user(app, globex.id, "sam@both.test")
    sign_in(client, "sam@both.test")
    response = client.post("/login/choose", data={"account": globex.owner_id})
    assert response.status_code == 200  # the form again, with an error
    assert client.get("/members").status_code == 302


def test_password_opens_only_the_matching_account(
    app: Flask, client: FlaskClient
) -> None:
    acme = make_org(app, "Acme")
    globex = make_org(app, "Globex")
    make_user(app, acme.id, "sam@both.test", password="acme password 123")
    make_user(app, globex.id, "sam@both.test", password="globex password 123")
    response = sign_in(client, "sam@both.test", "globex password 123")
    assert response.headers["Location"] == "/members"
    assert "Globex" in client.get("/organization").text


def test_user_without_password_cannot_sign_in_with_one(
    app: Flask, client: FlaskClient, org: OrgInfo
) -> None:
    make_user(app, org.id, "sso@acme.test", password=None)
    assert sign_in(client, "sso@acme.test", "").status_code == 200  # form error
    assert sign_in(client, "sso@acme.test", "anything at all").status_code == 401


# -- CSRF ----------------------------------------------------------------------


@pytest.fixture
def csrf_app(tmp_path: Path) -> Flask:
    return make_app(tmp_path, WTF_CSRF_ENABLED=True)


def test_login_without_csrf_token_is_rejected(csrf_app: Flask) -> None:
    org = make_org(csrf_app)
    client = csrf_app.test_client()
    response = sign_in(client, org.owner_email)
    assert response.status_code == 400
    assert client.get("/members").status_code == 302


def test_state_changes_without_csrf_token_are_rejected(csrf_app: Flask) -> None:
    org = make_org(csrf_app)
    member_id = make_user(csrf_app, org.id, "mia@acme.test")
    client = csrf_app.test_client()
    page = client.get("/login")
    token = page.text.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post(
        "/login",
        data={"email": org.owner_email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    for path, data in [
        (f"/members/{member_id}/status", {"status": "inactive"}),
        (f"/members/{member_id}/role", {"role": "admin"}),
        ("/api-keys", {"name": "k", "kind": "organization", "scopes": "scim"}),
        ("/logout", {}),
    ]:
        assert client.post(path, data=data).status_code == 400, path
    member = get_user(csrf_app, member_id)
    assert (member["status"], member["role"]) == ("active", "member")
    assert client.get("/members").status_code == 200  # still signed in


# -- first run -------------------------------------------------------------------


def test_empty_install_goes_to_setup(client: FlaskClient) -> None:
    assert client.get("/").headers["Location"] == "/setup"
    assert client.get("/login").headers["Location"] == "/setup"
    assert "Setup code" in client.get("/setup").text


def test_setup_needs_the_code(app: Flask, client: FlaskClient) -> None:
    response = client.post("/setup", data=setup_form("WRONG-CODE"))
    assert response.status_code == 403
    assert "not the setup code" in response.text
    with app.app_context():
        assert first_run.setup_needed()


def stored_setup_code(app: Flask) -> str | None:
    """The setup code kept in the database, or None."""
    with app.app_context():
        row = db.session.get(SiteSetting, first_run.CODE_KEY)
        return row.value if row is not None else None


def test_setup_creates_org_and_owner_once(app: Flask, client: FlaskClient) -> None:
    code = first_run.setup_code(app)
    assert stored_setup_code(app) == code
    response = client.post("/setup", data=setup_form(code.lower()))
    assert response.status_code == 302
    assert response.headers["Location"] == "/members"
    assert "Peter Gibbons" in client.get("/members").text
    with app.app_context():
        org = db.session.execute(db.select(Organization)).scalar_one()
        owner = db.session.execute(db.select(User)).scalar_one()
        assert (org.name, org.plan, owner.role) == ("Initech", "pro", "owner")
    assert stored_setup_code(app) is None
    # Setup is over: the page is gone and a second attempt creates nothing.
    stranger = app.test_client()
    assert stranger.get("/setup").headers["Location"] == "/login"
    stranger.post("/setup", data=setup_form(code, organization="Evil"))
    with app.app_context():
        assert (
            db.session.execute(db.select(db.func.count(Organization.id))).scalar() == 1
        )


def test_setup_rejects_a_weak_password(app: Flask, client: FlaskClient) -> None:
    code = first_run.setup_code(app)
    response = client.post(
        "/setup", data=setup_form(code, password="short", confirm="short")
    )
    assert response.status_code == 400
    assert "at least 10 characters" in response.text
    with app.app_context():
        assert first_run.setup_needed()


def test_a_session_keeps_how_it_was_started(app: Flask, org: OrgInfo) -> None:
    with app.app_context():
        assert db.session.get(User, org.owner_id).last_sign_in_method is None
    client = app.test_client()

    sign_in(client, org.owner_email)

    with app.app_context():
        owner = db.session.get(User, org.owner_id)
        assert owner.last_sign_in_method == "password"
        methods = db.session.scalars(
            db.select(UserSession.method).filter_by(user_id=org.owner_id)
        ).all()
    assert methods == ["password"]


def test_setting_up_signs_the_owner_in_as_setup(
    app: Flask, client: FlaskClient
) -> None:
    client.post("/setup", data=setup_form(first_run.setup_code(app)))
    with app.app_context():
        owner = db.session.scalars(db.select(User)).one()
        session_row = db.session.scalars(db.select(UserSession)).one()
    assert owner.last_sign_in_method == "setup"
    assert session_row.method == "setup"


def test_two_members_are_never_equal(app: Flask, org: OrgInfo) -> None:
    """Flask-Login compares users by their session token (None here)."""
    other_id = make_user(app, org.id, "mia@acme.test")
    with app.app_context():
        owner = db.session.get(User, org.owner_id)
        other = db.session.get(User, other_id)
        assert owner is not None and other is not None
        assert owner != other
        assert other not in [owner]
        assert owner == db.session.get(User, org.owner_id)
        assert len({owner, other}) == 2
