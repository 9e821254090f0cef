"""Starting an OIDC sign-in: remember it in the session, redirect to Okta."""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from flask import session
from flask import url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from blueprints.okta.outcome import audit_repeated_refusal
from blueprints.okta.outcome import refuse
from blueprints.okta_oidc.client import client_name
from blueprints.okta_oidc.client import oidc_client_for
from core.models import LinkToken
from core.models import Organization
from core.models import SsoConfig
from core.models import User
from core.okta import OktaError
from core.outbound import OutboundError
from core.security import safe_next_url
from core.urls import public_url

# The session key of the sign-in in progress (read back by the callback).
FLOW_KEY = "okta_flow"


def start_oidc(
    org: Organization,
    next_url: str | None,
    link_token: LinkToken | None = None,
    link_user: User | None = None,
) -> Response:
    """Remember what this sign-in is for in the session and redirect to Okta.

    `link_token` (the emailed link) or `link_user` (the signed-in member's own
    "Link my Okta account") names the account to bind.
    """
    config = org.sso_config
    assert config is not None
    return _redirect_to_okta(
        org,
        {
            "next": safe_next_url(next_url) or "",
            "link": link_token.token_hash if link_token else None,
            "self": link_user.id if link_user is not None else None,
        },
    )


def start_oidc_test(org: Organization, tester: User) -> Response:
    """Start an owner's or admin's test sign-in: the normal round trip, marked.

    The flow names the tester (it lives in their session) and the version of
    the OIDC settings it tests; its callback only records what Okta sent.
    """
    config = org.sso_config
    assert config is not None
    return _redirect_to_okta(
        org,
        {
            "next": "",
            "link": None,
            "self": None,
            "test": tester.id,
            "settings_version": config.settings_version("oidc"),
        },
    )


def _redirect_to_okta(org: Organization, purpose: dict[str, Any]) -> Response:
    """Remember the flow in the session, bound to its own state; go to Okta."""
    config = org.sso_config
    assert config is not None
    state = secrets.token_urlsafe(30)
    session[FLOW_KEY] = {
        "org_id": org.id,
        "version": config.version,
        "state": state,
        "started": time.time(),
        **purpose,
    }
    try:
        client = oidc_client_for(config)
        return client.authorize_redirect(
            public_url(url_for("okta_oidc.callback")),
            nonce=secrets.token_urlsafe(24),
            state=state,
        )
    except (
        OktaError,
        OutboundError,
        requests.RequestException,
        AuthlibBaseError,
        ValueError,
        RecursionError,
    ):
        audit_repeated_refusal(org, "Okta metadata unreachable", method="okta-oidc")
        return refuse(
            "Gatehouse could not reach your organization's Okta. Try again in a "
            "moment; if it keeps failing, ask your administrator to check the "
            "metadata URL.",
            502,
        )


def state_matches(config: SsoConfig, flow: dict[str, Any], state: str) -> bool:
    """Whether `state` is the one of exactly this browser's flow in progress.

    Authlib keeps every state it issued in the session; the flow remembers the
    one it was started with, so an answer meant for an earlier flow of the
    same browser (a test sign-in's, say) never completes a later one.
    """
    return bool(
        state
        and hmac.compare_digest(str(flow.get("state") or ""), state)
        and f"_state_{client_name(config)}_{state}" in session
    )


def tester_of(flow: dict[str, Any]) -> User | None:
    """The signed-in owner or admin who started this test flow, or None."""
    if not current_user.is_authenticated or current_user.id != flow.get("test"):
        return None
    return current_user._get_current_object()
