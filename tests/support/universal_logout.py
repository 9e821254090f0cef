"""An Okta org on 127.0.0.1 that signs Universal Logout tokens, and helpers.

`OktaOrg` is the hostile OpenID provider (`tests.support.hostile_oidc`: a real
sign-in flow whose keys the test holds) that also publishes a Universal Logout
key, ES256 and RS256, at its discovery's `jwks_uri` and at Okta's
`/oauth2/v1/keys` (what a SAML organization uses), counting every fetch.
`logout_token` signs a token as Okta would; the hostile variants are built by
the tests from `claims` and `sign`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask import jsonify
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.jwk import RSAKey
from werkzeug.test import TestResponse
from werkzeug.wrappers import Response

from core.extensions import db
from core.models import UniversalLogoutAttempt
from core.models import UniversalLogoutUnverified
from core.universal_logout import ENDPOINT_PATH
from tests.support.hostile_oidc import PUBLISHED_KEY
from tests.support.hostile_oidc import HostileProvider
from tests.support.live import serve
from tests.support.oidc import CLIENT_ID

SAML_APP_ID = "0oa-saml-gatehouse"
Key = RSAKey | ECKey


class OktaOrg(HostileProvider):
    """An Okta org: OIDC sign-in (the hostile provider's) plus Universal Logout keys."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.rsa_key = RSAKey.generate_key(2048, parameters={"kid": f"ulo-rsa-{tag}"})
        self.ec_key = ECKey.generate_key("P-256", parameters={"kid": f"ulo-ec-{tag}"})
        super().__init__()

    def reset(self) -> None:
        """Honest again: the usual keys, nothing fetched yet."""
        super().reset()
        self.extra_keys: list[Key] = []
        self.key_fetches = 0
        self.discovery_fetches = 0
        # Okta's keys answer 500 (Okta down).
        self.keys_down = False

    def _build(self) -> Flask:
        okta = super()._build()
        okta.add_url_rule("/oauth2/v1/keys", "okta_keys", self._jwks)
        return okta

    def _discovery(self) -> Response:
        self.discovery_fetches += 1
        return super()._discovery()

    def _jwks(self) -> Response:
        """The ID token key, the logout keys and any `extra_keys` (rotation)."""
        self.key_fetches += 1
        if self.keys_down:
            return Response("down", status=500)
        keys = (PUBLISHED_KEY, self.rsa_key, self.ec_key, *self.extra_keys)
        return jsonify(keys=[key.as_dict(private=False) for key in keys])

    def claims(self, audience: str, sub: str = CLIENT_ID, **changes: Any) -> dict:
        """What Okta's Universal Logout token says (None values are left out)."""
        now = int(time.time())
        claims = {
            "iss": self.base,
            "sub": sub,
            "aud": audience,
            "iat": now,
            "exp": now + 300,
            "jti": secrets.token_urlsafe(12),
            **changes,
        }
        return {name: value for name, value in claims.items() if value is not None}

    def sign(  # type: ignore[override]
        self,
        claims: dict[str, Any],
        *,
        key: Key | None = None,
        kid: str | None = None,
        alg: str = "RS256",
    ) -> str:
        """Sign `claims` (RS256 with the logout key unless told otherwise)."""
        if key is None:
            key = self.ec_key if alg == "ES256" else self.rsa_key
        return jwt.encode({"alg": alg, "kid": kid or key.kid}, claims, key)

    def logout_token(self, audience: str, sub: str = CLIENT_ID, **changes: Any) -> str:
        """A token exactly as Okta signs it."""
        return self.sign(self.claims(audience, sub, **changes))


def unsigned(
    header: dict[str, Any], claims: dict[str, Any], signature: bytes = b""
) -> str:
    """A compact JWS built by hand (for `none` and forged HMAC tokens)."""
    parts = [_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode())]
    return ".".join([*parts, _b64(signature)])


def hmac_token(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    """An HS256 token keyed with `secret` (a public key's bytes, a client secret)."""
    header = {"alg": "HS256", "kid": kid, "typ": "JWT"}
    signing_input = unsigned(header, claims).rsplit(".", 1)[0]
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def email_subject(address: str, key: str = "sub_id") -> dict[str, Any]:
    """The body Okta sends with the Email subject format."""
    return {key: {"format": "email", "email": address}}


def post_logout(
    client: FlaskClient, token: str | None, body: Any = None, **options: Any
) -> TestResponse:
    """POST the endpoint as Okta does (`body` dict as JSON, or raw bytes)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    if isinstance(body, bytes | str):
        return client.post(
            ENDPOINT_PATH,
            data=body,
            headers=headers,
            content_type="application/json",
            **options,
        )
    return client.post(ENDPOINT_PATH, json=body, headers=headers, **options)


def last_attempt(app: Flask, org_id: int) -> dict[str, Any] | None:
    """The organization's last-request row."""
    with app.app_context():
        row = db.session.get(UniversalLogoutAttempt, org_id)
        if row is None:
            return None
        columns = UniversalLogoutAttempt.__table__.columns
        return {column.name: getattr(row, column.name) for column in columns}


def last_unverified(app: Flask, org_id: int) -> dict[str, Any] | None:
    """The organization's last unverified request (its signature did not check)."""
    with app.app_context():
        row = db.session.get(UniversalLogoutUnverified, org_id)
        if row is None:
            return None
        columns = UniversalLogoutUnverified.__table__.columns
        return {column.name: getattr(row, column.name) for column in columns}


def endpoint(app: Flask) -> str:
    """The endpoint's public URL (the only `aud` accepted)."""
    with app.app_context():
        from core.universal_logout import endpoint_url

        return endpoint_url()


# The fixtures below are named by `name=` (import the functions): a test's
# parameter `okta` then never shadows an imported name.


@pytest.fixture(scope="module", name="okta_servers")
def okta_servers_fixture() -> Iterator[tuple[OktaOrg, OktaOrg]]:
    """Two Okta orgs (two organizations' Oktas) serving for the whole module."""
    first, second = OktaOrg(), OktaOrg()
    with serve(first.wsgi) as one, serve(second.wsgi) as two:
        first.base, second.base = one, two
        yield first, second


@pytest.fixture(name="okta")
def okta_fixture(okta_servers: tuple[OktaOrg, OktaOrg]) -> OktaOrg:
    """This organization's Okta, honest again, nothing fetched yet (each app
    has its own key cache, so every test starts with none)."""
    okta_servers[0].reset()
    return okta_servers[0]


@pytest.fixture(name="other_okta")
def other_okta_fixture(okta_servers: tuple[OktaOrg, OktaOrg]) -> OktaOrg:
    """Another organization's Okta."""
    okta_servers[1].reset()
    return okta_servers[1]
