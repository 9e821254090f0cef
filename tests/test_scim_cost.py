"""SCIM requests cost what their size says, not its square (issue #10, cases 2-5).

Cost is counted, never timed: SQL statements run, filter matches evaluated,
group members serialised. `bench/worst_case.py` prints the timings.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from blueprints.scim import patch as patch_module
from blueprints.scim.schema import MAX_VALUES
from core.extensions import db
from core.models import Group
from core.models import GroupMember
from core.models import User
from core.models import fold
from core.models import utcnow
from tests.support.builders import OrgInfo
from tests.support.builders import scim_key
from tests.support.rows import snapshot
from tests.support.scim import ScimClient
from tests.support.scim import patch_body
from tests.support.sql import statements


@pytest.fixture
def secret(app: Flask, org: OrgInfo) -> str:
    return scim_key(app, org.id)


def call(
    client: FlaskClient, secret: str, method: str, path: str, body: Any = None
) -> Any:
    return ScimClient(client, secret).call(method, path, body)


def add_users(app: Flask, org_id: int, count: int, prefix: str = "u") -> list[int]:
    """Insert `count` SCIM users straight into the database; return their ids."""
    now = utcnow()
    rows = []
    for n in range(count):
        email = f"{prefix}{n}@acme.test"
        rows.append(
            {
                "organization_id": org_id,
                "email": email,
                "email_key": fold(email),
                "user_name": email,
                "user_name_key": fold(email),
                "display_name": f"User {n}",
                "role": "member",
                "status": "active",
                "source": "scim",
                "created_at": now,
                "updated_at": now,
            }
        )
    with app.app_context():
        db.session.execute(db.insert(User), rows)
        db.session.commit()
        return list(
            db.session.execute(
                db.select(User.id)
                .where(User.organization_id == org_id, User.email.like(f"{prefix}%"))
                .order_by(User.id)
            ).scalars()
        )


def add_group(app: Flask, org_id: int, name: str, member_ids: list[int]) -> int:
    now = utcnow()
    with app.app_context():
        group = Group(
            organization_id=org_id,
            display_name=name,
            display_name_key=fold(name),
            scim_managed=True,
        )
        db.session.add(group)
        db.session.flush()
        if member_ids:
            db.session.execute(
                db.insert(GroupMember),
                [
                    {"group_id": group.id, "user_id": uid, "created_at": now}
                    for uid in member_ids
                ],
            )
        db.session.commit()
        return group.id


def members_in_db(app: Flask, group_id: int) -> set[int]:
    with app.app_context():
        return set(
            db.session.execute(
                db.select(GroupMember.user_id).filter_by(group_id=group_id)
            ).scalars()
        )


def a_user(app: Flask, org_id: int) -> int:
    return add_users(app, org_id, 1, prefix="target")[0]


# -- case 2: user PATCH is linear -------------------------------------------------


def test_path_less_keys_count_toward_the_operations_cap(
    app: Flask, org: OrgInfo, client: FlaskClient, secret: str
) -> None:
    user_id = a_user(app, org.id)
    keys = {f'emails[value eq "k{n}@acme.test"].type': "work" for n in range(1001)}
    before = snapshot(app, scim_writes=True)

    response = call(
        client,
        secret,
        "PATCH",
        f"/Users/{user_id}",
        patch_body({"op": "add", "value": keys}),
    )

    assert response.status_code == 413
    assert response.json["scimType"] == "tooMany"
    assert "without a path counts" in response.json["detail"]
    assert snapshot(app, scim_writes=True) == before


def test_many_value_path_keys_cost_linear_filter_matches(
    app: Flask,
    org: OrgInfo,
    client: FlaskClient,
    secret: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """900 keys each adding an email: the attribute stops at MAX_VALUES items, so
    filters are matched at most keys × MAX_VALUES times (before: keys²/2)."""
    user_id = a_user(app, org.id)
    calls = 0
    real = patch_module.matches

    def counting(node: tuple, item: dict) -> bool:
        nonlocal calls
        calls += 1
        return real(node, item)

    monkeypatch.setattr(patch_module, "matches", counting)
    keys = {f'emails[value eq "k{n}@acme.test"].type': "work" for n in range(900)}
    before = snapshot(app, scim_writes=True)

    response = call(
        client,
        secret,
        "PATCH",
        f"/Users/{user_id}",
        patch_body({"op": "add", "value": keys}),
    )

    assert response.status_code == 400
    assert f"at most {MAX_VALUES}" in response.json["detail"]
    assert calls <= 900 * (MAX_VALUES + 1)
    assert snapshot(app, scim_writes=True) == before


def test_put_with_too_many_emails_is_refused_like_patch(
    app: Flask, org: OrgInfo, client: FlaskClient, secret: str
) -> None:
    user_id = a_user(app, org.id)
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "target0@acme.test",
        "emails": [{"value": f"e{n}@acme.test"} for n in range(MAX_VALUES + 1)],
    }
    before = snapshot(app, scim_writes=True)

    response = call(client, secret, "PUT", f"/Users/{user_id}", body)

    assert response.status_code == 400
    assert f"at most {MAX_VALUES}" in response.json["detail"]
    assert snapshot(app, scim_writes=True) == before


def test_emails_up_to_the_bound_are_fine(
    app: Flask, org: OrgInfo, client: FlaskClient, secret: str
) -> None:
    user_id = a_user(app, org.id)
    keys = {
        f'emails[value eq "k{n}@acme.test"].type': "home" for n in range(MAX_VALUES - 1)
    }
    response = call(
        client,
        secret,
        "PATCH",
        f"/Users/{user_id}",
        patch_body({"op": "add", "value": keys}),
    )
    assert response.status_code == 200, response.json


@pytest.mark.parametrize(
    "operations",
    [
        # An item padded with made-up keys, then filters that walk them.
        [
            {
                "op": "add",
                "path": "emails",
                "value": [
                    {"value": "a@acme.test", **{f"k{n}": n for n in range(5000)}}
                ],
            }
        ],
        # One operation spreading made-up keys into every selected item.
        [
            {
                "op": "add",
                "path": "emails[value pr]",
                "value": {f"k{n}": 1 for n in range(50)},
            }
        ],
        [{"op": "replace", "path": "emails[value pr].nickname", "value": "x"}],
        [{"op": "add", "value": {'emails[type eq "work"].junk': "x"}}],
        [
            {
                "op": "add",
                "path": "emails",
                "value": [{"value": "b@acme.test", "type": {}}],
            }
        ],
        [
            {
                "op": "add",
                "path": "emails",
                "value": [{"value": "c@acme.test" + "x" * 400}],
            }
        ],
    ],
    ids=[
        "padded item",
        "spread keys",
        "unknown sub",
        "unknown sub key",
        "object",
        "long",
    ],
)
def test_email_items_hold_only_their_sub_attributes(
    app: Flask, org: OrgInfo, client: FlaskClient, secret: str, operations: list
) -> None:
    user_id = a_user(app, org.id)
    before = snapshot(app, scim_writes=True)

    response = call(
        client, secret, "PATCH", f"/Users/{user_id}", patch_body(*operations)
    )

    assert response.status_code == 400, response.json
    assert snapshot(app, scim_writes=True) == before


def test_a_path_filter_makes_at_most_ten_comparisons(
    app: Flask, org: OrgInfo, client: FlaskClient, secret: str
) -> None:
    user_id = a_user(app, org.id)
    clauses = " or ".join(f'value eq "x{n}"' for n in range(11))
    operation = {"op": "replace", "path": f"emails[{clauses}].type", "value": "work"}

    response = call(client, secret, "PATCH", f"/Users/{user_id}", patch_body(operation))

    assert response.status_code == 400
    assert response.json["scimType"] == "invalidPath"
    ten = " or ".join(f'value eq "x{n}"' for n in range(10))
    fine = {"op": "add", "path": f"emails[{ten}].type", "value": "work"}
    assert (
        call(client, secret, "PATCH", f"/Users/{user_id}", patch_body(fine)).status_code
        == 200
    )


# -- case 3: group PATCH reads the member set once -------------------------------


def test_a_thousand_membership_operations_cost_a_few_statements(
    app: Flask, org: OrgInfo, client: FlaskClient, secret: str
) -> None:
    users = add_users(app, org.id, 3000)
    group_id = add_group(app, org.id, "Big", users[:2000])
    adds = [
        {"op": "add", "path": "members", "value": [{"value": str(uid)}]}
        for uid in users[2000:2500]
    ]
    removes = [
        {"op": "remove", "path": f'members[value eq "{uid}"]'} for uid in users[:500]
    ]

    with statements(app) as seen:
        response = call(
            client, secret, "PATCH", f"/Groups/{group_id}", patch_body(*adds, *removes)
        )

    assert response.status_code == 204, response.get_data(as_text=True)
    assert members_in_db(app, group_id) == set(users[500:2500])
    member_reads = [
        sql
        for sql in seen
        if sql.lstrip().upper().startswith("SELECT") and "group_member" in sql
    ]
    # One read of the member set, whatever the number of operations (before: one
    # per operation, 1,000 reads of up to 2,000 rows each).
    assert len(member_reads) == 1
    assert len(seen) < 40


def test_membership_steps_apply_in_order(
    app: Flask, org: OrgInfo, client: FlaskClient, secret: str
) -> None:
    users = add_users(app, org.id, 6)
    group_id = add_group(app, org.id, "Ordered", users[:3])
    operations = [
        {"op": "remove", "path": "members"},
        {"op": "add", "path": "members", "value": [{"value": str(users[4])}]},
        {"op": "add", "value": {"members": [{"value": str(users[5])}]}},
        {"op": "remove", "path": f'members[value eq "{users[4]}"]'},
        {"op": "add", "path": "members", "value": [{"value": str(users[0])}]},
    ]

    response = call(
        client, secret, "PATCH", f"/Groups/{group_id}", patch_body(*operations)
    )

    assert response.status_code == 204
    assert members_in_db(app, group_id) == {users[0], users[5]}


def test_one_unknown_member_refuses_the_whole_patch(
    app: Flask, org: OrgInfo, client: FlaskClient, secret: str
) -> None:
    users = add_users(app, org.id, 3)
    group_id = add_group(app, org.id, "Strict", users[:1])
    before = snapshot(app, scim_writes=True)
    operations = [
        {"op": "add", "path": "members", "value": [{"value": str(users[1])}]},
        {"op": "add", "path": "members", "value": [{"value": "999999"}]},
    ]

    response = call(
        client, secret, "PATCH", f"/Groups/{group_id}", patch_body(*operations)
    )

    assert response.status_code == 400
    assert "999999" in response.json["detail"]
    assert snapshot(app, scim_writes=True) == before


# -- case 4: list responses have a size bound ------------------------------------


def test_a_groups_page_stops_at_the_member_budget(
    app: Flask, org: OrgInfo, client: FlaskClient, secret: str
) -> None:
    app.config["SCIM_MAX_LISTED_MEMBERS"] = 50
    users = add_users(app, org.id, 120)
    ids = [
        add_group(app, org.id, "A", users[:30]),
        add_group(app, org.id, "B", users[30:60]),
        add_group(app, org.id, "C", users[:120]),  # alone larger than the budget
        add_group(app, org.id, "D", []),
    ]

    first = call(client, secret, "GET", "/Groups?count=1000").json
    assert first["totalResults"] == 4
    assert first["itemsPerPage"] == 1
    assert [group["id"] for group in first["Resources"]] == [str(ids[0])]
    assert len(first["Resources"][0]["members"]) == 30

    # Paging on with itemsPerPage reaches every group, each with all its members.
    seen: dict[str, int] = {}
    start = 1
    while start <= 4:
        page = call(
            client, secret, "GET", f"/Groups?count=1000&startIndex={start}"
        ).json
        assert page["itemsPerPage"] >= 1
        for group in page["Resources"]:
            seen[group["id"]] = len(group["members"])
        start += page["itemsPerPage"]
    assert seen == {str(ids[0]): 30, str(ids[1]): 30, str(ids[2]): 120, str(ids[3]): 0}


def test_groups_without_members_are_not_bounded(
    app: Flask, org: OrgInfo, client: FlaskClient, secret: str
) -> None:
    app.config["SCIM_MAX_LISTED_MEMBERS"] = 10
    users = add_users(app, org.id, 40)
    for name in ("A", "B", "C"):
        add_group(app, org.id, name, users)

    page = call(client, secret, "GET", "/Groups?excludedAttributes=members").json

    assert page["itemsPerPage"] == 3
    assert all("members" not in group for group in page["Resources"])


def test_listing_groups_loads_member_columns_not_users(
    app: Flask, org: OrgInfo, client: FlaskClient, secret: str
) -> None:
    users = add_users(app, org.id, 20)
    add_group(app, org.id, "A", users)

    with statements(app) as seen:
        page = call(client, secret, "GET", "/Groups").json

    assert len(page["Resources"][0]["members"]) == 20
    member_selects = [
        sql
        for sql in seen
        if sql.lstrip().upper().startswith("SELECT") and "group_member" in sql
    ]
    # Members are listed from group_member alone: their ids are all a Group
    # resource shows, so no user row is loaded for them.
    assert member_selects
    assert all(
        "password_hash" not in sql and "JOIN" not in sql for sql in member_selects
    )


# -- case 5: one validation path per attribute ------------------------------------

BAD_STRINGS = ["x" * 401, "bad\x00name", "bell\x07", "line\u2028break", "nel\x85x"]


@pytest.mark.parametrize("bad", BAD_STRINGS)
@pytest.mark.parametrize(
    "operation",
    [
        lambda bad: {"op": "replace", "path": "displayName", "value": bad},
        lambda bad: {"op": "replace", "value": {"displayName": bad}},
        lambda bad: {"op": "replace", "path": "externalId", "value": bad},
        lambda bad: {"op": "add", "value": {"externalId": bad}},
    ],
    ids=["path", "path-less", "externalId path", "externalId path-less"],
)
def test_group_patch_runs_the_post_checks(
    app: Flask, org: OrgInfo, client: FlaskClient, secret: str, bad: str, operation: Any
) -> None:
    group_id = add_group(app, org.id, "Checked", [])
    before = snapshot(app, scim_writes=True)

    response = call(
        client, secret, "PATCH", f"/Groups/{group_id}", patch_body(operation(bad))
    )

    assert response.status_code == 400
    assert snapshot(app, scim_writes=True) == before


@pytest.mark.parametrize("bad", BAD_STRINGS)
@pytest.mark.parametrize(
    "operation",
    [
        lambda bad: {"op": "replace", "path": "name.givenName", "value": bad},
        lambda bad: {"op": "replace", "value": {"name.givenName": bad}},
        lambda bad: {"op": "replace", "value": {"name": {"familyName": bad}}},
        lambda bad: {"op": "replace", "path": "displayName", "value": bad},
        lambda bad: {"op": "replace", "value": {"externalId": bad}},
        lambda bad: {
            "op": "replace",
            "path": 'emails[type eq "work"].value',
            "value": bad + "@acme.test",
        },
        lambda bad: {
            "op": "replace",
            "value": {'emails[type eq "work"].value': bad + "@acme.test"},
        },
        lambda bad: {"op": "replace", "path": "userName", "value": bad},
    ],
    ids=[
        "name path",
        "name dotted key",
        "name object",
        "displayName",
        "externalId path-less",
        "email value path",
        "email value-path key",
        "userName",
    ],
)
def test_user_patch_runs_the_post_checks(
    app: Flask, org: OrgInfo, client: FlaskClient, secret: str, bad: str, operation: Any
) -> None:
    user_id = a_user(app, org.id)
    assert (
        call(
            client,
            secret,
            "PATCH",
            f"/Users/{user_id}",
            patch_body(
                {
                    "op": "add",
                    "path": "emails",
                    "value": [{"value": "target0@acme.test", "type": "work"}],
                }
            ),
        ).status_code
        == 200
    )
    before = snapshot(app, scim_writes=True)

    response = call(
        client, secret, "PATCH", f"/Users/{user_id}", patch_body(operation(bad))
    )

    assert response.status_code == 400, response.json
    assert snapshot(app, scim_writes=True) == before
