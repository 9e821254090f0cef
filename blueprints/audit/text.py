"""Long tokens that may wrap only where a person would break them.

Emails, paths and URLs have no spaces: without help a narrow column either
overflows or (with `overflow-wrap: anywhere`) breaks them mid-word. `soft_breaks`
escapes the text and allows a line break after `@` and `/` in tokens longer
than LONG characters (hyphens already allow one); shorter ones stay whole.
"""

from __future__ import annotations

import re

from markupsafe import Markup
from markupsafe import escape

# Tokens up to this long ("dana@acme.test") are never broken.
LONG = 24
_TOKEN = re.compile(r"\S{" + str(LONG + 1) + ",}")
_AFTER = re.compile(r"([@/])(?=[^\s@/])")


def soft_breaks(value: object) -> Markup:
    """`value` escaped, with `<wbr>` after each @ and / of its long tokens."""
    text = str(escape("" if value is None else value))
    return Markup(_TOKEN.sub(lambda m: _AFTER.sub(r"\1<wbr>", m.group()), text))
