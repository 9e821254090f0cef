"""password tokens: emailed links to reset a password or accept an invitation

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 10:00:00

Two new tables: `password_token`, shaped like `link_token` (the SHA-256 of the
emailed secret, the account, expiry, use, delivery) plus its purpose: "reset"
(Forgot your password?) or "invitation" (a member added by an admin). Nothing
existing changes. And `password_reset_mail`, one row per account holding
when it was last sent a reset email (claimed by compare-and-set).
"""

import sqlalchemy as sa
from alembic import op

import core.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "password_token",
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", core.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", core.models.UTCDateTime(), nullable=False),
        sa.Column("used_at", core.models.UTCDateTime(), nullable=True),
        sa.Column("sent_at", core.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("password_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_password_token_user_id"), ["user_id"], unique=False
        )
    op.create_table(
        "password_reset_mail",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("sent_at", core.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade():
    op.drop_table("password_reset_mail")
    with op.batch_alter_table("password_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_password_token_user_id"))
    op.drop_table("password_token")
