"""What every command group shares: failing cleanly, finding an organization."""

from __future__ import annotations

from typing import NoReturn

import click

from core.extensions import db
from core.models import Organization
from core.provisioning import organizations


def fail(message: str) -> NoReturn:
    """Abort the command with `message` and exit status 1."""
    db.session.rollback()
    raise click.ClickException(message)


def organization_named(name: str) -> Organization:
    """The organization called `name`; else fail saying there is none."""
    org = organizations.find_organization(name)
    if org is None:
        fail(f"No organization named {name!r}.")
    return org
