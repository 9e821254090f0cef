"""SCIM ETags come from a version number the database raises at every change
(RFC 7644 §3.14, RFC 7232), not from the clock.

`frozen_clock` stops `utcnow` (column defaults, provisioning): changes made
within one clock tick must still give different ETags, which a timestamp
cannot tell apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from core.extensions import db
from core.models import User
from core.models import utcnow
from tests.support.builders import OrgInfo
from tests.support.builders import scim_key
from tests.support.concurrency import Live
from tests.support.concurrency import Reply
from tests.support.concurrency import all_at_once
from tests.support.concurrency import assert_no_server_errors
from tests.support.concurrency import send
from tests.support.sql import statements

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Scim:
    """A SCIM client bound to one organization's key."""

    def __init__(self, client: FlaskClient, secret: str) -> None:
        self.client = client
        self.secret = secret

    def call(
        self, method: str, path: str, body: Any = None, **headers: str
    ) -> TestResponse:
        return self.client.open(
            "/api/v1/scim" + path,
            method=method,
            headers={"Authorization": f"Bearer {self.secret}", **headers},
            data=None if body is None else json.dumps(body),
            content_type="application/scim+json",
        )

    def etag(self, path: str) -> str:
        response = self.call("GET", path)
        assert response.status_code == 200, response.text
        assert response.get_json()["meta"]["version"] == response.headers["ETag"]
        return response.headers["ETag"]


@pytest.fixture
def scim(app: Flask, org: OrgInfo) -> Scim:
    return Scim(app.test_client(), scim_key(app, org.id))


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Every `utcnow()` answers the same instant from now on."""
    instant = utcnow()

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return instant

    monkeypatch.setitem(utcnow.__globals__, "datetime", Frozen)
    assert utcnow() == instant
    return instant


def new_user(scim: Scim, user_name: str = "ann@acme.test") -> str:
    response = scim.call("POST", "/Users", {"schemas": [USER], "userName": user_name})
    assert response.status_code == 201, response.text
    return response.get_json()["id"]


def new_group(scim: Scim, members: tuple[str, ...] = ()) -> str:
    body = {
        "schemas": [GROUP],
        "displayName": "Eng",
        "members": [{"value": member} for member in members],
    }
    response = scim.call("POST", "/Groups", body)
    assert response.status_code == 201, response.text
    return response.get_json()["id"]


def rename(scim: Scim, user_id: str, display_name: str, **headers: str) -> TestResponse:
    body = {"schemas": [USER], "userName": "ann@acme.test", "displayName": display_name}
    return scim.call("PUT", f"/Users/{user_id}", body, **headers)


def members_patch(op: str, user_id: str) -> dict[str, Any]:
    operation = {"op": op, "path": "members", "value": [{"value": user_id}]}
    return {"schemas": [PATCH], "Operations": [operation]}


def version(tag: str) -> int:
    """The version number in one of our ETags: W/"<version>-<creation µs, hex>"."""
    match = re.fullmatch(r'W/"(\d+)-[0-9a-f]+"', tag)
    assert match, tag
    return int(match.group(1))


def test_a_new_resource_is_version_1_in_its_etag_and_meta(scim: Scim) -> None:
    response = scim.call("POST", "/Users", {"schemas": [USER], "userName": "a@b.test"})
    assert version(response.headers["ETag"]) == 1
    assert response.get_json()["meta"]["version"] == response.headers["ETag"]
    group = scim.call("POST", "/Groups", {"schemas": [GROUP], "displayName": "Eng"})
    assert version(group.headers["ETag"]) == 1
    assert group.get_json()["meta"]["version"] == group.headers["ETag"]


def test_two_changes_in_one_clock_tick_give_two_etags(
    scim: Scim, frozen_clock: datetime
) -> None:
    user_id = new_user(scim)
    first = rename(scim, user_id, "Ann A")
    second = rename(scim, user_id, "Ann B")
    assert first.status_code == second.status_code == 200
    assert (
        first.get_json()["meta"]["lastModified"]
        == (second.get_json()["meta"]["lastModified"])
    )
    assert (version(first.headers["ETag"]), version(second.headers["ETag"])) == (2, 3)
    assert scim.etag(f"/Users/{user_id}") == second.headers["ETag"]


def test_an_unchanged_resource_keeps_its_etag(scim: Scim) -> None:
    user_id = new_user(scim)
    group_id = new_group(scim, members=(user_id,))
    user_tag = scim.etag(f"/Users/{user_id}")
    group_tag = scim.etag(f"/Groups/{group_id}")
    listed = scim.call("GET", "/Users").get_json()["Resources"]
    assert [user["meta"]["version"] for user in listed if user["id"] == user_id] == [
        user_tag
    ]
    # A PUT that changes nothing, and a PATCH adding a member already there.
    unchanged = scim.call(
        "PUT", f"/Users/{user_id}", {"schemas": [USER], "userName": "ann@acme.test"}
    )
    assert unchanged.headers["ETag"] == user_tag
    again = scim.call("PATCH", f"/Groups/{group_id}", members_patch("add", user_id))
    assert again.status_code == 204
    assert scim.etag(f"/Users/{user_id}") == user_tag
    assert scim.etag(f"/Groups/{group_id}") == group_tag


def test_if_match_with_the_version_before_a_change_is_412(
    scim: Scim, frozen_clock: datetime
) -> None:
    user_id = new_user(scim)
    before = scim.etag(f"/Users/{user_id}")
    assert rename(scim, user_id, "Ann A", **{"If-Match": before}).status_code == 200
    stale = rename(scim, user_id, "Ann B", **{"If-Match": before})
    assert stale.status_code == 412
    assert scim.call("GET", f"/Users/{user_id}").get_json()["displayName"] == "Ann A"
    current = scim.etag(f"/Users/{user_id}")
    assert rename(scim, user_id, "Ann B", **{"If-Match": current}).status_code == 200
    refused = scim.call("DELETE", f"/Users/{user_id}", **{"If-Match": current})
    assert refused.status_code == 412


def test_a_membership_change_gives_the_group_a_new_etag(
    scim: Scim, frozen_clock: datetime
) -> None:
    user_id = new_user(scim)
    group_id = new_group(scim)
    path = f"/Groups/{group_id}"
    tags = [scim.etag(path)]
    for op in ("add", "remove"):
        response = scim.call("PATCH", path, members_patch(op, user_id))
        assert response.status_code == 204, response.text
        tags.append(scim.etag(path))
    assert len(set(tags)) == 3, tags
    stale = scim.call(
        "PATCH", path, members_patch("add", user_id), **{"If-Match": tags[0]}
    )
    assert stale.status_code == 412


def test_a_group_created_with_members_answers_its_stored_version(scim: Scim) -> None:
    user_id = new_user(scim)
    body = {"schemas": [GROUP], "displayName": "Eng", "members": [{"value": user_id}]}
    for query in ("", "?excludedAttributes=members"):
        body["displayName"] = f"Eng{query}"
        created = scim.call("POST", f"/Groups{query}", body)
        assert created.status_code == 201, created.text
        group_id = created.get_json()["id"]
        assert created.headers["ETag"] == scim.etag(f"/Groups/{group_id}")


def test_deleting_a_member_gives_its_groups_a_new_etag(scim: Scim) -> None:
    user_id = new_user(scim)
    group_id = new_group(scim, members=(user_id,))
    before = scim.etag(f"/Groups/{group_id}")
    assert scim.call("DELETE", f"/Users/{user_id}").status_code == 204
    response = scim.call("GET", f"/Groups/{group_id}")
    assert response.get_json()["members"] == []
    assert response.headers["ETag"] != before


def test_changes_made_outside_scim_give_a_new_version(
    app: Flask, org: OrgInfo, scim: Scim, frozen_clock: datetime
) -> None:
    """Pages, the CLI and sign-ins change rows through the ORM or plain UPDATEs:
    either way the row gets a new version."""
    user_id = int(new_user(scim))
    tags = [scim.etag(f"/Users/{user_id}")]
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        user.display_name = "Changed on a page"
        db.session.commit()
    tags.append(scim.etag(f"/Users/{user_id}"))
    with app.app_context():
        db.session.execute(
            db.update(User).where(User.id == user_id).values(status="inactive")
        )
        db.session.commit()
    tags.append(scim.etag(f"/Users/{user_id}"))
    assert [version(tag) for tag in tags] == [1, 2, 3]


def test_the_database_computes_the_version_in_the_update(
    app: Flask, scim: Scim
) -> None:
    """`version = version + 1` in the UPDATE itself, read back by RETURNING: no
    writer computes it from what it read, and no second query fetches it."""
    user_id = new_user(scim)
    with statements(app) as seen:
        assert rename(scim, user_id, "Ann A").status_code == 200
    (update,) = [sql for sql in seen if re.match(r'UPDATE "?user"? ', sql)]
    assert re.search(r"version=\(version \+ ", update), update
    assert re.search(r"RETURNING (\"user\"\.)?version", update), update
    after = seen[seen.index(update) + 1 :]
    assert not [sql for sql in after if re.search(r'FROM "?user"?\b', sql)]


def test_concurrent_writers_never_share_a_version(app: Flask, live: Live) -> None:
    """Writers that read the same version each store their change under a
    version of its own, and the one left stored is the last writer's."""
    created = send(live, "POST", "/Users", {"schemas": [USER], "userName": "r@x.test"})
    assert created.status == 201, created
    user_id = created.body["id"]

    def put(n: int) -> Callable[[], Reply]:
        body = {"schemas": [USER], "userName": "r@x.test", "displayName": f"v{n}"}
        return lambda: send(live, "PUT", f"/Users/{user_id}", body)

    replies = all_at_once([put(n) for n in range(8)])
    assert_no_server_errors(replies)
    written = {
        reply.body["meta"]["version"]: reply.body["displayName"]
        for reply in replies
        if reply.status == 200
    }
    assert len(written) == sum(reply.status == 200 for reply in replies) > 0
    final = send(live, "GET", f"/Users/{user_id}")
    assert written[final.body["meta"]["version"]] == final.body["displayName"]
    with app.app_context():
        stored = db.session.get(User, int(user_id))
        assert stored is not None and stored.version == 1 + len(written)


def test_a_deleted_users_etag_does_not_match_the_user_that_takes_its_id(
    scim: Scim,
) -> None:
    """SQLite gives a new row the id of the newest deleted one, and every new row
    is version 1: a stale conditional request meant for the deleted person (a
    retried DELETE, a PUT from an old read) must not land on somebody else."""
    ann = scim.call("POST", "/Users", {"schemas": [USER], "userName": "ann@acme.test"})
    assert ann.status_code == 201, ann.text
    assert scim.call("DELETE", f"/Users/{ann.get_json()['id']}").status_code == 204
    bob = scim.call("POST", "/Users", {"schemas": [USER], "userName": "bob@acme.test"})
    assert bob.status_code == 201, bob.text
    bob_id = bob.get_json()["id"]

    stale = scim.call("DELETE", f"/Users/{bob_id}", **{"If-Match": ann.headers["ETag"]})
    assert stale.status_code == 412, stale.text
    assert scim.call("GET", f"/Users/{bob_id}").status_code == 200


def test_a_deleted_groups_etag_does_not_match_the_group_that_takes_its_id(
    scim: Scim,
) -> None:
    """The same for groups: a conditional PUT meant for a deleted group must not
    rename (and re-member) the group that got its id."""
    eng = scim.call("POST", "/Groups", {"schemas": [GROUP], "displayName": "Eng"})
    assert eng.status_code == 201, eng.text
    assert scim.call("DELETE", f"/Groups/{eng.get_json()['id']}").status_code == 204
    ops = scim.call("POST", "/Groups", {"schemas": [GROUP], "displayName": "Ops"})
    assert ops.status_code == 201, ops.text
    ops_id = ops.get_json()["id"]

    body = {"schemas": [GROUP], "displayName": "Eng renamed", "members": []}
    stale = scim.call(
        "PUT", f"/Groups/{ops_id}", body, **{"If-Match": eng.headers["ETag"]}
    )
    assert stale.status_code == 412, stale.text
    assert scim.call("GET", f"/Groups/{ops_id}").get_json()["displayName"] == "Ops"
