"""Which database the tests run on: SQLite files, or one PostgreSQL server.

Kept out of conftest.py because pytest imports conftest under its own name: a
second import of it as `tests.conftest` would hold this state twice.

With GATEHOUSE_TEST_DATABASE_URL naming a PostgreSQL server (`make
test-postgres`), each test run (each xdist worker) gets a database of its own,
its tables created once and emptied before each test's first app; apps made in
one test share it, like the workers of one install.
"""

from __future__ import annotations

import os

import sqlalchemy
from flask import Flask
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from app import database_uri
from core.extensions import db

SERVER_URL = os.environ.get("GATEHOUSE_TEST_DATABASE_URL", "")
ON_POSTGRES = SERVER_URL.startswith(("postgresql", "postgres:"))

_state: dict[str, object] = {"database": None, "tables": False, "emptied": False}
_apps: list[Flask] = []


def url() -> str | None:
    """This run's PostgreSQL database (created on first use), or None for SQLite."""
    if not ON_POSTGRES:
        return None
    if _state["database"] is None:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        name = f"gatehouse_test_{worker}"
        _create_database(name)
        _state["database"] = _url_of(name)
    return str(_state["database"])


def _url_of(name: str) -> str:
    """The server's URL with database `name` (host, port and options kept)."""
    url = make_url(database_uri(SERVER_URL)).set(database=name)
    return url.render_as_string(hide_password=False)


def _create_database(name: str) -> None:
    """Drop database `name` if it exists, and create it empty."""
    server = sqlalchemy.create_engine(
        database_uri(SERVER_URL), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    with server.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    server.dispose()


def empty_url(tmp_path: object) -> str:
    """A database with no table at all: a new SQLite file in `tmp_path`, or a
    PostgreSQL database dropped and created again (for the migration tests)."""
    if not ON_POSTGRES:
        return f"sqlite:///{tmp_path}/empty.sqlite"
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"gatehouse_empty_{worker}"
    _create_database(name)
    return _url_of(name)


def engine_options() -> dict[str, object]:
    """Config for a test app's engine: on PostgreSQL, no pool, so an app the test
    drops leaves no open connection behind (each would warn when collected)."""
    if not ON_POSTGRES:
        return {}
    return {"SQLALCHEMY_ENGINE_OPTIONS": {"poolclass": NullPool}}


def start_test() -> None:
    """A test begins: its first app empties the database."""
    _state["emptied"] = False


def end_test() -> None:
    """A test ended: close the pooled connections of every app still alive,
    also those a test made with create_app itself (PostgreSQL connections left
    to the garbage collector warn, and count against max_connections)."""
    _apps.clear()
    for engines in list(db._app_engines.values()):  # noqa: SLF001 (no public list)
        for engine in engines.values():
            engine.dispose()


def prepare(app: Flask) -> None:
    """Give a new app its schema: created on SQLite, emptied on PostgreSQL."""
    _apps.append(app)
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            db.create_all()
            return
        if not _state["tables"]:
            db.create_all()
            _state["tables"] = True
        if not _state["emptied"]:
            tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            db.session.execute(
                sqlalchemy.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
            )
            db.session.commit()
            _state["emptied"] = True
