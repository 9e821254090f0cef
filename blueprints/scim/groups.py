"""/Groups (RFC 7644 §3): create, read, list, replace, patch membership, delete."""

from __future__ import annotations

from flask import current_app
from flask import g
from flask import request

from blueprints.scim.errors import ScimError
from blueprints.scim.errors import bad_request
from blueprints.scim.errors import on_failure
from blueprints.scim.filter_syntax import FilterError
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
from blueprints.scim.patch_syntax import Operation
from blueprints.scim.patch_syntax import parse_operations
from blueprints.scim.results import Outcome
from blueprints.scim.results import ScimResponse
from blueprints.scim.schema import GROUP_SCHEMA
from blueprints.scim.schema import GroupInput
from blueprints.scim.schema import etag
from blueprints.scim.schema import list_response
from blueprints.scim.schema import member_ids
from blueprints.scim.schema import parse_group
from blueprints.scim.schema import to_scim_group
from core.authority import AccountError
from core.authority import Conflict
from core.extensions import db
from core.models import Group
from core.models import GroupMember
from core.models import parse_row_id
from core.provisioning import groups

CONFLICT = "A group with that displayName already exists."
SCHEMAS = (GROUP_SCHEMA,)


def _member_filter(op: str, value: object):  # type: ignore[no-untyped-def]
    """`members.value eq "42"`: groups that have (or lack) that member."""
    has_members = db.select(GroupMember.group_id).where(
        GroupMember.group_id == Group.id
    )
    if op == "pr":
        return has_members.exists()
    if op not in ("eq", "ne"):
        raise FilterError("members.value supports eq, ne and pr.")
    member = parse_row_id(str(value))
    exists = (
        has_members.where(GroupMember.user_id == member).exists()
        if member is not None
        else db.false()
    )
    return exists if op == "eq" else ~exists


FIELDS: dict[str, Field] = {
    "id": Field("int_id", Group.id),
    "displayname": Field("ci", Group.display_name_key),
    "externalid": Field("exact", Group.external_id, nullable=True),
    "members": Field("exists", build=_member_filter),
    "members.value": Field("exists", build=_member_filter),
    "meta.created": Field("datetime", Group.created_at),
    "meta.lastmodified": Field("datetime", Group.updated_at),
}


def wants_members() -> bool:
    """Should the response list members? (excludedAttributes=members says no.)"""
    excluded = (request.args.get("excludedAttributes") or "").lower()
    attributes = (request.args.get("attributes") or "").lower()
    if "members" in {part.strip().split(".")[0] for part in excluded.split(",")}:
        return False
    return not attributes or "members" in attributes


def members_of(group_ids: list[int]) -> dict[int, list[int]]:
    """The ids of each group's members, in order: all a Group resource shows,
    so a large group costs integers, not ORM objects."""
    result: dict[int, list[int]] = {group_id: [] for group_id in group_ids}
    if group_ids:
        rows = db.session.execute(
            db.select(GroupMember.group_id, GroupMember.user_id)
            .where(GroupMember.group_id.in_(group_ids))
            .order_by(GroupMember.user_id)
        )
        for group_id, user_id in rows:
            result[group_id].append(user_id)
    return result


def within_member_budget(groups: list[Group]) -> list[Group]:
    """The leading groups whose members together fit SCIM_MAX_LISTED_MEMBERS.

    At least one group is kept. A client pages on with startIndex and the
    response's itemsPerPage (RFC 7644 §3.4.2.4 lets a page be shorter than count).
    """
    budget = current_app.config["SCIM_MAX_LISTED_MEMBERS"]
    sizes = dict(
        db.session.execute(
            db.select(GroupMember.group_id, db.func.count())
            .where(GroupMember.group_id.in_([group.id for group in groups]))
            .group_by(GroupMember.group_id)
        ).all()
    )
    kept: list[Group] = []
    listed = 0
    for group in groups:
        listed += sizes.get(group.id, 0)
        if kept and listed > budget:
            break
        kept.append(group)
    return kept


def render(group: Group, outcome: Outcome, status: int = 200) -> ScimResponse:
    """One group as a SCIM response, with Location and ETag, and what was done."""
    # Pending changes (new members) give the row a new version: store them first.
    db.session.flush()
    members = members_of([group.id])[group.id] if wants_members() else None
    body = projected(to_scim_group(group, scim_base_url(), members), GROUP_SCHEMA)
    headers = {"ETag": etag(group)}
    if status == 201:
        headers["Location"] = f"{scim_base_url()}/Groups/{group.id}"
    return scim_response(body, status, headers, outcome)


def load_group(group_id: str) -> Group:
    """A group of the key's organization; any other id is 404."""
    return load_resource(Group, group_id, "Group")


def resolve(ids: list[str]) -> list[int]:
    """Member values → user ids of this organization, or 400 naming the bad one."""
    try:
        return groups.resolve_member_ids(g.org_id, ids)
    except AccountError as exc:
        raise bad_request(str(exc)) from exc


def rename(group: Group, display_name: str) -> dict[str, list[object]]:
    """Rename, turning a taken name into 409 uniqueness."""
    try:
        return groups.rename_group(group, display_name)
    except Conflict as exc:
        raise ScimError(409, str(exc), "uniqueness") from exc


def membership_changes(added: list[int], removed: list[int]) -> dict[str, list[object]]:
    """The activity-log form of a membership change."""
    changes: dict[str, list[object]] = {}
    if added:
        changes["members added"] = [None, added[:100]]
    if removed:
        changes["members removed"] = [removed[:100], None]
    return changes


def list_groups() -> ScimResponse:
    """List groups, with filter, sorting and paging."""
    page = list_page(
        db.select(Group).where(Group.organization_id == g.org_id),
        Group.id,
        FIELDS,
        SCHEMAS,
    )
    groups = page.rows
    members: dict[int, list[int]] = {}
    if wants_members() and groups:
        groups = within_member_budget(groups)
        members = members_of([group.id for group in groups])
    base = scim_base_url()
    resources = [
        projected(to_scim_group(group, base, members.get(group.id)), GROUP_SCHEMA)
        for group in groups
    ]
    return scim_response(list_response(resources, page.total, page.start_index))


def create_group() -> ScimResponse:
    """Create a group (or adopt a same-named group that SCIM does not manage yet)."""
    data = parse_group(read_json())
    with on_failure(Outcome("Group", None, data.display_name)):
        user_ids = resolve(data.member_ids or [])
        group, adopted = create(data)
    if adopted:
        added, removed = groups.set_group_members(group, user_ids)
    else:
        added, removed = groups.add_group_members(group, user_ids), []
    changes = {
        "displayName": [None, group.display_name],
        **membership_changes(added, removed),
    }
    if adopted:
        changes["adopted"] = [None, True]
    return render(group, Outcome("Group", group.id, group.display_name, changes), 201)


def create(data: GroupInput) -> tuple[Group, bool]:
    """Create (or adopt) the group a POST body names: (group, adopted)."""
    try:
        group, adopted = groups.scim_create_group(
            g.org_id, data.display_name, data.external_id
        )
    except Conflict as exc:
        raise ScimError(409, str(exc), "uniqueness") from exc
    flush_or_conflict(CONFLICT)
    return group, adopted


def get_group(group_id: str) -> ScimResponse:
    """Read one group."""
    group = load_group(group_id)
    return render(group, Outcome("Group", group.id, group.display_name))


def replace_group(group_id: str) -> ScimResponse:
    """Replace a group: name, externalId and (when sent) the whole member list."""
    group = load_group(group_id)
    check_if_match(group)
    data = parse_group(read_json())
    changes = rename(group, data.display_name)
    if "externalId" in data.sent and data.external_id != group.external_id:
        changes["externalId"] = [group.external_id, data.external_id]
        group.external_id = data.external_id
    if data.member_ids is not None:
        added, removed = groups.set_group_members(group, resolve(data.member_ids))
        changes.update(membership_changes(added, removed))
    group.scim_managed = True
    flush_or_conflict(CONFLICT)
    return render(group, Outcome("Group", group.id, group.display_name, changes))


def _ids_in_filter(node: tuple) -> list[str]:
    """Member ids selected by `members[value eq "1" or value eq "2"]`."""
    if node[0] == "or":
        return _ids_in_filter(node[1]) + _ids_in_filter(node[2])
    if node[0] == "cmp" and node[1].lower() == "value" and node[2] == "eq":
        return [str(node[3])]
    raise bad_request('Select members with value eq "<id>".', "invalidFilter")


def _member_step(operation: Operation) -> tuple[str, list[str] | None]:
    """One operation on `members` as a step: (op, member values, or None for all)."""
    path = operation.path
    if path is not None and path.value_filter is not None:
        if operation.op != "remove":
            raise bad_request(
                "Only remove may select members with a filter.", "invalidPath"
            )
        return "remove", _ids_in_filter(path.value_filter)
    value = operation.value
    if operation.op == "remove" and value is None:
        return "remove", None
    return operation.op, member_ids(value if isinstance(value, list) else [value])


def _split_operations(
    operations: list[Operation],
) -> tuple[list[tuple[str, list[str] | None]], list[Operation]]:
    """Membership steps (in order) and the operations on anything else."""
    steps: list[tuple[str, list[str] | None]] = []
    others: list[Operation] = []
    for operation in operations:
        path = operation.path
        if path is not None and path.attribute.lower() == "members":
            steps.append(_member_step(operation))
        elif path is None and any(key.lower() == "members" for key in operation.value):
            rest = {}
            for key, value in operation.value.items():
                if key.lower() == "members":
                    steps.append(_member_step(Operation(operation.op, None, value)))
                else:
                    rest[key] = value
            if rest:
                others.append(Operation(operation.op, None, rest))
        else:
            others.append(operation)
    return steps, others


def _apply_membership(
    group: Group, steps: list[tuple[str, list[str] | None]]
) -> dict[str, list[object]]:
    """Resolve every member value once, then change the membership set-wise."""
    resolve([value for _, values in steps for value in values or ()])
    # resolve() refused any value that is not a row id of this organization.
    changed = groups.change_group_members(
        group,
        [
            (op, None if values is None else [parse_row_id(v) or 0 for v in values])
            for op, values in steps
        ],
    )
    return membership_changes(*changed)


def _apply_attributes(group: Group, others: list[Operation]) -> dict[str, list[object]]:
    """Rename and set externalId through the same checks as POST and PUT."""
    current = {"displayName": group.display_name, "externalId": group.external_id}
    patched = apply_operations(
        current, others, attributes=("displayName", "externalId"), schemas=SCHEMAS
    )
    checked = parse_group(
        {
            "schemas": [GROUP_SCHEMA],
            "displayName": patched.get("displayName"),
            "externalId": patched.get("externalId"),
        }
    )
    changes = rename(group, checked.display_name)
    if checked.external_id != group.external_id:
        changes["externalId"] = [group.external_id, checked.external_id]
        group.external_id = checked.external_id
    return changes


def patch_group(group_id: str) -> ScimResponse:
    """Patch a group: add/remove/replace members, rename, externalId."""
    group = load_group(group_id)
    check_if_match(group)
    steps, others = _split_operations(parse_operations(read_json(), SCHEMAS))
    changes = _apply_membership(group, steps) if steps else {}
    if others:
        changes.update(_apply_attributes(group, others))
    group.scim_managed = True
    flush_or_conflict(CONFLICT)
    outcome = Outcome("Group", group.id, group.display_name, changes)
    if request.args.get("attributes"):
        return render(group, outcome)
    return no_content(outcome)


def delete_group(group_id: str) -> ScimResponse:
    """Delete a group (its members stay)."""
    group = load_group(group_id)
    check_if_match(group)
    outcome = Outcome("Group", group.id, group.display_name, {"deleted": [False, True]})
    db.session.delete(group)
    db.session.flush()
    return no_content(outcome)
