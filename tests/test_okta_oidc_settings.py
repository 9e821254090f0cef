"""Okta sign-in over OpenID Connect: the OKTA AUTHENTICATION settings page.

Unusable metadata is explained and nothing is saved; the client secret is
stored encrypted and never shown again; disconnecting keeps users and their
links; members and free plans cannot save; each app's sign-ins use its own
saved settings. Servers, constants and round trips: tests/support/oidc.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.security import decrypt_secret
from tests.support.builders import AppMaker
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.databases import ON_POSTGRES
from tests.support.hostile_oidc import HostileProvider
from tests.support.live import free_port
from tests.support.mail import outbox
from tests.support.oidc import CLIENT_ID
from tests.support.oidc import CLIENT_SECRET
from tests.support.oidc import WELL_KNOWN
from tests.support.oidc import connect_okta
from tests.support.oidc import discovery
from tests.support.oidc import oidc_test_sign_in
from tests.support.oidc import okta_form
from tests.support.oidc import okta_is_off
from tests.support.oidc import okta_sign_in
from tests.support.oidc import okta_user
from tests.support.oidc import start
from tests.support.rows import events
from tests.support.rows import identities
from tests.support.rows import snapshot
from tests.support.rows import sso_config
from tests.support.rows import user_row

# The mock provider signs its ID tokens through an Authlib hook Authlib has
# deprecated; the warning is raised in the provider's thread, not by our code.
pytestmark = [
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
    pytest.mark.usefixtures("quick_passwords"),
]


def document(issuer: str, base: str) -> bytes:
    """An OpenID Provider configuration with this issuer and endpoints on `base`."""
    return json.dumps(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks",
        }
    ).encode()


@pytest.mark.parametrize(
    ("metadata_url", "message"),
    [
        ("not a url", "must be a full https:// address"),
        ("ftp://okta.example.com" + WELL_KNOWN, "must be a full https:// address"),
        ("http://acme.okta.com" + WELL_KNOWN, "must use https://"),
        ("https://user:pw@acme.okta.com" + WELL_KNOWN, "must not contain a user"),
        ("UNREACHABLE", "Could not reach the metadata URL"),
        ("{hostile}/docs/html" + WELL_KNOWN, "did not return JSON"),
        ("{hostile}/docs/missing" + WELL_KNOWN, "answered HTTP 404"),
        ("{hostile}/docs/partial" + WELL_KNOWN, "missing authorization_endpoint"),
        ("{hostile}/docs/elsewhere" + WELL_KNOWN, "does not match the URL"),
        ("{hostile}/docs/huge" + WELL_KNOWN, "too large"),
        ("{hostile}/docs/array" + WELL_KNOWN, "not an OpenID Provider"),
    ],
)
def test_unusable_metadata_is_explained_and_nothing_is_saved(
    app: Flask,
    org: OrgInfo,
    owner_client: FlaskClient,
    hostile: HostileProvider,
    metadata_url: str,
    message: str,
) -> None:
    base = hostile.base
    hostile.documents = {
        "html": (200, "text/html", b"<html><body>Sign in to Okta</body></html>"),
        "partial": (200, "application/json", json.dumps({"issuer": base}).encode()),
        "elsewhere": (
            200,
            "application/json",
            document("https://acme.okta.com", base),
        ),
        "huge": (200, "application/json", b" " * (600 * 1024) + b"{}"),
        "array": (200, "application/json", b"[]"),
    }
    if metadata_url == "UNREACHABLE":
        metadata_url = f"http://127.0.0.1:{free_port()}{WELL_KNOWN}"
    metadata_url = metadata_url.replace("{hostile}", base)

    response = owner_client.post("/settings/okta", data=okta_form(metadata_url))

    assert response.status_code == 400
    assert message in response.text
    assert CLIENT_SECRET not in response.text
    assert okta_is_off(app, org.id)
    assert events(app, "settings.okta_configured") == []
    assert outbox(app) == []


def test_http_metadata_on_loopback_is_refused_unless_allowed(
    new_app: AppMaker, provider: str
) -> None:
    app = new_app(OKTA_ALLOW_INSECURE_LOOPBACK=False)
    org = make_org(app)
    owner = app.test_client()
    sign_in(owner, org.owner_email)

    response = owner.post("/settings/okta", data=okta_form(discovery(provider)))

    assert response.status_code == 400
    assert "must use https://" in response.text
    assert okta_is_off(app, org.id)
    assert events(app, "settings.okta_configured") == []


def test_the_client_secret_is_stored_encrypted_and_never_shown_again(
    app: Flask, org: OrgInfo, owner_client: FlaskClient, provider: str, tmp_path: Path
) -> None:
    response = owner_client.post("/settings/okta", data=okta_form(discovery(provider)))
    assert response.status_code == 302

    config = sso_config(app, org.id)
    assert config is not None
    # Saved, not on for members (tests/test_sso_rollout.py: test, then turn on).
    assert (config["provider"], config["protocol"]) == ("none", "oidc")
    assert config["oidc_client_id"] == CLIENT_ID
    assert config["oidc_issuer"] == provider
    assert CLIENT_SECRET not in config["oidc_client_secret_enc"]
    with app.app_context():
        assert decrypt_secret(config["oidc_client_secret_enc"]) == CLIENT_SECRET
    rows = repr(snapshot(app))
    assert CLIENT_ID in rows and CLIENT_SECRET not in rows
    if not ON_POSTGRES:  # the SQLite file itself: free pages and the WAL too
        stored = b"".join(path.read_bytes() for path in tmp_path.glob("test.sqlite*"))
        assert CLIENT_ID.encode() in stored
        assert CLIENT_SECRET.encode() not in stored

    page = owner_client.get("/settings/okta")
    assert page.status_code == 200
    assert CLIENT_ID in page.text
    assert "/okta/callback" in page.text
    assert CLIENT_SECRET not in page.text
    assert "Client secret saved" in page.text
    [event] = events(app, "settings.okta_configured")
    assert event["actor_user_id"] == org.owner_id
    assert CLIENT_SECRET not in json.dumps(event)
    assert outbox(app) == []  # saving invites nobody

    # Saving again without a secret keeps the stored one and invites nobody.
    response = owner_client.post(
        "/settings/okta",
        data=okta_form(discovery(provider), client_secret="", default_role="admin"),
    )
    assert response.status_code == 302
    again = sso_config(app, org.id)
    assert again is not None
    assert again["oidc_client_secret_enc"] == config["oidc_client_secret_enc"]
    assert again["default_role"] == "admin"
    # The OIDC settings themselves did not change: the same version.
    assert again["oidc_version"] == config["oidc_version"]
    assert outbox(app) == []


def test_metadata_url_with_oktas_client_id_query_is_accepted(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner = app.test_client()
    sign_in(owner, org.owner_email)
    response = owner.post(
        "/settings/okta",
        data={
            "default_role": "member",
            "protocol": "oidc",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "metadata_url": discovery(provider) + "?client_id=" + CLIENT_ID,
        },
    )
    assert response.status_code == 302, response.text
    assert oidc_test_sign_in(owner).status_code == 302
    response = owner.post(
        "/settings/okta/on",
        data={"protocol": "oidc", "confirm": "yes", "send_links": "no"},
    )
    assert response.status_code == 302, response.text
    assert not okta_is_off(app, org.id)
    okta_user(provider, "00u-alice", "alice@acme.test")
    assert okta_sign_in(app.test_client(), provider, "00u-alice").status_code == 302


def test_disconnecting_okta_keeps_users_and_their_links(
    app: Flask, org: OrgInfo, owner_client: FlaskClient, provider: str
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-alice", "alice@acme.test")
    assert okta_sign_in(app.test_client(), provider, "00u-alice").status_code == 302
    alice = user_row(app, org.id, "alice@acme.test")
    assert alice is not None

    response = owner_client.post(
        "/settings/sso", data={"provider": "none", "confirm": "yes"}
    )

    assert response.status_code == 302
    assert okta_is_off(app, org.id)
    assert user_row(app, org.id, "alice@acme.test") == alice
    assert len(identities(app)) == 1
    [event] = events(app, "settings.okta_disconnected")
    assert event["actor_user_id"] == org.owner_id
    assert app.test_client().get("/sso/okta?org=Acme").status_code == 404


def test_a_member_cannot_reach_the_okta_settings(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    make_user(app, org.id, "member@acme.test")
    member = app.test_client()
    sign_in(member, "member@acme.test")

    assert member.get("/settings/okta").status_code == 403
    response = member.post("/settings/okta", data=okta_form(discovery(provider)))
    assert response.status_code == 403
    assert member.post("/settings/sso", data={"provider": "none"}).status_code == 403
    assert okta_is_off(app, org.id)
    assert events(app, "settings.okta_configured") == []


def test_a_free_plan_sees_the_upgrade_notice_and_cannot_save(
    app: Flask, provider: str
) -> None:
    free = make_org(app, "Freebie", plan="free")
    owner = app.test_client()
    sign_in(owner, free.owner_email)

    page = owner.get("/settings/okta")
    assert page.status_code == 200
    assert 'id="upgrade-notice"' in page.text
    assert "Pro or Enterprise plan" in page.text
    assert 'name="client_secret"' not in page.text

    response = owner.post("/settings/okta", data=okta_form(discovery(provider)))
    assert response.status_code == 403
    assert okta_is_off(app, free.id)
    assert events(app, "settings.okta_configured") == []


# -- the Authlib client cache --------------------------------------------------


def test_a_second_app_in_the_process_uses_its_own_okta_settings(
    new_app: AppMaker, provider: str, hostile: HostileProvider, tmp_path: Path
) -> None:
    """Two apps (one process, as in tests or a multi-app WSGI setup) whose
    organization has the same id and settings version but another provider."""
    first = new_app()
    first_org = make_org(first)
    connect_okta(first, first_org, provider)
    assert start(first.test_client()).startswith(provider + "/")

    # A database of its own (also when the tests run on PostgreSQL, where the
    # apps of one test share one): the same organization id comes again.
    second = new_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'second.sqlite'}")
    second_org = make_org(second)
    assert second_org.id == first_org.id
    connect_okta(second, second_org, hostile.base)
    versions = [
        (sso_config(app, org.id) or {}).get("version")
        for app, org in ((first, first_org), (second, second_org))
    ]
    assert versions[0] == versions[1]
    location = start(second.test_client())

    assert location.startswith(hostile.base + "/"), location
