"""Okta's answer on the OIDC callback, verified: the same steps for a real
sign-in and for an admin's test sign-in (`test_mode`), so a test proves
exactly what a sign-in would check (state, PKCE, nonce, signature, issuer,
audience, expiry).
"""

from __future__ import annotations

from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from flask import request
from joserfc.errors import JoseError

from blueprints.okta.rules import OktaProfile
from blueprints.okta_oidc.client import oidc_client_for
from core.models import SsoConfig
from core.okta import OktaError
from core.outbound import OutboundError

# What Okta's `error` values mean for the person in front of the screen.
OKTA_ERRORS = {
    "access_denied": (
        "Okta did not let you into Gatehouse. Usually this means your Okta account is "
        "not assigned to the Gatehouse app: ask your Okta administrator to assign you."
    ),
    "login_required": "Okta asked you to sign in again. Start over.",
    "consent_required": (
        "Okta needs your consent for Gatehouse. Ask your Okta administrator."
    ),
    "invalid_client": (
        "Okta did not recognise Gatehouse's client ID. Ask your Gatehouse "
        "administrator to check the client ID in Settings."
    ),
}


# What can go wrong while Okta's answer is checked (network, protocol, tokens).
VERIFICATION_ERRORS = (
    AuthlibBaseError,
    JoseError,
    OktaError,
    OutboundError,
    requests.RequestException,
    KeyError,
    ValueError,
    RecursionError,
)


def verified_claims(config: SsoConfig) -> tuple[dict[str, Any], str]:
    """The ID token's claims (with userinfo's when it has no email) and the issuer.

    :raise: one of VERIFICATION_ERRORS when anything does not check out.
    """
    client = oidc_client_for(config)
    metadata = client.load_server_metadata()
    issuer = metadata["issuer"]
    # RFC 9207: when Okta names itself in the redirect, it must be our issuer.
    if "iss" in request.args and request.args["iss"] != issuer:
        raise AuthlibBaseError(error="issuer_mismatch")
    token = client.authorize_access_token(
        claims_options={
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": config.oidc_client_id},
            "exp": {"essential": True},
            "iat": {"essential": True},
            "sub": {"essential": True},
        }
    )
    claims = dict(token.get("userinfo") or {})
    if not claims.get("sub"):
        raise AuthlibBaseError(error="missing_id_token")
    if not claims.get("email"):
        extra = client.userinfo(token=token)
        if extra.get("sub") == claims["sub"]:
            claims = {**extra, **claims}
    return claims, issuer


def profile_of(claims: dict[str, Any], issuer: str) -> OktaProfile:
    """What verified claims say about the person."""
    return OktaProfile(
        issuer=str(claims.get("iss") or issuer),
        subject=str(claims["sub"]),
        email=claims.get("email"),
        email_verified=claims.get("email_verified"),
        given_name=str(claims.get("given_name") or "")[:200],
        family_name=str(claims.get("family_name") or "")[:200],
        display_name=str(claims.get("name") or "")[:400],
    )
