"""What an API key may do: the role it acts with now, who may create which key,
and what an admin should know about a live key.

A key never has more power than its holder: a personal key acts as its holder,
with their role and status at each request; an organization key acts with the
role chosen at its creation, never above its creator's. Why a key is refused
when it is used is `core.security.key_problem`, which asks `key_role`.
"""

from __future__ import annotations

from core.authority import RANK
from core.authority import Actor
from core.extensions import db
from core.models import ApiKey
from core.models import User

KEY_ROLES = ("admin", "owner")


def key_role(
    *, personal: bool, holder_role: str | None, holder_active: bool, org_key_role: str
) -> str | None:
    """The role a key acts with at this request, or None when it has none.

    A personal key is its holder, as they are now; an organization key has the
    role chosen when it was made.
    """
    if personal:
        return holder_role if holder_active else None
    return org_key_role if org_key_role in KEY_ROLES else None


def key_creation_problem(
    actor: Actor, *, scopes: list[str], personal: bool, role: str | None
) -> str | None:
    """Why `actor` may not create this key, or None.

    Only owners and admins hold the `scim` scope or create organization keys;
    an organization key acts as admin or owner, never above its creator.
    """
    if "scim" in scopes and not actor.at_least("admin"):
        return "Only owners and admins can create keys with the scim scope."
    if personal:
        return None
    if not actor.at_least("admin"):
        return "Only owners and admins can create organization keys."
    if role not in KEY_ROLES:
        return "Choose whether the organization key acts as admin or owner."
    if not actor.at_least(role):
        return "An organization key cannot act with a higher role than yours."
    return None


def key_warning(key: ApiKey) -> str | None:
    """What an admin should know about a live key's authority, or None.

    Personal keys stop when their holder is deactivated or no longer an owner
    or admin (for scim); organization keys keep working when their creator
    leaves, so the pages warn about them instead.
    """
    if key.revoked_at is not None:
        return None
    if key.user is not None:
        if not key.user.is_active:
            return "Stopped working: its holder is deactivated."
        if "scim" in key.scope_list and key.user.role not in KEY_ROLES:
            return (
                f"Stopped working: {key.user.email} is a member, and only owners "
                "and admins may use the scim scope."
            )
        return None
    creator = db.session.get(User, key.created_by_id) if key.created_by_id else None
    if creator is None:
        if key.created_by_label in ("", "command line"):
            return None
        return (
            f"Made by {key.created_by_label}, who is no longer a member. It keeps "
            "working; revoke it if it should not."
        )
    if not creator.is_active or creator.role not in KEY_ROLES:
        return (
            f"Made by {creator.email}, who is no longer an active owner or admin. "
            "It keeps working; revoke it if it should not."
        )
    if RANK.get(key.role or "", 0) > RANK[creator.role]:
        return (
            f"Acts as {key.role}, but {creator.email} is now {creator.role}. It "
            "keeps working; revoke it if it should not."
        )
    return None
