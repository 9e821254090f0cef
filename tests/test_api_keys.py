"""API keys: creation, the secret shown once, hashing, revocation, refusal rules."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner
from sqlalchemy.exc import IntegrityError

from core.authority import Conflict
from core.extensions import db
from core.models import ApiKey
from core.models import Organization
from core.models import User
from core.models import fold
from core.provisioning import api_keys
from core.security import authenticate_api_key
from core.security import hash_token
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.migrations import keep_logging  # noqa: F401 (autouse)
from tests.support.rows import snapshot

SECRET = re.compile(r'id="secret-value">(gh_[A-Za-z0-9_-]+)<')


def create_key(
    client: FlaskClient, name: str = "okta", kind: str = "organization"
) -> str:
    response = client.post(
        "/api-keys", data={"name": name, "kind": kind, "scopes": "scim"}
    )
    assert response.status_code == 303, response.text
    match = SECRET.search(client.get(response.headers["Location"]).text)
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


# -- names: unique among the live keys of one owner ------------------------------------


def key_names(app: Flask) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.execute(
            db.select(ApiKey.name, ApiKey.name_key).order_by(ApiKey.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_a_name_that_folds_alike_is_refused_and_changes_nothing(
    app: Flask, org: OrgInfo
) -> None:
    with app.app_context():
        acme = db.session.get(Organization, org.id)
        api_keys.create_api_key(acme, name="Café", scopes=["scim"], actor="cli")
    before = snapshot(app)
    for name in ("café", "CAFÉ", "Cafe\u0301", " café "):
        with app.app_context():
            acme = db.session.get(Organization, org.id)
            with pytest.raises(Conflict, match="already has a key named"):
                api_keys.create_api_key(acme, name=name, scopes=["scim"], actor="cli")
    assert snapshot(app) == before
    assert key_names(app) == [("Café", "café")]


def test_the_index_refuses_a_duplicate_that_skips_provisioning(
    app: Flask, org: OrgInfo
) -> None:
    """What settles two creations at once: the database, not a check in Python."""
    with app.app_context():
        for secret in ("a", "b"):
            db.session.add(
                ApiKey(
                    organization_id=org.id,
                    name="Okta" if secret == "a" else "OKTA",
                    prefix="gh_x",
                    secret_hash=hash_token(secret),
                    scopes="scim",
                )
            )
        with pytest.raises(IntegrityError, match="name_key"):
            db.session.commit()


def run_cli(runner: FlaskCliRunner, *args: str) -> Result:
    return runner.invoke(
        args=["apikey", "create", "--org", "Acme", "--scope", "scim", *args]
    )


def test_cli_refuses_a_duplicate_name_clearly(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    assert run_cli(runner, "--name", "Okta provisioning").exit_code == 0
    before = snapshot(app)
    result = run_cli(runner, "--name", "OKTA PROVISIONING")
    assert result.exit_code == 1, result.output
    assert (
        "This organization already has a key named “OKTA PROVISIONING”."
        in result.stderr
    )
    assert "Traceback" not in result.output and "gh_" not in result.output
    assert snapshot(app) == before


def test_cli_without_a_name_numbers_its_default(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    for _run in range(3):
        assert run_cli(runner).exit_code == 0
    assert [name for name, _key in key_names(app)] == [
        "CLI key",
        "CLI key (2)",
        "CLI key (3)",
    ]


def test_a_personal_key_may_share_a_name_with_an_organization_key(
    app: Flask, org: OrgInfo
) -> None:
    with app.app_context():
        acme = db.session.get(Organization, org.id)
        owner = db.session.get(User, org.owner_id)
        api_keys.create_api_key(acme, name="Okta", scopes=["scim"], actor="cli")
        api_keys.create_api_key(
            acme, name="okta", scopes=["scim"], user=owner, actor=owner
        )
        with pytest.raises(Conflict, match="You already have a key named “OKTA”"):
            api_keys.create_api_key(
                acme, name="OKTA", scopes=["scim"], user=owner, actor=owner
            )
    assert len(key_names(app)) == 2


# -- migration 0008: existing duplicates get numbers ---------------------------------


KEY_ROWS = [
    # (id, organization, holder, name, revoked)
    (1, 1, None, "Okta", False),
    (2, 1, None, "okta", False),  # "okta (2)" is taken by key 3: "okta (3)"
    (3, 1, None, "Okta (2)", False),
    (4, 1, None, "OKTA", False),  # (2) and (3) taken: "OKTA (4)"
    (5, 1, None, "okta", True),  # revoked: keeps its name
    (6, 1, 1, "Okta", False),  # the owner's personal key: another scope
    (7, 1, 1, "okta", False),
    (8, 2, None, "Okta", False),  # another organization
    (9, 1, None, "x" * 100, False),
    (10, 1, None, "X" * 100, False),  # shortened to fit the number
]


def insert_0007_rows(app: Flask) -> None:
    """Two organizations, an owner, and KEY_ROWS, as the schema of 0007 has them."""
    now = "2026-01-01 00:00:00"
    with app.app_context():
        for org_id, name in ((1, "Acme"), (2, "Globex")):
            db.session.execute(
                sa.text(
                    "INSERT INTO organization (id, name, name_key, plan, created_at)"
                    " VALUES (:id, :name, :key, 'pro', :now)"
                ),
                {"id": org_id, "name": name, "key": name.lower(), "now": now},
            )
        db.session.execute(
            sa.text(
                'INSERT INTO "user" (id, organization_id, email, email_key,'
                " user_name, user_name_key, given_name, family_name, display_name,"
                " name_key, role, status, source, scim_managed, email_from_okta,"
                " created_at, updated_at, version) VALUES (1, 1, 'o@acme.test',"
                " 'o@acme.test', 'o@acme.test', 'o@acme.test', '', '', '', '',"
                " 'owner', 'active', 'local', false, false, :now, :now, 1)"
            ),
            {"now": now},
        )
        for key_id, org_id, user_id, name, revoked in KEY_ROWS:
            db.session.execute(
                sa.text(
                    "INSERT INTO api_key (id, organization_id, user_id, name,"
                    " prefix, secret_hash, scopes, created_at, revoked_at,"
                    " created_by_label, role) VALUES (:id, :org, :user, :name,"
                    " 'gh_x', :hash, 'scim', :now, :revoked, '', :role)"
                ),
                {
                    "id": key_id,
                    "org": org_id,
                    "user": user_id,
                    "name": name,
                    "hash": hash_token(str(key_id)),
                    "now": now,
                    "revoked": now if revoked else None,
                    "role": None if user_id else "admin",
                },
            )
        db.session.commit()


def test_0008_numbers_live_duplicates_oldest_first(empty_app: Flask) -> None:
    runner = empty_app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade", "0007"]).exit_code == 0
    insert_0007_rows(empty_app)

    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output

    names = dict(key_names_by_id(empty_app))
    assert names == {
        1: "Okta",
        2: "okta (3)",
        3: "Okta (2)",
        4: "OKTA (4)",
        5: "okta",
        6: "Okta",
        7: "okta (2)",
        8: "Okta",
        9: "x" * 100,
        10: "X" * 96 + " (2)",
    }
    assert "api key 2: " in result.output and "api key 5: " not in result.output
    with empty_app.app_context():
        keys = db.session.execute(db.select(ApiKey.name, ApiKey.name_key)).all()
        assert all(key == fold(name) for name, key in keys)
        # From now on the index keeps them apart.
        db.session.add(
            ApiKey(
                organization_id=1,
                name="OKTA (3)",
                prefix="gh_y",
                secret_hash=hash_token("new"),
                scopes="scim",
            )
        )
        with pytest.raises(IntegrityError):
            db.session.commit()


def key_names_by_id(app: Flask) -> list[tuple[int, str]]:
    with app.app_context():
        rows = db.session.execute(db.select(ApiKey.id, ApiKey.name).order_by(ApiKey.id))
        return [tuple(row) for row in rows]  # type: ignore[misc]
