"""Okta's SCIM 2.0 spec test and CRUD test, replayed request by request.

Okta validates a SCIM connector with two published scenarios: the "SCIM 2.0 Spec
Test" (the Runscope suite: list, look up, create, re-create, case-insensitive
userName, unknown id) and the CRUD test (create, update with PUT, deactivate and
reactivate with PATCH and with PUT, then push a group, change its members, rename
it, replace it and delete it). Every request here carries Okta's headers, and
every answer is checked for what Okta checks (status, SCIM media type, body shape)
and for what it must have done to the database.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from core.extensions import db
from core.models import Group
from core.models import GroupMember
from core.models import ScimRequest
from core.models import User
from core.models import UserSession
from core.security import authenticate_api_key
from tests.support.builders import OrgInfo
from tests.support.builders import make_user
from tests.support.builders import scim_key as scim_secret
from tests.support.builders import sign_in
from tests.support.rows import get_user
from tests.support.scim import ERROR_SCHEMA
from tests.support.scim import GROUP_SCHEMA
from tests.support.scim import LIST_SCHEMA
from tests.support.scim import PATCH_SCHEMA
from tests.support.scim import SCIM
from tests.support.scim import SCIM_JSON as SCIM_MEDIA_TYPE
from tests.support.scim import USER_SCHEMA
from tests.support.scim import ScimClient

OKTA_PASSWORD = "1mz050nq"  # the placeholder password Okta's create carries


# -- an Okta-like client ---------------------------------------------------------


@dataclass(frozen=True)
class Okta:
    """Sends requests the way Okta's provisioning agent does."""

    client: FlaskClient
    secret: str

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str] | None = None,
    ) -> TestResponse:
        """One request with Okta's headers; every answer must be SCIM JSON."""
        scim = ScimClient(self.client, self.secret, idp="okta")
        response = scim.call(method, path, body, query=query)
        if response.status_code != 204:
            assert response.mimetype == SCIM_MEDIA_TYPE, (
                method,
                path,
                response.status_code,
                response.headers.get("Content-Type"),
            )
        else:
            assert response.data == b""
        return response

    def get(self, path: str, **query: str) -> TestResponse:
        return self.send("GET", path, query=query or None)

    def post(self, path: str, body: Any) -> TestResponse:
        return self.send("POST", path, body)

    def put(self, path: str, body: Any) -> TestResponse:
        return self.send("PUT", path, body)

    def patch(self, path: str, body: Any) -> TestResponse:
        return self.send("PATCH", path, body)

    def delete(self, path: str) -> TestResponse:
        return self.send("DELETE", path)


@pytest.fixture
def okta(app: Flask, org: OrgInfo) -> Okta:
    """Okta, holding an organization key of Acme with SCIM switched on."""
    return Okta(app.test_client(), scim_secret(app, org.id))


# -- bodies Okta sends -----------------------------------------------------------


def random_user_name() -> str:
    """A userName like the random ones Okta's spec test makes up."""
    return f"test.user.{uuid.uuid4().hex[:12]}@okta.local"


def okta_user(
    user_name: str,
    *,
    given_name: str = "Test",
    family_name: str = "User",
    external_id: str = "00ujl29u0le5T6Aj10h7",
    active: bool = True,
) -> dict[str, Any]:
    """The body of Okta's "create user" request."""
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": given_name, "familyName": family_name},
        "emails": [{"primary": True, "value": user_name, "type": "work"}],
        "displayName": f"{given_name} {family_name}",
        "locale": "en-US",
        "externalId": external_id,
        "groups": [],
        "password": OKTA_PASSWORD,
        "active": active,
    }


def okta_put(resource: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Okta's PUT: the whole user as it last read it, with its own changes."""
    body = {
        **okta_user(resource["userName"], external_id=resource["externalId"]),
        "id": resource["id"],
        "name": dict(resource["name"]),
        "displayName": resource.get("displayName", ""),
        "meta": resource["meta"],
    }
    body.pop("password")
    for key, value in changes.items():
        if key in ("givenName", "familyName"):
            body["name"][key] = value
        else:
            body[key] = value
    return body


def patch_op(*operations: dict[str, Any]) -> dict[str, Any]:
    """A PatchOp body."""
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


# -- what Okta checks in answers -------------------------------------------------


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp as SCIM sends it."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_meta(resource: dict[str, Any], resource_type: str) -> None:
    """The resource carries a complete `meta` (RFC 7643 §3.1)."""
    meta = resource["meta"]
    assert meta["resourceType"] == resource_type
    assert parse_time(meta["created"]) <= parse_time(meta["lastModified"])
    assert meta["location"].endswith(f"{SCIM}/{resource_type}s/{resource['id']}")
    assert meta["location"].startswith("http")
    assert isinstance(meta["version"], str) and meta["version"]


def resource_of(
    response: TestResponse, resource_type: str, status: int = 200
) -> dict[str, Any]:
    """Check a single-resource answer (status, meta, ETag, Location) and return it."""
    assert response.status_code == status, response.text
    body = response.get_json()
    assert isinstance(body["id"], str) and body["id"]
    expected_schema = USER_SCHEMA if resource_type == "User" else GROUP_SCHEMA
    assert expected_schema in body["schemas"]
    assert_meta(body, resource_type)
    assert response.headers["ETag"] == body["meta"]["version"]
    if status == 201:
        assert response.headers["Location"] == body["meta"]["location"]
    return body


def list_of(response: TestResponse, resource_type: str) -> dict[str, Any]:
    """Check a ListResponse (RFC 7644 §3.4.2) and return it."""
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["schemas"] == [LIST_SCHEMA]
    assert isinstance(body["totalResults"], int)
    assert isinstance(body["Resources"], list)
    assert body["itemsPerPage"] == len(body["Resources"])
    assert body["startIndex"] >= 1
    for resource in body["Resources"]:
        assert_meta(resource, resource_type)
    return body


def assert_error(
    response: TestResponse, status: int, scim_type: str | None = None
) -> dict[str, Any]:
    """Check a SCIM error answer (RFC 7644 §3.12) and return its body."""
    assert response.status_code == status, response.text
    body = response.get_json()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)
    assert isinstance(body.get("detail"), str) and body["detail"]
    if scim_type is not None:
        assert body.get("scimType") == scim_type
    return body


def filter_users(okta: Okta, user_name: str) -> dict[str, Any]:
    """Okta's look-up: GET /Users?filter=userName eq "<name>"."""
    return list_of(okta.get("/Users", filter=f'userName eq "{user_name}"'), "User")


def create(okta: Okta, user_name: str, **fields: Any) -> dict[str, Any]:
    """POST Okta's create body; expect 201 and return the user."""
    return resource_of(okta.post("/Users", okta_user(user_name, **fields)), "User", 201)


# -- reading the database --------------------------------------------------------


def users_named(app: Flask, org_id: int, user_name: str) -> list[dict[str, Any]]:
    """Users of the organization whose userName matches, case-insensitively."""
    with app.app_context():
        ids = db.session.execute(
            db.select(User.id).where(
                User.organization_id == org_id,
                db.func.lower(User.user_name) == user_name.lower(),
            )
        ).scalars()
        return [get_user(app, user_id) for user_id in ids]


def count_users(app: Flask, org_id: int) -> int:
    """Number of users of the organization."""
    with app.app_context():
        return db.session.execute(
            db.select(db.func.count(User.id)).where(User.organization_id == org_id)
        ).scalar_one()


def group_row(app: Flask, group_id: int) -> dict[str, Any] | None:
    """A group's columns, or None if it is gone."""
    with app.app_context():
        group = db.session.get(Group, group_id)
        if group is None:
            return None
        return {
            column.key: getattr(group, column.key) for column in Group.__table__.columns
        }


def member_ids(app: Flask, group_id: int) -> set[int]:
    """Ids of the group's members, from the database."""
    with app.app_context():
        return set(
            db.session.execute(
                db.select(GroupMember.user_id).filter_by(group_id=group_id)
            ).scalars()
        )


def live_sessions(app: Flask, user_id: int) -> int:
    """Browser sessions of the user that have not been revoked."""
    with app.app_context():
        return db.session.execute(
            db.select(db.func.count(UserSession.id)).where(
                UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
            )
        ).scalar_one()


def key_works(app: Flask, secret: str) -> bool:
    """Does the key still authenticate for the scim scope?"""
    with app.app_context():
        return authenticate_api_key(secret, "scim") is not None


# -- the spec test ---------------------------------------------------------------


def test_users_endpoint_pages_with_count_and_start_index(
    app: Flask, okta: Okta, org: OrgInfo
) -> None:
    second = create(okta, random_user_name())
    body = list_of(okta.get("/Users", count="1", startIndex="1"), "User")
    assert body["totalResults"] == 2
    assert body["startIndex"] == 1
    assert body["itemsPerPage"] == 1
    first = body["Resources"][0]
    assert first["id"] == str(org.owner_id)
    assert first["userName"] == org.owner_email
    assert first["emails"][0]["value"] == org.owner_email
    assert first["active"] is True

    # Okta's next request reads the listed user by its id.
    again = resource_of(okta.get(f"/Users/{first['id']}"), "User")
    assert again["userName"] == org.owner_email

    page_two = list_of(okta.get("/Users", count="1", startIndex="2"), "User")
    assert page_two["startIndex"] == 2
    assert [user["id"] for user in page_two["Resources"]] == [second["id"]]

    beyond = list_of(okta.get("/Users", count="1", startIndex="3"), "User")
    assert beyond["totalResults"] == 2
    assert beyond["Resources"] == []


def test_filter_on_unknown_user_name_is_an_empty_list_response(okta: Okta) -> None:
    body = filter_users(okta, random_user_name())
    assert body["totalResults"] == 0
    assert body["Resources"] == []
    assert body["itemsPerPage"] == 0


def test_spec_test_create_read_find_and_recreate(
    app: Flask, okta: Okta, org: OrgInfo
) -> None:
    user_name = random_user_name()
    assert filter_users(okta, user_name)["totalResults"] == 0

    response = okta.post("/Users", okta_user(user_name))
    created = resource_of(response, "User", 201)
    assert created["active"] is True
    assert created["userName"] == user_name
    assert created["name"]["givenName"] == "Test"
    assert created["name"]["familyName"] == "User"
    assert created["emails"][0]["value"] == user_name
    assert created["externalId"] == "00ujl29u0le5T6Aj10h7"
    assert "password" not in created
    assert OKTA_PASSWORD not in response.text

    [row] = users_named(app, org.id, user_name)
    assert str(row["id"]) == created["id"]
    assert row["scim_managed"] is True
    assert row["source"] == "scim"
    assert row["status"] == "active"
    assert row["password_hash"] is None  # the placeholder password is not kept
    assert row["external_id"] == "00ujl29u0le5T6Aj10h7"
    assert (row["given_name"], row["family_name"]) == ("Test", "User")

    read = resource_of(okta.get(f"/Users/{created['id']}"), "User")
    assert read["id"] == created["id"]
    assert read["userName"] == user_name
    assert read["active"] is True
    assert OKTA_PASSWORD not in okta.get(f"/Users/{created['id']}").text

    found = filter_users(okta, user_name)
    assert found["totalResults"] == 1
    assert [user["id"] for user in found["Resources"]] == [created["id"]]

    shouted = filter_users(okta, user_name.upper())
    assert shouted["totalResults"] == 1
    assert shouted["Resources"][0]["id"] == created["id"]

    duplicate = okta.post("/Users", okta_user(user_name))
    assert_error(duplicate, 409, "uniqueness")
    assert len(users_named(app, org.id, user_name)) == 1

    # The activity log records the requests but never Okta's password.
    with app.app_context():
        rows = db.session.execute(
            db.select(ScimRequest).filter_by(organization_id=org.id)
        ).scalars()
        logged = json.dumps([[row.path, row.changes, row.detail] for row in rows])
    assert OKTA_PASSWORD not in logged


@pytest.mark.parametrize(
    "user_id", ["010101-0101-0101-0101-010101010101", str(uuid.uuid4()), "987654321"]
)
def test_unknown_user_id_is_404_with_error_schema(okta: Okta, user_id: str) -> None:
    assert_error(okta.get(f"/Users/{user_id}"), 404)


# -- the CRUD test: users --------------------------------------------------------


def test_crud_put_patch_deactivate_and_reactivate(
    app: Flask, okta: Okta, org: OrgInfo
) -> None:
    users_before = count_users(app, org.id)
    created = create(okta, random_user_name())
    user_id = int(created["id"])

    # Update the profile with a full PUT.
    updated = resource_of(
        okta.put(f"/Users/{user_id}", okta_put(created, givenName="Another")), "User"
    )
    assert updated["name"]["givenName"] == "Another"
    assert updated["name"]["familyName"] == "User"
    assert updated["active"] is True
    assert updated["meta"]["version"] != created["meta"]["version"]
    assert updated["meta"]["created"] == created["meta"]["created"]
    assert parse_time(updated["meta"]["lastModified"]) > parse_time(
        created["meta"]["lastModified"]
    )
    assert get_user(app, user_id)["given_name"] == "Another"
    read = resource_of(okta.get(f"/Users/{user_id}"), "User")
    assert read["name"]["givenName"] == "Another"

    # Deactivate with PATCH (Okta's catalog integrations).
    deactivate = patch_op({"op": "replace", "value": {"active": False}})
    patched = resource_of(okta.patch(f"/Users/{user_id}", deactivate), "User")
    assert patched["active"] is False
    row = get_user(app, user_id)
    assert row["status"] == "inactive"
    assert row["given_name"] == "Another"  # nothing else changed
    assert count_users(app, org.id) == users_before + 1  # kept, not deleted
    assert resource_of(okta.get(f"/Users/{user_id}"), "User")["active"] is False
    inactive = list_of(okta.get("/Users", filter="active eq false"), "User")
    assert [user["id"] for user in inactive["Resources"]] == [str(user_id)]

    # Reactivate with PATCH.
    reactivate = patch_op({"op": "replace", "value": {"active": True}})
    patched = resource_of(okta.patch(f"/Users/{user_id}", reactivate), "User")
    assert patched["active"] is True
    assert get_user(app, user_id)["status"] == "active"

    # Deactivate with PUT (apps made with Okta's wizard), exactly like PATCH.
    current = resource_of(okta.get(f"/Users/{user_id}"), "User")
    put = resource_of(
        okta.put(f"/Users/{user_id}", okta_put(current, active=False)), "User"
    )
    assert put["active"] is False
    row = get_user(app, user_id)
    assert row["status"] == "inactive"
    assert row["given_name"] == "Another"
    assert resource_of(okta.get(f"/Users/{user_id}"), "User")["active"] is False

    # Reactivate with PUT.
    current = resource_of(okta.get(f"/Users/{user_id}"), "User")
    put = resource_of(
        okta.put(f"/Users/{user_id}", okta_put(current, active=True)), "User"
    )
    assert put["active"] is True
    assert get_user(app, user_id)["status"] == "active"
    assert count_users(app, org.id) == users_before + 1


@pytest.mark.parametrize("style", ["patch", "put"])
def test_deactivation_ends_sessions_and_personal_keys(
    app: Flask, okta: Okta, org: OrgInfo, style: str
) -> None:
    # Only owners and admins hold scim keys: Mia is an admin.
    mia = make_user(app, org.id, "mia@acme.test", given_name="Mia", role="admin")
    browser = app.test_client()
    assert sign_in(browser, "mia@acme.test").status_code == 302
    assert browser.get("/members").status_code == 200
    personal = scim_secret(app, org.id, user_id=mia)
    mia_key = Okta(app.test_client(), personal)
    assert mia_key.get("/Users", count="1").status_code == 200
    assert live_sessions(app, mia) == 1

    # Okta links the existing account, then deactivates it.
    adopted = create(okta, "mia@acme.test", given_name="Mia", family_name="Rossi")
    assert adopted["id"] == str(mia)
    if style == "patch":
        body = patch_op({"op": "replace", "value": {"active": False}})
        response = okta.patch(f"/Users/{mia}", body)
    else:
        response = okta.put(f"/Users/{mia}", okta_put(adopted, active=False))
    assert resource_of(response, "User")["active"] is False

    assert get_user(app, mia)["status"] == "inactive"
    assert live_sessions(app, mia) == 0
    signed_out = browser.get("/members")
    assert signed_out.status_code == 302
    assert signed_out.headers["Location"].startswith("/login")
    assert_error(mia_key.get("/Users", count="1"), 401)
    assert not key_works(app, personal)
    assert sign_in(app.test_client(), "mia@acme.test").status_code != 302

    # Reactivation brings the account and its key back, not the old session.
    if style == "patch":
        body = patch_op({"op": "replace", "value": {"active": True}})
        response = okta.patch(f"/Users/{mia}", body)
    else:
        current = resource_of(okta.get(f"/Users/{mia}"), "User")
        response = okta.put(f"/Users/{mia}", okta_put(current, active=True))
    assert resource_of(response, "User")["active"] is True
    assert get_user(app, mia)["status"] == "active"
    assert live_sessions(app, mia) == 0
    still_out = browser.get("/members")
    assert still_out.status_code == 302
    assert still_out.headers["Location"].startswith("/login")
    assert key_works(app, personal)
    assert mia_key.get("/Users", count="1").status_code == 200
    again = app.test_client()
    assert sign_in(again, "mia@acme.test").status_code == 302
    assert again.get("/members").status_code == 200


# -- turning SCIM on after people already use the app ---------------------------


@pytest.mark.parametrize("source", ["local", "sso"])
def test_create_adopts_an_account_not_yet_managed_by_scim(
    app: Flask, okta: Okta, org: OrgInfo, source: str
) -> None:
    email = f"{source}.person@acme.test"
    existing = make_user(
        app,
        org.id,
        email,
        source=source,
        password=None if source == "sso" else "correct horse battery staple",
        given_name="Old",
        family_name="Name",
    )
    users_before = count_users(app, org.id)
    assert get_user(app, existing)["scim_managed"] is False

    adopted = create(
        okta,
        email,
        given_name="New",
        family_name="Surname",
        external_id=f"00u{source}okta",
    )
    assert adopted["id"] == str(existing)
    assert adopted["name"]["givenName"] == "New"
    assert adopted["active"] is True
    row = get_user(app, existing)
    assert row["scim_managed"] is True
    assert (row["given_name"], row["family_name"]) == ("New", "Surname")
    assert row["display_name"] == "New Surname"
    assert row["external_id"] == f"00u{source}okta"
    assert row["status"] == "active"
    assert count_users(app, org.id) == users_before

    # Now that SCIM manages the account, another create is a true duplicate.
    again = okta.post("/Users", okta_user(email.upper(), given_name="Other"))
    assert_error(again, 409, "uniqueness")
    assert get_user(app, existing)["given_name"] == "New"
    assert count_users(app, org.id) == users_before


# -- the CRUD test: groups -------------------------------------------------------


def test_crud_groups_push_members_rename_replace_delete(
    app: Flask, okta: Okta, org: OrgInfo
) -> None:
    first = create(okta, random_user_name(), given_name="First")
    second = create(okta, random_user_name(), given_name="Second")
    first_id, second_id = int(first["id"]), int(second["id"])
    name = f"Test SCIMv2 {uuid.uuid4().hex[:8]}"

    # Push a group with one member.
    response = okta.post(
        "/Groups",
        {
            "schemas": [GROUP_SCHEMA],
            "displayName": name,
            "members": [{"value": first["id"], "display": first["userName"]}],
        },
    )
    group = resource_of(response, "Group", 201)
    group_id = int(group["id"])
    assert group["displayName"] == name
    assert [member["value"] for member in group["members"]] == [first["id"]]
    row = group_row(app, group_id)
    assert row is not None
    assert row["organization_id"] == org.id
    assert row["scim_managed"] is True
    assert member_ids(app, group_id) == {first_id}

    # Okta reads it back by id, lists groups, and finds it by name.
    assert resource_of(okta.get(f"/Groups/{group_id}"), "Group")["displayName"] == (
        name
    )
    listed = list_of(okta.get("/Groups", count="1", startIndex="1"), "Group")
    assert listed["totalResults"] == 1
    found = list_of(okta.get("/Groups", filter=f'displayName eq "{name}"'), "Group")
    assert found["totalResults"] == 1
    assert found["Resources"][0]["id"] == group["id"]
    missing = list_of(
        okta.get("/Groups", filter=f'displayName eq "{uuid.uuid4()}"'), "Group"
    )
    assert (missing["totalResults"], missing["Resources"]) == (0, [])

    # Add a member.
    added = okta.patch(
        f"/Groups/{group_id}",
        patch_op(
            {
                "op": "add",
                "path": "members",
                "value": [{"value": second["id"], "display": second["userName"]}],
            }
        ),
    )
    assert added.status_code in (200, 204), added.text
    assert member_ids(app, group_id) == {first_id, second_id}

    # Remove a member by a value filter.
    removed = okta.patch(
        f"/Groups/{group_id}",
        patch_op({"op": "remove", "path": f'members[value eq "{first_id}"]'}),
    )
    assert removed.status_code in (200, 204), removed.text
    assert member_ids(app, group_id) == {second_id}
    current = resource_of(okta.get(f"/Groups/{group_id}"), "Group")
    assert [member["value"] for member in current["members"]] == [second["id"]]

    # Rename with a no-path replace that repeats the id.
    new_name = f"Renamed {uuid.uuid4().hex[:8]}"
    renamed = okta.patch(
        f"/Groups/{group_id}",
        patch_op(
            {"op": "replace", "value": {"id": group["id"], "displayName": new_name}}
        ),
    )
    assert renamed.status_code in (200, 204), renamed.text
    row = group_row(app, group_id)
    assert row is not None and row["display_name"] == new_name
    assert member_ids(app, group_id) == {second_id}
    assert resource_of(okta.get(f"/Groups/{group_id}"), "Group")["displayName"] == (
        new_name
    )

    # Replace the whole group with PUT (Okta's wizard-made apps).
    replaced = resource_of(
        okta.put(
            f"/Groups/{group_id}",
            {
                "schemas": [GROUP_SCHEMA],
                "id": group["id"],
                "displayName": new_name,
                "members": [{"value": first["id"], "display": first["userName"]}],
            },
        ),
        "Group",
    )
    assert [member["value"] for member in replaced["members"]] == [first["id"]]
    assert member_ids(app, group_id) == {first_id}

    # Delete it: gone, its members are not.
    users_before = count_users(app, org.id)
    assert okta.delete(f"/Groups/{group_id}").status_code == 204
    assert group_row(app, group_id) is None
    assert member_ids(app, group_id) == set()
    assert count_users(app, org.id) == users_before
    assert_error(okta.get(f"/Groups/{group_id}"), 404)
    assert_error(okta.delete(f"/Groups/{group_id}"), 404)
