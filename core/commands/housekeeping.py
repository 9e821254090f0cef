"""`flask prune`: delete audit events and SCIM activity past their retention."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from core.housekeeping import count_due
from core.housekeeping import cutoffs
from core.housekeeping import note_pruned
from core.housekeeping import prune
from core.models import utcnow


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
