"""The health panel's context for Settings and OKTA AUTHENTICATION.

The partial `templates/settings/_health.html` calls `health_panel()` itself,
so only the pages that include it pay for its queries, and no view has to
pass it. Both pages are owners' and admins' only (`admin_required`); the
panel asks again, so an include on any other page never shows it to a member.
"""

from __future__ import annotations

from typing import Any

from flask_login import current_user

from blueprints.settings import bp
from core.health import Health
from core.health import health_of


def health_panel() -> Health | None:
    """The signed-in owner's or admin's organization's health, else None."""
    if not current_user.is_authenticated or not current_user.is_admin:
        return None
    return health_of(current_user.organization_id)


@bp.context_processor
def _offer_the_panel() -> dict[str, Any]:
    return {"health_panel": health_panel}
