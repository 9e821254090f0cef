"""SP-initiated sign-in: the AuthnRequests Gatehouse sends and their answers.

What a sign-in is for is stored under the request's ID (`saml_request`), not
in the browser's session: Okta's answer is a cross-site POST without it.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode
from urllib.parse import urlsplit

from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request

from blueprints.okta_saml.sp import settings_for
from core.extensions import db
from core.models import Organization
from core.models import SamlAssertionSeen
from core.models import SamlRequest
from core.models import utcnow

REQUEST_LIFETIME = timedelta(minutes=10)


def start_request(
    org: Organization,
    browser_hash: str,
    next_url: str = "",
    link_token_hash: str | None = None,
    link_user_id: int | None = None,
    test_user_id: int | None = None,
) -> str:
    """Record a new AuthnRequest for `org` (not committed); return Okta's URL for it.

    HTTP-Redirect binding: the request travels deflated in the query string.
    `browser_hash` is the hash of the browser's SAML cookie value;
    `test_user_id` marks a test sign-in by that owner or admin.
    """
    config = org.sso_config
    assert config is not None and config.saml_sso_url
    request = OneLogin_Saml2_Authn_Request(settings_for(config))
    now = utcnow()
    db.session.add(
        SamlRequest(
            id=request.get_id(),
            organization_id=org.id,
            config_version=config.version,
            next_url=next_url,
            link_token_hash=link_token_hash,
            link_user_id=link_user_id,
            test_user_id=test_user_id,
            browser_hash=browser_hash,
            created_at=now,
            expires_at=now + REQUEST_LIFETIME,
        )
    )
    query = urlencode({"SAMLRequest": request.get_request()})
    separator = "&" if urlsplit(config.saml_sso_url).query else "?"
    return f"{config.saml_sso_url}{separator}{query}"


def pending_request(request_id: str) -> SamlRequest | None:
    """The unanswered, unexpired AuthnRequest with this ID, or None."""
    if not request_id or len(request_id) > 100:
        return None
    row = db.session.get(SamlRequest, request_id)
    if row is None or row.expires_at <= utcnow():
        return None
    return row


def consume_request(row: SamlRequest) -> bool:
    """Mark the request answered; False if another worker got there first."""
    result = db.session.execute(
        db.delete(SamlRequest).where(
            SamlRequest.id == row.id, SamlRequest.expires_at > utcnow()
        )
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def forget_expired() -> None:
    """Drop expired requests and replay-cache rows (not committed)."""
    now = utcnow()
    db.session.execute(db.delete(SamlRequest).where(SamlRequest.expires_at <= now))
    db.session.execute(
        db.delete(SamlAssertionSeen).where(SamlAssertionSeen.expires_at <= now)
    )
