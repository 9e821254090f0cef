"""Shared fixtures: a fresh app and database per test, signed-in clients, mail.

Builders, readers, servers and constants live in `tests/support/` (importable
from anywhere, imported once); this file holds the fixtures every module gets,
and makes the support fixtures several modules use visible to all (the
mailbox, the OpenID providers, the SAML IdP and its app, the migration apps,
the browser's, the live SCIM server).

The database is a SQLite file in the test's folder, or, when
GATEHOUSE_TEST_DATABASE_URL names a PostgreSQL server (`make test-postgres`), a
database of this test run's own (one per xdist worker) whose tables are emptied
before each test's first app. Apps made in one test share its database either
way, like the workers of one install.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner
from hypothesis import settings as hypothesis_settings

from core.extensions import db
from tests.support import databases
from tests.support.builders import AppMaker
from tests.support.builders import OrgInfo
from tests.support.builders import make_app
from tests.support.builders import make_org
from tests.support.builders import sign_in
from tests.support.concurrency import live  # noqa: F401
from tests.support.hostile_oidc import hostile  # noqa: F401 (fixtures for all)
from tests.support.hostile_oidc import hostile_server  # noqa: F401
from tests.support.live import browser  # noqa: F401
from tests.support.live import live_app  # noqa: F401
from tests.support.mail import Mailbox
from tests.support.mail import mailbox  # noqa: F401
from tests.support.mail import smtp_settings
from tests.support.migrations import empty_app  # noqa: F401
from tests.support.migrations import migrated_app  # noqa: F401
from tests.support.oidc import provider  # noqa: F401
from tests.support.saml import idp  # noqa: F401
from tests.support.saml import saml_app  # noqa: F401

# The same examples every run (a red run is red everywhere, a green one is not
# luck), and no .hypothesis/ folder. `pytest --hypothesis-profile=explore`
# draws new examples, to hunt.
hypothesis_settings.register_profile(
    "ci", derandomize=True, database=None, print_blob=True
)
hypothesis_settings.register_profile("explore", database=None, print_blob=True)
hypothesis_settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _one_database_per_test() -> Iterator[None]:
    """Each test starts on an empty database; its apps' connections close after."""
    databases.start_test()
    yield
    databases.end_test()


FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def quick_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters, also for the decoy hash checked when no account
    matches (otherwise every sign-in with an unknown email pays the full cost)."""
    monkeypatch.setattr("core.security._hasher", FAST_HASHER)
    monkeypatch.setattr(
        "core.security._DUMMY_HASH", FAST_HASHER.hash("no account's password")
    )


@pytest.fixture(autouse=True)
def _quick_passwords_unless_real(request: pytest.FixtureRequest) -> None:
    """Fast passwords everywhere except in tests marked `real_passwords`
    (the tests of hashing itself)."""
    if request.node.get_closest_marker("real_passwords") is None:
        request.getfixturevalue("quick_passwords")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """A fresh app (CSRF off) with an empty database."""
    app = make_app(tmp_path)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def new_app(tmp_path: Path) -> Iterator[AppMaker]:
    """Make apps with configuration overrides, each in its own folder; they are
    closed at teardown even when the test fails."""
    apps: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        folder = tmp_path / f"app{len(apps)}"
        folder.mkdir()
        apps.append(make_app(folder, **overrides))
        return apps[-1]

    yield build
    for app in apps:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def smtp_app(
    new_app: AppMaker,
    mailbox: tuple[Mailbox, int],  # noqa: F811 (the fixture imported above)
) -> Flask:
    """An app that sends its mail to `mailbox`."""
    return new_app(**smtp_settings(mailbox[1]))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of `app`."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A CLI runner of `app`."""
    return app.test_cli_runner()


@pytest.fixture
def org(app: Flask) -> OrgInfo:
    """A pro organization "Acme" with its owner."""
    return make_org(app)


@pytest.fixture
def owner_client(app: Flask, org: OrgInfo) -> FlaskClient:
    """A client signed in as Acme's owner."""
    client = app.test_client()
    response = sign_in(client, org.owner_email)
    assert response.status_code == 302, response.text
    return client
