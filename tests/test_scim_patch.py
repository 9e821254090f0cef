"""PATCH operations applied to a resource's JSON form (no database needed)."""

from __future__ import annotations

from typing import Any

import pytest

from blueprints.scim.errors import ScimError
from blueprints.scim.patch import apply_operations
from blueprints.scim.patch_syntax import Path
from blueprints.scim.patch_syntax import parse_operations
from blueprints.scim.patch_syntax import parse_path
from blueprints.scim.schema import ENTERPRISE_USER_SCHEMA
from blueprints.scim.users import SCHEMAS
from blueprints.scim.users import USER_ATTRIBUTES
from tests.support.scim import PATCH_SCHEMA as PATCH


def user() -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "7",
        "userName": "ann@acme.test",
        "name": {"givenName": "Ann", "familyName": "Lee"},
        "displayName": "Ann Lee",
        "emails": [{"value": "ann@acme.test", "type": "work", "primary": True}],
        "active": True,
    }


def patch(resource: dict[str, Any], *operations: dict[str, Any]) -> dict[str, Any]:
    parsed = parse_operations(
        {"schemas": [PATCH], "Operations": list(operations)}, SCHEMAS
    )
    return apply_operations(
        resource,
        parsed,
        attributes=USER_ATTRIBUTES,
        multi_valued=("emails",),
        schemas=SCHEMAS,
    )


def test_replace_without_path_okta_deactivation() -> None:
    result = patch(user(), {"op": "replace", "value": {"active": False}})
    assert result["active"] is False
    assert result["userName"] == "ann@acme.test"


def test_op_names_in_any_case_and_dotted_keys() -> None:
    result = patch(user(), {"op": "Replace", "value": {"name.givenName": "Anne"}})
    assert result["name"] == {"givenName": "Anne", "familyName": "Lee"}


def test_path_to_sub_attribute_and_remove() -> None:
    result = patch(
        user(),
        {"op": "replace", "path": "name.familyName", "value": "Stone"},
        {"op": "remove", "path": "displayName"},
    )
    assert result["name"]["familyName"] == "Stone"
    assert result["displayName"] is None


def test_value_path_replaces_the_work_email() -> None:
    result = patch(
        user(),
        {
            "op": "replace",
            "path": 'emails[type eq "work"].value',
            "value": "new@acme.test",
        },
    )
    assert result["emails"] == [
        {"value": "new@acme.test", "type": "work", "primary": True}
    ]


def test_add_with_unmatched_value_path_creates_the_entry() -> None:
    resource = user()
    resource["emails"] = []
    result = patch(
        resource,
        {"op": "add", "path": 'emails[type eq "work"].value', "value": "x@acme.test"},
    )
    assert result["emails"] == [{"type": "work", "value": "x@acme.test"}]


def test_adding_a_primary_email_demotes_the_old_one() -> None:
    result = patch(
        user(),
        {
            "op": "add",
            "path": "emails",
            "value": [{"value": "b@acme.test", "primary": True}],
        },
    )
    assert [item["primary"] for item in result["emails"]] == [False, True]


def test_unknown_and_read_only_attributes_are_ignored() -> None:
    result = patch(
        user(),
        {"op": "replace", "value": {"id": "99", "locale": "fr", "password": "secret"}},
        {
            "op": "add",
            "path": ENTERPRISE_USER_SCHEMA + ":department",
            "value": "R&D",
        },
    )
    assert result == user()


def test_original_is_not_modified() -> None:
    original = user()
    patch(original, {"op": "replace", "path": "name.givenName", "value": "Zed"})
    assert original == user()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("userName", Path("userName")),
        ("name.givenName", Path("name", None, "givenName")),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:name.givenName",
            Path("name", None, "givenName"),
        ),
        ('members[value eq "3"]', Path("members", ("cmp", "value", "eq", "3"))),
        (
            'emails[type eq "work"].value',
            Path("emails", ("cmp", "type", "eq", "work"), "value"),
        ),
    ],
)
def test_parse_path(text: str, expected: Path) -> None:
    assert parse_path(text, SCHEMAS) == expected


@pytest.mark.parametrize(
    ("body", "scim_type"),
    [
        ([], "invalidSyntax"),
        ({"Operations": []}, "invalidSyntax"),
        ({"Operations": "x"}, "invalidSyntax"),
        (
            {"schemas": ["urn:wrong"], "Operations": [{"op": "add", "value": {}}]},
            "invalidSyntax",
        ),
        (
            {"Operations": [{"op": "move", "path": "userName", "value": "x"}]},
            "invalidSyntax",
        ),
        ({"Operations": [{"op": "remove"}]}, "noTarget"),
        ({"Operations": [{"op": "add", "path": "userName"}]}, "invalidValue"),
        ({"Operations": [{"op": "replace", "value": "not an object"}]}, "invalidValue"),
        (
            {
                "Operations": [
                    {"op": "replace", "path": 'emails[type eq "work"', "value": 1}
                ]
            },
            "invalidPath",
        ),
        (
            {"Operations": [{"op": "replace", "path": "bad path!", "value": 1}]},
            "invalidPath",
        ),
        ({"Operations": [{"op": "replace", "path": 5, "value": 1}]}, "invalidPath"),
        ({"Operations": [{"op": "add", "value": {}}] * 1001}, "tooMany"),
    ],
)
def test_malformed_patch_bodies(body: Any, scim_type: str) -> None:
    with pytest.raises(ScimError) as caught:
        parse_operations(body, SCHEMAS)
    assert caught.value.scim_type == scim_type
    assert caught.value.status in (400, 413)


def test_replace_with_filter_that_matches_nothing_is_no_target() -> None:
    with pytest.raises(ScimError) as caught:
        patch(
            user(),
            {
                "op": "replace",
                "path": 'emails[type eq "home"]',
                "value": {"value": "h@x.test"},
            },
        )
    assert caught.value.scim_type == "noTarget"
