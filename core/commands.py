"""`flask` commands for administrators and scripts.

Each command checks its input first and changes nothing on a bad one: it prints
a clear message on stderr and exits with status 1.
"""

from __future__ import annotations

import click
from flask import Flask
from flask import current_app
from flask.cli import AppGroup
from flask.cli import with_appcontext

from core import key_check
from core.authority import KEY_ROLES
from core.authority import AccountError
from core.authority import Actor
from core.extensions import db
from core.housekeeping import count_due
from core.housekeeping import cutoffs
from core.housekeeping import note_pruned
from core.housekeeping import prune
from core.models import PLANS
from core.models import ROLES
from core.models import Organization
from core.models import User
from core.models import utcnow
from core.okta import OktaError
from core.provisioning import api_keys
from core.provisioning import identities
from core.provisioning import organizations
from core.provisioning import users
from core.saml import certificate_facts
from core.security import SCOPES
from core.sso import SSO_ROLES
from core.sso import configure_oidc
from core.sso import configure_saml
from core.sso import disable_sso
from core.sso import refresh_saml_metadata
from core.sso import release_saml_app
from core.urls import MISSING_HELP
from core.urls import public_base_url
from core.urls import set_public_base_url
from core.urls import stored_public_base_url

org_cli = AppGroup("org", help="Create organizations and change their plan.")
member_cli = AppGroup(
    "member", help="Recover members: set a role, unlock password sign-in, unlink Okta."
)
site_cli = AppGroup("site", help="Settings of the whole installation.")
apikey_cli = AppGroup("apikey", help="Create API keys.")
scim_cli = AppGroup("scim", help="SCIM provisioning from Okta.")
sso_cli = AppGroup("sso", help="Okta single sign-on.")

default_role_option = click.option(
    "--default-role",
    type=click.Choice(SSO_ROLES),
    default="member",
    show_default=True,
    help="Role of people Okta creates.",
)


def fail(message: str) -> None:
    """Abort the command with `message` and exit status 1."""
    db.session.rollback()
    raise click.ClickException(message)


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
        return
    who = owner.email
    if owner.full_name != owner.email:
        who = f"{owner.full_name} <{owner.email}>"
    click.echo(f"Created organization {org.name!r} ({org.plan}) with owner {who}.")


@org_cli.command("set-plan")
@click.argument("name")
@click.argument("plan", type=click.Choice(PLANS))
def org_set_plan(name: str, plan: str) -> None:
    """Change an organization's plan (free, pro or enterprise)."""
    org = organizations.find_organization(name)
    if org is None:
        fail(f"No organization named {name!r}.")
        return
    previous = organizations.set_plan(org, plan, actor="cli")
    click.echo(f"Organization {org.name!r}: plan {previous} -> {plan}.")


@org_cli.command("list")
def org_list() -> None:
    """List organizations with their plan and number of members."""
    for name, plan, members in organizations.organization_summaries():
        click.echo(f"{name}\t{plan}\t{members} members")


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
    org = organizations.find_organization(org_name)
    if org is None:
        fail(f"No organization named {org_name!r}.")
        return
    try:
        key, secret = api_keys.create_api_key(
            org, name=name, scopes=list(scopes), actor="cli", role=role
        )
    except AccountError as exc:
        fail(str(exc))
        return
    click.echo(
        f"Created API key {key.name!r} ({key.prefix}…) for {org.name!r},"
        f" scopes: {key.scopes}, acts as {key.role}."
    )
    click.echo("This secret is shown once; store it now:")
    click.echo(secret)


@scim_cli.command("sync")
@click.option("--org", "org_name", required=True, help="Organization name.")
@click.option(
    "--on/--off", "enabled", required=True, help="Switch SCIM sync on or off."
)
def scim_sync(org_name: str, enabled: bool) -> None:
    """Switch "sync users and groups from your SSO provider" (SCIM) on or off."""
    org = organizations.find_organization(org_name)
    if org is None:
        fail(f"No organization named {org_name!r}.")
        return
    if enabled and not org.has_paid_plan:
        fail(
            f"{org.name!r} is on the Free plan; SCIM needs Pro or Enterprise "
            f"(flask org set-plan {org.name!r} pro)."
        )
        return
    organizations.set_scim_sync(org, enabled, actor="cli")
    state = "on" if enabled else "off"
    click.echo(f"SCIM sync is {state} for {org.name!r}.")


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
    if org is None:
        return
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
        return
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
    if org is None:
        return
    try:
        invited = configure_saml(
            org, metadata_url=metadata_url, default_role=default_role, actor="cli"
        )
    except OktaError as exc:
        fail(str(exc))
        return
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
    if org is None:
        return
    try:
        changed = refresh_saml_metadata(org, actor="cli")
    except OktaError as exc:
        fail(str(exc))
        return
    config = org.sso_config
    assert config is not None
    click.echo(
        f"Metadata refreshed for {org.name!r}; signing certificates "
        + ("changed." if changed else "unchanged.")
    )
    _echo_certificates(config.saml_certificates)


def _org_with_public_url(org_name: str) -> Organization | None:
    """The named organization, once PUBLIC_BASE_URL is known; else say why not."""
    org = organizations.find_organization(org_name)
    if org is None:
        fail(f"No organization named {org_name!r}.")
        return None
    if public_base_url() is None:
        fail(
            "Set Gatehouse's public address first (flask site set-url "
            "https://gatehouse.example.com, or PUBLIC_BASE_URL): Okta sends people "
            "back to addresses built from it, and so do the emails that invite "
            "members to link Okta."
        )
        return None
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
    org = organizations.find_organization(org_name)
    if org is None:
        fail(f"No organization named {org_name!r}.")
        return
    try:
        released = release_saml_app(org, actor="cli")
    except OktaError as exc:
        fail(str(exc))
        return
    if released:
        click.echo(f"Released the Okta app {released} from {org.name!r}.")
    else:
        click.echo(f"{org.name!r} has no Okta SAML app.")


@sso_cli.command("disable")
@click.option("--org", "org_name", required=True, help="Organization name.")
def sso_disable(org_name: str) -> None:
    """Turn Okta sign-in off (users and their data stay)."""
    org = organizations.find_organization(org_name)
    if org is None:
        fail(f"No organization named {org_name!r}.")
        return
    if disable_sso(org, actor="cli"):
        click.echo(f"Okta sign-in is off for {org.name!r}.")
    else:
        click.echo(f"Okta sign-in was already off for {org.name!r}.")


def _member(org_name: str, email: str) -> User | None:
    """The member `email` of `org_name`; else fail saying which is wrong."""
    org = organizations.find_organization(org_name)
    if org is None:
        fail(f"No organization named {org_name!r}.")
        return None
    user = users.find_user_by_email(org, email)
    if user is None:
        fail(f"{org.name!r} has no member {email!r}.")
        return None
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
    if user is None:
        return
    before = user.role
    try:
        users.change_role(Actor.command_line(), user, role)
    except AccountError as exc:
        fail(str(exc))
        return
    click.echo(f"{user.email} of {user.organization.name!r}: {before} -> {user.role}.")


@member_cli.command("unlock")
@click.option("--org", "org_name", required=True, help="Organization name.")
@click.argument("email")
def member_unlock(org_name: str, email: str) -> None:
    """Clear a member's password sign-in lockout (too many failed attempts)."""
    user = _member(org_name, email)
    if user is None:
        return
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
    if user is None:
        return
    removed = identities.remove_all_identities(Actor.command_line(), user)
    click.echo(f"Removed {removed} Okta link(s) of {user.email}.")


@site_cli.command("set-url")
@click.argument("url")
def site_set_url(url: str) -> None:
    """Set the public address people and Okta reach Gatehouse at.

    Every emailed link and every URL shown to Okta is built from it. The
    PUBLIC_BASE_URL setting, when set, overrides it.
    """
    try:
        value = set_public_base_url(url)
    except ValueError as exc:
        fail(str(exc))
        return
    click.echo(f"Public address: {value}")
    configured = current_app.config.get("PUBLIC_BASE_URL")
    if configured:
        click.echo(f"Note: PUBLIC_BASE_URL={configured} overrides it while it is set.")


@site_cli.command("record-key")
def site_record_key() -> None:
    """Record this server's SECRET_KEY as the one every app server must share.

    /healthz answers 503 on a server whose SECRET_KEY differs. The install's
    first organization records it; run this after changing SECRET_KEY on every
    server (or to replace a wrong record). Only a one-way mark of the key is
    stored.
    """
    key_check.record(replace=True)
    click.echo("Recorded this server's SECRET_KEY as the install's.")


@site_cli.command("show")
def site_show() -> None:
    """Show the public address in use and where it comes from."""
    configured = current_app.config.get("PUBLIC_BASE_URL")
    stored = stored_public_base_url()
    if configured:
        click.echo(f"Public address: {configured} (from PUBLIC_BASE_URL)")
    elif stored:
        click.echo(f"Public address: {stored} (stored; set with flask site set-url)")
    else:
        click.echo("Public address: not set. " + MISSING_HELP)


@click.command("prune")
@with_appcontext
@click.option(
    "--dry-run",
    is_flag=True,
    help="Only count what would be deleted; delete nothing.",
)
def prune_command(dry_run: bool) -> None:
    """Delete audit events and SCIM activity older than their retention.

    Audit events older than AUDIT_RETENTION_DAYS (default 400) and SCIM
    provisioning activity older than SCIM_ACTIVITY_RETENTION_DAYS (default 30)
    are deleted in batches, one transaction each, so the app keeps working
    while a large backlog goes. Gatehouse also does this by itself every ten
    minutes (HOUSEKEEPING_AUTOMATIC); run this from cron when that is off, or
    once after lowering a retention.
    """
    now = utcnow()
    config = current_app.config
    limits = cutoffs(now)
    counts = count_due(now) if dry_run else prune(now)
    if not dry_run:
        note_pruned(now)
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(
        f"{verb} {counts['audit_event']} audit event(s) older than "
        f"{config['AUDIT_RETENTION_DAYS']} days (before "
        f"{limits['audit_event']:%Y-%m-%d %H:%M} UTC)."
    )
    click.echo(
        f"{verb} {counts['scim_request']} SCIM activity row(s) older than "
        f"{config['SCIM_ACTIVITY_RETENTION_DAYS']} days (before "
        f"{limits['scim_request']:%Y-%m-%d %H:%M} UTC)."
    )


def register_commands(app: Flask) -> None:
    """Add the command groups to `flask`."""
    app.cli.add_command(prune_command)
    app.cli.add_command(org_cli)
    app.cli.add_command(member_cli)
    app.cli.add_command(site_cli)
    app.cli.add_command(apikey_cli)
    app.cli.add_command(scim_cli)
    app.cli.add_command(sso_cli)
