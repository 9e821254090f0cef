"""Microsoft Entra ID (Azure AD) provisioning quirks.

Entra's SCIM client differs from Okta's: op names are capitalised ("Replace",
"Add", "Remove"), booleans arrive as the strings "True"/"False", attributes are
patched one path at a time (`emails[type eq "work"].value`, `name.givenName`),
some no-path replaces use dotted keys, creates carry the enterprise extension,
userName is often not an email, and groups change members with value lists.
Each test replays those requests and checks the answer and the database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from core.extensions import db
from core.models import Group
from core.models import GroupMember
from core.models import User
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import scim_key as scim_secret
from tests.support.rows import get_user
from tests.support.scim import ENTERPRISE_SCHEMA
from tests.support.scim import ERROR_SCHEMA
from tests.support.scim import GROUP_SCHEMA
from tests.support.scim import LIST_SCHEMA
from tests.support.scim import SCIM_JSON as SCIM_MEDIA_TYPE
from tests.support.scim import USER_SCHEMA
from tests.support.scim import ScimClient
from tests.support.scim import patch_body


@dataclass(frozen=True)
class Entra:
    """Sends requests the way Entra's provisioning service does."""

    client: FlaskClient
    secret: str

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str] | None = None,
    ) -> TestResponse:
        """One request with Entra's headers; every answer must be SCIM JSON."""
        scim = ScimClient(self.client, self.secret, idp="entra")
        response = scim.call(method, path, body, query=query)
        if response.status_code != 204:
            assert response.mimetype == SCIM_MEDIA_TYPE, (
                method,
                path,
                response.status_code,
                response.headers.get("Content-Type"),
            )
        return response

    def get(self, path: str, **query: str) -> TestResponse:
        return self.send("GET", path, query=query or None)

    def post(self, path: str, body: Any) -> TestResponse:
        return self.send("POST", path, body)

    def patch(self, path: str, *operations: dict[str, Any]) -> TestResponse:
        """PATCH with a PatchOp body made of `operations`."""
        return self.send("PATCH", path, patch_body(*operations))


@pytest.fixture
def entra(app: Flask, org: OrgInfo) -> Entra:
    """Entra, holding an organization key of Acme with SCIM switched on."""
    return Entra(app.test_client(), scim_secret(app, org.id))


def entra_user(
    user_name: str,
    email: str,
    *,
    given_name: str = "givenName",
    family_name: str = "familyName",
    external_id: str | None = None,
) -> dict[str, Any]:
    """The body of Entra's "create user" request, enterprise extension included."""
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
        "externalId": external_id or str(uuid.uuid4()),
        "userName": user_name,
        "active": True,
        "displayName": f"{given_name} {family_name}",
        "emails": [{"primary": True, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {
            "formatted": f"{given_name} {family_name}",
            "familyName": family_name,
            "givenName": given_name,
        },
        "roles": [],
        ENTERPRISE_SCHEMA: {
            "employeeNumber": "701984",
            "department": "Tour Operations",
        },
    }


def assert_error(
    response: TestResponse, status: int, scim_type: str | None = None
) -> None:
    """A SCIM error answer (RFC 7644 §3.12)."""
    assert response.status_code == status, response.text
    body = response.get_json()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)
    if scim_type is not None:
        assert body.get("scimType") == scim_type


def found_ids(response: TestResponse) -> list[str]:
    """The ids in a ListResponse, after checking its shape."""
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["schemas"] == [LIST_SCHEMA]
    assert body["totalResults"] == len(body["Resources"])
    return [resource["id"] for resource in body["Resources"]]


def create(entra: Entra, user_name: str, email: str, **fields: Any) -> int:
    """POST Entra's create body; expect 201 and return the new user's id."""
    response = entra.post("/Users", entra_user(user_name, email, **fields))
    assert response.status_code == 201, response.text
    return int(response.get_json()["id"])


def member_ids(app: Flask, group_id: int) -> set[int]:
    """Ids of the group's members, from the database."""
    with app.app_context():
        return set(
            db.session.execute(
                db.select(GroupMember.user_id).filter_by(group_id=group_id)
            ).scalars()
        )


def count_users(app: Flask, org_id: int) -> int:
    """Number of users of the organization."""
    with app.app_context():
        return db.session.execute(
            db.select(db.func.count(User.id)).where(User.organization_id == org_id)
        ).scalar_one()


# -- users -------------------------------------------------------------------------


def test_probe_for_a_random_guid_user_name_finds_nothing(entra: Entra) -> None:
    response = entra.get("/Users", filter=f'userName eq "{uuid.uuid4()}"')
    assert found_ids(response) == []
    assert response.get_json()["totalResults"] == 0


def test_create_with_enterprise_extension_and_non_email_user_name(
    app: Flask, entra: Entra, org: OrgInfo
) -> None:
    user_name = f"Test_User_{uuid.uuid4()}"
    email = f"Test_User_{uuid.uuid4().hex[:8]}@testuser.com"
    external_id = str(uuid.uuid4())
    response = entra.post(
        "/Users", entra_user(user_name, email, external_id=external_id)
    )
    assert response.status_code == 201, response.text
    body = response.get_json()
    assert body["userName"] == user_name
    assert body["emails"][0]["value"] == email
    assert body["active"] is True
    assert body["externalId"] == external_id
    assert "employeeNumber" not in response.text  # accepted, ignored, not echoed

    row = get_user(app, int(body["id"]))
    assert row["organization_id"] == org.id
    assert row["user_name"] == user_name
    assert row["email"] == email
    assert row["external_id"] == external_id
    assert (row["given_name"], row["family_name"]) == ("givenName", "familyName")
    assert row["scim_managed"] is True

    # Entra then looks the user up by userName, any case.
    assert found_ids(entra.get("/Users", filter=f'userName eq "{user_name}"')) == [
        body["id"]
    ]
    lowered = entra.get("/Users", filter=f'userName eq "{user_name.lower()}"')
    assert found_ids(lowered) == [body["id"]]
    by_external = entra.get("/Users", filter=f'externalId eq "{external_id}"')
    assert found_ids(by_external) == [body["id"]]


def test_string_booleans_deactivate_and_reactivate(
    app: Flask, entra: Entra, org: OrgInfo
) -> None:
    user_id = create(entra, "ann.lee", "ann.lee@contoso.test")
    users = count_users(app, org.id)

    off = entra.patch(
        f"/Users/{user_id}", {"op": "Replace", "path": "active", "value": "False"}
    )
    assert off.status_code == 200, off.text
    assert off.get_json()["active"] is False
    assert get_user(app, user_id)["status"] == "inactive"
    assert count_users(app, org.id) == users
    assert entra.get(f"/Users/{user_id}").get_json()["active"] is False

    on = entra.patch(
        f"/Users/{user_id}", {"op": "Replace", "path": "active", "value": "True"}
    )
    assert on.status_code == 200, on.text
    assert on.get_json()["active"] is True
    assert get_user(app, user_id)["status"] == "active"


def test_no_path_replace_with_string_boolean(app: Flask, entra: Entra) -> None:
    user_id = create(entra, "bo.chen", "bo.chen@contoso.test")
    response = entra.patch(
        f"/Users/{user_id}", {"op": "Replace", "value": {"active": "False"}}
    )
    assert response.status_code == 200, response.text
    assert get_user(app, user_id)["status"] == "inactive"


def test_patch_attribute_paths_one_at_a_time(app: Flask, entra: Entra) -> None:
    user_id = create(entra, "cy.diaz", "cy.diaz@contoso.test", given_name="Cy")
    response = entra.patch(
        f"/Users/{user_id}",
        {
            "op": "Replace",
            "path": 'emails[type eq "work"].value',
            "value": "updatedEmail@contoso.test",
        },
        {"op": "Replace", "path": "name.givenName", "value": "Cyrus"},
        {"op": "Replace", "path": "name.familyName", "value": "Diaz-Moreno"},
        {"op": "Replace", "path": "displayName", "value": "Cyrus Diaz-Moreno"},
        {"op": "Add", "path": "externalId", "value": "e1f0c5d2-entra"},
    )
    assert response.status_code == 200, response.text
    body = response.get_json()
    assert body["emails"] == [
        {"value": "updatedEmail@contoso.test", "type": "work", "primary": True}
    ]
    assert body["name"]["givenName"] == "Cyrus"
    assert body["externalId"] == "e1f0c5d2-entra"

    row = get_user(app, user_id)
    assert row["email"] == "updatedEmail@contoso.test"
    assert row["email_key"] == "updatedemail@contoso.test"
    assert row["user_name"] == "cy.diaz"  # the email is not the userName here
    assert (row["given_name"], row["family_name"]) == ("Cyrus", "Diaz-Moreno")
    assert row["display_name"] == "Cyrus Diaz-Moreno"
    assert row["external_id"] == "e1f0c5d2-entra"
    assert row["status"] == "active"

    # The new address is what email filters find now.
    by_email = entra.get("/Users", filter='emails.value eq "UPDATEDEMAIL@contoso.test"')
    assert found_ids(by_email) == [str(user_id)]


def test_add_and_remove_single_attributes(app: Flask, entra: Entra) -> None:
    user_id = create(entra, "di.egan", "di.egan@contoso.test")
    added = entra.patch(
        f"/Users/{user_id}", {"op": "Add", "path": "name.givenName", "value": "Dee"}
    )
    assert added.status_code == 200, added.text
    assert get_user(app, user_id)["given_name"] == "Dee"

    removed = entra.patch(f"/Users/{user_id}", {"op": "Remove", "path": "displayName"})
    assert removed.status_code == 200, removed.text
    assert "displayName" not in removed.get_json()
    row = get_user(app, user_id)
    assert row["display_name"] == ""
    assert row["given_name"] == "Dee"


def test_no_path_replace_with_dotted_keys(app: Flask, entra: Entra) -> None:
    user_id = create(entra, "ed.fox", "ed.fox@contoso.test")
    response = entra.patch(
        f"/Users/{user_id}",
        {
            "op": "Replace",
            "value": {
                "name.givenName": "Edward",
                "name.familyName": "Foxley",
                "displayName": "Edward Foxley",
            },
        },
    )
    assert response.status_code == 200, response.text
    assert response.get_json()["name"]["givenName"] == "Edward"
    row = get_user(app, user_id)
    assert (row["given_name"], row["family_name"]) == ("Edward", "Foxley")
    assert row["display_name"] == "Edward Foxley"


def test_add_on_the_work_email_value_path_changes_the_address(
    app: Flask, entra: Entra
) -> None:
    # Entra sends an email change as "Add", not "Replace".
    user_id = create(entra, "gil.hahn", "gil.hahn@contoso.test")
    response = entra.patch(
        f"/Users/{user_id}",
        {
            "op": "Add",
            "path": 'emails[type eq "work"].value',
            "value": "gil.hahn@fabrikam.test",
        },
    )
    assert response.status_code == 200, response.text
    assert [email["value"] for email in response.get_json()["emails"]] == [
        "gil.hahn@fabrikam.test"
    ]
    assert get_user(app, user_id)["email"] == "gil.hahn@fabrikam.test"


def test_no_path_replace_with_a_value_path_key_changes_the_email(
    app: Flask, entra: Entra
) -> None:
    # Entra's flattened PATCH: every key of the value is a path, value paths too.
    user_id = create(entra, "hu.ito", "hu.ito@contoso.test")
    response = entra.patch(
        f"/Users/{user_id}",
        {
            "op": "Replace",
            "value": {
                "displayName": "Hu Ito-Sato",
                'emails[type eq "work"].value': "hu.sato@contoso.test",
                "name.givenName": "Hu",
                "name.familyName": "Ito-Sato",
                "externalId": "f6b1c9de-entra",
                f"{ENTERPRISE_SCHEMA}:employeeNumber": "4410",
            },
        },
    )
    assert response.status_code == 200, response.text
    row = get_user(app, user_id)
    assert (row["given_name"], row["family_name"]) == ("Hu", "Ito-Sato")
    assert row["display_name"] == "Hu Ito-Sato"
    assert row["external_id"] == "f6b1c9de-entra"
    assert row["email"] == "hu.sato@contoso.test"
    assert [email["value"] for email in response.get_json()["emails"]] == [
        "hu.sato@contoso.test"
    ]


def test_no_path_replace_with_schema_qualified_core_keys(
    app: Flask, entra: Entra
) -> None:
    # RFC 7644 §3.10: an attribute may be named with its schema URN in front.
    user_id = create(entra, "ida.jung", "ida.jung@contoso.test")
    response = entra.patch(
        f"/Users/{user_id}",
        {
            "op": "Replace",
            "value": {
                f"{USER_SCHEMA}:displayName": "Ida J.",
                f"{USER_SCHEMA}:name.givenName": "Idaline",
            },
        },
    )
    assert response.status_code == 200, response.text
    row = get_user(app, user_id)
    assert row["display_name"] == "Ida J."
    assert row["given_name"] == "Idaline"


def test_email_value_path_filter_finds_users(app: Flask, entra: Entra) -> None:
    target = create(entra, "fay.gill", "fay.gill@contoso.test")
    create(entra, "gus.hart", "gus.hart@contoso.test")

    def lookup(filter_text: str) -> list[str]:
        return found_ids(entra.get("/Users", filter=filter_text))

    assert lookup('emails[type eq "work"].value eq "fay.gill@contoso.test"') == [
        str(target)
    ]
    assert lookup('emails[type eq "work"].value eq "FAY.GILL@CONTOSO.TEST"') == [
        str(target)
    ]
    assert lookup('emails[type eq "work" and value eq "fay.gill@contoso.test"]') == [
        str(target)
    ]
    assert lookup('emails[type eq "work"].value eq "nobody@contoso.test"') == []
    assert lookup('emails[type eq "home"].value eq "fay.gill@contoso.test"') == []


def test_value_path_filter_does_not_cross_organizations(
    app: Flask, entra: Entra
) -> None:
    other = make_org(app, "Globex")
    make_user(app, other.id, "hal.ives@contoso.test")
    response = entra.get(
        "/Users", filter='emails[type eq "work"].value eq "hal.ives@contoso.test"'
    )
    assert found_ids(response) == []


# -- groups ------------------------------------------------------------------------


def test_group_members_added_and_removed_with_value_lists(
    app: Flask, entra: Entra, org: OrgInfo
) -> None:
    ivy = create(entra, "ivy.jones", "ivy.jones@contoso.test")
    jay = create(entra, "jay.kim", "jay.kim@contoso.test")
    response = entra.post(
        "/Groups",
        {
            "schemas": [GROUP_SCHEMA],
            "externalId": str(uuid.uuid4()),
            "displayName": "Group1DisplayName",
            "meta": {"resourceType": "Group"},
        },
    )
    assert response.status_code == 201, response.text
    group_id = int(response.get_json()["id"])
    assert member_ids(app, group_id) == set()

    # Entra's look-up leaves members out.
    listed = entra.get(
        "/Groups",
        excludedAttributes="members",
        filter='displayName eq "Group1DisplayName"',
    )
    assert found_ids(listed) == [str(group_id)]
    assert "members" not in listed.get_json()["Resources"][0]

    added = entra.patch(
        f"/Groups/{group_id}",
        {"op": "Add", "path": "members", "value": [{"value": str(ivy)}]},
        {"op": "Add", "path": "members", "value": [{"value": str(jay)}]},
    )
    assert added.status_code in (200, 204), added.text
    assert member_ids(app, group_id) == {ivy, jay}

    removed = entra.patch(
        f"/Groups/{group_id}",
        {"op": "Remove", "path": "members", "value": [{"value": str(ivy)}]},
    )
    assert removed.status_code in (200, 204), removed.text
    assert member_ids(app, group_id) == {jay}

    renamed = entra.patch(
        f"/Groups/{group_id}",
        {"op": "Replace", "path": "displayName", "value": "Group1NewName"},
    )
    assert renamed.status_code in (200, 204), renamed.text
    with app.app_context():
        group = db.session.get(Group, group_id)
        assert group is not None
        assert group.display_name == "Group1NewName"
    assert member_ids(app, group_id) == {jay}

    replaced = entra.patch(
        f"/Groups/{group_id}",
        {
            "op": "Replace",
            "path": "members",
            "value": [{"value": str(ivy)}, {"value": str(jay)}],
        },
    )
    assert replaced.status_code in (200, 204), replaced.text
    assert member_ids(app, group_id) == {ivy, jay}
    removed = entra.patch(
        f"/Groups/{group_id}",
        {"op": "Remove", "path": "members", "value": [{"value": str(ivy)}]},
    )
    assert removed.status_code in (200, 204), removed.text

    read = entra.get(f"/Groups/{group_id}")
    assert read.status_code == 200
    assert [member["value"] for member in read.get_json()["members"]] == [str(jay)]


@pytest.mark.parametrize("stranger", ["unknown", "other organization"])
def test_group_add_of_a_stranger_is_400_and_changes_nothing(
    app: Flask, entra: Entra, stranger: str
) -> None:
    kim = create(entra, "kim.lo", "kim.lo@contoso.test")
    if stranger == "unknown":
        stranger_id = "987654321"
    else:
        globex = make_org(app, "Globex")
        stranger_id = str(make_user(app, globex.id, "kim.lo@contoso.test"))
    response = entra.post(
        "/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Sales"}
    )
    group_id = int(response.get_json()["id"])
    refused = entra.patch(
        f"/Groups/{group_id}",
        {"op": "Add", "path": "members", "value": [{"value": str(kim)}]},
        {"op": "Add", "path": "members", "value": [{"value": stranger_id}]},
    )
    assert_error(refused, 400)
    assert member_ids(app, group_id) == set()
