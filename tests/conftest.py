"""Shared fixtures: a fresh app and database per test, and small builders.

Builders return ids and plain values, never ORM objects (they would be detached
once the app context that loaded them ends).

The database is a SQLite file in the test's folder, or, when
GATEHOUSE_TEST_DATABASE_URL names a PostgreSQL server (`make test-postgres`), a
database of this test run's own (one per xdist worker) whose tables are emptied
before each test's first app. Apps made in one test share its database either
way, like the workers of one install.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner
from hypothesis import settings as hypothesis_settings

from app import create_app
from core.extensions import db
from core.models import Organization
from core.models import User
from core.provisioning import api_keys
from core.provisioning import organizations
from core.provisioning import users
from tests import databases
from tests.okta_helpers import mailbox  # noqa: F401 (a fixture for every module)

PASSWORD = "correct horse battery staple"

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


def make_app(tmp_path: Path, **overrides: Any) -> Flask:
    """An app with its own instance folder and the test's database, schema created.

    On SQLite the database is a file in `tmp_path` (so apps of one folder share
    it); pass SQLALCHEMY_DATABASE_URI to choose another.
    """
    config = {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": (
            databases.url() or f"sqlite:///{tmp_path / 'test.sqlite'}"
        ),
        "WTF_CSRF_ENABLED": False,
        "OKTA_ALLOW_INSECURE_LOOPBACK": True,
        # Where the test client's requests go; tests of an unset address pass "".
        "PUBLIC_BASE_URL": "http://localhost",
    }
    config.update(databases.engine_options())
    config.update(overrides)
    app = create_app(config)
    databases.prepare(app)
    return app


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
def client(app: Flask) -> FlaskClient:
    """A test client of `app`."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A CLI runner of `app`."""
    return app.test_cli_runner()


@dataclass(frozen=True)
class OrgInfo:
    """Ids and credentials of an organization made by `make_org`."""

    id: int
    name: str
    owner_id: int
    owner_email: str


def make_org(
    app: Flask,
    name: str = "Acme",
    *,
    plan: str = "pro",
    owner_email: str | None = None,
    password: str = PASSWORD,
) -> OrgInfo:
    """Create an organization with its owner."""
    owner_email = owner_email or f"owner@{name.lower().replace(' ', '')}.test"
    with app.app_context():
        org, owner = organizations.create_organization(
            name, owner_email=owner_email, owner_password=password, plan=plan
        )
        return OrgInfo(org.id, org.name, owner.id, owner.email)


def make_user(
    app: Flask,
    org_id: int,
    email: str,
    *,
    role: str = "member",
    password: str | None = PASSWORD,
    status: str = "active",
    source: str = "local",
    given_name: str = "",
    family_name: str = "",
) -> int:
    """Create a user in an organization and return its id."""
    with app.app_context():
        org = db.session.get(Organization, org_id)
        user = users.new_user(
            org,
            email=email,
            role=role,
            password=password,
            source=source,
            given_name=given_name,
            family_name=family_name,
        )
        user.status = status
        db.session.commit()
        return user.id


def setup_form(code: str, **changes: str) -> dict[str, str]:
    """A complete first-run setup form (add `public_url` where the page asks)."""
    form = {
        "setup_code": code,
        "organization": "Initech",
        "plan": "pro",
        "given_name": "Peter",
        "family_name": "Gibbons",
        "email": "peter@initech.test",
        "password": PASSWORD,
        "confirm": PASSWORD,
    }
    form.update(changes)
    return form


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD, **extra: str):  # type: ignore[no-untyped-def]
    """Post the login form; returns the response (not followed)."""
    return client.post("/login", data={"email": email, "password": password, **extra})


def get_user(app: Flask, user_id: int) -> dict[str, Any]:
    """A user's columns as a plain dict."""
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        return {
            column.key: getattr(user, column.key) for column in User.__table__.columns
        }


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


def scim_key(
    app: Flask,
    org_id: int,
    *,
    sync: bool = True,
    user_id: int | None = None,
    name: str = "okta",
    role: str = "admin",
) -> str:
    """Switch SCIM sync on (or off) and return a new scim key's secret.

    With `user_id`, the key is that member's personal key; otherwise an
    organization key that acts as `role`.
    """
    with app.app_context():
        org = db.session.get(Organization, org_id)
        assert org is not None
        organizations.set_scim_sync(org, sync, actor="cli")
        user = db.session.get(User, user_id) if user_id is not None else None
        _key, secret = api_keys.create_api_key(
            org,
            name=name if user is None else "laptop",
            scopes=["scim"],
            user=user,
            actor="cli" if user is None else user,
            role=None if user is not None else role,
        )
        return secret


def every_row(app: Flask) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, for `restore_rows`."""
    with app.app_context(), db.engine.connect() as connection:
        return {
            table.name: [
                dict(row._mapping) for row in connection.execute(table.select())
            ]
            for table in db.metadata.sorted_tables
        }


def restore_rows(app: Flask, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Put back what `every_row` read, in one transaction (SQLite and PostgreSQL):
    what isolates the examples of a property test sharing one database."""
    with app.app_context(), db.engine.begin() as connection:
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())
        for table in db.metadata.sorted_tables:
            if rows[table.name]:
                connection.execute(table.insert(), rows[table.name])


def snapshot(app: Flask, *, scim_writes: bool = False) -> dict[str, list[tuple]]:
    """Every row of every table, to prove that a refused request changed nothing.

    With `scim_writes`, leave out what every SCIM request writes by design: the
    activity log and the keys' last-use time.
    """
    result: dict[str, list[tuple]] = {}
    with app.app_context():
        for table in db.metadata.sorted_tables:
            if scim_writes and table.name == "scim_request":
                continue
            columns = [
                column
                for column in table.columns
                if not (
                    scim_writes
                    and table.name == "api_key"
                    and column.name == "last_used_at"
                )
            ]
            rows = db.session.execute(
                db.select(*columns).order_by(*table.primary_key.columns)
            )
            result[table.name] = [tuple(row) for row in rows]
    return result
