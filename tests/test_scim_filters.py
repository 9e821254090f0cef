"""SCIM filter parsing and its SQL, against real rows."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

import pytest
from flask import Flask

from blueprints.scim.filter_syntax import FilterError
from blueprints.scim.filter_syntax import parse_filter
from blueprints.scim.filters import compile_filter
from blueprints.scim.users import FIELDS
from blueprints.scim.users import SCHEMAS
from core.extensions import db
from core.models import User
from tests.support.builders import OrgInfo
from tests.support.builders import make_user


@pytest.fixture
def people(app: Flask, org: OrgInfo) -> dict[str, int]:
    ids = {
        "ann": make_user(
            app, org.id, "Ann.Lee@acme.test", given_name="Ann", family_name="Lee"
        ),
        "bob": make_user(
            app, org.id, "bob@acme.test", given_name="Bob", family_name="Stone"
        ),
        "cy": make_user(
            app, org.id, "cy@other.test", given_name="Cy", status="inactive"
        ),
    }
    with app.app_context():
        db.session.get(User, ids["ann"]).external_id = "00uANN"
        db.session.commit()
    return ids


def emails(app: Flask, text: str) -> set[str]:
    with app.app_context():
        query = db.select(User.email_key).where(compile_filter(text, FIELDS, SCHEMAS))
        return set(db.session.execute(query).scalars())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('userName eq "ann.lee@acme.test"', {"ann.lee@acme.test"}),
        ('userName eq "ANN.LEE@ACME.TEST"', {"ann.lee@acme.test"}),
        ('USERNAME Eq "bob@acme.test"', {"bob@acme.test"}),
        (
            'urn:ietf:params:scim:schemas:core:2.0:User:userName eq "bob@acme.test"',
            {"bob@acme.test"},
        ),
        (
            'userName ne "bob@acme.test"',
            {"owner@acme.test", "ann.lee@acme.test", "cy@other.test"},
        ),
        ('userName sw "ann"', {"ann.lee@acme.test"}),
        ('userName ew "@other.test"', {"cy@other.test"}),
        ('userName co "LEE@"', {"ann.lee@acme.test"}),
        ('userName co "%"', set()),
        ('userName co "_"', set()),
        ('externalId eq "00uANN"', {"ann.lee@acme.test"}),
        ('externalId eq "00uann"', set()),
        ("externalId pr", {"ann.lee@acme.test"}),
        ('emails.value eq "BOB@acme.test"', {"bob@acme.test"}),
        ('emails[type eq "work"].value eq "bob@acme.test"', {"bob@acme.test"}),
        ('emails[type eq "home"].value eq "bob@acme.test"', set()),
        ('emails[value eq "bob@acme.test" and primary eq true]', {"bob@acme.test"}),
        ('name.givenName eq "ann"', {"ann.lee@acme.test"}),
        ('name.familyName sw "st"', {"bob@acme.test"}),
        ("active eq false", {"cy@other.test"}),
        ('active eq "false"', {"cy@other.test"}),
        ('active eq true and name.givenName eq "Bob"', {"bob@acme.test"}),
        (
            'name.givenName eq "Bob" or name.givenName eq "Cy" and active eq true',
            {"bob@acme.test"},
        ),
        (
            '(name.givenName eq "Bob" or name.givenName eq "Cy") and active eq false',
            {"cy@other.test"},
        ),
        ('not (userName ew "acme.test")', {"cy@other.test"}),
        (
            'meta.lastModified gt "2000-01-01T00:00:00Z"',
            {"owner@acme.test", "ann.lee@acme.test", "bob@acme.test", "cy@other.test"},
        ),
        ('meta.lastModified lt "2000-01-01T00:00:00Z"', set()),
        ('id eq "not-a-number"', set()),
        ("displayName eq null", set()),
    ],
)
def test_filters_select_the_right_rows(
    app: Flask, people: dict[str, int], text: str, expected: set[str]
) -> None:
    assert emails(app, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "userName",
        "userName eq",
        'userName xx "a"',
        'userName eq "a" and',
        '(userName eq "a"',
        'userName eq "a")',
        "userName eq unquoted",
        'password eq "x"',
        'urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x"',
        "active gt true",
        'active eq "maybe"',
        'meta.lastModified gt "yesterday"',
        'emails[type eq "work"',
        'emails[emails[type eq "work"]]',
        'userName eq "\\x"',
        'not userName eq "a"',
        "(" * 40 + 'userName eq "a"' + ")" * 40,
        'userName eq "' + "a" * 3000 + '"',
    ],
)
def test_bad_filters_are_refused(app: Flask, text: str) -> None:
    with app.app_context(), pytest.raises(FilterError):
        compile_filter(text, FIELDS, SCHEMAS)


def test_precedence_and_binds_tighter_than_or() -> None:
    assert parse_filter('a eq "1" or b eq "2" and c eq "3"') == (
        "or",
        ("cmp", "a", "eq", "1"),
        ("and", ("cmp", "b", "eq", "2"), ("cmp", "c", "eq", "3")),
    )


def test_username_lookup_uses_the_index(app: Flask, people: dict[str, int]) -> None:
    with app.app_context():
        query = db.select(User.id).where(
            User.organization_id == 1,
            compile_filter('userName eq "BOB@acme.test"', FIELDS, SCHEMAS),
        )
        sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
        if db.engine.dialect.name == "postgresql":
            # PostgreSQL plans by statistics: give it a table of realistic size
            # (members spread over several statuses) and fresh statistics.
            now = datetime.now(UTC)
            db.session.execute(
                db.insert(User),
                [
                    {
                        "organization_id": 1,
                        "email": f"f{n}@acme.test",
                        "email_key": f"f{n}@acme.test",
                        "user_name": f"f{n}@acme.test",
                        "user_name_key": f"f{n}@acme.test",
                        "status": "active",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for n in range(3000)
                ],
            )
            db.session.commit()
            db.session.execute(db.text('ANALYZE "user"'))
            plan = " ".join(
                str(row) for row in db.session.execute(db.text("EXPLAIN " + sql))
            )
            assert "Index" in plan and "uq_user_org_user_name" in plan, plan
            return
        plan = " ".join(
            str(row) for row in db.session.execute(db.text("EXPLAIN QUERY PLAN " + sql))
        )
    assert "SEARCH user USING" in plan and "user_name_key=?" in plan, plan


def test_datetime_filters_compare_in_utc(app: Flask, people: dict[str, int]) -> None:
    with app.app_context():
        db.session.get(User, people["bob"]).updated_at = datetime(
            2030, 1, 1, tzinfo=UTC
        )
        db.session.commit()
    assert emails(app, 'meta.lastModified ge "2030-01-01T00:00:00Z"') == {
        "bob@acme.test"
    }
    assert emails(app, 'meta.lastModified ge "2030-01-01T01:00:00+01:00"') == {
        "bob@acme.test"
    }
