"""trust model: key roles and creators, Okta-set emails, delivered links,
own-account SAML links, the stored public base URL

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 10:30:00

Organization keys get the role they act with. A key made by an owner acts as
owner, one made by an admin as admin; a key whose creator is unknown (made at
the command line, or its creator was deleted) acts as admin: an upgrade never
gives a key more power than it can be shown to have had. An owner can make an
owner-level key when Okta must manage owners.
"""

from datetime import UTC
from datetime import datetime

from alembic import op
import sqlalchemy as sa

import core.models


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "created_by_label",
                sa.String(length=400),
                server_default="",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("role", sa.String(length=20), nullable=True))
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "email_from_okta",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )
    with op.batch_alter_table("link_token", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sent_at", core.models.UTCDateTime(), nullable=True)
        )
    with op.batch_alter_table("saml_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_user_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_saml_request_link_user_id_user",
            "user",
            ["link_user_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.create_table(
        "site_setting",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", core.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )

    # Existing data: who made each key, and what an organization key acts as.
    op.execute(
        """
        UPDATE api_key SET created_by_label = COALESCE(
            (SELECT email FROM "user" WHERE "user".id = api_key.created_by_id), ''
        )
        """
    )
    op.execute(
        """
        UPDATE api_key SET role = CASE
            WHEN (SELECT role FROM "user" WHERE "user".id = api_key.created_by_id)
                 = 'owner' THEN 'owner'
            ELSE 'admin' END
        WHERE user_id IS NULL
        """
    )
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.alter_column("created_by_label", server_default=None)
    # Accounts Okta made carry the email Okta set.
    op.execute(
        """UPDATE "user" SET email_from_okta = TRUE WHERE source IN ('scim', 'sso')"""
    )
    # Links emailed before this version may carry a host taken from a request
    # (the old fallback when no public URL was set): void every unused one.
    # Members ask for a new link, built from the configured address.
    now = datetime.now(UTC).replace(tzinfo=None)  # stored as naive UTC
    op.get_bind().execute(
        sa.text("UPDATE link_token SET used_at = :now WHERE used_at IS NULL"),
        {"now": now},
    )


def downgrade():
    op.drop_table("site_setting")
    with op.batch_alter_table("saml_request", schema=None) as batch_op:
        batch_op.drop_constraint("fk_saml_request_link_user_id_user", type_="foreignkey")
        batch_op.drop_column("link_user_id")
    with op.batch_alter_table("link_token", schema=None) as batch_op:
        batch_op.drop_column("sent_at")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("email_from_okta")
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_column("role")
        batch_op.drop_column("created_by_label")
