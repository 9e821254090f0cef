"""Reading the log pages (audit log, provisioning activity) as a person would,
and making the SCIM history they show."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from lxml import html

from tests.support.builders import OrgInfo
from tests.support.builders import make_user
from tests.support.builders import scim_key
from tests.support.constants import PASSWORD
from tests.support.scim import GROUP_SCHEMA
from tests.support.scim import USER_SCHEMA
from tests.support.scim import ScimClient
from tests.support.scim import patch_body


def _spaced(tree: Any) -> Any:
    """Line breaks and lines (<br>, <div>) read as spaces; <wbr> as nothing."""
    for node in tree.iter("br", "div"):
        node.tail = " " + (node.tail or "")
        if node.tag == "div":
            node.text = " " + (node.text or "")
    return tree


def table_rows(page: str, table_id: str) -> list[dict[str, str]]:
    """The rows of the table `table_id`: {column heading: the cell's text}."""
    tree = _spaced(html.fromstring(page))
    rows = []
    for tr in tree.xpath(
        f'//table[@id="{table_id}"]/tbody/tr[not(@class="log-empty")]'
    ):
        rows.append(
            {
                td.get("data-label"): " ".join(td.text_content().split())
                for td in tr.xpath("./td")
            }
        )
    return rows


def table_text(page: str, table_id: str) -> str:
    """All the text of a table's body, whitespace collapsed."""
    tree = _spaced(html.fromstring(page))
    [body] = tree.xpath(f'//table[@id="{table_id}"]/tbody')
    return " ".join(body.text_content().split())


def field_value(page: str, field_id: str) -> str:
    """The value an input of the page holds (or a select's selected option)."""
    tree = html.fromstring(page)
    [node] = tree.xpath(f'//*[@id="{field_id}"]')
    if node.tag == "select":
        chosen = node.xpath("./option[@selected]")
        return chosen[0].get("value") if chosen else ""
    return node.get("value") or ""


def user_body(email: str, given: str = "", family: str = "") -> dict[str, Any]:
    """A SCIM User as Okta creates it."""
    return {
        "schemas": [USER_SCHEMA],
        "userName": email,
        "name": {
            "givenName": given or email.split("@")[0].title(),
            "familyName": family,
        },
        "emails": [{"value": email, "primary": True}],
        "active": True,
    }


@dataclass
class ScimWorld:
    """An organization's SCIM key and what Okta made with it."""

    scim: ScimClient
    users: dict[str, str]  # email -> SCIM id
    group_id: str


def okta_made(
    app: Flask, org: OrgInfo, *, key_name: str = "Okta provisioning", tag: str = ""
) -> ScimWorld:
    """Okta creates dana and eli, a group Engineering with both, removes eli,
    then deactivates eli (each a SCIM request through the app). `tag` goes
    into the names, for a second set of people and a second group."""
    secret = scim_key(app, org.id, name=key_name)
    scim = ScimClient(app.test_client(), secret, "okta")
    users = {}
    for email in (f"dana{tag}@acme.test", f"eli{tag}@acme.test"):
        answer = scim.post("/Users", user_body(email))
        assert answer.status_code == 201, answer.text
        users[email] = answer.get_json(force=True)["id"]
    group = scim.post(
        "/Groups",
        {
            "schemas": [GROUP_SCHEMA],
            "displayName": f"Engineering{tag}",
            "members": [{"value": users[f"dana{tag}@acme.test"]}],
        },
    )
    assert group.status_code == 201, group.text
    group_id = group.get_json(force=True)["id"]
    eli = users[f"eli{tag}@acme.test"]
    add = {"op": "add", "path": "members", "value": [{"value": eli}]}
    assert scim.patch(f"/Groups/{group_id}", patch_body(add)).status_code in (200, 204)
    remove = {"op": "remove", "path": f'members[value eq "{eli}"]'}
    assert scim.patch(f"/Groups/{group_id}", patch_body(remove)).status_code in (
        200,
        204,
    )
    off = {"op": "replace", "value": {"active": False}}
    assert scim.patch(f"/Users/{eli}", patch_body(off)).status_code == 200
    return ScimWorld(scim, users, group_id)


def signed_in(app: Flask, email: str) -> FlaskClient:
    """A test client signed in as `email` (password: the builders' default)."""
    client = app.test_client()
    answer = client.post("/login", data={"email": email, "password": PASSWORD})
    assert answer.status_code == 302, answer.text
    return client


def member_of(app: Flask, org: OrgInfo, email: str, **options: Any) -> FlaskClient:
    """Make a member (options as for make_user) and sign them in."""
    make_user(app, org.id, email, **options)
    return signed_in(app, email)
