"""The groups pages and the audit log page."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from core import audit
from core.extensions import db
from core.models import AuditEvent
from core.models import Group
from core.models import GroupMember
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in


def make_group(app: Flask, org_id: int, name: str, member_ids: list[int]) -> int:
    with app.app_context():
        group = Group(
            organization_id=org_id,
            display_name=name,
            display_name_key=name.lower(),
            scim_managed=True,
        )
        db.session.add(group)
        db.session.flush()
        db.session.add_all(
            GroupMember(group_id=group.id, user_id=uid) for uid in member_ids
        )
        db.session.commit()
        return group.id


def test_groups_list_and_members(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    ann = make_user(app, org.id, "ann@acme.test")
    bob = make_user(app, org.id, "bob@acme.test")
    group = make_group(app, org.id, "Engineering", [ann, bob])
    make_group(app, org.id, "Empty", [])
    listing = owner_client.get("/groups").text
    assert "Engineering" in listing and "Empty" in listing
    assert "<td>2</td>" in listing
    page = owner_client.get(f"/groups/{group}").text
    assert "ann@acme.test" in page and "bob@acme.test" in page
    assert "owner@acme.test" not in page.split('id="group-members"')[1]


def test_members_see_groups_too(app: Flask, org: OrgInfo) -> None:
    make_user(app, org.id, "mia@acme.test")
    make_group(app, org.id, "Engineering", [])
    client = app.test_client()
    sign_in(client, "mia@acme.test")
    assert "Engineering" in client.get("/groups").text


def test_another_orgs_group_is_404(app: Flask, owner_client: FlaskClient) -> None:
    globex = make_org(app, "Globex")
    group = make_group(app, globex.id, "Globex secret project", [globex.owner_id])
    assert "Globex secret project" not in owner_client.get("/groups").text
    assert owner_client.get(f"/groups/{group}").status_code == 404


def record_events(app: Flask, org_id: int, kinds: list[str]) -> None:
    with app.app_context():
        for n, kind in enumerate(kinds):
            audit.record(kind, org_id, actor="cli", target=f"t{n}")
        db.session.commit()


def test_audit_newest_first_and_filtered(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    record_events(
        app, org.id, ["scim.user_created", "settings.changed", "scim.user_created"]
    )
    page = owner_client.get("/audit").text
    assert (
        page.index('<td data-label="Target">t2</td>')
        < page.index('<td data-label="Target">t1</td>')
        < page.index('<td data-label="Target">t0</td>')
    )
    filtered = owner_client.get("/audit?kind=settings.changed").text
    assert (
        '<td data-label="Target">t1</td>' in filtered
        and '<td data-label="Target">t0</td>' not in filtered
    )


def test_audit_pages_by_id(app: Flask, owner_client: FlaskClient, org: OrgInfo) -> None:
    app.config["AUDIT_PER_PAGE"] = 3
    record_events(app, org.id, ["x.test"] * 7)
    first = owner_client.get("/audit?kind=x.test").text
    assert (
        '<td data-label="Target">t6</td>' in first
        and '<td data-label="Target">t3</td>' not in first
    )
    with app.app_context():
        before = db.session.execute(
            db.select(AuditEvent.id).filter_by(target="t4")
        ).scalar_one()
    assert f"before={before}" in first
    second = owner_client.get(f"/audit?kind=x.test&before={before}").text
    assert (
        '<td data-label="Target">t3</td>' in second
        and '<td data-label="Target">t4</td>' not in second
    )


def test_audit_never_shows_another_org(app: Flask, owner_client: FlaskClient) -> None:
    globex = make_org(app, "Globex")
    record_events(app, globex.id, ["globex.private"])
    page = owner_client.get("/audit").text
    assert "globex.private" not in page
    filtered = owner_client.get("/audit?kind=globex.private").text
    assert (
        '<td data-label="Target">t0</td>' not in filtered
        and "No events match this filter" in filtered
    )
