"""unicode keys: emails keyed as mail systems read them, names in composed form

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 13:30:00

Emails are stored as sent (0005's release) and looked up by `email_key`. The key
is now `core.models.email_fold`: the local part in Unicode's composed form, the
domain through IDNA, case-folded, so two addresses that look the same are one
member. Names (`fold`) are keyed in composed form too. This recomputes every key.

A key that would collide with another row's (two accounts that only differed by
such a form) is left as it was, and named in the output, for an admin to merge.
"""

import sqlalchemy as sa
from alembic import op

from core.models import email_fold
from core.models import fold

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# (table, scope of uniqueness, {key column: (source column, key function)})
KEYS = [
    ("user", "organization_id", {"email_key": ("email", email_fold)}),
    ("user", "organization_id", {"user_name_key": ("user_name", fold)}),
    ("group", "organization_id", {"display_name_key": ("display_name", fold)}),
    ("organization", None, {"name_key": ("name", fold)}),
]


def upgrade():
    connection = op.get_bind()
    for table_name, scope, columns in KEYS:
        table = sa.table(
            table_name,
            sa.column("id"),
            *([sa.column(scope)] if scope else []),
            *[sa.column(name) for pair in columns.items() for name in (pair[0], pair[1][0])],
        )
        for key_column, (source, key) in columns.items():
            rows = connection.execute(
                sa.select(
                    table.c.id,
                    table.c[scope] if scope else sa.literal(None),
                    table.c[source],
                    table.c[key_column],
                )
            ).all()
            taken = {(row[1], row[3]) for row in rows}
            for row_id, scope_value, text, old in rows:
                new = key(text or "")
                if new == old:
                    continue
                if (scope_value, new) in taken:
                    print(
                        f"  {table_name} {row_id}: {key_column} stays {old!r}: "
                        f"{new!r} belongs to another row (merge them by hand)"
                    )
                    continue
                connection.execute(
                    table.update().where(table.c.id == row_id).values({key_column: new})
                )
                taken.discard((scope_value, old))
                taken.add((scope_value, new))


def downgrade():
    # The old keys were a plain case fold of the stored text.
    connection = op.get_bind()
    for table_name, scope, columns in KEYS:
        for key_column, (source, _key) in columns.items():
            table = sa.table(table_name, sa.column("id"), sa.column(source), sa.column(key_column))
            for row_id, text in connection.execute(sa.select(table.c.id, table.c[source])).all():
                connection.execute(
                    table.update()
                    .where(table.c.id == row_id)
                    .values({key_column: (text or "").strip().casefold()})
                )
