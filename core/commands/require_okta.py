"""`flask sso require` and `flask sso recovery-codes`: the way back in for an
operator when Okta sign-in is required and Okta is lost.

Both join the `flask sso` group when this module is imported (by
core/commands/__init__.py). Turning the
requirement *on* needs a recent Okta sign-in of an owner, so it is done on
the settings page only; the command line turns it off.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from core import recovery_codes
from core import require_okta
from core.authority import AccountError
from core.authority import Actor
from core.commands.common import fail
from core.commands.common import organization_named
from core.commands.sso import sso_cli
from core.extensions import db
from core.models import User
from core.models import email_fold


@click.command(
    "require",
    help="Stop requiring Okta sign-in for an organization (--off): members may "
    "sign in with their passwords again, and reset them. Turning it on is done "
    "on Settings, Okta authentication, Require Okta sign-in (it needs an owner "
    "who just signed in through Okta).",
)
@click.option("--org", "org_name", required=True, help="The organization's name.")
@click.option(
    "--off",
    is_flag=True,
    help="Stop requiring Okta sign-in (required: the only change made here).",
)
@with_appcontext
def require_command(org_name: str, off: bool) -> None:
    """Turn "Require Okta sign-in" off."""
    if not off:
        fail(
            "Only --off is possible here: require Okta sign-in on the settings page "
            "(Settings, Okta authentication, Require Okta sign-in)."
        )
    org = organization_named(org_name)
    if require_okta.turn_off(org, Actor.command_line()):
        click.echo(
            f"Okta sign-in is no longer required for {org.name}: members may sign "
            "in with their passwords again."
        )
    else:
        click.echo(f"Okta sign-in was not required for {org.name}; nothing changed.")


@click.command(
    "recovery-codes",
    help="Print ten new recovery codes for an owner (their old codes stop "
    "working). Each opens one session of at most 4 hours at /login/backup; "
    "every use is emailed to the organization's owners.",
)
@click.option("--org", "org_name", required=True, help="The organization's name.")
@click.option("--owner", "owner_email", required=True, help="The owner's email.")
@with_appcontext
def recovery_codes_command(org_name: str, owner_email: str) -> None:
    """Print new recovery codes for an owner."""
    org = organization_named(org_name)
    owner = db.session.execute(
        db.select(User).filter_by(
            organization_id=org.id, email_key=email_fold(owner_email.strip())
        )
    ).scalar_one_or_none()
    if owner is None:
        fail(f"{org.name} has no member with the email {owner_email!r}.")
    try:
        codes = recovery_codes.generate(owner, actor="cli")
    except AccountError as exc:
        fail(f"{owner.email}: {exc}")
    click.echo(
        f"Recovery codes for {owner.email} ({org.name}). Keep them somewhere safe; "
        "each works once, and they are not shown again:"
    )
    for code in codes:
        click.echo(f"  {code}")
    click.echo(
        "Sign in with one at /login/backup. The owner should confirm they saved "
        "them on the Require Okta sign-in page."
    )


sso_cli.add_command(require_command)
sso_cli.add_command(recovery_codes_command)
