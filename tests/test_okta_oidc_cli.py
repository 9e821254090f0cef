"""Okta sign-in over OpenID Connect from the command line: `flask sso set-oidc`
and `flask sso disable`. Servers, constants and round trips: tests/support/oidc.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.support.builders import AppMaker
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.live import free_port
from tests.support.mail import outbox
from tests.support.oidc import CLIENT_ID
from tests.support.oidc import CLIENT_SECRET
from tests.support.oidc import PUBLIC_BASE_URL
from tests.support.oidc import WELL_KNOWN
from tests.support.oidc import discovery
from tests.support.oidc import okta_is_off
from tests.support.oidc import okta_sign_in
from tests.support.oidc import okta_user
from tests.support.rows import events
from tests.support.rows import snapshot
from tests.support.rows import sso_config
from tests.support.rows import user_row

# The mock provider signs its ID tokens through an Authlib hook Authlib has
# deprecated; the warning is raised in the provider's thread, not by our code.
pytestmark = [
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
    pytest.mark.usefixtures("quick_passwords"),
]


def set_oidc(app: Flask, metadata_url: str, *extra: str) -> Any:
    """Run `flask sso set-oidc` for Acme."""
    return app.test_cli_runner().invoke(
        args=[
            "sso",
            "set-oidc",
            "--org",
            "acme",
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
            "--metadata-url",
            metadata_url,
            *extra,
        ]
    )


def test_cli_sets_up_oidc_then_disables_it(new_app: AppMaker, provider: str) -> None:
    app = new_app(PUBLIC_BASE_URL=PUBLIC_BASE_URL)  # as a deployed app should
    org = make_org(app)

    result = set_oidc(app, discovery(provider), "--default-role", "admin")

    assert result.exit_code == 0, result.output
    assert "Okta OIDC sign-in is configured for 'Acme'" in result.output
    # No mail server here: the page and the CLI say the link went to the outbox.
    assert "1 member(s) were written to the server's outbox" in result.output
    [message] = outbox(app)
    assert f"{PUBLIC_BASE_URL}/okta/link/".encode() in message.read_bytes()
    config = sso_config(app, org.id)
    assert config is not None
    assert (config["provider"], config["default_role"]) == ("okta", "admin")
    assert config["oidc_issuer"] == provider
    assert CLIENT_SECRET not in config["oidc_client_secret_enc"]
    [event] = events(app, "settings.okta_configured")
    assert (event["actor"], event["default_role"]) == ("cli", "admin")

    # The settings work: a newcomer arrives as an admin.
    okta_user(provider, "00u-alice", "alice@acme.test")
    assert okta_sign_in(app.test_client(), provider, "00u-alice").status_code == 302
    alice = user_row(app, org.id, "alice@acme.test")
    assert alice is not None and alice["role"] == "admin"

    runner = app.test_cli_runner()
    result = runner.invoke(args=["sso", "disable", "--org", "Acme"])
    assert result.exit_code == 0, result.output
    assert "Okta sign-in is off for 'Acme'" in result.output
    assert okta_is_off(app, org.id)
    assert user_row(app, org.id, "alice@acme.test") == alice
    assert events(app, "settings.okta_disconnected")[0]["actor"] == "cli"
    result = runner.invoke(args=["sso", "disable", "--org", "Acme"])
    assert result.exit_code == 0
    assert "already off" in result.output
    result = runner.invoke(args=["sso", "disable", "--org", "Nowhere"])
    assert result.exit_code == 1
    assert "No organization named 'Nowhere'" in result.output


def test_cli_set_oidc_without_a_public_address_changes_nothing(
    new_app: AppMaker, provider: str
) -> None:
    """No public address (neither PUBLIC_BASE_URL nor one stored): the members'
    invitations would carry no link, so the command says what to set and saves
    and sends nothing. Once `flask site set-url` stored one, it works. (With
    PUBLIC_BASE_URL: test_cli_sets_up_oidc_then_disables_it.)"""
    app = new_app(PUBLIC_BASE_URL="")
    org = make_org(app)
    was = snapshot(app)

    result = set_oidc(app, discovery(provider))

    assert result.exit_code == 1, result.output
    assert "Set Gatehouse's public address first" in result.output
    assert "flask site set-url" in result.output
    assert snapshot(app) == was
    assert outbox(app) == []

    runner = app.test_cli_runner()
    assert runner.invoke(args=["site", "set-url", PUBLIC_BASE_URL]).exit_code == 0
    result = set_oidc(app, discovery(provider))
    assert result.exit_code == 0, result.output
    assert not okta_is_off(app, org.id)
    [message] = outbox(app)
    assert f"{PUBLIC_BASE_URL}/okta/link/".encode() in message.read_bytes()


@pytest.mark.parametrize(
    ("metadata_url", "message"),
    [
        ("http://acme.okta.com" + WELL_KNOWN, "must use https://"),
        ("UNREACHABLE", "Could not reach the metadata URL"),
    ],
)
def test_cli_refuses_a_bad_metadata_url_and_saves_nothing(
    app: Flask, org: OrgInfo, metadata_url: str, message: str
) -> None:
    if metadata_url == "UNREACHABLE":
        metadata_url = f"http://127.0.0.1:{free_port()}{WELL_KNOWN}"
    app.config["PUBLIC_BASE_URL"] = PUBLIC_BASE_URL

    result = set_oidc(app, metadata_url)

    assert result.exit_code == 1
    assert message in result.output
    assert okta_is_off(app, org.id)
    assert events(app, "settings.okta_configured") == []
    assert outbox(app) == []
