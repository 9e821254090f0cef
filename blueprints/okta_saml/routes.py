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
from blueprints.okta.rules import resolve_sign_in
from blueprints.okta_saml import bp
from blueprints.okta_saml.authn_requests import pending_request
from blueprints.okta_saml.envelope import MAX_RESPONSE_BYTES
from blueprints.okta_saml.envelope import organizations_for_issuer
from blueprints.okta_saml.envelope import peek
from blueprints.okta_saml.errors import SamlError
from blueprints.okta_saml.flow import BROWSER_COOKIE
from blueprints.okta_saml.flow import accept_answer
from blueprints.okta_saml.flow import profile_of
from blueprints.okta_saml.messages import message
from blueprints.okta_saml.sp import sp_metadata
from blueprints.okta_saml.test_mode import answer_test_sign_in
from blueprints.okta_saml.test_mode import check_test_answer
from blueprints.okta_saml.verify import Assertion
from blueprints.okta_saml.verify import verify_response
from core import linking
from core import throttle
from core.extensions import csrf
from core.extensions import db
from core.models import Organization
from core.models import SamlRequest
from core.models import SsoConfig
from core.models import User
from core.saml_metadata import ACS_PATH
from core.saml_metadata import SP_METADATA_PATH
from core.security import hash_token
from core.security import safe_next_url
from core.sso import sso_available

METHOD = "okta-saml"
# A urlencoded SAMLResponse of the largest accepted size, with room to spare.
MAX_ACS_BODY_BYTES = 2 * MAX_RESPONSE_BYTES


def _refused(org: Organization | None, error: SamlError) -> Any:
    """Refuse, audit, and count the refusal against the client's address.

    One audit row each, also for refusals that come before any signature is
    checked: the count makes the ACS answer 429 after
    SAML_MAX_FAILURES_PER_ADDRESS of them per window, and from then on the
    address costs one counted row (see `acs`), so their volume is bounded per
    address like wrong passwords are.
    """
    throttle.count_saml_failure(request.remote_addr or "")
    audit_refusal(org, error.reason, method=METHOD, failure=error.kind, **error.details)
    return refuse(*message(error.kind))


@bp.post(ACS_PATH)
@csrf.exempt
def acs() -> Any:
    """Okta's POST: find the organization, verify strictly, then the sign-in rules.

    The organization comes from the AuthnRequest the response answers, or, for
    a dashboard sign-in, from the response's Issuer; either way the response is
    then verified against that organization's own certificates and entity ID.
    """
    if throttle.saml_throttled(request.remote_addr or ""):
        return _throttled()
    # Refuse big bodies before the form is read (Werkzeug would parse any size).
    request.max_content_length = MAX_ACS_BODY_BYTES
    raw = request.form.get("SAMLResponse", "")
    try:
        org, pending = _addressee(raw)
    except SamlError as error:
        return _refused(None, error)
    if pending is not None and pending.test_user_id is not None:
        # An owner's or admin's test sign-in: its own path, which verifies the
        # answer the same way and ends in record_test_result, never in finish.
        return _test_answer(org, pending, raw)
    try:
        config = _settings_for_answer(org, pending)
        assertion = verify_response(
            config, raw, pending.id if pending is not None else None
        )
        accept_answer(org, pending, assertion)
    except SamlError as error:
        return _refused(org, error)
    assert org is not None
    return _sign_in(org, assertion, pending)


def _test_answer(org: Organization | None, pending: SamlRequest, raw: str) -> Any:
    """The answer to a test AuthnRequest, from the browser that sent it."""
    try:
        tester, config = check_test_answer(org, pending)
    except SamlError as error:
        return _refused(org, error)
    assert org is not None
    return answer_test_sign_in(org, config, pending, tester, raw)


def _throttled() -> Any:
    """Refuse an address that sent too many refused answers lately.

    Counted on one row per address and window (the body is not read, so no
    organization): a flood must not turn into a flood of audit rows.
    """
    audit_repeated_refusal(
        None,
        "too many refused answers from this address",
        method=METHOD,
        key="throttled",
        failure="throttled",
    )
    return refuse(*message("throttled"))


def _addressee(raw: str) -> tuple[Organization | None, SamlRequest | None]:
    """Whose answer this claims to be: the organization, and the request it answers.

    :raise SamlError: for unreadable or hostile XML, an answer to no pending
        request, or an issuer that is not exactly one organization's Okta.
    """
    envelope = peek(raw)
    if envelope.in_response_to is not None:
        pending = pending_request(envelope.in_response_to)
        if pending is None:
            raise SamlError(
                "unknown_request",
                "InResponseTo names no pending AuthnRequest (expired or used)",
                issuer=envelope.issuer[:300],
            )
        return db.session.get(Organization, pending.organization_id), pending
    candidates = organizations_for_issuer(envelope.issuer)
    if len(candidates) != 1:
        raise SamlError(
            "unknown_idp",
            f"no single organization for issuer ({len(candidates)} found)",
            issuer=envelope.issuer[:300],
        )
    return candidates[0], None


def _settings_for_answer(
    org: Organization | None, pending: SamlRequest | None
) -> SsoConfig:
    """The organization's SAML settings, if they still accept this answer.

    :raise SamlError: when SAML is off, a dashboard sign-in is not allowed, the
        settings changed since the request, or another browser sent it.
    """
    config = org.sso_config if org is not None else None
    if config is None or not sso_available(org) or config.protocol != "saml":
        raise SamlError("not_set_up", "Okta SAML sign-in is not set up")
    if pending is None and not config.idp_initiated_enabled:
        raise SamlError("dashboard_off", "dashboard sign-in is switched off")
    if pending is not None and pending.config_version != config.version:
        raise SamlError("settings_changed", "Okta settings changed during sign-in")
    if pending is not None and not hmac.compare_digest(
        hash_token(request.cookies.get(BROWSER_COOKIE, "")), pending.browser_hash
    ):
        raise SamlError(
            "other_browser", "the browser's SAML cookie does not match the request"
        )
    return config


def _sign_in(
    org: Organization, assertion: Assertion, pending: SamlRequest | None
) -> Any:
    """Apply the shared Okta sign-in rules to a verified assertion."""
    config = org.sso_config
    assert config is not None
    profile = profile_of(config, assertion)
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
