"""scim versions: a version number on users and groups, their SCIM ETag

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00

A user's or group's ETag (and `meta.version`) was derived from `updated_at`;
it is now `W/"<version>"`, a number the database raises by one at every UPDATE
of the row (`version = version + 1`, see core.models.values.Versioned), so two
changes within one clock tick still differ and concurrent writers never share
one. Every existing row starts at 1: the ETags clients hold from before the
upgrade no longer match, so a conditional request with one answers 412 and the
client reads the resource again.

Only columns are added (no table is copied, even on SQLite).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("user", "group")


def upgrade():
    for table in TABLES:
        op.add_column(
            table,
            sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        )


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("version")
