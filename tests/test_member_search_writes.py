"""The members search stays in step with every write: the members page, SCIM
(create, PATCH, PUT, DELETE), an Okta sign-in, the command line, bulk inserts,
cascading deletes and migration 0010 for the members of before.

Each check ends with `assert_index_in_step`: every user's `search_text` is
the one its keys give, and on SQLite the FTS5 index matches the `user` table.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from core.extensions import db
from core.models import Organization
from core.models import User
from core.models import fold
from core.models import search
from tests.support import databases
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import scim_key
from tests.support.constants import PASSWORD
from tests.support.migrations import head_revision
from tests.support.migrations import keep_logging  # noqa: F401 (autouse)
from tests.support.oidc import connect_okta
from tests.support.oidc import okta_sign_in
from tests.support.oidc import okta_user
from tests.support.scim import USER_SCHEMA
from tests.support.scim import ScimClient
from tests.support.scim import patch_body
from tests.support.search import assert_index_in_step
from tests.support.search import emails
from tests.support.search import page_emails
from tests.support.search import sqlite_only


def test_a_member_added_on_the_page_is_found(
    app: Flask, org: OrgInfo, owner_client: FlaskClient
) -> None:
    form = {"email": "Ines@Acme.test", "given_name": "Inês", "family_name": "Araújo"}
    response = owner_client.post("/members/new", data={**form, "role": "member"})
    assert response.status_code == 302
    assert emails(app, org.id, "ines araujo") == {"Ines@Acme.test"}
    assert page_emails(owner_client, "INES@") == {"Ines@Acme.test"}
    assert_index_in_step(app)


def scim_user(user_name: str, given_name: str, family_name: str) -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": given_name, "familyName": family_name},
        "emails": [{"value": user_name, "primary": True}],
        "active": True,
    }


def test_scim_writes_keep_the_search_in_step(app: Flask, org: OrgInfo) -> None:
    scim = ScimClient(app.test_client(), scim_key(app, org.id), idp="okta")
    created = scim.post("/Users", scim_user("rene@acme.test", "René", "Magritte"))
    assert created.status_code == 201, created.text
    path = f"/Users/{created.get_json()['id']}"
    assert emails(app, org.id, "rene magr") == {"rene@acme.test"}

    rename = {"op": "replace", "path": "name.familyName", "value": "Dürer"}
    assert scim.patch(path, patch_body(rename)).status_code == 200
    assert emails(app, org.id, "magritte") == set()
    assert emails(app, org.id, "durer") == {"rene@acme.test"}

    new_email = {
        "op": "replace",
        "value": {"emails": [{"value": "albrecht@acme.test"}]},
    }
    assert scim.patch(path, patch_body(new_email)).status_code == 200
    assert emails(app, org.id, "rene@") == set()
    assert emails(app, org.id, "albrecht@") == {"albrecht@acme.test"}

    put = scim.put(path, scim_user("hieronymus@acme.test", "Hiëronymus", "Bosch"))
    assert put.status_code == 200, put.text
    assert emails(app, org.id, "durer") == emails(app, org.id, "albrecht") == set()
    assert emails(app, org.id, "hieronymus bos") == {"hieronymus@acme.test"}
    assert_index_in_step(app)

    assert scim.delete(path).status_code == 204
    assert emails(app, org.id, "bosch") == set()
    assert_index_in_step(app)


@pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")
def test_a_member_made_by_an_okta_sign_in_is_found(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-chloe", "chloe@acme.test", given_name="Chloé")
    response = okta_sign_in(app.test_client(), provider, "00u-chloe")
    assert response.status_code == 302, response.text
    assert emails(app, org.id, "chloe") == {"chloe@acme.test"}
    assert_index_in_step(app)


def test_an_owner_made_on_the_command_line_is_found(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=[
            *("org", "create", "Umbrella", "--owner-email", "alice@umbrella.test"),
            *("--owner-password", PASSWORD, "--owner-given-name", "Alïce"),
            *("--owner-family-name", "Ångström"),
        ]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        umbrella = db.session.execute(
            sa.select(Organization.id).filter_by(name="Umbrella")
        ).scalar_one()
    assert emails(app, umbrella, "alice angstrom") == {"alice@umbrella.test"}
    assert_index_in_step(app)


def test_rows_inserted_in_bulk_and_deleted_by_cascade_stay_in_step(
    app: Flask, org: OrgInfo
) -> None:
    globex = make_org(app, "Globex")
    with app.app_context():
        db.session.execute(
            sa.insert(User),
            [
                {
                    "organization_id": globex.id,
                    "email": f"bulk{n}@globex.test",
                    "email_key": f"bulk{n}@globex.test",
                    "user_name": f"bulk{n}@globex.test",
                    "user_name_key": f"bulk{n}@globex.test",
                    "name_key": "émile zola",
                }
                for n in range(3)
            ],
        )
        db.session.commit()
    assert len(emails(app, globex.id, "emile")) == 3
    assert_index_in_step(app)
    with app.app_context():
        db.session.execute(sa.delete(Organization).filter_by(id=globex.id))
        db.session.commit()
    assert emails(app, globex.id, "emile") == set()
    assert_index_in_step(app)


@sqlite_only
def test_the_integrity_check_sees_an_index_out_of_step(
    app: Flask, org: OrgInfo
) -> None:
    """What `assert_index_in_step` relies on: without the triggers, a deleted
    user stays in the FTS5 index, and the check says so."""
    make_user(app, org.id, "gone@acme.test")
    with app.app_context():
        db.session.execute(sa.text(f"DROP TRIGGER {search.SEARCH_TABLE}_delete"))
        db.session.execute(sa.delete(User).filter_by(email_key="gone@acme.test"))
        db.session.commit()
    with pytest.raises(sa.exc.DatabaseError, match="malformed"):
        assert_index_in_step(app)


# -- the migration -------------------------------------------------------------------

RAW_USER = (
    'INSERT INTO "user" (organization_id, email, email_key, user_name,'
    " user_name_key, given_name, family_name, display_name, name_key, role,"
    " status, source, scim_managed, email_from_okta, created_at, updated_at)"
    " VALUES (1, :email, :email, :email, :email, :given, :family, '', :names,"
    " 'member', 'active', 'local', false, false, :now, :now)"
)


def raw_user(app: Flask, email: str, given: str, family: str) -> None:
    """A user row written as the app of before wrote it."""
    with app.app_context():
        names = fold(f" {given} {family}")
        values = {"email": email, "given": given, "family": family}
        db.session.execute(
            sa.text(RAW_USER), {**values, "names": names, "now": "2026-01-01 00:00:00"}
        )
        db.session.commit()


def test_0010_makes_the_members_of_before_searchable(empty_app: Flask) -> None:
    runner = empty_app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade", "0009"]).exit_code == 0
    with empty_app.app_context():
        db.session.execute(
            sa.text(
                "INSERT INTO organization (id, name, name_key, plan, created_at)"
                " VALUES (1, 'Acme', 'acme', 'pro', '2026-01-01 00:00:00')"
            )
        )
        db.session.commit()
    raw_user(empty_app, "jose@acme.test", "José", "Núñez")
    raw_user(empty_app, "ann@acme.test", "Ann", "Lee")

    assert runner.invoke(args=["db", "upgrade"]).exit_code == 0

    assert emails(empty_app, 1, "nunez") == {"jose@acme.test"}
    assert emails(empty_app, 1, "LEE") == {"ann@acme.test"}
    make_user(empty_app, 1, "chloe@acme.test", given_name="Chloé")
    assert emails(empty_app, 1, "chloe") == {"chloe@acme.test"}
    assert_index_in_step(empty_app)

    # Down again: nothing of the index is left behind to break a write.
    assert runner.invoke(args=["db", "downgrade", "0009"]).exit_code == 0
    raw_user(empty_app, "dan@acme.test", "Dan", "Ek")
    assert search_objects(empty_app) == []


def search_objects(app: Flask) -> list[tuple[str, str, str]]:
    """The search index's objects in the database: SQLite's FTS5 table and
    triggers, or PostgreSQL's index (with their definitions)."""
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            query = (
                "SELECT type, name, sql FROM sqlite_master"
                f" WHERE name LIKE '{search.SEARCH_TABLE}%' ORDER BY name"
            )
        else:
            query = (
                "SELECT 'index', indexname, indexdef FROM pg_indexes"
                f" WHERE indexname = '{search.TRIGRAM_INDEX}'"
            )
        return [tuple(row) for row in db.session.execute(sa.text(query))]


def test_the_migration_builds_the_index_the_models_build(
    app: Flask, migrated_app: Flask
) -> None:
    built = search_objects(app)  # db.create_all(), as the tests and the bench do
    names = {name for _type, name, _sql in built}
    if databases.ON_POSTGRES:
        assert names == {search.TRIGRAM_INDEX}
    else:
        triggers = {
            f"{search.SEARCH_TABLE}_{kind}" for kind in ("insert", "update", "delete")
        }
        assert names == search.SQLITE_TABLES | triggers
    assert search_objects(migrated_app) == built


def test_every_migration_after_0010_keeps_the_index_in_step(empty_app: Flask) -> None:
    """A migration that rebuilds `user` on SQLite (Alembic's batch mode copies
    the table) loses its triggers unless it makes them again: at each revision,
    up and down, the index still has them and still follows a new member."""
    runner = empty_app.test_cli_runner()
    assert runner.invoke(args=["db", "upgrade", "0010"]).exit_code == 0
    with empty_app.app_context():
        db.session.execute(
            sa.text(
                "INSERT INTO organization (id, name, name_key, plan, created_at)"
                " VALUES (1, 'Acme', 'acme', 'pro', '2026-01-01 00:00:00')"
            )
        )
        db.session.commit()
    at_0010 = search_objects(empty_app)
    later = [f"{number:04d}" for number in range(11, int(head_revision(empty_app)) + 1)]
    steps = [("upgrade", r) for r in later] + [
        ("downgrade", r) for r in reversed(["0010", *later[:-1]])
    ]
    for count, (way, revision) in enumerate(steps):
        assert runner.invoke(args=["db", way, revision]).exit_code == 0, revision
        assert search_objects(empty_app) == at_0010, f"{way} {revision}"
        searchable_user(empty_app, f"p{count}@acme.test", f"Given{count}")
        assert indexed_emails(empty_app, f"given{count}") == [f"p{count}@acme.test"], (
            f"{way} {revision}"
        )


def searchable_user(app: Flask, email: str, given: str) -> None:
    """A user row with its search text, written in SQL (any revision's app)."""
    names = fold(f" {given} Person")
    with app.app_context():
        db.session.execute(
            sa.text(
                RAW_USER.replace(", updated_at)", ", updated_at, search_text)").replace(
                    ":now, :now)", ":now, :now, :text)"
                )
            ),
            {
                "email": email,
                "given": given,
                "family": "Person",
                "names": names,
                "now": "2026-01-01 00:00:00",
                "text": search.search_text(email, names),
            },
        )
        db.session.commit()


def indexed_emails(app: Flask, text: str) -> list[str]:
    """The emails SQLite's FTS5 index finds for `text` (in SQL: any revision);
    on PostgreSQL the index is on the table itself, so what LIKE finds."""
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            query = (
                'SELECT u.email FROM "user" u JOIN user_search s ON s.rowid = u.id'
                " WHERE user_search MATCH :needle"
            )
            needle = search.fts_phrase(text)
        else:
            query = 'SELECT email FROM "user" WHERE search_text LIKE :needle'
            needle = f"%{text}%"
        return list(db.session.scalars(sa.text(query), {"needle": needle}))
