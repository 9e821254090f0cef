"""SCIM under concurrent requests, through a real multi-threaded server.

Okta sends several requests at once. The test client runs one request at a time,
so these tests serve the app with Werkzeug's threaded server on 127.0.0.1 (the
app's SQLite database is a file, as in production) and fire N requests released
together by a barrier. Two creates of one userName must end in one 201 and 409s
(a unique index, not check-then-insert), never a 500 or "database is locked".
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from core.extensions import db
from core.models import Group
from core.models import GroupMember
from core.models import User
from core.models import fold
from tests.support.concurrency import Live
from tests.support.concurrency import Reply
from tests.support.concurrency import all_at_once
from tests.support.concurrency import assert_no_server_errors
from tests.support.concurrency import send
from tests.support.scim import GROUP_SCHEMA
from tests.support.scim import PATCH_SCHEMA
from tests.support.scim import USER_SCHEMA

N = 16


def user_body(user_name: str, email: str | None = None) -> dict:
    """A User as Okta creates it (with its placeholder password)."""
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Race", "familyName": "Condition"},
        "emails": [{"value": email or user_name, "type": "work", "primary": True}],
        "active": True,
        "password": "placeholder-Okta-password-1",
    }


def assert_one_created_rest_conflict(replies: list[Reply]) -> str:
    """Exactly one 201, every other a 409 uniqueness; return the created id."""
    assert_no_server_errors(replies)
    statuses = sorted(reply.status for reply in replies)
    assert statuses == [201] + [409] * (len(replies) - 1), statuses
    for reply in replies:
        if reply.status == 409:
            assert reply.body.get("scimType") == "uniqueness", reply
    (created,) = [reply for reply in replies if reply.status == 201]
    return str(created.body["id"])


def users_named(app: Flask, org_id: int, user_name: str) -> list[int]:
    """Ids of the organization's users with that userName (any case)."""
    with app.app_context():
        return list(
            db.session.execute(
                db.select(User.id).filter_by(
                    organization_id=org_id, user_name_key=fold(user_name)
                )
            ).scalars()
        )


def test_simultaneous_creates_of_one_username_make_exactly_one_user(
    live: Live,
) -> None:
    for round_number in range(3):
        name = f"race{round_number}@example.com"
        replies = all_at_once(
            [lambda name=name: send(live, "POST", "/Users", user_body(name))] * N
        )
        created_id = assert_one_created_rest_conflict(replies)
        assert users_named(live.app, live.org_id, name) == [int(created_id)]
        reread = send(live, "GET", f"/Users/{created_id}")
        assert reread.status == 200 and reread.body["userName"] == name


def test_simultaneous_creates_differing_only_in_case_make_one_user(
    live: Live,
) -> None:
    names = [
        "".join(
            ch.upper() if (bit >> index) & 1 else ch
            for index, ch in enumerate("casey@example.com")
        )
        for bit in range(N)
    ]
    assert len(set(names)) == N
    replies = all_at_once(
        [
            (lambda name=name: send(live, "POST", "/Users", user_body(name)))
            for name in names
        ]
    )
    created_id = assert_one_created_rest_conflict(replies)
    assert users_named(live.app, live.org_id, "casey@example.com") == [int(created_id)]


def test_simultaneous_creates_of_distinct_users_all_succeed(live: Live) -> None:
    names = [f"person{n}@example.com" for n in range(N)]
    replies = all_at_once(
        [
            (lambda name=name: send(live, "POST", "/Users", user_body(name)))
            for name in names
        ]
    )
    assert_no_server_errors(replies)
    assert [reply.status for reply in replies] == [201] * N
    assert sorted(reply.body["userName"] for reply in replies) == sorted(names)
    assert len({reply.body["id"] for reply in replies}) == N
    with live.app.app_context():
        stored = set(
            db.session.execute(
                db.select(User.user_name).filter_by(organization_id=live.org_id)
            ).scalars()
        )
    assert stored == set(names)


def test_simultaneous_creates_of_one_group_name_make_exactly_one_group(
    live: Live,
) -> None:
    body = {"schemas": [GROUP_SCHEMA], "displayName": "Racers", "members": []}
    replies = all_at_once([lambda: send(live, "POST", "/Groups", body)] * N)
    created_id = assert_one_created_rest_conflict(replies)
    with live.app.app_context():
        groups = list(
            db.session.execute(
                db.select(Group.id).filter_by(
                    organization_id=live.org_id, display_name_key="racers"
                )
            ).scalars()
        )
    assert groups == [int(created_id)]


def test_simultaneous_member_adds_to_one_group_all_land(live: Live) -> None:
    user_ids = []
    for n in range(N):
        reply = send(live, "POST", "/Users", user_body(f"member{n}@example.com"))
        assert reply.status == 201, reply
        user_ids.append(reply.body["id"])
    group = send(
        live,
        "POST",
        "/Groups",
        {"schemas": [GROUP_SCHEMA], "displayName": "Everyone", "members": []},
    )
    assert group.status == 201, group
    group_id = group.body["id"]

    def add(user_id: str) -> Callable[[], Reply]:
        operation = {"op": "add", "path": "members", "value": [{"value": user_id}]}
        body = {"schemas": [PATCH_SCHEMA], "Operations": [operation]}
        return lambda: send(live, "PATCH", f"/Groups/{group_id}", body)

    replies = all_at_once([add(user_id) for user_id in user_ids])
    assert_no_server_errors(replies)
    assert all(reply.status in (200, 204) for reply in replies), [
        reply.status for reply in replies
    ]
    listed = send(live, "GET", f"/Groups/{group_id}")
    assert {member["value"] for member in listed.body["members"]} == set(user_ids)
    with live.app.app_context():
        stored = set(
            db.session.execute(
                db.select(GroupMember.user_id).filter_by(group_id=int(group_id))
            ).scalars()
        )
    assert stored == {int(user_id) for user_id in user_ids}
