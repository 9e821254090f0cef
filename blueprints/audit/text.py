"""Long tokens that may wrap only where a person would break them.

Emails, paths and URLs have no spaces: without help a narrow column either
overflows or (with `overflow-wrap: anywhere`) breaks them mid-word. `soft_breaks`
escapes the text and allows a line break after `@` and `/` only (hyphens
already allow one).
"""

from __future__ import annotations

import re

from markupsafe import Markup
from markupsafe import escape

_AFTER = re.compile(r"([@/])(?=[^\s@/])")


def soft_breaks(value: object) -> Markup:
    """`value` escaped, with `<wbr>` after each @ and / that a word follows."""
    return Markup(_AFTER.sub(r"\1<wbr>", str(escape("" if value is None else value))))
