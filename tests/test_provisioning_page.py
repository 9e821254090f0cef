"""/settings/provisioning as a person reads it: words, filters, bounds (#13)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.extensions import db
from core.models import ApiKey
from core.models import ScimRequest
from core.models import utcnow
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import scim_key
from tests.support.logs import field_value
from tests.support.logs import member_of
from tests.support.logs import okta_made
from tests.support.logs import table_rows
from tests.support.logs import table_text
from tests.support.logs import user_body
from tests.support.scim import ScimClient
from tests.support.sql import statements

pytestmark = pytest.mark.usefixtures("quick_passwords")
PAGE = "/settings/provisioning"


def rows_of(client: FlaskClient, query: str = "") -> list[dict[str, str]]:
    answer = client.get(f"{PAGE}?{query}")
    assert answer.status_code == 200, answer.text
    return table_rows(answer.text, "activity")


def key_id(app: Flask, name: str) -> int:
    with app.app_context():
        return db.session.execute(
            db.select(ApiKey.id).filter_by(name=name)
        ).scalar_one()


def test_requests_read_as_words(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    world = okta_made(app, org)
    world.scim.post("/Users", user_body("dana@acme.test"))  # a duplicate: 409
    rows = rows_of(owner_client)
    assert rows[0]["Request"].startswith("Create user POST /api/v1/scim/Users")
    assert rows[0]["Status"].startswith("409 Conflict already exists (uniqueness)")
    assert rows[0]["Key"] == "Key “Okta provisioning” " + rows[0]["Key"].split(" ")[-1]
    text = table_text(owner_client.get(PAGE).text, "activity")
    assert "+ dana@acme.test to Engineering" in text
    assert "− eli@acme.test from Engineering" in text
    assert "Deactivated by Okta" in text
    assert "First name set to Dana" in text
    assert "Update group" in text and "201 Created" in text
    for raw in ("members added", "∅", "False", "True", "name.givenName", "["):
        assert raw not in text, raw


def test_deleted_and_adopted_accounts_in_words(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    make_user(app, org.id, "ann@acme.test")
    scim = ScimClient(app.test_client(), scim_key(app, org.id), "okta")
    adopted = scim.post("/Users", user_body("ann@acme.test"))
    assert adopted.status_code == 201
    assert (
        scim.delete(f"/Users/{adopted.get_json(force=True)['id']}").status_code == 204
    )
    text = table_text(owner_client.get(PAGE).text, "activity")
    assert "Existing account taken over by Okta" in text
    assert "Now managed by Okta (SCIM)" in text
    assert "Deleted by Okta" in text and "Delete user" in text
    assert "scim_managed" not in text and "deleted" not in text.replace("Deleted", "")


def test_each_filter_narrows(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    okta_made(app, org, key_name="First")
    okta_made(app, org, key_name="Second", tag="2")
    ScimClient(app.test_client(), scim_key(app, org.id, name="Third"), "okta").get(
        "/Users/999999"
    )  # 404
    first, second = key_id(app, "First"), key_id(app, "Second")
    every = rows_of(owner_client)
    assert {row["Key"].split(" ")[1] for row in every} == {
        "“First”",
        "“Second”",
        "“Third”",
    }
    assert all("“First”" in r["Key"] for r in rows_of(owner_client, f"key={first}"))
    assert len(rows_of(owner_client, f"key={second}")) == 6
    failed = rows_of(owner_client, "status=error")
    assert [r["Status"].split(" ")[0] for r in failed] == ["404"]
    assert rows_of(owner_client, "errors=1") == failed  # the summary card's link
    assert all(
        not r["Status"].startswith("4") for r in rows_of(owner_client, "status=ok")
    )
    patches = rows_of(owner_client, "method=patch")
    assert len(patches) == 6 and all("PATCH" in r["Request"] for r in patches)
    groups = rows_of(owner_client, "resource=Group")
    assert len(groups) == 6 and all("group" in r["Request"] for r in groups)
    assert len(rows_of(owner_client, "resource=Group&method=POST")) == 2
    # Created, deactivated (group changes store member ids: found by the group).
    assert len(rows_of(owner_client, "q=eli2@")) == 2
    assert rows_of(owner_client, "q=ENGINEERING2&method=DELETE") == []
    today = utcnow().date()
    assert len(rows_of(owner_client, f"from={today}&to={today}")) == len(every)
    with app.app_context():
        for row in db.session.execute(db.select(ScimRequest)).scalars():
            row.created_at = utcnow() - timedelta(days=3)
        db.session.commit()
    assert rows_of(owner_client, f"from={today}") == []
    page = owner_client.get(f"{PAGE}?q=eli%40acme.test&key={first}").text
    assert field_value(page, "filter-q") == "eli@acme.test"
    assert field_value(page, "filter-key") == str(first)


@pytest.mark.parametrize(
    "query",
    [
        "key=abc",
        "key=99999999999999999999",
        "status=maybe",
        "method=TRACE",
        "resource=Users%27--",
        "from=2026-02-30",
        "to=+99999-01-01",
        "q=" + "y" * 500,
    ],
)
def test_hostile_filters_answer_400_with_the_reason(
    app: Flask, owner_client: FlaskClient, org: OrgInfo, query: str
) -> None:
    okta_made(app, org)
    answer = owner_client.get(f"{PAGE}?{query}")
    assert answer.status_code == 400, answer.text
    assert 'class="error"' in answer.text
    assert table_rows(answer.text, "activity") == []


def test_harmless_text_is_only_text(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    okta_made(app, org)
    for text in ("%25", "%27+OR+1%3D1--", "%5C%25", "%E2%80%AE"):
        assert rows_of(owner_client, f"q={text}") == []


def test_another_organizations_key_and_requests_never_show(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    globex = make_org(app, "Globex")
    theirs = ScimClient(app.test_client(), scim_key(app, globex.id, name="Globex key"))
    assert theirs.post("/Users", user_body("spy@globex.test")).status_code == 201
    okta_made(app, org)
    their_key = key_id(app, "Globex key")
    answer = owner_client.get(f"{PAGE}?key={their_key}")
    assert answer.status_code == 400
    assert "No such SCIM key in this organization." in answer.text
    page = owner_client.get(PAGE).text
    assert "spy@globex.test" not in page and "Globex key" not in page
    assert rows_of(owner_client, "q=globex") == []


def test_the_page_is_for_owners_and_admins(app: Flask, org: OrgInfo) -> None:
    member = member_of(app, org, "mia@acme.test")
    assert member.get(f"{PAGE}?status=error").status_code == 403


def test_statements_per_page_do_not_grow_with_rows(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    okta_made(app, org)
    owner_client.get(PAGE)
    with statements(app) as few:
        assert owner_client.get(f"{PAGE}?q=acme").status_code == 200
    for n in range(3):
        okta_made(app, org, key_name=f"Key {n}", tag=str(n))
    with statements(app) as many:
        assert owner_client.get(f"{PAGE}?q=acme").status_code == 200
    assert len(many) == len(few)
