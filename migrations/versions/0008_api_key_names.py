"""api key names: unique per owner, and the new secret's one display

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:00:00

A live key's name is unique, case-insensitively (`name_key` = `core.models.fold`),
among its owner's live keys: an organization key's among the organization's, a
personal key's among its holder's. Two partial unique indexes enforce it, on
SQLite and PostgreSQL alike. Revoked keys keep their names and leave the rule.

Live keys that already share a name are renamed, oldest first keeping it: the
second "Okta" becomes "Okta (2)", the next "Okta (3)", skipping any name the
owner already uses. Each rename is printed. A downgrade keeps the new names.

`api_key_reveal` holds a new key's secret, encrypted, until the page the
creation redirects to has shown it once.
"""

import sqlalchemy as sa
from alembic import op

import core.models
from core.models import fold

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NAME_LENGTH = 100
LIVE_ORG_KEY = sa.text("user_id IS NULL AND revoked_at IS NULL")
LIVE_PERSONAL_KEY = sa.text("user_id IS NOT NULL AND revoked_at IS NULL")
INDEXES = [
    ("uq_api_key_org_name_key", ["organization_id", "name_key"], LIVE_ORG_KEY),
    ("uq_api_key_holder_name_key", ["user_id", "name_key"], LIVE_PERSONAL_KEY),
]

api_key = sa.table(
    "api_key",
    sa.column("id"),
    sa.column("organization_id"),
    sa.column("user_id"),
    sa.column("name"),
    sa.column("name_key"),
    sa.column("revoked_at"),
)


def numbered(name, number):
    """`name (number)`, the name shortened to fit the column."""
    suffix = f" ({number})"
    return name[: NAME_LENGTH - len(suffix)].rstrip() + suffix


def new_names(rows):
    """{key id: new name} for the live keys whose owner has an older one so named.

    `rows` are (id, owner, name) in id order; the owner is the organization for
    organization keys and the holder for personal keys.
    """
    taken = {(owner, fold(name)) for _id, owner, name in rows}
    claimed = set()
    renamed = {}
    for key_id, owner, name in rows:
        if (owner, fold(name)) not in claimed:
            claimed.add((owner, fold(name)))
            continue
        number = 2
        while (owner, fold(numbered(name, number))) in taken:
            number += 1
        renamed[key_id] = numbered(name, number)
        taken.add((owner, fold(renamed[key_id])))
        claimed.add((owner, fold(renamed[key_id])))
    return renamed


def fill_name_keys(connection):
    """Give every key its `name_key`, renaming live duplicates first."""
    rows = connection.execute(
        sa.select(
            api_key.c.id,
            api_key.c.organization_id,
            api_key.c.user_id,
            api_key.c.name,
            api_key.c.revoked_at,
        ).order_by(api_key.c.id)
    ).all()
    live = [
        (key_id, ("user", user_id) if user_id else ("org", org_id), name or "")
        for key_id, org_id, user_id, name, revoked_at in rows
        if revoked_at is None
    ]
    renamed = new_names(live)
    for key_id, _org_id, _user_id, name, _revoked_at in rows:
        name = renamed.get(key_id, name or "")
        if key_id in renamed:
            print(f"  api key {key_id}: a live key of its owner is named alike, now {name!r}")
        connection.execute(
            api_key.update()
            .where(api_key.c.id == key_id)
            .values(name=name, name_key=fold(name))
        )


def upgrade():
    op.add_column("api_key", sa.Column("name_key", sa.String(length=400), nullable=True))
    fill_name_keys(op.get_bind())
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.alter_column(
            "name_key", existing_type=sa.String(length=400), nullable=False
        )
    for name, columns, where in INDEXES:
        op.create_index(
            name,
            "api_key",
            columns,
            unique=True,
            sqlite_where=where,
            postgresql_where=where,
        )
    op.create_table(
        "api_key_reveal",
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("expires_at", core.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_key.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("api_key_id"),
    )
    op.create_index(
        "ix_api_key_reveal_session_hash", "api_key_reveal", ["session_hash"], unique=False
    )


def downgrade():
    op.drop_index("ix_api_key_reveal_session_hash", table_name="api_key_reveal")
    op.drop_table("api_key_reveal")
    for name, _columns, _where in INDEXES:
        op.drop_index(name, table_name="api_key")
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_column("name_key")
