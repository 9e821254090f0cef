"""The last Universal Logout requests each organization's admin sees.

Two rows per organization: the last request whose signature verified (Okta's
own result: `UniversalLogoutAttempt`), and the last one that did not
(`UniversalLogoutUnverified`, anyone may send it: a status and one of
Gatehouse's own short reasons, never the token's text). Not committed.
"""

from __future__ import annotations

from typing import Any

from core.extensions import db
from core.extensions import upsert_insert
from core.models import Organization
from core.models import UniversalLogoutAttempt
from core.models import UniversalLogoutUnverified
from core.models import utcnow
from core.universal_logout_token import Verified


def note_verified(
    org: Organization,
    status: int,
    reason: str,
    verified: Verified | None,
    subject: str = "",
    ended: int = 0,
) -> None:
    """Write the organization's last verified request (an upsert: workers may
    race). `verified` None: Okta's signature checked out but no token was
    accepted (a wrong claim, a replay, several organizations)."""
    values: dict[str, Any] = {
        "organization_id": org.id,
        "received_at": utcnow(),
        "status": status,
        "reason": reason[:300],
        "verified": True,
        "jti": verified.jti if verified is not None else "",
        "subject": subject,
        "sessions_ended": ended,
    }
    insert = upsert_insert()(UniversalLogoutAttempt).values(**values)
    changes = {
        name: value for name, value in values.items() if name != "organization_id"
    }
    db.session.execute(
        insert.on_conflict_do_update(index_elements=["organization_id"], set_=changes)
    )


def note_unverified(org: Organization, status: int, reason: str) -> None:
    """Write the organization's last unverified request (an upsert). `reason`
    is always one of Gatehouse's own sentences, never the token's text."""
    values: dict[str, Any] = {
        "organization_id": org.id,
        "received_at": utcnow(),
        "status": status,
        "reason": reason[:300],
    }
    insert = upsert_insert()(UniversalLogoutUnverified).values(**values)
    changes = {
        name: value for name, value in values.items() if name != "organization_id"
    }
    db.session.execute(
        insert.on_conflict_do_update(index_elements=["organization_id"], set_=changes)
    )


def last_attempt(org: Organization) -> UniversalLogoutAttempt | None:
    """The last verified request addressed to `org`, for the settings page."""
    return db.session.get(UniversalLogoutAttempt, org.id)


def last_unverified(org: Organization) -> UniversalLogoutUnverified | None:
    """The last request naming `org` whose signature did not verify."""
    return db.session.get(UniversalLogoutUnverified, org.id)
