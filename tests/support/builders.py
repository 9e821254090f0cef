"""Builders of what a test starts from: an app, organizations, members, keys.

They return ids and plain values, never ORM objects (they would be detached
once the app context that loaded them ends).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from core.extensions import db
from core.models import Organization
from core.models import User
from core.provisioning import api_keys
from core.provisioning import organizations
from core.provisioning import users
from tests.support import databases
from tests.support.constants import APP_ROOT
from tests.support.constants import ORG_NAME
from tests.support.constants import PASSWORD
from tests.support.constants import SECRET_KEY

# What the `new_app` fixture gives: make an app with configuration overrides.
AppMaker = Callable[..., Flask]


def make_app(tmp_path: Path, **overrides: Any) -> Flask:
    """An app with its own instance folder and the test's database, schema created.

    On SQLite the database is a file in `tmp_path` (so apps of one folder share
    it); pass SQLALCHEMY_DATABASE_URI to choose another.
    """
    config = {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": SECRET_KEY,
        "SQLALCHEMY_DATABASE_URI": (
            databases.url() or f"sqlite:///{tmp_path / 'test.sqlite'}"
        ),
        "WTF_CSRF_ENABLED": False,
        "OKTA_ALLOW_INSECURE_LOOPBACK": True,
        # Where the test client's requests go; tests of an unset address pass "".
        "PUBLIC_BASE_URL": APP_ROOT,
    }
    config.update(databases.engine_options())
    config.update(overrides)
    app = create_app(config)
    databases.prepare(app)
    return app


@dataclass(frozen=True)
class OrgInfo:
    """Ids and credentials of an organization made by `make_org`."""

    id: int
    name: str
    owner_id: int
    owner_email: str


def make_org(
    app: Flask,
    name: str = ORG_NAME,
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
