"""An OpenID provider on 127.0.0.1 whose ID tokens each test forges itself.

`hostile` is the running `HostileProvider`, honest again and with no history:
a test sets `hostile.forge` (how the ID token of the next sign-in is made from
the honest claims), `callback_params`, `userinfo` or `documents` (discovery
documents for the settings page's checks), then signs in with `hostile_sign_in`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from flask import Flask
from flask import jsonify
from flask import redirect
from flask import request
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.wrappers import Response

from tests.support.constants import ORG_NAME
from tests.support.live import serve
from tests.support.oidc import WELL_KNOWN
from tests.support.oidc import local
from tests.support.oidc import start

# The key the hostile provider publishes (its JWKS).
PUBLISHED_KEY = RSAKey.generate_key(2048, parameters={"kid": "hostile-key-1"})
HOSTILE_SUB = "00u-hostile-person"
HOSTILE_EMAIL = "hal.tile@acme.test"


# Makes the ID token of one sign-in from the honest claims; None leaves it out.
Forge = Callable[["HostileProvider", dict[str, Any]], str | None]


def honest(provider: HostileProvider, claims: dict[str, Any]) -> str:
    """An ID token as a correct provider would sign it."""
    return provider.sign(claims)


class HostileProvider:
    """An OpenID provider on 127.0.0.1 whose ID tokens the test decides.

    Discovery, JWKS (only `PUBLISHED_KEY`), an authorize endpoint that at once
    redirects back with a code, a token endpoint (checks PKCE, records the client
    authentication) whose `id_token` is `forge(self, default_claims)`, userinfo,
    and `/docs/<name>/.well-known/openid-configuration` serving `documents[name]`
    for the settings page's checks.
    """

    def __init__(self) -> None:
        self.base = ""
        self.wsgi = self._build()
        self.reset()

    def reset(self) -> None:
        """Back to an honest provider that has seen nothing."""
        self.forge: Forge = honest
        self.signing_algs: list[str] | None = ["RS256"]
        self.callback_params: dict[str, str] = {}
        self.userinfo: dict[str, Any] | None = None
        self.documents: dict[str, tuple[int, str, bytes]] = {}
        self.codes: dict[str, dict[str, str]] = {}
        self.token_requests: list[dict[str, Any]] = []
        self.userinfo_requests: list[str] = []

    def default_claims(self, nonce: str, client_id: str) -> dict[str, Any]:
        """What an honest provider says about `HOSTILE_SUB`."""
        now = int(time.time())
        return {
            "iss": self.base,
            "sub": HOSTILE_SUB,
            "aud": client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "email": HOSTILE_EMAIL,
            "email_verified": True,
            "given_name": "Hal",
            "family_name": "Tile",
            "name": "Hal Tile",
        }

    def sign(
        self,
        claims: dict[str, Any],
        *,
        key: RSAKey = PUBLISHED_KEY,
        kid: str | None = None,
    ) -> str:
        """Sign `claims` with RS256."""
        return jwt.encode({"alg": "RS256", "kid": kid or key.kid}, claims, key)

    def _build(self) -> Flask:
        """The provider's endpoints, as a WSGI app."""
        hostile = Flask(__name__)
        hostile.get(WELL_KNOWN)(self._discovery)
        hostile.get("/jwks")(self._jwks)
        hostile.get("/authorize")(self._authorize)
        hostile.post("/token")(self._token)
        hostile.get("/userinfo")(self._userinfo)
        hostile.get(f"/docs/<name>{WELL_KNOWN}")(self._document)
        return hostile

    def _discovery(self) -> Response:
        """The discovery document (signing algorithms only when `signing_algs`)."""
        document = {
            "issuer": self.base,
            "authorization_endpoint": f"{self.base}/authorize",
            "token_endpoint": f"{self.base}/token",
            "userinfo_endpoint": f"{self.base}/userinfo",
            "jwks_uri": f"{self.base}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "code_challenge_methods_supported": ["S256"],
        }
        if self.signing_algs is not None:
            document["id_token_signing_alg_values_supported"] = self.signing_algs
        return jsonify(document)

    def _jwks(self) -> Response:
        """Only `PUBLISHED_KEY`."""
        return jsonify(keys=[PUBLISHED_KEY.as_dict(private=False)])

    def _authorize(self) -> Response:
        """Redirect back at once with a new code (and `callback_params`)."""
        args = request.args
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "client_id": args["client_id"],
            "nonce": args.get("nonce", ""),
            "challenge": args.get("code_challenge", ""),
            "method": args.get("code_challenge_method", ""),
            "redirect_uri": args["redirect_uri"],
        }
        params = {"code": code, "state": args.get("state", "")}
        params.update(self.callback_params)
        return redirect(f"{args['redirect_uri']}?{urlencode(params)}")

    def _token(self) -> Response | tuple[Response, int]:
        """Spend the code (PKCE checked, client authentication recorded); the ID
        token is `forge(self, default_claims)`."""
        form = request.form
        grant = self.codes.pop(form.get("code", ""), None)
        auth = request.authorization
        verifier = form.get("code_verifier", "")
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        self.token_requests.append(
            {
                "client_id": auth.username if auth else form.get("client_id"),
                "client_secret": (auth.password if auth else form.get("client_secret")),
                "pkce_ok": bool(
                    grant
                    and grant["method"] == "S256"
                    and challenge == grant["challenge"]
                ),
            }
        )
        if grant is None or challenge != grant["challenge"]:
            return jsonify(error="invalid_grant"), 400
        claims = self.default_claims(grant["nonce"], grant["client_id"])
        answer = {
            "access_token": f"at-{secrets.token_urlsafe(8)}",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "openid email profile",
        }
        id_token = self.forge(self, claims)
        if id_token is not None:
            answer["id_token"] = id_token
        return jsonify(answer)

    def _userinfo(self) -> Response:
        """`userinfo`, or only the subject; the Authorization header is recorded."""
        self.userinfo_requests.append(request.headers.get("Authorization", ""))
        return jsonify(self.userinfo or {"sub": HOSTILE_SUB})

    def _document(self, name: str) -> Response:
        """`documents[name]`, for the settings page's checks."""
        status, content_type, body = self.documents.get(
            name, (404, "text/plain", b"not found")
        )
        return Response(body, status=status, content_type=content_type)


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[HostileProvider]:
    """A `HostileProvider` serving for the whole module."""
    provider = HostileProvider()
    with serve(provider.wsgi) as url:
        provider.base = url
        yield provider


@pytest.fixture
def hostile(hostile_server: HostileProvider) -> HostileProvider:
    """The running `HostileProvider`, honest again and with no history."""
    hostile_server.reset()
    return hostile_server


def at_hostile(authorize_url: str) -> str:
    """Go through the hostile provider's authorize step; returns the callback path."""
    response = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return local(response.headers["Location"])


def hostile_sign_in(client: FlaskClient, org: str = ORG_NAME) -> Any:
    """The whole round trip through the hostile provider."""
    return client.get(at_hostile(start(client, org)))
