"""`flask apikey`: create organization API keys."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from core.authority import AccountError
from core.commands.common import fail
from core.commands.common import organization_named
from core.key_authority import KEY_ROLES
from core.provisioning import api_keys
from core.security import SCOPES

apikey_cli = AppGroup("apikey", help="Create API keys.")


@apikey_cli.command("create")
@click.option("--org", "org_name", required=True, help="Organization name.")
@click.option(
    "--scope",
    "scopes",
    type=click.Choice(SCOPES),
    multiple=True,
    required=True,
    help="Scope the key carries (repeatable).",
)
@click.option(
    "--name", default="CLI key", show_default=True, help="A label for the key."
)
@click.option(
    "--role",
    type=click.Choice(KEY_ROLES),
    default="admin",
    show_default=True,
    help="Role the key acts with: admin keys cannot change owners.",
)
def apikey_create(org_name: str, scopes: tuple[str, ...], name: str, role: str) -> None:
    """Create an organization API key; its secret is the last line of output."""
    org = organization_named(org_name)
    try:
        key, secret = api_keys.create_api_key(
            org, name=name, scopes=list(scopes), actor="cli", role=role
        )
    except AccountError as exc:
        fail(str(exc))
    click.echo(
        f"Created API key {key.name!r} ({key.prefix}…) for {org.name!r},"
        f" scopes: {key.scopes}, acts as {key.role}."
    )
    click.echo("This secret is shown once; store it now:")
    click.echo(secret)
