"""GET /healthz: what a load balancer polls (issue #11)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text

from app import create_app
from core.extensions import db
from tests.conftest import make_app
from tests.test_migrations import empty_app  # noqa: F401 (fixtures)
from tests.test_migrations import head_revision
from tests.test_migrations import keep_logging  # noqa: F401
from tests.test_migrations import migrated_app  # noqa: F401


def test_a_migrated_install_is_healthy(migrated_app: Flask) -> None:  # noqa: F811
    response = migrated_app.test_client().get("/healthz")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    # An empty install answers too: no redirect to /setup, no session.
    assert "Set-Cookie" not in response.headers


def test_a_database_behind_the_code_is_unhealthy(migrated_app: Flask) -> None:  # noqa: F811
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
            "SECRET_KEY": "test-secret-key",
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
def test_only_get_is_answered(migrated_app: Flask, method: str) -> None:  # noqa: F811
    assert migrated_app.test_client().open("/healthz", method=method).status_code == 405


def test_the_expected_revision_is_the_migrations_head(migrated_app: Flask) -> None:  # noqa: F811
    from blueprints.health.routes import expected_revisions

    assert expected_revisions() == {head_revision(migrated_app)}


def test_a_node_with_another_secret_key_is_unhealthy(
    migrated_app: Flask,  # noqa: F811
) -> None:
    assert migrated_app.test_client().get("/healthz").status_code == 200
    uri = migrated_app.config["SQLALCHEMY_DATABASE_URI"]
    other = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": migrated_app.instance_path + "-other-node",
            "SECRET_KEY": "not the install's key",
            "SQLALCHEMY_DATABASE_URI": uri,
        }
    )

    response = other.test_client().get("/healthz")

    assert response.status_code == 503
    assert "SECRET_KEY" in response.json["problem"]
    assert "not the install's key" not in response.get_data(as_text=True)
    # The first node, and any node with the install's key, stays healthy.
    same = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": migrated_app.instance_path + "-third-node",
            "SECRET_KEY": migrated_app.config["SECRET_KEY"],
            "SQLALCHEMY_DATABASE_URI": uri,
        }
    )
    assert same.test_client().get("/healthz").status_code == 200
    for app in (other, same):
        with app.app_context():
            db.engine.dispose()
