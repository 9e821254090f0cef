"""who deactivated each inactive member, and when; the bulk link email's claim

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 17:30:00

`user.deactivated_at`, `user.deactivated_by` (the actor's label: an admin's
email, the API key Okta provisions with, or "cli") and `user.deactivated_via`
("page", "scim" or "cli") are set by every deactivation and cleared by
reactivation. The member page shows them; audit rows say the same but are
pruned after the retention period. Members deactivated before this migration
keep NULL (the page says it was not recorded): the audit log may no longer
hold the row that said who, so nothing is guessed from it.

`organization.link_emails_claimed_at` is set while "Email the link to everyone
not linked" sends (compare-and-set), so two clicks at once mail nobody twice.
"""

import sqlalchemy as sa
from alembic import op

from core.models.search import restore_sqlite_search

import core.models

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "link_emails_claimed_at", core.models.UTCDateTime(), nullable=True
            )
        )
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("deactivated_at", core.models.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("deactivated_by", sa.String(length=400), nullable=True)
        )
        batch_op.add_column(
            sa.Column("deactivated_via", sa.String(length=10), nullable=True)
        )


def downgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("deactivated_via")
        batch_op.drop_column("deactivated_by")
        batch_op.drop_column("deactivated_at")
    restore_sqlite_search(op)  # the batch copy of `user` lost its triggers
    with op.batch_alter_table("organization", schema=None) as batch_op:
        batch_op.drop_column("link_emails_claimed_at")
