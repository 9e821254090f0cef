"""The members list an admin needs (issue #13): columns, filters, "(you)", the
bulk link email; the member page: who deactivated them, Okta identities with
Unlink, lockout with Unlock, the SCIM warning; phones see cards.

Ends with a check in real chromium at 390 px: no horizontal overflow, rows as cards.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from lxml import html
from playwright.sync_api import Browser
from playwright.sync_api import Page

from blueprints.members import bulk
from core import throttle
from core.extensions import db
from core.models import Group
from core.models import GroupMember
from core.models import LinkToken
from core.models import OktaIdentity
from core.models import Organization
from core.models import SsoConfig
from core.models import User
from core.models import utcnow
from tests.support.builders import AppMaker
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import scim_key
from tests.support.builders import sign_in
from tests.support.constants import PASSWORD
from tests.support.live import serve
from tests.support.mail import Mailbox
from tests.support.mail import smtp_settings
from tests.support.rows import events
from tests.support.rows import get_user
from tests.support.rows import snapshot
from tests.support.scim import USER_SCHEMA
from tests.support.scim import ScimClient
from tests.support.scim import patch_body
from tests.support.sql import statements

ISSUER = "https://acme.okta.com"
SAML_ISSUER = "http://www.okta.com/exk-acme"


def client_for(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, email).status_code == 302
    return client


def turn_okta_on(app: Flask, org_id: int, protocol: str = "oidc") -> None:
    """Okta sign-in on, over OIDC at ISSUER (SAML settings saved too)."""
    with app.app_context():
        db.session.add(
            SsoConfig(
                organization_id=org_id,
                provider="okta",
                protocol=protocol,
                oidc_client_id="0oa-client",
                oidc_issuer=ISSUER,
                saml_entity_id=SAML_ISSUER,
            )
        )
        db.session.commit()


def link(
    app: Flask, org_id: int, user_id: int, protocol: str = "oidc", issuer: str = ISSUER
) -> int:
    with app.app_context():
        identity = OktaIdentity(
            organization_id=org_id,
            user_id=user_id,
            protocol=protocol,
            issuer=issuer,
            subject=f"00u-{user_id}-{protocol}",
        )
        db.session.add(identity)
        db.session.commit()
        return identity.id


def set_columns(app: Flask, user_id: int, **values: Any) -> None:
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        for name, value in values.items():
            setattr(user, name, value)
        db.session.commit()


def rows(text: str) -> dict[str, dict[str, str]]:
    """Each row of the members table by email: cell text by column label."""
    tree = html.fromstring(text)
    found = {}
    for row in tree.xpath('//table[@id="members"]/tbody/tr'):
        cells = row.xpath("./td")
        email = cells[1].text_content().strip()
        found[email] = {
            cell.get("data-label"): " ".join(cell.text_content().split())
            for cell in cells
            if cell.get("data-label")
        }
        found[email]["scim"] = row.xpath('./td[@data-label="Managed by SCIM"]')[0].get(
            "data-scim"
        )
        state = row.xpath(".//*[@data-state]")
        found[email]["state"] = state[0].get("data-state") if state else ""
    return found


def listed(client: FlaskClient, **query: str) -> set[str]:
    response = client.get("/members", query_string=query)
    assert response.status_code == 200, response.text
    return set(rows(response.text))


def flashes(client: FlaskClient) -> list[str]:
    with client.session_transaction() as session:
        return [message for _category, message in session.get("_flashes", [])]


# -- the columns -----------------------------------------------------------------


def test_last_sign_in_shows_the_time_and_how(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    at = datetime(2026, 11, 30, 9, 5, tzinfo=UTC)
    cases = {
        "pat@acme.test": ("password", "2026-11-30 09:05 UTC · Password"),
        "oli@acme.test": ("okta-oidc", "2026-11-30 09:05 UTC · Okta OIDC"),
        "sam@acme.test": ("okta-saml", "2026-11-30 09:05 UTC · Okta SAML"),
        "set@acme.test": ("setup", "2026-11-30 09:05 UTC · Setup"),
        # Signed in before migration 0012 recorded how: the time alone.
        "old@acme.test": (None, "2026-11-30 09:05 UTC"),
    }
    for email, (method, _shown) in cases.items():
        user = make_user(app, org.id, email)
        set_columns(app, user, last_sign_in_at=at, last_sign_in_method=method)
    make_user(app, org.id, "new@acme.test")
    found = rows(owner_client.get("/members").text)
    for email, (_method, shown) in cases.items():
        assert found[email]["Last sign-in"] == shown
    assert found["new@acme.test"]["Last sign-in"] == "never"


def test_managed_by_scim_includes_adopted_accounts(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    make_user(app, org.id, "ada@acme.test", given_name="Ada")
    make_user(app, org.id, "lou@acme.test")
    scim = ScimClient(app.test_client(), scim_key(app, org.id), "okta")
    adopted = scim.post(
        "/Users",
        {
            "schemas": [USER_SCHEMA],
            "userName": "ada@acme.test",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "ada@acme.test", "primary": True}],
            "active": True,
        },
    )
    assert adopted.status_code == 201
    made = scim.post(
        "/Users",
        {
            "schemas": [USER_SCHEMA],
            "userName": "kim@acme.test",
            "emails": [{"value": "kim@acme.test", "primary": True}],
        },
    )
    assert made.status_code == 201
    found = rows(owner_client.get("/members").text)
    assert found["ada@acme.test"]["scim"] == "yes"
    assert found["ada@acme.test"]["Managed by SCIM"] == "Yes adopted"
    assert found["kim@acme.test"]["Managed by SCIM"] == "Yes"
    assert found["lou@acme.test"]["Managed by SCIM"] == "No"
    assert "Local" not in found["ada@acme.test"].values()


def test_link_states(app: Flask, owner_client: FlaskClient, org: OrgInfo) -> None:
    turn_okta_on(app, org.id)
    linked = make_user(app, org.id, "lin@acme.test")
    link(app, org.id, linked)
    # Linked over SAML (the organization switched to OIDC since): confirm again.
    switched = make_user(app, org.id, "saml@acme.test")
    link(app, org.id, switched, "saml", SAML_ISSUER)
    # Linked at an Okta the organization no longer uses.
    moved = make_user(app, org.id, "moved@acme.test")
    link(app, org.id, moved, "oidc", "https://old.okta.com")
    # Both: the current one counts.
    both = make_user(app, org.id, "both@acme.test")
    link(app, org.id, both, "saml", SAML_ISSUER)
    link(app, org.id, both)
    make_user(app, org.id, "none@acme.test")
    found = rows(owner_client.get("/members").text)
    assert {email: row["state"] for email, row in found.items()} == {
        org.owner_email: "not_linked",
        "lin@acme.test": "linked",
        "saml@acme.test": "relink",
        "moved@acme.test": "relink",
        "both@acme.test": "linked",
        "none@acme.test": "not_linked",
    }
    assert found["saml@acme.test"]["Okta link"] == "needs confirming again"
    assert found["none@acme.test"]["Okta link"] == "not linked"
    assert found["lin@acme.test"]["Okta link"] == "linked"


def test_you_marks_only_your_own_row(app: Flask, org: OrgInfo) -> None:
    make_user(app, org.id, "ada@acme.test", role="admin")
    found = rows(client_for(app, "ada@acme.test").get("/members").text)
    assert found["ada@acme.test"]["Name"].endswith("(you)")
    assert "(you)" not in found[org.owner_email]["Name"]


# -- the filters -----------------------------------------------------------------


@pytest.fixture
def crowd(app: Flask, org: OrgInfo) -> OrgInfo:
    """Acme with members of every kind the filters tell apart."""
    turn_okta_on(app, org.id)
    at = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    ann = make_user(app, org.id, "ann.admin@acme.test", role="admin")
    set_columns(app, ann, last_sign_in_at=at, last_sign_in_method="okta-oidc")
    link(app, org.id, ann)
    bob = make_user(app, org.id, "bob@acme.test")
    set_columns(app, bob, last_sign_in_at=at, last_sign_in_method="password")
    cat = make_user(app, org.id, "cat@acme.test", source="scim")
    set_columns(app, cat, scim_managed=True, last_sign_in_method="okta-saml")
    set_columns(app, cat, last_sign_in_at=at)
    link(app, org.id, cat, "saml", SAML_ISSUER)
    dan = make_user(app, org.id, "dan.admin@acme.test", role="admin", status="inactive")
    set_columns(app, dan, scim_managed=True)
    return org


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"role": "admin"}, {"ann.admin@acme.test", "dan.admin@acme.test"}),
        ({"role": "owner"}, {"owner@acme.test"}),
        # The owner signed in with a password to look (owner_client).
        ({"method": "password"}, {"bob@acme.test", "owner@acme.test"}),
        ({"method": "okta-oidc"}, {"ann.admin@acme.test"}),
        ({"method": "okta-saml"}, {"cat@acme.test"}),
        ({"method": "never"}, {"dan.admin@acme.test"}),
        ({"scim": "yes"}, {"cat@acme.test", "dan.admin@acme.test"}),
        (
            {"scim": "no"},
            {"owner@acme.test", "ann.admin@acme.test", "bob@acme.test"},
        ),
        ({"link": "linked"}, {"ann.admin@acme.test"}),
        ({"link": "relink"}, {"cat@acme.test"}),
        (
            {"link": "not_linked"},
            {"owner@acme.test", "bob@acme.test", "dan.admin@acme.test"},
        ),
        ({"status": "inactive"}, {"dan.admin@acme.test"}),
        # Composed with each other and with the search.
        ({"role": "admin", "status": "active"}, {"ann.admin@acme.test"}),
        ({"q": "admin", "scim": "yes"}, {"dan.admin@acme.test"}),
        (
            {"q": "admin", "link": "linked", "method": "okta-oidc"},
            {"ann.admin@acme.test"},
        ),
        ({"q": "bob", "link": "linked"}, set()),
        ({"role": "member", "scim": "yes", "link": "relink"}, {"cat@acme.test"}),
    ],
)
def test_filters_compose_with_each_other_and_the_search(
    crowd: OrgInfo, owner_client: FlaskClient, query: dict[str, str], expected: set[str]
) -> None:
    assert listed(owner_client, **query) == expected


def test_paging_keeps_the_filters(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    app.config["MEMBERS_PER_PAGE"] = 2
    for number in range(5):
        make_user(app, org.id, f"admin{number}@acme.test", role="admin")
    page = owner_client.get("/members?role=admin").text
    tree = html.fromstring(page)
    [next_link] = tree.xpath('//a[@rel="next"]/@href')
    assert "role=admin" in next_link
    assert listed(owner_client, role="admin", page="3") == {"admin4@acme.test"}


@pytest.mark.parametrize(
    ("query", "heading"),
    [
        ({"role": "root"}, "Role"),
        ({"method": "' OR 1=1 --"}, "Signed in with"),
        ({"scim": "maybe"}, "Managed by SCIM"),
        ({"link": "linked\x00"}, "Okta link"),
        ({"link": "LINKED"}, "Okta link"),
        ({"status": "deleted"}, "Status"),
        ({"role": "x" * 100_000}, "Role"),
        ({"method": "пароль"}, "Signed in with"),
        ({"q": "ann", "scim": "%"}, "Managed by SCIM"),
    ],
)
def test_a_hostile_filter_value_is_a_clear_400(
    app: Flask,
    crowd: OrgInfo,
    owner_client: FlaskClient,
    query: dict[str, str],
    heading: str,
) -> None:
    before = snapshot(app)
    response = owner_client.get("/members", query_string=query)
    assert response.status_code == 400
    tree = html.fromstring(response.text)
    [errors] = tree.xpath('//*[@id="filter-errors"]')
    assert f"{heading}: choose one of" in errors.text_content()
    assert not tree.xpath('//table[@id="members"]')
    assert "x" * 1000 not in response.text  # the value is not echoed back
    assert snapshot(app) == before


def test_the_list_costs_the_same_statements_for_3_or_40_members(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    turn_okta_on(app, org.id)
    with app.app_context():
        group = Group(
            organization_id=org.id, display_name="Eng", display_name_key="eng"
        )
        db.session.add(group)
        db.session.commit()
        group_id = group.id

    def add(count: int, start: int) -> None:
        for number in range(start, start + count):
            user = make_user(app, org.id, f"m{number:03}@acme.test")
            set_columns(app, user, last_sign_in_method="password")
            link(app, org.id, user, "saml" if number % 2 else "oidc")
            with app.app_context():
                db.session.add(GroupMember(group_id=group_id, user_id=user))
                db.session.commit()

    def cost(query: str) -> int:
        owner_client.get("/members" + query)  # warm the session's caches
        with statements(app) as seen:
            response = owner_client.get("/members" + query)
        assert response.status_code == 200
        return len(seen)

    add(2, 0)
    few = {q: cost(q) for q in ("", "?q=m0", "?link=relink&role=member&scim=no")}
    add(38, 2)
    assert len(rows(owner_client.get("/members").text)) == 41
    many = {q: cost(q) for q in few}
    assert many == few
    assert max(many.values()) <= 12


# -- the bulk link email ----------------------------------------------------------


@pytest.fixture
def mailing(
    new_app: AppMaker, mailbox: tuple[Mailbox, int]
) -> tuple[Flask, OrgInfo, Mailbox, dict[str, int]]:
    """An app that mails `mailbox`, Okta on, and members linked or not."""
    app = new_app(**smtp_settings(mailbox[1]))
    org = make_org(app)
    turn_okta_on(app, org.id)
    people = {
        email: make_user(app, org.id, email, **options)
        for email, options in {
            "ada@acme.test": {"role": "admin"},
            "lin@acme.test": {},
            "una@acme.test": {},
            "sam@acme.test": {},
            "gone@acme.test": {"status": "inactive"},
        }.items()
    }
    link(app, org.id, people["ada@acme.test"])
    link(app, org.id, people["lin@acme.test"])
    link(app, org.id, people["sam@acme.test"], "saml", SAML_ISSUER)  # confirm again
    return app, org, mailbox[0], people


def test_bulk_email_reaches_exactly_the_unlinked_active_members_once(
    mailing: tuple[Flask, OrgInfo, Mailbox, dict[str, int]],
) -> None:
    app, org, mailbox, _people = mailing
    admin = client_for(app, "ada@acme.test")
    assert 'id="email-unlinked"' in admin.get("/members").text
    response = admin.post("/members/okta-links")
    assert response.status_code == 302
    assert response.headers["Location"] == "/members"
    unlinked = {org.owner_email, "una@acme.test", "sam@acme.test"}
    assert sorted(m["To"] for m in mailbox.messages) == sorted(unlinked)
    assert all(
        "/okta/link/" in m.get_body(("plain",)).get_content() for m in mailbox.messages
    )
    [message] = flashes(admin)
    assert message.startswith("3 member(s) were emailed a link")
    [event] = events(app, "members.link_emails_sent")
    assert event["actor"] == "ada@acme.test"
    assert event["sent"] == 3
    assert len(events(app, "okta.link_email_sent")) == 3

    # A second click right away mails nobody again.
    assert admin.post("/members/okta-links").status_code == 302
    assert len(mailbox.messages) == 3
    again = flashes(admin)[-1]
    assert again.startswith("Nobody was emailed: the 3 active member(s) not linked")
    assert events(app, "members.link_emails_sent")[-1]["skipped_recent"] == 3


def test_bulk_email_is_bounded_per_click(
    mailing: tuple[Flask, OrgInfo, Mailbox, dict[str, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, org, mailbox, _people = mailing
    monkeypatch.setattr(bulk, "BULK_LINK_LIMIT", 2)
    admin = client_for(app, "ada@acme.test")
    admin.post("/members/okta-links")
    assert len(mailbox.messages) == 2
    [message] = flashes(admin)
    assert "1 more member(s) are not linked: click again" in message
    admin.get("/members")  # shows (and so clears) the flash
    admin.post("/members/okta-links")
    assert len({m["To"] for m in mailbox.messages}) == len(mailbox.messages) == 3


def test_bulk_email_refused_to_members_and_without_okta(
    mailing: tuple[Flask, OrgInfo, Mailbox, dict[str, int]],
) -> None:
    app, org, mailbox, _people = mailing
    member = client_for(app, "una@acme.test")
    assert 'id="email-unlinked"' not in member.get("/members").text
    before = snapshot(app)
    assert member.post("/members/okta-links").status_code == 403
    assert snapshot(app) == before
    with app.app_context():
        db.session.execute(db.update(SsoConfig).values(provider="none"))
        db.session.commit()
    admin = client_for(app, "ada@acme.test")
    assert admin.post("/members/okta-links").status_code == 302
    assert flashes(admin) == [
        "Okta single sign-on is not turned on for this organization."
    ]
    assert mailbox.messages == []
    with app.app_context():
        assert db.session.execute(db.select(LinkToken)).first() is None


def test_bulk_email_needs_the_csrf_token(
    new_app: AppMaker, mailbox: tuple[Mailbox, int]
) -> None:
    app = new_app(WTF_CSRF_ENABLED=True, **smtp_settings(mailbox[1]))
    org = make_org(app)
    turn_okta_on(app, org.id)
    client = app.test_client()
    login = html.fromstring(client.get("/login").text)
    token = login.xpath('//input[@name="csrf_token"]/@value')[0]
    assert sign_in(client, org.owner_email, csrf_token=token).status_code == 302
    assert client.post("/members/okta-links").status_code == 400
    assert mailbox[0].messages == []
    page = html.fromstring(client.get("/members").text)
    token = page.xpath('//form[@id="email-unlinked"]//input[@name="csrf_token"]/@value')
    assert (
        client.post("/members/okta-links", data={"csrf_token": token[0]}).status_code
        == 302
    )
    assert [m["To"] for m in mailbox[0].messages] == [org.owner_email]


# -- the member page: who deactivated them ---------------------------------------


def deactivation(app: Flask, user_id: int) -> tuple[Any, ...]:
    row = get_user(app, user_id)
    return (
        row["status"],
        row["deactivated_by"],
        row["deactivated_via"],
        row["deactivated_at"] is not None,
    )


def notice(client: FlaskClient, user_id: int, element: str = "deactivated") -> str:
    tree = html.fromstring(client.get(f"/members/{user_id}").text)
    found = tree.xpath(f'//*[@id="{element}"]')
    return " ".join(found[0].text_content().split()) if found else ""


def test_the_page_says_which_admin_deactivated_and_when(
    app: Flask, org: OrgInfo
) -> None:
    bob = make_user(app, org.id, "bob@acme.test")
    make_user(app, org.id, "ada@acme.test", role="admin")
    admin = client_for(app, "ada@acme.test")
    assert notice(admin, bob) == ""
    response = admin.post(f"/members/{bob}/status", data={"status": "inactive"})
    assert response.status_code == 302
    assert deactivation(app, bob) == ("inactive", "ada@acme.test", "page", True)
    said = notice(admin, bob)
    assert said.startswith("Deactivated 20")
    assert "by ada@acme.test on the members page." in said
    assert get_user(app, bob)["deactivated_at"].strftime("%Y-%m-%d %H:%M UTC") in said

    admin.post(f"/members/{bob}/status", data={"status": "active"})
    assert deactivation(app, bob) == ("active", None, None, False)
    assert notice(admin, bob) == ""


@pytest.mark.parametrize("how", ["patch", "put", "create"])
def test_the_page_says_okta_deactivated_over_scim(
    app: Flask, owner_client: FlaskClient, org: OrgInfo, how: str
) -> None:
    scim = ScimClient(app.test_client(), scim_key(app, org.id), "okta")
    body = {
        "schemas": [USER_SCHEMA],
        "userName": "kim@acme.test",
        "name": {"givenName": "Kim", "familyName": "Ng"},
        "emails": [{"value": "kim@acme.test", "primary": True}],
        "active": how != "create",
    }
    created = scim.post("/Users", body)
    assert created.status_code == 201
    path = f"/Users/{created.json['id']}"
    if how == "patch":
        op = {"op": "replace", "value": {"active": False}}
        assert scim.patch(path, patch_body(op)).status_code == 200
    elif how == "put":
        assert scim.put(path, {**body, "active": False}).status_code == 200
    kim = int(created.json["id"])
    status, by, via, when = deactivation(app, kim)
    assert (status, via, when) == ("inactive", "scim", True)
    assert by.startswith("api key ")
    said = notice(owner_client, kim)
    assert f"by Okta over SCIM ({by})." in said


def test_a_member_deactivated_before_0015_says_it_was_not_recorded(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    old = make_user(app, org.id, "old@acme.test", status="inactive")
    assert notice(owner_client, old).startswith(
        "Deactivated before Gatehouse recorded who did it"
    )


def test_scim_managed_members_warn_that_okta_owns_their_fields(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    mine = make_user(app, org.id, "mine@acme.test")
    okta = make_user(app, org.id, "okta@acme.test")
    set_columns(app, okta, scim_managed=True)
    assert notice(owner_client, mine, "scim-owned") == ""
    warning = notice(owner_client, okta, "scim-owned")
    for field in ("email", "userName", "first name", "last name", "display name"):
        assert field in warning
    assert "overwritten" in warning
    assert "Okta adopted this account" in warning


# -- Okta identities: Unlink ------------------------------------------------------


def unlink(client: FlaskClient, user_id: int, identity_id: int, **data: str) -> int:
    return client.post(
        f"/members/{user_id}/identities/{identity_id}/remove", data=data
    ).status_code


def identity_ids(app: Flask) -> set[int]:
    with app.app_context():
        return set(db.session.execute(db.select(OktaIdentity.id)).scalars())


def test_identities_show_protocol_issuer_subject_dates_and_unlink(
    app: Flask, owner_client: FlaskClient, org: OrgInfo
) -> None:
    turn_okta_on(app, org.id)
    mia = make_user(app, org.id, "mia@acme.test")
    identity = link(app, org.id, mia)
    tree = html.fromstring(owner_client.get(f"/members/{mia}").text)
    [row] = tree.xpath(f'//tr[@id="identity-{identity}"]')
    cells = {cell.get("data-label"): cell.text_content().strip() for cell in row}
    assert row[0].text_content().strip() == "OIDC"
    assert cells["Issuer"] == ISSUER
    assert cells["Okta subject"] == f"00u-{mia}-oidc"
    assert cells["Linked"].startswith("20") and cells["Last used"] == "never"
    assert row.xpath(".//button")[0].text_content() == "Unlink"
    assert unlink(owner_client, mia, identity) == 302
    assert identity_ids(app) == set()
    [event] = events(app, "okta.identity_removed")
    assert (event["actor"], event["target"]) == (org.owner_email, "mia@acme.test")


def test_a_member_cannot_unlink_anyone(app: Flask, org: OrgInfo) -> None:
    turn_okta_on(app, org.id)
    mia = make_user(app, org.id, "mia@acme.test")
    max_ = make_user(app, org.id, "max@acme.test")
    theirs = link(app, org.id, max_)
    mine = link(app, org.id, mia)
    member = client_for(app, "mia@acme.test")
    page = member.get(f"/members/{max_}").text
    assert "Unlink</button>" not in page
    before = snapshot(app)
    assert unlink(member, max_, theirs) == 403
    assert unlink(member, mia, mine) == 403
    assert unlink(member, org.owner_id, theirs) == 403
    assert snapshot(app) == before


def test_another_organizations_member_is_a_404(app: Flask, org: OrgInfo) -> None:
    globex = make_org(app, "Globex")
    spy = make_user(app, globex.id, "spy@globex.test")
    theirs = link(app, globex.id, spy)
    admin = client_for(app, globex.owner_email)
    make_user(app, org.id, "ada@acme.test", role="admin")
    acme_admin = client_for(app, "ada@acme.test")
    before = snapshot(app)
    assert unlink(acme_admin, spy, theirs) == 404
    assert acme_admin.post(f"/members/{spy}/unlock").status_code == 404
    assert acme_admin.get(f"/members/{spy}").status_code == 404
    # An identity of another member, through one's own member's URL: 404 too.
    assert unlink(acme_admin, org.owner_id, theirs) == 404
    assert snapshot(app) == before
    assert unlink(admin, spy, theirs) == 302


def test_nobody_unlinks_their_own_last_way_in(app: Flask, org: OrgInfo) -> None:
    turn_okta_on(app, org.id)
    ada = make_user(app, org.id, "ada@acme.test", role="admin")
    only = link(app, org.id, ada)
    admin = client_for(app, "ada@acme.test")
    set_columns(app, ada, password_hash=None)  # Okta is now her only way in
    before = snapshot(app)
    assert unlink(admin, ada, only) == 302
    assert flashes(admin)[-1].startswith("This Okta link is your only way to sign in")
    assert snapshot(app) == before
    # An identity at an Okta no longer used is not a way in: it may go.
    stale = link(app, org.id, ada, "saml", SAML_ISSUER)
    assert unlink(admin, ada, stale) == 302
    assert identity_ids(app) == {only}
    # An owner may unlink it (she links again by the emailed link).
    assert unlink(client_for(app, org.owner_email), ada, only) == 302
    assert identity_ids(app) == set()


def test_with_a_password_your_own_okta_link_may_go(app: Flask, org: OrgInfo) -> None:
    turn_okta_on(app, org.id)
    ada = make_user(app, org.id, "ada@acme.test", role="admin")
    only = link(app, org.id, ada)
    admin = client_for(app, "ada@acme.test")
    assert unlink(admin, ada, only) == 302
    assert identity_ids(app) == set()


# -- lockout: Unlock -------------------------------------------------------------


def fail_password(app: Flask, email: str, times: int) -> None:
    """Count failed password sign-ins for `email` (as the login page does)."""
    with app.app_context():
        for _ in range(times):
            throttle.record_failure(email, "192.0.2.7")


def test_the_page_counts_failures_and_unlock_clears_them(
    app: Flask, org: OrgInfo
) -> None:
    mia = make_user(app, org.id, "mia@acme.test")
    make_user(app, org.id, "ada@acme.test", role="admin")
    admin = client_for(app, "ada@acme.test")
    assert notice(admin, mia, "lockout").startswith("not locked No failed password")
    fail_password(app, "mia@acme.test", 2)
    said = notice(admin, mia, "lockout")
    limit = app.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"]
    assert "2 failed password attempt(s) in the last" in said
    assert f"it locks at {limit}" in said
    assert admin.post(f"/members/{mia}/unlock").status_code == 302
    assert notice(admin, mia, "lockout").startswith("not locked")
    [event] = events(app, "member.unlocked")
    assert (event["target"], event["failures_cleared"]) == ("mia@acme.test", 2)

    fail_password(app, "mia@acme.test", limit)
    assert notice(admin, mia, "lockout").startswith(f"locked {limit} failed")


def test_unlock_lifts_its_own_accounts_lockout_only(app: Flask, org: OrgInfo) -> None:
    """The same email in Globex: Acme's Unlock lets Acme's account in again,
    and the guesses against Globex's account stay locked out."""
    globex = make_org(app, "Globex")
    theirs = "globex's own passphrase"
    make_user(app, globex.id, "sam@acme.test", password=theirs)
    sam = make_user(app, org.id, "sam@acme.test")
    make_user(app, org.id, "ada@acme.test", role="admin")
    admin = client_for(app, "ada@acme.test")
    limit = app.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"]
    for _ in range(limit):
        assert sign_in(app.test_client(), "sam@acme.test", "a guess").status_code == 401
    assert notice(admin, sam, "lockout").startswith(f"locked {limit} failed")
    assert sign_in(app.test_client(), "sam@acme.test").status_code == 429

    assert admin.post(f"/members/{sam}/unlock").status_code == 302
    [event] = events(app, "member.unlocked")
    assert event["failures_cleared"] == limit
    assert notice(admin, sam, "lockout").startswith("not locked")
    # A wrong guess now is just that, as for an email in no other organization.
    assert sign_in(app.test_client(), "sam@acme.test", "a guess").status_code == 401
    assert notice(admin, sam, "lockout").startswith("1 failed")
    assert sign_in(app.test_client(), "sam@acme.test").status_code == 302
    # Globex's account is not even checked: its right password is refused too,
    # as a wrong password (429 would say another account of the email is locked).
    assert sign_in(app.test_client(), "sam@acme.test", theirs).status_code == 401
    last = {
        e["organization_id"]: e["reason"] for e in events(app, "sign_in.refused")[-2:]
    }
    assert last == {org.id: "wrong password", globex.id: "throttled"}


def test_a_member_cannot_unlock(app: Flask, org: OrgInfo) -> None:
    mia = make_user(app, org.id, "mia@acme.test")
    make_user(app, org.id, "max@acme.test")
    fail_password(app, "mia@acme.test", 2)
    member = client_for(app, "max@acme.test")
    assert 'id="unlock"' not in member.get(f"/members/{mia}").text
    before = snapshot(app)
    assert member.post(f"/members/{mia}/unlock").status_code == 403
    assert snapshot(app) == before


def test_unlink_and_unlock_need_the_csrf_token(new_app: AppMaker) -> None:
    app = new_app(WTF_CSRF_ENABLED=True)
    org = make_org(app)
    turn_okta_on(app, org.id)
    mia = make_user(app, org.id, "mia@acme.test")
    identity = link(app, org.id, mia)
    fail_password(app, "mia@acme.test", 2)
    client = app.test_client()
    login = html.fromstring(client.get("/login").text)
    token = login.xpath('//input[@name="csrf_token"]/@value')[0]
    assert sign_in(client, org.owner_email, csrf_token=token).status_code == 302
    before = snapshot(app)
    assert unlink(client, mia, identity) == 400
    assert client.post(f"/members/{mia}/unlock").status_code == 400
    assert unlink(client, mia, identity, csrf_token="forged") == 400
    assert snapshot(app) == before
    page = html.fromstring(client.get(f"/members/{mia}").text)
    [real] = page.xpath('//form[@id="unlock"]//input[@name="csrf_token"]/@value')
    assert (
        client.post(f"/members/{mia}/unlock", data={"csrf_token": real}).status_code
        == 302
    )
    assert unlink(client, mia, identity, csrf_token=real) == 302
    assert identity_ids(app) == set()


# -- on a phone ------------------------------------------------------------------

PHONE = {"width": 390, "height": 844}
# Elements whose right edge passes the viewport, or that scroll sideways.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll("body *")].filter((e) => {
    const box = e.getBoundingClientRect();
    const style = getComputedStyle(e);
    const scrolls = ["auto", "scroll"].includes(style.overflowX)
      && e.scrollWidth > e.clientWidth + 1;
    return box.right > width + 0.5 || scrolls;
  });
  return {
    page: document.documentElement.scrollWidth,
    width: width,
    wide: wide.map((e) => e.tagName + "#" + e.id + "." + e.className),
  };
}"""


def assert_fits(page: Page) -> None:
    measured = page.evaluate(OVERFLOW)
    assert measured["page"] <= PHONE["width"], measured
    assert measured["wide"] == [], measured


@pytest.mark.browser
def test_on_a_phone_rows_are_cards_and_nothing_overflows(
    live_app: Flask, browser: Browser
) -> None:
    app = live_app
    org = make_org(app)
    turn_okta_on(app, org.id)
    # No names, a long email: its heading is that email (the 414 px of issue #13).
    long = make_user(
        app, org.id, "christopher.montgomery-smith@engineering.acme.test", source="scim"
    )
    set_columns(app, long, scim_managed=True, status="inactive")
    set_columns(
        app, long, deactivated_by="api key gh_live_1234…", deactivated_via="scim"
    )
    link(app, org.id, long, "oidc", ISSUER + "/oauth2/aus1234567890abcdefgh")
    link(app, org.id, long, "saml", SAML_ISSUER)
    fail_password(app, "christopher.montgomery-smith@engineering.acme.test", 2)
    for number in range(3):
        make_user(app, org.id, f"member{number}@acme.test", given_name="Member")
    with serve(app) as url:
        context = browser.new_context(base_url=url, viewport=PHONE)
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Email").fill(org.owner_email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(lambda address: "/login" not in address)
        page.goto("/members")
        assert_fits(page)
        row = page.locator("#members tbody tr").first
        assert row.evaluate("e => getComputedStyle(e).display") == "block"
        assert not page.locator("#members thead").is_visible()
        label = row.locator("td[data-label='Role']").evaluate(
            "e => getComputedStyle(e, '::before').content"
        )
        assert label == '"Role"'
        page.goto(f"/members/{long}")
        assert_fits(page)
        identity = page.locator("#identities tbody tr").first
        assert identity.evaluate("e => getComputedStyle(e).display") == "block"
        assert page.locator("#deactivated").is_visible()
        assert page.locator("#unlock").is_visible()
        context.close()


def test_members_see_that_someone_is_deactivated_not_by_whom(
    app: Flask, org: OrgInfo
) -> None:
    bob = make_user(app, org.id, "bob@acme.test")
    make_user(app, org.id, "max@acme.test")
    owner = client_for(app, org.owner_email)
    owner.post(f"/members/{bob}/status", data={"status": "inactive"})
    said = notice(client_for(app, "max@acme.test"), bob)
    assert said == "Deactivated. They keep their data but cannot sign in."
    assert org.owner_email in notice(owner, bob)


def test_a_click_while_another_is_sending_mails_nobody(
    mailing: tuple[Flask, OrgInfo, Mailbox, dict[str, int]],
) -> None:
    app, org, mailbox, _people = mailing
    with app.app_context():
        db.session.execute(
            db.update(Organization).values(link_emails_claimed_at=utcnow())
        )
        db.session.commit()
    admin = client_for(app, "ada@acme.test")
    before = snapshot(app)
    assert admin.post("/members/okta-links").status_code == 302
    assert flashes(admin)[-1].startswith("The links are being emailed by another click")
    assert mailbox.messages == []
    assert snapshot(app) == before
    # A claim older than the resend interval is a click that died: it is taken over.
    with app.app_context():
        db.session.execute(
            db.update(Organization).values(
                link_emails_claimed_at=utcnow() - timedelta(minutes=3)
            )
        )
        db.session.commit()
    assert admin.post("/members/okta-links").status_code == 302
    assert len(mailbox.messages) == 3
    with app.app_context():
        claim = db.session.get(Organization, org.id).link_emails_claimed_at
        assert claim is None  # released when done


def test_a_click_whose_claim_was_taken_over_leaves_the_new_claim(
    mailing: tuple[Flask, OrgInfo, Mailbox, dict[str, int]],
) -> None:
    """A click so slow that its claim went stale ends: the click that took the
    claim over is still sending, so a third must still find it taken."""
    app, org, _mailbox, _people = mailing
    column = Organization.link_emails_claimed_at
    with app.app_context():
        organization = db.session.get(Organization, org.id)
        assert organization is not None
        # The slow click claimed 3 minutes ago (past the resend interval).
        slow = bulk._claim(organization) - timedelta(minutes=3)
        db.session.execute(db.update(Organization).values(link_emails_claimed_at=slow))
        db.session.commit()
        newer = bulk._claim(organization)
        bulk._release(organization, slow)
        assert db.session.execute(db.select(column)).scalar_one() == newer
        bulk._release(organization, newer)
        assert db.session.execute(db.select(column)).scalar_one() is None


def test_clicks_at_once_mail_each_member_once(
    mailing: tuple[Flask, OrgInfo, Mailbox, dict[str, int]],
) -> None:
    app, org, mailbox, _people = mailing
    with serve(app) as url:
        sessions = []
        for _ in range(4):
            browser_session = requests.Session()
            signed_in = browser_session.post(
                url + "/login",
                data={"email": "ada@acme.test", "password": PASSWORD},
                allow_redirects=False,
            )
            assert signed_in.status_code == 302
            sessions.append(browser_session)
        start = threading.Barrier(len(sessions))

        def click(browser_session: requests.Session) -> int:
            start.wait()
            return browser_session.post(
                url + "/members/okta-links", allow_redirects=False
            ).status_code

        with ThreadPoolExecutor(len(sessions)) as pool:
            assert list(pool.map(click, sessions)) == [302] * len(sessions)
    addresses = [message["To"] for message in mailbox.messages]
    assert sorted(addresses) == sorted(
        {org.owner_email, "una@acme.test", "sam@acme.test"}
    )
