"""Reading and verifying a Universal Logout token from Okta.

Okta signs it with its organization key (RS256, or ES256): `iss` is the Okta
base URL, `sub` the app's client ID (a SAML app's instance id), `aud` exactly
Gatehouse's endpoint URL. The algorithm is checked against ALGORITHMS before
any key is looked at (so `none` and HS256 never reach the key set), the key is
Okta's published one with the token's `kid` (`core.jwks`), and joserfc checks
the signature with that one algorithm allowed.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app
from joserfc import jwt
from joserfc.errors import ExpiredTokenError
from joserfc.errors import InvalidClaimError
from joserfc.errors import JoseError
from joserfc.errors import MissingClaimError

from core import jwks
from core.extensions import db
from core.models import Organization
from core.models import SsoConfig
from core.models import UniversalLogoutConfig
from core.okta import OktaError

ALGORITHMS = ("RS256", "ES256")
MAX_TOKEN_CHARS = 8 * 1024
MAX_CLAIM_CHARS = 500
OKTA_KEYS_PATH = "/oauth2/v1/keys"


class TokenRefused(Exception):
    """A token Gatehouse does not accept; the message says why (for the admin)."""

    def __init__(
        self,
        reason: str,
        organization: Organization | None = None,
        *,
        signed: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.organization = organization
        # Okta's signature checked out (only a claim was wrong).
        self.signed = signed


class KeysUnavailable(TokenRefused):
    """Okta's keys could not be fetched (Okta down, or its settings wrong)."""


@dataclass(frozen=True)
class Unverified:
    """What a token says before its signature is checked: only for routing."""

    token: str
    algorithm: str
    kid: str
    issuer: str
    subject: str


@dataclass(frozen=True)
class Verified:
    """A token whose signature and claims checked out."""

    organization: Organization
    jti: str
    expires_at: int


def bearer_token(authorization: str) -> str:
    """The token of an `Authorization: Bearer <token>` header. :raise TokenRefused:"""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise TokenRefused("No bearer token in the Authorization header.")
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenRefused("The token is too long.")
    return token


def _segment(text: str) -> dict[str, Any]:
    """One base64url JSON segment of a compact JWS, as a dict. :raise TokenRefused:"""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise TokenRefused("The token is not a signed JWT.") from exc
    if not isinstance(value, dict):
        raise TokenRefused("The token is not a signed JWT.")
    return value


def read_unverified(token: str) -> Unverified:
    """The header and routing claims of `token`, algorithm checked first.

    :raise TokenRefused: not a compact JWS, an algorithm outside ALGORITHMS
        (`none` and HMAC included), no `kid`, or no string `iss`/`sub`.
    """
    parts = token.split(".")
    if len(parts) != 3 or not all(parts[:2]):
        raise TokenRefused("The token is not a signed JWT.")
    header = _segment(parts[0])
    algorithm = header.get("alg")
    if algorithm not in ALGORITHMS:
        shown = str(algorithm)[:20]
        raise TokenRefused(
            f"The token is signed with {shown!r}; only RS256 and ES256 are accepted."
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_CLAIM_CHARS:
        raise TokenRefused("The token names no signing key (kid).")
    claims = _segment(parts[1])
    issuer, subject = claims.get("iss"), claims.get("sub")
    if not all(
        isinstance(v, str) and 0 < len(v) <= MAX_CLAIM_CHARS for v in (issuer, subject)
    ):
        raise TokenRefused("The token has no issuer (iss) or subject (sub).")
    return Unverified(token, str(algorithm), kid, str(issuer), str(subject))


def addressed_organization(
    unverified: Unverified,
) -> tuple[Organization, jwks.KeySource]:
    """The one organization whose Okta and app the token names, and its keys.

    OIDC: the saved issuer and client ID; SAML: the Okta base URL and app
    instance id entered for Universal Logout. :raise TokenRefused:
    """
    oidc = db.session.execute(
        db.select(SsoConfig).filter_by(
            protocol="oidc",
            oidc_issuer=unverified.issuer,
            oidc_client_id=unverified.subject,
        )
    ).scalars()
    found = [
        (c.organization, jwks.KeySource(c.oidc_metadata_url or "", True)) for c in oidc
    ]
    saml = db.session.execute(
        db.select(UniversalLogoutConfig, SsoConfig)
        .join(
            SsoConfig,
            SsoConfig.organization_id == UniversalLogoutConfig.organization_id,
        )
        .where(
            SsoConfig.protocol == "saml",
            UniversalLogoutConfig.saml_okta_url == unverified.issuer,
            UniversalLogoutConfig.saml_app_id == unverified.subject,
        )
    ).all()
    found += [
        (sso.organization, jwks.KeySource(unverified.issuer + OKTA_KEYS_PATH))
        for _ulo, sso in saml
    ]
    if len(found) != 1:
        raise TokenRefused(
            "The token's issuer and subject (client ID or app id) name no "
            "organization here."
        )
    return found[0]


def verify(unverified: Unverified, audience: str) -> Verified:
    """Check the signature and every claim of an addressed token.

    :raise TokenRefused: with the organization, when anything does not check
        out (KeysUnavailable when Okta's keys cannot be fetched).
    """
    organization, source = addressed_organization(unverified)
    try:
        key = jwks.signing_key(source, unverified.kid)
    except OktaError as exc:
        reason = f"Okta's keys could not be fetched: {exc}"[:300]
        raise KeysUnavailable(reason, organization) from exc
    if key is None:
        raise TokenRefused(
            f"Okta does not publish the key {unverified.kid[:60]!r} that signed "
            "the token.",
            organization,
        )
    try:
        token = jwt.decode(unverified.token, key, algorithms=[unverified.algorithm])
        claims = token.claims
        _registry(unverified).validate(claims)
    except ExpiredTokenError as exc:
        raise TokenRefused("The token has expired.", organization, signed=True) from exc
    except (InvalidClaimError, MissingClaimError) as exc:
        raise TokenRefused(
            f"The token's claims are wrong: {exc.description}",
            organization,
            signed=True,
        ) from exc
    except (JoseError, ValueError, TypeError) as exc:
        raise TokenRefused(
            "The token's signature does not check out.", organization
        ) from exc
    _check_audience(claims.get("aud"), audience, organization)
    return Verified(organization, str(claims["jti"]), _expiry(claims, organization))


def _registry(unverified: Unverified) -> jwt.JWTClaimsRegistry:
    skew = int(current_app.config["ULO_CLOCK_SKEW_SECONDS"])
    return jwt.JWTClaimsRegistry(
        leeway=skew,
        iss={"essential": True, "value": unverified.issuer},
        sub={"essential": True, "value": unverified.subject},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
    )


def _check_audience(aud: Any, audience: str, organization: Organization) -> None:
    """`aud` must be exactly this endpoint's public URL (alone in a list at most)."""
    if aud != audience and aud != [audience]:
        raise TokenRefused(
            f"The token is addressed to {str(aud)[:200]!r}, not to {audience}.",
            organization,
            signed=True,
        )


def _expiry(claims: dict[str, Any], organization: Organization) -> int:
    """The token's `exp`, once its lifetime and `jti` are sane. :raise TokenRefused:"""
    config = current_app.config
    longest = int(config["ULO_MAX_TOKEN_LIFETIME_SECONDS"])
    skew = int(config["ULO_CLOCK_SKEW_SECONDS"])
    now = time.time()
    exp, iat, jti = claims["exp"], claims["iat"], claims["jti"]
    if exp - now > longest or exp - iat > longest + skew or now - iat > longest + skew:
        raise TokenRefused(
            "The token lives too long or was issued too long ago.",
            organization,
            signed=True,
        )
    if not isinstance(jti, str) or not 0 < len(jti) <= 200:
        raise TokenRefused(
            "The token's jti is missing or too long.", organization, signed=True
        )
    return int(exp)
