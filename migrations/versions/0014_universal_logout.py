"""Okta Universal Logout: per-organization switch, last request, replay store

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 17:30:00

`universal_logout_config` holds whether an organization accepts Okta's
Universal Logout (and, for SAML organizations, the Okta base URL and app
instance id that address it); `universal_logout_attempt` the last request
addressed to each organization, with its result; `universal_logout_jti` the
spent tokens until they expire. `user.okta_required_after_logout` makes the
next sign-in of a logged-out person go through Okta. Nothing changes for
existing organizations: Universal Logout starts off.
"""

import sqlalchemy as sa
from alembic import op

from core.models.search import restore_sqlite_search

import core.models

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "universal_logout_config",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("revoke_personal_keys", sa.Boolean(), nullable=False),
        sa.Column("saml_okta_url", sa.String(length=200), nullable=True),
        sa.Column("saml_app_id", sa.String(length=100), nullable=True),
        sa.Column("updated_at", core.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organization.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("organization_id"),
    )
    op.create_table(
        "universal_logout_attempt",
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("received_at", core.models.UTCDateTime(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=400), nullable=False),
        sa.Column("sessions_ended", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organization.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("organization_id"),
    )
    op.create_table(
        "universal_logout_jti",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", core.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organization.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("organization_id", "jti", name="uq_universal_logout_jti"),
    )
    with op.batch_alter_table("universal_logout_jti", schema=None) as batch_op:
        batch_op.create_index(
            "ix_universal_logout_jti_expires_at", ["expires_at"], unique=False
        )
    # Not batch mode: on SQLite it would copy `user` and lose its search
    # triggers; ALTER TABLE ADD COLUMN keeps them.
    op.add_column(
        "user",
        sa.Column(
            "okta_required_after_logout",
            sa.Boolean(),
            server_default=sa.false(),
            nullable=False,
        ),
    )


def downgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("okta_required_after_logout")
    restore_sqlite_search(op)  # the batch copy of `user` lost its triggers
    with op.batch_alter_table("universal_logout_jti", schema=None) as batch_op:
        batch_op.drop_index("ix_universal_logout_jti_expires_at")
    op.drop_table("universal_logout_jti")
    op.drop_table("universal_logout_attempt")
    op.drop_table("universal_logout_config")
