"""Flask extensions, created unbound here and initialised in `create_app`."""

import sqlite3
from pathlib import Path
from typing import Any

from authlib.integrations.flask_client import OAuth
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base for every model."""


db = SQLAlchemy(model_class=Base)
# An absolute path, so `flask db ...` works from any working directory.
migrate = Migrate(directory=str(Path(__file__).resolve().parent.parent / "migrations"))
login_manager = LoginManager()
csrf = CSRFProtect()
# One Authlib client per organization and configuration version, registered by
# the OIDC sign-in (its client module).
oauth = OAuth()


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection: object, _record: object) -> None:
    """Make every SQLite connection safe for several workers.

    WAL lets readers run beside one writer; the busy timeout makes a writer wait
    for the lock instead of failing with "database is locked"; SQLite only enforces
    foreign keys when asked, per connection.
    """
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def upsert_insert() -> Any:
    """The `insert` with ON CONFLICT of the database in use (SQLite or PostgreSQL).

    For compare-and-set writes several workers race for (an aggregated audit
    row, the claim on a reset email): the database settles them, not a read.
    """
    name = db.engine.dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"Gatehouse runs on SQLite or PostgreSQL, not {name}")
