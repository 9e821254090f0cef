"""GET /healthz: what a load balancer polls (issue #11)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text

from app import create_app
from core import key_check
from core.extensions import db
from core.models import SiteSetting
from tests.support.builders import make_app
from tests.support.builders import make_org
from tests.support.constants import SECRET_KEY
from tests.support.migrations import head_revision
from tests.support.migrations import keep_logging  # noqa: F401


def test_a_migrated_install_is_healthy(migrated_app: Flask) -> None:
    response = migrated_app.test_client().get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    # An empty install answers too: no redirect to /setup, no session.
    assert "Set-Cookie" not in response.headers


def test_a_database_behind_the_code_is_unhealthy(migrated_app: Flask) -> None:
    with migrated_app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = '0003'"))
        db.session.commit()

    response = migrated_app.test_client().get("/healthz")

    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert "migrate" in response.json["problem"]


def test_a_schema_made_without_migrations_is_unhealthy(tmp_path: Path) -> None:
    """create_all() leaves no alembic_version: the node cannot say it is current."""
    app = make_app(tmp_path)

    response = app.test_client().get("/healthz")

    assert response.status_code == 503


def test_an_unreachable_database_is_unhealthy_and_says_nothing_secret(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "no-such-folder" / "gatehouse.sqlite"
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{missing}",
        }
    )

    response = app.test_client().get("/healthz")

    assert response.status_code == 503
    assert response.json == {
        "status": "unavailable",
        "problem": "the database did not answer",
    }
    assert "no-such-folder" not in response.get_data(as_text=True)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_only_get_is_answered(migrated_app: Flask, method: str) -> None:
    assert migrated_app.test_client().open("/healthz", method=method).status_code == 405


def test_the_expected_revision_is_the_migrations_head(migrated_app: Flask) -> None:
    from blueprints.health.routes import expected_revisions

    assert expected_revisions() == {head_revision(migrated_app)}


def test_a_node_with_another_secret_key_is_unhealthy(
    migrated_app: Flask,
) -> None:
    """The install's first organization records its SECRET_KEY's mark; a node
    with another key is out of rotation; nothing a request does records it."""
    uri = migrated_app.config["SQLALCHEMY_DATABASE_URI"]

    def node(name: str, key: str) -> Flask:
        return create_app(
            {
                "TESTING": True,
                "INSTANCE_PATH": migrated_app.instance_path + "-" + name,
                "SECRET_KEY": key,
                "SQLALCHEMY_DATABASE_URI": uri,
            }
        )

    other = node("other", "not the install's key")
    # No record yet (an install without an organization): no claim by request.
    assert other.test_client().get("/healthz").status_code == 200
    with migrated_app.app_context():
        assert db.session.get(SiteSetting, key_check.KEY) is None

    make_org(migrated_app)  # the install's first organization records the key

    response = other.test_client().get("/healthz")
    assert response.status_code == 503
    assert "SECRET_KEY" in response.json["problem"]
    assert "not the install's key" not in response.get_data(as_text=True)
    same = node("third", migrated_app.config["SECRET_KEY"])
    assert same.test_client().get("/healthz").status_code == 200
    assert migrated_app.test_client().get("/healthz").status_code == 200

    # After rotating the key, `flask site record-key` makes the new one the install's.
    result = other.test_cli_runner().invoke(args=["site", "record-key"])
    assert result.exit_code == 0, result.output
    assert other.test_client().get("/healthz").status_code == 200
    assert same.test_client().get("/healthz").status_code == 503
    for app in (other, same):
        with app.app_context():
            db.engine.dispose()


def test_a_database_error_after_the_first_query_is_a_503_not_a_500(
    migrated_app: Flask,
) -> None:
    make_org(migrated_app)
    with migrated_app.app_context():
        db.session.execute(text("DROP TABLE site_setting"))
        db.session.commit()

    response = migrated_app.test_client().get("/healthz")

    assert response.status_code == 503
    assert response.json == {
        "status": "unavailable",
        "problem": "the database did not answer",
    }
    assert response.headers["Cache-Control"] == "no-store"
