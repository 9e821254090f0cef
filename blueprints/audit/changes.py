"""SCIM changes ({field: [before, after]}) said about people.

The audit log (`scim.*` events' `changes` detail) and the provisioning activity
(`ScimRequest.changes`) store the same shape; both pages read it through here.
Group memberships are stored as member ids: `member_ids` collects them from a
page's rows so one query can turn them into emails.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from blueprints.audit.labels import field_words
from blueprints.audit.labels import value_words

ADDED = "members added"
REMOVED = "members removed"

# Flags Okta sets on an account: [before, after] -> the sentence.
FLAG_WORDS: dict[tuple[str, object], str] = {
    ("active", False): "Deactivated by Okta",
    ("active", True): "Reactivated by Okta",
    ("deleted", True): "Deleted by Okta",
    ("scim_managed", True): "Now managed by Okta (SCIM)",
    ("scim_managed", False): "No longer managed by Okta (SCIM)",
    ("adopted", True): "Existing account taken over by Okta",
    ("email_primary", True): "Email marked primary",
    ("email_primary", False): "Email no longer primary",
}
# What goes without saying when an account is created ([None, after]).
OBVIOUS_AT_CREATION = {("active", True), ("email_primary", True)}


def member_ids(changes: Mapping[str, Any] | None) -> set[int]:
    """The member ids a membership change names."""
    found: set[int] = set()
    for field in (ADDED, REMOVED):
        pair = (changes or {}).get(field)
        if not isinstance(pair, list) or len(pair) != 2:
            continue
        for side in pair:
            for value in side if isinstance(side, list) else ():
                if isinstance(value, int) and not isinstance(value, bool):
                    found.add(value)
    return found


def change_lines(
    changes: Mapping[str, Any] | None, *, group: str, members: Mapping[int, str]
) -> list[str]:
    """One sentence per change: "+ dana@acme.test to Engineering", "Role: a → b".

    `group` names the group a membership change is about; `members` maps member
    ids to emails (an id missing from it is a member since deleted).
    """
    lines: list[str] = []
    for field, pair in (changes or {}).items():
        if not isinstance(pair, list) or len(pair) != 2:
            lines.append(f"{field_words(str(field))}: {value_words(pair)}")
            continue
        before, after = pair
        if field == ADDED:
            lines += [f"+ {who(i, members)} to {group}" for i in _ids(after)]
        elif field == REMOVED:
            lines += [f"− {who(i, members)} from {group}" for i in _ids(before)]
        elif before is None and (field, after) in OBVIOUS_AT_CREATION:
            continue
        elif field == "active" and before is None:
            lines.append("Created deactivated")
        elif (field, after) in FLAG_WORDS:
            lines.append(FLAG_WORDS[(field, after)])
        else:
            lines.append(value_change(str(field), before, after))
    return lines


def value_change(field: str, before: object, after: object) -> str:
    """ "First name set to Ann", "Email: a@x → b@x", "Okta ID cleared"."""
    name = field_words(field)
    if before in (None, ""):
        return f"{name} set to {value_words(after)}"
    if after in (None, ""):
        return f"{name} cleared (was {value_words(before)})"
    return f"{name}: {value_words(before)} → {value_words(after)}"


def who(member_id: int, members: Mapping[int, str]) -> str:
    """The member's email, or words for a member who no longer exists."""
    return members.get(member_id) or f"a deleted member (#{member_id})"


def _ids(side: object) -> Iterable[int]:
    if not isinstance(side, list):
        return ()
    return [v for v in side if isinstance(v, int) and not isinstance(v, bool)]
