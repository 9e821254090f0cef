"""The members search: what it finds, behind the tenant wall, through the index.

What is searched and how is `core.models.search`; the query is
`blueprints.members.queries.search_condition`. Each test runs on SQLite (FTS5)
and, with `tools/with-postgres`, on PostgreSQL (pg_trgm). How every write
keeps the index in step: test_member_search_writes.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from blueprints.members import queries
from blueprints.members.queries import member_query
from core.extensions import db
from core.models import Organization
from core.models import User
from core.models import fold
from core.models import search
from core.models import unsafe_characters
from core.provisioning import users
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.search import PEOPLE
from tests.support.search import SPY
from tests.support.search import add_people
from tests.support.search import emails
from tests.support.search import page_emails
from tests.support.search import postgres_only
from tests.support.search import sqlite_only


@pytest.fixture
def people(app: Flask, org: OrgInfo) -> OrgInfo:
    """Acme with PEOPLE, and Globex with a member named like them."""
    add_people(app, org.id)
    return org


# How SQLite reads a search's hits: (FEW_MATCHES, WINDOW) that make it choose
# each way, whatever the number of matches.
PLANS = {"by id": (1_000, 0), "by email index": (0, 0), "by text": (0, 10_000)}


@pytest.fixture(params=list(PLANS))
def either_plan(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each way SQLite reads a search's hits (the answers must not differ)."""
    few, window = PLANS[request.param]
    monkeypatch.setattr(queries, "FEW_MATCHES", few)
    monkeypatch.setattr(queries, "WINDOW", window)
    return str(request.param)


# -- what a search finds ------------------------------------------------------------


@pytest.mark.usefixtures("either_plan")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nunez", {"jose.nunez@acme.test"}),  # accents removed from the name
        ("NÚÑEZ", {"jose.nunez@acme.test"}),  # case and accents
        ("josé", {"jose.nunez@acme.test", "jose.plain@acme.test"}),
        ("soren kier", {"soren@acme.test"}),  # ø, across given and family name
        ("lukasz wrob", {"lukasz@acme.test"}),  # ł, ó
        ("zoë quartz", {"zoe@acme.test"}),
        ("ierkeg", {"soren@acme.test"}),  # inside a word
        ("sz@acme.t", {"lukasz@acme.test"}),  # inside an email
        ("a_b", {"a_b@acme.test"}),  # "_" is a character, not a wildcard
        ("wu", {"wei.wu@acme.test"}),  # two letters: the start of a word
        ("W", {"wei.wu@acme.test", "lukasz@acme.test"}),  # Wei Wu, Wróbel
        ("kn", set()),  # "Aknin": not the start of a word
        ("ak", {"dana.aknin@acme.test"}),
        ("@", set()),  # one or two characters that start no word
        ("globex", set()),  # another organization's
        ("  Quartz  ", {"zoe@acme.test"}),
    ],
)
def test_search_finds_substrings_whatever_the_case_and_accents(
    app: Flask, people: OrgInfo, text: str, expected: set[str]
) -> None:
    assert emails(app, people.id, text) == expected


def test_the_page_shows_what_the_search_finds(
    app: Flask, people: OrgInfo, owner_client: FlaskClient
) -> None:
    assert page_emails(owner_client, "NUNEZ") == {"jose.nunez@acme.test"}
    assert (
        "one or two letters find the start of a word"
        in owner_client.get("/members").text
    )
    with app.app_context():
        jose = db.session.execute(
            sa.select(User).filter_by(email_key="jose.nunez@acme.test")
        ).scalar_one()
        jose.status = "inactive"
        db.session.commit()
    assert emails(app, people.id, "nunez", "active") == set()
    assert emails(app, people.id, "nunez", "inactive") == {"jose.nunez@acme.test"}


def old_match(key: str, email_key: str, name_key: str) -> bool:
    """What the LIKE of before found: the folded search inside either key."""
    return key in email_key or key in name_key


def new_match(key: str, email_key: str, name_key: str) -> bool:
    needle = search.search_needle(key)
    return needle is not None and needle in search.search_text(email_key, name_key)


TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=12
)
LATIN = st.text(st.sampled_from("aeiouéèêëñçøłÅÉßkK .@_-"), min_size=1, max_size=12)


@given(
    email=st.one_of(TEXT, LATIN),
    names=st.one_of(TEXT, LATIN),
    key=st.one_of(TEXT, LATIN),
)
def test_everything_found_before_is_still_found(
    email: str, names: str, key: str
) -> None:
    """From three characters on, a search finds exactly what it found before plus
    what differs only by accents; below, only the start of a word."""
    email_key, name_key, key = fold(email), fold(names), fold(key)
    if not key or unsafe_characters(email + names + key):
        return
    plain = search.unaccent(key)
    if len(plain) >= search.TRIGRAM:
        if old_match(key, email_key, name_key):
            assert new_match(key, email_key, name_key)
        assert new_match(key, email_key, name_key) == old_match(
            plain, search.unaccent(email_key), search.unaccent(name_key)
        )
    elif new_match(key, email_key, name_key):
        assert old_match(plain, search.unaccent(email_key), search.unaccent(name_key))


# -- hostile input: no error, no wider match, never another organization -----------

HOSTILE = [
    "%",
    "%%",
    "_",
    "\\",
    '"',
    '""',
    '"*"',
    "*",
    "ad*",
    "NEAR(jose nunez)",
    "jose OR globex",
    "jose AND NOT plain",
    "-plain",
    "email:jose",
    "search_text:jose",
    "user_search:jose",
    "{search_text}: jose",
    "^jose",
    '"unbalanced',
    'jose"',
    "jose) OR (1=1",
    "'; DROP TABLE user; --",
    "\x00",
    "jo\x00se",
    "x\x1e\x1ejose",  # the marks of the search text
    "test\x1fjose",
    "jo\u2028se",
    "\u0301",
    "a" * 200,
]


@pytest.mark.usefixtures("either_plan")
@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_searches_answer_and_find_only_literal_matches(
    app: Flask, people: OrgInfo, owner_client: FlaskClient, text: str
) -> None:
    """Each is read as plain text: nobody's name or email holds it (and "_" or
    "%" alone start no word), so nobody is found, and the page answers 200
    (`\\x00` made PostgreSQL fail before: a 500)."""
    found = page_emails(owner_client, text)
    assert SPY not in found
    assert found == emails(app, people.id, text) == set()


@pytest.mark.usefixtures("either_plan")
def test_the_search_stays_inside_the_organization(app: Flask, people: OrgInfo) -> None:
    globex = make_org(app, "Initech")
    make_user(app, globex.id, "jose.nunez@initech.test", given_name="José")
    for text in ("jose", "nunez", "wu", "w", "acme", "test", "@acme"):
        assert all(
            email.endswith("@acme.test") for email in emails(app, people.id, text)
        )
    with app.app_context():
        spy_org = db.session.execute(
            sa.select(Organization.id).filter_by(name="Globex")
        ).scalar_one()
    assert emails(app, spy_org, "nunez") == {SPY}
    assert emails(app, spy_org, "acme") == set()


@pytest.mark.usefixtures("either_plan")
def test_the_index_finds_exactly_the_rows_holding_the_text(
    app: Flask, people: OrgInfo
) -> None:
    """Every short piece of the names and emails, through the index, finds the
    members whose search text holds it: what a scan of the text would find."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(User.email, User.search_text).filter_by(organization_id=people.id)
        ).all()
    sources = " ".join(f"{email} {given} {family}" for email, given, family in PEOPLE)
    pieces = {
        fold(sources[start : start + size])
        for size in (1, 2, 3, 4, 7)
        for start in range(0, len(sources) - size, 3)
    }
    for piece in sorted(piece for piece in pieces if piece):
        needle = search.search_needle(piece)
        expected = {email for email, text in rows if needle and needle in text}
        assert emails(app, people.id, piece) == expected, piece


# -- through the index, at a cost that does not grow with the organization ---------


def plan_of(statement: sa.Select) -> str:
    """The database's plan for `statement` (SQLite: EXPLAIN QUERY PLAN)."""
    if db.engine.dialect.name == "sqlite":
        sql = statement.compile(
            dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}
        )
        rows = db.session.execute(sa.text(f"EXPLAIN QUERY PLAN {sql}")).all()
        return "\n".join(row[3] for row in rows)
    compiled = statement.compile(dialect=db.engine.dialect)
    rows = db.session.connection().exec_driver_sql(
        f"EXPLAIN {compiled}", compiled.params
    )
    return "\n".join(row[0] for row in rows)


@sqlite_only
@pytest.mark.parametrize("text", ["nunez", "wu", "quartz"])
def test_sqlite_answers_from_an_index(
    app: Flask, people: OrgInfo, either_plan: str, text: str
) -> None:
    """The hits come from the FTS5 table, or, when the page lies among the first
    members in page order, from walking the email index (never the table)."""
    with app.app_context():
        statement = member_query(people.id, text, "active", rows=1)
        plan = plan_of(statement.order_by(User.email_key).limit(50))
    assert not re.search(r"SCAN user\b(?!_)", plan), plan  # never the whole table
    fts = f"SCAN {search.SEARCH_TABLE} VIRTUAL TABLE INDEX 0:M"
    walk = r"SEARCH user USING INDEX \S+ \(organization_id=\?\)"
    if either_plan == "by id":
        assert fts in plan, plan
        assert "SEARCH user USING INTEGER PRIMARY KEY (rowid=?)" in plan, plan
    elif either_plan == "by email index":
        assert fts in plan and re.search(walk, plan), plan
    else:
        assert fts not in plan and re.search(walk, plan), plan


@postgres_only
def test_postgres_has_the_trigram_index_and_answers_from_it(
    app: Flask, people: OrgInfo
) -> None:
    with app.app_context():
        definition = db.session.execute(
            sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"),
            {"name": search.TRIGRAM_INDEX},
        ).scalar_one()
        assert "USING gin (search_text gin_trgm_ops)" in definition
        db.session.execute(sa.insert(User), [smith(people.id, n) for n in range(2_000)])
        # What autovacuum does on a live server: new entries leave the index's
        # pending list, and the planner learns how many rows there are.
        db.session.execute(
            sa.text("SELECT gin_clean_pending_list(:index)"),
            {"index": search.TRIGRAM_INDEX},
        )
        db.session.execute(sa.text('ANALYZE "user"'))
        for text in ("nunez", "wu"):
            statement = member_query(people.id, text, "")
            plan = plan_of(statement.order_by(User.email_key).limit(50))
            assert f"Bitmap Index Scan on {search.TRIGRAM_INDEX}" in plan, plan
            assert "Seq Scan" not in plan, plan


def smith(org_id: int, n: int) -> dict[str, object]:
    """A member nobody searches for, for a bulk `insert(User)`."""
    email = f"smith{n}@acme.test"
    return {
        "organization_id": org_id,
        "email": email,
        "email_key": email,
        "user_name": email,
        "user_name_key": email,
        "name_key": f"sam smith {n}",
    }


def work_of(app: Flask, statement: Callable[[], sa.Select]) -> int:
    """How many hundred SQLite virtual-machine steps a query takes: the rows
    and index entries it reads, counted rather than timed."""
    steps = 0

    def step() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    with app.app_context():
        query = statement()
        raw = db.session.connection().connection.dbapi_connection
        raw.set_progress_handler(step, 100)
        try:
            db.session.execute(query).all()
        finally:
            raw.set_progress_handler(None, 0)
    return steps


@sqlite_only
@pytest.mark.parametrize("text", ["nunez", "nu"])
def test_a_search_reads_a_small_part_of_a_big_organization(
    app: Flask, org: OrgInfo, text: str
) -> None:
    """Finding two people among 2,000 members reads less than a tenth of what a
    scan of the members (the LIKE of before) reads."""
    for email in ("nina.nunez@acme.test", "nils.nunez@acme.test"):
        make_user(app, org.id, email, family_name="Núñez")
    with app.app_context():
        for n in range(2_000):
            users.new_user(org.id, email=f"n{n}@acme.test", family_name="Smith")
        db.session.commit()
    assert emails(app, org.id, text) == {"nina.nunez@acme.test", "nils.nunez@acme.test"}

    def page() -> sa.Select:
        return member_query(org.id, text, "").order_by(User.email_key).limit(51)

    def scan() -> sa.Select:
        return (
            sa.select(User)
            .where(User.organization_id == org.id, User.name_key.like(f"%{text}%"))
            .order_by(User.email_key)
            .limit(51)
        )

    assert work_of(app, page) * 10 < work_of(app, scan)
