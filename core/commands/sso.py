"""`flask sso`: configure, refresh and switch off Okta single sign-on.

`set-oidc` and `set-saml` are an operator's explicit act: they save the
settings and turn Okta sign-in on for everyone at once (no test sign-in is
required, unlike the settings page), emailing the link to every active member
not linked yet. `--save-only` only saves (then test and turn on from the
page); `--no-email` turns on without emailing anyone.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from core.commands.common import fail
from core.commands.common import organization_named
from core.models import Organization
from core.okta import OktaError
from core.saml_metadata import certificate_facts
from core.sso import SSO_ROLES
from core.sso import Saved
from core.sso import configure_oidc
from core.sso import configure_saml
from core.sso import is_live
from core.sso import refresh_saml_metadata
from core.sso import release_saml_app
from core.sso_rollout import turn_off
from core.sso_rollout import turn_off_impact
from core.sso_rollout import turn_on
from core.urls import public_base_url

sso_cli = AppGroup(
    "sso",
    help="Okta single sign-on. set-oidc and set-saml save the settings AND turn "
    "Okta sign-in on for everyone (an operator's explicit act: no test sign-in "
    "is required), unless --save-only.",
)

save_only_option = click.option(
    "--save-only",
    is_flag=True,
    help="Only save the settings; Okta sign-in stays as it is for members (test "
    "and turn it on from Settings, Okta authentication). Refused when the settings "
    "would move live sign-in to another Okta.",
)
no_email_option = click.option(
    "--no-email",
    is_flag=True,
    help="Do not email the link to members who are not linked yet (send it "
    "later from their member pages).",
)

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
@save_only_option
@no_email_option
def sso_set_oidc(
    org_name: str,
    client_id: str,
    client_secret: str,
    metadata_url: str,
    default_role: str,
    save_only: bool,
    no_email: bool,
) -> None:
    """Configure Okta sign-in over OIDC and turn it on for everyone.

    Checks the metadata first; nothing is saved if anything is wrong. Turns
    Okta sign-in on with OIDC (no test sign-in needed from the command line)
    and emails the link to every active member not linked yet, unless
    --save-only or --no-email.
    """
    org = _org_with_public_url(org_name)
    try:
        saved = configure_oidc(
            org,
            client_id=client_id,
            client_secret=client_secret,
            metadata_url=metadata_url,
            default_role=default_role,
            actor="cli",
            # --save-only never moves live sign-in to another Okta, nor emails.
            confirmed=not save_only,
            send_links=not (no_email or save_only),
        )
    except OktaError as exc:
        fail(str(exc))
    click.echo(f"Okta OIDC sign-in is configured for {org.name!r}.")
    _switch_on(org, saved, save_only=save_only, send_links=not no_email)


@sso_cli.command("set-saml")
@click.option("--org", "org_name", required=True, help="Organization name.")
@click.option(
    "--metadata-url",
    required=True,
    help="Identity Provider metadata URL from the Okta app's Sign On tab.",
)
@default_role_option
@save_only_option
@no_email_option
def sso_set_saml(
    org_name: str, metadata_url: str, default_role: str, save_only: bool, no_email: bool
) -> None:
    """Configure Okta sign-in over SAML 2.0 and turn it on for everyone.

    Fetches and checks the metadata first; nothing is saved if anything is
    wrong. Turns Okta sign-in on with SAML (no test sign-in needed from the
    command line) and emails the link to every active member not linked yet,
    unless --save-only or --no-email.
    """
    org = _org_with_public_url(org_name)
    try:
        saved = configure_saml(
            org,
            metadata_url=metadata_url,
            default_role=default_role,
            actor="cli",
            # --save-only never moves live sign-in to another Okta, nor emails.
            confirmed=not save_only,
            send_links=not (no_email or save_only),
        )
    except OktaError as exc:
        fail(str(exc))
    config = org.sso_config
    assert config is not None
    click.echo(f"Okta SAML sign-in is configured for {org.name!r}.")
    click.echo(f"Identity provider: {config.saml_entity_id}")
    _echo_certificates(config.saml_certificates)
    _switch_on(org, saved, save_only=save_only, send_links=not no_email)


def _switch_on(
    org: Organization, saved: Saved, *, save_only: bool, send_links: bool
) -> None:
    """Turn the saved protocol on for everyone (unless `save_only`); say what
    happened, and what was emailed."""
    name = saved.protocol.upper()
    invited = saved.invitations
    if save_only and not saved.live:
        click.echo(
            f"Okta sign-in ({name}) is not on for members: test it and turn it on "
            "from Settings, Okta authentication (or run this again without "
            "--save-only)."
        )
    elif not is_live(org.sso_config, saved.protocol):
        try:
            invited = turn_on(
                org,
                saved.protocol,
                actor="cli",
                send_links=send_links,
                require_test=False,
            )
        except OktaError as exc:
            fail(str(exc))
        click.echo(f"Okta sign-in is on for everyone ({name}).")
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
    """Turn Okta sign-in off (users, their data and links, and the settings stay).

    Prints the active members who then have no way to sign in (no Gatehouse
    password: Okta made their accounts).
    """
    org = organization_named(org_name)
    stranded = turn_off_impact(org).stranded
    if not turn_off(org, actor="cli"):
        click.echo(f"Okta sign-in was already off for {org.name!r}.")
        return
    click.echo(f"Okta sign-in is off for {org.name!r}.")
    if stranded:
        click.echo(
            f"{len(stranded)} active member(s) have no Gatehouse password and "
            "cannot sign in until Okta sign-in is on again: "
            + ", ".join(user.email for user in stranded)
        )
