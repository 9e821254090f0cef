"""Helpers of the "Require Okta sign-in" tests: an organization signing in with
Okta at the real OpenID provider, its owner linked and freshly signed in through
it, recovery codes read off the page, and readers of the new tables."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from core.extensions import db
from core.models import OktaIdentity
from core.models import RecoveryCode
from core.models import User
from core.models import UserSession
from core.models import utcnow
from core.security import hash_token
from tests.support.builders import OrgInfo
from tests.support.oidc import connect_okta
from tests.support.oidc import okta_sign_in
from tests.support.oidc import okta_user
from tests.support.rows import signed_in_user_id

OWNER_SUB = "00u-owner"
CODE = re.compile(r"<li><code>([0-9A-Z]{5}(?:-[0-9A-Z]{5}){3})</code></li>")
PAGE = "/settings/okta/require"


def link_identity(app: Flask, org_id: int, user_id: int, base: str, sub: str) -> None:
    """Give the user an OIDC identity at the provider `base` (as an earlier
    confirmed link would have)."""
    with app.app_context():
        db.session.add(
            OktaIdentity(
                organization_id=org_id,
                user_id=user_id,
                protocol="oidc",
                issuer=base,
                subject=sub,
            )
        )
        db.session.commit()


def okta_client(app: Flask, base: str, sub: str, email: str) -> FlaskClient:
    """A client signed in through Okta (the real provider) as `sub`, whose
    account is already linked."""
    okta_user(base, sub, email)
    client = app.test_client()
    response = okta_sign_in(client, base, sub)
    assert response.status_code == 302, response.text
    assert signed_in_user_id(app, client) is not None
    return client


def okta_org(app: Flask, org: OrgInfo, base: str) -> FlaskClient:
    """Okta (OIDC) tested and on for `org`, its owner linked; returns the owner
    signed in through Okta just now."""
    connect_okta(app, org, base, send_links=False)
    link_identity(app, org.id, org.owner_id, base, OWNER_SUB)
    return okta_client(app, base, OWNER_SUB, org.owner_email)


def new_codes(client: FlaskClient) -> list[str]:
    """Generate recovery codes on the page; the ten codes it shows."""
    response = client.post(PAGE + "/codes")
    assert response.status_code == 200, response.text
    codes = CODE.findall(response.text)
    assert len(codes) == 10, response.text
    return codes


def save_codes(client: FlaskClient) -> list[str]:
    """Generate recovery codes and confirm they were saved."""
    codes = new_codes(client)
    assert client.post(PAGE + "/codes/saved").status_code == 302
    return codes


def ready(app: Flask, org: OrgInfo, base: str) -> tuple[FlaskClient, list[str]]:
    """Every precondition met: the owner's Okta client and their saved codes."""
    owner = okta_org(app, org, base)
    return owner, save_codes(owner)


def exempt(client: FlaskClient, *emails: str) -> Any:
    """Save the exempt accounts on the page (the answer)."""
    return client.post(PAGE + "/exempt", data={"exempt": list(emails)})


def backup_sign_in(client: FlaskClient, email: str, code: str) -> Any:
    """Sign in at /login/backup with a recovery code (the answer)."""
    return client.post("/login/backup", data={"code-email": email, "code-code": code})


def turn_on(client: FlaskClient) -> Any:
    """Press Require Okta sign-in."""
    return client.post(PAGE + "/on")


def age_sessions(app: Flask, user_id: int, by: timedelta) -> None:
    """Move the start of every session of the user back by `by`."""
    with app.app_context():
        for row in db.session.execute(
            db.select(UserSession).filter_by(user_id=user_id)
        ).scalars():
            row.created_at = row.created_at - by
        db.session.commit()


def session_row(app: Flask, client: FlaskClient) -> dict[str, Any]:
    """The client's session row (even when revoked), as a dict."""
    with client.session_transaction() as session:
        token = session["_user_id"]
    with app.app_context():
        row = db.session.execute(
            db.select(UserSession).filter_by(token_hash=hash_token(token))
        ).scalar_one()
        return {c.key: getattr(row, c.key) for c in UserSession.__table__.c}


def code_rows(app: Flask, user_id: int) -> list[dict[str, Any]]:
    """The recovery code rows of a user, oldest first."""
    with app.app_context():
        rows = db.session.execute(
            db.select(RecoveryCode).filter_by(user_id=user_id).order_by(RecoveryCode.id)
        ).scalars()
        return [
            {c.key: getattr(row, c.key) for c in RecoveryCode.__table__.c}
            for row in rows
        ]


def set_user(app: Flask, user_id: int, **values: Any) -> None:
    """Change columns of a user directly (a state the test starts from)."""
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        for key, value in values.items():
            setattr(user, key, value)
        db.session.commit()


def now() -> Any:
    """The database's idea of now (UTC, aware)."""
    return utcnow()
