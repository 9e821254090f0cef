"""The SAML sign-in's units of work: starting one, and spending its answer.

`start_saml` is claimed for "saml" with okta.start.claim_protocol: the shared
start page, the emailed link and "Link my Okta account" reach it through
`okta.start.start_flow`; `start_saml_test` starts an owner's or admin's test
sign-in (see test_mode). `accept_answer` spends a verified answer once.
"""

from __future__ import annotations

import secrets

from flask import redirect
from flask import request
from werkzeug.wrappers import Response

from blueprints.okta.rules import OktaProfile
from blueprints.okta_saml.authn_requests import REQUEST_LIFETIME
from blueprints.okta_saml.authn_requests import consume_request
from blueprints.okta_saml.authn_requests import forget_expired
from blueprints.okta_saml.authn_requests import start_request
from blueprints.okta_saml.errors import SamlError
from blueprints.okta_saml.replay import remember_assertion
from blueprints.okta_saml.verify import Assertion
from core.extensions import db
from core.models import LinkToken
from core.models import Organization
from core.models import SamlRequest
from core.models import SsoConfig
from core.models import User
from core.security import hash_token
from core.security import safe_next_url

# Ties an AuthnRequest to the browser that sent it. SameSite=None because Okta's
# answer is a cross-site POST (the Lax session cookie stays behind); Secure is
# required with it (browsers accept it on http://localhost for local trials).
BROWSER_COOKIE = "gatehouse_saml"


def browser_value() -> str:
    """The browser's SAML cookie value, or a new one (several tabs share one)."""
    value = request.cookies.get(BROWSER_COOKIE, "")
    if 32 <= len(value) <= 64 and value.replace("-", "").replace("_", "").isalnum():
        return value
    return secrets.token_urlsafe(32)


def start_saml(
    org: Organization,
    next_url: str | None,
    link_token: LinkToken | None = None,
    link_user: User | None = None,
) -> Response:
    """Send an AuthnRequest to the organization's Okta (HTTP-Redirect binding).

    What the sign-in is for is stored under the request's ID, not in the
    browser's session: Okta's answer is a cross-site POST without our session
    cookie. The request is bound to this browser by the SAML cookie, so an
    answer cannot be replayed into another person's browser (login and
    account-linking CSRF). `link_user` is the signed-in member asking to link
    their own Okta account.
    """
    return _redirect_to_okta(
        org,
        next_url=safe_next_url(next_url) or "",
        link_token_hash=link_token.token_hash if link_token else None,
        link_user_id=link_user.id if link_user is not None else None,
    )


def start_saml_test(org: Organization, tester: User) -> Response:
    """Send an AuthnRequest for an owner's or admin's test sign-in.

    Its `saml_request` row names the tester (`test_user_id`), which sends its
    answer down the ACS's test path: verified like any sign-in, then only
    recorded as the organization's test result.
    """
    return _redirect_to_okta(org, test_user_id=tester.id)


def _redirect_to_okta(org: Organization, **purpose: object) -> Response:
    """Record the AuthnRequest, bound to this browser's SAML cookie; redirect."""
    forget_expired()
    value = browser_value()
    url = start_request(org, browser_hash=hash_token(value), **purpose)  # type: ignore[arg-type]
    db.session.commit()
    response = redirect(url)
    response.set_cookie(
        BROWSER_COOKIE,
        value,
        max_age=int(REQUEST_LIFETIME.total_seconds()),
        path="/",  # also sent to the start, so tabs share one value
        secure=True,
        httponly=True,
        samesite="None",
    )
    return response


def profile_of(config: SsoConfig, assertion: Assertion) -> OktaProfile:
    """What a verified assertion says about the person."""
    email = assertion.attribute("email") or (
        assertion.name_id if "@" in assertion.name_id else ""
    )
    return OktaProfile(
        issuer=config.saml_entity_id or assertion.issuer,
        subject=assertion.name_id,
        email=email or None,
        given_name=assertion.attribute("firstName")[:200],
        family_name=assertion.attribute("lastName")[:200],
    )


def accept_answer(
    org: Organization, pending: SamlRequest | None, assertion: Assertion
) -> None:
    """Spend the AuthnRequest (if any) and the assertion, once each; commit.

    :raise SamlError: when another worker answered the request first, or the
        assertion was used before; nothing is kept then.
    """
    if pending is not None and not consume_request(pending):
        db.session.rollback()
        raise SamlError("unknown_request", "AuthnRequest answered concurrently")
    if not remember_assertion(org, assertion):
        raise SamlError(
            "replayed", "assertion already used", assertion=assertion.assertion_id
        )
    forget_expired()
    db.session.commit()
