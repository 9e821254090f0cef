"""Apps whose database starts with no table at all, for the migration tests.

`empty_app` is an app like conftest's but on an empty database (SQLite file or
PostgreSQL database); `migrated_app` is the same after `flask db upgrade`.
`keep_logging`, autouse where a module imports it, undoes what alembic does to
logging.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from flask import Flask

from app import create_app
from core.extensions import db
from tests.support import databases
from tests.support.constants import REPO
from tests.support.constants import SECRET_KEY


@pytest.fixture(autouse=True)
def keep_logging() -> Iterator[None]:
    """Undo what alembic's `fileConfig` does to logging, for the tests that follow.

    It replaces the root handlers with one bound to the CLI runner's temporary
    stderr and sets levels on alembic's and SQLAlchemy's loggers.
    """
    manager = logging.Logger.manager
    root = logging.getLogger()
    saved_root = (root.level, root.handlers[:])
    saved = {
        name: (logger.disabled, logger.level, logger.handlers[:], logger.propagate)
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    yield
    root.setLevel(saved_root[0])
    root.handlers[:] = saved_root[1]
    for name, logger in manager.loggerDict.items():
        if not isinstance(logger, logging.Logger):
            continue
        disabled, level, handlers, propagate = saved.get(
            name, (False, logging.NOTSET, [], True)
        )
        logger.disabled, logger.propagate = disabled, propagate
        logger.setLevel(level)
        logger.handlers[:] = handlers


@pytest.fixture
def empty_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """An app like conftest's, but its database has no table at all."""
    # Flask-Migrate finds `migrations/` relative to the working directory.
    monkeypatch.chdir(REPO)
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": databases.empty_url(tmp_path),
            "WTF_CSRF_ENABLED": False,
        }
    )
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def migrated_app(empty_app: Flask) -> Flask:
    """`empty_app` after `flask db upgrade`."""
    result = empty_app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    return empty_app


def head_revision(app: Flask) -> str:
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
        head = ScriptDirectory.from_config(config).get_current_head()
        assert head is not None
        return head
