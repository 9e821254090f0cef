"""What the members search tests share: people to find, and ways to see what a
search finds and that the index is in step with the users."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from blueprints.members.queries import member_query
from core.extensions import db
from core.models import User
from core.models import search
from tests.support import databases
from tests.support.builders import make_org
from tests.support.builders import make_user

PEOPLE = [
    ("jose.nunez@acme.test", "José", "Núñez"),
    ("jose.plain@acme.test", "Jose", "Plain"),
    ("soren@acme.test", "Søren", "Kierkegaard"),
    ("lukasz@acme.test", "Łukasz", "Wróbel"),
    ("wei.wu@acme.test", "Wei", "Wu"),
    ("dana.aknin@acme.test", "Dana", "Aknin"),
    ("a_b@acme.test", "", ""),
    ("axb@acme.test", "", ""),
    ("zoe@acme.test", "ZOË", "Quartz"),
]
SPY = "ada.spy@globex.test"

sqlite_only = pytest.mark.skipif(databases.ON_POSTGRES, reason="SQLite's FTS5 index")
postgres_only = pytest.mark.skipif(
    not databases.ON_POSTGRES, reason="PostgreSQL's trigram index"
)


def emails(app: Flask, org_id: int, text: str, status: str = "") -> set[str]:
    """The emails of every member a search for `text` finds (planned as for a
    page's first row, so that each of SQLite's ways may be chosen)."""
    with app.app_context():
        query = member_query(org_id, text, status, rows=1)
        return {user.email for user in db.session.execute(query).scalars()}


def page_emails(client: FlaskClient, text: str) -> set[str]:
    """The emails listed on the members page for a search of `text`."""
    response = client.get("/members", query_string={"q": text})
    assert response.status_code == 200, response.text
    return set(re.findall(r"<td>([^<@]+@[^<]+)</td>", response.text))


def assert_index_in_step(app: Flask) -> None:
    """Every user's `search_text` is the one its keys give, and on SQLite the FTS5
    index holds exactly the `search_text` of every user (its integrity check
    compares the index with the `user` table)."""
    with app.app_context():
        for email_key, name_key, text in db.session.execute(
            sa.select(User.email_key, User.name_key, User.search_text)
        ):
            assert text == search.search_text(email_key, name_key)
        if db.engine.dialect.name == "sqlite":
            db.session.execute(
                sa.text(
                    f"INSERT INTO {search.SEARCH_TABLE}({search.SEARCH_TABLE}, rank)"
                    " VALUES ('integrity-check', 1)"
                )
            )


def add_people(app: Flask, org_id: int) -> None:
    """PEOPLE in the organization, and Globex with SPY, named like them."""
    for email, given_name, family_name in PEOPLE:
        make_user(app, org_id, email, given_name=given_name, family_name=family_name)
    globex = make_org(app, "Globex")
    make_user(app, globex.id, SPY, given_name="José", family_name="Núñez Wu")
