"""`flask org`: create organizations, change their plan, list them."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from core.authority import AccountError
from core.commands.common import fail
from core.commands.common import organization_named
from core.models import PLANS
from core.provisioning import organizations

org_cli = AppGroup("org", help="Create organizations and change their plan.")


@org_cli.command("create")
@click.argument("name")
@click.option("--owner-email", required=True, help="Email of the first owner.")
@click.option("--owner-password", required=True, help="Password of the first owner.")
@click.option(
    "--owner-given-name",
    default="",
    help="Given (first) name of the first owner, e.g. Ann.",
)
@click.option(
    "--owner-family-name",
    default="",
    help="Family (last) name of the first owner, e.g. Example. Without names, "
    "SCIM shows the owner's name as the email's local part.",
)
@click.option(
    "--plan", type=click.Choice(PLANS), default="free", show_default=True, help="Plan."
)
def org_create(
    name: str,
    owner_email: str,
    owner_password: str,
    owner_given_name: str,
    owner_family_name: str,
    plan: str,
) -> None:
    """Create an organization and its owner."""
    try:
        org, owner = organizations.create_organization(
            name,
            owner_email=owner_email,
            owner_password=owner_password,
            plan=plan,
            owner_given_name=owner_given_name,
            owner_family_name=owner_family_name,
            actor="cli",
        )
    except AccountError as exc:
        fail(str(exc))
    who = owner.email
    if owner.full_name != owner.email:
        who = f"{owner.full_name} <{owner.email}>"
    click.echo(f"Created organization {org.name!r} ({org.plan}) with owner {who}.")


@org_cli.command("set-plan")
@click.argument("name")
@click.argument("plan", type=click.Choice(PLANS))
def org_set_plan(name: str, plan: str) -> None:
    """Change an organization's plan (free, pro or enterprise)."""
    org = organization_named(name)
    previous = organizations.set_plan(org, plan, actor="cli")
    click.echo(f"Organization {org.name!r}: plan {previous} -> {plan}.")


@org_cli.command("list")
def org_list() -> None:
    """List organizations with their plan and number of members."""
    for name, plan, members in organizations.organization_summaries():
        click.echo(f"{name}\t{plan}\t{members} members")
