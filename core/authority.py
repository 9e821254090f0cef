"""Who may do what to whom: the one place that decides, for pages, CLI and SCIM.

Every change to a member goes through `check` (or `refusal`, which says why not
without raising). The actor is a signed-in person, an API key acting with a
role, or the server administrator at the command line. The rules:

- A member manages nobody; owners and admins manage their organization.
- Only an owner may change, deactivate or delete an owner, make someone an
  owner, change an admin's or owner's email, userName or externalId (what an
  Okta sign-in is matched on, so changing them is a way into the account), or
  remove an admin's Okta link. Only an owner changes the Okta connection.
- Nobody changes their own role or status (ask another admin).
- No change may leave an organization without an active owner, whoever asks;
  the command line may still *make* an owner when none is left.
- A key never has more power than its holder: a personal key acts as its holder
  with their role and status at each request; an organization key acts with the
  role chosen at its creation, never above its creator's. Only owners and
  admins may hold the `scim` scope.
- Nothing crosses the tenant wall: an actor of one organization cannot touch
  another's accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.extensions import db
from core.models import ApiKey
from core.models import Organization
from core.models import User

RANK = {"member": 1, "admin": 2, "owner": 3}
KEY_ROLES = ("admin", "owner")
# Fields an Okta sign-in is matched on (the externalId holds the Okta user id):
# changing them on an admin or owner needs an owner's authority.
IDENTIFYING_FIELDS = frozenset({"email", "user_name", "external_id"})
# An externalId set where there was none (Okta creating or adopting the
# account): a profile change, but not a change of identity.
FIRST_EXTERNAL_ID = "external_id_first_set"

Action = Literal[
    "add_member",
    "change_role",
    "set_status",
    "delete",
    "edit_profile",
    "remove_identity",
    "unlock",
    "send_link",
]


class AccountError(ValueError):
    """A request to change accounts that breaks a rule; the message says which."""


class Conflict(AccountError):
    """The change would give two accounts (or groups) the same unique value."""


class NotAllowed(AccountError):
    """The actor lacks the authority for this change (HTTP 403)."""


class NoOwnerLeft(AccountError):
    """The change would leave the organization without an active owner (HTTP 409)."""


@dataclass(frozen=True)
class Actor:
    """Who is acting, with the role they act with right now.

    kind: "user" (signed in), "key" (an API key), "cli" (the server administrator).
    `user_id` is the person (the holder, for a personal key); `organization_id`
    is None only for the command line, which may act in any organization.
    """

    kind: Literal["user", "key", "cli"]
    role: str
    organization_id: int | None
    user_id: int | None = None
    label: str = ""
    # For an organization key: who made it. It keeps working when they leave,
    # but never lifts them back up (reactivate) on their behalf.
    creator_id: int | None = None

    @classmethod
    def of_user(cls, user: User) -> Actor:
        """A signed-in person, with their role as it is now."""
        return cls("user", user.role, user.organization_id, user.id, user.email)

    @classmethod
    def of(cls, actor: Actor | User) -> Actor:
        """`actor` itself, or a signed-in person as `of_user` sees them."""
        return actor if isinstance(actor, Actor) else cls.of_user(actor)

    @classmethod
    def command_line(cls) -> Actor:
        """The server administrator at the `flask` command line."""
        return cls("cli", "server", None, None, "cli")

    @property
    def is_server(self) -> bool:
        """The command line: above every organization role."""
        return self.kind == "cli"

    def at_least(self, role: str) -> bool:
        """Whether the actor acts with `role` or a higher one."""
        return self.is_server or RANK.get(self.role, 0) >= RANK[role]


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


def _active_owners_besides(user: User) -> int:
    """Active owners other than `user`, counted under the organization's lock.

    Two requests removing two owners at once must not both see the other one:
    a no-op UPDATE of the organization row takes the row lock on PostgreSQL and
    the write lock on SQLite (whose next read then sees every commit), so the
    second request counts after the first has committed. The caller's
    transaction holds the lock until it commits or rolls back.
    """
    db.session.execute(
        db.update(Organization)
        .where(Organization.id == user.organization_id)
        .values(plan=Organization.plan)
    )
    return db.session.execute(
        db.select(db.func.count())
        .select_from(User)
        .where(
            User.organization_id == user.organization_id,
            User.role == "owner",
            User.status == "active",
            User.id != user.id,
        )
    ).scalar_one()


def refusal(
    actor: Actor,
    action: Action,
    target: User | None = None,
    *,
    role: str | None = None,
    status: str | None = None,
    fields: frozenset[str] | set[str] = frozenset(),
) -> AccountError | None:
    """Why `actor` may not do `action` to `target`, as an exception; None if allowed.

    `role` is the role asked for (add_member, change_role), `status` the status
    (set_status), `fields` the profile fields a change touches (edit_profile).
    """
    org_id = target.organization_id if target is not None else actor.organization_id
    if not actor.is_server and actor.organization_id != org_id:
        return NotAllowed("That person is not in your organization.")
    if not actor.at_least("admin"):
        return NotAllowed("Only owners and admins can manage members.")
    if action == "add_member":
        if role == "owner" and not actor.at_least("owner"):
            return NotAllowed("Only an owner can add another owner.")
        return None
    assert target is not None
    is_self = actor.user_id is not None and actor.user_id == target.id
    if is_self and action in ("change_role", "set_status", "delete"):
        return NotAllowed("You cannot change your own role or status.")
    if (
        actor.creator_id is not None
        and actor.creator_id == target.id
        and action in ("change_role", "set_status")
        and (action == "change_role" or status == "active")
    ):
        return NotAllowed(
            "This organization key was made by the person it would reactivate or "
            "promote; another owner or admin must do that."
        )
    if action == "send_link":
        return None  # the email goes to the member's own address
    if target.role == "owner" and not actor.at_least("owner"):
        return NotAllowed(_owner_needed(actor, "change an owner"))
    if (
        action == "remove_identity"
        and target.role == "admin"
        and not actor.at_least("owner")
        and not is_self
    ):
        # Without its identity an Okta-made admin account links by email again.
        return NotAllowed(_owner_needed(actor, "remove an admin's Okta link"))
    if action == "change_role" and role == "owner" and not actor.at_least("owner"):
        return NotAllowed(_owner_needed(actor, "make someone an owner"))
    if (
        action == "edit_profile"
        and target.role in ("admin", "owner")
        and fields & IDENTIFYING_FIELDS
        and not actor.at_least("owner")
    ):
        return NotAllowed(
            _owner_needed(actor, f"change the email or userName of an {target.role}")
        )
    leaves_owners = target.role == "owner" and target.is_active
    if leaves_owners and (
        action == "delete"
        or (action == "set_status" and status == "inactive")
        or (action == "change_role" and role != "owner")
    ):
        if _active_owners_besides(target) == 0:
            return NoOwnerLeft(
                f"{target.email} is the organization's only active owner; make "
                "someone else an owner first, so that the organization always has one."
            )
    return None


def _owner_needed(actor: Actor, what: str) -> str:
    if actor.kind == "key":
        return (
            f"This API key acts as {actor.role}; only an owner-level key can {what}. "
            "An owner can create an organization key that acts as owner."
        )
    return f"Only an owner can {what}."


def check(
    actor: Actor,
    action: Action,
    target: User | None = None,
    *,
    role: str | None = None,
    status: str | None = None,
    fields: frozenset[str] | set[str] = frozenset(),
) -> None:
    """Raise the reason `actor` may not do `action` to `target`, if any.

    :raise NotAllowed: when the actor lacks the authority.
    :raise NoOwnerLeft: when the change would leave no active owner.
    """
    problem = refusal(actor, action, target, role=role, status=status, fields=fields)
    if problem is not None:
        raise problem


def sso_settings_problem(actor: Actor) -> str | None:
    """Why `actor` may not change the organization's Okta connection, or None.

    Owners only (and the command line): the identity provider decides who signs
    in as whom, owners included, so an admin who could point it at a provider
    of their own could sign in as an owner.
    """
    if actor.at_least("owner"):
        return None
    return (
        "Only an owner can change the Okta connection: the identity provider decides "
        "who signs in as whom, owners included."
    )


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
