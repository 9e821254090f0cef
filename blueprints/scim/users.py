"""/Users (RFC 7644 §3): create, read, list, replace, patch, delete."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import g

from blueprints.scim.errors import account_error
from blueprints.scim.errors import bad_request
from blueprints.scim.errors import on_failure
from blueprints.scim.filters import Field
from blueprints.scim.http import no_content
from blueprints.scim.http import read_json
from blueprints.scim.http import scim_base_url
from blueprints.scim.http import scim_response
from blueprints.scim.lists import check_if_match
from blueprints.scim.lists import flush_or_conflict
from blueprints.scim.lists import list_page
from blueprints.scim.lists import load_resource
from blueprints.scim.lists import projected
from blueprints.scim.patch import apply_operations
from blueprints.scim.patch_syntax import parse_operations
from blueprints.scim.results import Outcome
from blueprints.scim.results import ScimResponse
from blueprints.scim.schema import ENTERPRISE_USER_SCHEMA
from blueprints.scim.schema import USER_SCHEMA
from blueprints.scim.schema import UserInput
from blueprints.scim.schema import etag
from blueprints.scim.schema import list_response
from blueprints.scim.schema import parse_user
from blueprints.scim.schema import to_scim_user
from core.authority import AccountError
from core.extensions import db
from core.models import Group
from core.models import GroupMember
from core.models import User
from core.models import email_fold
from core.provisioning import profiles
from core.provisioning import users

CONFLICT = "userName or email already exists."
SCHEMAS = (USER_SCHEMA, ENTERPRISE_USER_SCHEMA)
USER_ATTRIBUTES = ("userName", "name", "displayName", "emails", "active", "externalId")

# RFC 7643 §4.1: userName, emails and name parts are caseExact=false; externalId
# and id are case-exact.
FIELDS: dict[str, Field] = {
    "id": Field("int_id", User.id),
    "username": Field("ci", User.user_name_key),
    "externalid": Field("exact", User.external_id, nullable=True),
    "displayname": Field("ci", db.func.lower(User.display_name)),
    "name.givenname": Field("ci", db.func.lower(User.given_name)),
    "name.familyname": Field("ci", db.func.lower(User.family_name)),
    "emails": Field("ci", User.email_key, key=email_fold),
    "emails.value": Field("ci", User.email_key, key=email_fold),
    "emails.type": Field("const", const="work", sortable=False),
    # The one address kept is the primary one unless sent with primary false.
    "emails.primary": Field("bool", User.email_primary.is_not(False), sortable=False),
    "active": Field("bool", User.status == "active", sortable=False),
    "meta.created": Field("datetime", User.created_at),
    "meta.lastmodified": Field("datetime", User.updated_at),
}


def groups_of(user_ids: list[int]) -> dict[int, list[Group]]:
    """Groups of each user, for the read-only `groups` attribute."""
    result: dict[int, list[Group]] = {user_id: [] for user_id in user_ids}
    if not user_ids:
        return result
    rows = db.session.execute(
        db.select(GroupMember.user_id, Group)
        .join(Group, Group.id == GroupMember.group_id)
        .where(GroupMember.user_id.in_(user_ids))
        .order_by(Group.display_name_key)
    )
    for user_id, group in rows:
        result[user_id].append(group)
    return result


def render(
    user: User,
    outcome: Outcome,
    status: int = 200,
    groups: list[Group] | None = None,
) -> ScimResponse:
    """One user as a SCIM response, with Location and ETag, and what was done.

    `groups` saves a query when the caller knows them (a new user has none).
    """
    # Pending changes give the row a new version: store them first.
    db.session.flush()
    if groups is None:
        groups = groups_of([user.id])[user.id]
    body = to_scim_user(user, scim_base_url(), groups)
    body = projected(body, USER_SCHEMA)
    headers = {"ETag": etag(user)}
    if status == 201:
        headers["Location"] = body["meta"]["location"] if "meta" in body else ""
    return scim_response(body, status, headers, outcome)


def load_user(user_id: str) -> User:
    """A user of the key's organization; any other id is 404."""
    return load_resource(User, user_id, "User")


SCIM_NAMES = {
    "user_name": "userName",
    "email": "emails",
    "given_name": "name.givenName",
    "family_name": "name.familyName",
    "display_name": "displayName",
    "external_id": "externalId",
}


def scim_changes(changes: dict[str, list[object]]) -> dict[str, list[object]]:
    """Changes keyed by SCIM attribute names, as the activity page shows them."""
    return {SCIM_NAMES.get(field, field): pair for field, pair in changes.items()}


def read_user(body: Any) -> UserInput:
    """A User body (schema.parse_user) with its email checked to be an address.

    A body without `emails` whose userName is an email stands for that address
    (Okta's default).
    :raise ScimError: 400 for a malformed body or an invalid email.
    """
    data = parse_user(body)
    if data.email is not None:
        try:
            email = users.normalize_email(data.email)
        except AccountError as exc:
            raise bad_request(f"{data.email!r} is not a valid email address.") from exc
        return replace(data, email=email)
    if "email" in data.sent:
        return data  # `emails` was sent, without an address
    try:
        email = users.normalize_email(data.user_name)
    except AccountError:
        return data
    return replace(data, email=email, sent=data.sent | {"email"})


def profile_values(data: UserInput, *, everything: bool) -> dict[str, object]:
    """The profile fields a body asserts (all of them for POST and PATCH)."""
    fields = profiles.PROFILE_FIELDS if everything else ("user_name", *data.sent)
    return {field: getattr(data, field) for field in fields}


def list_users() -> ScimResponse:
    """List users, with filter, sorting and paging."""
    page = list_page(
        db.select(User).where(User.organization_id == g.org_id),
        User.id,
        FIELDS,
        SCHEMAS,
    )
    memberships = groups_of([user.id for user in page.rows])
    base = scim_base_url()
    resources = [
        projected(to_scim_user(user, base, memberships[user.id]), USER_SCHEMA)
        for user in page.rows
    ]
    return scim_response(list_response(resources, page.total, page.start_index))


def create_user() -> ScimResponse:
    """Create a user, or adopt the not-yet-SCIM account with that userName."""
    data = read_user(read_json())
    with on_failure(Outcome("User", None, data.user_name)):
        user, adopted, changes = create(data)
    if adopted:
        changes = {"adopted": [None, True], **changes}
    outcome = Outcome("User", user.id, user.user_name, scim_changes(changes))
    return render(user, outcome, 201, None if adopted else [])


def create(data: UserInput) -> tuple[User, bool, dict[str, list[object]]]:
    """Create (or adopt) the user a POST body describes: (user, adopted, changes)."""
    if data.email is None:
        raise bad_request("Send a primary email in emails (userName is not an email).")
    try:
        user, adopted, changes = profiles.scim_create_user(
            g.actor, g.org_id, g.default_role, profile_values(data, everything=True)
        )
    except AccountError as exc:
        raise account_error(exc) from exc
    flush_or_conflict(CONFLICT)
    return user, adopted, changes


def get_user(user_id: str) -> ScimResponse:
    """Read one user."""
    user = load_user(user_id)
    return render(user, Outcome("User", user.id, user.user_name))


def update(user: User, values: dict[str, object]) -> ScimResponse:
    """Apply profile values (from PUT or PATCH) and answer with the user."""
    try:
        changes = profiles.scim_update_user(g.actor, user, values)
    except AccountError as exc:
        raise account_error(exc) from exc
    flush_or_conflict(CONFLICT)
    return render(user, Outcome("User", user.id, user.user_name, scim_changes(changes)))


def replace_user(user_id: str) -> ScimResponse:
    """Replace a user (what Okta's wizard-made apps send for every change)."""
    user = load_user(user_id)
    check_if_match(user)
    data = read_user(read_json())
    return update(user, profile_values(data, everything=False))


def patch_user(user_id: str) -> ScimResponse:
    """Patch a user (what Okta's catalog apps and Entra send)."""
    user = load_user(user_id)
    check_if_match(user)
    operations = parse_operations(read_json(), SCHEMAS)
    current = to_scim_user(user, scim_base_url())
    patched = apply_operations(
        current,
        operations,
        attributes=USER_ATTRIBUTES,
        multi_valued=("emails",),
        schemas=SCHEMAS,
    )
    data = read_user(patched)
    return update(user, profile_values(data, everything=True))


def delete_user(user_id: str) -> ScimResponse:
    """Delete a user for good (Okta deactivates instead; other clients delete)."""
    user = load_user(user_id)
    check_if_match(user)
    outcome = Outcome("User", user.id, user.user_name, {"deleted": [False, True]})
    with on_failure(outcome):
        try:
            users.delete_user(g.actor, user)
        except AccountError as exc:
            raise account_error(exc) from exc
    db.session.flush()
    return no_content(outcome)
