"""Members list, search, paging, and who may add and change members."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from core.extensions import db
from core.models import Group
from core.models import GroupMember
from core.models import OktaIdentity
from core.models import SsoConfig
from core.models import User
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.rows import get_user


def client_for(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


def test_members_list_shows_the_columns(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    ann = make_user(
        app, org.id, "ann@acme.test", given_name="Ann", family_name="Lee", source="scim"
    )
    with app.app_context():
        group = Group(
            organization_id=org.id,
            display_name="Engineering",
            display_name_key="engineering",
        )
        db.session.add(group)
        db.session.flush()
        db.session.add(GroupMember(group_id=group.id, user_id=ann))
        db.session.add(
            SsoConfig(
                organization_id=org.id,
                provider="okta",
                protocol="oidc",
                oidc_issuer="https://acme.okta.com",
            )
        )
        db.session.add(
            OktaIdentity(
                organization_id=org.id,
                user_id=ann,
                protocol="oidc",
                issuer="https://acme.okta.com",
                subject="00u1",
            )
        )
        db.session.commit()
    page = owner_client.get("/members").text
    row = (
        page.split("ann@acme.test")[0].rsplit("<tr>", 1)[1]
        + page.split("ann@acme.test")[1].split("</tr>")[0]
    )
    for expected in ("Ann Lee", "member", "active", "SCIM", "linked", "Engineering"):
        assert expected in row


def test_members_list_never_shows_another_organization(
    app: Flask, owner_client: FlaskClient
) -> None:
    globex = make_org(app, "Globex")
    make_user(app, globex.id, "secret-agent@globex.test")
    page = owner_client.get("/members?q=globex").text
    assert "secret-agent" not in page
    assert "secret-agent" not in owner_client.get("/members").text


def test_search_matches_name_and_email(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    make_user(app, org.id, "zoe@acme.test", given_name="Zoe", family_name="Quartz")
    make_user(app, org.id, "bob@acme.test", given_name="Bob")
    page = owner_client.get("/members?q=QUARTZ").text
    assert "zoe@acme.test" in page and "bob@acme.test" not in page
    page = owner_client.get("/members?q=bob@").text
    assert "bob@acme.test" in page and "zoe@acme.test" not in page


def test_search_wildcards_are_literal(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    make_user(app, org.id, "a_b@acme.test")
    make_user(app, org.id, "axb@acme.test")
    page = owner_client.get("/members?q=a_b").text
    assert "a_b@acme.test" in page and "axb@acme.test" not in page
    assert "No member matches" in owner_client.get("/members?q=%25%25").text


def test_status_filter(app: Flask, owner_client: FlaskClient, org: OrgInfo) -> None:
    make_user(app, org.id, "gone@acme.test", status="inactive")
    assert "gone@acme.test" in owner_client.get("/members?status=inactive").text
    assert "gone@acme.test" not in owner_client.get("/members?status=active").text


def test_paging(app: Flask, owner_client: FlaskClient, org: OrgInfo) -> None:
    app.config["MEMBERS_PER_PAGE"] = 5
    for n in range(11):
        make_user(app, org.id, f"user{n:02d}@acme.test")
    first = owner_client.get("/members").text
    assert "Page 1 of 3" in first and "user00@" in first and "user05@" not in first
    last = owner_client.get("/members?page=3").text
    assert "user10@" in last and "user00@" not in last
    # Out-of-range and junk page numbers clamp instead of failing.
    assert "Page 3 of 3" in owner_client.get("/members?page=99").text
    assert "Page 1 of 3" in owner_client.get("/members?page=-4").text
    assert "Page 1 of 3" in owner_client.get("/members?page=abc").text


def test_member_detail(app: Flask, owner_client: FlaskClient, org: OrgInfo) -> None:
    ann = make_user(app, org.id, "ann@acme.test", given_name="Ann")
    page = owner_client.get(f"/members/{ann}").text
    assert "ann@acme.test" in page and "Deactivate" in page


def test_admin_adds_a_member(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    response = owner_client.post(
        "/members/new",
        data={
            "email": "New.Person@Acme.test",
            "given_name": "New",
            "family_name": "Person",
            "role": "admin",
            "password": "",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        user = db.session.execute(
            db.select(User).filter_by(email_key="new.person@acme.test")
        ).scalar_one()
        assert (user.role, user.source, user.password_hash, user.organization_id) == (
            "admin",
            "local",
            None,
            org.id,
        )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "owner@acme.test"}, "already a member"),
        ({"email": "OWNER@ACME.TEST"}, "already a member"),
        ({"email": "not-an-email"}, "not a valid email"),
        ({"email": "x@acme.test", "password": "short"}, "at least 10 characters"),
    ],
)
def test_add_member_refuses_bad_input(
    app: Flask, owner_client: FlaskClient, data: dict[str, str], message: str
) -> None:
    form = {
        "email": "",
        "given_name": "",
        "family_name": "",
        "role": "member",
        "password": "",
    }
    form.update(data)
    response = owner_client.post("/members/new", data=form)
    assert response.status_code == 400
    assert message in response.text
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(User.id))).scalar() == 1


def test_admin_cannot_add_an_owner(app: Flask, org: OrgInfo) -> None:
    make_user(app, org.id, "admin@acme.test", role="admin")
    admin = client_for(app, "admin@acme.test")
    response = admin.post(
        "/members/new", data={"email": "boss@acme.test", "role": "owner"}
    )
    assert response.status_code == 400
    assert "Only an owner" in response.text


def test_change_role(app: Flask, owner_client: FlaskClient, org: OrgInfo) -> None:
    ann = make_user(app, org.id, "ann@acme.test")
    owner_client.post(f"/members/{ann}/role", data={"role": "admin"})
    assert get_user(app, ann)["role"] == "admin"
    owner_client.post(f"/members/{ann}/role", data={"role": "emperor"})
    assert get_user(app, ann)["role"] == "admin"


def test_admin_cannot_touch_an_owner_or_promote_to_owner(
    app: Flask, org: OrgInfo
) -> None:
    make_user(app, org.id, "admin@acme.test", role="admin")
    ann = make_user(app, org.id, "ann@acme.test")
    admin = client_for(app, "admin@acme.test")
    admin.post(f"/members/{ann}/role", data={"role": "owner"})
    assert get_user(app, ann)["role"] == "member"
    admin.post(f"/members/{org.owner_id}/role", data={"role": "member"})
    admin.post(f"/members/{org.owner_id}/status", data={"status": "inactive"})
    owner = get_user(app, org.owner_id)
    assert (owner["role"], owner["status"]) == ("owner", "active")


def test_nobody_changes_themselves(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    owner_client.post(f"/members/{org.owner_id}/role", data={"role": "member"})
    owner_client.post(f"/members/{org.owner_id}/status", data={"status": "inactive"})
    owner = get_user(app, org.owner_id)
    assert (owner["role"], owner["status"]) == ("owner", "active")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/members/new"),
        ("post", "/members/new"),
        ("post", "/members/{ann}/role"),
        ("post", "/members/{ann}/status"),
        ("get", "/settings"),
        ("get", "/audit"),
    ],
)
def test_member_cannot_reach_admin_pages(
    app: Flask, org: OrgInfo, method: str, path: str
) -> None:
    ann = make_user(app, org.id, "ann@acme.test")
    make_user(app, org.id, "mia@acme.test")
    mia = client_for(app, "mia@acme.test")
    data = {"role": "admin", "status": "inactive", "email": "x@acme.test"}
    response = getattr(mia, method)(path.format(ann=ann), data=data)
    assert response.status_code == 403
    assert get_user(app, ann)["role"] == "member"
    assert get_user(app, ann)["status"] == "active"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/members/{victim}"),
        ("post", "/members/{victim}/role"),
        ("post", "/members/{victim}/status"),
    ],
)
def test_admin_of_one_org_cannot_touch_another(
    app: Flask, owner_client: FlaskClient, method: str, path: str
) -> None:
    globex = make_org(app, "Globex")
    victim = make_user(app, globex.id, "victim@globex.test")
    response = getattr(owner_client, method)(
        path.format(victim=victim), data={"role": "admin", "status": "inactive"}
    )
    assert response.status_code == 404
    user = get_user(app, victim)
    assert (user["role"], user["status"]) == ("member", "active")


def test_member_management_is_audited(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    ann = make_user(app, org.id, "ann@acme.test")
    owner_client.post(f"/members/{ann}/role", data={"role": "admin"})
    owner_client.post(f"/members/{ann}/status", data={"status": "inactive"})
    owner_client.post(f"/members/{ann}/status", data={"status": "active"})
    page = owner_client.get("/audit").text
    for kind in ("member.role_changed", "member.deactivated", "member.reactivated"):
        assert kind in page
