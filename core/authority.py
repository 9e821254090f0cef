"""Who may do what to whom: the one place that decides, for pages, CLI and SCIM.

Every change to a member goes through `check` (or `refusal`, which says why not
without raising). The actor is a signed-in person, an API key acting with a
role, or the server administrator at the command line. The rules:

- A member manages nobody; owners and admins manage their organization (and
  may test Okta sign-in: `sso_test_problem`).
- Only an owner may change, deactivate or delete an owner, make someone an
  owner, change an admin's or owner's email, userName or externalId (what an
  Okta sign-in is matched on, so changing them is a way into the account),
  remove an admin's Okta link, or unlock an admin's password sign-in. Only an
  owner changes the Okta connection.
- Nobody unlinks their own last way in (the last Okta link of an account
  whose password cannot sign in: none, or refused while Okta is required or
  after an Okta Universal Logout); another admin or the command line may.
- Nobody changes their own role or status (ask another admin).
- No change may leave an organization without an active owner, whoever asks;
  the command line may still *make* an owner when none is left.
- A key never has more power than its holder: a personal key acts as its holder
  with their role and status at each request; an organization key acts with the
  role chosen at its creation, never above its creator's. Only owners and
  admins may hold the `scim` scope (those rules: core.key_authority).
- Nothing crosses the tenant wall: an actor of one organization cannot touch
  another's accounts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from core.extensions import db
from core.models import Organization
from core.models import User

RANK = {"member": 1, "admin": 2, "owner": 3}
# Fields an Okta sign-in is matched on (the externalId holds the Okta user id):
# changing them on an admin or owner needs an owner's authority.
IDENTIFYING_FIELDS = frozenset({"email", "user_name", "external_id"})
# An externalId set where there was none (Okta creating or adopting the
# account): a profile change, but not a change of identity.
FIRST_EXTERNAL_ID = "external_id_first_set"
# Unlinking an identity that leaves its person without a password that signs in
# and without an identity at the organization's current Okta: their last way in.
LAST_WAY_IN = "last_way_in"

Action = Literal[
    "add_member",
    "change_role",
    "set_status",
    "delete",
    "edit_profile",
    "remove_identity",
    "unlock",
    "send_link",
    "send_invitation",
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


@dataclass(frozen=True)
class Ask:
    """One question to `refusal`: may `actor` do `action` to `target`?"""

    actor: Actor
    action: Action
    target: User | None
    role: str | None
    status: str | None
    fields: frozenset[str] | set[str]

    @property
    def person(self) -> User:
        """The target (every action but add_member has one)."""
        assert self.target is not None
        return self.target

    @property
    def organization_id(self) -> int | None:
        """The organization acted in: the target's, or the actor's own."""
        return (
            self.person.organization_id if self.target else self.actor.organization_id
        )

    @property
    def is_self(self) -> bool:
        """Whether the actor acts on their own account."""
        return self.actor.user_id is not None and self.actor.user_id == self.person.id

    @property
    def by_owner(self) -> bool:
        """Whether the actor acts with an owner's authority (or the server's)."""
        return self.actor.at_least("owner")


@dataclass(frozen=True)
class Rule:
    """A row of RULES: for `actions` (None: all), when `applies`, the answer is
    `outcome` (None: allowed) with `message`, formatted with the Ask; an
    `owner_level` message is what only an owner (or owner-level key) may do."""

    actions: frozenset[str] | None
    applies: Callable[[Ask], bool]
    outcome: type[AccountError] | None
    message: str = ""
    owner_level: bool = False


def _removes_last_active_owner(ask: Ask) -> bool:
    """The change takes an active owner away, and no other active owner is left."""
    target = ask.person
    takes_away = (
        ask.action == "delete"
        or (ask.action == "set_status" and ask.status == "inactive")
        or (ask.action == "change_role" and ask.role != "owner")
    )
    return (
        target.role == "owner"
        and target.is_active
        and takes_away
        and _active_owners_besides(target) == 0
    )


# The rules in the order they are asked; the first that applies answers.
RULES = (
    Rule(
        None,
        lambda ask: (
            not ask.actor.is_server and ask.actor.organization_id != ask.organization_id
        ),
        NotAllowed,
        "That person is not in your organization.",
    ),
    Rule(
        None,
        lambda ask: not ask.actor.at_least("admin"),
        NotAllowed,
        "Only owners and admins can manage members.",
    ),
    Rule(
        frozenset({"add_member"}),
        lambda ask: ask.role == "owner" and not ask.by_owner,
        NotAllowed,
        "Only an owner can add another owner.",
    ),
    Rule(frozenset({"add_member"}), lambda ask: True, None),
    Rule(
        frozenset({"change_role", "set_status", "delete"}),
        lambda ask: ask.is_self,
        NotAllowed,
        "You cannot change your own role or status.",
    ),
    Rule(
        frozenset({"change_role", "set_status"}),
        lambda ask: (
            ask.actor.creator_id is not None
            and ask.actor.creator_id == ask.person.id
            and (ask.action == "change_role" or ask.status == "active")
        ),
        NotAllowed,
        "This organization key was made by the person it would reactivate or "
        "promote; another owner or admin must do that.",
    ),
    # The email goes to the member's own address.
    Rule(frozenset({"send_link", "send_invitation"}), lambda ask: True, None),
    Rule(
        None,
        lambda ask: ask.person.role == "owner" and not ask.by_owner,
        NotAllowed,
        "change an owner",
        owner_level=True,
    ),
    # Nobody locks themselves out (the command line or another admin may).
    Rule(
        frozenset({"remove_identity"}),
        lambda ask: ask.is_self and LAST_WAY_IN in ask.fields,
        NotAllowed,
        "This Okta link is your only way to sign in (you have no password, or "
        "it cannot sign you in now): set a password first if Okta sign-in is not "
        "required, or ask another owner or admin to unlink it.",
    ),
    # Without its identity an Okta-made admin account links by email again.
    Rule(
        frozenset({"remove_identity"}),
        lambda ask: ask.person.role == "admin" and not ask.by_owner and not ask.is_self,
        NotAllowed,
        "remove an admin's Okta link",
        owner_level=True,
    ),
    # Lifting an admin's lockout lets their password be guessed again.
    Rule(
        frozenset({"unlock"}),
        lambda ask: ask.person.role == "admin" and not ask.by_owner and not ask.is_self,
        NotAllowed,
        "unlock an admin's password sign-in",
        owner_level=True,
    ),
    Rule(
        frozenset({"change_role"}),
        lambda ask: ask.role == "owner" and not ask.by_owner,
        NotAllowed,
        "make someone an owner",
        owner_level=True,
    ),
    Rule(
        frozenset({"edit_profile"}),
        lambda ask: (
            ask.person.role in ("admin", "owner")
            and bool(ask.fields & IDENTIFYING_FIELDS)
            and not ask.by_owner
        ),
        NotAllowed,
        "change the email or userName of an {ask.person.role}",
        owner_level=True,
    ),
    Rule(
        frozenset({"delete", "set_status", "change_role"}),
        _removes_last_active_owner,
        NoOwnerLeft,
        "{ask.person.email} is the organization's only active owner; make someone "
        "else an owner first, so that the organization always has one.",
    ),
)


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
    The answer is the first of RULES that applies.
    """
    ask = Ask(actor, action, target, role, status, fields)
    for rule in RULES:
        if rule.actions is not None and action not in rule.actions:
            continue
        if not rule.applies(ask):
            continue
        if rule.outcome is None:
            return None
        message = rule.message.format(ask=ask)
        if rule.owner_level:
            message = _owner_needed(actor, message)
        return rule.outcome(message)
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
