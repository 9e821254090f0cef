"""Helpers shared by the Okta sign-in tests (OIDC and SAML).

A real SMTP server for the emailed links, and plain-value readers of what a
sign-in left behind: the session a client holds, audit events, users, links.
"""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient

from core.extensions import db
from core.models import AuditEvent
from core.models import OktaIdentity
from core.models import SsoConfig
from core.models import User
from core.models import UserSession
from core.security import hash_token


def free_port() -> int:
    """A TCP port nobody listens on (aiosmtpd 1.4 cannot start on port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Mailbox:
    """An SMTP handler that keeps every message."""

    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(  # aiosmtpd hook name
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        message = email.message_from_bytes(
            envelope.content, policy=email.policy.default
        )
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        """Messages sent to `address`, oldest first."""
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on 127.0.0.1 and its port."""
    handler = Mailbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


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
