"""SCIM under hostile and random input: never a 5xx, never a partial write.

Hypothesis throws random JSON bodies, resource-shaped bodies with junk values,
PATCH operation lists and filter strings at /Users and /Groups. For every
response: no 5xx; errors carry the SCIM error schema with `status` equal to the
HTTP code and the SCIM media type; and a refused (4xx) request leaves every row
of every table as it was (the `scim_request` activity log excepted: it records
refused requests on purpose). Explicit cases cover the classic attacks: bad JSON,
NaN, deep nesting, oversized bodies, wrong media types, unknown routes and
methods, half-valid PATCHes, junk paging parameters, huge filters and PATCHes.

Every example starts from the same database (`Scim.restore`): what an accepted
request of one example wrote cannot decide what the next one meets, so a
failure found by Hypothesis replays and shrinks.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from core.extensions import db
from core.models import Organization
from core.provisioning import api_keys
from core.provisioning import organizations
from tests.support.live import serve
from tests.support.rows import every_row
from tests.support.rows import restore_rows
from tests.support.rows import snapshot as all_rows
from tests.support.scim import ENTERPRISE_SCHEMA
from tests.support.scim import ERROR_SCHEMA
from tests.support.scim import GROUP_SCHEMA
from tests.support.scim import LIST_SCHEMA
from tests.support.scim import PATCH_SCHEMA
from tests.support.scim import SCIM
from tests.support.scim import SCIM_JSON
from tests.support.scim import USER_SCHEMA


def fuzz(examples: int) -> Any:
    """Hypothesis settings for these tests (one app per test; each example
    starts with `Scim.restore`)."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,  # no .hypothesis/ directory in the repository
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


# -- the organization under attack ------------------------------------------------


@dataclass(frozen=True)
class Scim:
    """An organization with SCIM on: its key, two SCIM users and a group."""

    app: Flask
    client: FlaskClient
    secret: str
    user_ids: list[str]
    group_id: str
    other_group_id: str
    pristine: dict[str, list[dict[str, Any]]]

    def restore(self) -> None:
        """Put every row back as the fixture left them (`restore_rows`: a few
        milliseconds, the fixture's rows are few)."""
        restore_rows(self.app, self.pristine)


@pytest.fixture
def scim(app: Flask, client: FlaskClient) -> Scim:
    """Acme with SCIM on, users ann and bob, groups Engineers (ann) and Sales."""
    with app.app_context():
        # No owner: hashing an owner's password would cost more than a test.
        org = Organization(name="Acme", name_key="acme", plan="pro")
        db.session.add(org)
        db.session.commit()
        organizations.set_scim_sync(org, True, actor="cli")
        _key, secret = api_keys.create_api_key(
            org, name="okta", scopes=["scim"], actor="cli"
        )
    ids = []
    for name in ("ann", "bob"):
        response = client.post(
            SCIM + "/Users",
            headers=auth(secret),
            data=json.dumps(
                {
                    "schemas": [USER_SCHEMA],
                    "userName": f"{name}@example.com",
                    "name": {"givenName": name.title(), "familyName": "Smith"},
                    "emails": [{"value": f"{name}@example.com", "primary": True}],
                    "externalId": f"ext-{name}",
                    "active": True,
                }
            ),
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        ids.append(response.get_json(force=True)["id"])
    groups = []
    for name, members in (("Engineers", [ids[0]]), ("Sales", [])):
        response = client.post(
            SCIM + "/Groups",
            headers=auth(secret),
            data=json.dumps(
                {
                    "schemas": [GROUP_SCHEMA],
                    "displayName": name,
                    "members": [{"value": member} for member in members],
                }
            ),
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        groups.append(response.get_json(force=True)["id"])
    return Scim(app, client, secret, ids, groups[0], groups[1], every_row(app))


def auth(secret: str, content_type: str | None = SCIM_JSON) -> dict[str, str]:
    """Authorization (and Content-Type) headers."""
    headers = {"Authorization": f"Bearer {secret}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return headers


def send(
    scim: Scim,
    method: str,
    path: str,
    *,
    body: Any = None,
    raw: bytes | str | None = None,
    query: dict[str, str] | None = None,
    content_type: str | None = SCIM_JSON,
) -> TestResponse:
    """One SCIM request with the organization's key."""
    data = raw if raw is not None else None if body is None else json.dumps(body)
    return scim.client.open(
        SCIM + path,
        method=method,
        headers=auth(scim.secret, content_type),
        data=data,
        query_string=query,
    )


def assert_well_formed(response: TestResponse) -> None:
    """No 5xx; SCIM media type; errors in the SCIM error schema."""
    status = response.status_code
    text = response.get_data(as_text=True)
    assert status < 500, text
    if status == 204:
        assert text == ""
        return
    assert response.mimetype == SCIM_JSON, (status, response.mimetype, text[:300])
    body = json.loads(text)
    if status >= 400:
        assert body["schemas"] == [ERROR_SCHEMA], text
        assert body["status"] == str(status), text
        assert isinstance(body.get("detail"), str) and body["detail"], text


def exercise(scim: Scim, method: str, path: str, **kwargs: Any) -> TestResponse:
    """Send a request and check it: well formed, and a 4xx changed nothing."""
    before = all_rows(scim.app, scim_writes=True)
    response = send(scim, method, path, **kwargs)
    assert_well_formed(response)
    if response.status_code >= 400:
        assert all_rows(scim.app, scim_writes=True) == before, (
            method,
            path,
            response.status_code,
            response.get_data(as_text=True)[:300],
        )
    return response


def assert_error(response: TestResponse, status: int, scim_type: str | None) -> dict:
    """A SCIM error with that status (and scimType, when given)."""
    assert_well_formed(response)
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json(force=True)
    if scim_type is not None:
        assert body.get("scimType") == scim_type, body
    return body


def user_row(scim: Scim, user_id: str) -> dict[str, Any]:
    """The user as SCIM shows it."""
    response = send(scim, "GET", f"/Users/{user_id}")
    assert response.status_code == 200
    body = response.get_json(force=True)
    body.pop("meta")
    return body


def group_member_ids(scim: Scim, group_id: str) -> set[str]:
    """Ids of a group's members."""
    response = send(scim, "GET", f"/Groups/{group_id}")
    assert response.status_code == 200
    return {member["value"] for member in response.get_json(force=True)["members"]}


# -- strategies --------------------------------------------------------------------

# Strings that have broken SCIM servers: unicode digits (isdigit() but not int()),
# lone surrogates (valid JSON escapes, not encodable as UTF-8), control characters,
# SQL and LIKE metacharacters, case-folding surprises, very long values.
HOSTILE_STRINGS = [
    "",
    " ",
    "ann@example.com",
    "ANN@EXAMPLE.COM",
    " bob@example.com ",
    "carol@example.com",
    "not-an-email",
    "a@b",
    "\ud800",
    "x\udfffy@example.com",
    "²",
    "١٢",
    "007",
    "-1",
    "99999999999999999999999",
    "\x00",
    "tab\there",
    "\u202eevil",
    "ß",
    "İstanbul",
    "ﬃ@example.com",
    "😀@example.com",
    "'; DROP TABLE user; --",
    "%",
    "_",
    "\\",
    '"',
    "True",
    "False",
    "null",
    "x" * 321,
    "y" * 5000,
]
JSON_KEYS = [
    "schemas",
    "userName",
    "name",
    "givenName",
    "familyName",
    "displayName",
    "emails",
    "value",
    "primary",
    "type",
    "active",
    "externalId",
    "password",
    "members",
    "Operations",
    "op",
    "path",
    "id",
    "meta",
    ENTERPRISE_SCHEMA,
]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(HOSTILE_STRINGS)
)
json_keys = st.sampled_from(JSON_KEYS) | st.text(max_size=10)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(json_keys, children, max_size=5)
    ),
    max_leaves=16,
)
strings = st.sampled_from(HOSTILE_STRINGS) | st.text(max_size=30)
maybe_string = strings | json_values
VALID_EMAILS = [
    "carol@example.com",
    "CAROL@Example.com",
    "dave@example.com",
    "ann@example.com",  # taken by a SCIM user: 409
    "bob@example.com",
    "eve@example.org",
]
emails = st.sampled_from(VALID_EMAILS) | st.integers(0, 10**9).map(
    "u{}@example.com".format
)


def mostly(
    valid: st.SearchStrategy[Any], junk: st.SearchStrategy[Any], weight: int = 3
) -> Any:
    """Usually a valid value (so the request gets far), 1 in weight + 1 junk."""
    return st.sampled_from(range(weight + 1)).flatmap(
        lambda pick: junk if pick == weight else valid
    )


def emails_strategy() -> st.SearchStrategy[Any]:
    junk_item = st.fixed_dictionaries(
        {},
        optional={
            "value": maybe_string,
            "primary": st.sampled_from([True, False, "true", "True", "yes", None, 1]),
            "type": st.sampled_from(["work", "home", "WORK", "", None, 7]),
        },
    )
    valid = st.lists(
        st.fixed_dictionaries(
            {"value": emails},
            optional={"primary": st.booleans(), "type": st.just("work")},
        ),
        min_size=1,
        max_size=2,
    )
    junk = st.lists(junk_item | json_values, max_size=3) | json_values
    return mostly(valid, junk, weight=5)


def user_bodies() -> st.SearchStrategy[dict]:
    """User resources: a valid skeleton with any attribute possibly junk."""
    text = mostly(st.text(max_size=20), maybe_string, weight=5)
    return st.fixed_dictionaries(
        {"userName": mostly(emails, maybe_string, weight=5)},
        optional={
            "schemas": mostly(
                st.just([USER_SCHEMA]),
                st.sampled_from([[USER_SCHEMA, ENTERPRISE_SCHEMA], [GROUP_SCHEMA], []])
                | json_values,
            ),
            "name": mostly(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "givenName": text,
                        "familyName": text,
                        "middleName": maybe_string,
                    },
                ),
                json_values,
            ),
            "displayName": text,
            "emails": emails_strategy(),
            "active": mostly(
                st.sampled_from([True, False, "True", "False"]),
                st.sampled_from(["maybe", 0, None]) | json_values,
            ),
            "externalId": text,
            "password": maybe_string,
            "locale": maybe_string,
            "groups": json_values,
            ENTERPRISE_SCHEMA: json_values,
        },
    )


def member_values(user_ids: list[str]) -> st.SearchStrategy[Any]:
    """Member lists naming real users, unknown ids and junk."""
    value = mostly(
        st.sampled_from(user_ids),
        st.sampled_from(["0", "999999", "²", "١٢", "-1", "1.0", " 2", ""])
        | st.integers(min_value=-5, max_value=10**20)
        | json_values,
    )
    member = st.fixed_dictionaries(
        {"value": value},
        optional={"display": strings, "type": st.sampled_from(["User", "Group"])},
    )
    return mostly(
        st.lists(member, max_size=4),
        st.lists(member | json_values, max_size=4) | json_values,
        weight=4,
    )


def group_bodies(user_ids: list[str]) -> st.SearchStrategy[dict]:
    """Group resources: a valid skeleton with any attribute possibly junk."""
    return st.fixed_dictionaries(
        {
            "displayName": mostly(
                st.sampled_from(["Engineers", "Sales", "sales", "New"])
                | st.text(max_size=20),
                maybe_string,
            )
        },
        optional={
            "schemas": mostly(
                st.just([GROUP_SCHEMA]), st.just([USER_SCHEMA]) | json_values
            ),
            "externalId": mostly(st.text(max_size=20), maybe_string),
            "members": member_values(user_ids),
        },
    )


USER_PATHS = [
    "active",
    "userName",
    "displayName",
    "externalId",
    "name",
    "name.givenName",
    "name.familyName",
    "name.middleName",
    "emails",
    "emails.value",
    'emails[type eq "work"]',
    'emails[type eq "work"].value',
    "emails[primary eq true].value",
    'emails[value co "@"]',
    'emails[type eq "work" or not (primary eq false)].value',
    "emails[type eq]",
    'emails[type eq "work"',
    'emails[type eq "work"]x',
    'emails[members[value eq "1"]]',
    f"{USER_SCHEMA}:userName",
    f"{USER_SCHEMA}:name.givenName",
    f"{ENTERPRISE_SCHEMA}:department",
    "urn:bogus:schema:attr",
    "id",
    "meta",
    "meta.lastModified",
    "schemas",
    "groups",
    "a.b.c",
    "name.",
    ".name",
    "[",
    "]",
    "",
    " ",
]
GROUP_PATHS = [
    "members",
    "Members",
    'members[value eq "1"]',
    'members[value eq "2" or value eq "3"]',
    'members[value eq "²"]',
    'members[value ne "1"]',
    "members[value pr]",
    'members[not (value eq "1")]',
    'members[value eq "1"].display',
    "members.value",
    "displayName",
    "externalId",
    f"{GROUP_SCHEMA}:displayName",
    "id",
    "members[",
    "",
]
OP_NAMES = ["add", "replace", "remove", "Add", "Replace", "REMOVE", " add "]


@st.composite
def patch_operations(
    draw: st.DrawFn,
    paths: list[str],
    values: st.SearchStrategy[Any],
    objects: st.SearchStrategy[dict],
) -> Any:
    """One PATCH operation: usually well-formed, with junk in any part."""
    if draw(st.sampled_from(range(16))) == 15:
        return draw(json_values)
    junk_op = json_scalars | st.sampled_from(["move", "copy", "test"])
    op = draw(mostly(st.sampled_from(OP_NAMES), junk_op, weight=12))
    operation: dict[str, Any] = {"op": op}
    path_kind = draw(st.sampled_from(["path", "path", "path", "none", "junk"]))
    if path_kind == "path":
        operation["path"] = draw(st.sampled_from(paths))
    elif path_kind == "junk":
        operation["path"] = draw(st.text(max_size=12) | json_scalars)
    is_remove = isinstance(op, str) and op.strip().lower() == "remove"
    if not is_remove or draw(st.sampled_from(range(4))) == 0:
        operation["value"] = draw(values if "path" in operation else objects)
    return operation


def patch_bodies(
    paths: list[str], values: st.SearchStrategy[Any], objects: st.SearchStrategy[dict]
) -> Any:
    """PatchOp bodies: mostly well-formed operations with junk mixed in."""
    operations = st.lists(
        patch_operations(paths, values, objects), min_size=1, max_size=4
    )
    return mostly(
        st.fixed_dictionaries(
            {"schemas": st.just([PATCH_SCHEMA]), "Operations": operations}
        ),
        st.fixed_dictionaries(
            {"Operations": operations | json_values},
            optional={"schemas": st.sampled_from([[USER_SCHEMA], "x"])},
        )
        | st.fixed_dictionaries({"operations": operations}),
        weight=6,
    )


USER_PATCH_VALUES = (
    st.sampled_from(
        [
            True,
            False,
            "True",
            "False",
            "maybe",
            "carol@example.com",
            "ann@example.com",
            "",
            None,
            [],
            {},
            {"active": False},
            {"active": "True"},
            {"displayName": "New Name"},
            {"name.givenName": "Carol"},
            {"name": {"givenName": "Carol", "familyName": 5}},
            {"userName": "bob@example.com"},
            {"emails": [{"value": "carol@example.com", "primary": True}]},
            {"emails": [{"value": "bob@example.com", "primary": True}]},
            {"externalId": 5},
            {"id": "999", "active": False},
            [{"value": "carol@example.com", "type": "work", "primary": True}],
            [{"value": "²"}],
            {"value": "carol@example.com"},
            "\ud800",
        ]
    )
    | strings
    | json_values
)


USER_PATCH_OBJECTS = mostly(
    st.dictionaries(
        st.sampled_from(
            [
                "active",
                "userName",
                "displayName",
                "externalId",
                "name.givenName",
                "name",
                "emails",
                "id",
                f"{USER_SCHEMA}:displayName",
                f"{ENTERPRISE_SCHEMA}:department",
            ]
        ),
        USER_PATCH_VALUES,
        min_size=1,
        max_size=3,
    ),
    st.dictionaries(json_keys, json_values, max_size=3),
)


# -- property-based tests ---------------------------------------------------------


def test_restore_puts_every_row_back_between_examples(scim: Scim) -> None:
    """What the property-based tests rely on: an accepted write is undone."""
    pristine = all_rows(scim.app)
    body = {"userName": "carol@example.com", "emails": [{"value": "carol@example.com"}]}
    assert send(scim, "POST", "/Users", body=body).status_code == 201
    patch = {"Operations": [{"op": "add", "path": "members", "value": []}]}
    send(scim, "PATCH", f"/Groups/{scim.group_id}", body=patch)
    assert all_rows(scim.app) != pristine
    scim.restore()
    assert all_rows(scim.app) == pristine
    listing = send(scim, "GET", "/Users").get_json(force=True)
    assert sorted(user["userName"] for user in listing["Resources"]) == [
        "ann@example.com",
        "bob@example.com",
    ]
    assert send(scim, "POST", "/Users", body=body).status_code == 201  # not a 409


TARGETS = [
    ("POST", "/Users"),
    ("PUT", "/Users/{user}"),
    ("PATCH", "/Users/{user}"),
    ("POST", "/Groups"),
    ("PUT", "/Groups/{group}"),
    ("PATCH", "/Groups/{group}"),
]


@fuzz(120)
@given(target=st.sampled_from(TARGETS), body=json_values)
def test_random_json_bodies_never_fail_nor_write_half(
    scim: Scim, target: tuple[str, str], body: Any
) -> None:
    scim.restore()
    method, path = target
    path = path.format(user=scim.user_ids[1], group=scim.group_id)
    exercise(scim, method, path, body=body)


@fuzz(120)
@given(method=st.sampled_from(["POST", "PUT"]), body=user_bodies())
def test_random_user_resources_never_fail_nor_write_half(
    scim: Scim, method: str, body: dict
) -> None:
    scim.restore()
    path = "/Users" if method == "POST" else f"/Users/{scim.user_ids[1]}"
    exercise(scim, method, path, body=body)


@fuzz(100)
@given(method=st.sampled_from(["POST", "PUT"]), data=st.data())
def test_random_group_resources_never_fail_nor_write_half(
    scim: Scim, method: str, data: st.DataObject
) -> None:
    scim.restore()
    body = data.draw(group_bodies(scim.user_ids))
    path = "/Groups" if method == "POST" else f"/Groups/{scim.other_group_id}"
    exercise(scim, method, path, body=body)


@fuzz(150)
@given(body=patch_bodies(USER_PATHS, USER_PATCH_VALUES, USER_PATCH_OBJECTS))
def test_random_user_patches_never_fail_nor_write_half(scim: Scim, body: Any) -> None:
    scim.restore()
    exercise(scim, "PATCH", f"/Users/{scim.user_ids[1]}", body=body)


@fuzz(150)
@given(data=st.data())
def test_random_group_patches_never_fail_nor_write_half(
    scim: Scim, data: st.DataObject
) -> None:
    scim.restore()
    members = member_values(scim.user_ids)
    names = st.sampled_from(["Renamed", "Sales", "sales", ""]) | strings
    values = mostly(members | names, json_values)
    objects = mostly(
        st.fixed_dictionaries(
            {},
            optional={"members": members, "displayName": names, "externalId": names},
        ),
        st.dictionaries(json_keys, json_values, max_size=3),
    )
    body = data.draw(patch_bodies(GROUP_PATHS, values, objects))
    exercise(scim, "PATCH", f"/Groups/{scim.group_id}", body=body)


ATTRIBUTE_TOKENS = [
    "userName",
    "USERNAME",
    "externalId",
    "emails",
    "emails.value",
    "emails.type",
    "emails.primary",
    "name.givenName",
    "name.familyName",
    "name",
    "displayName",
    "active",
    "meta.lastModified",
    "meta.created",
    "id",
    "members",
    "members.value",
    "title",
    f"{USER_SCHEMA}:userName",
    f"{GROUP_SCHEMA}:displayName",
    "urn:bogus:attr",
]
OPERATOR_TOKENS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "EQ"]
VALUE_TOKENS = [
    '"ann@example.com"',
    '"ANN@EXAMPLE.COM"',
    '""',
    '"x"',
    '"2020-01-01T00:00:00Z"',
    '"2020-01-01"',
    '"9999-12-31T23:59:59-01:00"',
    '"0001-01-01T00:00:00+01:00"',
    '"not a date"',
    "true",
    "false",
    "null",
    "0",
    "-1",
    "1.5",
    "1e400",
    "12345678901234567890123",
    '"1"',
    '"007"',
    '"\\u0000"',
    '"\\""',
    '"%"',
    '"_"',
    '"\\\\"',
    '"\\ud800"',
    '"²"',
    '"١٢"',
    '"ß"',
    "'single'",
    "bare",
]
SOUP_TOKENS = (
    ATTRIBUTE_TOKENS
    + OPERATOR_TOKENS
    + VALUE_TOKENS
    + ["pr", "PR", "and", "or", "not", "AND", "Not", "(", ")", "[", "]", ".", '"']
    + ["\\", " ", "\t", "\n", "ß", "İ", "\u202e", "😀", "\x00", "\u00a0"]
)


@fuzz(150)
@given(
    resource=st.sampled_from(["Users", "Groups"]),
    tokens=st.lists(st.sampled_from(SOUP_TOKENS) | st.text(max_size=4), max_size=14),
    joiner=st.sampled_from([" ", ""]),
)
def test_random_filter_soup_is_a_list_or_invalid_filter(
    scim: Scim, resource: str, tokens: list[str], joiner: str
) -> None:
    scim.restore()
    text = joiner.join(tokens)
    response = exercise(scim, "GET", f"/{resource}", query={"filter": text})
    assert_list_or_invalid_filter(response)


def assert_list_or_invalid_filter(response: TestResponse) -> None:
    body = response.get_json(force=True)
    if response.status_code == 200:
        assert body["schemas"] == [LIST_SCHEMA]
        assert body["totalResults"] >= len(body["Resources"])
    else:
        assert response.status_code == 400, body
        assert body.get("scimType") in ("invalidFilter", "invalidValue"), body


USER_FILTER_ATTRIBUTES = [
    "userName",
    "USERNAME",
    f"{USER_SCHEMA}:userName",
    "externalId",
    "emails",
    "emails.value",
    "emails.type",
    "emails.primary",
    "name.givenName",
    "name.familyName",
    "displayName",
    "active",
    "meta.lastModified",
    "meta.created",
    "id",
    "title",
]
GROUP_FILTER_ATTRIBUTES = [
    "displayName",
    f"{GROUP_SCHEMA}:displayName",
    "externalId",
    "id",
    "members",
    "members.value",
    "meta.lastModified",
    "meta.created",
    "owner",
]


def grammatical_filters(attributes: list[str]) -> st.SearchStrategy[str]:
    """Filters that follow RFC 7644's grammar, over these attributes."""
    comparisons = st.builds(
        "{} {} {}".format,
        st.sampled_from(attributes),
        st.sampled_from(OPERATOR_TOKENS),
        st.sampled_from(VALUE_TOKENS),
    )
    presences = st.sampled_from(attributes).map("{} pr".format)
    value_paths = st.builds(
        "{}[{}]{}".format,
        st.sampled_from(["emails", "members", "name", "addresses"]),
        st.builds(
            "{} {} {}".format,
            st.sampled_from(["value", "type", "primary", "display"]),
            st.sampled_from(OPERATOR_TOKENS),
            st.sampled_from(VALUE_TOKENS),
        )
        | comparisons,
        st.sampled_from(["", '.value eq "ann@example.com"', ".type", "x"]),
    )
    return st.recursive(
        mostly(comparisons, presences | value_paths, weight=2),
        lambda inner: (
            st.builds("{} and {}".format, inner, inner)
            | st.builds("{} or {}".format, inner, inner)
            | inner.map("not ({})".format)
            | inner.map("({})".format)
        ),
        max_leaves=6,
    )


@fuzz(150)
@given(
    target=st.sampled_from(
        [
            ("Users", grammatical_filters(USER_FILTER_ATTRIBUTES)),
            ("Groups", grammatical_filters(GROUP_FILTER_ATTRIBUTES)),
        ]
    ),
    data=st.data(),
)
def test_random_grammatical_filters_are_a_list_or_invalid_filter(
    scim: Scim, target: tuple[str, st.SearchStrategy[str]], data: st.DataObject
) -> None:
    scim.restore()
    resource, filters = target
    text = data.draw(filters)
    response = exercise(scim, "GET", f"/{resource}", query={"filter": text})
    assert_list_or_invalid_filter(response)


list_parameters = st.fixed_dictionaries(
    {},
    optional={
        name: st.sampled_from(
            ["", "0", "-1", "1", "abc", "1.5", "99999999999999999999"]
        )
        | st.text(max_size=8)
        for name in ("startIndex", "count")
    }
    | {
        "sortBy": st.sampled_from(ATTRIBUTE_TOKENS) | st.text(max_size=8),
        "sortOrder": st.sampled_from(["ascending", "descending", "sideways"]),
        "attributes": st.sampled_from(["userName", "members", "name.givenName", ""])
        | st.text(max_size=12),
        "excludedAttributes": st.sampled_from(["members", "emails", "meta.version"])
        | st.text(max_size=12),
    },
)


@fuzz(100)
@given(resource=st.sampled_from(["Users", "Groups"]), query=list_parameters)
def test_random_list_parameters_are_a_list_or_a_400(
    scim: Scim, resource: str, query: dict[str, str]
) -> None:
    scim.restore()
    response = exercise(scim, "GET", f"/{resource}", query=query)
    if response.status_code != 200:
        assert response.status_code == 400


# -- explicit hostile cases -------------------------------------------------------

WRITES = [
    ("POST", "/Users"),
    ("PUT", "/Users/{user}"),
    ("PATCH", "/Users/{user}"),
    ("POST", "/Groups"),
    ("PUT", "/Groups/{group}"),
    ("PATCH", "/Groups/{group}"),
]
MALFORMED = [
    b"",
    b"{",
    b'{"userName": }',
    b"{'userName': 'ann'}",
    b'{"userName": "carol@example.com"} trailing',
    b"undefined",
    b"\xff\xfe\x00{",
    b'{"userName": "\xff"}',
    b'{"userName": "carol@example.com", "active": tru}',
    b'{"userName": "\\ud800\\"}',
]


@pytest.mark.parametrize("raw", MALFORMED, ids=repr)
def test_malformed_json_is_400_invalid_syntax(scim: Scim, raw: bytes) -> None:
    for method, path in WRITES:
        path = path.format(user=scim.user_ids[1], group=scim.group_id)
        response = exercise(scim, method, path, raw=raw)
        assert_error(response, 400, "invalidSyntax")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity_are_400(scim: Scim, constant: str) -> None:
    bodies = {
        "/Users": '{"userName": "carol@example.com", "active": %s}',
        "/Groups": '{"displayName": "New", "members": [{"value": %s}]}',
    }
    for path, template in bodies.items():
        response = exercise(scim, "POST", path, raw=template % constant)
        assert_error(response, 400, "invalidSyntax")
    patch = '{"Operations": [{"op": "replace", "path": "active", "value": %s}]}'
    response = exercise(
        scim, "PATCH", f"/Users/{scim.user_ids[1]}", raw=patch % constant
    )
    assert_error(response, 400, "invalidSyntax")


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000,
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        '{"userName": "carol@example.com", "name": ' + "[" * 100_000,
    ],
    ids=["open arrays", "closed arrays", "nested objects", "inside a user"],
)
def test_deeply_nested_json_is_400(scim: Scim, raw: str) -> None:
    for method, path in WRITES:
        path = path.format(user=scim.user_ids[1], group=scim.group_id)
        response = exercise(scim, method, path, raw=raw)
        assert_error(response, 400, "invalidSyntax")


def test_nesting_the_parser_accepts_is_still_refused_cleanly(scim: Scim) -> None:
    deep: Any = "x"
    for _ in range(900):
        deep = [deep]
    user = {"userName": "carol@example.com", "displayName": deep, "name": deep}
    assert_error(exercise(scim, "POST", "/Users", body=user), 400, "invalidValue")
    patch = {"Operations": [{"op": "replace", "path": "name", "value": {"a": deep}}]}
    before = user_row(scim, scim.user_ids[1])
    response = exercise(scim, "PATCH", f"/Users/{scim.user_ids[1]}", body=patch)
    assert response.status_code == 200  # an unknown sub-attribute is ignored
    assert user_row(scim, scim.user_ids[1]) == before
    group_patch = {"Operations": [{"op": "add", "path": "members", "value": deep}]}
    response = exercise(scim, "PATCH", f"/Groups/{scim.group_id}", body=group_patch)
    assert_error(response, 400, "invalidValue")


def test_a_body_over_the_size_cap_is_413(scim: Scim) -> None:
    cap = scim.app.config["SCIM_MAX_BODY_BYTES"]
    user = {"userName": "carol@example.com", "emails": [], "pad": ""}
    base = len(json.dumps(user))
    too_big = json.dumps({**user, "pad": "p" * (cap + 1 - base)})
    assert len(too_big.encode()) == cap + 1
    for method, path in WRITES:
        path = path.format(user=scim.user_ids[1], group=scim.group_id)
        response = exercise(scim, method, path, raw=too_big)
        body = assert_error(response, 413, None)
        assert str(cap) in body["detail"]
    # Exactly at the cap is read (and then judged on its content).
    at_cap = json.dumps({**user, "pad": "p" * (cap - base)})
    assert len(at_cap.encode()) == cap
    response = exercise(scim, "POST", "/Users", raw=at_cap)
    assert response.status_code != 413


@pytest.fixture
def live_url(app: Flask) -> Iterator[tuple[str, int]]:
    """The app on a real threaded server on 127.0.0.1: (host, port)."""
    with serve(app) as url:
        yield "127.0.0.1", int(urlsplit(url).port or 0)


def test_a_chunked_body_without_length_over_the_cap_is_413(
    scim: Scim, live_url: tuple[str, int]
) -> None:
    """No Content-Length must not mean no limit."""
    cap = scim.app.config["SCIM_MAX_BODY_BYTES"]
    before = all_rows(scim.app, scim_writes=True)

    def chunks() -> Iterator[bytes]:
        yield b'{"userName": "carol@example.com", "pad": "'
        for _ in range(cap // 65536 + 2):
            yield b"p" * 65536
        yield b'"}'

    connection = http.client.HTTPConnection(*live_url, timeout=30)
    try:
        connection.request(
            "POST",
            SCIM + "/Users",
            body=chunks(),
            headers=auth(scim.secret),
            encode_chunked=True,
        )
        response = connection.getresponse()
        status, text = response.status, response.read().decode()
        content_type = response.getheader("Content-Type")
    except (BrokenPipeError, ConnectionResetError):
        # The server may answer and hang up before the upload ends: read its answer.
        response = connection.getresponse()
        status, text = response.status, response.read().decode()
        content_type = response.getheader("Content-Type")
    finally:
        connection.close()
    assert status == 413, text[:300]
    assert content_type == SCIM_JSON
    assert all_rows(scim.app, scim_writes=True) == before


WRONG_MEDIA_TYPES = [
    "text/plain",
    "application/xml",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/scim",
    None,
]


def test_a_wrong_content_type_is_415(scim: Scim) -> None:
    raw = json.dumps({"userName": "carol@example.com"})
    for content_type in WRONG_MEDIA_TYPES:
        for method, path in WRITES:
            path = path.format(user=scim.user_ids[1], group=scim.group_id)
            response = exercise(scim, method, path, raw=raw, content_type=content_type)
            body = assert_error(response, 415, None)
            assert SCIM_JSON in body["detail"]


def test_json_and_charset_media_types_are_accepted(scim: Scim) -> None:
    for number, content_type in enumerate(
        ["application/json", "application/scim+json; charset=utf-8"]
    ):
        raw = json.dumps({"userName": f"carol{number}@example.com"})
        response = exercise(scim, "POST", "/Users", raw=raw, content_type=content_type)
        assert response.status_code == 201, response.get_data(as_text=True)


UNKNOWN_ROUTES = [
    "",
    "/",
    "/Nope",
    "/users/x/y",
    "/Users/",
    "/Users/1/groups",
    "/v2/Users",
    "/Bulk",
    "/Me",
    "/Groups/1/members/2",
    "/%00",
    "/..%2f..%2fadmin",
]


def test_unknown_routes_under_the_scim_prefix_are_scim_404s(scim: Scim) -> None:
    for path in UNKNOWN_ROUTES:
        for method in ("GET", "POST", "DELETE"):
            response = exercise(scim, method, path, raw="{}")
            body = assert_error(response, 404, None)
            assert "No SCIM endpoint" in body["detail"] or path in body["detail"]


WRONG_METHODS = [
    ("DELETE", "/Users"),
    ("PUT", "/Users"),
    ("PATCH", "/Users"),
    ("POST", "/Users/{user}"),
    ("DELETE", "/Groups"),
    ("POST", "/Groups/{group}"),
    ("POST", "/ServiceProviderConfig"),
    ("DELETE", "/Schemas"),
    ("PUT", "/ResourceTypes"),
]


def test_wrong_methods_are_scim_405s(scim: Scim) -> None:
    for method, path in WRONG_METHODS:
        path = path.format(user=scim.user_ids[1], group=scim.group_id)
        response = exercise(scim, method, path, raw="{}")
        body = assert_error(response, 405, None)
        assert method in body["detail"]


def test_a_405_names_the_allowed_methods(scim: Scim) -> None:
    """RFC 9110 §15.5.6: a 405 response must carry an Allow header."""
    response = exercise(scim, "DELETE", "/Users", raw="{}")
    assert response.status_code == 405
    allowed = {part.strip() for part in response.headers.get("Allow", "").split(",")}
    assert {"GET", "POST"} <= allowed, dict(response.headers)


def test_a_user_patch_with_a_bad_second_operation_applies_nothing(scim: Scim) -> None:
    user = scim.user_ids[1]
    before = user_row(scim, user)
    good = {"op": "replace", "path": "displayName", "value": "Changed"}
    also_good = {"op": "replace", "value": {"active": False}}
    bad_ones: list[tuple[dict, int]] = [
        ({"op": "explode", "path": "displayName", "value": "x"}, 400),
        ({"op": "replace", "path": "emails[type eq", "value": "x"}, 400),
        ({"op": "replace", "path": "active", "value": "maybe"}, 400),
        ({"op": "remove"}, 400),
        ({"op": "replace", "path": "userName", "value": ""}, 400),
        ({"op": "replace", "path": "userName", "value": "ann@example.com"}, 409),
        ({"op": "add", "path": "emails", "value": ["not an object"]}, 400),
        (
            {
                "op": "replace",
                "path": 'emails[type eq "home"]',
                "value": {"value": "x@example.com"},
            },
            400,
        ),
        ("not an operation", 400),
    ]
    for bad, status in bad_ones:
        body = {"schemas": [PATCH_SCHEMA], "Operations": [good, also_good, bad]}
        response = exercise(scim, "PATCH", f"/Users/{user}", body=body)
        assert response.status_code == status, (bad, response.get_data(as_text=True))
        assert user_row(scim, user) == before, bad


def test_a_group_patch_with_a_bad_second_operation_applies_nothing(
    scim: Scim,
) -> None:
    group = scim.group_id
    bob = scim.user_ids[1]
    add_bob = {"op": "add", "path": "members", "value": [{"value": bob}]}
    rename = {"op": "replace", "path": "displayName", "value": "Renamed"}
    bad_ones: list[tuple[dict, int]] = [
        ({"op": "add", "path": "members", "value": [{"value": "999999"}]}, 400),
        ({"op": "add", "path": "members", "value": [{"nope": 1}]}, 400),
        ({"op": "remove", "path": "members[value gt 3]"}, 400),
        ({"op": "replace", "path": "displayName", "value": ""}, 400),
        ({"op": "replace", "path": "displayName", "value": "Sales"}, 409),
        ({"op": "replace", "path": "externalId", "value": 5}, 400),
        ({"op": "frobnicate", "path": "members", "value": []}, 400),
    ]
    before = group_member_ids(scim, group)
    for bad, status in bad_ones:
        body = {"schemas": [PATCH_SCHEMA], "Operations": [add_bob, rename, bad]}
        response = exercise(scim, "PATCH", f"/Groups/{group}", body=body)
        assert response.status_code == status, (bad, response.get_data(as_text=True))
        assert group_member_ids(scim, group) == before, bad
        listed = send(scim, "GET", f"/Groups/{group}").get_json(force=True)
        assert listed["displayName"] == "Engineers"


def test_non_integer_paging_parameters_are_400(scim: Scim) -> None:
    for name in ("count", "startIndex"):
        for value in ("abc", "1.5", "1e3", "--1", "0x10", "1 2"):
            response = exercise(scim, "GET", "/Users", query={name: value})
            body = assert_error(response, 400, "invalidValue")
            assert name in body["detail"], value


def test_negative_paging_parameters_are_clamped(scim: Scim) -> None:
    total = len(scim.user_ids)
    response = exercise(scim, "GET", "/Users", query={"count": "-5"})
    body = response.get_json(force=True)
    assert response.status_code == 200
    assert body["totalResults"] == total and body["Resources"] == []
    for start in ("-5", "0"):
        response = exercise(scim, "GET", "/Users", query={"startIndex": start})
        body = response.get_json(force=True)
        assert response.status_code == 200
        assert body["startIndex"] == 1 and len(body["Resources"]) == total
    response = exercise(
        scim, "GET", "/Users", query={"startIndex": "99999999999999999999"}
    )
    assert response.status_code == 200
    assert response.get_json(force=True)["Resources"] == []
    response = exercise(scim, "GET", "/Users", query={"count": "99999999999999999999"})
    assert response.status_code == 200
    assert len(response.get_json(force=True)["Resources"]) == total


@pytest.mark.parametrize(
    "text",
    [
        'userName eq "' + "a" * 4986 + '"',
        " or ".join(['userName eq "ann@example.com"'] * 160),
        "(" * 2500 + ")" * 2500,
        "x" * 5000,
    ],
    ids=["long value", "long or chain", "parentheses", "one word"],
)
def test_a_5000_character_filter_is_400_invalid_filter(scim: Scim, text: str) -> None:
    assert len(text) >= 5000
    for resource in ("Users", "Groups"):
        response = exercise(scim, "GET", f"/{resource}", query={"filter": text})
        assert_error(response, 400, "invalidFilter")


def test_1001_patch_operations_are_refused_and_apply_nothing(scim: Scim) -> None:
    user = scim.user_ids[1]
    before = user_row(scim, user)
    operations = [
        {"op": "replace", "path": "displayName", "value": f"Name {n}"}
        for n in range(1001)
    ]
    response = exercise(
        scim, "PATCH", f"/Users/{user}", body={"Operations": operations}
    )
    assert_error(response, 413, "tooMany")
    assert user_row(scim, user) == before
    members = [{"op": "add", "path": "members", "value": [{"value": user}]}] * 1001
    response = exercise(
        scim, "PATCH", f"/Groups/{scim.group_id}", body={"Operations": members}
    )
    assert_error(response, 413, "tooMany")
    assert user not in group_member_ids(scim, scim.group_id)
    # The limit is not lower than it says: 1000 operations are applied.
    response = exercise(
        scim, "PATCH", f"/Users/{user}", body={"Operations": operations[:1000]}
    )
    assert response.status_code == 200
    assert response.get_json(force=True)["displayName"] == "Name 999"


# -- inputs that crashed the server (5xx) when these tests were written ------------


# Found by test_random_grammatical_filters_are_a_list_or_invalid_filter on
# PostgreSQL (issue #11: a 500 there; on SQLite `co` matched everyone, LIKE
# stopping at the NUL): no stored value can hold a NUL (every input refuses
# control characters), so a filter value with one matches nothing, as one with
# U+0001 does.
@pytest.mark.parametrize(
    ("resource", "text"),
    [
        ("Users", 'userName eq "\\u0000"'),
        ("Groups", 'externalId eq "\\u0000"'),
        ("Users", 'displayName co "\\u0000"'),
        ("Groups", 'displayName co "s\\u0000"'),
        ("Users", 'displayName co "\\u0001"'),
    ],
    ids=["eq user", "eq group", "co user", "co group", "U+0001, the control"],
)
def test_a_nul_in_a_filter_value_matches_nothing(
    scim: Scim, resource: str, text: str
) -> None:
    response = exercise(scim, "GET", f"/{resource}", query={"filter": text})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json(force=True)["totalResults"] == 0


UNICODE_DIGITS = ["²", "١٢", "₃", "①"]


@pytest.mark.parametrize("resource_id", UNICODE_DIGITS)
def test_unicode_digit_ids_are_404_not_500(scim: Scim, resource_id: str) -> None:
    bodies = {
        "PUT": {"userName": "x@example.com", "displayName": "X"},
        "PATCH": {"Operations": [{"op": "replace", "value": {"active": False}}]},
    }
    for resource in ("Users", "Groups"):
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            response = exercise(
                scim, method, f"/{resource}/{resource_id}", body=bodies.get(method)
            )
            assert_error(response, 404, None)


@pytest.mark.parametrize("value", UNICODE_DIGITS)
def test_unicode_digit_ids_in_filters_match_nothing(scim: Scim, value: str) -> None:
    for resource, text in (
        ("Users", f'id eq "{value}"'),
        ("Groups", f'id eq "{value}"'),
        ("Groups", f'members.value eq "{value}"'),
        ("Groups", f'members[value eq "{value}"]'),
    ):
        response = exercise(scim, "GET", f"/{resource}", query={"filter": text})
        assert response.status_code == 200, (text, response.get_data(as_text=True))
        assert response.get_json(force=True)["totalResults"] == 0


@pytest.mark.parametrize("value", UNICODE_DIGITS)
def test_unicode_digit_member_values_are_400(scim: Scim, value: str) -> None:
    member = [{"value": value}]
    requests = [
        ("POST", "/Groups", {"displayName": "New", "members": member}),
        (
            "PUT",
            f"/Groups/{scim.group_id}",
            {"displayName": "Engineers", "members": member},
        ),
        (
            "PATCH",
            f"/Groups/{scim.group_id}",
            {"Operations": [{"op": "add", "path": "members", "value": member}]},
        ),
        (
            "PATCH",
            f"/Groups/{scim.group_id}",
            {"Operations": [{"op": "remove", "path": f'members[value eq "{value}"]'}]},
        ),
    ]
    for method, path, body in requests:
        response = exercise(scim, method, path, body=body)
        assert_error(response, 400, "invalidValue")


def test_ids_in_other_scripts_digits_are_not_aliases_of_real_ids(
    scim: Scim,
) -> None:
    """SCIM ids are exact strings: "٢" (Arabic-Indic two) is not user "2"."""
    bob = scim.user_ids[1]
    alias = "".join(chr(0x0660 + int(digit)) for digit in bob)
    assert_error(exercise(scim, "GET", f"/Users/{alias}"), 404, None)
    response = exercise(scim, "GET", "/Users", query={"filter": f'id eq "{alias}"'})
    assert response.status_code == 200
    assert response.get_json(force=True)["totalResults"] == 0
    add = {"op": "add", "path": "members", "value": [{"value": alias}]}
    response = exercise(
        scim, "PATCH", f"/Groups/{scim.group_id}", body={"Operations": [add]}
    )
    assert_error(response, 400, "invalidValue")
    assert bob not in group_member_ids(scim, scim.group_id)


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "a\\udc00b"])
def test_lone_surrogates_in_bodies_are_400(scim: Scim, escape: str) -> None:
    user = scim.user_ids[1]
    requests = [
        ("POST", "/Users", '{"userName": "carol@example.com", "displayName": "%s"}'),
        ("POST", "/Users", '{"userName": "carol%s@example.com"}'),
        (
            "PUT",
            f"/Users/{user}",
            '{"userName": "bob@example.com", "name": {"givenName": "%s"}}',
        ),
        (
            "PATCH",
            f"/Users/{user}",
            '{"Operations": [{"op": "replace", "path": "displayName", "value": "%s"}]}',
        ),
        ("POST", "/Groups", '{"displayName": "%s"}'),
        ("PUT", f"/Groups/{scim.group_id}", '{"displayName": "E%s"}'),
    ]
    for method, path, template in requests:
        response = exercise(scim, method, path, raw=template % escape)
        assert_error(response, 400, "invalidSyntax")


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff"])
def test_lone_surrogates_in_filters_are_a_list_or_invalid_filter(
    scim: Scim, escape: str
) -> None:
    for resource, attribute in (("Users", "userName"), ("Groups", "displayName")):
        text = f'{attribute} eq "{escape}"'
        response = exercise(scim, "GET", f"/{resource}", query={"filter": text})
        assert_list_or_invalid_filter(response)


@pytest.mark.parametrize(
    "moment",
    ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59"],
)
def test_dates_at_the_edge_of_the_calendar_are_a_list_or_invalid_filter(
    scim: Scim, moment: str
) -> None:
    for op in ("gt", "lt", "eq"):
        text = f'meta.lastModified {op} "{moment}"'
        response = exercise(scim, "GET", "/Users", query={"filter": text})
        assert_list_or_invalid_filter(response)
