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
# The name of a key made without --name ("CLI key (2)" when that is taken), so
# a script that makes a key at each run keeps working.
DEFAULT_NAME = "CLI key"


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
    "--name",
    default=None,
    help=(
        "A name for the key, unique among the organization's live keys"
        f" (case-insensitive). Default: {DEFAULT_NAME!r}, numbered when taken."
    ),
)
@click.option(
    "--role",
    type=click.Choice(KEY_ROLES),
    default="admin",
    show_default=True,
    help="Role the key acts with: admin keys cannot change owners.",
)
def apikey_create(
    org_name: str, scopes: tuple[str, ...], name: str | None, role: str
) -> None:
    """Create an organization API key; its secret is the last line of output."""
    org = organization_named(org_name)
    if name is None:
        name = api_keys.unused_org_key_name(org, DEFAULT_NAME)
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
