"""member search index: a folded, accent-free search text per user, indexed

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 10:00:00

The members search was a LIKE over `email_key` and `name_key` that read every
member of the organization. Users now carry `search_text` (both keys without
accents, and their words: `core.models.search`), computed here for every
existing row, and an index answers the search:

- SQLite: the FTS5 table `user_search` (trigram tokenizer, external content
  read from `user`) and three triggers that keep it in step with every INSERT,
  UPDATE and DELETE of a user. A later migration that rebuilds the `user`
  table on SQLite (batch mode copies it) drops those triggers with it: it must
  create them again and run `core.models.search.SQLITE_REBUILD`.
- PostgreSQL: the pg_trgm extension (trusted since PostgreSQL 13: the database
  owner may create it) and a GIN trigram index on `search_text`. The downgrade
  leaves the extension, which other schemas of the database may use.
"""

import sqlalchemy as sa
from alembic import op

from core.models.search import POSTGRES_EXTENSION
from core.models.search import SEARCH_TABLE
from core.models.search import SQLITE_DDL
from core.models.search import SQLITE_REBUILD
from core.models.search import TRIGRAM_INDEX
from core.models.search import search_text

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BATCH = 5_000
TRIGGERS = ("insert", "delete", "update")


def fill_search_text(connection) -> None:
    """Compute `search_text` of every existing user, BATCH rows at a time."""
    user = sa.table(
        "user",
        sa.column("id"),
        sa.column("email_key"),
        sa.column("name_key"),
        sa.column("search_text"),
    )
    update = (
        user.update()
        .where(user.c.id == sa.bindparam("row_id"))
        .values(search_text=sa.bindparam("text"))
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(user.c.id, user.c.email_key, user.c.name_key)
            .where(user.c.id > last)
            .order_by(user.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        connection.execute(
            update,
            [
                {"row_id": row_id, "text": search_text(email or "", names or "")}
                for row_id, email, names in rows
            ],
        )
        last = rows[-1][0]


def upgrade():
    op.add_column(
        "user",
        sa.Column("search_text", sa.Text(), server_default=sa.text("''"), nullable=False),
    )
    connection = op.get_bind()
    fill_search_text(connection)
    if connection.dialect.name == "sqlite":
        for statement in SQLITE_DDL:
            op.execute(statement)
        op.execute(SQLITE_REBUILD)
    else:
        op.execute(POSTGRES_EXTENSION)
        op.create_index(
            TRIGRAM_INDEX,
            "user",
            ["search_text"],
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        )


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        for trigger in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {SEARCH_TABLE}_{trigger}")
        op.execute(f"DROP TABLE IF EXISTS {SEARCH_TABLE}")
    else:
        op.drop_index(TRIGRAM_INDEX, table_name="user")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("search_text")
