"""Housekeeping: delete audit events and SCIM activity older than their retention.

`prune()` deletes in batches of BATCH_SIZE rows, each batch its own transaction,
so a large backlog never holds SQLite's write lock (or PostgreSQL row locks)
for long. `flask prune` runs it by hand (`--dry-run` counts only).

Automatic pruning (`init_app`) never runs inside a request: an `after_request`
hook, at most once per PRUNE_INTERVAL per process, hands the work to
`response.call_on_close`, which the WSGI server calls once the response has
been sent. The work then checks the time of the last prune stored in
`site_setting` and claims it first (compare and set), so of several app
servers only one prunes per interval. Errors are logged, never raised.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from flask import Flask
from flask import Response
from flask import current_app
from sqlalchemy.exc import IntegrityError

from core.extensions import db
from core.models import AuditEvent
from core.models import ScimRequest
from core.models import SiteSetting
from core.models import UniversalLogoutJti
from core.models import utcnow

# Rows per DELETE (and per transaction).
BATCH_SIZE = 5000
# At most this many batches per table in one automatic run; the rest waits for
# the next run (or `flask prune`), so one response's close never runs for long.
AUTOMATIC_MAX_BATCHES = 20
PRUNE_INTERVAL = timedelta(minutes=10)
LAST_PRUNED_KEY = "housekeeping_last_pruned"
_STATE_KEY = "gatehouse.housekeeping"

# What is pruned: table name -> (model, setting with its retention in days).
RETENTION = {
    "audit_event": (AuditEvent, "AUDIT_RETENTION_DAYS"),
    "scim_request": (ScimRequest, "SCIM_ACTIVITY_RETENTION_DAYS"),
}


def cutoffs(now: datetime | None = None) -> dict[str, datetime]:
    """Per table, the time before which rows are deleted."""
    now = now or utcnow()
    config = current_app.config
    return {
        table: now - timedelta(days=int(config[setting]))
        for table, (_model, setting) in RETENTION.items()
    }


def count_due(now: datetime | None = None) -> dict[str, int]:
    """Per table, how many rows `prune(now)` would delete (deletes nothing)."""
    counts = {}
    for table, cutoff in cutoffs(now).items():
        model = RETENTION[table][0]
        counts[table] = db.session.execute(
            db.select(db.func.count())
            .select_from(model)
            .where(model.created_at < cutoff)
        ).scalar_one()
    return counts


def prune(
    now: datetime | None = None, *, max_batches: int | None = None
) -> dict[str, int]:
    """Delete rows older than their retention; return how many, per table.

    Deletes BATCH_SIZE rows per statement and commits after each, stopping
    after `max_batches` per table when given.
    """
    deleted = {}
    for table, cutoff in cutoffs(now).items():
        model = RETENTION[table][0]
        deleted[table] = 0
        batches = 0
        while max_batches is None or batches < max_batches:
            ids = (
                db.select(model.id)
                .where(model.created_at < cutoff)
                .limit(BATCH_SIZE)
                .scalar_subquery()
            )
            result = db.session.execute(
                db.delete(model)
                .where(model.id.in_(ids))
                .execution_options(synchronize_session=False)
            )
            db.session.commit()
            batches += 1
            deleted[table] += result.rowcount
            if result.rowcount < BATCH_SIZE:
                break
    deleted["universal_logout_jti"] = prune_spent_logout_tokens(now or utcnow())
    return deleted


def prune_spent_logout_tokens(now: datetime) -> int:
    """Forget Universal Logout tokens past their expiry (they can no longer be
    replayed: an expired token is refused anyway); commit."""
    result = db.session.execute(
        db.delete(UniversalLogoutJti).where(UniversalLogoutJti.expires_at < now)
    )
    db.session.commit()
    return result.rowcount


def last_pruned() -> datetime | None:
    """When pruning last ran (automatically or by `flask prune`), or None."""
    row = db.session.get(SiteSetting, LAST_PRUNED_KEY)
    return _parse(row.value) if row is not None else None


def _parse(value: str) -> datetime | None:
    """A stored time (ISO 8601, UTC when it names no zone), or None if unreadable."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def note_pruned(now: datetime | None = None) -> None:
    """Store `now` as the time of the last prune (and commit)."""
    now = now or utcnow()
    row = db.session.get(SiteSetting, LAST_PRUNED_KEY)
    if row is None:
        db.session.add(SiteSetting(key=LAST_PRUNED_KEY, value=now.isoformat()))
    else:
        row.value = now.isoformat()
    db.session.commit()


def claim_prune(now: datetime) -> bool:
    """Take this interval's prune for this server, if nobody did (and commit).

    Compare and set on the stored time, so when several servers ask at once
    exactly one gets True.
    """
    row = db.session.get(SiteSetting, LAST_PRUNED_KEY)
    if row is None:
        db.session.add(SiteSetting(key=LAST_PRUNED_KEY, value=now.isoformat()))
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return False
        return True
    previous = row.value
    stamp = _parse(previous)  # None (unreadable): take it
    if stamp is not None and stamp > now - PRUNE_INTERVAL:
        return False
    result = db.session.execute(
        db.update(SiteSetting)
        .where(SiteSetting.key == LAST_PRUNED_KEY, SiteSetting.value == previous)
        .values(value=now.isoformat(), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def run_automatic(app: Flask) -> dict[str, int] | None:
    """The automatic prune, in an app context of its own; None when not due.

    Logs errors and returns None instead of raising: it runs after the
    response was sent, where nobody could handle them.
    """
    try:
        with app.app_context():
            now = utcnow()
            if not claim_prune(now):
                return None
            deleted = prune(now, max_batches=AUTOMATIC_MAX_BATCHES)
            if any(deleted.values()):
                app.logger.info("Housekeeping deleted %s", deleted)
            return deleted
    except Exception:
        app.logger.exception("Housekeeping failed")
        return None


def init_app(app: Flask) -> None:
    """Register the automatic prune (see the module docstring).

    Off when HOUSEKEEPING_AUTOMATIC is false (under TESTING unless the test
    config asks for it: see app.create_app).
    """
    app.extensions[_STATE_KEY] = {"next_check": 0.0, "lock": threading.Lock()}
    app.after_request(_after_request)


def _after_request(response: Response) -> Response:
    app: Any = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.config.get("HOUSEKEEPING_AUTOMATIC"):
        return response
    state = app.extensions[_STATE_KEY]
    now = time.monotonic()
    with state["lock"]:
        if now < state["next_check"]:
            return response
        state["next_check"] = now + PRUNE_INTERVAL.total_seconds()
    response.call_on_close(lambda: run_automatic(app))
    return response
