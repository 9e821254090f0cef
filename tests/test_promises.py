"""Promises the documentation makes that no other test held the app to (issue #11).

Each test names the promise and where it is made; each would fail if the
promise broke (the report of #11 part 4 says how each was checked). SCIM
activity retention is not here: tests/test_audit_bounds.py covers it
(`test_scim_activity_has_its_own_retention` and the automatic pruning tests).
Refusing to mail without STARTTLS is in tests/test_mailer.py, beside the SMTP
server it needs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from collections.abc import Iterator
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_login import current_user
from flask_login import login_required

import core.sessions
import core.throttle
from app import create_app
from core import first_run
from core.extensions import db
from core.models import ApiKey
from core.models import Organization
from core.models import SiteSetting
from core.models import utcnow
from core.provisioning import organizations
from tests.support.builders import OrgInfo
from tests.support.builders import make_app
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import scim_key
from tests.support.builders import setup_form
from tests.support.builders import sign_in
from tests.support.rows import events
from tests.support.rows import signed_in_user_id
from tests.support.rows import snapshot
from tests.support.rows import user_count
from tests.support.rows import user_row
from tests.support.scim import SCIM
from tests.support.scim import USER_SCHEMA
from tests.support.scim import ScimClient
from tests.support.sql import statements

pytestmark = pytest.mark.usefixtures("quick_passwords")

LOCKED = "Too many failed sign-ins."


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Move the clock of the named modules (each reads `utcnow` from its own
    namespace) `shift` into the future; the rest of the app keeps real time."""

    def move(shift: timedelta, *modules: Any) -> None:
        for module in modules:
            monkeypatch.setattr(module, "utcnow", lambda: utcnow() + shift)

    return move


def close(*apps: Flask) -> None:
    """Dispose of the apps' database engines."""
    for app in apps:
        with app.app_context():
            db.engine.dispose()


# -- README: SESSION_MAX_AGE_SECONDS, "Longest life of a signed-in session" ---------


def test_a_session_older_than_the_max_age_is_signed_out(
    tmp_path: Path, clock: Callable[..., None]
) -> None:
    app = make_app(tmp_path, SESSION_MAX_AGE_SECONDS=3600)
    org = make_org(app)
    browser = app.test_client()
    assert sign_in(browser, org.owner_email).status_code == 302

    clock(timedelta(seconds=3600 - 30), core.sessions)
    assert browser.get("/members").status_code == 200
    assert signed_in_user_id(app, browser) == org.owner_id

    clock(timedelta(seconds=3600 + 30), core.sessions)
    for page in ("/members", "/settings"):
        response = browser.get(page)
        assert response.status_code == 302, page
        assert "/login" in response.headers["Location"]
    # A new sign-in gets a new session of its own full age.
    assert sign_in(browser, org.owner_email).status_code == 302
    assert browser.get("/members").status_code == 200
    close(app)


# -- docs/architecture.md: "Throttle failures are rows, so every worker shares the
# count: 5 failures per email or 20 per address within 15 minutes lock that key for
# the window."


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[Flask, Flask, OrgInfo]]:
    """Two app objects on one SQLite file, as two gunicorn workers are."""
    settings = {"SIGNIN_FAILURE_WINDOW_SECONDS": 120}
    first = make_app(tmp_path, **settings)
    second = make_app(tmp_path, **settings)
    org = make_org(first)
    yield first, second, org
    close(first, second)


def fail(app: Flask, email: str, times: int) -> None:
    """`times` wrong passwords for `email`, each from a new browser."""
    for _ in range(times):
        response = sign_in(app.test_client(), email, "not the password")
        assert response.status_code == 401, response.text


def test_failures_at_two_workers_add_up_to_one_lockout(
    two_workers: tuple[Flask, Flask, OrgInfo],
) -> None:
    first, second, org = two_workers
    limit = first.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"]
    assert limit == 5
    fail(first, org.owner_email, 3)
    fail(second, org.owner_email, limit - 3)
    for worker in (first, second):
        response = sign_in(worker.test_client(), org.owner_email)
        assert response.status_code == 429
        assert LOCKED in response.text
    # Each worker alone saw fewer than the limit: only the shared count locks.


@pytest.mark.parametrize(
    ("seconds_later", "locked"),
    [(110, True), (130, False)],
    ids=["within the window", "after the window"],
)
def test_the_lockout_lasts_the_configured_window(
    two_workers: tuple[Flask, Flask, OrgInfo],
    clock: Callable[..., None],
    seconds_later: int,
    locked: bool,
) -> None:
    first, second, org = two_workers
    fail(first, org.owner_email, 5)
    assert sign_in(second.test_client(), org.owner_email).status_code == 429

    clock(timedelta(seconds=seconds_later), core.throttle)
    response = sign_in(second.test_client(), org.owner_email)

    assert response.status_code == (429 if locked else 302), response.text


def test_only_failures_within_the_window_count(
    two_workers: tuple[Flask, Flask, OrgInfo], clock: Callable[..., None]
) -> None:
    """Four failures, and a fifth once the window has passed: not locked."""
    first, second, org = two_workers
    fail(first, org.owner_email, 4)
    clock(timedelta(seconds=130), core.throttle)
    fail(second, org.owner_email, 1)
    assert sign_in(first.test_client(), org.owner_email).status_code == 302


def test_the_lockout_message_names_the_configured_window(
    two_workers: tuple[Flask, Flask, OrgInfo],
) -> None:
    first, _second, org = two_workers
    fail(first, org.owner_email, 5)
    response = sign_in(first.test_client(), org.owner_email)
    assert response.status_code == 429
    assert "Wait 2 minutes" in response.text


# -- README: "a one-time setup code, printed in the server's output when it starts
# (and kept in the database until setup is done, so every worker and app server
# shows the same code)".

CODE = re.compile(r"\b[0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6}\b")


@pytest.fixture
def empty_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A migrated, empty database and an instance folder, configured through the
    environment as a server is; returns the instance folder."""
    schema = make_app(tmp_path)  # the schema, as `flask db upgrade` leaves it
    database = schema.config["SQLALCHEMY_DATABASE_URI"]  # SQLite or PostgreSQL
    close(schema)
    instance = tmp_path / "instance"
    monkeypatch.setenv("GATEHOUSE_INSTANCE", str(instance))
    monkeypatch.setenv("DATABASE_URL", database)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://gatehouse.test")
    # Not printed yet in this process (and cleaned up after the test).
    monkeypatch.setenv(first_run.ANNOUNCED_ENV, "0")
    return instance


def start_server(
    capsys: pytest.CaptureFixture[str], command: str | None, *, fresh: bool = True
) -> str:
    """`create_app()` as gunicorn (no command) or `flask <command>` calls it, in
    a process of its own (`fresh`) or in one marked as printed (a gunicorn
    worker after the first); returns what it printed to stderr."""
    capsys.readouterr()
    if fresh:
        os.environ[first_run.ANNOUNCED_ENV] = "0"
    if command is None:
        close(create_app())
    else:
        with click.Context(click.Command(command), info_name=command):
            close(create_app())
    printed = capsys.readouterr()
    assert printed.out == ""
    return printed.err


def test_a_fresh_install_prints_the_setup_code_that_opens_setup(
    empty_install: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    banner = start_server(capsys, None)

    assert "Gatehouse has no organization yet." in banner
    assert "Open https://gatehouse.test/setup and enter the setup code:" in banner
    [code] = CODE.findall(banner)
    assert stored_code(tmp_path) == code
    assert not (empty_install / "setup_code").exists()
    # A process marked as printed stays quiet (gunicorn's workers after the
    # first: tests/test_setup_code_once.py). Another start, another app server
    # (its own instance folder), and `flask run` print the same code; other
    # commands stay quiet.
    assert start_server(capsys, None, fresh=False) == ""
    assert CODE.findall(start_server(capsys, None)) == [code]
    with pytest.MonkeyPatch.context() as other_node:
        other_node.setenv("GATEHOUSE_INSTANCE", str(tmp_path / "another-node"))
        assert CODE.findall(start_server(capsys, None)) == [code]
    assert CODE.findall(start_server(capsys, "run")) == [code]
    assert start_server(capsys, "routes") == ""

    app = make_app(tmp_path)  # the same database and instance folder
    form = setup_form(code)
    assert app.test_client().post("/setup", data=form).status_code == 302
    close(app)
    assert stored_code(tmp_path) is None
    assert start_server(capsys, None) == ""  # set up: no banner, no new code
    assert stored_code(tmp_path) is None


def stored_code(tmp_path: Path) -> str | None:
    """The setup code kept in the test's database, or None."""
    app = make_app(tmp_path)
    try:
        with app.app_context():
            row = db.session.get(SiteSetting, first_run.CODE_KEY)
            return row.value if row is not None else None
    finally:
        close(app)


# -- docs/okta-scim.md: "Okta's first push of each person adopts the existing account
# with the same userName (or email) instead of failing".


def scim_post(client: FlaskClient, secret: str, body: dict[str, Any]) -> Any:
    """POST /Users with an organization key."""
    return ScimClient(client, secret).post("/Users", {"schemas": [USER_SCHEMA], **body})


def test_scim_adopts_the_account_with_the_email_when_the_username_differs(
    app: Flask, org: OrgInfo
) -> None:
    ann_id = make_user(app, org.id, "ann@acme.test", given_name="Ann")
    secret = scim_key(app, org.id)
    people = user_count(app)
    client = app.test_client()

    response = scim_post(
        client,
        secret,
        {
            "userName": "ann.lee",
            "name": {"givenName": "Annie", "familyName": "Lee"},
            "emails": [{"value": "Ann@Acme.test", "primary": True, "type": "work"}],
            "externalId": "00uabcdefghijklmnopq",
        },
    )

    assert response.status_code == 201, response.text
    body = response.get_json(force=True)
    assert body["id"] == str(ann_id)
    assert body["userName"] == "ann.lee"
    assert user_count(app) == people
    ann = user_row(app, org.id, "ann@acme.test")
    assert ann is not None and ann["id"] == ann_id
    assert (ann["user_name"], ann["given_name"], ann["family_name"]) == (
        "ann.lee",
        "Annie",
        "Lee",
    )
    assert ann["scim_managed"] and ann["external_id"] == "00uabcdefghijklmnopq"
    assert ann["password_hash"]  # adopted, not replaced: her password still works
    assert sign_in(app.test_client(), "ann@acme.test").status_code == 302
    assert [e["target"] for e in events(app, "scim.user.adopted")] == ["ann.lee"]
    # A second push with that email is a duplicate now, not another adoption.
    again = scim_post(
        client,
        secret,
        {"userName": "a.lee", "emails": [{"value": "ann@acme.test", "primary": True}]},
    )
    assert again.status_code == 409, again.text
    assert again.get_json(force=True)["scimType"] == "uniqueness"
    assert user_count(app) == people
    assert user_row(app, org.id, "ann@acme.test")["user_name"] == "ann.lee"  # type: ignore[index]


# -- blueprints/settings: "Rename the organization (owners only)"; the name is what
# members type on the SSO sign-in page and what `flask ... --org` takes.


def test_an_owner_renames_the_organization(
    app: Flask, org: OrgInfo, owner_client: FlaskClient
) -> None:
    response = owner_client.post("/settings/name", data={"name": "  Acme Labs "})

    assert response.status_code == 302
    assert response.headers["Location"] == "/settings"
    page = owner_client.get("/settings").text
    assert "The organization is now called Acme Labs." in page
    with app.app_context():
        acme = db.session.get(Organization, org.id)
        assert acme is not None
        assert (acme.name, acme.name_key) == ("Acme Labs", "acme labs")
        found = organizations.find_organization("ACME LABS")
        assert found is not None and found.id == org.id
        assert organizations.find_organization("Acme") is None
    [renamed] = events(app, "organization.renamed")
    assert (renamed["before"], renamed["after"]) == ("Acme", "Acme Labs")
    assert renamed["actor_user_id"] == org.owner_id
    listing = app.test_cli_runner().invoke(args=["org", "list"])
    assert "Acme Labs" in listing.output


@pytest.mark.parametrize(
    ("who", "name", "status", "message"),
    [
        ("owner", "beta", 400, "An organization named &#39;beta&#39; already exists."),
        ("owner", "", 400, "This field is required."),
        ("owner", "x" * 101, 400, "Field cannot be longer than 100 characters."),
        ("admin", "Acme Labs", 403, ""),
    ],
    ids=["taken in another case", "empty", "too long", "an admin"],
)
def test_a_refused_rename_changes_nothing(
    app: Flask, org: OrgInfo, who: str, name: str, status: int, message: str
) -> None:
    make_org(app, "Beta")
    email = org.owner_email
    if who == "admin":
        email = "adam@acme.test"
        make_user(app, org.id, email, role="admin")
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    was = snapshot(app)

    response = client.post("/settings/name", data={"name": name})

    assert response.status_code == status, response.text
    assert message in response.text
    assert snapshot(app) == was


# -- core/errors.py: "roll back a failed transaction on 500"; templates/errors/500.html:
# "The server hit an error and nothing was changed."


@pytest.mark.parametrize("failure", ["flush error", "plain exception"])
def test_the_500_page_rolls_back_what_the_request_half_did(
    tmp_path: Path, failure: str
) -> None:
    app = make_app(tmp_path, PROPAGATE_EXCEPTIONS=False)
    org = make_org(app)
    make_org(app, "Beta")

    @login_required
    def half_then_fail() -> str:
        """Rename the organization, then fail before committing."""
        current_user.organization.name = "Half-renamed"
        db.session.flush()
        if failure == "flush error":
            db.session.add(Organization(name="Beta", name_key="beta", plan="pro"))
            db.session.flush()  # IntegrityError: the session needs a rollback
        raise RuntimeError("after the write, before the commit")

    app.add_url_rule("/test-only/half-then-fail", view_func=half_then_fail)
    browser = app.test_client()
    assert sign_in(browser, org.owner_email).status_code == 302
    was = snapshot(app, scim_writes=True)

    response = browser.get("/test-only/half-then-fail")

    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "nothing was changed" in response.text
    # The page (its navigation names the organization) shows what is stored.
    assert "Half-renamed" not in response.text
    assert ">Acme</a>" in response.text
    assert snapshot(app, scim_writes=True) == was
    assert browser.get("/members").status_code == 200  # the next request is fine
    close(app)


# -- docs/architecture.md: "Last use is written at most once a minute."


def last_used(app: Flask) -> datetime | None:
    """The organization key's last use."""
    with app.app_context():
        return db.session.execute(db.select(ApiKey.last_used_at)).scalar_one()


def set_last_used(app: Flask, when: datetime) -> None:
    """Pretend the key was last used at `when`."""
    with app.app_context():
        db.session.execute(db.update(ApiKey).values(last_used_at=when))
        db.session.commit()


def test_an_api_keys_last_use_is_written_at_most_once_a_minute(
    app: Flask, org: OrgInfo
) -> None:
    secret = scim_key(app, org.id)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}

    def use() -> None:
        assert client.get(SCIM + "/Users", headers=headers).status_code == 200

    assert last_used(app) is None
    with statements(app, r"\s*UPDATE\s+api_key\b") as seen:
        use()
    assert len(seen) == 1
    first = last_used(app)
    assert first is not None and utcnow() - first < timedelta(seconds=10)

    with statements(app, r"\s*UPDATE\s+api_key\b") as seen:
        use()
        use()
    assert seen == [] and last_used(app) == first

    almost = utcnow() - timedelta(seconds=50)
    set_last_used(app, almost)
    with statements(app, r"\s*UPDATE\s+api_key\b") as seen:
        use()
    assert seen == [] and last_used(app) == almost

    set_last_used(app, utcnow() - timedelta(seconds=70))
    with statements(app, r"\s*UPDATE\s+api_key\b") as seen:
        use()
    assert len(seen) == 1
    latest = last_used(app)
    assert latest is not None and utcnow() - latest < timedelta(seconds=10)
