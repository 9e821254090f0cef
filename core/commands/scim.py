"""`flask scim`: switch SCIM provisioning on or off."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from core.commands.common import fail
from core.commands.common import organization_named
from core.provisioning import organizations

scim_cli = AppGroup("scim", help="SCIM provisioning from Okta.")


@scim_cli.command("sync")
@click.option("--org", "org_name", required=True, help="Organization name.")
@click.option(
    "--on/--off", "enabled", required=True, help="Switch SCIM sync on or off."
)
def scim_sync(org_name: str, enabled: bool) -> None:
    """Switch "sync users and groups from your SSO provider" (SCIM) on or off."""
    org = organization_named(org_name)
    if enabled and not org.has_paid_plan:
        fail(
            f"{org.name!r} is on the Free plan; SCIM needs Pro or Enterprise "
            f"(flask org set-plan {org.name!r} pro)."
        )
    organizations.set_scim_sync(org, enabled, actor="cli")
    state = "on" if enabled else "off"
    click.echo(f"SCIM sync is {state} for {org.name!r}.")
