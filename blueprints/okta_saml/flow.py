"""Starting a SAML sign-in (used by the shared /sso/okta start and emailed links).

Kept apart from the routes so the OIDC blueprint can hand over to it without
importing the ACS view.
"""

from __future__ import annotations

from flask import redirect
from werkzeug.wrappers import Response

from core import saml
from core.extensions import db
from core.models import LinkToken
from core.models import Organization
from core.security import safe_next_url


def start_saml(
    org: Organization, next_url: str | None, link_token: LinkToken | None = None
) -> Response:
    """Send an AuthnRequest to the organization's Okta (HTTP-Redirect binding).

    What the sign-in is for is stored under the request's ID, not in the
    browser's session: Okta's answer is a cross-site POST without our cookie.
    """
    saml.forget_expired()
    url = saml.start_request(
        org,
        next_url=safe_next_url(next_url) or "",
        link_token_hash=link_token.token_hash if link_token else None,
    )
    db.session.commit()
    return redirect(url)
