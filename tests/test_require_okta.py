"""Require Okta sign-in, with a way back in (issue #14, part 2).

Through the real HTTP paths: the settings page's checklist, preview, Turn on
and off; a covered member's password refused at /login; exempt accounts and
owners' recovery codes at /login/backup; "Forgot your password?" off for
covered members; the CLI. Okta is the real OpenID provider on 127.0.0.1
(`provider`), mail goes to the real SMTP `mailbox`.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from core.extensions import db
from core.models import OktaIdentity
from core.models import SsoTestResult
from core.models import UserSession
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import scim_key
from tests.support.builders import sign_in
from tests.support.constants import PASSWORD
from tests.support.mail import Mailbox
from tests.support.require_okta import PAGE
from tests.support.require_okta import age_sessions
from tests.support.require_okta import backup_sign_in
from tests.support.require_okta import exempt
from tests.support.require_okta import link_identity
from tests.support.require_okta import new_codes
from tests.support.require_okta import okta_client
from tests.support.require_okta import okta_org
from tests.support.require_okta import ready
from tests.support.require_okta import save_codes
from tests.support.require_okta import session_row
from tests.support.require_okta import set_user
from tests.support.require_okta import turn_on
from tests.support.rows import assert_nobody_signed_in
from tests.support.rows import events
from tests.support.rows import signed_in_user_id
from tests.support.rows import snapshot

# The mock provider signs ID tokens through a hook Authlib has deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")


@pytest.fixture
def app(smtp_app: Flask) -> Flask:
    """Every app of this module sends its mail to the real SMTP `mailbox`."""
    return smtp_app


def ids_in(page: str, table: str) -> list[str]:
    """The emails listed in the table with this id."""
    match = re.search(rf'<table id="{table}">(.*?)</table>', page, re.S)
    assert match, f"no table #{table}"
    return re.findall(r"<td>([^<]+@[^<]+)</td>", match.group(1))


def count_of(page: str, element: str) -> int:
    match = re.search(rf'id="{element}">(\d+)<', page)
    assert match, f"no #{element}"
    return int(match.group(1))


# -- preconditions ------------------------------------------------------------------


def test_all_preconditions_met_turns_it_on(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    assert session_row(app, owner)["method"] == "okta-oidc"  # the real provider's
    page = owner.get(PAGE).text
    assert page.count('class="met"') == 4
    assert 'class="unmet"' not in page

    response = turn_on(owner)

    assert response.status_code == 302
    assert "Required" in owner.get(PAGE).text
    [event] = events(app, "settings.okta_required")
    assert event["actor"] == org.owner_email


def _no_passing_test(app: Flask, org: OrgInfo) -> None:
    with app.app_context():
        db.session.execute(db.delete(SsoTestResult).filter_by(organization_id=org.id))
        db.session.commit()


def _okta_sign_in_too_old(app: Flask, org: OrgInfo) -> None:
    age_sessions(app, org.owner_id, timedelta(minutes=11))


@pytest.mark.parametrize(
    ("missing", "breaks", "words"),
    [
        ("tested", _no_passing_test, "passed a test sign-in"),
        ("recent_okta", _okta_sign_in_too_old, "last 10 minutes"),
    ],
)
def test_each_precondition_missing_is_refused_and_changes_nothing(
    app: Flask, org: OrgInfo, provider: str, missing: str, breaks, words: str
) -> None:
    owner, _codes = ready(app, org, provider)
    breaks(app, org)
    assert f'id="pre-{missing}" class="unmet"' in owner.get(PAGE).text
    before = snapshot(app)

    response = turn_on(owner)

    assert response.status_code == 409
    assert words in response.text
    assert snapshot(app) == before


def test_an_owner_signed_in_with_a_password_is_refused(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    ready(app, org, provider)
    owner = app.test_client()
    assert sign_in(owner, org.owner_email).status_code == 302
    before = snapshot(app)

    response = turn_on(owner)

    assert response.status_code == 409
    assert "signed in through Okta in the last 10 minutes" in response.text
    assert snapshot(app) == before


def test_no_owner_linked_to_okta_is_refused(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    with app.app_context():
        db.session.execute(db.delete(OktaIdentity).filter_by(user_id=org.owner_id))
        db.session.commit()
    before = snapshot(app)

    response = turn_on(owner)

    assert response.status_code == 409
    assert "At least one owner is linked to Okta" in response.text
    assert snapshot(app) == before


def test_no_recovery_path_is_refused_until_codes_are_confirmed_or_someone_exempt(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner = okta_org(app, org, provider)
    before = snapshot(app)
    response = turn_on(owner)
    assert response.status_code == 409
    assert "A way back in if Okta fails" in response.text
    assert snapshot(app) == before

    new_codes(owner)  # generated, but not confirmed as saved
    before = snapshot(app)
    assert turn_on(owner).status_code == 409
    assert snapshot(app) == before

    make_user(app, org.id, "breakglass@acme.test", role="admin")
    assert exempt(owner, "breakglass@acme.test").status_code == 302
    assert turn_on(owner).status_code == 302


# -- the preview --------------------------------------------------------------------


def test_the_preview_lists_who_is_affected(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    make_user(app, org.id, "bob@acme.test")
    dana = make_user(app, org.id, "dana@acme.test", password=None, source="sso")
    link_identity(app, org.id, dana, provider, "00u-dana")
    scimmy = make_user(app, org.id, "sam@acme.test", password=None, source="scim")
    set_user(app, scimmy, scim_managed=True)
    make_user(app, org.id, "gail@acme.test", role="admin")
    make_user(app, org.id, "ivy@acme.test", status="inactive")
    assert exempt(owner, "gail@acme.test").status_code == 302
    bob_client = app.test_client()
    assert sign_in(bob_client, "bob@acme.test").status_code == 302
    hank = make_user(app, org.id, "hank@acme.test", role="admin")
    scim_key(app, org.id, user_id=hank)
    other = make_org(app, "Globex")
    make_user(app, other.id, "eve@globex.test")
    before = snapshot(app)

    page = owner.get(PAGE).text

    assert snapshot(app) == before
    assert ids_in(page, "linked") == ["dana@acme.test", org.owner_email]
    assert ids_in(page, "unlinked") == [
        "bob@acme.test",
        "hank@acme.test",
        "sam@acme.test",
    ]
    assert ids_in(page, "scim-never") == ["sam@acme.test"]
    assert ids_in(page, "exempt-members") == ["gail@acme.test"]
    # Bob's password session, and the owner's that set Okta up with a password.
    assert ids_in(page, "session-members") == ["bob@acme.test", org.owner_email]
    assert count_of(page, "sessions-count") == 2
    assert count_of(page, "keys-count") == 1
    assert "hank@acme.test" in re.search(
        r'<table id="personal-keys">(.*?)</table>', page, re.S
    ).group(1)


def test_the_preview_costs_the_same_queries_whatever_the_size(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)

    def queries() -> int:
        seen: list[str] = []
        with app.app_context():
            engine = db.engine
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert owner.get(PAGE).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    small = queries()
    for n in range(60):
        make_user(app, org.id, f"m{n}@acme.test")
        client = app.test_client()
        assert sign_in(client, f"m{n}@acme.test").status_code == 302
    big = queries()

    assert big == small
    page = owner.get(PAGE).text
    assert count_of(page, "unlinked-count") == 60
    assert len(ids_in(page, "unlinked")) == 50
    assert "… and 10 more." in page


def test_email_them_the_link_now_reuses_the_link_email(
    app: Flask, org: OrgInfo, provider: str, mailbox: tuple[Mailbox, int]
) -> None:
    inbox, _ = mailbox
    owner, _codes = ready(app, org, provider)
    make_user(app, org.id, "bob@acme.test")

    response = owner.post(PAGE + "/links")

    assert response.status_code == 302
    [message] = inbox.to("bob@acme.test")
    assert message["Subject"] == "Confirm and link your Okta account to Acme"


# -- while required -------------------------------------------------------------------


def test_turning_on_ends_password_sessions_and_keeps_okta_sessions(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    make_user(app, org.id, "bob@acme.test")
    carl = make_user(app, org.id, "carl@acme.test")
    dana = make_user(app, org.id, "dana@acme.test", password=None, source="sso")
    link_identity(app, org.id, dana, provider, "00u-dana")
    make_user(app, org.id, "gail@acme.test", role="admin")
    assert exempt(owner, "gail@acme.test").status_code == 302
    bob, carl_client, gail = (app.test_client() for _ in range(3))
    assert sign_in(bob, "bob@acme.test").status_code == 302
    assert sign_in(carl_client, "carl@acme.test").status_code == 302
    assert sign_in(gail, "gail@acme.test").status_code == 302
    with app.app_context():  # Carl's session is from before migration 0012
        db.session.execute(
            db.update(UserSession).filter_by(user_id=carl).values(method=None)
        )
        db.session.commit()
    dana_client = okta_client(app, provider, "00u-dana", "dana@acme.test")

    assert turn_on(owner).status_code == 302

    assert_nobody_signed_in(app, bob)
    assert_nobody_signed_in(app, carl_client)
    assert signed_in_user_id(app, owner) == org.owner_id
    assert signed_in_user_id(app, dana_client) == dana
    assert signed_in_user_id(app, gail) is not None
    [event] = events(app, "settings.okta_required")
    # Bob's, Carl's and the owner's password session of connect_okta.
    assert event["sessions_ended"] == 3
    assert event["exempt"] == ["gail@acme.test"]


def test_a_covered_password_sign_in_is_refused_alike_right_or_wrong(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    make_user(app, org.id, "bob@acme.test")
    assert turn_on(owner).status_code == 302

    right = sign_in(app.test_client(), "bob@acme.test", PASSWORD)
    wrong = sign_in(app.test_client(), "bob@acme.test", "not the password at all")

    assert right.status_code == wrong.status_code == 403
    assert right.text == wrong.text
    assert "requires sign-in with Okta" in right.text
    assert re.search(r'id="okta-required-sso"\s+href="/sso"', right.text)
    reasons = [e["reason"] for e in events(app, "sign_in.refused")]
    assert reasons == ["okta required", "okta required"]
    # The owner is covered too: their password no longer opens anything.
    assert sign_in(app.test_client(), org.owner_email).status_code == 403


def test_exempt_accounts_sign_in_with_their_password(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    gail = make_user(app, org.id, "gail@acme.test", role="admin")
    assert exempt(owner, "gail@acme.test").status_code == 302
    assert turn_on(owner).status_code == 302

    at_backup = app.test_client()
    response = at_backup.post(
        "/login/backup/password",
        data={"password-email": "gail@acme.test", "password-password": PASSWORD},
    )
    at_login = app.test_client()

    assert response.status_code == 302
    assert signed_in_user_id(app, at_backup) == gail
    assert session_row(app, at_backup)["method"] == "password"
    assert sign_in(at_login, "gail@acme.test").status_code == 302
    refused = app.test_client().post(
        "/login/backup/password",
        data={"password-email": org.owner_email, "password-password": PASSWORD},
    )
    assert refused.status_code == 401


def forgot(client: FlaskClient, email: str) -> str:
    response = client.post("/password/forgot", data={"email": email})
    text = response.get_data(as_text=True)
    response.close()
    assert response.status_code == 200
    return text


def test_reset_is_off_for_covered_members_with_the_same_public_answer(
    app: Flask, org: OrgInfo, provider: str, mailbox: tuple[Mailbox, int]
) -> None:
    inbox, _ = mailbox
    owner, _codes = ready(app, org, provider)
    make_user(app, org.id, "bob@acme.test")
    make_user(app, org.id, "gail@acme.test", role="admin")
    assert exempt(owner, "gail@acme.test").status_code == 302
    assert turn_on(owner).status_code == 302

    answers = {
        forgot(app.test_client(), e) for e in ("bob@acme.test", "gail@acme.test")
    }

    assert len(answers) == 1
    inbox.wait_for("gail@acme.test")
    assert inbox.to("bob@acme.test") == []
    results = {
        e["target"]: e["result"] for e in events(app, "password.reset_requested")
    }
    assert results == {
        "bob@acme.test": "not sent: Okta sign-in required",
        "gail@acme.test": "link",
    }


def test_turning_off_shows_its_effect_then_lets_passwords_in(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    make_user(app, org.id, "bob@acme.test")
    assert turn_on(owner).status_code == 302
    before = snapshot(app)

    first = owner.post(PAGE + "/off")

    assert first.status_code == 200
    assert snapshot(app) == before
    assert "2 members" in first.text  # the owner and Bob have passwords
    assert owner.post(PAGE + "/off", data={"confirm": "yes"}).status_code == 302
    assert sign_in(app.test_client(), "bob@acme.test").status_code == 302
    [event] = events(app, "settings.okta_not_required")
    assert event["actor"] == org.owner_email


# -- recovery codes -------------------------------------------------------------------


def test_a_recovery_code_works_once_for_4_hours_and_tells_every_owner(
    app: Flask, org: OrgInfo, provider: str, mailbox: tuple[Mailbox, int]
) -> None:
    inbox, _ = mailbox
    owner, codes = ready(app, org, provider)
    make_user(app, org.id, "olive@acme.test", role="owner")
    assert turn_on(owner).status_code == 302

    client = app.test_client()
    response = backup_sign_in(client, org.owner_email, codes[3].lower())

    assert response.status_code == 302
    assert signed_in_user_id(app, client) == org.owner_id
    row = session_row(app, client)
    assert row["method"] == "backup"
    assert row["expires_at"] - row["created_at"] <= timedelta(hours=4)
    assert row["expires_at"] - row["created_at"] > timedelta(hours=3, minutes=59)
    [used] = events(app, "recovery_code.used")
    assert used["codes_left"] == 9
    for address in (org.owner_email, "olive@acme.test"):
        [message] = inbox.to(address)
        assert "with a recovery code" in message["Subject"]
    again = backup_sign_in(app.test_client(), org.owner_email, codes[3])
    assert again.status_code == 401
    assert "used already" in again.text


def test_regenerating_voids_the_old_codes(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, old = ready(app, org, provider)
    new = save_codes(owner)

    assert set(old).isdisjoint(new)
    assert backup_sign_in(app.test_client(), org.owner_email, old[0]).status_code == 401
    assert backup_sign_in(app.test_client(), org.owner_email, new[0]).status_code == 302
    generated = events(app, "recovery_codes.generated")
    assert [e["voided"] for e in generated] == [0, 10]


# -- the command line -----------------------------------------------------------------


def test_cli_turns_the_requirement_off(app: Flask, org: OrgInfo, provider: str) -> None:
    owner, _codes = ready(app, org, provider)
    make_user(app, org.id, "bob@acme.test")
    assert turn_on(owner).status_code == 302
    assert sign_in(app.test_client(), "bob@acme.test").status_code == 403

    result = app.test_cli_runner().invoke(
        args=["sso", "require", "--org", "acme", "--off"]
    )

    assert result.exit_code == 0, result.output
    assert "no longer required" in result.output
    assert sign_in(app.test_client(), "bob@acme.test").status_code == 302
    [event] = events(app, "settings.okta_not_required")
    assert event["actor"] == "cli"


def test_cli_prints_new_recovery_codes_that_work(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, old = ready(app, org, provider)
    assert turn_on(owner).status_code == 302

    result = app.test_cli_runner().invoke(
        args=["sso", "recovery-codes", "--org", "Acme", "--owner", org.owner_email]
    )

    assert result.exit_code == 0, result.output
    codes = re.findall(r"[0-9A-Z]{5}(?:-[0-9A-Z]{5}){3}", result.output)
    assert len(codes) == 10
    assert backup_sign_in(app.test_client(), org.owner_email, old[0]).status_code == 401
    assert (
        backup_sign_in(app.test_client(), org.owner_email, codes[0]).status_code == 302
    )


def test_cli_commands_explain_themselves(app: Flask) -> None:
    runner = app.test_cli_runner()
    require = runner.invoke(args=["sso", "require", "--help"])
    codes = runner.invoke(args=["sso", "recovery-codes", "--help"])
    assert "--off" in require.output and "--org" in require.output
    assert "/login/backup" in codes.output and "--owner" in codes.output


def test_cli_refuses_without_off_and_for_a_non_owner(app: Flask, org: OrgInfo) -> None:
    runner = app.test_cli_runner()
    make_user(app, org.id, "bob@acme.test")
    before = snapshot(app)

    no_off = runner.invoke(args=["sso", "require", "--org", "Acme"])
    member = runner.invoke(
        args=["sso", "recovery-codes", "--org", "Acme", "--owner", "bob@acme.test"]
    )
    nobody = runner.invoke(
        args=["sso", "recovery-codes", "--org", "Acme", "--owner", "x@acme.test"]
    )

    assert [no_off.exit_code, member.exit_code, nobody.exit_code] == [1, 1, 1]
    assert "settings page" in no_off.output
    assert "active owners" in member.output
    assert snapshot(app) == before
