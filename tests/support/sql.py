"""Watching the SQL the app runs: tests count statements, never time them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import event

from core.extensions import db


@contextmanager
def statements(app: Flask, pattern: str | None = None) -> Iterator[list[str]]:
    """The SQL statements the app's engine runs meanwhile (those matching
    `pattern` at their start, case-insensitively, when one is given)."""
    seen: list[str] = []
    wanted = re.compile(pattern, re.IGNORECASE) if pattern else None

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if wanted is None or wanted.match(statement):
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)
