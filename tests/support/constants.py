"""Values several test modules share."""

from __future__ import annotations

from pathlib import Path

# The repository's root (where `flask` finds app.py and migrations/).
REPO = Path(__file__).resolve().parents[2]
