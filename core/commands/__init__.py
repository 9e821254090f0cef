"""`flask` commands for administrators and scripts, one module per group.

Each command checks its input first and changes nothing on a bad one: it prints
a clear message on stderr and exits with status 1. Commands call services,
which commit; a command never commits itself.
"""

from __future__ import annotations

from flask import Flask

from core.commands import require_okta  # noqa: F401 (adds its commands to sso_cli)
from core.commands.api_keys import apikey_cli
from core.commands.housekeeping import prune_command
from core.commands.members import member_cli
from core.commands.organizations import org_cli
from core.commands.scim import scim_cli
from core.commands.site import site_cli
from core.commands.sso import sso_cli
from core.commands.universal_logout import universal_logout_command


def register_commands(app: Flask) -> None:
    """Add the command groups to `flask`."""
    app.cli.add_command(prune_command)
    app.cli.add_command(org_cli)
    app.cli.add_command(member_cli)
    app.cli.add_command(site_cli)
    app.cli.add_command(apikey_cli)
    app.cli.add_command(scim_cli)
    app.cli.add_command(sso_cli)
    sso_cli.add_command(universal_logout_command)
