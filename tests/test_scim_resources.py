"""SCIM /Users and /Groups details, discovery, the sync switch and the activity page."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from core.extensions import db
from core.models import AuditEvent
from core.models import Group
from core.models import Organization
from core.models import ScimRequest
from core.models import User
from core.provisioning import api_keys
from core.provisioning import organizations
from tests.support.builders import OrgInfo
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.rows import snapshot
from tests.support.scim import GROUP_SCHEMA as GROUP
from tests.support.scim import PATCH_SCHEMA as PATCH
from tests.support.scim import USER_SCHEMA as USER
from tests.support.scim import ScimClient


class Scim(ScimClient):
    """A SCIM client bound to one organization's key."""

    def create_user(self, user_name: str, **extra: Any) -> dict[str, Any]:
        response = self.call(
            "POST", "/Users", {"schemas": [USER], "userName": user_name, **extra}
        )
        assert response.status_code == 201, response.text
        return response.get_json()


@pytest.fixture
def scim(app: Flask, org: OrgInfo) -> Scim:
    with app.app_context():
        organization = db.session.get(Organization, org.id)
        organizations.set_scim_sync(organization, True, actor="cli")
        _key, secret = api_keys.create_api_key(
            organization, name="okta", scopes=["scim"], actor="cli"
        )
    return Scim(app.test_client(), secret)


def test_list_paging(scim: Scim) -> None:
    for n in range(5):
        scim.create_user(f"user{n}@acme.test")
    page = scim.call("GET", "/Users?startIndex=2&count=2").get_json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (6, 2, 2)
    assert [item["userName"] for item in page["Resources"]] == [
        "user0@acme.test",
        "user1@acme.test",
    ]
    only_total = scim.call("GET", "/Users?count=0").get_json()
    assert only_total["totalResults"] == 6 and only_total["Resources"] == []
    beyond = scim.call("GET", "/Users?startIndex=50").get_json()
    assert beyond["Resources"] == [] and beyond["totalResults"] == 6
    assert scim.call("GET", "/Users?count=abc").status_code == 400


def test_sort_by_username_descending(scim: Scim) -> None:
    scim.create_user("b@acme.test")
    scim.create_user("c@acme.test")
    page = scim.call("GET", "/Users?sortBy=userName&sortOrder=descending").get_json()
    assert [item["userName"] for item in page["Resources"]][:2] == [
        "owner@acme.test",
        "c@acme.test",
    ]
    assert scim.call("GET", "/Users?sortBy=password").status_code == 400


def test_attributes_and_excluded_attributes(scim: Scim) -> None:
    created = scim.create_user(
        "ann@acme.test", name={"givenName": "Ann", "familyName": "Lee"}
    )
    only = scim.call(
        "GET", f"/Users/{created['id']}?attributes=userName,name.givenName"
    ).get_json()
    assert set(only) == {"schemas", "id", "userName", "name"}
    assert only["name"] == {"givenName": "Ann"}
    without = scim.call(
        "GET", f"/Users/{created['id']}?excludedAttributes=emails,meta"
    ).get_json()
    assert (
        "emails" not in without
        and "meta" not in without
        and without["id"] == created["id"]
    )


def test_put_keeps_what_it_does_not_assert(app: Flask, scim: Scim) -> None:
    created = scim.create_user(
        "ann@acme.test",
        name={"givenName": "Ann", "familyName": "Lee"},
        externalId="00u1",
    )
    response = scim.call(
        "PUT",
        f"/Users/{created['id']}",
        {"schemas": [USER], "userName": "ann@acme.test", "name": {"givenName": "Anne"}},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["name"]["givenName"] == "Anne"
    assert body["externalId"] == "00u1"
    assert body["active"] is True


def test_changing_email_to_anothers_is_409_and_changes_nothing(
    app: Flask, scim: Scim
) -> None:
    ann = scim.create_user("ann@acme.test", name={"givenName": "Ann"})
    response = scim.call(
        "PATCH",
        f"/Users/{ann['id']}",
        {
            "schemas": [PATCH],
            "Operations": [
                {"op": "replace", "path": "name.givenName", "value": "Changed"},
                {
                    "op": "replace",
                    "path": "emails",
                    "value": [{"value": "owner@acme.test", "primary": True}],
                },
            ],
        },
    )
    assert response.status_code == 409
    assert response.get_json()["scimType"] == "uniqueness"
    with app.app_context():
        user = db.session.get(User, int(ann["id"]))
        assert (user.given_name, user.email) == ("Ann", "ann@acme.test")


def test_if_match_guards_updates(scim: Scim) -> None:
    created = scim.create_user("ann@acme.test")
    version = created["meta"]["version"]
    body = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "value": {"displayName": "A"}}],
    }
    stale = scim.call(
        "PATCH", f"/Users/{created['id']}", body, headers={"If-Match": 'W/"0"'}
    )
    assert stale.status_code == 412
    fresh = scim.call(
        "PATCH", f"/Users/{created['id']}", body, headers={"If-Match": version}
    )
    assert fresh.status_code == 200
    assert fresh.headers["ETag"] != version


def test_delete_user_then_404(app: Flask, scim: Scim) -> None:
    created = scim.create_user("ann@acme.test")
    assert scim.call("DELETE", f"/Users/{created['id']}").status_code == 204
    assert scim.call("GET", f"/Users/{created['id']}").status_code == 404
    with app.app_context():
        assert db.session.get(User, int(created["id"])) is None


def test_create_without_any_email_is_400(scim: Scim) -> None:
    response = scim.call("POST", "/Users", {"schemas": [USER], "userName": "jdoe"})
    assert response.status_code == 400
    assert "email" in response.get_json()["detail"]


def test_scim_users_get_the_sso_default_role(
    app: Flask, org: OrgInfo, scim: Scim
) -> None:
    with app.app_context():
        db.session.get(Organization, org.id).sso_config.default_role = "admin"
        db.session.commit()
    created = scim.create_user("boss@acme.test")
    with app.app_context():
        user = db.session.get(User, int(created["id"]))
        assert (user.role, user.source, user.scim_managed) == ("admin", "scim", True)


def test_group_adopts_a_local_group_and_lists_without_members(
    app: Flask, org: OrgInfo, scim: Scim
) -> None:
    with app.app_context():
        db.session.add(
            Group(organization_id=org.id, display_name="Eng", display_name_key="eng")
        )
        db.session.commit()
    ann = scim.create_user("ann@acme.test")
    response = scim.call(
        "POST",
        "/Groups",
        {"schemas": [GROUP], "displayName": "ENG", "members": [{"value": ann["id"]}]},
    )
    assert response.status_code == 201
    assert response.get_json()["members"][0]["value"] == ann["id"]
    again = scim.call("POST", "/Groups", {"schemas": [GROUP], "displayName": "eng"})
    assert again.status_code == 409
    listing = scim.call("GET", "/Groups?excludedAttributes=members").get_json()
    assert listing["totalResults"] == 1 and "members" not in listing["Resources"][0]
    by_member = scim.call(
        "GET", f'/Groups?filter=members.value eq "{ann["id"]}"'
    ).get_json()
    assert by_member["totalResults"] == 1


def test_discovery_says_what_the_server_does(scim: Scim) -> None:
    config = scim.call("GET", "/ServiceProviderConfig").get_json()
    assert config["patch"]["supported"] is True
    assert config["bulk"]["supported"] is False
    assert config["filter"] == {"supported": True, "maxResults": 1000}
    assert config["etag"]["supported"] is True
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    types = scim.call("GET", "/ResourceTypes").get_json()
    assert {item["id"] for item in types["Resources"]} == {"User", "Group"}
    assert scim.call("GET", "/ResourceTypes/User").get_json()["endpoint"] == "/Users"
    schemas = scim.call("GET", "/Schemas").get_json()
    # The resources' schemas, then those of the discovery documents (RFC 7643 §8.7.2).
    assert [item["id"] for item in schemas["Resources"]] == [
        USER,
        GROUP,
        "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig",
        "urn:ietf:params:scim:schemas:core:2.0:ResourceType",
        "urn:ietf:params:scim:schemas:core:2.0:Schema",
    ]
    assert scim.call("GET", f"/Schemas/{USER}").status_code == 200
    assert scim.call("GET", "/Schemas/urn:nope").status_code == 404


def test_every_request_is_in_the_activity_log_without_secrets(
    app: Flask, org: OrgInfo, scim: Scim
) -> None:
    scim.create_user("ann@acme.test", password="1mz050nq", name={"givenName": "Ann"})
    scim.call("POST", "/Users", {"schemas": [USER], "userName": "ann@acme.test"})
    scim.call("GET", '/Users?filter=userName eq "ann@acme.test"')
    with app.app_context():
        rows = (
            db.session.execute(db.select(ScimRequest).order_by(ScimRequest.id))
            .scalars()
            .all()
        )
        assert [(row.method, row.status) for row in rows] == [
            ("POST", 201),
            ("POST", 409),
            ("GET", 200),
        ]
        assert rows[0].changes["name.givenName"] == [None, "Ann"]
        assert rows[1].scim_type == "uniqueness"
        assert "1mz050nq" not in json.dumps([row.changes for row in rows])
        kinds = db.session.execute(db.select(AuditEvent.kind)).scalars().all()
        assert "scim.user.created" in kinds
    owner = app.test_client()
    sign_in(owner, org.owner_email)
    page = owner.get("/settings/provisioning").text
    assert "uniqueness" in page and "First name set to Ann" in page
    assert "1mz050nq" not in page
    errors = owner.get("/settings/provisioning?errors=1").text
    assert "409" in errors and "201</span>" not in errors


def test_activity_page_is_for_admins(app: Flask, org: OrgInfo) -> None:
    make_user(app, org.id, "mia@acme.test")
    member = app.test_client()
    sign_in(member, "mia@acme.test")
    assert member.get("/settings/provisioning").status_code == 403
    assert member.post("/settings/scim", data={"enabled": "y"}).status_code == 403


def test_settings_switch_turns_scim_on_and_off(
    app: Flask, org: OrgInfo, scim: Scim
) -> None:
    owner = app.test_client()
    sign_in(owner, org.owner_email)
    assert scim.call("GET", "/Users").status_code == 200
    owner.post("/settings/scim", data={})
    refused = scim.call("GET", "/Users")
    assert refused.status_code == 403
    assert "switched off" in refused.get_json()["detail"]
    owner.post("/settings/scim", data={"enabled": "y"})
    assert scim.call("GET", "/Users").status_code == 200


def test_free_plan_cannot_switch_scim_on(app: Flask, org: OrgInfo) -> None:
    with app.app_context():
        acme = db.session.get(Organization, org.id)
        assert acme is not None
        acme.plan = "free"
        db.session.commit()
    owner = app.test_client()
    sign_in(owner, org.owner_email)
    was = snapshot(app)

    refused = owner.post("/settings/scim", data={"enabled": "y"}, follow_redirects=True)

    assert refused.status_code == 200
    assert "SCIM provisioning needs the Pro or Enterprise plan." in refused.text
    assert snapshot(app) == was
    # The same form switches it on once the plan allows it.
    runner = app.test_cli_runner()
    assert runner.invoke(args=["org", "set-plan", "Acme", "pro"]).exit_code == 0
    response = owner.post(
        "/settings/scim", data={"enabled": "y"}, follow_redirects=True
    )
    assert "Sync of users and groups from Okta is on." in response.text
    with app.app_context():
        acme = db.session.get(Organization, org.id)
        assert acme is not None and acme.sso_config is not None
        assert acme.sso_config.scim_enabled


def test_scim_sync_command(app: Flask, org: OrgInfo) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["scim", "sync", "--org", "ACME", "--on"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.get(Organization, org.id).sso_config.scim_enabled
    result = runner.invoke(args=["scim", "sync", "--org", "acme", "--off"])
    assert result.exit_code == 0
    with app.app_context():
        assert not db.session.get(Organization, org.id).sso_config.scim_enabled
    assert runner.invoke(args=["scim", "sync", "--org", "Nope", "--on"]).exit_code != 0
    assert runner.invoke(args=["scim", "sync", "--org", "Acme"]).exit_code != 0


def test_scim_sync_command_refuses_free_plan(app: Flask) -> None:
    runner = app.test_cli_runner()
    runner.invoke(
        args=[
            "org",
            "create",
            "Tiny",
            "--owner-email",
            "t@tiny.test",
            "--owner-password",
            "x" * 12,
        ]
    )
    result = runner.invoke(args=["scim", "sync", "--org", "Tiny", "--on"])
    assert result.exit_code != 0 and "Free plan" in result.output
    with app.app_context():
        org = organizations.find_organization("Tiny")
        assert org is not None and (
            org.sso_config is None or not org.sso_config.scim_enabled
        )
