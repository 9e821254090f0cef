"""audit bounds: counted repeats of refusals, and an index for retention

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:00:00

A refusal an attacker can repeat at will becomes one audit row per
organization, kind, key and window, with `repeat_count` and `last_at`; the
open row holds `repeat_key` under a unique index, so concurrent writers add
to one row. Every existing event happened once. Audit events older than
AUDIT_RETENTION_DAYS are deleted (core.housekeeping), by `created_at`.

Only columns and indexes are added (no table is copied, even on SQLite), so
the upgrade stays quick on a large audit log.
"""

import sqlalchemy as sa
from alembic import op

import core.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "audit_event",
        sa.Column("repeat_count", sa.Integer(), server_default="1", nullable=False),
    )
    op.add_column(
        "audit_event", sa.Column("last_at", core.models.UTCDateTime(), nullable=True)
    )
    op.add_column(
        "audit_event", sa.Column("repeat_key", sa.String(length=64), nullable=True)
    )
    op.create_index("ux_audit_repeat_key", "audit_event", ["repeat_key"], unique=True)
    op.create_index("ix_audit_created_at", "audit_event", ["created_at"])


def downgrade():
    op.drop_index("ix_audit_created_at", table_name="audit_event")
    op.drop_index("ux_audit_repeat_key", table_name="audit_event")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_column("repeat_key")
        batch_op.drop_column("last_at")
        batch_op.drop_column("repeat_count")
