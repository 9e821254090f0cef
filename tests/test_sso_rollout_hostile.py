"""Hostile cases around the safe SSO rollout found by a review of #13: a save
racing Turn on, a downgrade of 0011 with test sign-ins pending, and the CLI's
--save-only on a live organization."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

import core.sso_rollout as rollout
from core.extensions import db
from core.models import Organization
from core.sso import configure_oidc
from core.sso_rollout import sign_in_test_status
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.hostile_oidc import HostileProvider
from tests.support.mail import Mailbox
from tests.support.migrations import keep_logging  # noqa: F401 (autouse)
from tests.support.oidc import CLIENT_SECRET
from tests.support.oidc import connect_okta
from tests.support.oidc import discovery
from tests.support.oidc import oidc_test_sign_in
from tests.support.oidc import okta_form
from tests.support.oidc import turn_on_for_everyone
from tests.support.rows import sso_config

pytestmark = [
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
    pytest.mark.usefixtures("quick_passwords"),
]


def test_a_save_racing_turn_on_cannot_turn_on_untested_settings(
    app: Flask, org: OrgInfo, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Turn on checks the test, then writes provider/protocol/version from
    what it read: a save (another owner, a second tab, the CLI) that commits
    in between goes live untested. The write must be a compare-and-set on the
    settings version the test proved."""
    owner = app.test_client()
    assert sign_in(owner, org.owner_email).status_code == 302
    form = okta_form(discovery(provider))
    assert owner.post("/settings/okta", data=form).status_code == 302
    assert oidc_test_sign_in(owner).status_code == 302
    checked = rollout.turn_on_problem

    def save_commits_meanwhile(*args: Any, **kwargs: Any) -> str | None:
        problem = checked(*args, **kwargs)  # passes: the test is current
        with app.app_context():  # another request's own session, committed
            other = db.session.get(Organization, org.id)
            assert other is not None
            configure_oidc(
                other,
                client_id="0oa-never-tested",
                client_secret=CLIENT_SECRET,
                metadata_url=discovery(provider),
                default_role="admin",
                actor="cli",
            )
        return problem

    monkeypatch.setattr(rollout, "turn_on_problem", save_commits_meanwhile)

    turn_on_for_everyone(owner, "oidc", send_links=False)

    config = sso_config(app, org.id)
    assert config is not None
    with app.app_context():
        status = sign_in_test_status(db.session.get(Organization, org.id), "oidc")
    # Either not on, or on with settings a passing test proved.
    assert config["provider"] != "okta" or status.passed, (
        f"live with untested settings: client {config['oidc_client_id']!r}, "
        f"oidc_version {config['oidc_version']}, "
        f"test of version {status.result.settings_version if status.result else None}"
    )


def test_downgrading_0011_does_not_turn_pending_test_requests_into_sign_ins(
    empty_app: Flask,
) -> None:
    """0011's downgrade drops `saml_request.test_user_id` but keeps the rows:
    an unanswered test AuthnRequest becomes a plain SP-initiated request that
    0010's ACS answers as a real sign-in (the test's answer then signs in)."""
    runner = empty_app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    acme = make_org(empty_app)
    now = "2026-01-01 00:00:00"
    later = "2099-01-01 00:00:00"
    with empty_app.app_context():
        db.session.execute(
            sa.text(
                "INSERT INTO saml_request (id, organization_id, config_version,"
                " next_url, browser_hash, created_at, expires_at, test_user_id)"
                " VALUES ('ONELOGIN_test', :org, 1, '', :hash, :now, :later, :user)"
            ),
            {
                "org": acme.id,
                "user": acme.owner_id,
                "hash": "0" * 64,
                "now": now,
                "later": later,
            },
        )
        db.session.commit()

    assert runner.invoke(args=["db", "downgrade", "0010"]).exit_code == 0

    with empty_app.app_context():
        left = db.session.execute(sa.text("SELECT id FROM saml_request")).all()
    assert left == [], "a test AuthnRequest survived as a sign-in request"


def test_cli_save_only_neither_moves_live_sign_in_nor_emails_everyone(
    smtp_app: Flask,
    mailbox: tuple[Mailbox, int],
    provider: str,
    hostile: HostileProvider,
) -> None:
    """`--save-only` promises "Only save the settings; Okta sign-in stays as
    it is for members". On an organization that signs in with OIDC, settings
    pointing at another Okta would move live sign-in at once (a protocol's live
    settings are the ones members use), so the command refuses with the impact
    and changes nothing; it once moved sign-in and emailed every member."""
    inbox, _ = mailbox
    org = make_org(smtp_app)
    connect_okta(smtp_app, org, provider, send_links=False)
    make_user(smtp_app, org.id, "bob@acme.test")
    assert inbox.messages == []
    runner = smtp_app.test_cli_runner()
    args = ["sso", "set-oidc", "--org", "Acme", "--client-id", "0oa-other"]
    args += [
        "--client-secret",
        CLIENT_SECRET,
        "--metadata-url",
        discovery(hostile.base),
    ]

    saved = runner.invoke(args=[*args, "--save-only"])

    assert saved.exit_code == 1, saved.output
    assert "point at another Okta" in saved.output
    config = sso_config(smtp_app, org.id)
    assert config is not None
    emailed = [m["To"] for m in inbox.messages]
    assert (config["provider"], config["oidc_issuer"], emailed) == (
        "okta",
        provider,
        [],
    ), "--save-only moved live sign-in to an untested Okta and emailed members"
