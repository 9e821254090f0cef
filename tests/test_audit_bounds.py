"""Audit volume is bounded by an attacker's effort, not their request count (#10).

Refusals anyone can repeat for free (a throttled password sign-in, an OIDC
callback with no sign-in in progress or a forged state) are one audit row per
organization, kind, key and window, with a count; the audit page shows it.
Audit events and SCIM activity older than their retention are deleted by
`flask prune` and, automatically, after a response has been sent.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner

import default_config
from core import housekeeping
from core.extensions import db
from core.models import AuditEvent
from core.models import ScimRequest
from core.models import SiteSetting
from core.models import utcnow
from tests.support.builders import OrgInfo
from tests.support.builders import make_app
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.constants import PASSWORD
from tests.support.oidc import at_provider
from tests.support.oidc import connect_okta
from tests.support.oidc import okta_user
from tests.support.oidc import start
from tests.support.sql import statements

# The mock provider signs its ID tokens through an Authlib hook Authlib has
# deprecated; the warning is raised in the provider's thread, not by our code.
pytestmark = [
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
    pytest.mark.usefixtures("quick_passwords"),
]

WRONG = "wrong password!!"


# -- helpers ----------------------------------------------------------------------


def refusal_rows(
    app: Flask, org_id: int | None, reason: str | None = None
) -> list[dict[str, Any]]:
    """`sign_in.refused` rows of one organization (None: of none), oldest first.

    Each as a dict of its columns; `reason` keeps only rows whose reason starts
    with it.
    """
    with app.app_context():
        rows = db.session.execute(
            db.select(AuditEvent)
            .where(
                AuditEvent.kind == "sign_in.refused",
                AuditEvent.organization_id.is_(None)
                if org_id is None
                else AuditEvent.organization_id == org_id,
            )
            .order_by(AuditEvent.id)
        ).scalars()
        result = [
            {
                column.key: getattr(row, column.key)
                for column in AuditEvent.__table__.columns
            }
            for row in rows
        ]
    return [
        row
        for row in result
        if reason is None or row["details"].get("reason", "").startswith(reason)
    ]


def audit_row_count(app: Flask) -> int:
    """Rows in the audit log, all organizations and none."""
    with app.app_context():
        return db.session.execute(
            db.select(db.func.count()).select_from(AuditEvent)
        ).scalar_one()


def lock_out(client: FlaskClient, app: Flask, email: str) -> None:
    """Fail password sign-in for `email` until its account is locked."""
    for _ in range(app.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"]):
        assert sign_in(client, email, WRONG).status_code == 401
    assert sign_in(client, email, WRONG).status_code == 429


def age_rows(app: Flask, row_ids: list[int], by: timedelta) -> None:
    """Move audit rows back in time (their first occurrence) by `by`."""
    with app.app_context():
        for row_id in row_ids:
            row = db.session.get(AuditEvent, row_id)
            assert row is not None
            row.created_at = row.created_at - by
        db.session.commit()


def window(app: Flask) -> timedelta:
    """The aggregation window: the sign-in throttle's."""
    return timedelta(seconds=app.config["SIGNIN_FAILURE_WINDOW_SECONDS"])


def add_audit_events(app: Flask, org_id: int, ages: list[timedelta]) -> None:
    """Audit events of `org_id` that happened `age` ago, one per age."""
    now = utcnow()
    with app.app_context():
        for n, age in enumerate(ages):
            db.session.add(
                AuditEvent(
                    organization_id=org_id,
                    kind="x.aged",
                    actor="cli",
                    target=f"aged-{n}",
                    created_at=now - age,
                )
            )
        db.session.commit()


def add_scim_activity(app: Flask, org_id: int, ages: list[timedelta]) -> None:
    """SCIM activity rows of `org_id` that happened `age` ago, one per age."""
    now = utcnow()
    with app.app_context():
        for n, age in enumerate(ages):
            db.session.add(
                ScimRequest(
                    organization_id=org_id,
                    method="GET",
                    path=f"/api/v1/scim/v2/Users?n={n}",
                    status=200,
                    created_at=now - age,
                )
            )
        db.session.commit()


def aged_targets(app: Flask) -> list[str]:
    """Targets of the `x.aged` audit events left, in id order."""
    with app.app_context():
        return list(
            db.session.execute(
                db.select(AuditEvent.target)
                .filter_by(kind="x.aged")
                .order_by(AuditEvent.id)
            ).scalars()
        )


def scim_paths(app: Flask) -> list[str]:
    """Paths of the SCIM activity rows left, in id order."""
    with app.app_context():
        return list(
            db.session.execute(
                db.select(ScimRequest.path).order_by(ScimRequest.id)
            ).scalars()
        )


def stored_stamp(app: Flask) -> str | None:
    """The stored time of the last prune, as stored."""
    with app.app_context():
        row = db.session.get(SiteSetting, housekeeping.LAST_PRUNED_KEY)
        return row.value if row is not None else None


def set_stamp(app: Flask, moment: datetime) -> None:
    """Store `moment` as the time of the last prune."""
    with app.app_context():
        housekeeping.note_pruned(moment)


DAYS = timedelta(days=1)


# -- aggregated refusals ------------------------------------------------------------


def test_throttled_sign_ins_are_one_counted_row_per_account_and_address(
    app: Flask, org: OrgInfo
) -> None:
    attacker = app.test_client()
    lock_out(attacker, app, org.owner_email)
    [first] = refusal_rows(app, org.id, "throttled")
    assert first["repeat_count"] == 1

    for n in range(49):
        # Changing the case of the email does not open new rows.
        email = org.owner_email.upper() if n % 2 else org.owner_email
        assert sign_in(attacker, email, WRONG).status_code == 429

    [row] = refusal_rows(app, org.id, "throttled")
    assert row["id"] == first["id"]
    assert row["repeat_count"] == 50
    assert row["created_at"] == first["created_at"]  # the first occurrence
    assert row["last_at"] is not None and row["last_at"] >= row["created_at"]
    assert row["actor"] == org.owner_email and row["ip"] == "127.0.0.1"
    # The failures before the lock are still one row each.
    limit = app.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"]
    assert len(refusal_rows(app, org.id, "wrong password")) == limit

    # Another account: its own row.
    make_user(app, org.id, "mia@acme.test")
    lock_out(attacker, app, "mia@acme.test")
    sign_in(attacker, "mia@acme.test", WRONG)
    rows = refusal_rows(app, org.id, "throttled")
    assert [(r["actor"], r["repeat_count"]) for r in rows] == [
        (org.owner_email, 50),
        ("mia@acme.test", 2),
    ]
    # Another address: its own row too.
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "192.0.2.44"
    assert sign_in(elsewhere, org.owner_email, PASSWORD).status_code == 429
    assert len(refusal_rows(app, org.id, "throttled")) == 3

    # Once the window since the first occurrence is over, a new row starts.
    age_rows(app, [row["id"]], window(app) + timedelta(seconds=1))
    assert sign_in(attacker, org.owner_email, WRONG).status_code == 429
    owners = [
        r for r in refusal_rows(app, org.id, "throttled") if r["ip"] == "127.0.0.1"
    ]
    assert [(r["actor"], r["repeat_count"]) for r in owners] == [
        (org.owner_email, 50),
        ("mia@acme.test", 2),
        (org.owner_email, 1),
    ]
    assert owners[0]["repeat_key"] is None  # closed
    assert sign_in(attacker, org.owner_email, WRONG).status_code == 429
    assert refusal_rows(app, org.id, "throttled")[-1]["repeat_count"] == 2


def test_made_up_emails_from_a_throttled_address_share_one_row(
    app: Flask, org: OrgInfo
) -> None:
    app.config["SIGNIN_MAX_FAILURES_PER_ADDRESS"] = 2
    attacker = app.test_client()
    for n in range(2):
        assert sign_in(attacker, f"guess{n}@nowhere.test", WRONG).status_code == 401
    rows_before = audit_row_count(app)

    for n in range(40):
        assert sign_in(attacker, f"new{n}@nowhere.test", WRONG).status_code == 429

    [row] = refusal_rows(app, None, "throttled")
    assert row["repeat_count"] == 40
    assert audit_row_count(app) == rows_before + 1


def test_anonymous_callbacks_without_a_sign_in_are_one_counted_row(
    app: Flask, org: OrgInfo
) -> None:
    rows_before = audit_row_count(app)
    anonymous = app.test_client()

    for _ in range(100):
        assert anonymous.get("/okta/callback").status_code == 400

    assert audit_row_count(app) == rows_before + 1
    [row] = refusal_rows(app, None)
    assert row["details"]["reason"].startswith("no sign-in in progress")
    assert row["details"]["method"] == "okta-oidc"
    assert row["repeat_count"] == 100
    assert refusal_rows(app, org.id) == []
    # Another address gets its own row.
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "198.51.100.3"
    assert other.get("/okta/callback?code=x&state=y").status_code == 400
    assert [r["repeat_count"] for r in refusal_rows(app, None)] == [100, 1]


def test_forged_states_against_one_organization_are_one_counted_row(
    app: Flask,
    org: OrgInfo,
    provider: str,
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-alice", "alice@acme.test")
    browser = app.test_client()
    authorize_url = start(browser)  # free: no Okta sign-in needed

    for n in range(30):
        response = browser.get(
            "/okta/callback", query_string={"code": "made-up", "state": f"forged{n}"}
        )
        assert response.status_code == 403

    [row] = refusal_rows(app, org.id, "state does not match")
    assert row["repeat_count"] == 30
    assert len(refusal_rows(app, org.id)) == 1
    # The sign-in in progress still works.
    assert browser.get(at_provider(authorize_url, "00u-alice")).status_code == 302


def test_concurrent_throttled_sign_ins_add_to_one_row(tmp_path: Path) -> None:
    app = make_app(tmp_path / "concurrent")
    org = make_org(app)
    lock_out(app.test_client(), app, org.owner_email)
    barrier = threading.Barrier(2)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def attack() -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=10)
            for _ in range(25):
                statuses.append(sign_in(client, org.owner_email, WRONG).status_code)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=attack) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert statuses == [429] * 50
    [row] = refusal_rows(app, org.id, "throttled")
    # lock_out's last attempt was the first throttled one.
    assert row["repeat_count"] == 51
    with app.app_context():
        db.engine.dispose()


def test_the_audit_page_shows_how_many_times(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    make_user(app, org.id, "mia@acme.test")
    attacker = app.test_client()
    lock_out(attacker, app, "mia@acme.test")
    for _ in range(36):
        sign_in(attacker, "mia@acme.test", WRONG)

    page = owner_client.get("/audit").text
    rows = re.findall(r"<tr[ >].*?</tr>", page, re.S)
    [throttled] = [row for row in rows if "Too many attempts" in row]
    assert "37 times" in throttled
    assert "last at " in throttled
    single = [row for row in rows if "Wrong password" in row]
    assert single and all(" times" not in row for row in single)
    assert all("last at" not in row for row in single)
    # The filter still works.
    filtered = owner_client.get("/audit?kind=sign_in.refused").text
    assert "37 times" in filtered
    assert "37 times" not in owner_client.get("/audit?kind=sign_in.succeeded").text


# -- retention: flask prune -----------------------------------------------------------


def test_flask_prune_deletes_what_is_past_its_retention(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    audit_days = app.config["AUDIT_RETENTION_DAYS"]
    scim_days = app.config["SCIM_ACTIVITY_RETENTION_DAYS"]
    add_audit_events(
        app,
        org.id,
        [(audit_days + 100) * DAYS, (audit_days + 1) * DAYS, (audit_days - 1) * DAYS],
    )
    add_scim_activity(app, org.id, [(scim_days + 1) * DAYS, (scim_days - 1) * DAYS])
    rows_before = audit_row_count(app)

    dry = runner.invoke(args=["prune", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"Would delete 2 audit event(s) older than {audit_days} days" in dry.output
    assert (
        f"Would delete 1 SCIM activity row(s) older than {scim_days} days" in dry.output
    )
    assert audit_row_count(app) == rows_before
    assert len(scim_paths(app)) == 2
    assert stored_stamp(app) is None

    result = runner.invoke(args=["prune"])
    assert result.exit_code == 0, result.output
    assert "Deleted 2 audit event(s)" in result.output
    assert "Deleted 1 SCIM activity row(s)" in result.output
    assert aged_targets(app) == ["aged-2"]
    assert scim_paths(app) == ["/api/v1/scim/v2/Users?n=1"]
    assert audit_row_count(app) == rows_before - 2  # the organization's own kept
    assert stored_stamp(app) is not None

    again = runner.invoke(args=["prune"])
    assert "Deleted 0 audit event(s)" in again.output


def test_scim_activity_has_its_own_retention(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo
) -> None:
    app.config["SCIM_ACTIVITY_RETENTION_DAYS"] = 2
    add_audit_events(app, org.id, [3 * DAYS])
    add_scim_activity(app, org.id, [3 * DAYS, 1 * DAYS])

    result = runner.invoke(args=["prune"])

    assert result.exit_code == 0, result.output
    assert scim_paths(app) == ["/api/v1/scim/v2/Users?n=1"]
    assert aged_targets(app) == ["aged-0"]


def test_flask_prune_works_through_several_batches(
    app: Flask, runner: FlaskCliRunner, org: OrgInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(housekeeping, "BATCH_SIZE", 3)
    old = (app.config["AUDIT_RETENTION_DAYS"] + 1) * DAYS
    add_audit_events(app, org.id, [old] * 10 + [DAYS])

    with statements(app, r"\s*DELETE\b") as seen:
        result = runner.invoke(args=["prune"])

    assert result.exit_code == 0, result.output
    assert "Deleted 10 audit event(s)" in result.output
    assert aged_targets(app) == ["aged-10"]
    assert len([s for s in seen if "audit_event" in s]) == 4  # 3 + 3 + 3 + 1


def test_flask_prune_explains_itself(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["prune", "--help"])
    assert result.exit_code == 0
    for words in ("AUDIT_RETENTION_DAYS", "SCIM_ACTIVITY_RETENTION_DAYS", "--dry-run"):
        assert words in result.output


# -- retention: automatic, after the response ------------------------------------------


@pytest.fixture
def auto_app(tmp_path: Path) -> Iterator[Flask]:
    """An app whose automatic pruning is on (tests leave it off by default)."""
    app = make_app(tmp_path, HOUSEKEEPING_AUTOMATIC=True)
    yield app
    with app.app_context():
        db.engine.dispose()


def test_tests_leave_automatic_pruning_off_unless_asked(
    app: Flask, org: OrgInfo
) -> None:
    assert default_config.HOUSEKEEPING_AUTOMATIC is True
    assert app.config["HOUSEKEEPING_AUTOMATIC"] is False
    add_audit_events(app, org.id, [(app.config["AUDIT_RETENTION_DAYS"] + 1) * DAYS])
    app.test_client().get("/login").close()
    assert aged_targets(app) == ["aged-0"]
    assert stored_stamp(app) is None


@pytest.mark.parametrize("stamp_age", [None, timedelta(minutes=11)], ids=str)
def test_old_rows_are_pruned_after_the_response_then_not_for_ten_minutes(
    auto_app: Flask, stamp_age: timedelta | None
) -> None:
    app = auto_app
    org = make_org(app)
    old = (app.config["AUDIT_RETENTION_DAYS"] + 1) * DAYS
    add_audit_events(app, org.id, [old, DAYS])
    add_scim_activity(
        app, org.id, [(app.config["SCIM_ACTIVITY_RETENTION_DAYS"] + 1) * DAYS]
    )
    if stamp_age is not None:
        set_stamp(app, utcnow() - stamp_age)
    stamp_before = stored_stamp(app)

    response = app.test_client().get("/login")
    assert response.status_code == 200
    # Not during the request: the response is complete and nothing is gone.
    assert aged_targets(app) == ["aged-0", "aged-1"]
    response.close()  # what the WSGI server does once the response is sent

    assert aged_targets(app) == ["aged-1"]
    assert scim_paths(app) == []
    stamp = stored_stamp(app)
    assert stamp is not None and stamp != stamp_before
    assert housekeeping._parse(stamp) > utcnow() - timedelta(minutes=1)

    # Within ten minutes, this process does not even look again.
    add_audit_events(app, org.id, [old])
    with statements(app, r"\s*DELETE\b") as seen:
        app.test_client().get("/login").close()
    assert seen == []
    assert aged_targets(app) == ["aged-1", "aged-0"]
    assert stored_stamp(app) == stamp


def test_a_recent_prune_by_another_server_is_respected(
    tmp_path: Path, auto_app: Flask
) -> None:
    org = make_org(auto_app)
    old = (auto_app.config["AUDIT_RETENTION_DAYS"] + 1) * DAYS
    add_audit_events(auto_app, org.id, [old])
    auto_app.test_client().get("/login").close()
    assert aged_targets(auto_app) == []
    stamp = stored_stamp(auto_app)

    # A second app server on the same database, which has not pruned yet itself.
    other_server = make_app(tmp_path, HOUSEKEEPING_AUTOMATIC=True)
    add_audit_events(other_server, org.id, [old])
    with statements(other_server, r"\s*DELETE\b") as seen:
        other_server.test_client().get("/login").close()

    assert seen == []
    assert aged_targets(other_server) == ["aged-0"]
    assert stored_stamp(other_server) == stamp
    with other_server.app_context():
        db.engine.dispose()


def test_a_failing_prune_is_logged_and_the_response_unharmed(
    auto_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    org = make_org(auto_app)
    auto_app.config["AUDIT_RETENTION_DAYS"] = "four hundred"  # a broken setting
    add_audit_events(auto_app, org.id, [500 * DAYS])

    response = auto_app.test_client().get("/login")
    response.close()

    assert response.status_code == 200
    assert "Housekeeping failed" in caplog.text
    assert aged_targets(auto_app) == ["aged-0"]
