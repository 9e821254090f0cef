"""The reference of a refused Okta sign-in: what a person reads out on the phone.

`1712-signature-k7p3`: the UTC time (hours and minutes) of the refusal, the
kind of failure, and four letters that tell apart refusals of one minute. It is
shown on the refusal page and kept in the refusal's audit row (details
`reference`), so an administrator who is told it finds that row with the audit
log's free-text search (`/audit?q=1712-signature-k7p3`).

Lower case letters and digits only, without the ones read alike on the phone
(0/o, 1/l/i): typed back in any case, a case-insensitive search finds it.

A refusal counted on one row per window (`core.audit.record_repeated`) keeps
the reference of the window's first occurrence; later occurrences show that
one (`stored_reference`), so every page of that window leads to the row.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import g

from core import audit
from core.extensions import db
from core.models import AuditEvent
from core.models import utcnow

LETTERS = "23456789abcdefghjkmnpqrstuvwxyz"
# The OIDC refusals whose reason is a sentence: their failure kind.
KINDS = {
    "no sign-in in progress (expired, replayed or another browser)": "no-sign-in",
    "Okta settings changed during sign-in": "settings-changed",
    "state does not match the sign-in in progress": "state",
    "Okta's answer failed verification": "verification",
    "link expired or already used": "link-expired",
    "own-account link without that member's session": "link-session",
    "Okta metadata unreachable": "metadata",
}
OKTA_ERROR = re.compile(r"^Okta returned ([a-z_]{1,40})$")
_G_KEY = "okta_refusal_reference"


@dataclass(frozen=True)
class Reference:
    """A refusal's reference and when it was made."""

    code: str
    at: datetime


def failure_kind(reason: str, details: dict[str, Any]) -> str:
    """A few words for what failed: SAML's failure kind, or the OIDC reason's."""
    if details.get("failure"):
        text = str(details["failure"])
    elif reason in KINDS:
        text = KINDS[reason]
    elif match := OKTA_ERROR.match(reason):
        text = f"okta-{match.group(1)}"
    elif reason.startswith("Okta returned "):
        text = "okta-error"
    else:
        text = reason
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:24].strip("-")
    return slug or "refused"


def new_reference(reason: str, details: dict[str, Any]) -> Reference:
    """A fresh reference for a refusal happening now."""
    now = utcnow()
    letters = "".join(secrets.choice(LETTERS) for _ in range(4))
    return Reference(f"{now:%H%M}-{failure_kind(reason, details)}-{letters}", now)


def remember(reference: Reference) -> Reference:
    """Keep the reference for the refusal page this request answers with."""
    setattr(g, _G_KEY, reference)
    return reference


def current() -> Reference | None:
    """The reference of this request's refusal, if it was audited."""
    return g.get(_G_KEY)


def stored_reference(
    kind: str, organization_id: int | None, key: str, candidate: Reference
) -> Reference:
    """The reference kept on the counted row for (organization, kind, key).

    The candidate when this occurrence opened the row (or it cannot be read).
    """
    row = db.session.execute(
        db.select(AuditEvent.details, AuditEvent.created_at).where(
            AuditEvent.repeat_key == audit.repeat_key(kind, organization_id, key)
        )
    ).one_or_none()
    if row is None or not isinstance(row.details, dict):
        return candidate
    code = row.details.get("reference")
    return Reference(code, row.created_at) if isinstance(code, str) else candidate
