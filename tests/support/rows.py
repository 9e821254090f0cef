"""Plain-value readers of the database: what a request or a sign-in left behind.

Users, audit events, Okta links and SSO settings as dicts and tuples (never ORM
objects, which would be detached once the app context that loaded them ends),
whose session a client holds, and every row of every table (`snapshot`, to
prove a refused request changed nothing; `every_row` and `restore_rows`, to
isolate the examples of a property test).
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from core.extensions import db
from core.models import AuditEvent
from core.models import OktaIdentity
from core.models import SsoConfig
from core.models import User
from core.models import UserSession
from core.security import hash_token


def get_user(app: Flask, user_id: int) -> dict[str, Any]:
    """A user's columns as a plain dict."""
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        return {
            column.key: getattr(user, column.key) for column in User.__table__.columns
        }


def signed_in_user_id(app: Flask, client: FlaskClient) -> int | None:
    """Whose live session the client's cookie holds, from the database."""
    with client.session_transaction() as session:
        token = session.get("_user_id")
    if not token:
        return None
    with app.app_context():
        row = db.session.execute(
            db.select(UserSession).filter_by(
                token_hash=hash_token(token), revoked_at=None
            )
        ).scalar_one_or_none()
        return row.user_id if row else None


def assert_nobody_signed_in(app: Flask, client: FlaskClient) -> None:
    """The client has no session and the members page sends it to sign in."""
    assert signed_in_user_id(app, client) is None
    response = client.get("/members")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def events(app: Flask, kind: str | None = None) -> list[dict[str, Any]]:
    """Audit events (optionally of one kind), oldest first, as plain dicts."""
    with app.app_context():
        query = db.select(AuditEvent).order_by(AuditEvent.id)
        if kind:
            query = query.filter_by(kind=kind)
        return [
            {
                "kind": event.kind,
                "organization_id": event.organization_id,
                "actor": event.actor,
                "actor_user_id": event.actor_user_id,
                "target": event.target,
                **event.details,
            }
            for event in db.session.execute(query).scalars()
        ]


def user_row(app: Flask, org_id: int, address: str) -> dict[str, Any] | None:
    """The user of the organization with this email, as a dict, or None."""
    with app.app_context():
        user = db.session.execute(
            db.select(User).filter_by(organization_id=org_id, email_key=address.lower())
        ).scalar_one_or_none()
        if user is None:
            return None
        return {column.key: getattr(user, column.key) for column in User.__table__.c}


def user_count(app: Flask) -> int:
    """Users in every organization."""
    with app.app_context():
        return db.session.execute(
            db.select(db.func.count()).select_from(User)
        ).scalar_one()


def identities(app: Flask) -> list[tuple[int, int, str, str, str]]:
    """(organization, user, protocol, issuer, subject) of every Okta link."""
    with app.app_context():
        rows = db.session.execute(
            db.select(OktaIdentity).order_by(OktaIdentity.id)
        ).scalars()
        return [
            (row.organization_id, row.user_id, row.protocol, row.issuer, row.subject)
            for row in rows
        ]


def sso_config(app: Flask, org_id: int) -> dict[str, Any] | None:
    """The organization's SSO settings row as a dict, or None."""
    with app.app_context():
        config = db.session.execute(
            db.select(SsoConfig).filter_by(organization_id=org_id)
        ).scalar_one_or_none()
        if config is None:
            return None
        return {c.key: getattr(config, c.key) for c in SsoConfig.__table__.c}


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
    activity log, the keys' last-use time and the counted 401s.
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
            query = db.select(*columns).order_by(*table.primary_key.columns)
            if scim_writes and table.name == "audit_event":
                query = query.where(table.c.kind != "scim.unauthorized")
            rows = db.session.execute(query)
            result[table.name] = [tuple(row) for row in rows]
    return result
