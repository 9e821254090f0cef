"""safe SSO rollout: each protocol keeps its own settings; test sign-ins

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 10:00:00

Saving Okta settings no longer turns Okta sign-in on: an owner saves, tests
the settings with a sign-in of their own (kept in `sso_test_result`, per
organization and protocol, with the settings version it proved), then turns
it on for everyone. Nothing changes for organizations already set up: an
organization whose members sign in with Okta (`provider = 'okta'`) stays on,
with the protocol it had; one that was switched to None stays off.

OIDC and SAML keep their own metadata URL (`metadata_url` held whichever the
organization chose last, and saving the other protocol overwrote it): the
saved URL moves to the column of the organization's protocol. The other
protocol's settings of an organization that once switched were overwritten
then; its owner enters that URL again before using it.

`oidc_version` and `saml_version` count changes of each protocol's settings
(a test proves one version); `saml_request.test_user_id` marks an
AuthnRequest sent for a test sign-in, whose answer never signs anyone in.
"""

import sqlalchemy as sa
from alembic import op

import core.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sso_config", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("oidc_metadata_url", sa.String(length=1000), nullable=True)
        )
        batch_op.add_column(
            sa.Column("saml_metadata_url", sa.String(length=1000), nullable=True)
        )
        for column in ("oidc_version", "saml_version"):
            batch_op.add_column(
                sa.Column(column, sa.Integer(), server_default="1", nullable=False)
            )
    op.execute(
        "UPDATE sso_config SET oidc_metadata_url = metadata_url "
        "WHERE protocol = 'oidc'"
    )
    op.execute(
        "UPDATE sso_config SET saml_metadata_url = metadata_url "
        "WHERE protocol = 'saml'"
    )
    with op.batch_alter_table("sso_config", schema=None) as batch_op:
        batch_op.drop_column("metadata_url")
    with op.batch_alter_table("saml_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("test_user_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_saml_request_test_user_id_user",
            "user",
            ["test_user_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.create_table(
        "sso_test_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("protocol", sa.String(length=10), nullable=False),
        sa.Column("settings_version", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("given_name", sa.String(length=200), nullable=False),
        sa.Column("family_name", sa.String(length=200), nullable=False),
        sa.Column("name_id_format", sa.String(length=200), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("tested_by_user_id", sa.Integer(), nullable=True),
        sa.Column("tested_by", sa.String(length=320), nullable=False),
        sa.Column("tested_at", core.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organization.id"], ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tested_by_user_id"], ["user.id"], ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "organization_id", "protocol", name="uq_sso_test_result_org_protocol"
        ),
    )


def downgrade():
    op.drop_table("sso_test_result")
    # A test sign-in still waiting for its answer would become a real sign-in
    # request once the column that marks it is gone.
    op.execute("DELETE FROM saml_request WHERE test_user_id IS NOT NULL")
    with op.batch_alter_table("saml_request", schema=None) as batch_op:
        batch_op.drop_constraint("fk_saml_request_test_user_id_user", type_="foreignkey")
        batch_op.drop_column("test_user_id")
    with op.batch_alter_table("sso_config", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("metadata_url", sa.String(length=1000), nullable=True)
        )
    op.execute(
        "UPDATE sso_config SET metadata_url = CASE WHEN protocol = 'saml' "
        "THEN saml_metadata_url ELSE oidc_metadata_url END"
    )
    with op.batch_alter_table("sso_config", schema=None) as batch_op:
        for column in ("saml_version", "oidc_version"):
            batch_op.drop_column(column)
        batch_op.drop_column("saml_metadata_url")
        batch_op.drop_column("oidc_metadata_url")
