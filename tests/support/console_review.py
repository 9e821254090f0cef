"""Helpers of tests/test_console_review.py (the admin-console review): Okta on
for an organization, Okta identities, failed password sign-ins, flashes."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from lxml import html

from core import throttle
from core.extensions import db
from core.models import OktaIdentity
from core.models import OktaRequirement
from core.models import SsoConfig
from core.models import User
from tests.support.builders import sign_in

ISSUER = "https://acme.okta.com"


def client_for(app: Flask, email: str) -> FlaskClient:
    """A client signed in with the password."""
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


def turn_okta_on(app: Flask, org_id: int) -> None:
    """Okta sign-in (OIDC at ISSUER) on for the organization."""
    with app.app_context():
        db.session.add(
            SsoConfig(
                organization_id=org_id,
                provider="okta",
                protocol="oidc",
                oidc_client_id="0oa-client",
                oidc_issuer=ISSUER,
            )
        )
        db.session.commit()


def require_okta(app: Flask, org_id: int) -> None:
    """The organization requires Okta sign-in (no exempt accounts)."""
    with app.app_context():
        db.session.add(OktaRequirement(organization_id=org_id, required=True))
        db.session.commit()


def link(app: Flask, org_id: int, user_id: int) -> int:
    """Give the user an identity at the organization's current Okta."""
    with app.app_context():
        identity = OktaIdentity(
            organization_id=org_id,
            user_id=user_id,
            protocol="oidc",
            issuer=ISSUER,
            subject=f"00u-{user_id}",
        )
        db.session.add(identity)
        db.session.commit()
        return identity.id


def identity_ids(app: Flask) -> set[int]:
    """Ids of every Okta identity."""
    with app.app_context():
        return set(db.session.execute(db.select(OktaIdentity.id)).scalars())


def set_user(app: Flask, user_id: int, **values: object) -> None:
    """Set columns of a user."""
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        for name, value in values.items():
            setattr(user, name, value)
        db.session.commit()


def fail_password(app: Flask, email: str, times: int) -> None:
    """Count failed password sign-ins for `email`, as the login page does."""
    with app.app_context():
        for _ in range(times):
            throttle.record_failure(email, "192.0.2.7")


def failures(app: Flask, email: str) -> int:
    """Failed password sign-ins counted for `email` now."""
    with app.app_context():
        return throttle.recent_failures(throttle.account_key(email))


def flashes(client: FlaskClient) -> list[str]:
    """The flashed messages waiting in the client's session."""
    with client.session_transaction() as session:
        return [message for _category, message in session.get("_flashes", [])]


def audit_statuses(page: str, kind: str) -> list[str]:
    """The Status cell of each audit-page row of `kind`."""
    tree = html.fromstring(page)
    rows = tree.xpath(f'//table[@id="audit"]/tbody/tr[td[@data-kind="{kind}"]]')
    return [
        " ".join(row.xpath('./td[@data-label="Status"]')[0].text_content().split())
        for row in rows
    ]
