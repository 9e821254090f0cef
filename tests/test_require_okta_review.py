"""A fresh-eyed review of "Require Okta sign-in" (issue #14 part 2).

Each test is an attack on one path. The ones that fail are findings (the
report names them); the ones that pass assert a security property that held.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from flask import Flask

from core.extensions import db
from core.models import Organization
from core.models import User
from core.models import UserSession
from core.require_okta import Precondition
from core.require_okta import _recovery_path
from core.require_okta import is_required
from core.require_okta import preconditions
from tests.support.builders import AppMaker
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.concurrency import all_at_once
from tests.support.constants import PASSWORD
from tests.support.live import serve
from tests.support.oidc import discovery
from tests.support.oidc import oidc_test_sign_in
from tests.support.oidc import okta_form
from tests.support.oidc import turn_on_for_everyone
from tests.support.require_okta import PAGE
from tests.support.require_okta import backup_sign_in
from tests.support.require_okta import code_rows
from tests.support.require_okta import exempt
from tests.support.require_okta import link_identity
from tests.support.require_okta import okta_client
from tests.support.require_okta import okta_org
from tests.support.require_okta import ready
from tests.support.require_okta import session_row
from tests.support.require_okta import set_user
from tests.support.require_okta import turn_on
from tests.support.rows import assert_nobody_signed_in
from tests.support.rows import events
from tests.support.rows import signed_in_user_id

pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")

NEW_PASSWORD = "another long password"


def _required(app: Flask, org_id: int) -> bool:
    with app.app_context():
        org = db.session.get(Organization, org_id)
        assert org is not None
        return is_required(org)


def _preconditions(app: Flask, org_id: int, user_id: int) -> list[Precondition]:
    """The checklist as the owner would see it (outside any request: the
    owner's session is not asked, so `recent_okta` reads False here)."""
    with app.app_context():
        org = db.session.get(Organization, org_id)
        user = db.session.get(User, user_id)
        assert org is not None and user is not None
        return preconditions(org, user)


def _set_session_method(app: Flask, user_id: int, method: str | None) -> None:
    """Give every session of the user this method (a state an upgraded
    install starts from: NULL before migration 0012; "" as the previous
    restart_session wrote for those rows)."""
    with app.app_context():
        for row in db.session.execute(
            db.select(UserSession).filter_by(user_id=user_id)
        ).scalars():
            row.method = method
        db.session.commit()


# -- FINDING: a legacy session restarted by a password change survives --


def test_a_legacy_session_restarted_by_a_password_change_ends_when_required(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    bob = make_user(app, org.id, "bob@acme.test")
    bob_client = app.test_client()
    assert sign_in(bob_client, "bob@acme.test").status_code == 302
    _set_session_method(app, bob, None)  # a session from before migration 0012
    changed = bob_client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert changed.status_code == 302, changed.text
    assert signed_in_user_id(app, bob_client) == bob

    assert turn_on(owner).status_code == 302

    # restart_session wrote method "" (not NULL, not "password"): the
    # requirement's sweep skips it and Bob keeps his password session.
    assert_nobody_signed_in(app, bob_client)


def test_a_session_of_unknown_origin_ends_when_required(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    bob = make_user(app, org.id, "bob@acme.test")
    bob_client = app.test_client()
    assert sign_in(bob_client, "bob@acme.test").status_code == 302
    _set_session_method(app, bob, "")  # as the old restart_session wrote

    assert turn_on(owner).status_code == 302

    assert_nobody_signed_in(app, bob_client)


# -- FINDING: Okta off and on again while required --


def test_okta_off_and_on_again_ends_the_password_sessions_of_the_gap(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    make_user(app, org.id, "bob@acme.test")
    assert turn_on(owner).status_code == 302
    assert sign_in(app.test_client(), "bob@acme.test").status_code == 403

    off = owner.post("/settings/sso", data={"provider": "none", "confirm": "yes"})
    assert off.status_code == 302, off.text
    bob_client = app.test_client()
    # While Okta is off the requirement silently lapses: passwords work.
    assert sign_in(bob_client, "bob@acme.test").status_code == 302
    on = turn_on_for_everyone(owner, "oidc", send_links=False)
    assert on.status_code == 302, on.text
    assert _required(app, org.id)  # required again...

    # ...but Bob's password session from the gap is still alive.
    assert_nobody_signed_in(app, bob_client)


# -- FINDING: a password sign-in in flight while it is turned on survives it --


@pytest.mark.real_passwords  # the production argon2 cost: the real window
def test_a_password_sign_in_racing_the_turn_on_gets_no_session(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    bob = make_user(app, org.id, "bob@acme.test")
    for name in ("Globex", "Initech", "Umbrella"):
        # The same email elsewhere with other passwords: each is checked too,
        # which only widens the window (about two seconds of argon2).
        other = make_org(app, name)
        make_user(app, other.id, "bob@acme.test", password=f"{name} password 123")
    cookie = owner.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    with serve(app) as url:

        def bob_signs_in() -> requests.Response:
            with requests.Session() as http:
                return http.post(
                    url + "/login",
                    data={"email": "bob@acme.test", "password": PASSWORD},
                    allow_redirects=False,
                    timeout=60,
                )

        def owner_turns_it_on() -> requests.Response:
            time.sleep(0.4)  # Bob's passwords are being checked now
            with requests.Session() as http:
                return http.post(
                    url + PAGE + "/on",
                    cookies={app.config["SESSION_COOKIE_NAME"]: cookie.value},
                    allow_redirects=False,
                    timeout=60,
                )

        with ThreadPoolExecutor(max_workers=2) as pool:
            bob_answer = pool.submit(bob_signs_in)
            on_answer = pool.submit(owner_turns_it_on)
            signed_in, turned_on = bob_answer.result(), on_answer.result()

    assert turned_on.status_code == 302, turned_on.text
    assert _required(app, org.id)
    with app.app_context():
        live = db.session.execute(
            db.select(UserSession).filter_by(user_id=bob, revoked_at=None)
        ).all()
    # Bob's sign-in read "optional" before the argon2 check and opened its
    # password session after the requirement's sweep: it lives on.
    assert (signed_in.status_code, len(live)) != (302, 1)
    assert live == []


# -- FINDING (lockout of the safety net): anyone can throttle the owner's codes --


def test_a_stranger_failing_passwords_cannot_lock_the_owner_out_of_backup(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, codes = ready(app, org, provider)
    assert turn_on(owner).status_code == 302
    for n in range(6):
        stranger = app.test_client()
        stranger.environ_base["REMOTE_ADDR"] = f"203.0.113.{n + 1}"
        # The owner is covered: a password never works for them anyway, so
        # these attempts cost the stranger nothing and guess nothing.
        sign_in(stranger, org.owner_email, "whatever")
    rightful = app.test_client()
    rightful.environ_base["REMOTE_ADDR"] = "198.51.100.7"

    answer = backup_sign_in(rightful, org.owner_email, codes[0])

    assert answer.status_code == 302, answer.status_code
    assert signed_in_user_id(app, rightful) == org.owner_id


# -- FINDING (low): the last way back in can be removed while required --


def test_the_last_recovery_path_cannot_be_removed_while_required(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner = okta_org(app, org, provider)  # no recovery codes
    make_user(app, org.id, "gail@acme.test", role="admin")
    assert exempt(owner, "gail@acme.test").status_code == 302
    assert turn_on(owner).status_code == 302

    answer = exempt(owner)  # no exempt account, no codes: no way back in

    assert answer.status_code in (400, 409), answer.status_code
    assert [e["exempt"] for e in events(app, "settings.okta_exemptions_changed")] == [
        ["gail@acme.test"]
    ]


def test_an_admin_cannot_remove_the_only_way_back_in_by_deactivating_it(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner = okta_org(app, org, provider)  # no recovery codes
    gail = make_user(app, org.id, "gail@acme.test")
    assert exempt(owner, "gail@acme.test").status_code == 302
    assert turn_on(owner).status_code == 302
    adam = make_user(app, org.id, "adam@acme.test", role="admin")
    link_identity(app, org.id, adam, provider, "00u-adam")
    admin = okta_client(app, provider, "00u-adam", "adam@acme.test")

    # Only owners may choose the exempt accounts; an admin may not unmake
    # the only one by deactivating it either.
    admin.post(f"/members/{gail}/status", data={"status": "inactive"})

    with app.app_context():
        org_row = db.session.get(Organization, org.id)
        assert org_row is not None
        assert _recovery_path(org_row), "required, with no way back in left"


# -- FINDING (low): a 4-hour code session mints fresh codes: no cap at all --


def test_a_recovery_code_session_cannot_mint_new_codes(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, codes = ready(app, org, provider)
    assert turn_on(owner).status_code == 302
    thief = app.test_client()
    assert backup_sign_in(thief, org.owner_email, codes[0]).status_code == 302

    minted = thief.post(PAGE + "/codes")

    # Ten new codes = ten more 4-hour sessions, and the owner's own nine
    # remaining codes are voided: the 4-hour cap bounds nothing.
    assert minted.status_code == 403, minted.status_code
    assert len(code_rows(app, org.owner_id)) == 10
    assert (
        backup_sign_in(app.test_client(), org.owner_email, codes[1]).status_code == 302
    )


# -- FINDING (low): "signed in through Okta" may be through the previous Okta --


def test_an_okta_session_at_the_previous_okta_does_not_count(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    from oidc_provider_mock import run_server_in_thread

    owner, _codes = ready(app, org, provider)  # signed in through `provider`
    olive = make_user(app, org.id, "olive@acme.test", role="owner")
    with run_server_in_thread(port=0, require_nonce=True) as server:
        new_okta = f"http://127.0.0.1:{server.server_port}"
        link_identity(app, org.id, olive, new_okta, "00u-olive")
        saved = owner.post(
            "/settings/okta",
            data=okta_form(discovery(new_okta), confirm="yes", send_links="no"),
        )
        assert saved.status_code == 302, saved.text
        assert oidc_test_sign_in(owner).status_code == 302
        checklist = {
            item.key: item.met for item in _preconditions(app, org.id, org.owner_id)
        }
        assert checklist["tested"] and checklist["owner_linked"], checklist

        answer = turn_on(owner)

    # The owner's only Okta sign-in was at the Okta the organization left.
    assert answer.status_code == 409, answer.status_code
    assert not _required(app, org.id)


# -- held: an exempt account is a way back in only with a password, while active --


@pytest.mark.parametrize(
    "state",
    [{"password_hash": None}, {"status": "inactive"}],
    ids=["no-password", "inactive"],
)
def test_an_exempt_account_that_cannot_sign_in_is_no_recovery_path(
    app: Flask, org: OrgInfo, provider: str, state: dict[str, object]
) -> None:
    owner = okta_org(app, org, provider)  # no recovery codes
    gail = make_user(app, org.id, "gail@acme.test")
    assert exempt(owner, "gail@acme.test").status_code == 302
    set_user(app, gail, **state)

    answer = turn_on(owner)

    assert answer.status_code == 409
    assert not _required(app, org.id)


# -- held: single use under concurrency, on a real threaded server --


def test_one_code_posted_twice_at_once_opens_one_session(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    _owner, codes = ready(app, org, provider)
    with serve(app) as url:

        def redeem() -> int:
            with requests.Session() as http:
                response = http.post(
                    url + "/login/backup",
                    data={"code-email": org.owner_email, "code-code": codes[0]},
                    allow_redirects=False,
                    timeout=60,
                )
                return response.status_code

        statuses = all_at_once([redeem] * 4)  # type: ignore[list-item]

    assert sorted(statuses) == [302, 401, 401, 401], statuses  # type: ignore[type-var]
    assert len(events(app, "recovery_code.used")) == 1
    assert sum(row["used_at"] is not None for row in code_rows(app, org.owner_id)) == 1


# -- held: no open redirect from the backup page --


@pytest.mark.parametrize(
    "target", ["//evil.example/", "/\\evil.example", "https://evil.example/", "/\t/x"]
)
def test_the_backup_page_never_sends_anyone_off_site(
    app: Flask, org: OrgInfo, provider: str, target: str
) -> None:
    _owner, codes = ready(app, org, provider)
    client = app.test_client()

    answer = client.post(
        "/login/backup",
        data={
            "code-email": org.owner_email,
            "code-code": codes[0],
            "code-next": target,
        },
    )
    again = client.get("/login/backup", query_string={"next": target})

    for response in (answer, again):
        assert response.status_code == 302
        assert response.headers["Location"] == "/members"


# -- held: a code session is capped at 4 hours and stays capped --


def test_a_code_session_is_at_most_four_hours(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    _owner, codes = ready(app, org, provider)
    client = app.test_client()
    assert backup_sign_in(client, org.owner_email, codes[0]).status_code == 302

    row = session_row(app, client)

    assert row["method"] == "backup"
    assert row["expires_at"] - row["created_at"] <= timedelta(hours=4)


# -- held: the organization chooser, a password choice made before turning on --


def test_a_pending_organization_choice_cannot_finish_into_a_covered_account(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    make_user(app, org.id, "ann@shared.test")
    other = make_org(app, "Globex")
    make_user(app, other.id, "ann@shared.test")
    ann = app.test_client()
    assert sign_in(ann, "ann@shared.test").headers["Location"].endswith("/login/choose")
    page = ann.get("/login/choose").text
    assert "Acme" in page

    assert turn_on(owner).status_code == 302

    with app.app_context():
        acme_ann = db.session.execute(
            db.select(User).filter_by(
                organization_id=org.id, email_key="ann@shared.test"
            )
        ).scalar_one()
        acme_ann_id = acme_ann.id
    ann.post("/login/choose", data={"account": acme_ann_id})
    assert signed_in_user_id(app, ann) != acme_ann_id


# -- held: a test result of older settings does not count --


def test_a_test_sign_in_of_earlier_settings_does_not_count(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    saved = owner.post(
        "/settings/okta", data=okta_form(discovery(provider), client_id="other-app")
    )
    assert saved.status_code == 302, saved.text

    answer = turn_on(owner)

    assert answer.status_code == 409
    assert not _required(app, org.id)


# -- held: the backup password form is no oracle for covered accounts --


def test_the_backup_password_form_answers_alike_for_a_covered_account(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    make_user(app, org.id, "bob@acme.test")
    assert turn_on(owner).status_code == 302

    answers = [
        app.test_client().post(
            "/login/backup/password",
            data={"password-email": "bob@acme.test", "password-password": password},
        )
        for password in (PASSWORD, "not his password")
    ]

    assert [a.status_code for a in answers] == [401, 401]
    assert answers[0].text == answers[1].text


# -- held: the command line refuses bad input --


def test_the_command_line_refuses_codes_for_anyone_but_an_active_owner(
    app: Flask, org: OrgInfo
) -> None:
    make_user(app, org.id, "gail@acme.test", role="admin")
    other = make_org(app, "Globex")
    runner = app.test_cli_runner()

    answers = [
        runner.invoke(args=["sso", "recovery-codes", "--org", "Acme", "--owner", who])
        for who in ("gail@acme.test", other.owner_email, "nobody@acme.test")
    ]
    on = runner.invoke(args=["sso", "require", "--org", "Acme"])

    assert [a.exit_code != 0 for a in answers] == [True, True, True]
    assert on.exit_code != 0
    assert code_rows(app, org.owner_id) == []


# -- held: the exempt password form needs the CSRF token (no login CSRF) --


def test_the_backup_password_form_needs_the_csrf_token(new_app: AppMaker) -> None:
    app = new_app(WTF_CSRF_ENABLED=True)
    org = make_org(app)
    client = app.test_client()

    answer = client.post(
        "/login/backup/password",
        data={"password-email": org.owner_email, "password-password": PASSWORD},
    )

    assert answer.status_code == 400
    assert signed_in_user_id(app, client) is None
