"""Migrations build the whole schema from an empty database, exactly as modelled."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy.exc import IntegrityError

from core.extensions import db
from core.models import ApiKey
from core.models import GroupMember
from core.models import Organization
from core.models import User
from core.models import search
from core.sso import sso_available
from tests.support import databases
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.constants import PASSWORD
from tests.support.migrations import head_revision
from tests.support.migrations import keep_logging  # noqa: F401 (autouse)


def table_names(app: Flask) -> set[str]:
    """The tables in the database, but SQLite's search index (no model has it)."""
    with app.app_context(), db.engine.connect() as connection:
        return set(sa.inspect(connection).get_table_names()) - search.SQLITE_TABLES


def test_empty_database_has_no_tables(empty_app: Flask) -> None:
    assert table_names(empty_app) == set()


def test_upgrade_creates_every_table(empty_app: Flask) -> None:
    runner: FlaskCliRunner = empty_app.test_cli_runner()
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert table_names(empty_app) == set(db.metadata.tables) | {"alembic_version"}
    with empty_app.app_context():
        version = db.session.execute(
            sa.text("SELECT version_num FROM alembic_version")
        ).scalar_one()
    assert version == head_revision(empty_app)


def test_upgrade_leaves_the_app_logger_working(empty_app: Flask) -> None:
    loggers = [empty_app.logger, logging.getLogger("werkzeug")]  # exist beforehand
    result = empty_app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert [logger.disabled for logger in loggers] == [False, False]


def test_there_is_a_single_head(empty_app: Flask) -> None:
    with empty_app.app_context():
        config = empty_app.extensions["migrate"].migrate.get_config()
        assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_migrated_schema_matches_the_models(migrated_app: Flask) -> None:
    with migrated_app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                **search.schema_filters(connection.dialect.name),
            },
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_upgrade_twice_is_harmless(migrated_app: Flask) -> None:
    make_org(migrated_app)
    result = migrated_app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    with migrated_app.app_context():
        assert db.session.execute(sa.select(sa.func.count(Organization.id))).scalar()


def test_downgrade_to_base_then_upgrade_again(migrated_app: Flask) -> None:
    runner = migrated_app.test_cli_runner()
    result = runner.invoke(args=["db", "downgrade", "base"])
    assert result.exit_code == 0, result.output
    assert table_names(migrated_app) <= {"alembic_version"}
    result = runner.invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert table_names(migrated_app) == set(db.metadata.tables) | {"alembic_version"}


def test_migrated_database_works_with_the_app(migrated_app: Flask) -> None:
    org = make_org(migrated_app)
    response = migrated_app.test_client().post(
        "/login",
        data={"email": org.owner_email, "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/members"


# -- SQLite settings on every connection ----------------------------------------

sqlite_only = pytest.mark.skipif(
    databases.ON_POSTGRES, reason="SQLite connection settings (PRAGMA)"
)


def pragma(name: str) -> object:
    return db.session.execute(sa.text(f"PRAGMA {name}")).scalar()


@sqlite_only
def test_sqlite_pragmas_on_a_live_connection(migrated_app: Flask) -> None:
    with migrated_app.app_context():
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        busy_timeout = pragma("busy_timeout")
        assert isinstance(busy_timeout, int) and busy_timeout > 0


@sqlite_only
def test_sqlite_pragmas_on_every_pooled_connection(migrated_app: Flask) -> None:
    with migrated_app.app_context():
        connections = [db.engine.connect() for _ in range(3)]
        try:
            for connection in connections:
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                busy = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
                assert busy is not None and busy > 0
        finally:
            for connection in connections:
                connection.close()


@pytest.mark.parametrize(
    "row",
    [
        lambda: User(
            organization_id=999,
            email="x@acme.test",
            email_key="x@acme.test",
            user_name="x@acme.test",
            user_name_key="x@acme.test",
            given_name="",
            family_name="",
            display_name="",
            name_key="",
            role="member",
            status="active",
            source="local",
            scim_managed=False,
        ),
        lambda: GroupMember(group_id=999, user_id=999),
        lambda: ApiKey(
            organization_id=999,
            name="k",
            prefix="gh_x",
            secret_hash="0" * 64,
            scopes="scim",
        ),
    ],
    ids=["user", "group_member", "api_key"],
)
def test_a_dangling_foreign_key_is_refused(
    migrated_app: Flask, row: Callable[[], object]
) -> None:
    make_org(migrated_app)
    with migrated_app.app_context():
        before = {
            table.name: db.session.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar()
            for table in db.metadata.sorted_tables
        }
        db.session.add(row())
        with pytest.raises(IntegrityError, match="(?i)FOREIGN KEY"):
            db.session.commit()
        db.session.rollback()
        after = {
            table.name: db.session.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar()
            for table in db.metadata.sorted_tables
        }
        assert after == before


def test_deleting_an_organization_cascades_to_its_users(migrated_app: Flask) -> None:
    org = make_org(migrated_app)
    make_user(migrated_app, org.id, "mia@acme.test")
    other = make_org(migrated_app, "Globex")
    with migrated_app.app_context():
        db.session.execute(sa.delete(Organization).filter_by(id=org.id))
        db.session.commit()
        owners = db.session.execute(sa.select(User.organization_id)).scalars().all()
        assert owners == [other.id]


# -- PostgreSQL DDL ----------------------------------------------------------------


@pytest.mark.skipif(not databases.ON_POSTGRES, reason="PostgreSQL column types")
def test_every_timestamp_is_timezone_aware_on_postgres(migrated_app: Flask) -> None:
    with migrated_app.app_context(), db.engine.connect() as connection:
        inspector = sa.inspect(connection)
        naive = [
            f"{table.name}.{column['name']}"
            for table in db.metadata.sorted_tables
            for column in inspector.get_columns(table.name)
            if isinstance(column["type"], sa.DateTime) and not column["type"].timezone
        ]
    assert naive == []


def test_timestamps_keep_their_instant_whatever_the_session_time_zone(
    migrated_app: Flask,
) -> None:
    org = make_org(migrated_app)
    with migrated_app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(sa.text("SET TIME ZONE 'Pacific/Auckland'"))
        stored = db.session.get(Organization, org.id).created_at
        db.session.remove()
    with migrated_app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(sa.text("SET TIME ZONE 'America/Los_Angeles'"))
        again = db.session.get(Organization, org.id).created_at
    assert stored.utcoffset() == again.utcoffset() == timedelta(0)
    assert stored == again


def test_0006_rekeys_emails_and_names_and_leaves_collisions(
    empty_app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rows keyed the old way (a plain case fold) get the new keys; a row whose
    new key another row already holds keeps its old one (an admin merges them)."""
    runner = empty_app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade", "0005"]).exit_code == 0
    nfd = "jose\u0301@acme.test"
    now = "2026-01-01 00:00:00"
    with empty_app.app_context():
        db.session.execute(
            sa.text(
                "INSERT INTO organization (id, name, name_key, plan, created_at)"
                " VALUES (1, 'Acme', 'acme', 'pro', :now)"
            ),
            {"now": now},
        )
        for user_id, email in (
            (1, nfd),  # decomposed é: its new key is the composed form
            (2, "ann@\uff41cme.test"),  # full-width a: the key maps the domain
            (3, "ann@acme.test"),  # holds the key user 2 would get
        ):
            db.session.execute(
                sa.text(
                    'INSERT INTO "user" (id, organization_id, email, email_key,'
                    " user_name, user_name_key, given_name, family_name,"
                    " display_name, name_key, role, status, source, scim_managed,"
                    " email_from_okta, created_at, updated_at) VALUES (:id, 1,"
                    " :email, :key, :email, :key, '', '', '', '', 'member',"
                    " 'active', 'local', false, false, :now, :now)"
                ),
                {"id": user_id, "email": email, "key": email.casefold(), "now": now},
            )
        db.session.commit()

    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0

    with empty_app.app_context():
        keys = dict(
            db.session.execute(sa.text('SELECT id, email_key FROM "user"')).all()
        )
        names = dict(
            db.session.execute(sa.text('SELECT id, user_name_key FROM "user"')).all()
        )
    assert keys[1] == "jos\u00e9@acme.test" and names[1] == "jos\u00e9@acme.test"
    assert keys[3] == "ann@acme.test"
    assert keys[2] == "ann@\uff41cme.test"  # would collide with user 3: kept


def test_0007_gives_existing_users_and_groups_version_1(empty_app: Flask) -> None:
    """Rows made before 0007 start at version 1 (their SCIM ETag W/"1") and get
    a new version at their next change."""
    runner = empty_app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade", "0006"]).exit_code == 0
    now = "2026-01-01 00:00:00"
    with empty_app.app_context():
        for statement in (
            "INSERT INTO organization (id, name, name_key, plan, created_at)"
            " VALUES (1, 'Acme', 'acme', 'pro', :now)",
            'INSERT INTO "user" (id, organization_id, email, email_key, user_name,'
            " user_name_key, given_name, family_name, display_name, name_key, role,"
            " status, source, scim_managed, email_from_okta, created_at, updated_at)"
            " VALUES (1, 1, 'ann@acme.test', 'ann@acme.test', 'ann@acme.test',"
            " 'ann@acme.test', '', '', '', '', 'member', 'active', 'scim', true,"
            " false, :now, :now)",
            'INSERT INTO "group" (id, organization_id, display_name,'
            " display_name_key, scim_managed, created_at, updated_at)"
            " VALUES (1, 1, 'Eng', 'eng', true, :now, :now)",
        ):
            db.session.execute(sa.text(statement), {"now": now})
        db.session.commit()

    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0

    with empty_app.app_context():
        for table in ("user", "group"):
            versions = db.session.execute(
                sa.text(f'SELECT version FROM "{table}"')
            ).scalars()
            assert list(versions) == [1]
        user = db.session.get(User, 1)
        assert user is not None and user.version == 1
        user.display_name = "Ann"
        db.session.commit()
        assert user.version == 2


def test_0011_keeps_organizations_that_sign_in_with_okta_on(empty_app: Flask) -> None:
    """Saving no longer turns Okta on, but an organization already on stays on
    (with its protocol), one switched to None stays off; the saved metadata URL
    moves to its protocol's own column; nobody has a test result yet."""
    runner = empty_app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade", "0010"]).exit_code == 0
    now = "2026-01-01 00:00:00"
    oidc_url = "https://acme.okta.com/.well-known/openid-configuration"
    saml_url = "https://globex.okta.com/app/exk1/sso/saml/metadata"
    with empty_app.app_context():
        for org_id, name, provider, protocol, url in (
            (1, "Acme", "okta", "oidc", oidc_url),
            (2, "Globex", "okta", "saml", saml_url),
            (3, "Initech", "none", "oidc", oidc_url),
        ):
            db.session.execute(
                sa.text(
                    "INSERT INTO organization (id, name, name_key, plan, created_at)"
                    " VALUES (:id, :name, :key, 'pro', :now)"
                ),
                {"id": org_id, "name": name, "key": name.lower(), "now": now},
            )
            db.session.execute(
                sa.text(
                    "INSERT INTO sso_config (id, organization_id, provider, protocol,"
                    " default_role, oidc_client_id, oidc_issuer, metadata_url,"
                    " saml_entity_id, saml_sso_url, saml_certificates,"
                    " idp_initiated_enabled, scim_enabled, version, updated_at)"
                    " VALUES (:id, :id, :provider, :protocol, 'member', '0oa1',"
                    " 'https://acme.okta.com', :url, :entity, :sso, '[\"MIIC\"]',"
                    " true, false, 3, :now)"
                ),
                {
                    "id": org_id,
                    "provider": provider,
                    "protocol": protocol,
                    "url": url,
                    "entity": f"http://www.okta.com/exk{org_id}",
                    "sso": "https://globex.okta.com/app/sso/saml",
                    "now": now,
                },
            )
        db.session.commit()

    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0

    with empty_app.app_context():
        rows = db.session.execute(
            sa.text(
                "SELECT organization_id, provider, protocol, oidc_metadata_url,"
                " saml_metadata_url, oidc_version, saml_version, version"
                " FROM sso_config ORDER BY organization_id"
            )
        ).all()
        assert [tuple(row) for row in rows] == [
            (1, "okta", "oidc", oidc_url, None, 1, 1, 3),
            (2, "okta", "saml", None, saml_url, 1, 1, 3),
            (3, "none", "oidc", oidc_url, None, 1, 1, 3),
        ]
        available = [
            sso_available(db.session.get(Organization, org_id)) for org_id in (1, 2, 3)
        ]
        assert available == [True, True, False]
        tests = db.session.execute(sa.text("SELECT count(*) FROM sso_test_result"))
        assert tests.scalar_one() == 0
    # Members still find Okta on the SSO page.
    page = empty_app.test_client().post("/sso", data={"organization": "Globex"})
    assert page.status_code == 200 and "Sign in with Okta" in page.text

    assert runner.invoke(args=["db", "downgrade", "0010"]).exit_code == 0
    with empty_app.app_context():
        urls = db.session.execute(
            sa.text("SELECT metadata_url FROM sso_config ORDER BY organization_id")
        ).scalars()
        assert list(urls) == [oidc_url, saml_url, oidc_url]
