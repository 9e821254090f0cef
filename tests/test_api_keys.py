"""API keys: creation, the secret shown once, hashing, revocation, refusal rules."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from core.extensions import db
from core.models import ApiKey
from core.models import User
from core.provisioning import api_keys
from core.security import authenticate_api_key
from core.security import hash_token
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in

SECRET = re.compile(r'id="secret-value">(gh_[A-Za-z0-9_-]+)<')


def create_key(
    client: FlaskClient, name: str = "okta", kind: str = "organization"
) -> str:
    response = client.post(
        "/api-keys", data={"name": name, "kind": kind, "scopes": "scim"}
    )
    assert response.status_code == 201, response.text
    match = SECRET.search(response.text)
    assert match
    return match.group(1)


def key_row(app: Flask, secret: str) -> dict[str, object] | None:
    with app.app_context():
        key = db.session.execute(
            db.select(ApiKey).filter_by(secret_hash=hash_token(secret))
        ).scalar_one_or_none()
        if key is None:
            return None
        return {
            column.key: getattr(key, column.key) for column in ApiKey.__table__.columns
        }


def authenticate(app: Flask, secret: str, scope: str = "scim") -> int | None:
    with app.app_context():
        key = authenticate_api_key(secret, scope)
        return key.id if key else None


def test_secret_is_shown_once_and_stored_only_as_hash(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    secret = create_key(owner_client)
    row = key_row(app, secret)
    assert row is not None
    assert row["user_id"] is None and row["organization_id"] == org.id
    assert secret not in " ".join(str(value) for value in row.values())
    assert row["prefix"] == secret[:10]
    listing = owner_client.get("/api-keys").text
    assert secret not in listing
    assert secret[:10] in listing


def test_key_authenticates_and_records_last_use(
    app: Flask, owner_client: FlaskClient
) -> None:
    secret = create_key(owner_client)
    assert "never" in owner_client.get("/api-keys").text
    assert authenticate(app, secret) is not None
    assert key_row(app, secret)["last_used_at"] is not None  # type: ignore[index]
    assert "never" not in owner_client.get("/api-keys").text
    assert authenticate(app, secret, scope="admin") is None
    assert authenticate(app, secret + "x") is None
    assert authenticate(app, "") is None


def test_revoked_key_is_refused(app: Flask, owner_client: FlaskClient) -> None:
    secret = create_key(owner_client)
    key_id = key_row(app, secret)["id"]  # type: ignore[index]
    response = owner_client.post(f"/api-keys/{key_id}/revoke")
    assert response.status_code == 302
    assert authenticate(app, secret) is None
    assert "revoked" in owner_client.get("/api-keys").text


def test_personal_key_acts_with_its_holders_role_and_status_now(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    mia = make_user(app, org.id, "mia@acme.test", role="admin")
    client = app.test_client()
    sign_in(client, "mia@acme.test")
    secret = create_key(client, kind="personal")
    assert key_row(app, secret)["user_id"] == mia  # type: ignore[index]
    assert authenticate(app, secret) is not None
    owner_client.post(f"/members/{mia}/status", data={"status": "inactive"})
    assert authenticate(app, secret) is None
    owner_client.post(f"/members/{mia}/status", data={"status": "active"})
    assert authenticate(app, secret) is not None
    # Demoted to member: her scim key stops at once; promoted again, it works.
    owner_client.post(f"/members/{mia}/role", data={"role": "member"})
    assert authenticate(app, secret) is None
    assert "Stopped working" in owner_client.get("/api-keys").text
    owner_client.post(f"/members/{mia}/role", data={"role": "admin"})
    assert authenticate(app, secret) is not None


def test_a_member_can_create_no_key_and_the_form_offers_none(
    app: Flask, org: OrgInfo
) -> None:
    make_user(app, org.id, "mia@acme.test")
    client = app.test_client()
    sign_in(client, "mia@acme.test")
    page = client.get("/api-keys").text
    assert 'id="no-key-for-you"' in page and 'value="scim"' not in page
    for kind in ("organization", "personal"):
        response = client.post(
            "/api-keys", data={"name": "x", "kind": kind, "scopes": "scim"}
        )
        assert response.status_code == 403
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(ApiKey.id))).scalar() == 0


def test_member_sees_and_revokes_only_own_keys(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    org_secret = create_key(owner_client, name="org key")
    mia_id = make_user(app, org.id, "mia@acme.test", role="admin")
    mia = app.test_client()
    sign_in(mia, "mia@acme.test")
    own = create_key(mia, name="mia key", kind="personal")
    owner_client.post(f"/members/{mia_id}/role", data={"role": "member"})
    page = mia.get("/api-keys").text
    assert "mia key" in page and "org key" not in page
    org_key_id = key_row(app, org_secret)["id"]  # type: ignore[index]
    assert mia.post(f"/api-keys/{org_key_id}/revoke").status_code == 404
    assert authenticate(app, org_secret) is not None
    owner_client.post(f"/members/{mia_id}/role", data={"role": "admin"})
    # Admins see and may revoke every key of the organization, personal ones too.
    assert "mia key" in owner_client.get("/api-keys").text
    own_id = key_row(app, own)["id"]  # type: ignore[index]
    assert owner_client.post(f"/api-keys/{own_id}/revoke").status_code == 302
    assert authenticate(app, own) is None


def test_keys_of_another_org_are_invisible(
    app: Flask, owner_client: FlaskClient
) -> None:
    globex = make_org(app, "Globex")
    with app.app_context():
        org = db.session.get(User, globex.owner_id).organization
        key, secret = api_keys.create_api_key(
            org, name="globex okta", scopes=["scim"], actor="cli"
        )
        key_id = key.id
    assert "globex okta" not in owner_client.get("/api-keys").text
    assert owner_client.post(f"/api-keys/{key_id}/revoke").status_code == 404
    assert authenticate(app, secret) is not None


def test_create_refuses_bad_input(app: Flask, owner_client: FlaskClient) -> None:
    for data in (
        {"name": "", "kind": "organization", "scopes": "scim"},
        {"name": "x", "kind": "organization", "scopes": "root"},
        {"name": "x", "kind": "organization"},
        {"name": "x" * 101, "kind": "organization", "scopes": "scim"},
    ):
        assert owner_client.post("/api-keys", data=data).status_code == 400
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(ApiKey.id))).scalar() == 0


def test_key_changes_are_audited(owner_client: FlaskClient) -> None:
    create_key(owner_client)
    page = owner_client.get("/audit").text
    assert "api_key.created" in page
