"""/audit as a person reads it: words, filters, CSV, bounds, tenant wall (#13)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core import audit
from core.extensions import db
from core.models import AuditEvent
from core.models import utcnow
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.logs import field_value
from tests.support.logs import member_of
from tests.support.logs import okta_made
from tests.support.logs import signed_in
from tests.support.logs import table_rows
from tests.support.logs import table_text
from tests.support.sql import statements

pytestmark = pytest.mark.usefixtures("quick_passwords")


def record(app: Flask, org_id: int, kind: str, **values: object) -> int:
    """Record one event (as the CLI unless `actor` says otherwise); its id."""
    with app.app_context():
        values.setdefault("actor", "cli")
        event = audit.record(kind, org_id, **values)  # type: ignore[arg-type]
        db.session.commit()
        return event.id


def backdate(app: Flask, event_id: int, days: int) -> None:
    with app.app_context():
        event = db.session.get(AuditEvent, event_id)
        assert event is not None
        event.created_at = utcnow() - timedelta(days=days)
        db.session.commit()


# -- words --------------------------------------------------------------------------


def test_group_membership_changes_name_the_people(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    okta_made(app, org)
    page = owner_client.get("/audit").text
    text = table_text(page, "audit")
    assert "+ dana@acme.test to Engineering" in text
    assert "+ eli@acme.test to Engineering" in text
    assert "− eli@acme.test from Engineering" in text
    assert "Deactivated by Okta" in text
    assert "Group updated by SCIM" in text and "User created by SCIM" in text
    # No internals: ids, Python values, field names, key=value, JSON.
    for raw in ("members added", "∅", "False", "True", "scim_managed", "=", "{", "["):
        assert raw not in text, raw


def test_actors_are_people_keys_okta_and_the_cli(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    ann = make_user(app, org.id, "ann@acme.test", given_name="Ann", family_name="Lee")
    okta_made(app, org, key_name="Okta provisioning")
    owner_client.post(f"/members/{ann}/role", data={"role": "admin"})
    record(app, org.id, "okta.link_email_sent", actor="okta sign-in", target="x@y.test")
    rows = table_rows(owner_client.get("/audit").text, "audit")
    by_event = {}
    for row in rows:
        by_event.setdefault(row["Event"], row)
    assert by_event["Role changed"]["Actor"] == "owner@acme.test"
    assert by_event["Role changed"]["What happened"] == "Role: member → admin"
    assert by_event["Role changed"]["Target"] == "ann@acme.test"
    assert by_event["User created by SCIM"]["Actor"].startswith(
        "Key “Okta provisioning”"
    )
    assert by_event["SCIM sync switched"]["Actor"] == "CLI"
    assert by_event["SCIM sync switched"]["What happened"] == "Turned on"
    assert by_event["Okta link email sent"]["Actor"] == "Okta"
    # The actor filter finds a key by its name (the row stores its prefix).
    keyed = table_rows(owner_client.get("/audit?actor=OKTA+prov").text, "audit")
    assert len(keyed) == 6  # 2 users made, a group made and changed twice, 1 off
    assert all(row["Actor"].startswith("Key “Okta provisioning”") for row in keyed)
    # A person with a name: the name, then the email.
    admin = signed_in(app, "ann@acme.test")
    rows = table_rows(admin.get("/audit").text, "audit")
    [signed] = [r for r in rows if r["Event"] == "Signed in" and "Ann" in r["Actor"]]
    assert signed["Actor"] == "Ann Lee ann@acme.test"
    assert signed["What happened"] == "With password"


def test_sign_in_refusals_say_why_with_a_badge(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    sign_in(app.test_client(), org.owner_email, "not the password")
    rows = table_rows(owner_client.get("/audit").text, "audit")
    [refused] = [r for r in rows if r["Event"] == "Sign-in refused"]
    assert refused["Status"] == "Refused"
    assert "Wrong password" in refused["What happened"]
    assert all(r["Status"] == "Success" for r in rows if r["Event"] == "Signed in")


def test_an_unknown_kind_still_reads_as_words(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    record(app, org.id, "future_thing.accepted", sessions_ended=2, subject_id="x")
    [row] = table_rows(owner_client.get("/audit").text, "audit")[:1]
    assert row["Event"] == "Future thing accepted"
    assert row["What happened"] == "Sessions ended: 2 Subject id: x"


# -- filters ------------------------------------------------------------------------


def targets(client: FlaskClient, query: str) -> list[str]:
    """The Target column of /audit?query, newest first."""
    answer = client.get(f"/audit?{query}")
    assert answer.status_code == 200, answer.text
    return [row["Target"] for row in table_rows(answer.text, "audit")]


def test_each_filter_narrows(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    make_user(app, org.id, "ann@acme.test", given_name="Ann", family_name="Lee")
    ann = signed_in(app, "ann@acme.test")  # Ann's own sign-in: actor Ann
    old = record(app, org.id, "member.added", target="old@acme.test", role="member")
    backdate(app, old, 10)
    record(
        app,
        org.id,
        "sign_in.refused",
        actor="anonymous",
        reason="x",
        reference="R7-QX2",
    )
    record(app, org.id, "member.deactivated", target="mel@acme.test")
    assert ann is not None

    assert targets(owner_client, "kind=member.deactivated") == ["mel@acme.test"]
    # Actor: by a person's name (not stored on the row), by the stored label.
    assert [
        r["Event"]
        for r in table_rows(owner_client.get("/audit?actor=ann+lee").text, "audit")
    ] == ["Signed in"]
    assert targets(owner_client, "actor=anonym") == ["—"]
    # Dates: from, to (inclusive of the whole day), both.
    today = utcnow().date().isoformat()
    ten_days = (utcnow() - timedelta(days=10)).date().isoformat()
    assert "old@acme.test" not in targets(owner_client, f"from={today}")
    assert targets(owner_client, f"to={ten_days}") == ["old@acme.test"]
    assert targets(owner_client, f"from={ten_days}&to={ten_days}") == ["old@acme.test"]
    # Free text: target, a detail (a refusal's reference), an event's label.
    assert targets(owner_client, "q=MEL@acme") == ["mel@acme.test"]
    assert [
        r["What happened"]
        for r in table_rows(owner_client.get("/audit?q=r7-qx2").text, "audit")
    ] == ["X Reference: R7-QX2"]
    assert targets(owner_client, "q=deactivated") == ["mel@acme.test"]
    # Filters combine.
    assert targets(owner_client, f"q=acme.test&to={ten_days}") == ["old@acme.test"]


def test_the_form_shows_what_was_typed_decoded(owner_client: FlaskClient) -> None:
    page = owner_client.get(
        "/audit?q=dana%40acme.test+%C3%A9&actor=Ann%20Lee&kind=member.added"
    ).text
    assert field_value(page, "filter-q") == "dana@acme.test é"
    assert field_value(page, "filter-actor") == "Ann Lee"
    assert field_value(page, "filter-kind") == "member.added"
    assert "%40" not in page.split("<form", 1)[1].split("</form>", 1)[0]


def test_json_escaped_text_is_found(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    record(app, org.id, "organization.renamed", before="Acme", after='Acmé "Rockets"')
    assert len(targets(owner_client, 'q=acmé+"rockets"')) == 1
    assert targets(owner_client, "q=zzz") == []


@pytest.mark.parametrize(
    "query",
    [
        "q=%25",
        "q=_",
        "q=%27+OR+1%3D1+--",
        "q=%5C",
        "actor=%25%27%22",
        "kind=%27%3B+DROP+TABLE+audit_event",
        "q=%00",
        "q=" + "x" * 201,
        "from=99999-01-01",
        "from=2026-13-01",
        "to=not-a-date",
        "from=2026-12-02&to=2026-12-01",
        "to=9999-12-31",
        "from=0001-01-01",
        "before=99999999999999999999999",
        "before=-1",
        "format=xml",
    ],
)
def test_hostile_filters_are_refused_or_harmless(
    app: Flask, owner_client: FlaskClient, org: OrgInfo, query: str
) -> None:
    record(app, org.id, "member.added", target="ann@acme.test", role="member")
    answer = owner_client.get(f"/audit?{query}")
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 400:
        assert 'class="error"' in answer.text  # a sentence at its field
        assert table_rows(answer.text, "audit") == []
    elif query.startswith(("q=%25", "q=%27", "q=%5C", "actor", "kind")):
        # Wildcards are text: nothing holds them here.
        assert table_rows(answer.text, "audit") == []
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(AuditEvent.id))).scalar() >= 1


def test_bad_dates_and_text_answer_400_with_the_reason(
    owner_client: FlaskClient,
) -> None:
    answer = owner_client.get("/audit?from=99999-01-01")
    assert answer.status_code == 400
    assert "A date such as 2026-12-01" in answer.text
    answer = owner_client.get("/audit?from=2026-12-02&to=2026-12-01")
    assert answer.status_code == 400
    assert "The end date is before the start date." in answer.text
    assert owner_client.get("/audit?to=9999-12-31").status_code == 200


# -- CSV ----------------------------------------------------------------------------


def csv_rows(answer: object) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))  # type: ignore[attr-defined]


def test_csv_has_the_filtered_rows_in_words(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    okta_made(app, org)
    answer = owner_client.get("/audit?format=csv&kind=scim.group.updated")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = csv_rows(answer)
    assert {row["Kind"] for row in rows} == {"scim.group.updated"}
    lines = " ".join(row["What happened"] for row in rows)
    assert "'+ eli@acme.test to Engineering" in lines
    assert "− eli@acme.test from Engineering" in lines
    assert rows[0]["Actor"] == "Key “Okta provisioning”"
    # The page links to the CSV of its own filter.
    page = owner_client.get("/audit?kind=scim.group.updated&q=eli").text
    assert field_value(page, "filter-q") == "eli"
    assert 'href="/audit?format=csv&amp;kind=scim.group.updated&amp;q=eli"' in page


def test_csv_cells_cannot_run_as_formulas(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    for typed in ('=HYPERLINK("http://evil")', "+1+1", "-2", "@SUM(A1)"):
        record(app, org.id, "sign_in.refused", actor=typed, reason="wrong password")
    rows = csv_rows(owner_client.get("/audit?format=csv&kind=sign_in.refused"))
    actors = sorted(row["Actor"] for row in rows)
    assert actors == ["'+1+1", "'-2", '\'=HYPERLINK("http://evil")', "'@SUM(A1)"]
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())


def test_csv_is_for_owners_and_admins_of_this_organization(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    globex = make_org(app, "Globex")
    record(app, globex.id, "member.added", target="secret@globex.test", role="member")
    record(app, org.id, "member.added", target="ann@acme.test", role="member")
    member = member_of(app, org, "mia@acme.test")
    assert member.get("/audit?format=csv").status_code == 403
    assert member.get("/audit").status_code == 403
    assert app.test_client().get("/audit?format=csv").status_code in (302, 401)
    body = owner_client.get("/audit?format=csv").get_data(as_text=True)
    assert "ann@acme.test" in body and "globex" not in body.lower()
    assert (
        "globex"
        not in owner_client.get("/audit?format=csv&q=globex")
        .get_data(as_text=True)
        .lower()
    )


# -- bounds and the tenant wall -----------------------------------------------------


def test_statements_per_page_do_not_grow_with_rows(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    okta_made(app, org)
    owner_client.get("/audit")  # warm up (first request of a client loads more)
    with statements(app) as few:
        assert owner_client.get("/audit?q=acme").status_code == 200
    for n in range(60):
        make_user(app, org.id, f"user{n}@acme.test")
    okta_made(
        app, org, key_name="Second key", tag="2"
    )  # more people, keys, group changes
    with statements(app) as many:
        assert owner_client.get("/audit?q=acme").status_code == 200
    assert len(many) == len(few)
    assert len(many) <= 8


def test_another_organizations_people_and_keys_never_show(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    globex = make_org(app, "Globex")
    spy = make_user(app, globex.id, "spy@globex.test", given_name="Sly")
    # An event of ours naming their member id (it cannot happen, but if it did)
    record(
        app,
        org.id,
        "scim.group.updated",
        target="Engineering",
        changes={"members added": [None, [spy]]},
    )
    record(app, globex.id, "member.added", target="spy@globex.test", role="member")
    page = owner_client.get("/audit").text
    assert "spy@globex.test" not in page and "Sly" not in page
    assert f"+ a deleted member (#{spy}) to Engineering" in table_text(page, "audit")
    assert targets(owner_client, "actor=sly") == []
    assert targets(owner_client, "q=globex") == []
