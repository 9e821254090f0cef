"""`flask sso`: configure, refresh and switch off Okta single sign-on."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from core.commands.common import fail
from core.commands.common import organization_named
from core.models import Organization
from core.okta import OktaError
from core.saml_metadata import certificate_facts
from core.sso import SSO_ROLES
from core.sso import configure_oidc
from core.sso import configure_saml
from core.sso import disable_sso
from core.sso import refresh_saml_metadata
from core.sso import release_saml_app
from core.urls import public_base_url

sso_cli = AppGroup("sso", help="Okta single sign-on.")

default_role_option = click.option(
    "--default-role",
    type=click.Choice(SSO_ROLES),
    default="member",
    show_default=True,
    help="Role of people Okta creates.",
)


@sso_cli.command("set-oidc")
@click.option("--org", "org_name", required=True, help="Organization name.")
@click.option("--client-id", required=True, help="Client ID of the Okta app.")
@click.option("--client-secret", required=True, help="Client secret of the Okta app.")
@click.option(
    "--metadata-url",
    required=True,
    help="https://{your-org}.okta.com/.well-known/openid-configuration",
)
@default_role_option
def sso_set_oidc(
    org_name: str,
    client_id: str,
    client_secret: str,
    metadata_url: str,
    default_role: str,
) -> None:
    """Configure Okta sign-in over OIDC (checks the metadata first)."""
    org = _org_with_public_url(org_name)
    try:
        invited = configure_oidc(
            org,
            client_id=client_id,
            client_secret=client_secret,
            metadata_url=metadata_url,
            default_role=default_role,
            actor="cli",
        )
    except OktaError as exc:
        fail(str(exc))
    click.echo(f"Okta OIDC sign-in is configured for {org.name!r}.")
    if invited is not None and invited.total:
        click.echo(invited.summary())


@sso_cli.command("set-saml")
@click.option("--org", "org_name", required=True, help="Organization name.")
@click.option(
    "--metadata-url",
    required=True,
    help="Identity Provider metadata URL from the Okta app's Sign On tab.",
)
@default_role_option
def sso_set_saml(org_name: str, metadata_url: str, default_role: str) -> None:
    """Configure Okta sign-in over SAML 2.0 (fetches and checks the metadata first)."""
    org = _org_with_public_url(org_name)
    try:
        invited = configure_saml(
            org, metadata_url=metadata_url, default_role=default_role, actor="cli"
        )
    except OktaError as exc:
        fail(str(exc))
    config = org.sso_config
    assert config is not None
    click.echo(f"Okta SAML sign-in is configured for {org.name!r}.")
    click.echo(f"Identity provider: {config.saml_entity_id}")
    _echo_certificates(config.saml_certificates)
    if invited is not None and invited.total:
        click.echo(invited.summary())


@sso_cli.command("refresh-metadata")
@click.option("--org", "org_name", required=True, help="Organization name.")
def sso_refresh_metadata(org_name: str) -> None:
    """Fetch the saved SAML metadata URL again (after Okta rotates its key)."""
    org = _org_with_public_url(org_name)
    try:
        changed = refresh_saml_metadata(org, actor="cli")
    except OktaError as exc:
        fail(str(exc))
    config = org.sso_config
    assert config is not None
    click.echo(
        f"Metadata refreshed for {org.name!r}; signing certificates "
        + ("changed." if changed else "unchanged.")
    )
    _echo_certificates(config.saml_certificates)


def _org_with_public_url(org_name: str) -> Organization:
    """The named organization, once PUBLIC_BASE_URL is known; else say why not."""
    org = organization_named(org_name)
    if public_base_url() is None:
        fail(
            "Set Gatehouse's public address first (flask site set-url "
            "https://gatehouse.example.com, or PUBLIC_BASE_URL): Okta sends people "
            "back to addresses built from it, and so do the emails that invite "
            "members to link Okta."
        )
    return org


def _echo_certificates(certificates: list[str]) -> None:
    for cert in certificates:
        facts = certificate_facts(cert)
        flag = ""
        if facts.expired:
            flag = "  EXPIRED"
        elif facts.expires_soon:
            flag = f"  EXPIRES IN {facts.days_left} DAYS"
        click.echo(
            f"Signing certificate SHA-256 {facts.fingerprint}, "
            f"expires {facts.not_after:%Y-%m-%d}{flag}"
        )


@sso_cli.command("release-saml-app")
@click.option("--org", "org_name", required=True, help="Organization name.")
def sso_release_saml_app(org_name: str) -> None:
    """Forget the Okta SAML app of an organization no longer using SAML.

    An Okta app stays reserved to its organization after a switch to OIDC or
    None; this frees it for another organization.
    """
    org = organization_named(org_name)
    try:
        released = release_saml_app(org, actor="cli")
    except OktaError as exc:
        fail(str(exc))
    if released:
        click.echo(f"Released the Okta app {released} from {org.name!r}.")
    else:
        click.echo(f"{org.name!r} has no Okta SAML app.")


@sso_cli.command("disable")
@click.option("--org", "org_name", required=True, help="Organization name.")
def sso_disable(org_name: str) -> None:
    """Turn Okta sign-in off (users and their data stay)."""
    org = organization_named(org_name)
    if disable_sso(org, actor="cli"):
        click.echo(f"Okta sign-in is off for {org.name!r}.")
    else:
        click.echo(f"Okta sign-in was already off for {org.name!r}.")
