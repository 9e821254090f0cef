"""The app factory: configuration order, secrets, headers, cookies, proxies, access."""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

import default_config
from app import create_app
from core.extensions import db
from core.models import AuditEvent
from tests.support.builders import OrgInfo
from tests.support.builders import make_app
from tests.support.builders import make_org
from tests.support.builders import sign_in
from tests.support.constants import PASSWORD

AppFactory = Callable[[], Flask]

SETTING_NAMES = [name for name in dir(default_config) if name.isupper()]


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An instance folder named by GATEHOUSE_INSTANCE, with no setting in the env."""
    for name in [*SETTING_NAMES, "SECRET_KEY"]:
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "instance"
    monkeypatch.setenv("GATEHOUSE_INSTANCE", str(folder))
    return folder


@pytest.fixture
def factory(instance: Path) -> Iterator[AppFactory]:
    """`create_app()` as production calls it (no test config); engines disposed."""
    apps: list[Flask] = []

    def build() -> Flask:
        app = create_app()
        apps.append(app)
        return app

    yield build
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def write_config(instance: Path, text: str) -> None:
    instance.mkdir(parents=True, exist_ok=True)
    (instance / "config.py").write_text(text)


# -- configuration order ---------------------------------------------------------


def test_defaults_apply_without_file_or_environment(factory: AppFactory) -> None:
    app = factory()
    assert app.config["PUBLIC_BASE_URL"] == ""
    assert app.config["TRUST_PROXY"] == 0
    assert app.config["SMTP_PORT"] == 587
    assert app.config["SMTP_STARTTLS"] is True
    assert app.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"] == 5
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert not app.testing


def test_instance_config_overrides_defaults_and_environment_overrides_both(
    factory: AppFactory, instance: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(
        instance,
        "PUBLIC_BASE_URL = 'https://from-file.example/'\n"
        "SMTP_HOST = 'smtp.from-file.example'\n"
        "SMTP_PORT = 2525\n"
        "SIGNIN_MAX_FAILURES_PER_ACCOUNT = 3\n",
    )
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://gatehouse.example.com/")
    monkeypatch.setenv("SMTP_PORT", "1587")
    monkeypatch.setenv("TRUST_PROXY", "1")
    monkeypatch.setenv("SMTP_STARTTLS", "false")
    app = factory()
    # Environment wins over the file; the trailing slash is dropped.
    assert app.config["PUBLIC_BASE_URL"] == "https://gatehouse.example.com"
    assert app.config["SMTP_PORT"] == 1587
    # The file wins over the defaults where the environment is silent.
    assert app.config["SMTP_HOST"] == "smtp.from-file.example"
    assert app.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"] == 3
    # Neither: the default.
    assert app.config["MAIL_FROM"] == default_config.MAIL_FROM
    # Environment values take the type of the default.
    assert app.config["TRUST_PROXY"] == 1 and type(app.config["TRUST_PROXY"]) is int
    assert type(app.config["SMTP_PORT"]) is int
    assert app.config["SMTP_STARTTLS"] is False


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("SMTP_PORT", "2525", 2525),
        ("SMTP_PORT", " 25 ", 25),
        ("TRUST_PROXY", "2", 2),
        ("SIGNIN_MAX_FAILURES_PER_ACCOUNT", "9", 9),
        ("SESSION_MAX_AGE_SECONDS", "3600", 3600),
        ("SMTP_SSL", "1", True),
        ("SMTP_SSL", "true", True),
        ("SMTP_SSL", "YES", True),
        ("SMTP_SSL", "on", True),
        ("SMTP_STARTTLS", "0", False),
        ("SMTP_STARTTLS", "false", False),
        ("SMTP_STARTTLS", "no", False),
        ("SMTP_STARTTLS", "off", False),
        ("MAIL_FROM", "Ops <ops@example.com>", "Ops <ops@example.com>"),
    ],
)
def test_environment_values_are_parsed_as_the_default_type(
    factory: AppFactory,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    raw: str,
    expected: object,
) -> None:
    monkeypatch.setenv(name, raw)
    value = factory().config[name]
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("name", "raw"),
    [("SMTP_PORT", "abc"), ("TRUST_PROXY", "yes"), ("SMTP_TIMEOUT", "")],
)
def test_a_malformed_number_in_the_environment_names_the_setting(
    factory: AppFactory, monkeypatch: pytest.MonkeyPatch, name: str, raw: str
) -> None:
    monkeypatch.setenv(name, raw)
    with pytest.raises(ValueError, match=name):
        factory()


def test_test_config_replaces_file_and_environment(
    tmp_path: Path, instance: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(instance, "SMTP_HOST = 'smtp.from-file.example'\n")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://from-env.example")
    app = make_app(tmp_path, PUBLIC_BASE_URL="")
    try:
        assert app.config["SMTP_HOST"] == ""
        assert app.config["PUBLIC_BASE_URL"] == ""
        assert app.testing
    finally:
        with app.app_context():
            db.engine.dispose()


def test_instance_folder_comes_from_gatehouse_instance(
    factory: AppFactory, instance: Path
) -> None:
    app = factory()
    assert Path(app.instance_path) == instance
    assert instance.is_dir()


# -- SECRET_KEY ------------------------------------------------------------------


def test_secret_key_is_generated_once_with_mode_0600(
    factory: AppFactory, instance: Path
) -> None:
    first = factory()
    key_file = instance / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = first.config["SECRET_KEY"]
    assert key == key_file.read_text().strip()
    assert len(key) >= 32
    assert key not in default_config.__dict__.values()
    # The next start (another worker, a restart) reads the same key.
    second = factory()
    assert second.config["SECRET_KEY"] == key
    assert key_file.read_text().strip() == key


def test_each_install_gets_its_own_secret_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, factory: AppFactory
) -> None:
    first = factory()
    monkeypatch.setenv("GATEHOUSE_INSTANCE", str(tmp_path / "other"))
    second = factory()
    assert first.config["SECRET_KEY"] != second.config["SECRET_KEY"]


def test_secret_key_from_environment_wins_and_writes_no_file(
    factory: AppFactory, instance: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(instance, "SECRET_KEY = 'from the config file'\n")
    monkeypatch.setenv("SECRET_KEY", "from the environment")
    assert factory().config["SECRET_KEY"] == "from the environment"
    assert not (instance / "secret_key").exists()


def test_secret_key_from_instance_config_is_used(
    factory: AppFactory, instance: Path
) -> None:
    write_config(instance, "SECRET_KEY = 'from the config file'\n")
    assert factory().config["SECRET_KEY"] == "from the config file"
    assert not (instance / "secret_key").exists()


# -- DATABASE_URL ----------------------------------------------------------------


def test_database_defaults_to_sqlite_in_the_instance_folder(
    factory: AppFactory, instance: Path
) -> None:
    app = factory()
    expected = "sqlite:///" + os.path.join(instance, "gatehouse.sqlite")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == expected
    with app.app_context():
        assert Path(db.engine.url.database or "") == instance / "gatehouse.sqlite"


def test_database_url_from_environment_is_used(
    factory: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.sqlite'}"
    monkeypatch.setenv("DATABASE_URL", url)
    app = factory()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == url
    with app.app_context():
        assert db.engine.url.database == str(tmp_path / "elsewhere.sqlite")


def test_database_url_from_instance_config_is_used(
    factory: AppFactory, tmp_path: Path, instance: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'from-file.sqlite'}"
    write_config(instance, f"DATABASE_URL = {url!r}\n")
    assert factory().config["SQLALCHEMY_DATABASE_URI"] == url


# -- security headers --------------------------------------------------------------


def csp_directives(response_csp: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in response_csp.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


@pytest.mark.parametrize(
    "path", ["/login", "/members", "/no-such-page", "/static/style.css"]
)
def test_security_headers_on_every_response(
    client: FlaskClient, org: OrgInfo, path: str
) -> None:
    response = client.get(path)
    response.close()
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    directives = csp_directives(csp)
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["default-src"] == ["'self'"]
    assert "*" not in directives.get("script-src", directives["default-src"])
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] in (
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    )


def test_signed_in_page_carries_the_headers_and_is_not_cached(
    owner_client: FlaskClient,
) -> None:
    response = owner_client.get("/members")
    assert response.status_code == 200
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_pages_have_no_inline_script(client: FlaskClient, org: OrgInfo) -> None:
    page = client.get("/login").text
    for chunk in page.split("<script")[1:]:
        tag = chunk.split(">", 1)[0]
        assert "src=" in tag, f"inline script: <script{tag}>"
    assert " onclick=" not in page and " onload=" not in page


def test_no_hsts_over_http(client: FlaskClient, org: OrgInfo) -> None:
    assert "Strict-Transport-Security" not in client.get("/login").headers


def test_hsts_over_https(client: FlaskClient, org: OrgInfo) -> None:
    response = client.get("/login", base_url="https://localhost")
    hsts = response.headers["Strict-Transport-Security"]
    max_age = int(hsts.split("max-age=")[1].split(";")[0])
    assert max_age >= 180 * 24 * 3600


# -- session cookie ----------------------------------------------------------------


def session_cookie_attributes(response_headers: list[str], name: str) -> list[str]:
    """The lower-cased attributes of the Set-Cookie header for `name`."""
    [header] = [h for h in response_headers if h.startswith(name + "=")]
    return [part.strip().lower() for part in header.split(";")[1:]]


def test_session_cookie_over_http_is_httponly_lax_not_secure(
    app: Flask, client: FlaskClient, org: OrgInfo
) -> None:
    response = sign_in(client, org.owner_email)
    assert response.status_code == 302
    attributes = session_cookie_attributes(
        response.headers.getlist("Set-Cookie"), app.config["SESSION_COOKIE_NAME"]
    )
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "secure" not in attributes


def test_session_cookie_over_https_is_also_secure(
    app: Flask, client: FlaskClient, org: OrgInfo
) -> None:
    response = client.post(
        "/login",
        data={"email": org.owner_email, "password": PASSWORD},
        base_url="https://localhost",
    )
    assert response.status_code == 302
    attributes = session_cookie_attributes(
        response.headers.getlist("Set-Cookie"), app.config["SESSION_COOKIE_NAME"]
    )
    assert {"httponly", "samesite=lax", "secure"} <= set(attributes)


# -- one trusted proxy hop ---------------------------------------------------------


def proxy_app(tmp_path: Path, hops: int) -> Flask:
    app = make_app(tmp_path, TRUST_PROXY=hops)
    make_org(app)
    return app


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


def test_trusted_proxy_makes_forwarded_https_count(tmp_path: Path) -> None:
    app = proxy_app(tmp_path, 1)
    client = app.test_client()
    response = client.get("/login", headers=FORWARDED)
    assert "Strict-Transport-Security" in response.headers
    signed_in = client.post(
        "/login",
        data={"email": "owner@acme.test", "password": PASSWORD},
        headers=FORWARDED,
    )
    cookie = session_cookie_attributes(
        signed_in.headers.getlist("Set-Cookie"), app.config["SESSION_COOKIE_NAME"]
    )
    assert "secure" in cookie
    with app.app_context():
        db.engine.dispose()


def test_untrusted_forwarded_headers_are_ignored(tmp_path: Path) -> None:
    app = proxy_app(tmp_path, 0)
    response = app.test_client().get("/login", headers=FORWARDED)
    assert "Strict-Transport-Security" not in response.headers
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(("hops", "address"), [(1, "203.0.113.9"), (0, "127.0.0.1")])
def test_client_address_comes_from_the_proxy_only_when_trusted(
    tmp_path: Path, hops: int, address: str
) -> None:
    app = proxy_app(tmp_path, hops)
    app.test_client().post(
        "/login",
        data={"email": "owner@acme.test", "password": "wrong password!!"},
        headers=FORWARDED,
    )
    with app.app_context():
        event = db.session.execute(
            db.select(AuditEvent).filter_by(kind="sign_in.refused")
        ).scalar_one()
        assert event.ip == address
        db.engine.dispose()


def test_trust_proxy_from_environment_installs_the_proxy_fix(
    factory: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUST_PROXY", "1")
    app = factory()
    response = app.test_client().get("/static/style.css", headers=FORWARDED)
    assert "Strict-Transport-Security" in response.headers
    response.close()


# -- error pages and access --------------------------------------------------------


def test_404_is_an_html_page(client: FlaskClient, org: OrgInfo) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "<html" in response.text.lower()
    assert "404" in response.text and "Not Found" in response.text
    assert 'href="/static/style.css' in response.text


# Endpoints a signed-out visitor may reach: sign-in itself, first-run setup, files.
PUBLIC_ENDPOINTS = {
    "static",
    "login.login",
    "login.setup",
    # Single sign-on: the organization step, the start URL, Okta's callback and
    # the emailed link all come before anyone is signed in.
    "okta.sso",
    "okta.start",
    "okta_oidc.callback",
    "okta.link",
    # SAML: Okta's POST to the ACS, and the SP metadata (public, no secrets).
    "okta_saml.acs",
    "okta_saml.metadata",
    # The health check a load balancer polls (tests/test_health.py).
    "health.healthz",
    # "Forgot your password?" and the emailed link that chooses a password.
    "passwords.forgot",
    "passwords.reset",
    # The backup sign-in (recovery codes, exempt accounts) when Okta is required.
    "login.backup",
}
# Endpoints of the sign-in flow that send a signed-out visitor to /login (no `next`).
SIGN_IN_FLOW = {
    "login.index": "/",
    "login.choose": "/login/choose",
    "login.logout": "/logout",
}
# Machine APIs authenticate each request with an API key, never a browser session.
API_PREFIX = "/api/"


def get_paths(app: Flask) -> list[str]:
    """Every GET URL that needs a signed-in visitor or a key; arguments set to 1."""
    paths = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" not in (rule.methods or ()):
                continue
            if rule.endpoint in PUBLIC_ENDPOINTS or rule.endpoint in SIGN_IN_FLOW:
                continue
            values = dict.fromkeys(rule.arguments, 1)
            paths.append(app.url_for(rule.endpoint, **values))
    return paths


def test_every_page_sends_a_signed_out_visitor_to_login_with_next(
    app: Flask, client: FlaskClient, org: OrgInfo
) -> None:
    pages = [path for path in get_paths(app) if not path.startswith(API_PREFIX)]
    for expected in (
        "/members",
        "/members/1",
        "/groups",
        "/groups/1",
        "/settings",
        "/api-keys",
        "/audit",
    ):
        assert expected in pages
    for path in pages:
        response = client.get(path)
        assert response.status_code == 302, path
        location = urlsplit(response.headers["Location"])
        assert location.path == "/login", path
        assert parse_qs(location.query)["next"] == [path], path


def test_every_api_url_answers_401_without_a_key(
    app: Flask, client: FlaskClient, org: OrgInfo
) -> None:
    for path in [path for path in get_paths(app) if path.startswith(API_PREFIX)]:
        response = client.get(path)
        assert response.status_code == 401, path
        assert "Location" not in response.headers, path
        assert response.headers["WWW-Authenticate"].startswith("Bearer"), path


@pytest.mark.parametrize("endpoint", sorted(SIGN_IN_FLOW))
def test_sign_in_flow_pages_send_a_signed_out_visitor_to_login(
    client: FlaskClient, org: OrgInfo, endpoint: str
) -> None:
    response = client.get(SIGN_IN_FLOW[endpoint])
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"


@pytest.mark.parametrize("path", ["/login", "/static/style.css"])
def test_public_pages_are_served_to_a_signed_out_visitor(
    client: FlaskClient, org: OrgInfo, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    response.close()
