"""which Okta started each Okta session; sessions of unknown origin read NULL

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 18:10:00

`user_session.okta_issuer` is the issuer (OIDC) or entity ID (SAML) of the
Okta that vouched for an "okta-oidc" or "okta-saml" session: turning Okta
sign-in required asks for a recent sign-in at the organization's *current*
Okta, not at one it left. Other sessions, and Okta sessions from before this
migration, keep NULL (and do not count as such a sign-in).

Sessions whose method an earlier version wrote as "" (a password change
restarted a session from before migration 0012) become NULL again: both mean
"origin unknown", and requiring Okta sign-in ends them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("okta_issuer", sa.String(length=1000), nullable=True)
        )
    op.execute("UPDATE user_session SET method = NULL WHERE method = ''")


def downgrade():
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.drop_column("okta_issuer")
