"""Views of the okta_oidc blueprint: Okta's redirect back (the callback)."""

from __future__ import annotations

import time
from typing import Any

from flask import request
from flask import session
from flask_login import current_user

from blueprints.okta.outcome import FLOW_SECONDS
from blueprints.okta.outcome import audit_refusal
from blueprints.okta.outcome import audit_repeated_refusal
from blueprints.okta.outcome import finish
from blueprints.okta.outcome import refuse
from blueprints.okta.rules import OktaProfile
from blueprints.okta.rules import resolve_sign_in
from blueprints.okta_oidc import bp
from blueprints.okta_oidc.answer import OKTA_ERRORS
from blueprints.okta_oidc.answer import VERIFICATION_ERRORS
from blueprints.okta_oidc.answer import profile_of
from blueprints.okta_oidc.answer import verified_claims
from blueprints.okta_oidc.flow import FLOW_KEY
from blueprints.okta_oidc.flow import state_matches
from blueprints.okta_oidc.test_mode import answer_test_sign_in
from core import linking
from core.extensions import db
from core.models import Organization
from core.models import SsoConfig
from core.models import User
from core.sso import sso_available


def _audit_refusal(
    org: Organization | None, reason: str, actor: str = "anonymous", **details: Any
) -> None:
    audit_refusal(org, reason, method="okta-oidc", actor=actor, **details)


def _audit_repeated(
    org: Organization | None, reason: str, key: str | None = None, **details: Any
) -> None:
    """A callback refusal that needs no verified answer from Okta: counted.

    Anyone can repeat these for free (a bare GET, or a flow they started
    themselves), so they are one row per reason and client address per window.
    """
    audit_repeated_refusal(org, reason, method="okta-oidc", key=key, **details)


class _Refused(Exception):
    """A step of the callback refused the answer; `page` is what to send back."""

    def __init__(self, page: Any) -> None:
        super().__init__()
        self.page = page


@bp.get("/okta/callback")
def callback() -> Any:
    """Okta's redirect back: verify everything, then apply the sign-in rules."""
    flow = session.pop(FLOW_KEY, None)
    if flow is not None and flow.get("test"):
        # An owner's or admin's test sign-in: its own path, which verifies the
        # answer the same way and ends in record_test_result, never in finish.
        return answer_test_sign_in(flow)
    try:
        org = _flow_organization(flow)
        config = _check_answer(org, flow)
        profile = _verified_profile(org, config)
        link_user = _requested_link(org, flow, profile)
    except _Refused as refused:
        return refused.page
    outcome = resolve_sign_in(org, "oidc", profile, link_user)
    return finish(org, profile, outcome, flow.get("next"), method="okta-oidc")


def _flow_organization(flow: dict[str, Any] | None) -> Organization:
    """The organization of the sign-in this browser has in progress.

    :raise _Refused: when there is none (expired, replayed or another browser).
    """
    org = db.session.get(Organization, flow["org_id"]) if flow else None
    if (
        flow is None
        or org is None
        or time.time() - flow.get("started", 0) > FLOW_SECONDS
    ):
        _audit_repeated(
            org, "no sign-in in progress (expired, replayed or another browser)"
        )
        raise _Refused(
            refuse(
                "This sign-in has expired or was already used. Start again from the "
                "sign-in page.",
                400,
            )
        )
    return org


def _check_answer(org: Organization, flow: dict[str, Any]) -> SsoConfig:
    """The configuration the sign-in started with, if this answer belongs to it.

    :raise _Refused: when the settings changed meanwhile, the state is not this
        browser's sign-in (which is left in progress), or Okta sent an error.
    """
    config = org.sso_config
    if not sso_available(org) or config is None or config.version != flow["version"]:
        _audit_repeated(org, "Okta settings changed during sign-in")
        raise _Refused(
            refuse("Your organization's Okta settings changed. Start again.", 400)
        )
    state = request.args.get("state", "")
    if not state_matches(config, flow, state):
        # Not the answer to the sign-in this browser started (forged or stale):
        # leave that sign-in alone and refuse this request.
        session[FLOW_KEY] = flow
        if "error" in request.args and "state" not in request.args:
            # An error without any state (RFC 6749 asks for it; some servers
            # leave it out) is still worth explaining; it spends nothing.
            raise _Refused(okta_error_page(org))
        _audit_repeated(org, "state does not match the sign-in in progress")
        raise _Refused(
            refuse(
                "This answer does not belong to the sign-in you started. Start "
                "again from the sign-in page.",
                403,
            )
        )
    if "error" in request.args:
        raise _Refused(okta_error_page(org))
    return config


def _verified_profile(org: Organization, config: SsoConfig) -> OktaProfile:
    """What Okta's verified answer says about the person.

    :raise _Refused: when the answer fails verification.
    """
    try:
        claims, issuer = verified_claims(config)
    except VERIFICATION_ERRORS as exc:
        # Also free to repeat: a made-up code with the state of a sign-in
        # the client started itself. The row keeps the first error.
        _audit_repeated(org, "Okta's answer failed verification", error=str(exc)[:300])
        raise _Refused(
            refuse(
                "Okta's answer could not be verified, so you were not signed in. "
                "Start again; if it keeps happening, ask your administrator to "
                "check the Okta settings (client ID, secret and metadata URL).",
                403,
            )
        ) from exc
    return profile_of(claims, issuer)


def _requested_link(
    org: Organization, flow: dict[str, Any], profile: OktaProfile
) -> User | None:
    """The account this sign-in was started to link, if any.

    :raise _Refused: when the emailed link died meanwhile, or an own-account
        link comes back without that member's session.
    """
    if flow.get("link"):
        link_token = linking.find_link_token_by_hash(flow["link"])
        if link_token is None:
            _audit_refusal(
                org, "link expired or already used", actor=profile.email or ""
            )
            raise _Refused(refuse("This link has expired or was already used.", 400))
        return link_token.user
    if flow.get("self"):
        # "Link my Okta account": only for the member who is still signed in
        # in this browser (the flow lives in their session).
        if not current_user.is_authenticated or current_user.id != flow["self"]:
            _audit_refusal(org, "own-account link without that member's session")
            raise _Refused(refuse("Sign in again, then link your Okta account.", 403))
        return current_user._get_current_object()
    return None


def okta_error_page(org: Organization) -> Any:
    """Okta answered with an error (`error=...`): say what to ask, and audit it."""
    code = request.args.get("error", "")[:100]
    # Anyone can send an error to the callback: counted per code we know (any
    # other code shares one row, or each made-up code would open its own).
    _audit_repeated(
        org,
        f"Okta returned {code}",
        key=f"Okta returned {code if code in OKTA_ERRORS else '(other)'}",
        description=request.args.get("error_description", "")[:300],
    )
    return refuse(
        OKTA_ERRORS.get(
            code, f"Okta refused the sign-in ({code}). Ask your Okta administrator."
        ),
        403,
    )
