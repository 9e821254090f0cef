"""The members search: the text each user is found by, and the index over it.

What is searched is what the members page always searched: the email's key
(`email_key`) and the names' key (`name_key`: display, given and family name),
each folded by `core.models.fold`, plus one thing more: accents are removed
on both sides, so "jose" finds "José" and "josé" finds "Jose". Removing an
accent is done character by character, so whatever a search found before it
still finds.

`search_text` puts both keys in one string, apart, and then every word of them
(a run of letters, digits and their marks) again, each after two WORD marks:

    "ada.nunez@acme.test" SECTION "ada nunez ada nunez"
    WORD WORD "ada" WORD WORD "nunez" WORD WORD "acme" WORD WORD "test"

A search of three characters or more is a substring of that text (a trigram
index finds it); it holds no control character (`search_needle` refuses one),
so it never spans a SECTION or WORD mark: it lies inside the email, inside the
names or inside one word, which is inside one of them. One or two characters
cannot be a trigram: they are matched at the start of a word (the marks make
the trigram, "\\x1e\\x1ek" for "k"), so "Wu" and "Li" find their people through
the index at any size. The index is an FTS5 table with the trigram tokenizer
on SQLite (`user_search`, kept in step with `user` by triggers), a pg_trgm GIN
index on PostgreSQL. `search_text` itself is written with every insert and
update of a user (the events in `core.models.people`, and the column default
for bulk inserts), so no write path can forget it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

from sqlalchemy import DDL

from core.models.values import unsafe_characters

SECTION = "\x1f"  # between the email and the names
WORD = "\x1e"  # two of them before each word
# Shorter searches are matched at the start of a word.
TRIGRAM = 3
SEARCH_TABLE = "user_search"
# The FTS5 table and the tables SQLite keeps it in: no model describes them, so
# schema comparisons (Alembic's autogenerate, the migration tests) skip them.
SQLITE_TABLES = frozenset(
    [
        SEARCH_TABLE,
        *(f"{SEARCH_TABLE}_{part}" for part in ("data", "idx", "docsize", "config")),
    ]
)
TRIGRAM_INDEX = "ix_user_search_trgm"

# The combining marks removed: the Combining Diacritical Marks blocks (Latin,
# Greek and Cyrillic accents: acute, grave, tilde, diaeresis, cedilla, ring...).
_ACCENT_BLOCKS = (
    (0x0300, 0x036F),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE20, 0xFE2F),
)
# Letters whose accent is part of the letter (no decomposition) that readers
# still treat as accented: "Søren" is found by "soren", "Łukasz" by "lukasz".
_STROKES = {"ø": "o", "ł": "l", "đ": "d", "ħ": "h", "ŧ": "t", "ı": "i"}


def _is_accent(ch: str) -> bool:
    code = ord(ch)
    return any(low <= code <= high for low, high in _ACCENT_BLOCKS)


def _plain(ch: str) -> str:
    """One character without its accents (possibly empty, for a lone accent)."""
    if ch in _STROKES:
        return _STROKES[ch]
    if ch.isascii():
        return ch
    bare = "".join(c for c in unicodedata.normalize("NFD", ch) if not _is_accent(c))
    return unicodedata.normalize("NFC", bare)


def unaccent(text: str) -> str:
    """`text` (already folded) with its accents removed, one character at a time.

    Character by character, so that a substring of a text stays a substring of
    it without accents: no search that matched before stops matching.
    """
    if text.isascii():
        return text
    return "".join(_plain(ch) for ch in text)


def _words(text: str) -> list[str]:
    """The words of `text`: runs of letters and digits, with their marks."""
    runs: list[str] = []
    current: list[str] = []
    for ch in text:
        if ch.isalnum() or unicodedata.category(ch).startswith("M"):
            current.append(ch)
        elif current:
            runs.append("".join(current))
            current = []
    if current:
        runs.append("".join(current))
    return runs


def _clean(text: str) -> str:
    """No mark character may come from the data itself (emails and names refuse
    control characters; a row from before that rule gets spaces instead)."""
    return "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)


def search_text(email_key: str, name_key: str) -> str:
    """The text a user is found by, from their `email_key` and `name_key`."""
    email, names = unaccent(_clean(email_key)), unaccent(_clean(name_key))
    words = dict.fromkeys(_words(email) + _words(names))
    return email + SECTION + names + "".join(WORD * 2 + word for word in words)


def search_needle(key: str) -> str | None:
    """What to look for in `search_text` for a folded search `key` (not empty).

    None when nothing can match: a search with a control or line-separator
    character (no email or name holds one), one made only of accents, or a short
    search (one or two characters) that is not the start of a word.
    """
    if unsafe_characters(key):
        return None
    plain = unaccent(key)
    if len(plain) >= TRIGRAM:
        return plain
    if not plain or _words(plain) != [plain]:
        return None
    return WORD * 2 + plain


def fts_phrase(needle: str) -> str:
    """`needle` as one FTS5 string: never read as query syntax (`"` doubled)."""
    return '"' + needle.replace('"', '""') + '"'


# -- DDL: the same statements for create_all (tests, bench) and migration 0009 --

# External content: the FTS table keeps only its index and reads the text from
# `user`; the triggers keep it in step with every INSERT, UPDATE and DELETE,
# foreign-key cascades included. `case_sensitive 1`: the text and the search
# are already folded (`fold` is Unicode's full case folding), so the index
# compares exactly, like PostgreSQL's LIKE.
SQLITE_DDL = (
    f"CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5(search_text,"
    " content='user', content_rowid='id', tokenize='trigram case_sensitive 1')",
    f'CREATE TRIGGER {SEARCH_TABLE}_insert AFTER INSERT ON "user" BEGIN'
    f" INSERT INTO {SEARCH_TABLE}(rowid, search_text)"
    " VALUES (new.id, new.search_text); END",
    f'CREATE TRIGGER {SEARCH_TABLE}_delete AFTER DELETE ON "user" BEGIN'
    f" INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}, rowid, search_text)"
    " VALUES ('delete', old.id, old.search_text); END",
    f'CREATE TRIGGER {SEARCH_TABLE}_update AFTER UPDATE OF id, search_text ON "user"'
    f" BEGIN INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}, rowid, search_text)"
    " VALUES ('delete', old.id, old.search_text);"
    f" INSERT INTO {SEARCH_TABLE}(rowid, search_text)"
    " VALUES (new.id, new.search_text); END",
)
SQLITE_REBUILD = f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES ('rebuild')"
# What a migration that rebuilds `user` on SQLite (Alembic's batch mode copies
# the table, and its triggers go with the old copy) runs afterwards.
SQLITE_RESTORE = (
    *(
        f"DROP TRIGGER IF EXISTS {SEARCH_TABLE}_{name}"
        for name in ("insert", "delete", "update")
    ),
    *SQLITE_DDL[1:],
    SQLITE_REBUILD,
)
SQLITE_DROP = f"DROP TABLE IF EXISTS {SEARCH_TABLE}"
# pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may add it.
POSTGRES_EXTENSION = "CREATE EXTENSION IF NOT EXISTS pg_trgm"


def restore_sqlite_search(op: Any) -> None:
    """After a migration rebuilt the `user` table on SQLite: its search
    triggers again, and the index read afresh (nothing on PostgreSQL, whose
    index lives on the table itself)."""
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_RESTORE:
            op.execute(statement)


def sqlite_ddl() -> list[DDL]:
    """The FTS table and its triggers, as DDL run only on SQLite."""
    return [DDL(statement).execute_if(dialect="sqlite") for statement in SQLITE_DDL]


def schema_filters(dialect: str) -> dict[str, Callable[..., bool]]:
    """Alembic's `include_name` and `include_object` hooks for comparing a
    database with the models (`flask db migrate`, the migration tests).

    They leave out what no model describes: SQLite's FTS5 tables, and, on any
    database but PostgreSQL, the trigram index, which only PostgreSQL gets.
    """

    def include_name(name: str | None, type_: str, _parents: object) -> bool:
        return not (type_ == "table" and name in SQLITE_TABLES)

    def include_object(
        _obj: object, name: str | None, type_: str, *_rest: object
    ) -> bool:
        return not (
            type_ == "index" and name == TRIGRAM_INDEX and dialect != "postgresql"
        )

    return {"include_name": include_name, "include_object": include_object}
