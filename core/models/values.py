"""What every table shares: UTC timestamps, the keys of names and emails, row ids.

Case-insensitive uniqueness (organization names, emails, group names) is enforced
by a unique index on a `*_key` column computed by `fold` or `email_fold`, so it
holds on SQLite and PostgreSQL alike and under concurrent writers.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC
from datetime import datetime
from typing import Any

import email_validator
from email_validator import EmailNotValidError
from email_validator import validate_email
from sqlalchemy import DateTime
from sqlalchemy import Integer
from sqlalchemy import TypeDecorator
from sqlalchemy import literal_column
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column


def utcnow() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back timezone-aware.

    PostgreSQL stores it as `timestamp with time zone` (given and read back
    aware); SQLite has no timezone type, so it stores naive UTC and the value is
    tagged UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime | None, dialect: Any
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(
        self, value: datetime | None, dialect: Any
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Versioned:
    """A row with a version number, the ETag of its SCIM resource (RFC 7644 §3.14).

    1 when inserted, and one more at every UPDATE of the row, whoever makes it
    (SCIM, pages, CLI, sign-in): the database computes it in the UPDATE itself
    (`version = version + 1`), so two concurrent writers never store different
    contents under one version. `eager_defaults` brings the new value back with
    the UPDATE (RETURNING) instead of a second query when it is read.
    """

    __mapper_args__ = {"eager_defaults": True}

    version: Mapped[int] = mapped_column(
        Integer,
        default=1,
        server_default="1",
        onupdate=literal_column("version", Integer) + 1,
    )


_ID = re.compile(r"[0-9]{1,18}")


def parse_row_id(text: object) -> int | None:
    """A row id from text: ASCII digits only (not "²" or "٢"), else None."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    if isinstance(text, str) and _ID.fullmatch(text):
        return int(text)
    return None


def unsafe_characters(text: str) -> bool:
    """Whether `text` has control or line/paragraph separator characters.

    Unicode categories Cc (tab, newline, NUL, DEL, U+0085 ...), Zl (U+2028) and
    Zp (U+2029): none belongs in a name, and in an email header they break it.
    """
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in text)


def fold(text: str) -> str:
    """The case-insensitive key of a name: trimmed, in Unicode's composed form
    (NFC, so "é" typed either way is one name) and case-folded."""
    return unicodedata.normalize("NFC", text.strip()).casefold()


# Company directories (and so Okta userNames) use internal domains such as
# corp.local; email-validator refuses those by default, and its docs invite
# changing this list. Still refused: "arpa", "invalid", "onion". Set here, beside
# `email_fold`, so every address is keyed and checked the same way as soon as the
# models are imported (it was a side effect of importing provisioning).
email_validator.SPECIAL_USE_DOMAIN_NAMES = [
    name
    for name in email_validator.SPECIAL_USE_DOMAIN_NAMES
    if name not in ("local", "localhost", "test")
]


def email_fold(address: str) -> str:
    """The key under which an email is unique and looked up.

    What is stored and shown is the address as sent; its key is the address as
    mail systems treat it: the local part composed (NFC), the domain through
    IDNA (full-width letters, "．" and xn-- forms are one domain), then
    case-folded. Two addresses that look the same are the same member.
    """
    try:
        normalized = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError:
        return fold(address)
    return fold(normalized.normalized)
