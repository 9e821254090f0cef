"""Okta sign-in over OpenID Connect against hostile ID tokens and answers.

Each test has `HostileProvider` (tests/support/hostile_oidc.py) forge the ID
token of one sign-in: an unpublished key, another audience or issuer, expired,
without a nonce, `alg: none`, HS256 keyed with the public key, ... Nobody is
signed in, nothing is written but the refusal. Its honest tokens do sign in,
with PKCE and the stored client secret, names from userinfo when the ID token
lacks them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from flask import Flask
from joserfc.jwk import RSAKey

from tests.support.builders import OrgInfo
from tests.support.hostile_oidc import HOSTILE_EMAIL
from tests.support.hostile_oidc import HOSTILE_SUB
from tests.support.hostile_oidc import PUBLISHED_KEY
from tests.support.hostile_oidc import Forge
from tests.support.hostile_oidc import HostileProvider
from tests.support.hostile_oidc import hostile_sign_in
from tests.support.oidc import CLIENT_ID
from tests.support.oidc import CLIENT_SECRET
from tests.support.oidc import connect_okta
from tests.support.oidc import okta_successes
from tests.support.oidc import refusal_reasons
from tests.support.rows import assert_nobody_signed_in
from tests.support.rows import events
from tests.support.rows import identities
from tests.support.rows import signed_in_user_id
from tests.support.rows import user_count
from tests.support.rows import user_row

pytestmark = pytest.mark.usefixtures("quick_passwords")


# A key the hostile provider never publishes.
STRANGER_KEY = RSAKey.generate_key(2048, parameters={"kid": "stranger-key"})


def b64(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """header.payload. of a JWS, without its signature."""
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def unsigned(provider: HostileProvider, claims: dict[str, Any]) -> str:
    """`alg: none`: no signature at all."""
    return compact({"alg": "none", "typ": "JWT"}, claims) + "."


def hmac_with_public_key(provider: HostileProvider, claims: dict[str, Any]) -> str:
    """HS256 keyed with the published RSA public key (algorithm confusion)."""
    signing_input = compact(
        {"alg": "HS256", "kid": PUBLISHED_KEY.kid, "typ": "JWT"}, claims
    )
    secret = PUBLISHED_KEY.as_pem(private=False)
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def with_claims(**changes: Any) -> Forge:
    """Signed with the provider's own key, with claims changed (None drops one)."""

    def forge(provider: HostileProvider, claims: dict[str, Any]) -> str:
        claims = {**claims, **changes}
        return provider.sign({k: v for k, v in claims.items() if v is not None})

    return forge


def expired(provider: HostileProvider, claims: dict[str, Any]) -> str:
    """Issued two hours ago, expired an hour ago."""
    return provider.sign(
        {**claims, "iat": claims["iat"] - 7200, "exp": claims["iat"] - 3600}
    )


HOSTILE_TOKENS: dict[str, Forge] = {
    "unpublished-key-same-kid": lambda p, c: p.sign(
        c, key=STRANGER_KEY, kid=PUBLISHED_KEY.kid
    ),
    "unpublished-key-own-kid": lambda p, c: p.sign(c, key=STRANGER_KEY),
    "wrong-audience": with_claims(aud="another-client"),
    "wrong-issuer": with_claims(iss="https://evil.example"),
    "expired": expired,
    "missing-iat": with_claims(iat=None),
    "wrong-nonce": with_claims(nonce="not-the-nonce"),
    "missing-nonce": with_claims(nonce=None),
    "missing-sub": with_claims(sub=None),
    "missing-exp": with_claims(exp=None),
    "issued-in-the-future": lambda p, c: p.sign(
        {**c, "iat": c["iat"] + 3600, "exp": c["iat"] + 7200}
    ),
    "iat-not-a-number": with_claims(iat="yesterday"),
    "alg-none": unsigned,
    "hs256-with-public-key": hmac_with_public_key,
    "another-client-with-our-azp": with_claims(aud="another-client", azp=CLIENT_ID),
    "our-audience-another-azp": with_claims(
        aud=[CLIENT_ID, "another-client"], azp="another-client"
    ),
    "not-a-jwt": lambda p, c: "not.a.jwt",
    "no-id-token": lambda p, c: None,
}


@pytest.mark.parametrize("forge", HOSTILE_TOKENS.values(), ids=HOSTILE_TOKENS.keys())
def test_a_hostile_id_token_signs_nobody_in(
    app: Flask, org: OrgInfo, hostile: HostileProvider, forge: Forge
) -> None:
    connect_okta(app, org, hostile.base)
    hostile.forge = forge
    browser = app.test_client()
    users_before = user_count(app)

    response = hostile_sign_in(browser)

    assert response.status_code == 403, response.text
    assert "could not be verified" in response.text
    assert_nobody_signed_in(app, browser)
    assert user_count(app) == users_before
    assert identities(app) == []
    event = events(app, "sign_in.refused")[-1]
    assert event["reason"] == "Okta's answer failed verification"
    assert event["organization_id"] == org.id
    assert okta_successes(app) == []


@pytest.mark.parametrize(
    "forge", [unsigned, hmac_with_public_key], ids=["alg-none", "hs256"]
)
def test_an_unsigned_token_is_refused_when_the_provider_lists_no_algorithms(
    app: Flask, org: OrgInfo, hostile: HostileProvider, forge: Forge
) -> None:
    hostile.signing_algs = None
    connect_okta(app, org, hostile.base)
    hostile.forge = forge
    browser = app.test_client()

    response = hostile_sign_in(browser)

    assert response.status_code == 403
    assert_nobody_signed_in(app, browser)
    assert identities(app) == []
    assert refusal_reasons(app)[-1] == "Okta's answer failed verification"


def test_an_iss_on_the_callback_that_is_not_the_issuer_signs_nobody_in(
    app: Flask, org: OrgInfo, hostile: HostileProvider
) -> None:
    connect_okta(app, org, hostile.base)
    hostile.token_requests.clear()  # the owner's test sign-in
    hostile.callback_params = {"iss": "https://evil.example"}
    browser = app.test_client()

    response = hostile_sign_in(browser)

    assert response.status_code == 403
    assert "could not be verified" in response.text
    assert_nobody_signed_in(app, browser)
    assert identities(app) == []
    assert refusal_reasons(app)[-1] == "Okta's answer failed verification"
    # Refused before the code was spent at the token endpoint.
    assert hostile.token_requests == []


def test_the_hostile_provider_signs_in_with_an_honest_token(
    app: Flask, org: OrgInfo, hostile: HostileProvider
) -> None:
    connect_okta(app, org, hostile.base)
    hostile.token_requests.clear()  # the owner's test sign-in
    hostile.callback_params = {"iss": hostile.base}  # RFC 9207, correct
    browser = app.test_client()

    response = hostile_sign_in(browser)

    assert response.status_code == 302, response.text
    assert response.headers["Location"] == "/members"
    person = user_row(app, org.id, HOSTILE_EMAIL)
    assert person is not None
    assert (person["source"], person["role"]) == ("sso", "member")
    assert signed_in_user_id(app, browser) == person["id"]
    assert identities(app) == [
        (org.id, person["id"], "oidc", hostile.base, HOSTILE_SUB)
    ]
    # PKCE with S256, and the client secret decrypted from the database.
    [token_request] = hostile.token_requests
    assert token_request == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "pkce_ok": True,
    }


def test_names_and_email_come_from_userinfo_when_the_id_token_lacks_them(
    app: Flask, org: OrgInfo, hostile: HostileProvider
) -> None:
    connect_okta(app, org, hostile.base)
    hostile.forge = with_claims(
        email=None, email_verified=None, given_name=None, family_name=None, name=None
    )
    hostile.userinfo = {
        "sub": HOSTILE_SUB,
        "email": "info@acme.test",
        "given_name": "Info",
        "family_name": "Person",
    }
    browser = app.test_client()

    response = hostile_sign_in(browser)

    assert response.status_code == 302, response.text
    person = user_row(app, org.id, "info@acme.test")
    assert person is not None
    assert (person["given_name"], person["family_name"]) == ("Info", "Person")
    assert signed_in_user_id(app, browser) == person["id"]
    [authorization] = hostile.userinfo_requests
    assert authorization.startswith("Bearer at-")


@pytest.mark.parametrize(
    ("forge", "userinfo", "reason", "message"),
    [
        (
            with_claims(email=None),
            {"sub": "00u-somebody-else", "email": "owner@acme.test"},
            "no_email",
            "did not tell Gatehouse your email address",
        ),
        (
            with_claims(email_verified=False),
            None,
            "email_unverified",
            "not verified",
        ),
    ],
    ids=["userinfo-of-another-subject", "email-unverified"],
)
def test_an_unusable_email_signs_nobody_in(
    app: Flask,
    org: OrgInfo,
    hostile: HostileProvider,
    forge: Forge,
    userinfo: dict[str, Any] | None,
    reason: str,
    message: str,
) -> None:
    connect_okta(app, org, hostile.base)
    hostile.forge = forge
    hostile.userinfo = userinfo
    browser = app.test_client()

    response = hostile_sign_in(browser)

    assert response.status_code == 403
    assert message in response.text
    assert_nobody_signed_in(app, browser)
    assert user_count(app) == 1
    assert identities(app) == []
    assert refusal_reasons(app)[-1] == reason
