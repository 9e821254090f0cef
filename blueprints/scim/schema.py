"""SCIM resources ↔ our rows: serialisation and request-body parsing.

Pure functions over plain values; nothing here reads the request or the session.
RFC 7643 defines the attributes; Gatehouse maps userName, name.givenName,
name.familyName, displayName, emails (primary), active and externalId, and
ignores every other attribute it is sent (locale, name.middleName, extensions,
Okta's placeholder password).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from blueprints.scim.errors import bad_request
from core.models import Group
from core.models import User
from core.models import unsafe_characters

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

# Items a multi-valued attribute (emails) may hold, in any request, and the
# sub-attributes an item may have (RFC 7643 §4.1.2; all scalars).
MAX_VALUES = 20
SUB_ATTRIBUTES = {"emails": ("value", "type", "primary", "display")}

MAX_STRING = {
    "userName": 320,
    "email": 320,
    "name": 200,
    "displayName": 400,
    "externalId": 400,
}


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, as SCIM clients expect."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def etag(row: User | Group) -> str:
    """The weak entity tag of a resource (RFC 7644 §3.14): its version number,
    which changes with every change to the row however close in time, and the
    microsecond the row was created, because SQLite gives a new row the id of
    the newest deleted one: a tag read from the deleted resource must not match
    the one that took its id."""
    born = (row.created_at - EPOCH) // timedelta(microseconds=1)
    return f'W/"{row.version}-{born:x}"'


def meta(resource_type: str, row: User | Group, location: str) -> dict:
    """The `meta` attribute of a resource (RFC 7643 §3.1)."""
    return {
        "resourceType": resource_type,
        "created": timestamp(row.created_at),
        "lastModified": timestamp(row.updated_at),
        "location": location,
        "version": etag(row),
    }


def scim_name(user: User) -> dict[str, str]:
    """The `name` of a user resource, never empty.

    The given and family names as stored; a member with neither gets a
    `formatted` name built from what is known: the display name, else the
    email's local part (else the userName).
    """
    known = {"givenName": user.given_name, "familyName": user.family_name}
    name = {key: value for key, value in known.items() if value}
    if name:
        return name
    local_part = user.email.rpartition("@")[0] if user.email else ""
    return {"formatted": user.display_name or local_part or user.user_name}


def to_scim_user(user: User, base_url: str, groups: list[Group] | None = None) -> dict:
    """A user as a SCIM User resource. `groups`, if given, are listed read-only.

    Values are returned as they were sent. One email is kept, returned as the
    work address with the `primary` it was sent with (true when none was).
    """
    resource: dict[str, Any] = {
        "schemas": [USER_SCHEMA],
        "id": str(user.id),
        "userName": user.user_name,
        "name": scim_name(user),
        "displayName": user.display_name or None,
        "emails": [
            {
                "value": user.email,
                "type": "work",
                "primary": user.email_primary is not False,
            }
        ],
        "active": user.is_active,
        "meta": meta("User", user, f"{base_url}/Users/{user.id}"),
    }
    if user.external_id is not None:
        resource["externalId"] = user.external_id
    if groups is not None:
        resource["groups"] = [
            {
                "value": str(group.id),
                "display": group.display_name,
                "$ref": f"{base_url}/Groups/{group.id}",
                "type": "direct",
            }
            for group in groups
        ]
    return {key: value for key, value in resource.items() if value is not None}


def to_scim_group(group: Group, base_url: str, members: list[int] | None) -> dict:
    """A group as a SCIM Group resource; `members` are user ids, and None leaves
    the list out.

    A member is its value, $ref and type: `display` is the client's label
    (RFC 7643 §2.4, immutable), which is not stored, so it is not returned.
    """
    resource: dict[str, Any] = {
        "schemas": [GROUP_SCHEMA],
        "id": str(group.id),
        "displayName": group.display_name,
        "meta": meta("Group", group, f"{base_url}/Groups/{group.id}"),
    }
    if group.external_id is not None:
        resource["externalId"] = group.external_id
    if members is not None:
        resource["members"] = [
            {
                "value": str(user_id),
                "$ref": f"{base_url}/Users/{user_id}",
                "type": "User",
            }
            for user_id in members
        ]
    return resource


def list_response(resources: list[dict], total: int, start_index: int) -> dict:
    """A ListResponse (RFC 7644 §3.4.2), the same shape even when empty."""
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start_index,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


# -- parsing request bodies ------------------------------------------------------


def parse_bool(value: Any, attribute: str) -> bool:
    """A SCIM boolean: JSON true/false, or the strings Entra sends ("True")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise bad_request(f"{attribute} must be true or false.")


def _string(
    value: Any, attribute: str, limit: int, *, required: bool = False
) -> str | None:
    if value is None:
        if required:
            raise bad_request(f"{attribute} is required.")
        return None
    if not isinstance(value, str):
        raise bad_request(f"{attribute} must be a string.")
    value = value.strip()
    if required and not value:
        raise bad_request(f"{attribute} is required.")
    if len(value) > limit:
        raise bad_request(f"{attribute} is longer than {limit} characters.")
    if unsafe_characters(value):
        raise bad_request(f"{attribute} contains control or line-separator characters.")
    return value


def _primary_email(emails: Any) -> tuple[str | None, bool | None]:
    """The address to keep (the primary one, else a work one, else the first)
    and the `primary` it was sent with (None when it had none).

    Only its shape is checked here; whether it is an email address is the
    caller's rule (the /Users views check it with core.provisioning's).
    """
    if emails is None:
        return None, None
    if not isinstance(emails, list) or not all(
        isinstance(item, dict) for item in emails
    ):
        raise bad_request("emails must be a list of objects.")
    if len(emails) > MAX_VALUES:
        raise bad_request(f"emails can hold at most {MAX_VALUES} values.")
    candidates = [item for item in emails if item.get("value")]
    if not candidates:
        return None, None
    for rule in (
        lambda item: item.get("primary") in (True, "true", "True"),
        lambda item: str(item.get("type", "")).lower() == "work",
        lambda item: True,
    ):
        chosen = [item for item in candidates if rule(item)]
        if chosen:
            value = _string(chosen[0]["value"], "emails.value", MAX_STRING["email"])
            sent = chosen[0].get("primary")
            primary = None if sent is None else parse_bool(sent, "emails.primary")
            return (value, primary) if value else (None, None)
    return None, None


def _check_schemas(body: dict, schema: str) -> None:
    schemas = body.get("schemas")
    if schemas is None:
        return
    if not isinstance(schemas, list) or schema not in schemas:
        raise ScimSyntaxError(f"schemas must include {schema}.")


class ScimSyntaxError(Exception):
    """Raised for bodies that are not the resource they claim to be."""


@dataclass
class UserInput:
    """The attributes a User body asserts; None means "not sent".

    `email` is the address as sent, not yet checked to be one; "email" is in
    `sent` when the body had `emails`.
    """

    user_name: str
    email: str | None
    email_primary: bool | None
    given_name: str | None
    family_name: str | None
    display_name: str | None
    external_id: str | None
    active: bool | None
    sent: frozenset[str]


def parse_user(body: Any) -> UserInput:
    """Read a User resource from a POST or PUT body.

    :raise ScimError: 400 invalidValue/invalidSyntax for a malformed body.
    """
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object.", "invalidSyntax")
    try:
        _check_schemas(body, USER_SCHEMA)
    except ScimSyntaxError as exc:
        raise bad_request(str(exc), "invalidSyntax") from exc
    user_name = _string(
        body.get("userName"), "userName", MAX_STRING["userName"], required=True
    )
    name = body.get("name")
    if name is not None and not isinstance(name, dict):
        raise bad_request("name must be an object.")
    name = name or {}
    email, email_primary = _primary_email(body.get("emails"))
    active = body.get("active")
    return UserInput(
        user_name=user_name,  # type: ignore[arg-type]
        email=email,
        email_primary=email_primary,
        given_name=_string(name.get("givenName"), "name.givenName", MAX_STRING["name"]),
        family_name=_string(
            name.get("familyName"), "name.familyName", MAX_STRING["name"]
        ),
        display_name=_string(
            body.get("displayName"), "displayName", MAX_STRING["displayName"]
        ),
        external_id=_string(
            body.get("externalId"), "externalId", MAX_STRING["externalId"]
        ),
        active=None if active is None else parse_bool(active, "active"),
        sent=_sent_fields(body, name),
    )


def _sent_fields(body: dict, name: dict) -> frozenset[str]:
    """The profile fields a User body asserts, by their UserInput names."""
    present = {
        "email": "emails" in body,
        "email_primary": "emails" in body,
        "given_name": "givenName" in name,
        "family_name": "familyName" in name,
        "display_name": "displayName" in body,
        "external_id": "externalId" in body,
        "active": body.get("active") is not None,
    }
    return frozenset(field for field, sent in present.items() if sent)


@dataclass
class GroupInput:
    """The attributes a Group body asserts."""

    display_name: str
    external_id: str | None
    member_ids: list[str] | None
    sent: frozenset[str]


def member_ids(members: Any) -> list[str]:
    """The `value`s of a members list (each an object with a value)."""
    if not isinstance(members, list):
        raise bad_request("members must be a list.")
    ids = []
    for member in members:
        if not isinstance(member, dict) or not isinstance(
            member.get("value"), str | int
        ):
            raise bad_request("Each member needs a value (the user's id).")
        ids.append(str(member["value"]))
    return ids


def parse_group(body: Any) -> GroupInput:
    """Read a Group resource from a POST or PUT body.

    :raise ScimError: 400 for a malformed body.
    """
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object.", "invalidSyntax")
    try:
        _check_schemas(body, GROUP_SCHEMA)
    except ScimSyntaxError as exc:
        raise bad_request(str(exc), "invalidSyntax") from exc
    display_name = _string(
        body.get("displayName"), "displayName", MAX_STRING["displayName"], required=True
    )
    members = body.get("members")
    return GroupInput(
        display_name=display_name,  # type: ignore[arg-type]
        external_id=_string(
            body.get("externalId"), "externalId", MAX_STRING["externalId"]
        ),
        member_ids=None if members is None else member_ids(members),
        sent=frozenset(key for key in ("externalId", "members") if key in body),
    )
