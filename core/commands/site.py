"""`flask site`: settings of the whole installation."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from core import key_check
from core.commands.common import fail
from core.urls import MISSING_HELP
from core.urls import set_public_base_url
from core.urls import stored_public_base_url

site_cli = AppGroup("site", help="Settings of the whole installation.")


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
