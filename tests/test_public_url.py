"""The public base URL: where it comes from, what is accepted, and life without it.

Gatehouse builds every URL it shows to Okta or puts in an email from a
configured base URL: PUBLIC_BASE_URL (environment or instance config) or else
the one stored at first-run setup or by `flask site set-url`. It never uses the
request's Host header, which is whatever the client says. While no URL is
known, pages say so (`id="no-public-url"`) instead of failing or guessing.

The module's `app` has no public URL (PUBLIC_BASE_URL=""); tests of a
configured one build their own app.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner
from lxml import html

from core import first_run
from core import key_check
from core.extensions import db
from core.models import Organization
from core.models import SiteSetting
from core.models import SsoConfig
from core.models import User
from core.urls import MISSING_HELP
from core.urls import PublicUrlMissing
from core.urls import base_url_problem
from core.urls import normalize_base_url
from core.urls import public_url
from core.urls import save_public_base_url
from tests.support.builders import OrgInfo
from tests.support.builders import make_app
from tests.support.builders import make_org
from tests.support.builders import scim_key
from tests.support.builders import setup_form as complete_setup_form
from tests.support.builders import sign_in
from tests.support.constants import PASSWORD
from tests.support.rows import snapshot
from tests.support.scim import SCIM_JSON as SCIM_TYPE
from tests.support.scim import ScimClient

pytestmark = pytest.mark.usefixtures("quick_passwords")

ATTACKER = "attacker.example"
STORED = "https://stored.example.com"
CONFIGURED = "https://configured.example.com"


# -- fixtures and helpers ---------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """An app with no public base URL at all (neither configured nor stored)."""
    app = make_app(tmp_path, PUBLIC_BASE_URL="")
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def configured_app(tmp_path: Path) -> Iterator[Flask]:
    """An app whose PUBLIC_BASE_URL is set (in its own folder)."""
    app = make_app(tmp_path / "configured", PUBLIC_BASE_URL=CONFIGURED)
    yield app
    with app.app_context():
        db.engine.dispose()


def stored_settings(app: Flask) -> list[tuple[str, str]]:
    """Every (key, value) row of the site_setting table but the setup code (kept
    there until setup is done) and the SECRET_KEY mark (recorded with the first
    organization): tests/test_promises.py and tests/test_health.py."""
    with app.app_context():
        rows = db.session.execute(
            db.select(SiteSetting.key, SiteSetting.value)
            .where(SiteSetting.key.not_in([first_run.CODE_KEY, key_check.KEY]))
            .order_by(SiteSetting.key)
        )
        return [tuple(row) for row in rows]


def store_url(app: Flask, url: str) -> None:
    """Store the public base URL as setup or `flask site set-url` does."""
    with app.app_context():
        save_public_base_url(url)
        db.session.commit()


def turn_okta_on(app: Flask, org_id: int, protocol: str = "oidc") -> None:
    """Give the organization a saved, enabled Okta configuration (no network)."""
    with app.app_context():
        db.session.add(
            SsoConfig(
                organization_id=org_id,
                provider="okta",
                protocol=protocol,
                oidc_client_id="0oa-client" if protocol == "oidc" else None,
                oidc_issuer="https://acme.okta.com" if protocol == "oidc" else None,
                oidc_metadata_url="https://acme.okta.com/.well-known/openid-configuration"
                if protocol == "oidc"
                else None,
                saml_metadata_url="https://acme.okta.com/app/exk1/sso/saml/metadata"
                if protocol == "saml"
                else None,
                saml_entity_id="http://www.okta.com/exk1"
                if protocol == "saml"
                else None,
                saml_sso_url="https://acme.okta.com/app/sso/saml"
                if protocol == "saml"
                else None,
            )
        )
        db.session.commit()


def attacker_headers() -> dict[str, str]:
    """Headers of a request that claims to be for the attacker's host."""
    return {"Host": ATTACKER}


def scim_get_user(client: FlaskClient, secret: str, user_id: int) -> tuple[int, dict]:
    """GET /Users/<id> over SCIM from a client claiming the attacker's Host."""
    response = ScimClient(client, secret).get(
        f"/Users/{user_id}", headers=attacker_headers()
    )
    assert response.mimetype == SCIM_TYPE, response.text
    return response.status_code, json.loads(response.text)


def assert_missing_page(text: str) -> None:
    """The page explains that the public address is not configured."""
    assert 'id="no-public-url"' in text
    assert "flask site set-url" in text


def organization_count(app: Flask) -> int:
    """How many organizations exist."""
    with app.app_context():
        return db.session.execute(
            db.select(db.func.count()).select_from(Organization)
        ).scalar_one()


def public_url_field(text: str) -> str | None:
    """The value of the setup page's public_url input, or None when absent."""
    inputs = html.fromstring(text).xpath('//input[@name="public_url"]')
    if not inputs:
        return None
    return inputs[0].get("value", "")


# -- base_url_problem and normalize_base_url --------------------------------------


ACCEPTED = [
    "https://gatehouse.example.com",
    "https://gatehouse.example.com/",
    "https://gatehouse.example.com:8443",
    "https://gatehouse.example.com:8443/",
    "HTTPS://Gatehouse.Example.COM",
    "  https://gatehouse.example.com  ",
    "https://[2001:db8::1]:8443",
    "https://10.0.0.5",
    "http://localhost",
    "http://localhost:5000",
    "http://127.0.0.1",
    "http://127.0.0.1:8000/",
    "http://[::1]",
    "http://[::1]:8080",
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_base_url_problem_accepts_origins(text: str) -> None:
    assert base_url_problem(text) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # plain http only on this machine
        ("http://gatehouse.example.com", "Use https"),
        ("http://10.0.0.5", "Use https"),
        ("http://localhost.attacker.example", "Use https"),
        ("http://127.0.0.1.attacker.example", "Use https"),
        # an origin only
        ("https://gatehouse.example.com/gatehouse", "without a path"),
        ("https://gatehouse.example.com//", "without a path"),
        ("https://gatehouse.example.com/?next=1", "without a path"),
        ("https://gatehouse.example.com?next=1", "without a path"),
        ("https://gatehouse.example.com#top", "without a path"),
        ("https://gatehouse.example.com/#top", "without a path"),
        # no credentials
        ("https://a:b@gatehouse.example.com", "user name or password"),
        ("https://a@gatehouse.example.com", "user name or password"),
        ("https://:b@gatehouse.example.com", "user name or password"),
        # control characters and spaces inside
        ("https://gate house.example.com", "like https://"),
        ("https://gatehouse.example.com\t:443", "like https://"),
        ("https://gatehouse\n.example.com", "like https://"),
        ("https://gatehouse.example.com\x00", "like https://"),
        ("https://gatehouse.example.com\x7f", "like https://"),
        # other schemes, or none
        ("javascript:alert(1)", "like https://"),
        ("javascript://gatehouse.example.com", "like https://"),
        ("ftp://gatehouse.example.com", "like https://"),
        ("gatehouse.example.com", "like https://"),
        ("//gatehouse.example.com", "like https://"),
        ("https://", "like https://"),
        ("https:///", "like https://"),
        # empty, too long
        ("", "Enter the address"),
        ("   ", "Enter the address"),
        ("https://" + "a" * 190 + ".example.com", "like https://"),
        # unreadable ports and hosts
        ("https://x:99999", "like https://"),
        ("https://x:-1", "like https://"),
        ("https://x:abc", "like https://"),
        ("https://[::1", "like https://"),
        ("https://[not-an-ip]", "like https://"),
    ],
)
def test_base_url_problem_refuses_with_a_reason(text: str, message: str) -> None:
    problem = base_url_problem(text)
    assert problem is not None, text
    assert message in problem


@pytest.mark.parametrize(
    "text",
    [
        "https://gatehouse.example.com\\evil",  # a browser reads "\\" as "/": a path
        'https://gatehouse.example.com"x',
        "https://gatehouse.example.com<b>",
        "https://gatehouse.example.com%2f",
        "https://gatehouse.example.com:",
    ],
)
def test_an_accepted_url_never_breaks_the_saml_metadata(
    app: Flask, client: FlaskClient, text: str
) -> None:
    """Characters no host name has are refused, or at least work where used.

    python3-saml checks the URLs built from the base URL; one that
    base_url_problem let through and python3-saml refuses makes every SAML
    page a 500.
    """
    if base_url_problem(text) is not None:
        return
    store_url(app, text)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.get("/saml/metadata")
    assert response.status_code == 200, (
        f"base_url_problem accepted {text!r}, and /saml/metadata then fails"
    )


@pytest.mark.parametrize("text", ACCEPTED)
def test_every_accepted_url_serves_the_saml_metadata(
    app: Flask, client: FlaskClient, text: str
) -> None:
    store_url(app, text)
    response = client.get("/saml/metadata")
    assert response.status_code == 200, response.text
    assert f'entityID="{normalize_base_url(text)}"' in response.text


def test_base_url_problem_length_limit_is_200() -> None:
    at_limit = "https://" + "a" * (200 - len("https://.example")) + ".example"
    assert len(at_limit) == 200
    assert base_url_problem(at_limit) is None
    assert base_url_problem(at_limit[:8] + "a" + at_limit[8:]) is not None


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("HTTPS://Gatehouse.Example.COM/", "https://gatehouse.example.com"),
        ("https://gatehouse.example.com", "https://gatehouse.example.com"),
        (
            "  https://Gatehouse.example.com:8443/ ",
            "https://gatehouse.example.com:8443",
        ),
        ("HTTP://LOCALHOST:5000/", "http://localhost:5000"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
    ],
)
def test_normalize_base_url(text: str, normalized: str) -> None:
    assert normalize_base_url(text) == normalized


def test_save_refuses_a_bad_url_and_stores_nothing(app: Flask) -> None:
    with app.app_context():
        with pytest.raises(ValueError, match="Use https"):
            save_public_base_url("http://gatehouse.example.com")
        db.session.commit()
    assert stored_settings(app) == []


# -- precedence -------------------------------------------------------------------


def test_configured_url_wins_over_the_stored_one(configured_app: Flask) -> None:
    store_url(configured_app, STORED)
    with configured_app.test_request_context("/", headers=attacker_headers()):
        assert public_url("/okta/callback") == CONFIGURED + "/okta/callback"
        assert public_url() == CONFIGURED


def test_stored_url_is_used_when_nothing_is_configured(app: Flask) -> None:
    store_url(app, STORED + "/")
    assert stored_settings(app) == [("public_base_url", STORED)]
    with app.test_request_context("/", headers=attacker_headers()):
        assert public_url("/okta/callback") == STORED + "/okta/callback"


def set_stored_row(app: Flask, value: str) -> None:
    """Change the stored address behind this app server's back (another server)."""
    with app.app_context():
        db.session.merge(SiteSetting(key="public_base_url", value=value))
        db.session.commit()


def test_a_known_address_is_kept_for_a_while_and_then_read_again(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each app server keeps the stored address briefly (SCIM names it in every
    response); a change made elsewhere is seen once that time is up."""
    store_url(app, STORED)
    with app.app_context():
        assert public_url() == STORED
    set_stored_row(app, "https://moved.example")
    with app.app_context():
        assert public_url() == STORED  # kept
    monkeypatch.setattr("core.urls.time.monotonic", lambda: 10.0**9)
    with app.app_context():
        assert public_url() == "https://moved.example"


def test_not_set_is_never_kept(app: Flask) -> None:
    """Right after setup stores the address, every server uses it."""
    with app.app_context(), pytest.raises(PublicUrlMissing):
        public_url()
    set_stored_row(app, STORED)
    with app.app_context():
        assert public_url() == STORED


def test_no_url_raises_and_never_falls_back_to_the_request(app: Flask) -> None:
    with app.test_request_context("/", headers=attacker_headers()):
        with pytest.raises(PublicUrlMissing) as raised:
            public_url("/okta/callback")
        assert str(raised.value) == MISSING_HELP
    with app.app_context(), pytest.raises(PublicUrlMissing):
        public_url()


def test_sp_metadata_never_names_the_request_host(
    app: Flask, client: FlaskClient
) -> None:
    """The SAML SP metadata (entity ID, ACS URL) is built from the stored URL."""
    missing = client.get("/saml/metadata", headers=attacker_headers())
    assert missing.status_code == 503
    assert ATTACKER not in missing.text
    assert_missing_page(missing.text)

    store_url(app, STORED)
    response = client.get("/saml/metadata", headers=attacker_headers())
    assert response.status_code == 200, response.text
    assert f'entityID="{STORED}"' in response.text
    assert f'Location="{STORED}/api/v1/auth/login/okta/callback"' in response.text
    assert ATTACKER not in response.text


def test_scim_locations_never_name_the_request_host(
    app: Flask, client: FlaskClient, org: OrgInfo
) -> None:
    secret = scim_key(app, org.id)
    status, body = scim_get_user(client, secret, org.owner_id)
    assert status == 503
    assert ATTACKER not in json.dumps(body)

    store_url(app, STORED)
    status, body = scim_get_user(client, secret, org.owner_id)
    assert status == 200, body
    assert body["meta"]["location"] == f"{STORED}/api/v1/scim/Users/{org.owner_id}"


def test_configured_url_is_shown_to_admins_whatever_the_host(
    configured_app: Flask,
) -> None:
    org = make_org(configured_app)
    store_url(configured_app, STORED)
    client = configured_app.test_client()
    response = client.post(
        "/login",
        data={"email": org.owner_email, "password": PASSWORD},
        headers=attacker_headers(),
    )
    assert response.status_code == 302
    page = client.get("/settings/okta", headers=attacker_headers())
    assert page.status_code == 200
    assert f"{CONFIGURED}/okta/callback" in page.text
    assert f"{CONFIGURED}/api/v1/scim" in page.text
    assert ATTACKER not in page.text
    assert STORED not in page.text
    assert 'id="no-public-url"' not in page.text


# -- flask site set-url / show ----------------------------------------------------


def site(runner: FlaskCliRunner, *args: str) -> Result:
    """Run `flask site ...`."""
    return runner.invoke(args=["site", *args])


def test_site_set_url_stores_the_normalized_url(
    app: Flask, runner: FlaskCliRunner
) -> None:
    result = site(runner, "set-url", "HTTPS://Gatehouse.Example.com/")
    assert result.exit_code == 0, result.output
    assert "Public address: https://gatehouse.example.com" in result.stdout
    assert "overrides" not in result.stdout
    assert stored_settings(app) == [
        ("public_base_url", "https://gatehouse.example.com")
    ]

    shown = site(runner, "show")
    assert shown.exit_code == 0, shown.output
    assert "https://gatehouse.example.com" in shown.stdout
    assert "stored" in shown.stdout and "flask site set-url" in shown.stdout
    with app.test_request_context("/", headers=attacker_headers()):
        assert public_url("/x") == "https://gatehouse.example.com/x"


def test_site_set_url_again_replaces_the_value(
    app: Flask, runner: FlaskCliRunner
) -> None:
    assert site(runner, "set-url", "https://old.example.com").exit_code == 0
    assert site(runner, "set-url", "https://new.example.com").exit_code == 0
    assert stored_settings(app) == [("public_base_url", "https://new.example.com")]
    assert "https://new.example.com" in site(runner, "show").stdout


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://gatehouse.example.com", "Use https"),
        ("https://gatehouse.example.com/app", "without a path"),
        ("https://a:b@gatehouse.example.com", "user name or password"),
        ("javascript:alert(1)", "like https://"),
        ("https://x:99999", "like https://"),
        ("", "Enter the address"),
    ],
)
def test_site_set_url_refuses_a_bad_url_and_stores_nothing(
    app: Flask, runner: FlaskCliRunner, url: str, message: str
) -> None:
    store_url(app, STORED)
    before = snapshot(app)
    result = site(runner, "set-url", url)
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert snapshot(app) == before
    assert stored_settings(app) == [("public_base_url", STORED)]


def test_site_show_when_nothing_is_set(app: Flask, runner: FlaskCliRunner) -> None:
    result = site(runner, "show")
    assert result.exit_code == 0, result.output
    assert "not set" in result.stdout
    assert "flask site set-url" in result.stdout


def test_site_set_url_notes_the_configured_override(
    configured_app: Flask,
) -> None:
    runner = configured_app.test_cli_runner()
    result = site(runner, "set-url", STORED)
    assert result.exit_code == 0, result.output
    assert f"Public address: {STORED}" in result.stdout
    assert f"PUBLIC_BASE_URL={CONFIGURED} overrides it" in result.stdout
    assert stored_settings(configured_app) == [("public_base_url", STORED)]
    shown = site(runner, "show")
    assert f"{CONFIGURED} (from PUBLIC_BASE_URL)" in shown.stdout


# -- life without a public URL ----------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/settings/okta", "/settings", "/settings/provisioning"]
)
def test_settings_pages_say_the_url_is_missing(
    owner_client: FlaskClient, path: str
) -> None:
    response = owner_client.get(path)
    assert response.status_code == 200, response.text
    assert_missing_page(response.text)
    assert "http://localhost/" not in response.text  # the request's own root


def test_okta_page_with_sso_on_still_renders_without_a_url(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    turn_okta_on(app, org.id)
    response = owner_client.get("/settings/okta")
    assert response.status_code == 200, response.text
    assert_missing_page(response.text)
    assert "/okta/callback" not in response.text


def test_saml_metadata_answers_503_with_the_explanation(client: FlaskClient) -> None:
    response = client.get("/saml/metadata")
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    assert_missing_page(response.text)
    assert MISSING_HELP.split("`")[0].strip() in response.text


@pytest.mark.parametrize("protocol", ["oidc", "saml"])
def test_okta_sign_in_is_refused_and_sends_nowhere(
    app: Flask, client: FlaskClient, org: OrgInfo, protocol: str
) -> None:
    turn_okta_on(app, org.id, protocol)
    response = client.get("/sso/okta?org=Acme", headers=attacker_headers())
    assert response.status_code == 503, response.text
    assert "Location" not in response.headers
    assert "flask site set-url" in response.text
    assert "okta.com" not in response.text
    assert ATTACKER not in response.text
    with client.session_transaction() as session:
        assert "okta_flow" not in session


def test_scim_get_user_answers_a_scim_503(
    app: Flask, client: FlaskClient, org: OrgInfo
) -> None:
    secret = scim_key(app, org.id)
    before = snapshot(app, scim_writes=True)
    status, body = scim_get_user(client, secret, org.owner_id)
    assert status == 503
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == "503"
    assert body["detail"] == MISSING_HELP
    assert snapshot(app, scim_writes=True) == before


def test_sso_set_oidc_needs_the_url_first(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    before = snapshot(app)
    result = runner.invoke(
        args=[
            "sso",
            "set-oidc",
            "--org",
            "Acme",
            "--client-id",
            "0oa-client",
            "--client-secret",
            "secret",
            "--metadata-url",
            "http://127.0.0.1:9/.well-known/openid-configuration",
        ]
    )
    assert result.exit_code == 1, result.output
    assert "flask site set-url" in result.stderr
    assert "Traceback" not in result.output
    assert snapshot(app) == before


# -- first-run setup --------------------------------------------------------------


def test_setup_prefills_the_url_from_the_request_as_a_suggestion(
    app: Flask, client: FlaskClient
) -> None:
    page = client.get("/setup", headers=attacker_headers())
    assert page.status_code == 200
    assert public_url_field(page.text) == f"http://{ATTACKER}"
    assert 'id="configured-url"' not in page.text
    assert stored_settings(app) == []  # a suggestion, not a setting


def test_setup_prefills_a_stored_url_over_the_request(
    app: Flask, client: FlaskClient
) -> None:
    store_url(app, STORED)
    page = client.get("/setup", headers=attacker_headers())
    assert public_url_field(page.text) == STORED


def test_setup_stores_the_normalized_url(app: Flask, client: FlaskClient) -> None:
    code = first_run.setup_code(app)
    response = client.post(
        "/setup",
        data=setup_form(code, public_url=" HTTPS://Gatehouse.Example.com/ "),
        headers=attacker_headers(),
    )
    assert response.status_code == 302, response.text
    assert stored_settings(app) == [
        ("public_base_url", "https://gatehouse.example.com")
    ]
    assert organization_count(app) == 1
    page = client.get("/settings", headers=attacker_headers())
    assert page.status_code == 200
    assert "https://gatehouse.example.com/api/v1/scim" in page.text
    assert 'id="no-public-url"' not in page.text


def test_setup_with_a_configured_url_asks_for_none_and_stores_none(
    configured_app: Flask,
) -> None:
    client = configured_app.test_client()
    page = client.get("/setup", headers=attacker_headers())
    assert page.status_code == 200
    assert 'id="configured-url"' in page.text
    assert CONFIGURED in page.text
    assert public_url_field(page.text) is None
    code = first_run.setup_code(configured_app)
    response = client.post(
        "/setup", data=setup_form(code, public_url="https://evil.example.com")
    )
    assert response.status_code == 302, response.text
    assert organization_count(configured_app) == 1
    assert stored_settings(configured_app) == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://gatehouse.example.com", "Use https"),
        ("https://gatehouse.example.com/gatehouse", "without a path"),
        ("https://a:b@gatehouse.example.com", "user name or password"),
        ("javascript:alert(1)", "like https://"),
        ("", "Enter the address"),
    ],
)
def test_setup_refuses_a_bad_url_and_keeps_the_code(
    app: Flask, client: FlaskClient, url: str, message: str
) -> None:
    code = first_run.setup_code(app)
    before = snapshot(app)
    response = client.post("/setup", data=setup_form(code, public_url=url))
    assert response.status_code == 400, response.text
    assert message in response.text
    assert snapshot(app) == before
    assert organization_count(app) == 0
    assert stored_settings(app) == []
    with app.app_context():
        assert first_run.setup_needed()
    with app.app_context():  # the code is kept until setup succeeds
        assert db.session.get(SiteSetting, first_run.CODE_KEY).value == code
    # The same code still works with a good address.
    again = client.post("/setup", data=setup_form(code))
    assert again.status_code == 302, again.text
    assert stored_settings(app) == [
        ("public_base_url", "https://gatehouse.example.com")
    ]


def test_setup_with_a_good_url_but_a_refused_owner_stores_nothing(
    app: Flask, client: FlaskClient
) -> None:
    code = first_run.setup_code(app)
    before = snapshot(app)
    response = client.post(
        "/setup", data=setup_form(code, password="short", confirm="short")
    )
    assert response.status_code == 400
    assert snapshot(app) == before
    assert stored_settings(app) == []


def test_setup_with_a_wrong_code_stores_no_url(app: Flask, client: FlaskClient) -> None:
    first_run.setup_code(app)
    response = client.post("/setup", data=setup_form("WRONG-CODE"))
    assert response.status_code == 403
    assert stored_settings(app) == []


def test_owner_made_at_setup_sees_links_built_from_the_stored_url(
    app: Flask, client: FlaskClient
) -> None:
    """After setup the URL is the stored one for every later request, any Host."""
    code = first_run.setup_code(app)
    assert client.post("/setup", data=setup_form(code)).status_code == 302
    other = app.test_client()
    assert sign_in(other, "peter@initech.test").status_code == 302
    with app.app_context():
        owner = db.session.execute(db.select(User)).scalar_one()
        org_id = owner.organization_id
    secret = scim_key(app, org_id)
    status, body = scim_get_user(other, secret, owner.id)
    assert status == 200, body
    assert body["meta"]["location"].startswith("https://gatehouse.example.com/")


def setup_form(code: str, **changes: str) -> dict[str, str]:
    """The setup form with a public address (this module's pages ask for it)."""
    return complete_setup_form(
        code, **{"public_url": "https://gatehouse.example.com", **changes}
    )
