"""how each session was started, and how each member last signed in

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 17:20:00

`user_session.method` and `user.last_sign_in_method` keep how a sign-in
proved who the person is: "password", "okta-oidc", "okta-saml", "setup" or
"backup". The members list shows it, and requiring Okta sign-in ends the
sessions a password started. Sessions and sign-ins from before this
migration keep NULL: how they started was never recorded.
"""

import sqlalchemy as sa
from alembic import op

from core.models.search import restore_sqlite_search

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("method", sa.String(length=20), nullable=True))
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_sign_in_method", sa.String(length=20), nullable=True)
        )


def downgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("last_sign_in_method")
    restore_sqlite_search(op)  # the batch copy of `user` lost its triggers
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.drop_column("method")
