"""email primary: SCIM's emails[].primary of the kept address, as sent

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:40:00

Gatehouse keeps one email per member. SCIM clients send it with `primary`;
strict clients expect it back as sent, and Okta's import maps the address with
`primary eq true`. NULL (every existing member) means "not said": the kept
address is the primary one. Only a nullable column is added.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("user", sa.Column("email_primary", sa.Boolean(), nullable=True))


def downgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("email_primary")
