"""SCIM tenant isolation and authentication.

The API key decides the organization. A key of organization A must see nothing of
organization B: every resource of B is a 404 (never a 403, never data) on every
verb, lists and filters never return B's rows, and a group of A can never gain a
member of B. Refused credentials get a SCIM error with a `detail` that says what
to fix, and no refused request changes anything.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from core.authority import Actor
from core.extensions import db
from core.models import Organization
from core.models import User
from core.provisioning import api_keys
from core.provisioning import organizations
from core.provisioning import users
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import scim_key
from tests.support.rows import snapshot as all_rows
from tests.support.scim import ERROR_SCHEMA
from tests.support.scim import GROUP_SCHEMA
from tests.support.scim import SCIM
from tests.support.scim import SCIM_JSON
from tests.support.scim import USER_SCHEMA
from tests.support.scim import patch_body

SHARED_EMAIL = "shared@example.com"


# -- helpers --------------------------------------------------------------------


def headers(secret: str | None, scheme: str = "Bearer") -> dict[str, str]:
    """SCIM request headers; no Authorization header when `secret` is None."""
    result = {"Content-Type": SCIM_JSON, "Accept": SCIM_JSON}
    if secret is not None:
        result["Authorization"] = f"{scheme} {secret}".strip()
    return result


def call(
    client: FlaskClient,
    method: str,
    path: str,
    secret: str | None,
    body: Any = None,
    *,
    scheme: str = "Bearer",
    raw_authorization: str | None = None,
) -> TestResponse:
    """Send one SCIM request and return the response."""
    request_headers = headers(secret, scheme)
    if raw_authorization is not None:
        request_headers["Authorization"] = raw_authorization
    return client.open(
        SCIM + path,
        method=method,
        headers=request_headers,
        data=None if body is None else json.dumps(body),
    )


def user_body(user_name: str, external_id: str | None = None, **extra: Any) -> dict:
    """A User resource as Okta sends it on create."""
    body: dict[str, Any] = {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Given", "familyName": "Family"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        "active": True,
        **extra,
    }
    if external_id is not None:
        body["externalId"] = external_id
    return body


def group_body(
    display_name: str, member_ids: list[str], external_id: str | None = None
) -> dict:
    """A Group resource as Okta sends it on push."""
    body: dict[str, Any] = {
        "schemas": [GROUP_SCHEMA],
        "displayName": display_name,
        "members": [{"value": member_id} for member_id in member_ids],
    }
    if external_id is not None:
        body["externalId"] = external_id
    return body


def assert_scim_error(response: TestResponse, status: int) -> dict:
    """The response is a SCIM error with that status; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == SCIM_JSON
    body = response.get_json(force=True)
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)
    assert isinstance(body.get("detail"), str) and body["detail"].strip()
    return body


def created_id(response: TestResponse) -> str:
    """The id of a resource a POST created."""
    assert response.status_code == 201, response.get_data(as_text=True)
    return str(response.get_json(force=True)["id"])


def listed_ids(response: TestResponse) -> set[str]:
    """Ids of a ListResponse's resources."""
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json(force=True)
    assert body["totalResults"] == len(body["Resources"])
    return {resource["id"] for resource in body["Resources"]}


# -- two tenants -------------------------------------------------------------------


@dataclass(frozen=True)
class Tenant:
    """One organization with SCIM on, its key, and what SCIM pushed into it."""

    org_id: int
    secret: str
    user_ids: dict[str, str]  # label -> SCIM id (includes the owner and a local user)
    group_ids: dict[str, str]  # label -> SCIM id
    user_name: str  # a userName only this tenant has
    user_external_id: str
    group_name: str  # a displayName only this tenant has
    group_external_id: str


def provision(app: Flask, client: FlaskClient, name: str, domain: str) -> Tenant:
    """An organization with SCIM-pushed users and groups, and a local member."""
    info = make_org(app, name, owner_email=f"owner@{domain}")
    secret = scim_key(app, info.id)
    own_user = f"only-{domain.split('.')[0]}@{domain}"
    own_group = f"{name} Engineers"
    user_ids = {
        "owner": str(info.owner_id),
        "local": str(make_user(app, info.id, f"local@{domain}", password=None)),
        "own": created_id(
            call(
                client,
                "POST",
                "/Users",
                secret,
                user_body(own_user, f"ext-user-{domain}"),
            )
        ),
        "shared": created_id(
            call(
                client,
                "POST",
                "/Users",
                secret,
                user_body(SHARED_EMAIL, "ext-user-shared"),
            )
        ),
    }
    group_ids = {
        "own": created_id(
            call(
                client,
                "POST",
                "/Groups",
                secret,
                group_body(
                    own_group,
                    [user_ids["own"], user_ids["shared"]],
                    f"ext-group-{domain}",
                ),
            )
        ),
        "shared": created_id(
            call(
                client,
                "POST",
                "/Groups",
                secret,
                group_body("Everyone", [user_ids["shared"]], "ext-group-shared"),
            )
        ),
    }
    return Tenant(
        org_id=info.id,
        secret=secret,
        user_ids=user_ids,
        group_ids=group_ids,
        user_name=own_user,
        user_external_id=f"ext-user-{domain}",
        group_name=own_group,
        group_external_id=f"ext-group-{domain}",
    )


@pytest.fixture
def tenants(app: Flask, client: FlaskClient) -> tuple[Tenant, Tenant]:
    """Organizations A and B, both with SCIM on, users and groups."""
    return (
        provision(app, client, "Alpha", "alpha.test"),
        provision(app, client, "Beta", "beta.test"),
    )


# -- every resource of B is a 404 for A's key, on every verb --------------------------

USER_WRITES: dict[str, Any] = {
    "GET": None,
    "PUT": user_body("hijacked@alpha.test", "ext-hijacked", active=False),
    "PATCH": patch_body(
        {"op": "replace", "value": {"active": False, "displayName": "Hijacked"}}
    ),
    "DELETE": None,
}
GROUP_WRITES: dict[str, Any] = {
    "GET": None,
    "PUT": group_body("Hijacked", []),
    "PATCH": patch_body(
        {"op": "remove", "path": "members"},
        {"op": "replace", "path": "displayName", "value": "Patched"},
    ),
    "DELETE": None,
}
VERBS = ("GET", "PUT", "PATCH", "DELETE")


@pytest.mark.parametrize("resource", ["Users", "Groups"])
def test_other_organizations_resources_are_404_on_every_verb(
    app: Flask, client: FlaskClient, tenants: tuple[Tenant, Tenant], resource: str
) -> None:
    a, b = tenants
    ids = b.user_ids if resource == "Users" else b.group_ids
    bodies = USER_WRITES if resource == "Users" else GROUP_WRITES
    before = all_rows(app, scim_writes=True)
    for method in VERBS:
        for label, resource_id in ids.items():
            for shown_id in (resource_id, f"0{resource_id}"):
                for suffix in ("", "?attributes=userName,displayName,members"):
                    response = call(
                        client,
                        method,
                        f"/{resource}/{shown_id}{suffix}",
                        a.secret,
                        bodies[method],
                    )
                    error = assert_scim_error(response, 404)
                    text = json.dumps(error)
                    for value in (b.user_name, b.group_name, b.user_external_id):
                        assert value not in text, (method, label, text)
    assert all_rows(app, scim_writes=True) == before
    # B still reads its own resources.
    for resource_id in ids.values():
        response = call(client, "GET", f"/{resource}/{resource_id}", b.secret)
        assert response.status_code == 200


@pytest.mark.parametrize("resource", ["Users", "Groups"])
def test_the_same_requests_do_act_on_the_keys_own_organization(
    app: Flask, client: FlaskClient, tenants: tuple[Tenant, Tenant], resource: str
) -> None:
    """Control: the 404s above come from the tenant wall, not from the bodies."""
    a, _b = tenants
    resource_id = (a.user_ids if resource == "Users" else a.group_ids)["own"]
    bodies = USER_WRITES if resource == "Users" else GROUP_WRITES
    for method in VERBS:  # DELETE last
        before = all_rows(app, scim_writes=True)
        path = f"/{resource}/{resource_id}"
        response = call(client, method, path, a.secret, bodies[method])
        assert response.status_code in (200, 204), response.get_data(as_text=True)
        if method != "GET":
            assert all_rows(app, scim_writes=True) != before, method
    assert (
        call(client, "GET", f"/{resource}/{resource_id}", a.secret).status_code == 404
    )


def test_a_key_never_sees_another_organizations_rows_in_lists(
    client: FlaskClient, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    for tenant in (a, b):
        users = call(client, "GET", "/Users?count=1000", tenant.secret)
        assert listed_ids(users) == set(tenant.user_ids.values())
        groups = call(client, "GET", "/Groups?count=1000", tenant.secret)
        assert listed_ids(groups) == set(tenant.group_ids.values())
    # Paging through A's users one at a time never walks into B's.
    seen: set[str] = set()
    for start in range(1, 10):
        page = call(client, "GET", f"/Users?startIndex={start}&count=1", a.secret)
        body = page.get_json(force=True)
        assert body["totalResults"] == len(a.user_ids)
        seen |= {resource["id"] for resource in body["Resources"]}
    assert seen == set(a.user_ids.values())


def test_a_users_groups_attribute_lists_only_its_organizations_groups(
    client: FlaskClient, tenants: tuple[Tenant, Tenant]
) -> None:
    a, _b = tenants
    response = call(client, "GET", f"/Users/{a.user_ids['shared']}", a.secret)
    assert response.status_code == 200
    groups = {group["value"] for group in response.get_json(force=True)["groups"]}
    assert groups == set(a.group_ids.values())


def user_filters(a: Tenant, b: Tenant) -> list[tuple[str, set[str]]]:
    """(filter, ids A's key must get) for /Users."""
    a_all = set(a.user_ids.values())
    return [
        (f'userName eq "{b.user_name}"', set()),
        (f'userName eq "{b.user_name.upper()}"', set()),
        (f'userName sw "{b.user_name[:6]}"', set()),
        (f'userName ew "@{b.user_name.split("@")[1]}"', set()),
        ('userName co "beta"', set()),
        (f'externalId eq "{b.user_external_id}"', set()),
        (f'emails.value eq "{b.user_name}"', set()),
        (f'emails[type eq "work" and value eq "{b.user_name}"]', set()),
        (f'id eq "{b.user_ids["own"]}"', set()),
        (f'userName eq "{SHARED_EMAIL.upper()}"', {a.user_ids["shared"]}),
        ('externalId eq "ext-user-shared"', {a.user_ids["shared"]}),
        ("userName pr", a_all),
        ('not (userName eq "nobody@nowhere.test")', a_all),
        # An `or` must not escape the organization condition.
        (f'userName eq "{b.user_name}" or userName pr', a_all),
        (f'userName eq "{b.user_name}" or id eq "{b.user_ids["shared"]}"', set()),
        ("active eq true or active eq false", a_all),
    ]


def group_filters(a: Tenant, b: Tenant) -> list[tuple[str, set[str]]]:
    """(filter, ids A's key must get) for /Groups."""
    return [
        (f'displayName eq "{b.group_name}"', set()),
        (f'displayName eq "{b.group_name.lower()}"', set()),
        (f'externalId eq "{b.group_external_id}"', set()),
        (f'id eq "{b.group_ids["own"]}"', set()),
        (f'members.value eq "{b.user_ids["own"]}"', set()),
        ('displayName eq "Everyone"', {a.group_ids["shared"]}),
        ('externalId eq "ext-group-shared"', {a.group_ids["shared"]}),
        (
            f'displayName eq "{b.group_name}" or displayName pr',
            set(a.group_ids.values()),
        ),
    ]


def test_user_filters_never_match_another_organizations_rows(
    client: FlaskClient, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    for text, expected in user_filters(a, b):
        response = client.get(
            SCIM + "/Users", query_string={"filter": text}, headers=headers(a.secret)
        )
        assert listed_ids(response) == expected, text


def test_group_filters_never_match_another_organizations_rows(
    client: FlaskClient, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    for text, expected in group_filters(a, b):
        response = client.get(
            SCIM + "/Groups", query_string={"filter": text}, headers=headers(a.secret)
        )
        assert listed_ids(response) == expected, text


def test_creating_a_user_named_like_another_organizations_user_never_adopts_it(
    app: Flask, client: FlaskClient, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    before_b = call(client, "GET", f"/Users/{b.user_ids['own']}", b.secret)
    response = call(client, "POST", "/Users", a.secret, user_body(b.user_name, "ext-a"))
    new_id = created_id(response)
    assert new_id not in b.user_ids.values()
    with app.app_context():
        user = db.session.get(User, int(new_id))
        assert user is not None and user.organization_id == a.org_id
    after_b = call(client, "GET", f"/Users/{b.user_ids['own']}", b.secret)
    assert after_b.get_json(force=True) == before_b.get_json(force=True)


def test_creating_a_group_named_like_another_organizations_group_never_adopts_it(
    client: FlaskClient, tenants: tuple[Tenant, Tenant]
) -> None:
    a, b = tenants
    before_b = call(client, "GET", f"/Groups/{b.group_ids['own']}", b.secret)
    response = call(client, "POST", "/Groups", a.secret, group_body(b.group_name, []))
    new_id = created_id(response)
    assert new_id not in b.group_ids.values()
    after_b = call(client, "GET", f"/Groups/{b.group_ids['own']}", b.secret)
    assert after_b.get_json(force=True) == before_b.get_json(force=True)


# -- a group of A never gains a member of B ----------------------------------------


def foreign_member_requests(
    a: Tenant, b: Tenant, foreign: str
) -> list[tuple[str, str, dict]]:
    """Group writes in A that name `foreign` (B's user, or no user) as a member."""
    group = f"/Groups/{a.group_ids['own']}"
    mine = a.user_ids["local"]
    return [
        ("POST", "/Groups", group_body("New Group", [foreign])),
        ("POST", "/Groups", group_body("New Group", [mine, foreign])),
        ("PUT", group, group_body(a.group_name, [a.user_ids["own"], foreign])),
        ("PUT", group, group_body(a.group_name, [foreign])),
        (
            "PATCH",
            group,
            patch_body({"op": "add", "path": "members", "value": [{"value": foreign}]}),
        ),
        (
            "PATCH",
            group,
            patch_body(
                {
                    "op": "add",
                    "path": "members",
                    "value": [{"value": mine}, {"value": foreign}],
                }
            ),
        ),
        (
            "PATCH",
            group,
            patch_body(
                {"op": "add", "path": "members", "value": [{"value": mine}]},
                {"op": "add", "path": "members", "value": [{"value": foreign}]},
            ),
        ),
        (
            "PATCH",
            group,
            patch_body({"op": "Add", "value": {"members": [{"value": foreign}]}}),
        ),
        (
            "PATCH",
            group,
            patch_body(
                {"op": "replace", "path": "members", "value": [{"value": foreign}]}
            ),
        ),
        (
            "PATCH",
            group,
            patch_body(
                {"op": "remove", "path": "members", "value": [{"value": foreign}]}
            ),
        ),
        (
            "PATCH",
            group,
            patch_body({"op": "remove", "path": f'members[value eq "{foreign}"]'}),
        ),
    ]


@pytest.mark.parametrize("who", ["other organization's user", "unknown id"])
def test_group_writes_naming_a_foreign_member_are_400_and_change_nothing(
    app: Flask, client: FlaskClient, tenants: tuple[Tenant, Tenant], who: str
) -> None:
    a, b = tenants
    foreign = b.user_ids["own"] if who == "other organization's user" else "987654"
    for method, path, body in foreign_member_requests(a, b, foreign):
        before = all_rows(app, scim_writes=True)
        response = call(client, method, path, a.secret, body)
        error = assert_scim_error(response, 400)
        assert foreign in error["detail"], (method, body, error)
        assert all_rows(app, scim_writes=True) == before, (method, body)
    members = call(client, "GET", f"/Groups/{a.group_ids['own']}", a.secret)
    assert {m["value"] for m in members.get_json(force=True)["members"]} == {
        a.user_ids["own"],
        a.user_ids["shared"],
    }
    listing = client.get(
        SCIM + "/Groups",
        query_string={"filter": 'displayName eq "New Group"'},
        headers=headers(a.secret),
    )
    assert listed_ids(listing) == set()


# -- authentication refusals ------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """How a request was authenticated, and what the server must answer."""

    status: int
    detail_words: tuple[str, ...]
    authorization: str | None  # the raw header; None sends none


def refusal_cases(app: Flask, org_id: int, owner_id: int) -> dict[str, Refusal]:
    """Credentials that must be refused for organization `org_id`."""
    with app.app_context():
        org = db.session.get(Organization, org_id)
        owner = db.session.get(User, owner_id)
        assert org is not None and owner is not None
        revoked, revoked_secret = api_keys.create_api_key(
            org, name="old", scopes=["scim"], actor="cli"
        )
        api_keys.revoke_api_key(revoked, actor=owner)
        member = users.new_user(org, email="leaver@alpha.test", role="admin")
        db.session.commit()
        _personal, personal_secret = api_keys.create_api_key(
            org, name="mine", scopes=["scim"], user=member, actor=member
        )
        users.deactivate_user(member, Actor.command_line())
        db.session.commit()
    basic = base64.b64encode(b"okta:secret").decode()
    return {
        "no header": Refusal(401, ("Bearer",), None),
        "empty header": Refusal(401, ("Bearer",), ""),
        "basic scheme": Refusal(401, ("Bearer",), f"Basic {basic}"),
        "token scheme": Refusal(401, ("Bearer",), "Token abc"),
        "bare key": Refusal(401, ("Bearer",), "gh_no_scheme_at_all"),
        "scheme without key": Refusal(401, ("Bearer",), "Bearer "),
        "unknown key": Refusal(401, ("not valid",), "Bearer gh_" + "x" * 43),
        "oversized key": Refusal(401, ("not valid",), "Bearer " + "k" * 5000),
        "revoked key": Refusal(401, ("revoked",), f"Bearer {revoked_secret}"),
        "deactivated member's personal key": Refusal(
            401, ("deactivated",), f"Bearer {personal_secret}"
        ),
    }


def refused_requests(target_user: str, target_group: str) -> list[tuple[str, str, Any]]:
    """One request per verb that would change data if it were let through."""
    return [
        ("GET", "/Users", None),
        ("GET", f"/Users/{target_user}", None),
        ("POST", "/Users", user_body("intruder@alpha.test")),
        ("PUT", f"/Users/{target_user}", user_body("renamed@alpha.test")),
        (
            "PATCH",
            f"/Users/{target_user}",
            patch_body({"op": "replace", "value": {"active": False}}),
        ),
        ("DELETE", f"/Users/{target_user}", None),
        ("POST", "/Groups", group_body("Intruders", [target_user])),
        (
            "PATCH",
            f"/Groups/{target_group}",
            patch_body({"op": "remove", "path": "members"}),
        ),
        ("DELETE", f"/Groups/{target_group}", None),
        ("GET", "/ServiceProviderConfig", None),
    ]


def assert_every_request_refused(
    app: Flask,
    client: FlaskClient,
    tenant: Tenant,
    authorization: str | None,
    status: int,
    detail_words: tuple[str, ...],
) -> None:
    before = all_rows(app, scim_writes=True)
    for method, path, body in refused_requests(
        tenant.user_ids["own"], tenant.group_ids["own"]
    ):
        request_headers = headers(None)
        if authorization is not None:
            request_headers["Authorization"] = authorization
        response = client.open(
            SCIM + path,
            method=method,
            headers=request_headers,
            data=None if body is None else json.dumps(body),
        )
        error = assert_scim_error(response, status)
        for word in detail_words:
            assert word.lower() in error["detail"].lower(), (method, path, error)
        if status == 401:
            challenge = response.headers.get("WWW-Authenticate", "")
            assert challenge.lower().startswith("bearer"), (method, path)
        assert tenant.user_name not in response.get_data(as_text=True)
    assert all_rows(app, scim_writes=True) == before


REFUSALS = (
    "no header",
    "empty header",
    "basic scheme",
    "token scheme",
    "bare key",
    "scheme without key",
    "unknown key",
    "oversized key",
    "revoked key",
    "deactivated member's personal key",
)


@pytest.mark.parametrize("case", REFUSALS)
def test_bad_credentials_are_401_with_a_challenge_and_change_nothing(
    app: Flask, client: FlaskClient, case: str
) -> None:
    tenant = provision(app, client, "Alpha", "alpha.test")
    owner_id = int(tenant.user_ids["owner"])
    refusal = refusal_cases(app, tenant.org_id, owner_id)[case]
    assert_every_request_refused(
        app,
        client,
        tenant,
        refusal.authorization,
        refusal.status,
        refusal.detail_words,
    )


def test_a_free_plan_organization_is_403_naming_the_plan(
    app: Flask, client: FlaskClient
) -> None:
    tenant = provision(app, client, "Alpha", "alpha.test")
    with app.app_context():
        org = db.session.get(Organization, tenant.org_id)
        assert org is not None
        org.plan = "free"
        db.session.commit()
    assert_every_request_refused(
        app, client, tenant, f"Bearer {tenant.secret}", 403, ("free", "plan")
    )


def test_sync_switched_off_is_403_naming_the_switch(
    app: Flask, client: FlaskClient
) -> None:
    tenant = provision(app, client, "Alpha", "alpha.test")
    with app.app_context():
        org = db.session.get(Organization, tenant.org_id)
        assert org is not None
        organizations.set_scim_sync(org, False, actor="cli")
    assert_every_request_refused(
        app, client, tenant, f"Bearer {tenant.secret}", 403, ("switched off",)
    )


def test_a_key_of_an_organization_that_never_switched_sync_on_is_403(
    app: Flask, client: FlaskClient
) -> None:
    tenant = provision(app, client, "Alpha", "alpha.test")
    info = make_org(app, "Gamma", owner_email="owner@gamma.test")
    with app.app_context():
        gamma = db.session.get(Organization, info.id)
        assert gamma is not None
        assert gamma.sso_config is None  # nobody ever touched the switch
        _key, secret = api_keys.create_api_key(
            gamma, name="okta", scopes=["scim"], actor="cli"
        )
    assert_every_request_refused(
        app, client, tenant, f"Bearer {secret}", 403, ("switched off",)
    )


def test_a_deactivated_members_personal_key_stops_working_at_once(
    app: Flask, client: FlaskClient
) -> None:
    tenant = provision(app, client, "Alpha", "alpha.test")
    with app.app_context():
        org = db.session.get(Organization, tenant.org_id)
        member = db.session.get(User, int(tenant.user_ids["own"]))
        assert org is not None and member is not None
        member.role = "admin"  # only owners and admins hold scim keys
        db.session.commit()
        _key, personal = api_keys.create_api_key(
            org, name="mine", scopes=["scim"], user=member, actor=member
        )
    assert call(client, "GET", "/Users", personal).status_code == 200
    deactivate = patch_body({"op": "replace", "value": {"active": False}})
    response = call(
        client, "PATCH", f"/Users/{tenant.user_ids['own']}", tenant.secret, deactivate
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    error = assert_scim_error(call(client, "GET", "/Users", personal), 401)
    assert "deactivated" in error["detail"]


def test_bearer_and_api_key_schemes_are_accepted(
    app: Flask, client: FlaskClient
) -> None:
    info = make_org(app, "Alpha", owner_email="owner@alpha.test")
    secret = scim_key(app, info.id)
    for number, scheme in enumerate(["Bearer", "bearer", "Api-Key", "api-key"]):
        listing = call(client, "GET", f"/Users/{info.owner_id}", secret, scheme=scheme)
        assert listing.status_code == 200, (scheme, listing.get_data(as_text=True))
        body = user_body(f"ann{number}@alpha.test")
        created = call(client, "POST", "/Users", secret, body, scheme=scheme)
        assert created.status_code == 201, (scheme, created.get_data(as_text=True))
