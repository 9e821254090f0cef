"""`flask member`: recover members (role, password lockout, Okta links)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from core.authority import AccountError
from core.authority import Actor
from core.commands.common import fail
from core.commands.common import organization_named
from core.models import ROLES
from core.models import User
from core.provisioning import identities
from core.provisioning import users

member_cli = AppGroup(
    "member", help="Recover members: set a role, unlock password sign-in, unlink Okta."
)


def _member(org_name: str, email: str) -> User:
    """The member `email` of `org_name`; else fail saying which is wrong."""
    org = organization_named(org_name)
    user = users.find_user_by_email(org, email)
    if user is None:
        fail(f"{org.name!r} has no member {email!r}.")
    return user


@member_cli.command("set-role")
@click.option("--org", "org_name", required=True, help="Organization name.")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
def member_set_role(org_name: str, email: str, role: str) -> None:
    """Give a member a role; works when the organization has no owner left.

    The one refusal: taking away the last active owner's role.
    """
    user = _member(org_name, email)
    before = user.role
    try:
        users.change_role(Actor.command_line(), user, role)
    except AccountError as exc:
        fail(str(exc))
    click.echo(f"{user.email} of {user.organization.name!r}: {before} -> {user.role}.")


@member_cli.command("unlock")
@click.option("--org", "org_name", required=True, help="Organization name.")
@click.argument("email")
def member_unlock(org_name: str, email: str) -> None:
    """Clear a member's password sign-in lockout (too many failed attempts)."""
    user = _member(org_name, email)
    cleared = users.unlock(Actor.command_line(), user)
    click.echo(
        f"Unlocked password sign-in for {user.email} ({cleared} failed attempts "
        "forgotten)."
    )


@member_cli.command("unlink")
@click.option("--org", "org_name", required=True, help="Organization name.")
@click.argument("email")
def member_unlink(org_name: str, email: str) -> None:
    """Remove every Okta link of a member (their next Okta sign-in needs proof)."""
    user = _member(org_name, email)
    removed = identities.remove_all_identities(Actor.command_line(), user)
    click.echo(f"Removed {removed} Okta link(s) of {user.email}.")
