"""gunicorn's access log, without the secrets some URLs carry.

An emailed password link (`/password/reset/<secret>`) or Okta link
(`/okta/link/<secret>`) works until it is used or expires; written to a log as
it was requested, anyone who reads the log could use it first. Only the
secret's SHA-256 is stored, so the log must not keep the secret either.
"""

from __future__ import annotations

import re
from typing import Any

from gunicorn.glogging import Logger

# The paths whose last segment is a live secret, and what stands in for it.
SECRET_PATHS = re.compile(r"(/(?:password/reset|okta/link)/)[^/?#\s]+")
MASK = r"\1[secret]"
# Atoms that hold the request line, its path or a URL sent along with it.
URL_ATOMS = ("r", "U", "f")


def mask_secrets(text: str) -> str:
    """`text` with the secret of every emailed-link path replaced."""
    return SECRET_PATHS.sub(MASK, text)


class MaskedSecretsLogger(Logger):
    """The standard access log, with emailed-link secrets masked."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for name in URL_ATOMS:
            if isinstance(atoms.get(name), str):
                atoms[name] = mask_secrets(atoms[name])
        if isinstance(atoms.get("{referer}i"), str):
            atoms["{referer}i"] = mask_secrets(atoms["{referer}i"])
        return atoms
