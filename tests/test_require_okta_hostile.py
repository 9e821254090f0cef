"""Require Okta sign-in against hostile input: who may change it, the exempt
accounts' limits and tenant wall, the password oracle, recovery codes of
another organization, guessed, replayed or kept past a demotion."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask

import core.security
from core.extensions import db
from core.models import PasswordToken
from core.models import User
from core.recovery_codes import normalize
from core.security import hash_token
from tests.support.builders import AppMaker
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.constants import PASSWORD
from tests.support.mail import Mailbox
from tests.support.require_okta import PAGE
from tests.support.require_okta import backup_sign_in
from tests.support.require_okta import code_rows
from tests.support.require_okta import exempt
from tests.support.require_okta import link_identity
from tests.support.require_okta import okta_client
from tests.support.require_okta import ready
from tests.support.require_okta import session_row
from tests.support.require_okta import set_user
from tests.support.require_okta import turn_on
from tests.support.rows import assert_nobody_signed_in
from tests.support.rows import events
from tests.support.rows import signed_in_user_id
from tests.support.rows import snapshot

pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")


@pytest.fixture
def app(smtp_app: Flask) -> Flask:
    """Every app of this module sends its mail to the real SMTP `mailbox`."""
    return smtp_app


# -- who may change it ---------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member"])
def test_an_admin_or_member_cannot_turn_it_on_or_change_it(
    app: Flask, org: OrgInfo, provider: str, role: str
) -> None:
    ready(app, org, provider)
    someone = make_user(app, org.id, f"{role}@acme.test", role=role)
    link_identity(app, org.id, someone, provider, f"00u-{role}")
    client = okta_client(app, provider, f"00u-{role}", f"{role}@acme.test")
    before = snapshot(app)

    answers = [
        turn_on(client),
        exempt(client, f"{role}@acme.test"),
        client.post(PAGE + "/off", data={"confirm": "yes"}),
        client.post(PAGE + "/codes"),
    ]

    assert [answer.status_code for answer in answers] == [403] * 4
    assert snapshot(app) == before
    if role == "admin":
        assert "Only an owner can require Okta sign-in" in answers[0].text
        assert 'id="owners-only"' in client.get(PAGE).text


def test_an_admin_cannot_turn_it_off(app: Flask, org: OrgInfo, provider: str) -> None:
    owner, _codes = ready(app, org, provider)
    make_user(app, org.id, "gail@acme.test", role="admin")
    assert exempt(owner, "gail@acme.test").status_code == 302
    assert turn_on(owner).status_code == 302
    gail = app.test_client()
    assert sign_in(gail, "gail@acme.test").status_code == 302  # exempt
    before = snapshot(app)

    answer = gail.post(PAGE + "/off", data={"confirm": "yes"})

    assert answer.status_code == 403
    assert snapshot(app) == before


# -- exempt accounts -----------------------------------------------------------------


def test_more_than_three_exempt_accounts_are_refused(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    emails = [f"x{n}@acme.test" for n in range(4)]
    for email in emails:
        make_user(app, org.id, email)
    before = snapshot(app)

    answer = exempt(owner, *emails)

    assert answer.status_code == 400
    assert "At most 3 exempt accounts" in answer.text
    assert snapshot(app) == before


def test_an_exempt_account_of_another_organization_is_refused_like_nobody(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    other = make_org(app, "Globex")
    make_user(app, other.id, "eve@globex.test")
    make_user(app, org.id, "ivy@acme.test", status="inactive")
    before = snapshot(app)

    elsewhere = exempt(owner, "eve@globex.test")
    nowhere = exempt(owner, "nobody@globex.test")
    inactive = exempt(owner, "ivy@acme.test")

    assert [a.status_code for a in (elsewhere, nowhere, inactive)] == [400] * 3
    assert "eve@globex.test is not an active member of Acme." in elsewhere.text
    assert "nobody@globex.test is not an active member of Acme." in nowhere.text
    assert "ivy@acme.test is not an active member of Acme." in inactive.text
    assert snapshot(app) == before


def test_an_account_that_stops_being_exempt_loses_its_password_sessions(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    make_user(app, org.id, "gail@acme.test", role="admin")
    assert exempt(owner, "gail@acme.test").status_code == 302
    assert turn_on(owner).status_code == 302
    gail = app.test_client()
    assert sign_in(gail, "gail@acme.test").status_code == 302

    assert exempt(owner).status_code == 302

    assert_nobody_signed_in(app, gail)
    assert sign_in(app.test_client(), "gail@acme.test").status_code == 403


# -- the password oracle ---------------------------------------------------------------


def test_a_covered_account_s_password_is_never_checked(
    app: Flask, org: OrgInfo, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, _codes = ready(app, org, provider)
    bob = make_user(app, org.id, "bob@acme.test")
    assert turn_on(owner).status_code == 302
    with app.app_context():
        bob_hash = db.session.get(User, bob).password_hash
    checked: list[str] = []
    real = core.security._safe_verify
    monkeypatch.setattr(
        core.security,
        "_safe_verify",
        lambda hashed, password: checked.append(hashed) or real(hashed, password),
    )

    answers = [sign_in(app.test_client(), "bob@acme.test", p) for p in (PASSWORD, "x")]

    assert bob_hash not in checked
    assert len(checked) == 2  # the decoy, once per attempt: the same work
    assert answers[0].text == answers[1].text


def test_refusals_of_a_covered_account_are_throttled_right_password_or_not(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    make_user(app, org.id, "bob@acme.test")
    assert turn_on(owner).status_code == 302
    for _ in range(5):
        assert sign_in(app.test_client(), "bob@acme.test", PASSWORD).status_code == 403

    sixth = sign_in(app.test_client(), "bob@acme.test", PASSWORD)

    assert sixth.status_code == 429


def test_an_email_in_two_organizations_signs_in_only_where_passwords_count(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    make_user(app, org.id, "ann@shared.test")
    other = make_org(app, "Globex")
    ann_globex = make_user(app, other.id, "ann@shared.test")
    assert turn_on(owner).status_code == 302

    client = app.test_client()
    right = sign_in(client, "ann@shared.test", PASSWORD)
    wrong = sign_in(app.test_client(), "ann@shared.test", "not it")

    assert right.status_code == 302
    assert signed_in_user_id(app, client) == ann_globex
    assert wrong.status_code == 403  # Acme's answer: use Okta (nothing checked)


def test_a_reset_link_sent_before_turning_on_dies_with_it(
    app: Flask, org: OrgInfo, provider: str, mailbox: tuple[Mailbox, int]
) -> None:
    inbox, _ = mailbox
    owner, _codes = ready(app, org, provider)
    bob = make_user(app, org.id, "bob@acme.test")
    response = app.test_client().post(
        "/password/forgot", data={"email": "bob@acme.test"}
    )
    response.get_data()
    response.close()
    [message] = inbox.wait_for("bob@acme.test")
    text = str(message.get_body(preferencelist=("plain",)).get_content())
    path = re.search(r"/password/reset/[A-Za-z0-9_-]+", text).group(0)

    assert turn_on(owner).status_code == 302

    with app.app_context():
        live = db.session.execute(
            db.select(PasswordToken).filter_by(user_id=bob, used_at=None)
        ).all()
    assert live == []
    form = {"password": "a brand new password", "confirm": "a brand new password"}
    assert app.test_client().post(path, data=form).status_code != 302


# -- recovery codes -------------------------------------------------------------------


def test_codes_are_random_readable_and_stored_hashed_only(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    _owner, codes = ready(app, org, provider)

    assert len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}", code)
    rows = code_rows(app, org.owner_id)
    assert {row["code_hash"] for row in rows} == {
        hash_token(normalize(code)) for code in codes
    }
    dump = repr(snapshot(app))
    assert not any(code.replace("-", "") in dump or code in dump for code in codes)


def test_another_organization_s_code_is_useless(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    _owner, codes = ready(app, org, provider)
    other = make_org(app, "Globex")

    answer = backup_sign_in(app.test_client(), other.owner_email, codes[0])

    assert answer.status_code == 401
    assert [r["used_at"] for r in code_rows(app, org.owner_id)] == [None] * 10
    [refused] = [
        e for e in events(app, "sign_in.refused") if e.get("method") == "backup"
    ]
    assert refused["organization_id"] == org.id  # Acme's owners see it
    assert (
        backup_sign_in(app.test_client(), org.owner_email, codes[0]).status_code == 302
    )


def test_wrong_codes_are_throttled_like_the_login(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    _owner, codes = ready(app, org, provider)
    for n in range(5):
        wrong = backup_sign_in(
            app.test_client(), org.owner_email, f"AAAAA-AAAAA-AAAAA-AAAA{n}"
        )
        assert wrong.status_code == 401
    client = app.test_client()

    answer = backup_sign_in(client, org.owner_email, codes[0])

    assert answer.status_code == 429
    assert signed_in_user_id(app, client) is None
    assert [r["used_at"] for r in code_rows(app, org.owner_id)] == [None] * 10


def test_another_organizations_unlock_does_not_lift_a_code_lockout(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    """Globex has an account with Acme's owner's email and unlocks it: the
    guesses at Acme's owner's codes stay locked out (lockout is per account)."""
    _owner, codes = ready(app, org, provider)
    globex = make_org(app, "Globex")
    twin = make_user(app, globex.id, org.owner_email)
    for n in range(5):
        wrong = backup_sign_in(
            app.test_client(), org.owner_email, f"AAAAA-AAAAA-AAAAA-AAAA{n}"
        )
        assert wrong.status_code == 401
    globex_owner = app.test_client()
    assert sign_in(globex_owner, globex.owner_email).status_code == 302
    assert globex_owner.post(f"/members/{twin}/unlock").status_code == 302
    assert events(app, "member.unlocked")[-1]["failures_cleared"] == 5
    client = app.test_client()

    answer = backup_sign_in(client, org.owner_email, codes[0])

    assert answer.status_code == 401
    assert signed_in_user_id(app, client) is None
    assert [r["used_at"] for r in code_rows(app, org.owner_id)] == [None] * 10


def test_a_demoted_owner_s_codes_stop_working(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    _owner, codes = ready(app, org, provider)
    make_user(app, org.id, "olive@acme.test", role="owner")
    set_user(app, org.owner_id, role="admin")

    assert (
        backup_sign_in(app.test_client(), org.owner_email, codes[0]).status_code == 401
    )


def test_a_code_session_stays_short_after_a_password_change(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    _owner, codes = ready(app, org, provider)
    client = app.test_client()
    assert backup_sign_in(client, org.owner_email, codes[0]).status_code == 302
    before = session_row(app, client)

    changed = client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "password": "another long password",
            "confirm": "another long password",
        },
    )

    assert changed.status_code == 302, changed.text
    after = session_row(app, client)
    assert after["token_hash"] != before["token_hash"]
    assert after["method"] == "backup"
    assert after["expires_at"] - before["expires_at"] < timedelta(seconds=2)
    assert after["created_at"] == before["created_at"]


def test_every_change_and_the_backup_sign_in_need_the_csrf_token(
    new_app: AppMaker,
) -> None:
    app = new_app(WTF_CSRF_ENABLED=True)
    org = make_org(app)
    make_user(app, org.id, "gail@acme.test", role="admin")
    client = app.test_client()
    page = client.get("/login")
    token = page.text.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    signed_in = client.post(
        "/login",
        data={"email": org.owner_email, "password": PASSWORD, "csrf_token": token},
    )
    assert signed_in.status_code == 302
    before = snapshot(app)

    answers = {
        path: client.post(PAGE + path, data=data)
        for path, data in [
            ("/on", {}),
            ("/off", {"confirm": "yes"}),
            ("/exempt", {"exempt": "gail@acme.test"}),
            ("/codes", {}),
            ("/codes/saved", {}),
            ("/links", {}),
        ]
    }
    stranger = app.test_client().post(
        "/login/backup", data={"code-email": org.owner_email, "code-code": "X"}
    )

    assert {path: a.status_code for path, a in answers.items()} == dict.fromkeys(
        answers, 400
    )
    assert stranger.status_code == 400
    assert snapshot(app) == before
