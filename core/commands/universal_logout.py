"""`flask sso universal-logout`: accept Okta Universal Logout, or stop."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from core.authority import Actor
from core.commands.common import fail
from core.commands.common import organization_named
from core.universal_logout_settings import Change
from core.universal_logout_settings import UniversalLogoutInvalid
from core.universal_logout_settings import update


@click.command("universal-logout")
@with_appcontext
@click.option("--org", "org_name", required=True, help="Organization name.")
@click.option(
    "--on/--off",
    "enabled",
    required=True,
    help="Accept Universal Logout from Okta, or stop.",
)
@click.option(
    "--okta-url",
    default=None,
    help="SAML organizations: your Okta address, https://{org}.okta.com.",
)
@click.option(
    "--app-id", default=None, help="SAML organizations: the Okta app's instance id."
)
@click.option(
    "--revoke-personal-keys/--keep-personal-keys",
    "revoke_keys",
    default=None,
    help="Whether Universal Logout also revokes the person's personal API keys.",
)
def universal_logout_command(
    org_name: str,
    enabled: bool,
    okta_url: str | None,
    app_id: str | None,
    revoke_keys: bool | None,
) -> None:
    """Switch Okta Universal Logout on or off for an organization."""
    org = organization_named(org_name)
    change = Change(
        enabled=enabled,
        revoke_personal_keys=revoke_keys,
        okta_url=okta_url,
        app_id=app_id,
    )
    try:
        update(org, change, Actor.command_line())
    except UniversalLogoutInvalid as exc:
        fail(" ".join(exc.errors.values()))
    state = "on" if enabled else "off"
    click.echo(f"Universal Logout is {state} for {org.name!r}.")
