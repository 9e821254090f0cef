"""What the fixes of the Require Okta review changed, beyond the reviewer's own
tests (tests/test_require_okta_review.py): the pages that say so, the paths
the reviewer did not try, and what still may happen.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from core.extensions import db
from core.models import PasswordToken
from core.models import User
from tests.support.builders import OrgInfo
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.constants import PASSWORD
from tests.support.migrations import keep_logging  # noqa: F401 (autouse)
from tests.support.oidc import turn_on_for_everyone
from tests.support.require_okta import PAGE
from tests.support.require_okta import backup_sign_in
from tests.support.require_okta import exempt
from tests.support.require_okta import link_identity
from tests.support.require_okta import okta_client
from tests.support.require_okta import okta_org
from tests.support.require_okta import ready
from tests.support.require_okta import session_row
from tests.support.require_okta import turn_on
from tests.support.rows import events
from tests.support.rows import get_user

pytestmark = pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")

NEW_PASSWORD = "another long password"


def _unused_links(app: Flask, user_id: int) -> int:
    with app.app_context():
        return len(
            db.session.execute(
                db.select(PasswordToken).filter_by(user_id=user_id, used_at=None)
            ).all()
        )


def test_turning_okta_off_while_required_says_it_suspends_the_requirement(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)
    before = owner.post("/settings/sso", data={"provider": "none"})
    assert before.status_code == 200
    assert 'id="requirement-suspended-warning"' not in before.text
    assert turn_on(owner).status_code == 302

    asked = owner.post("/settings/sso", data={"provider": "none"})
    off = owner.post("/settings/sso", data={"provider": "none", "confirm": "yes"})
    page = owner.get(PAGE)

    assert 'id="requirement-suspended-warning"' in asked.text
    assert off.status_code == 302
    assert 'id="require-suspended"' in page.text
    assert 'id="require-off-button"' in page.text  # the owner may still end it


def test_a_reset_link_of_the_gap_stops_working_when_okta_is_on_again(
    app: Flask, org: OrgInfo, provider: str, mailbox: object
) -> None:
    owner, _codes = ready(app, org, provider)
    bob = make_user(app, org.id, "bob@acme.test")
    assert turn_on(owner).status_code == 302
    off = owner.post("/settings/sso", data={"provider": "none", "confirm": "yes"})
    assert off.status_code == 302
    asked = app.test_client().post("/password/forgot", data={"email": "bob@acme.test"})
    asked.close()  # the link is made and emailed when the answer closes
    assert asked.status_code == 200
    assert _unused_links(app, bob) == 1  # the requirement is suspended

    on = turn_on_for_everyone(owner, "oidc", send_links=False)

    assert on.status_code == 302, on.text
    assert _unused_links(app, bob) == 0
    [turned_on] = events(app, "settings.okta_turned_on")[-1:]
    assert turned_on["required_sessions_ended"] == 0


def test_an_account_no_longer_exempt_loses_its_reset_link(
    app: Flask, org: OrgInfo, provider: str, mailbox: object
) -> None:
    owner, _codes = ready(app, org, provider)  # the owner's saved codes
    gail = make_user(app, org.id, "gail@acme.test")
    assert exempt(owner, "gail@acme.test").status_code == 302
    assert turn_on(owner).status_code == 302
    asked = app.test_client().post("/password/forgot", data={"email": "gail@acme.test"})
    asked.close()  # the link is made and emailed when the answer closes
    assert _unused_links(app, gail) == 1  # exempt: she may reset her password

    assert exempt(owner).status_code == 302

    assert _unused_links(app, gail) == 0


def test_a_recovery_code_session_cannot_link_an_okta_account_and_is_told(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, codes = ready(app, org, provider)
    assert turn_on(owner).status_code == 302
    thief = app.test_client()
    assert backup_sign_in(thief, org.owner_email, codes[0]).status_code == 302

    linked = thief.post("/okta/link-mine")
    page = thief.get(PAGE)

    assert linked.status_code == 403
    assert 'id="codes-backup-session"' in page.text
    assert 'id="codes-generate"' not in page.text


def test_an_okta_session_keeps_its_okta_across_a_password_change(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner = okta_org(app, org, provider)
    started = session_row(app, owner)
    assert started["okta_issuer"] == provider

    changed = owner.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert changed.status_code == 302, changed.text
    restarted = session_row(app, owner)

    assert restarted["okta_issuer"] == started["okta_issuer"]
    assert restarted["method"] == started["method"]


def test_a_password_session_records_no_okta(app: Flask, org: OrgInfo) -> None:
    client = app.test_client()
    assert sign_in(client, org.owner_email).status_code == 302

    assert session_row(app, client)["okta_issuer"] is None


def test_the_only_owner_with_saved_codes_cannot_be_demoted_while_required(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)  # no exempt account
    olive = make_user(app, org.id, "olive@acme.test", role="owner")
    link_identity(app, org.id, olive, provider, "00u-olive")
    other_owner = okta_client(app, provider, "00u-olive", "olive@acme.test")
    assert turn_on(owner).status_code == 302

    other_owner.post(f"/members/{org.owner_id}/role", data={"role": "admin"})
    other_owner.post(f"/members/{org.owner_id}/status", data={"status": "inactive"})

    row = get_user(app, org.owner_id)
    assert (row["role"], row["status"]) == ("owner", "active")
    assert events(app, "member.role_changed") == []
    assert events(app, "member.deactivated") == []


def test_with_another_way_back_in_the_exempt_account_may_go(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner, _codes = ready(app, org, provider)  # the owner's saved codes
    gail = make_user(app, org.id, "gail@acme.test")
    assert exempt(owner, "gail@acme.test").status_code == 302
    assert turn_on(owner).status_code == 302

    owner.post(f"/members/{gail}/status", data={"status": "inactive"})
    cleared = exempt(owner)

    assert get_user(app, gail)["status"] == "inactive"
    assert cleared.status_code == 302


def test_the_command_line_may_still_deactivate_the_only_exempt_account(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner = okta_org(app, org, provider)  # no recovery codes
    gail = make_user(app, org.id, "gail@acme.test")
    assert exempt(owner, "gail@acme.test").status_code == 302
    assert turn_on(owner).status_code == 302
    with app.app_context():
        from core.authority import Actor
        from core.provisioning import users

        user = db.session.get(User, gail)
        assert user is not None
        users.set_status(Actor.command_line(), user, "inactive")

    assert get_user(app, gail)["status"] == "inactive"


def test_migration_0016_turns_sessions_of_unknown_origin_back_into_null(
    empty_app: Flask,
) -> None:
    runner = empty_app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade", "0015"]).exit_code == 0
    now = "2026-01-01 00:00:00"
    later = "2027-01-01 00:00:00"
    with empty_app.app_context():
        for statement in (
            "INSERT INTO organization (id, name, name_key, plan, created_at)"
            " VALUES (1, 'Acme', 'acme', 'pro', :now)",
            'INSERT INTO "user" (id, organization_id, email, email_key, user_name,'
            " user_name_key, given_name, family_name, display_name, name_key, role,"
            " status, source, scim_managed, email_from_okta, created_at, updated_at)"
            " VALUES (1, 1, 'ann@acme.test', 'ann@acme.test', 'ann@acme.test',"
            " 'ann@acme.test', '', '', '', '', 'member', 'active', 'local', false,"
            " false, :now, :now)",
        ):
            db.session.execute(sa.text(statement), {"now": now})
        for session_id, method in ((1, ""), (2, None), (3, "password")):
            db.session.execute(
                sa.text(
                    "INSERT INTO user_session (id, token_hash, user_id, created_at,"
                    " expires_at, ip, user_agent, method) VALUES (:id, :hash, 1,"
                    " :now, :later, '', '', :method)"
                ),
                {
                    "id": session_id,
                    "hash": f"{session_id:064d}",
                    "now": now,
                    "later": later,
                    "method": method,
                },
            )
        db.session.commit()

    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0

    with empty_app.app_context():
        rows = db.session.execute(
            sa.text("SELECT id, method, okta_issuer FROM user_session ORDER BY id")
        ).all()
    assert [tuple(row) for row in rows] == [
        (1, None, None),
        (2, None, None),
        (3, "password", None),
    ]
