"""Starting an OIDC sign-in: remember it in the session, redirect to Okta."""

from __future__ import annotations

import secrets
import time

import requests
from authlib.common.errors import AuthlibBaseError
from flask import session
from flask import url_for
from werkzeug.wrappers import Response

from blueprints.okta.outcome import audit_repeated_refusal
from blueprints.okta.outcome import refuse
from blueprints.okta_oidc.client import oidc_client_for
from core.models import LinkToken
from core.models import Organization
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
    session[FLOW_KEY] = {
        "org_id": org.id,
        "version": config.version,
        "next": safe_next_url(next_url) or "",
        "link": link_token.token_hash if link_token else None,
        "self": link_user.id if link_user is not None else None,
        "started": time.time(),
    }
    try:
        client = oidc_client_for(config)
        return client.authorize_redirect(
            public_url(url_for("okta_oidc.callback")), nonce=secrets.token_urlsafe(24)
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
