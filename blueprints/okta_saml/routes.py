"""Views of the okta_saml blueprint: the ACS (Okta's POST) and the SP metadata."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Response
from flask import request

from blueprints.okta.outcome import audit_refusal
from blueprints.okta.outcome import audit_repeated_refusal
from blueprints.okta.outcome import finish
from blueprints.okta.outcome import refuse
from blueprints.okta.rules import OktaProfile
from blueprints.okta.rules import resolve_sign_in
from blueprints.okta_saml import bp
from blueprints.okta_saml.authn_requests import consume_request
from blueprints.okta_saml.authn_requests import forget_expired
from blueprints.okta_saml.authn_requests import pending_request
from blueprints.okta_saml.envelope import MAX_RESPONSE_BYTES
from blueprints.okta_saml.envelope import organizations_for_issuer
from blueprints.okta_saml.envelope import peek
from blueprints.okta_saml.errors import SamlError
from blueprints.okta_saml.flow import BROWSER_COOKIE
from blueprints.okta_saml.replay import remember_assertion
from blueprints.okta_saml.sp import acs_url
from blueprints.okta_saml.sp import sp_entity_id
from blueprints.okta_saml.sp import sp_metadata
from blueprints.okta_saml.verify import Assertion
from blueprints.okta_saml.verify import verify_response
from core import linking
from core import throttle
from core.extensions import csrf
from core.extensions import db
from core.models import Organization
from core.models import SamlRequest
from core.models import User
from core.saml_metadata import ACS_PATH
from core.saml_metadata import SP_METADATA_PATH
from core.security import hash_token
from core.security import safe_next_url
from core.sso import sso_available

METHOD = "okta-saml"
# A urlencoded SAMLResponse of the largest accepted size, with room to spare.
MAX_ACS_BODY_BYTES = 2 * MAX_RESPONSE_BYTES


def _message(kind: str) -> tuple[str, int]:
    """What a person reads when a SAML sign-in fails, and the HTTP status."""
    messages = {
        "signature": (
            "Okta's signature on this sign-in does not match the certificate "
            "Gatehouse has for your organization. If the signing certificate was "
            "changed in Okta, an administrator should open Settings, Okta "
            "authentication, and click Refresh metadata."
        ),
        "weak_algorithm": (
            "Okta signed this answer with SHA-1, which Gatehouse refuses. An "
            "administrator should set Signature Algorithm RSA-SHA256 and Digest "
            "Algorithm SHA256 in the Okta app's SAML settings."
        ),
        "expired": (
            "Okta's sign-in answer has expired. Check that this server's clock is "
            "right, then sign in again."
        ),
        "not_yet_valid": (
            "Okta's sign-in answer is dated in the future: this server's clock is "
            "behind. Check the server clock, then sign in again."
        ),
        "audience": (
            "Okta's answer was meant for another application. An administrator "
            "should set Audience URI (SP Entity ID) in the Okta app to "
            f"{sp_entity_id()}."
        ),
        "destination": (
            "Okta sent this answer to another address. An administrator should set "
            f"the Single sign on URL in the Okta app to {acs_url()}."
        ),
        "issuer": (
            "The answer came from an Okta app other than the one set up for your "
            "organization. An administrator should check the metadata URL in "
            "Settings, Okta authentication."
        ),
        "denied": (
            "Okta did not sign you in. Usually this means you are not assigned to "
            "the Gatehouse app in Okta: ask your Okta administrator to assign you."
        ),
        "unknown_idp": (
            "Gatehouse does not know the Okta app that sent you here. Ask your "
            "administrator to set up Okta sign-in (SAML) with that app's metadata "
            "URL."
        ),
        "dashboard_off": (
            "Signing in from the Okta dashboard is switched off for your "
            "organization. Use Single Sign On on Gatehouse's sign-in page instead."
        ),
        "not_set_up": (
            "Okta sign-in with SAML is not set up for this organization, or was "
            "switched off. Ask your administrator."
        ),
        "settings_changed": "Your organization's Okta settings changed. Start again.",
        "other_browser": (
            "This sign-in was started in another browser, or this browser did not "
            "keep Gatehouse's sign-in cookie. Start again from the sign-in page, "
            "in the browser you use for Gatehouse."
        ),
        "throttled": (
            "Too many sign-in attempts from your network failed. Wait a few "
            "minutes, then start again from the sign-in page."
        ),
    }
    start_again = {
        "unknown_request": "This sign-in has expired or was already used.",
        "replayed": "This sign-in answer was already used.",
        "malformed": "Okta's answer could not be read, so you were not signed in.",
    }
    if kind in start_again:
        return f"{start_again[kind]} Start again from the sign-in page.", 400
    if kind == "throttled":
        return messages[kind], 429
    return (
        messages.get(
            kind,
            "Okta's answer could not be verified, so you were not signed in. Start "
            "again; if it keeps happening, ask your administrator to click Refresh "
            "metadata in Settings, Okta authentication.",
        ),
        403,
    )


def _refused(org: Organization | None, kind: str, reason: str, **details: Any) -> Any:
    """Refuse, audit, and count the refusal against the client's address.

    One audit row each, also for refusals that come before any signature is
    checked: the count makes the ACS answer 429 after
    SAML_MAX_FAILURES_PER_ADDRESS of them per window, and from then on the
    address costs one counted row (see `acs`), so their volume is bounded per
    address like wrong passwords are.
    """
    throttle.count_saml_failure(request.remote_addr or "")
    audit_refusal(org, reason, method=METHOD, failure=kind, **details)
    return refuse(*_message(kind))


@bp.post(ACS_PATH)
@csrf.exempt
def acs() -> Any:
    """Okta's POST: find the organization, verify strictly, then the sign-in rules.

    The organization comes from the AuthnRequest the response answers, or, for
    a dashboard sign-in, from the response's Issuer; either way the response is
    then verified against that organization's own certificates and entity ID.
    """
    if throttle.saml_throttled(request.remote_addr or ""):
        # Counted on one row per address and window (the body is not read, so
        # no organization): a flood must not turn into a flood of audit rows.
        audit_repeated_refusal(
            None,
            "too many refused answers from this address",
            method=METHOD,
            key="throttled",
            failure="throttled",
        )
        return refuse(*_message("throttled"))
    # Refuse big bodies before the form is read (Werkzeug would parse any size).
    request.max_content_length = MAX_ACS_BODY_BYTES
    raw = request.form.get("SAMLResponse", "")
    try:
        envelope = peek(raw)
    except SamlError as exc:
        return _refused(None, exc.kind, exc.reason)
    pending: SamlRequest | None = None
    if envelope.in_response_to is not None:
        pending = pending_request(envelope.in_response_to)
        if pending is None:
            return _refused(
                None,
                "unknown_request",
                "InResponseTo names no pending AuthnRequest (expired or used)",
                issuer=envelope.issuer[:300],
            )
        org = db.session.get(Organization, pending.organization_id)
    else:
        candidates = organizations_for_issuer(envelope.issuer)
        if len(candidates) != 1:
            return _refused(
                None,
                "unknown_idp",
                f"no single organization for issuer ({len(candidates)} found)",
                issuer=envelope.issuer[:300],
            )
        org = candidates[0]
    config = org.sso_config if org is not None else None
    if config is None or not sso_available(org) or config.protocol != "saml":
        return _refused(org, "not_set_up", "Okta SAML sign-in is not set up")
    if pending is None and not config.idp_initiated_enabled:
        return _refused(org, "dashboard_off", "dashboard sign-in is switched off")
    if pending is not None and pending.config_version != config.version:
        return _refused(org, "settings_changed", "Okta settings changed during sign-in")
    if pending is not None and not hmac.compare_digest(
        hash_token(request.cookies.get(BROWSER_COOKIE, "")), pending.browser_hash
    ):
        return _refused(
            org, "other_browser", "the browser's SAML cookie does not match the request"
        )
    try:
        assertion = verify_response(
            config, raw, pending.id if pending is not None else None
        )
    except SamlError as exc:
        return _refused(org, exc.kind, exc.reason)
    if pending is not None and not consume_request(pending):
        db.session.rollback()
        return _refused(org, "unknown_request", "AuthnRequest answered concurrently")
    if not remember_assertion(org, assertion):
        return _refused(
            org, "replayed", "assertion already used", assertion=assertion.assertion_id
        )
    forget_expired()
    db.session.commit()
    return _sign_in(org, assertion, pending)


def _sign_in(
    org: Organization, assertion: Assertion, pending: SamlRequest | None
) -> Any:
    """Apply the shared Okta sign-in rules to a verified assertion."""
    config = org.sso_config
    assert config is not None
    email = assertion.attribute("email") or (
        assertion.name_id if "@" in assertion.name_id else ""
    )
    profile = OktaProfile(
        issuer=config.saml_entity_id or assertion.issuer,
        subject=assertion.name_id,
        email=email or None,
        given_name=assertion.attribute("firstName")[:200],
        family_name=assertion.attribute("lastName")[:200],
    )
    link_user = None
    if pending is not None and pending.link_token_hash:
        link_token = linking.find_link_token_by_hash(pending.link_token_hash)
        if link_token is None:
            audit_refusal(
                org,
                "link expired or already used",
                method=METHOD,
                actor=profile.email or "",
            )
            return refuse("This link has expired or was already used.", 400)
        link_user = link_token.user
    elif pending is not None and pending.link_user_id is not None:
        # "Link my Okta account", started by that member, signed in, in this
        # browser (the request is bound to it by the SAML cookie).
        link_user = db.session.get(User, pending.link_user_id)
    outcome = resolve_sign_in(org, "saml", profile, link_user)
    if pending is not None:
        next_url = pending.next_url
    else:
        next_url = safe_next_url(request.form.get("RelayState"))
    return finish(org, profile, outcome, next_url, method=METHOD)


@bp.get(SP_METADATA_PATH)
def metadata() -> Response:
    """Gatehouse's SP metadata, for Okta or anyone who asks (no secrets in it)."""
    return Response(
        sp_metadata(),
        mimetype="application/samlmetadata+xml",
        headers={"Content-Disposition": 'inline; filename="gatehouse-sp-metadata.xml"'},
    )
