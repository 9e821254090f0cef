"""The `flask` commands: org create / set-plan / list, apikey create.

Each command is run through Click's test runner (the `runner` fixture), and once
more as the real `flask` executable, exactly as an administrator types it.
Every bad input must exit non-zero with a clear message and change nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskCliRunner

import default_config
from app import create_app
from core.extensions import db
from core.models import ApiKey
from core.models import AuditEvent
from core.models import Organization
from core.models import User
from core.security import authenticate_api_key
from core.security import verify_password
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.constants import PASSWORD
from tests.support.constants import REPO
from tests.support.rows import snapshot

SECRET_LINE = re.compile(r"gh_[A-Za-z0-9_-]{40,}")


# -- helpers -------------------------------------------------------------------


def org_create(runner: FlaskCliRunner, name: str = "Initech", *extra: str) -> Result:
    return runner.invoke(
        args=[
            "org",
            "create",
            name,
            "--owner-email",
            "peter@initech.test",
            "--owner-password",
            PASSWORD,
            *extra,
        ]
    )


def audit_events(app: Flask, kind: str) -> list[dict[str, Any]]:
    with app.app_context():
        events = db.session.execute(
            db.select(AuditEvent).filter_by(kind=kind).order_by(AuditEvent.id)
        ).scalars()
        return [
            {
                "organization_id": event.organization_id,
                "actor": event.actor,
                "actor_user_id": event.actor_user_id,
                "target": event.target,
                "details": event.details,
            }
            for event in events
        ]


def org_plan(app: Flask, name: str) -> str:
    with app.app_context():
        return db.session.execute(
            db.select(Organization.plan).filter_by(name=name)
        ).scalar_one()


def assert_refused(result: Result, message: str, exit_code: int = 1) -> None:
    """The command failed with `exit_code` and said `message` on stderr."""
    assert result.exit_code == exit_code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def last_line(result: Result) -> str:
    return result.stdout.rstrip("\n").splitlines()[-1]


# -- flask org create ----------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "plan"),
    [
        ([], "free"),
        (["--plan", "pro"], "pro"),
        (["--plan", "enterprise"], "enterprise"),
    ],
)
def test_org_create_makes_the_organization_and_its_owner(
    app: Flask, runner: FlaskCliRunner, extra: list[str], plan: str
) -> None:
    result = org_create(runner, "Initech", *extra)
    assert result.exit_code == 0, result.output
    assert "Initech" in result.stdout and "peter@initech.test" in result.stdout
    assert result.stderr == ""
    with app.app_context():
        org = db.session.execute(db.select(Organization)).scalar_one()
        owner = db.session.execute(db.select(User)).scalar_one()
        assert (org.name, org.plan) == ("Initech", plan)
        assert owner.organization_id == org.id
        assert (owner.email, owner.role, owner.status) == (
            "peter@initech.test",
            "owner",
            "active",
        )
        assert owner.password_hash and PASSWORD not in owner.password_hash
        assert owner.password_hash.startswith("$argon2id$")
        assert verify_password(owner.password_hash, PASSWORD)
        assert not verify_password(owner.password_hash, PASSWORD + "!")


def test_org_create_owner_can_sign_in(app: Flask, runner: FlaskCliRunner) -> None:
    assert org_create(runner).exit_code == 0
    response = app.test_client().post(
        "/login", data={"email": "peter@initech.test", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/members"


def test_org_create_is_audited_as_cli(app: Flask, runner: FlaskCliRunner) -> None:
    assert org_create(runner, "Initech", "--plan", "pro").exit_code == 0
    [event] = audit_events(app, "organization.created")
    with app.app_context():
        org_id = db.session.execute(db.select(Organization.id)).scalar_one()
    assert event["organization_id"] == org_id
    assert (event["actor"], event["actor_user_id"]) == ("cli", None)
    assert event["target"] == "Initech"
    assert event["details"]["plan"] == "pro"
    assert PASSWORD not in repr(event)


@pytest.mark.parametrize("name", ["Acme", "ACME", "acme", "  Acme  "])
def test_org_create_refuses_a_taken_name_in_any_case(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo, name: str
) -> None:
    before = snapshot(app)
    result = org_create(runner, name)
    assert_refused(result, "already exists")
    assert snapshot(app) == before


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("not-an-email", "not a valid email address"),
        ("peter@", "not a valid email address"),
        ("@initech.test", "not a valid email address"),
        ("", "not a valid email address"),
    ],
)
def test_org_create_refuses_an_invalid_email(
    app: Flask, runner: FlaskCliRunner, email: str, message: str
) -> None:
    before = snapshot(app)
    result = runner.invoke(
        args=[
            "org",
            "create",
            "Initech",
            "--owner-email",
            email,
            "--owner-password",
            PASSWORD,
        ]
    )
    assert_refused(result, message)
    assert snapshot(app) == before


@pytest.mark.parametrize("password", ["", "short", "123456789"])
def test_org_create_refuses_a_weak_password(
    app: Flask, runner: FlaskCliRunner, password: str
) -> None:
    before = snapshot(app)
    result = runner.invoke(
        args=[
            "org",
            "create",
            "Initech",
            "--owner-email",
            "peter@initech.test",
            "--owner-password",
            password,
        ]
    )
    assert_refused(result, "at least 10 characters")
    assert snapshot(app) == before


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Enter the organization's name"),
        ("   ", "Enter the organization's name"),
        ("x" * 101, "at most 100 characters"),
        ("Bad\nName", "control or line-separator characters"),
    ],
)
def test_org_create_refuses_a_bad_name(
    app: Flask, runner: FlaskCliRunner, name: str, message: str
) -> None:
    before = snapshot(app)
    assert_refused(org_create(runner, name), message)
    assert snapshot(app) == before


@pytest.mark.parametrize("plan", ["gold", "PRO ", ""])
def test_org_create_refuses_an_unknown_plan(
    app: Flask, runner: FlaskCliRunner, plan: str
) -> None:
    before = snapshot(app)
    result = org_create(runner, "Initech", "--plan", plan)
    assert_refused(result, "Invalid value for '--plan'", exit_code=2)
    assert "free" in result.stderr and "enterprise" in result.stderr
    assert snapshot(app) == before


@pytest.mark.parametrize("missing", ["--owner-email", "--owner-password"])
def test_org_create_requires_the_owner_options(
    app: Flask, runner: FlaskCliRunner, missing: str
) -> None:
    args = {"--owner-email": "peter@initech.test", "--owner-password": PASSWORD}
    del args[missing]
    before = snapshot(app)
    result = runner.invoke(
        args=["org", "create", "Initech", *[x for kv in args.items() for x in kv]]
    )
    assert_refused(result, f"Missing option '{missing}'", exit_code=2)
    assert snapshot(app) == before


# -- flask org set-plan --------------------------------------------------------


@pytest.mark.parametrize("name", ["Acme", "acme", "ACME"])
def test_set_plan_changes_the_plan_whatever_the_case(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo, name: str
) -> None:
    assert org_plan(app, "Acme") == "pro"
    result = runner.invoke(args=["org", "set-plan", name, "enterprise"])
    assert result.exit_code == 0, result.output
    assert "pro -> enterprise" in result.stdout
    assert org_plan(app, "Acme") == "enterprise"


def test_set_plan_touches_only_the_named_organization(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    make_org(app, "Globex", plan="pro")
    assert runner.invoke(args=["org", "set-plan", "globex", "free"]).exit_code == 0
    assert (org_plan(app, "Acme"), org_plan(app, "Globex")) == ("pro", "free")


def test_set_plan_is_audited_as_cli(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    assert runner.invoke(args=["org", "set-plan", "acme", "free"]).exit_code == 0
    [event] = audit_events(app, "organization.plan_changed")
    assert event["organization_id"] == org.id
    assert (event["actor"], event["actor_user_id"]) == ("cli", None)
    assert event["target"] == "Acme"
    assert (event["details"]["before"], event["details"]["after"]) == ("pro", "free")


def test_set_plan_refuses_an_unknown_organization(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    before = snapshot(app)
    result = runner.invoke(args=["org", "set-plan", "Globex", "enterprise"])
    assert_refused(result, "No organization named 'Globex'")
    assert snapshot(app) == before


@pytest.mark.parametrize("plan", ["gold", "Enterprise", ""])
def test_set_plan_refuses_an_unknown_plan(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo, plan: str
) -> None:
    before = snapshot(app)
    result = runner.invoke(args=["org", "set-plan", "Acme", plan])
    assert_refused(result, "is not one of 'free', 'pro', 'enterprise'", exit_code=2)
    assert snapshot(app) == before


# -- flask org list ------------------------------------------------------------


def test_org_list_shows_name_plan_and_member_count(
    app: Flask, runner: FlaskCliRunner
) -> None:
    make_org(app, "Globex", plan="free")
    make_org(app, "acme corp", plan="enterprise")
    assert org_create(runner, "Initech", "--plan", "pro").exit_code == 0
    result = runner.invoke(args=["org", "list"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "acme corp\tenterprise\t1 members",
        "Globex\tfree\t1 members",
        "Initech\tpro\t1 members",
    ]


def test_org_list_of_an_empty_install_prints_nothing(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["org", "list"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


# -- flask apikey create -------------------------------------------------------


def apikey_create(runner: FlaskCliRunner, *args: str) -> Result:
    return runner.invoke(args=["apikey", "create", *args])


def key_rows(app: Flask) -> list[dict[str, Any]]:
    with app.app_context():
        keys = db.session.execute(db.select(ApiKey).order_by(ApiKey.id)).scalars()
        return [
            {
                column.key: getattr(key, column.key)
                for column in ApiKey.__table__.columns
            }
            for key in keys
        ]


@pytest.mark.parametrize(
    ("extra", "label"), [([], "CLI key"), (["--name", "Okta SCIM"], "Okta SCIM")]
)
def test_apikey_create_prints_the_secret_alone_on_the_last_line(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo, extra: list[str], label: str
) -> None:
    result = apikey_create(runner, "--org", "acme", "--scope", "scim", *extra)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    secret = last_line(result)
    assert SECRET_LINE.fullmatch(secret), secret
    # The secret appears only on that last line.
    assert result.stdout.count(secret) == 1
    [row] = key_rows(app)
    assert row["name"] == label
    assert row["organization_id"] == org.id
    assert row["user_id"] is None and row["created_by_id"] is None
    assert row["scopes"] == "scim"
    assert row["revoked_at"] is None and row["last_used_at"] is None


def test_apikey_secret_is_stored_only_as_its_sha256(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    result = apikey_create(runner, "--org", "Acme", "--scope", "scim")
    secret = last_line(result)
    [row] = key_rows(app)
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret.startswith(row["prefix"]) and len(row["prefix"]) < len(secret) // 2
    # Not in any column of api_key, nor anywhere else in the database.
    random_part = secret[len(row["prefix"]) :]
    for table, rows in snapshot(app).items():
        for values in rows:
            for value in values:
                assert random_part not in str(value), table
    with app.app_context():
        database_path = Path(db.engine.url.database or "")
    for path in database_path.parent.glob(database_path.name + "*"):
        assert random_part.encode() not in path.read_bytes(), path


def test_apikey_secret_authenticates_for_its_scope(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    secret = last_line(apikey_create(runner, "--org", "ACME", "--scope", "scim"))
    with app.app_context():
        key = authenticate_api_key(secret, "scim")
        assert key is not None
        assert key.organization_id == org.id
        assert key.last_used_at is not None
        assert authenticate_api_key(secret[:-1], "scim") is None
        assert authenticate_api_key(secret, "admin") is None


def test_apikey_create_is_audited_as_cli_without_the_secret(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    result = apikey_create(runner, "--org", "acme", "--scope", "scim", "--name", "okta")
    secret = last_line(result)
    [event] = audit_events(app, "api_key.created")
    assert event["organization_id"] == org.id
    assert (event["actor"], event["actor_user_id"]) == ("cli", None)
    assert event["target"].startswith("okta")
    assert event["details"]["scopes"] == "scim"
    assert event["details"]["key_kind"] == "organization"
    assert secret[10:] not in repr(event)


def test_apikey_create_refuses_an_unknown_organization(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    before = snapshot(app)
    result = apikey_create(runner, "--org", "Globex", "--scope", "scim")
    assert_refused(result, "No organization named 'Globex'")
    assert "gh_" not in result.output
    assert snapshot(app) == before
    assert key_rows(app) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "admin"], "Invalid value for '--scope'"),
        (["--scope", "SCIM"], "Invalid value for '--scope'"),
        ([], "Missing option '--scope'"),
    ],
)
def test_apikey_create_refuses_a_bad_scope(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo, args: list[str], message: str
) -> None:
    before = snapshot(app)
    result = apikey_create(runner, "--org", "Acme", *args)
    assert_refused(result, message, exit_code=2)
    assert "gh_" not in result.output
    assert snapshot(app) == before


@pytest.mark.parametrize("label", ["", "   ", "x" * 101])
def test_apikey_create_refuses_a_bad_name(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo, label: str
) -> None:
    before = snapshot(app)
    result = apikey_create(runner, "--org", "Acme", "--scope", "scim", "--name", label)
    assert_refused(result, "1 to 100 characters")
    assert "gh_" not in result.output
    assert snapshot(app) == before


def test_apikey_create_requires_the_org(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    before = snapshot(app)
    result = apikey_create(runner, "--scope", "scim")
    assert_refused(result, "Missing option '--org'", exit_code=2)
    assert snapshot(app) == before


# -- the real `flask` executable -----------------------------------------------


def flask_env(instance: Path) -> dict[str, str]:
    """The caller's environment, minus any Gatehouse setting, plus the instance."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not (name.isupper() and hasattr(default_config, name))
        and name not in ("SECRET_KEY", "FLASK_APP", "FLASK_DEBUG")
    }
    env["GATEHOUSE_INSTANCE"] = str(instance)
    return env


def run_flask(instance: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flask = Path(sys.executable).with_name("flask")
    assert flask.exists(), f"{flask} is missing: is the virtualenv installed?"
    return subprocess.run(
        [str(flask), *args],
        cwd=REPO,
        env=flask_env(instance),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_commands_work_as_typed_in_a_shell(tmp_path: Path) -> None:
    instance = tmp_path / "instance"

    migrated = run_flask(instance, "db", "upgrade")
    assert migrated.returncode == 0, migrated.stderr
    assert (instance / "gatehouse.sqlite").exists()
    assert (instance / "secret_key").stat().st_mode & 0o777 == 0o600

    # A migrated but empty database: other commands must not print the setup code.
    empty = run_flask(instance, "org", "list")
    assert (empty.returncode, empty.stdout) == (0, "")
    assert "setup code" not in empty.stderr

    created = run_flask(
        instance,
        "org",
        "create",
        "Initech",
        "--owner-email",
        "peter@initech.test",
        "--owner-password",
        PASSWORD,
        "--plan",
        "pro",
    )
    assert created.returncode == 0, created.stderr
    assert "Initech" in created.stdout

    again = run_flask(
        instance,
        "org",
        "create",
        "INITECH",
        "--owner-email",
        "bob@initech.test",
        "--owner-password",
        PASSWORD,
    )
    assert again.returncode == 1
    assert "Error:" in again.stderr and "already exists" in again.stderr
    assert "Traceback" not in again.stderr

    upgraded = run_flask(instance, "org", "set-plan", "initech", "enterprise")
    assert upgraded.returncode == 0, upgraded.stderr

    key = run_flask(instance, "apikey", "create", "--org", "Initech", "--scope", "scim")
    assert key.returncode == 0, key.stderr
    secret = key.stdout.rstrip("\n").splitlines()[-1]
    assert SECRET_LINE.fullmatch(secret), key.stdout

    missing = run_flask(
        instance, "apikey", "create", "--org", "Nope", "--scope", "scim"
    )
    assert missing.returncode == 1
    assert "No organization named 'Nope'" in missing.stderr
    assert "gh_" not in missing.stdout + missing.stderr

    listed = run_flask(instance, "org", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == ["Initech\tenterprise\t1 members"]

    # The key printed by the command opens the API, read back by a fresh app.
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(instance)})
    try:
        with app.app_context():
            found = authenticate_api_key(secret, "scim")
            assert found is not None and found.organization.name == "Initech"
            kinds = db.session.execute(
                db.select(AuditEvent.kind, AuditEvent.actor).order_by(AuditEvent.id)
            ).all()
            assert [tuple(row) for row in kinds] == [
                ("organization.created", "cli"),
                ("organization.plan_changed", "cli"),
                ("api_key.created", "cli"),
            ]
    finally:
        with app.app_context():
            db.engine.dispose()
