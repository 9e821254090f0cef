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
from urllib.parse import urlsplit

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
from core.models import SsoTestResult
from core.models import UniversalLogoutConfig
from core.models.values import unsafe_characters
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
        candidates: tuple[Organization, ...] = (),
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.organization = organization
        # Okta's signature checked out (only a claim was wrong).
        self.signed = signed
        # Every organization the unverified token named (each records it).
        self.candidates = candidates or ((organization,) if organization else ())


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


def clean(value: object, longest: int = MAX_CLAIM_CHARS) -> bool:
    """Whether `value` is a non-empty string fit for a query: no control
    characters (NUL included) and no unpaired surrogate (not encodable)."""
    if not isinstance(value, str) or not 0 < len(value) <= longest:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not unsafe_characters(value)


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
        raise TokenRefused("The token is not signed with RS256 or ES256.")
    kid = header.get("kid")
    if not clean(kid):
        raise TokenRefused("The token names no signing key (kid).")
    claims = _segment(parts[1])
    issuer, subject = claims.get("iss"), claims.get("sub")
    if not (clean(issuer) and clean(subject)):
        raise TokenRefused("The token has no issuer (iss) or subject (sub).")
    return Unverified(token, str(algorithm), kid, str(issuer), str(subject))


def addressed_organizations(
    unverified: Unverified,
) -> list[tuple[Organization, jwks.KeySource]]:
    """The organizations whose Okta and app the token names, with their keys.

    OIDC: the saved issuer and client ID; SAML: the Okta base URL and app
    instance id entered for Universal Logout. Anyone may save someone else's
    public issuer and client ID, so when some of them accept Universal Logout
    with a proven configuration (`accepts`) only those are candidates.
    :raise TokenRefused: when none matches.
    """
    found = _matching(unverified)
    if not found:
        raise TokenRefused(
            "The token's issuer and subject (client ID or app id) name no "
            "organization here."
        )
    everyone = [(sso.organization, source) for sso, _on, source in found]
    eligible = [
        (sso.organization, source)
        for sso, on, source in found
        if accepts(sso, on, unverified.issuer)
    ]
    return eligible or everyone


def _matching(
    unverified: Unverified,
) -> list[tuple[SsoConfig, bool, jwks.KeySource]]:
    """Every organization's SSO settings the token's iss and sub name, with
    whether its Universal Logout is on and where its keys are."""
    ulo = UniversalLogoutConfig
    oidc = db.session.execute(
        db.select(SsoConfig, ulo.enabled)
        .outerjoin(ulo, SsoConfig.organization_id == ulo.organization_id)
        .where(
            SsoConfig.protocol == "oidc",
            SsoConfig.oidc_issuer == unverified.issuer,
            SsoConfig.oidc_client_id == unverified.subject,
        )
    ).all()
    saml = db.session.execute(
        db.select(SsoConfig, ulo.enabled)
        .join(ulo, SsoConfig.organization_id == ulo.organization_id)
        .where(
            SsoConfig.protocol == "saml",
            ulo.saml_okta_url == unverified.issuer,
            ulo.saml_app_id == unverified.subject,
        )
    ).all()
    keys = jwks.KeySource(unverified.issuer + OKTA_KEYS_PATH)
    return [
        (sso, bool(on), jwks.KeySource(sso.oidc_metadata_url or "", True))
        for sso, on in oidc
    ] + [(sso, bool(on), keys) for sso, on in saml]


def accepts(sso: SsoConfig, enabled: bool, issuer: str) -> bool:
    """Whether the organization accepts Universal Logout from `issuer` with a
    live, proven configuration: a paid plan, the switch on, Okta sign-in on,
    and a passed test sign-in of the live protocol's current settings.

    OIDC: the test needs the client secret, so saving someone else's public
    client ID proves nothing. SAML: the Okta address entered for Universal
    Logout must also be the host of the tested IdP's sign-in URL, so an
    organization whose Okta is elsewhere cannot take another's address.
    """
    if not (enabled and sso.okta_enabled and sso.organization.has_paid_plan):
        return False
    if sso.protocol == "saml" and _origin(sso.saml_sso_url or "") != _origin(issuer):
        return False
    passed = db.session.execute(
        db.select(SsoTestResult.id).filter_by(
            organization_id=sso.organization_id,
            protocol=sso.protocol,
            passed=True,
            settings_version=sso.settings_version(sso.protocol),
        )
    ).first()
    return passed is not None


def _origin(url: str) -> tuple[str, str]:
    """The scheme and host (with port) of `url`, lower case."""
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def verify(unverified: Unverified, audience: str) -> Verified:
    """Check the signature and every claim against each addressed organization.

    Accepted only when exactly one candidate's keys verify it.
    :raise TokenRefused: with the organization(s), when anything does not
        check out (KeysUnavailable when Okta's keys cannot be fetched).
    """
    candidates = addressed_organizations(unverified)
    everyone = tuple(org for org, _source in candidates)
    results: list[Verified] = []
    refusals: list[TokenRefused] = []
    for organization, source in candidates:
        try:
            results.append(_verify_for(unverified, audience, organization, source))
        except TokenRefused as exc:
            refusals.append(exc)
    if len(results) == 1:
        return results[0]
    if results:
        raise TokenRefused(
            "The token's issuer and subject name several organizations here.",
            candidates=tuple(result.organization for result in results),
            signed=True,
        )
    signed = [refusal for refusal in refusals if refusal.signed]
    if len(candidates) == 1 or len(signed) == 1:
        chosen = signed[0] if signed else refusals[0]
        if not chosen.signed:
            chosen.candidates = everyone
        raise chosen
    raise TokenRefused(refusals[0].reason, candidates=everyone)


def _verify_for(
    unverified: Unverified,
    audience: str,
    organization: Organization,
    source: jwks.KeySource,
) -> Verified:
    """Check `unverified` with `organization`'s keys. :raise TokenRefused:"""
    try:
        key = jwks.signing_key(source, unverified.kid)
    except OktaError as exc:
        reason = f"Okta's keys could not be fetched: {exc}"[:300]
        raise KeysUnavailable(reason, organization) from exc
    if key is None:
        raise TokenRefused(
            "Okta does not publish the key that signed the token.", organization
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
