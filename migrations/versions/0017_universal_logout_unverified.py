"""Universal Logout: the last unverified request, apart from Okta's result.

`universal_logout_unverified` keeps, per organization, the last request whose
token named it but whose signature did not verify (status and Gatehouse's own
short reason), so that a stranger's request never replaces the last verified
result in `universal_logout_attempt`.
"""

import sqlalchemy as sa
from alembic import op

import core.models

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "universal_logout_unverified",
        sa.Column("organization_id", sa.Integer(), nullable=False),
        sa.Column("received_at", core.models.UTCDateTime(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organization.id"], ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("organization_id"),
    )


def downgrade() -> None:
    op.drop_table("universal_logout_unverified")
