"""Okta sign-in over OpenID Connect, end to end against real servers on 127.0.0.1.

Three kinds of server stand in for the outside world, each on its own port:

- `oidc-provider-mock`, a real OpenID provider (authorization code, PKCE, nonce,
  JWKS, userinfo), for the sign-in rules, the emailed link and the CLI;
- `HostileProvider`, a small OpenID provider written here whose ID tokens each
  test forges itself (wrong key, audience, issuer, nonce, `alg: none`, ...);
- an `aiosmtpd` SMTP server, from which the emailed link is read.

The browser is Flask's test client; the provider's sign-in form is posted with
`requests`, and its redirect back to `/okta/callback` is followed by the test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask import jsonify
from flask import redirect
from flask import request
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import RSAKey
from oidc_provider_mock import run_server_in_thread
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from core.extensions import db
from core.models import AuditEvent
from core.models import LinkToken
from core.models import OktaIdentity
from core.models import Organization
from core.models import SsoConfig
from core.models import User
from core.models import UserSession
from core.models import utcnow
from core.security import decrypt_secret
from tests.support.builders import OrgInfo
from tests.support.builders import make_app
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.databases import ON_POSTGRES
from tests.support.live import free_port
from tests.support.mail import Mailbox
from tests.support.rows import assert_nobody_signed_in
from tests.support.rows import events
from tests.support.rows import identities
from tests.support.rows import signed_in_user_id
from tests.support.rows import snapshot
from tests.support.rows import sso_config
from tests.support.rows import user_count
from tests.support.rows import user_row

# The mock provider signs its ID tokens through an Authlib hook Authlib has
# deprecated; the warning is raised in the provider's thread, not by our code.
pytestmark = [
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
    pytest.mark.usefixtures("quick_passwords"),
]

CLIENT_ID = "0oa-gatehouse-client"
CLIENT_SECRET = "s3cr3t-from-the-okta-general-tab"
WELL_KNOWN = "/.well-known/openid-configuration"
# Where the test client's requests come from: the redirect URI Okta sends back to.
APP_ROOT = "http://localhost"
PUBLIC_BASE_URL = "https://gatehouse.example.com"

# Keys of the hostile provider: the one it publishes, and one it never does.
PUBLISHED_KEY = RSAKey.generate_key(2048, parameters={"kid": "hostile-key-1"})
STRANGER_KEY = RSAKey.generate_key(2048, parameters={"kid": "stranger-key"})
HOSTILE_SUB = "00u-hostile-person"
HOSTILE_EMAIL = "hal.tile@acme.test"


# -- servers --------------------------------------------------------------------

# Authlib's client registry is process-wide, but a client's name carries a digest
# of its organization's settings, the encrypted secret included (a new random
# token at each save), so a test never meets another test's client (see
# `test_a_second_app_in_the_process_uses_its_own_okta_settings`): tests need not,
# and must not, clear Authlib's private registry.


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """A real OpenID provider on 127.0.0.1; returns its base URL (= issuer).

    One for the module: each test has its own database, and the provider only
    remembers people (set again by each test) and spent codes.
    """
    with run_server_in_thread(port=0, require_nonce=True) as server:
        yield f"http://127.0.0.1:{server.server_port}"


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
        hostile = Flask(__name__)

        @hostile.get(WELL_KNOWN)
        def discovery() -> Response:
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

        @hostile.get("/jwks")
        def jwks() -> Response:
            return jsonify(keys=[PUBLISHED_KEY.as_dict(private=False)])

        @hostile.get("/authorize")
        def authorize() -> Response:
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

        @hostile.post("/token")
        def token() -> Response | tuple[Response, int]:
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
                    "client_secret": (
                        auth.password if auth else form.get("client_secret")
                    ),
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

        @hostile.get("/userinfo")
        def userinfo() -> Response:
            self.userinfo_requests.append(request.headers.get("Authorization", ""))
            return jsonify(self.userinfo or {"sub": HOSTILE_SUB})

        @hostile.get(f"/docs/<name>{WELL_KNOWN}")
        def document(name: str) -> Response:
            status, content_type, body = self.documents.get(
                name, (404, "text/plain", b"not found")
            )
            return Response(body, status=status, content_type=content_type)

        return hostile


@contextmanager
def serve(wsgi: Flask) -> Iterator[int]:
    """Serve `wsgi` on a free loopback port in a thread; yields the port."""
    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[HostileProvider]:
    """A `HostileProvider` serving for the whole module."""
    provider = HostileProvider()
    with serve(provider.wsgi) as port:
        provider.base = f"http://127.0.0.1:{port}"
        yield provider


@pytest.fixture
def hostile(hostile_server: HostileProvider) -> HostileProvider:
    """The running `HostileProvider`, honest again and with no history."""
    hostile_server.reset()
    return hostile_server


AppMaker = Callable[..., Flask]


@pytest.fixture
def new_app(tmp_path: Path) -> Iterator[AppMaker]:
    """Make apps with configuration overrides, each in its own folder; they are
    closed at teardown even when the test fails."""
    apps: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        folder = tmp_path / f"app{len(apps)}"
        folder.mkdir()
        apps.append(make_app(folder, **overrides))
        return apps[-1]

    yield build
    for app in apps:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def smtp_app(new_app: AppMaker, mailbox: tuple[Mailbox, int]) -> Flask:
    """An app that sends its mail to `mailbox`."""
    return new_app(SMTP_HOST="127.0.0.1", SMTP_PORT=mailbox[1], SMTP_STARTTLS=False)


# -- helpers --------------------------------------------------------------------


def discovery(base: str) -> str:
    """The metadata URL of a provider."""
    return base + WELL_KNOWN


def connect_okta(
    app: Flask,
    org: OrgInfo,
    base: str,
    *,
    client_id: str = CLIENT_ID,
    default_role: str = "member",
) -> None:
    """Connect Okta on the OKTA AUTHENTICATION page, as the organization's owner."""
    owner = app.test_client()
    assert sign_in(owner, org.owner_email).status_code == 302
    response = owner.post(
        "/settings/okta",
        data={
            "default_role": default_role,
            "protocol": "oidc",
            "client_id": client_id,
            "client_secret": CLIENT_SECRET,
            "metadata_url": discovery(base),
        },
    )
    assert response.status_code == 302, response.text


def okta_user(base: str, sub: str, address: str, **claims: Any) -> None:
    """Tell the mock provider who `sub` is."""
    body = {"email": address, "email_verified": True, **claims}
    requests.put(f"{base}/users/{sub}", json=body, timeout=10).raise_for_status()


def local(url: str) -> str:
    """Path and query of a URL on the app (at APP_ROOT or PUBLIC_BASE_URL)."""
    assert url.startswith((APP_ROOT + "/", PUBLIC_BASE_URL + "/")), url
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def start(client: FlaskClient, org: str = "Acme", **params: str) -> str:
    """GET /sso/okta; returns the provider's authorize URL it redirects to."""
    response = client.get("/sso/okta", query_string={"org": org, **params})
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def at_provider(authorize_url: str, sub: str, **form: str) -> str:
    """Sign in at the mock provider as `sub`; returns the app's callback path.

    The mock leaves `state` out of error redirects; Okta, like RFC 6749 §4.1.2.1
    asks, sends it back, so it is added here as Okta would.
    """
    response = requests.post(
        authorize_url, data={"sub": sub, **form}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 302, response.text
    callback = local(response.headers["Location"])
    if "state=" not in callback:
        state = parse_qs(urlsplit(authorize_url).query)["state"][0]
        callback += f"&state={state}"
    return callback


def at_hostile(authorize_url: str) -> str:
    """Go through the hostile provider's authorize step; returns the callback path."""
    response = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return local(response.headers["Location"])


def okta_sign_in(
    client: FlaskClient, base: str, sub: str, org: str = "Acme", **params: str
) -> Any:
    """The whole round trip through the mock provider; returns the callback answer."""
    authorize_url = start(client, org, **params)
    assert authorize_url.startswith(f"{base}/oauth2/authorize?"), authorize_url
    return client.get(at_provider(authorize_url, sub))


def hostile_sign_in(client: FlaskClient, org: str = "Acme") -> Any:
    """The whole round trip through the hostile provider."""
    return client.get(at_hostile(start(client, org)))


def okta_is_off(app: Flask, org_id: int) -> bool:
    """Nothing about Okta was switched on for the organization."""
    config = sso_config(app, org_id)
    return config is None or config["provider"] != "okta"


def link_path(message: EmailMessage) -> str:
    """The /okta/link/<token> path in a link email's text."""
    text = str(message.get_body(preferencelist=("plain",)).get_content())
    match = re.search(r"http://localhost(/okta/link/[A-Za-z0-9_-]+)", text)
    assert match, text
    return match.group(1)


def okta_successes(app: Flask) -> list[dict[str, Any]]:
    """`sign_in.succeeded` events of Okta sign-ins (not the owners' passwords)."""
    return [
        event
        for event in events(app, "sign_in.succeeded")
        if event.get("method") == "okta-oidc"
    ]


def refusal_reasons(app: Flask) -> list[str]:
    """Reasons of every `sign_in.refused` event, oldest first."""
    return [event["reason"] for event in events(app, "sign_in.refused")]


# -- the sign-in rules ----------------------------------------------------------


@pytest.mark.parametrize("default_role", ["member", "admin"])
def test_a_new_person_is_created_just_in_time_with_the_default_role(
    app: Flask, org: OrgInfo, provider: str, default_role: str
) -> None:
    connect_okta(app, org, provider, default_role=default_role)
    okta_user(
        provider,
        "00u-alice",
        "alice@acme.test",
        given_name="Alice",
        family_name="Liddell",
        name="Alice Liddell",
    )
    browser = app.test_client()

    response = okta_sign_in(browser, provider, "00u-alice")

    assert response.status_code == 302
    assert response.headers["Location"] == "/members"
    alice = user_row(app, org.id, "alice@acme.test")
    assert alice is not None
    assert alice["role"] == default_role
    assert alice["source"] == "sso"
    assert alice["status"] == "active"
    assert (alice["given_name"], alice["family_name"]) == ("Alice", "Liddell")
    assert alice["password_hash"] is None
    assert identities(app) == [(org.id, alice["id"], "oidc", provider, "00u-alice")]
    assert signed_in_user_id(app, browser) == alice["id"]
    assert browser.get("/members").status_code == 200
    event = events(app, "sign_in.succeeded")[-1]
    assert event["actor_user_id"] == alice["id"]
    assert (event["method"], event["outcome"]) == ("okta-oidc", "created")
    assert event["organization_id"] == org.id

    # The second time, the link signs her in, even with another email at Okta.
    okta_user(provider, "00u-alice", "alice.new@acme.test")
    again = app.test_client()
    response = okta_sign_in(again, provider, "00u-alice")
    assert response.status_code == 302
    assert signed_in_user_id(app, again) == alice["id"]
    assert user_row(app, org.id, "alice.new@acme.test") is None
    assert len(identities(app)) == 1
    assert events(app, "sign_in.succeeded")[-1]["outcome"] == "signed_in"


def test_a_person_created_by_scim_is_linked_and_signed_in(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    sam_id = make_user(app, org.id, "sam.scim@acme.test", source="scim", password=None)
    with app.app_context():
        db.session.get(User, sam_id).scim_managed = True
        db.session.commit()
    connect_okta(app, org, provider)
    okta_user(provider, "00u-sam", "Sam.Scim@ACME.test")
    users_before = user_count(app)
    browser = app.test_client()

    response = okta_sign_in(browser, provider, "00u-sam")

    assert response.status_code == 302
    assert response.headers["Location"] == "/members"
    assert signed_in_user_id(app, browser) == sam_id
    assert user_count(app) == users_before
    assert identities(app) == [(org.id, sam_id, "oidc", provider, "00u-sam")]
    event = events(app, "sign_in.succeeded")[-1]
    assert (event["actor_user_id"], event["outcome"]) == (sam_id, "linked")


def test_a_local_member_is_signed_in_only_after_confirming_the_emailed_link(
    smtp_app: Flask, mailbox: tuple[Mailbox, int], provider: str
) -> None:
    app, (inbox, _) = smtp_app, mailbox
    org = make_org(app)
    connect_okta(app, org, provider)
    # Setting Okta up emailed the owner, the only member then.
    assert len(inbox.to(org.owner_email)) == 1
    bob_id = make_user(app, org.id, "bob@acme.test")
    okta_user(provider, "00u-bob", "bob@acme.test")
    browser = app.test_client()

    response = okta_sign_in(browser, provider, "00u-bob")

    assert response.status_code == 403
    assert "Confirm your account first" in response.text
    assert "bob@acme.test" in response.text
    # Bob joined after Okta was set up: nothing was emailed, and the page says so.
    assert "No link has been emailed to bob@acme.test yet" in response.text
    assert "Email me the link again" not in response.text
    assert "Email me the link" in response.text
    assert_nobody_signed_in(app, browser)
    assert identities(app) == []
    refused = events(app, "sign_in.refused")[-1]
    # Audited as the Okta person who tried, with Bob's account as the target.
    assert (refused["reason"], refused["actor"], refused["actor_user_id"]) == (
        "needs_confirmation",
        "bob@acme.test",
        None,
    )
    assert refused["target"] == "bob@acme.test"

    # "Email me the link again" sends a real message.
    assert inbox.to("bob@acme.test") == []
    response = browser.post("/okta/resend")
    assert response.status_code == 200
    assert "Check your email" in response.text
    [message] = inbox.to("bob@acme.test")
    assert message["Subject"] == "Confirm and link your Okta account to Acme"
    assert events(app, "okta.link_email_sent")[-1]["target"] == "bob@acme.test"
    path = link_path(message)

    # The link explains first; nothing happens on GET.
    page = browser.get(path)
    assert page.status_code == 200
    assert "Link your Okta account" in page.text
    assert "bob@acme.test" in page.text
    assert "Continue to Okta" in page.text
    # Its form ends in a redirect to Okta, which the page's policy must allow.
    assert provider in page.headers["Content-Security-Policy"]
    assert identities(app) == []

    # Continue goes through Okta, where Bob uses an account with another email.
    okta_user(provider, "00u-robert", "robert@okta-home.test")
    response = browser.post(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(provider + "/oauth2/authorize")
    response = browser.get(at_provider(response.headers["Location"], "00u-robert"))

    assert response.status_code == 302
    assert response.headers["Location"] == "/members"
    assert signed_in_user_id(app, browser) == bob_id
    assert identities(app) == [(org.id, bob_id, "oidc", provider, "00u-robert")]
    assert user_row(app, org.id, "robert@okta-home.test") is None
    with app.app_context():
        tokens = db.session.execute(
            db.select(LinkToken).filter_by(user_id=bob_id)
        ).scalars()
        assert [token.used_at is not None for token in tokens] == [True]
    event = events(app, "sign_in.succeeded")[-1]
    assert (event["actor_user_id"], event["outcome"]) == (bob_id, "linked")
    assert "Your Okta account is now linked" in browser.get("/members").text

    # The link works once.
    for method in (browser.get, browser.post, app.test_client().get):
        again = method(path)
        assert again.status_code == 404
        assert "expired or was already used" in again.text

    # From now on the Okta account signs Bob in directly.
    later = app.test_client()
    assert okta_sign_in(later, provider, "00u-robert").status_code == 302
    assert signed_in_user_id(app, later) == bob_id


def test_an_expired_link_is_refused_before_and_after_okta(
    smtp_app: Flask, mailbox: tuple[Mailbox, int], provider: str
) -> None:
    app, (inbox, _) = smtp_app, mailbox
    org = make_org(app)
    bob_id = make_user(app, org.id, "bob@acme.test")
    connect_okta(app, org, provider)
    [message] = inbox.to("bob@acme.test")  # everyone unlinked was invited
    path = link_path(message)
    with app.app_context():
        db.session.execute(
            db.update(LinkToken)
            .filter_by(user_id=bob_id)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        db.session.commit()

    browser = app.test_client()
    for answer in (browser.get(path), browser.post(path)):
        assert answer.status_code == 404
        assert "expired or was already used" in answer.text
    assert_nobody_signed_in(app, browser)

    # A fresh link, from an administrator, expires while its owner is at Okta.
    owner = app.test_client()
    sign_in(owner, org.owner_email)
    assert owner.post(f"/members/{bob_id}/okta-link").status_code == 302
    fresh = link_path(inbox.to("bob@acme.test")[-1])
    assert fresh != path
    okta_user(provider, "00u-bob", "bob@acme.test")
    going = browser.post(fresh)
    assert going.status_code == 302
    callback = at_provider(going.headers["Location"], "00u-bob")
    with app.app_context():
        db.session.execute(
            db.update(LinkToken)
            .filter_by(user_id=bob_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    response = browser.get(callback)

    assert response.status_code == 400
    assert "expired or was already used" in response.text
    assert_nobody_signed_in(app, browser)
    assert identities(app) == []
    assert refusal_reasons(app)[-1] == "link expired or already used"


def test_an_okta_account_linked_to_someone_else_is_not_linked_through_the_email(
    smtp_app: Flask, mailbox: tuple[Mailbox, int], provider: str
) -> None:
    app, (inbox, _) = smtp_app, mailbox
    org = make_org(app)
    bob_id = make_user(app, org.id, "bob@acme.test")
    connect_okta(app, org, provider)
    [invitation] = inbox.to("bob@acme.test")
    path = link_path(invitation)
    okta_user(provider, "00u-alice", "alice@acme.test")
    okta_user(provider, "00u-bob", "bob@acme.test")
    assert okta_sign_in(app.test_client(), provider, "00u-alice").status_code == 302
    alice = user_row(app, org.id, "alice@acme.test")
    assert alice is not None

    # Asking again right after the invitation: the same page, no second email.
    browser = app.test_client()
    assert okta_sign_in(browser, provider, "00u-bob").status_code == 403
    response = browser.post("/okta/resend")
    assert response.status_code == 200
    assert "Check your email" in response.text
    assert len(inbox.to("bob@acme.test")) == 1

    # Bob's link, but Alice's Okta account.
    going = browser.post(path)
    response = browser.get(at_provider(going.headers["Location"], "00u-alice"))

    assert response.status_code == 403
    assert "already linked to another member" in response.text
    assert_nobody_signed_in(app, browser)
    assert [row[1] for row in identities(app)] == [alice["id"]]
    refused = events(app, "sign_in.refused")[-1]
    assert (refused["reason"], refused["actor_user_id"]) == ("identity_taken", None)
    assert refused["target"] == "bob@acme.test"

    # The link is still good for Bob's own Okta account.
    going = browser.post(path)
    assert going.status_code == 302
    response = browser.get(at_provider(going.headers["Location"], "00u-bob"))
    assert response.status_code == 302
    assert signed_in_user_id(app, browser) == bob_id
    assert sorted(row[1] for row in identities(app)) == sorted([alice["id"], bob_id])


def test_an_inactive_person_is_refused_without_and_with_a_link(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    carol_id = make_user(app, org.id, "carol@acme.test", status="inactive")
    dave_id = make_user(app, org.id, "dave@acme.test", source="scim", password=None)
    connect_okta(app, org, provider)
    okta_user(provider, "00u-carol", "carol@acme.test")
    okta_user(provider, "00u-dave", "dave@acme.test")

    browser = app.test_client()
    response = okta_sign_in(browser, provider, "00u-carol")
    assert response.status_code == 403
    assert "Your account is deactivated" in response.text
    assert_nobody_signed_in(app, browser)
    assert identities(app) == []
    refused = events(app, "sign_in.refused")[-1]
    assert (refused["reason"], refused["actor_user_id"]) == ("inactive", carol_id)

    # Dave links by signing in once, then is deactivated.
    assert okta_sign_in(app.test_client(), provider, "00u-dave").status_code == 302
    assert [row[1] for row in identities(app)] == [dave_id]
    with app.app_context():
        db.session.get(User, dave_id).status = "inactive"
        db.session.commit()
    browser = app.test_client()
    response = okta_sign_in(browser, provider, "00u-dave")
    assert response.status_code == 403
    assert "Your account is deactivated" in response.text
    assert_nobody_signed_in(app, browser)
    refused = events(app, "sign_in.refused")[-1]
    assert (refused["reason"], refused["actor_user_id"]) == ("inactive", dave_id)


# -- the callback: state, replay, errors ----------------------------------------


@pytest.mark.parametrize(
    "tamper",
    [
        lambda query: {**query, "state": "forged-state"},
        lambda query: {**query, "state": ""},
        lambda query: {k: v for k, v in query.items() if k != "state"},
    ],
    ids=["forged", "empty", "missing"],
)
def test_a_callback_with_the_wrong_state_signs_nobody_in(
    app: Flask,
    org: OrgInfo,
    provider: str,
    tamper: Callable[[dict[str, str]], dict[str, str]],
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-alice", "alice@acme.test")
    browser = app.test_client()
    callback = at_provider(start(browser), "00u-alice")
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    users_before = user_count(app)

    response = browser.get("/okta/callback", query_string=tamper(query))

    assert response.status_code == 403
    assert "does not belong to the sign-in you started" in response.text
    assert_nobody_signed_in(app, browser)
    assert user_count(app) == users_before
    assert identities(app) == []
    assert refusal_reasons(app)[-1] == "state does not match the sign-in in progress"
    # A forged answer cannot spend the sign-in in progress: the genuine one works.
    assert browser.get(callback).status_code == 302


def test_a_replayed_callback_is_refused(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-alice", "alice@acme.test")
    browser = app.test_client()
    callback = at_provider(start(browser), "00u-alice")
    assert browser.get(callback).status_code == 302
    alice = user_row(app, org.id, "alice@acme.test")
    assert alice is not None

    # The same browser, again.
    response = browser.get(callback)
    assert response.status_code == 400
    assert "expired or was already used" in response.text
    # Another browser that stole the URL.
    thief = app.test_client()
    response = thief.get(callback)
    assert response.status_code == 400
    assert_nobody_signed_in(app, thief)
    # Another browser with a sign-in of its own in progress.
    other = app.test_client()
    start(other)
    response = other.get(callback)
    assert response.status_code == 403
    assert_nobody_signed_in(app, other)

    with app.app_context():
        sessions = db.session.execute(
            db.select(db.func.count())
            .select_from(UserSession)
            .filter_by(user_id=alice["id"])
        ).scalar_one()
    assert sessions == 1
    assert user_count(app) == 2
    # Three refusals; the two with no sign-in in progress, from one address,
    # are one row that counts them (anyone can repeat them for free).
    with app.app_context():
        counted = db.session.execute(
            db.select(AuditEvent.details, AuditEvent.repeat_count)
            .filter_by(kind="sign_in.refused")
            .order_by(AuditEvent.id)
        ).all()
    assert [(details["reason"], count) for details, count in counted] == [
        ("no sign-in in progress (expired, replayed or another browser)", 2),
        ("state does not match the sign-in in progress", 1),
    ]


@pytest.mark.parametrize(
    "query",
    [{}, {"code": "abc", "state": "xyz"}, {"error": "access_denied", "state": "x"}],
    ids=["bare", "code", "error"],
)
def test_a_callback_without_a_sign_in_in_progress_is_refused(
    app: Flask, org: OrgInfo, provider: str, query: dict[str, str]
) -> None:
    connect_okta(app, org, provider)
    browser = app.test_client()

    response = browser.get("/okta/callback", query_string=query)

    assert response.status_code == 400
    assert "Start again from the sign-in page" in response.text
    assert_nobody_signed_in(app, browser)
    [event] = events(app, "sign_in.refused")
    assert event["reason"].startswith("no sign-in in progress")


def test_a_sign_in_started_too_long_ago_is_refused(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-alice", "alice@acme.test")
    browser = app.test_client()
    callback = at_provider(start(browser), "00u-alice")
    with browser.session_transaction() as session:
        session["okta_flow"] = {**session["okta_flow"], "started": time.time() - 3600}

    response = browser.get(callback)

    assert response.status_code == 400
    assert_nobody_signed_in(app, browser)
    assert user_row(app, org.id, "alice@acme.test") is None
    assert refusal_reasons(app)[-1].startswith("no sign-in in progress")


def test_a_sign_in_started_before_the_settings_changed_is_refused(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-alice", "alice@acme.test")
    browser = app.test_client()
    callback = at_provider(start(browser), "00u-alice")
    connect_okta(app, org, provider, client_id="0oa-another-client")

    response = browser.get(callback)

    assert response.status_code == 400
    assert "settings changed" in response.text
    assert_nobody_signed_in(app, browser)
    assert refusal_reasons(app)[-1] == "Okta settings changed during sign-in"


def test_access_denied_by_okta_tells_what_to_ask_the_okta_admin(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-alice", "alice@acme.test")
    browser = app.test_client()
    callback = at_provider(start(browser), "00u-alice", action="deny")
    assert "error=access_denied" in callback

    response = browser.get(callback)

    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert "ask your Okta administrator to assign you" in response.text
    assert '"error"' not in response.text
    assert_nobody_signed_in(app, browser)
    assert user_row(app, org.id, "alice@acme.test") is None
    event = events(app, "sign_in.refused")[-1]
    assert event["reason"] == "Okta returned access_denied"
    assert event["organization_id"] == org.id


@pytest.mark.parametrize(
    ("error", "description", "expected"),
    [
        (
            "access_denied",
            "User is not assigned to the client application.",
            "ask your Okta administrator to assign you",
        ),
        (
            "temporarily_unavailable",
            "",
            "Okta refused the sign-in (temporarily_unavailable). Ask your Okta",
        ),
        ("<script>alert(1)</script>", "", "&lt;script&gt;"),
    ],
    ids=["not-assigned", "other", "markup"],
)
def test_okta_errors_become_a_page_not_raw_json(
    app: Flask,
    org: OrgInfo,
    provider: str,
    error: str,
    description: str,
    expected: str,
) -> None:
    connect_okta(app, org, provider)
    browser = app.test_client()
    state = parse_qs(urlsplit(start(browser)).query)["state"][0]

    response = browser.get(
        "/okta/callback",
        query_string={
            "error": error,
            "error_description": description,
            "state": state,
        },
    )

    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert expected in response.text
    assert "<script>alert" not in response.text
    assert_nobody_signed_in(app, browser)
    event = events(app, "sign_in.refused")[-1]
    assert event["reason"] == f"Okta returned {error}"
    assert event["description"] == description


def test_an_unreachable_okta_at_sign_in_is_explained(app: Flask, org: OrgInfo) -> None:
    gone = HostileProvider()
    with serve(gone.wsgi) as port:
        gone.base = f"http://127.0.0.1:{port}"
        connect_okta(app, org, gone.base)
    browser = app.test_client()

    response = browser.get("/sso/okta?org=Acme")

    assert response.status_code == 502
    assert "could not reach your organization's Okta" in response.text.replace(
        "&#39;", "'"
    )
    assert_nobody_signed_in(app, browser)
    assert refusal_reasons(app)[-1] == "Okta metadata unreachable"


# -- hostile ID tokens ------------------------------------------------------------


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


# -- next -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("next_url", "landing"),
    [
        ("https://evil.example", "/members"),
        ("//evil.example/members", "/members"),
        ("/\\evil.example", "/members"),
        ("/\t/evil.example", "/members"),
        ("javascript:alert(1)", "/members"),
        ("/groups", "/groups"),
        ("/members?page=2", "/members?page=2"),
    ],
)
def test_next_is_honoured_only_on_this_host(
    app: Flask, org: OrgInfo, provider: str, next_url: str, landing: str
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-alice", "alice@acme.test")
    browser = app.test_client()

    response = okta_sign_in(browser, provider, "00u-alice", next=next_url)

    assert response.status_code == 302
    assert response.headers["Location"] == landing
    assert signed_in_user_id(app, browser) is not None


# -- one organization, one Okta ---------------------------------------------------


@pytest.fixture
def two_orgs(app: Flask, provider: str) -> tuple[OrgInfo, OrgInfo]:
    """Acme and Globex on the same OpenID provider, each with its own client."""
    acme = make_org(app, "Acme")
    globex = make_org(app, "Globex")
    connect_okta(app, acme, provider, client_id="acme-client")
    connect_okta(app, globex, provider, client_id="globex-client")
    return acme, globex


def test_an_identity_linked_in_one_organization_never_signs_into_another(
    app: Flask, two_orgs: tuple[OrgInfo, OrgInfo], provider: str
) -> None:
    acme, globex = two_orgs
    okta_user(provider, "00u-alice", "alice@shared.test")
    okta_user(provider, "00u-bob", "bob@shared.test")
    browser = app.test_client()
    assert okta_sign_in(browser, provider, "00u-alice", org="Acme").status_code == 302
    acme_alice = user_row(app, acme.id, "alice@shared.test")
    assert acme_alice is not None
    # Globex has its own Alice, made by hand: Acme's link does not reach her.
    globex_alice_id = make_user(app, globex.id, "alice@shared.test")

    browser = app.test_client()
    response = okta_sign_in(browser, provider, "00u-alice", org="Globex")

    assert response.status_code == 403
    assert "Confirm your account first" in response.text
    assert_nobody_signed_in(app, browser)
    assert identities(app) == [
        (acme.id, acme_alice["id"], "oidc", provider, "00u-alice")
    ]
    refused = events(app, "sign_in.refused")[-1]
    assert (refused["organization_id"], refused["actor_user_id"]) == (globex.id, None)
    assert refused["target"] == "alice@shared.test"
    assert user_row(app, globex.id, "alice@shared.test")["id"] == globex_alice_id  # type: ignore[index]

    # Bob signs into Acme, then into Globex: two separate accounts.
    acme_browser, globex_browser = app.test_client(), app.test_client()
    okta_sign_in(acme_browser, provider, "00u-bob", org="Acme")
    okta_sign_in(globex_browser, provider, "00u-bob", org="Globex")
    acme_bob = user_row(app, acme.id, "bob@shared.test")
    globex_bob = user_row(app, globex.id, "bob@shared.test")
    assert acme_bob is not None and globex_bob is not None
    assert acme_bob["id"] != globex_bob["id"]
    assert signed_in_user_id(app, acme_browser) == acme_bob["id"]
    assert signed_in_user_id(app, globex_browser) == globex_bob["id"]
    with app.app_context():
        for user_id, org_id in (
            (acme_bob["id"], acme.id),
            (globex_bob["id"], globex.id),
        ):
            [link] = db.session.execute(
                db.select(OktaIdentity).filter_by(user_id=user_id)
            ).scalars()
            assert link.organization_id == org_id


def test_a_callback_for_one_organization_refuses_another_organizations_code(
    app: Flask, two_orgs: tuple[OrgInfo, OrgInfo], provider: str
) -> None:
    _, globex = two_orgs
    okta_user(provider, "00u-alice", "alice@shared.test")
    acme_browser = app.test_client()
    acme_callback = at_provider(start(acme_browser, "Acme"), "00u-alice")
    acme_code = parse_qs(urlsplit(acme_callback).query)["code"][0]
    globex_browser = app.test_client()
    globex_state = parse_qs(urlsplit(start(globex_browser, "Globex")).query)["state"][0]

    response = globex_browser.get(
        "/okta/callback", query_string={"code": acme_code, "state": globex_state}
    )

    assert response.status_code == 403
    assert "could not be verified" in response.text
    assert_nobody_signed_in(app, globex_browser)
    assert user_count(app) == 2
    assert identities(app) == []
    event = events(app, "sign_in.refused")[-1]
    assert event["organization_id"] == globex.id
    assert event["reason"] == "Okta's answer failed verification"


# -- the SSO pages ----------------------------------------------------------------


def test_sso_pages_do_not_tell_which_organizations_exist(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider)
    make_org(app, "Plain")  # pro, Okta not set up
    free = make_org(app, "Freebie", plan="free")
    with app.app_context():  # Okta set up on a plan since downgraded
        freebie = db.session.get(Organization, free.id)
        freebie.sso_config = SsoConfig(
            provider="okta",
            oidc_client_id=CLIENT_ID,
            metadata_url=discovery(provider),
        )
        db.session.commit()
    client = app.test_client()

    answers = {}
    for name in ("Nowhere Inc", "Plain", "Freebie"):
        page = client.post("/sso", data={"organization": name})
        start_page = client.get("/sso/okta", query_string={"org": name})
        answers[name] = (
            page.status_code,
            page.text.replace(name, "NAME"),
            start_page.status_code,
            start_page.text,
        )

    assert answers["Nowhere Inc"] == answers["Plain"] == answers["Freebie"]
    status, text, start_status, _ = answers["Plain"]
    assert (status, start_status) == (404, 404)
    assert "Single sign-on is not available for that" in text
    assert okta_successes(app) == []
    # Acme, with Okta, gets the button that starts the flow.
    page = client.post("/sso", data={"organization": "acme"})
    assert page.status_code == 200
    assert 'href="/sso/okta?org=Acme"' in page.text
    assert "Sign in with Okta" in page.text


# -- settings -------------------------------------------------------------------


def okta_form(metadata_url: str, **changes: str) -> dict[str, str]:
    """The OKTA AUTHENTICATION form."""
    return {
        "default_role": "member",
        "protocol": "oidc",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "metadata_url": metadata_url,
        **changes,
    }


def outbox(app: Flask) -> list[Path]:
    """Messages written to instance/outbox/."""
    folder = Path(app.instance_path) / "outbox"
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def document(issuer: str, base: str) -> bytes:
    """An OpenID Provider configuration with this issuer and endpoints on `base`."""
    return json.dumps(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks",
        }
    ).encode()


@pytest.mark.parametrize(
    ("metadata_url", "message"),
    [
        ("not a url", "must be a full https:// address"),
        ("ftp://okta.example.com" + WELL_KNOWN, "must be a full https:// address"),
        ("http://acme.okta.com" + WELL_KNOWN, "must use https://"),
        ("https://user:pw@acme.okta.com" + WELL_KNOWN, "must not contain a user"),
        ("UNREACHABLE", "Could not reach the metadata URL"),
        ("{hostile}/docs/html" + WELL_KNOWN, "did not return JSON"),
        ("{hostile}/docs/missing" + WELL_KNOWN, "answered HTTP 404"),
        ("{hostile}/docs/partial" + WELL_KNOWN, "missing authorization_endpoint"),
        ("{hostile}/docs/elsewhere" + WELL_KNOWN, "does not match the URL"),
        ("{hostile}/docs/huge" + WELL_KNOWN, "too large"),
        ("{hostile}/docs/array" + WELL_KNOWN, "not an OpenID Provider"),
    ],
)
def test_unusable_metadata_is_explained_and_nothing_is_saved(
    app: Flask,
    org: OrgInfo,
    owner_client: FlaskClient,
    hostile: HostileProvider,
    metadata_url: str,
    message: str,
) -> None:
    base = hostile.base
    hostile.documents = {
        "html": (200, "text/html", b"<html><body>Sign in to Okta</body></html>"),
        "partial": (200, "application/json", json.dumps({"issuer": base}).encode()),
        "elsewhere": (
            200,
            "application/json",
            document("https://acme.okta.com", base),
        ),
        "huge": (200, "application/json", b" " * (600 * 1024) + b"{}"),
        "array": (200, "application/json", b"[]"),
    }
    if metadata_url == "UNREACHABLE":
        metadata_url = f"http://127.0.0.1:{free_port()}{WELL_KNOWN}"
    metadata_url = metadata_url.replace("{hostile}", base)

    response = owner_client.post("/settings/okta", data=okta_form(metadata_url))

    assert response.status_code == 400
    assert message in response.text
    assert CLIENT_SECRET not in response.text
    assert okta_is_off(app, org.id)
    assert events(app, "settings.okta_configured") == []
    assert outbox(app) == []


def test_http_metadata_on_loopback_is_refused_unless_allowed(
    new_app: AppMaker, provider: str
) -> None:
    app = new_app(OKTA_ALLOW_INSECURE_LOOPBACK=False)
    org = make_org(app)
    owner = app.test_client()
    sign_in(owner, org.owner_email)

    response = owner.post("/settings/okta", data=okta_form(discovery(provider)))

    assert response.status_code == 400
    assert "must use https://" in response.text
    assert okta_is_off(app, org.id)
    assert events(app, "settings.okta_configured") == []


def test_the_client_secret_is_stored_encrypted_and_never_shown_again(
    app: Flask, org: OrgInfo, owner_client: FlaskClient, provider: str, tmp_path: Path
) -> None:
    response = owner_client.post("/settings/okta", data=okta_form(discovery(provider)))
    assert response.status_code == 302

    config = sso_config(app, org.id)
    assert config is not None
    assert (config["provider"], config["protocol"]) == ("okta", "oidc")
    assert config["oidc_client_id"] == CLIENT_ID
    assert config["oidc_issuer"] == provider
    assert CLIENT_SECRET not in config["oidc_client_secret_enc"]
    with app.app_context():
        assert decrypt_secret(config["oidc_client_secret_enc"]) == CLIENT_SECRET
    rows = repr(snapshot(app))
    assert CLIENT_ID in rows and CLIENT_SECRET not in rows
    if not ON_POSTGRES:  # the SQLite file itself: free pages and the WAL too
        stored = b"".join(path.read_bytes() for path in tmp_path.glob("test.sqlite*"))
        assert CLIENT_ID.encode() in stored
        assert CLIENT_SECRET.encode() not in stored

    page = owner_client.get("/settings/okta")
    assert page.status_code == 200
    assert CLIENT_ID in page.text
    assert "/okta/callback" in page.text
    assert CLIENT_SECRET not in page.text
    [event] = events(app, "settings.okta_configured")
    assert event["actor_user_id"] == org.owner_id
    assert CLIENT_SECRET not in json.dumps(event)
    assert len(outbox(app)) == 1  # the owner, invited to link

    # Saving again without a secret keeps the stored one and invites nobody.
    response = owner_client.post(
        "/settings/okta",
        data=okta_form(discovery(provider), client_secret="", default_role="admin"),
    )
    assert response.status_code == 302
    again = sso_config(app, org.id)
    assert again is not None
    assert again["oidc_client_secret_enc"] == config["oidc_client_secret_enc"]
    assert again["default_role"] == "admin"
    assert again["version"] == config["version"] + 1
    assert len(outbox(app)) == 1


def test_disconnecting_okta_keeps_users_and_their_links(
    app: Flask, org: OrgInfo, owner_client: FlaskClient, provider: str
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-alice", "alice@acme.test")
    assert okta_sign_in(app.test_client(), provider, "00u-alice").status_code == 302
    alice = user_row(app, org.id, "alice@acme.test")
    assert alice is not None

    response = owner_client.post("/settings/sso", data={"provider": "none"})

    assert response.status_code == 302
    assert okta_is_off(app, org.id)
    assert user_row(app, org.id, "alice@acme.test") == alice
    assert len(identities(app)) == 1
    [event] = events(app, "settings.okta_disconnected")
    assert event["actor_user_id"] == org.owner_id
    assert app.test_client().get("/sso/okta?org=Acme").status_code == 404


def test_a_member_cannot_reach_the_okta_settings(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    make_user(app, org.id, "member@acme.test")
    member = app.test_client()
    sign_in(member, "member@acme.test")

    assert member.get("/settings/okta").status_code == 403
    response = member.post("/settings/okta", data=okta_form(discovery(provider)))
    assert response.status_code == 403
    assert member.post("/settings/sso", data={"provider": "none"}).status_code == 403
    assert okta_is_off(app, org.id)
    assert events(app, "settings.okta_configured") == []


def test_a_free_plan_sees_the_upgrade_notice_and_cannot_save(
    app: Flask, provider: str
) -> None:
    free = make_org(app, "Freebie", plan="free")
    owner = app.test_client()
    sign_in(owner, free.owner_email)

    page = owner.get("/settings/okta")
    assert page.status_code == 200
    assert 'id="upgrade-notice"' in page.text
    assert "Pro or Enterprise plan" in page.text
    assert 'name="client_secret"' not in page.text

    response = owner.post("/settings/okta", data=okta_form(discovery(provider)))
    assert response.status_code == 403
    assert okta_is_off(app, free.id)
    assert events(app, "settings.okta_configured") == []


# -- CLI ------------------------------------------------------------------------


def set_oidc(app: Flask, metadata_url: str, *extra: str) -> Any:
    """Run `flask sso set-oidc` for Acme."""
    return app.test_cli_runner().invoke(
        args=[
            "sso",
            "set-oidc",
            "--org",
            "acme",
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
            "--metadata-url",
            metadata_url,
            *extra,
        ]
    )


def test_cli_sets_up_oidc_then_disables_it(new_app: AppMaker, provider: str) -> None:
    app = new_app(PUBLIC_BASE_URL=PUBLIC_BASE_URL)  # as a deployed app should
    org = make_org(app)

    result = set_oidc(app, discovery(provider), "--default-role", "admin")

    assert result.exit_code == 0, result.output
    assert "Okta OIDC sign-in is configured for 'Acme'" in result.output
    # No mail server here: the page and the CLI say the link went to the outbox.
    assert "1 member(s) were written to the server's outbox" in result.output
    [message] = outbox(app)
    assert f"{PUBLIC_BASE_URL}/okta/link/".encode() in message.read_bytes()
    config = sso_config(app, org.id)
    assert config is not None
    assert (config["provider"], config["default_role"]) == ("okta", "admin")
    assert config["oidc_issuer"] == provider
    assert CLIENT_SECRET not in config["oidc_client_secret_enc"]
    [event] = events(app, "settings.okta_configured")
    assert (event["actor"], event["default_role"]) == ("cli", "admin")

    # The settings work: a newcomer arrives as an admin.
    okta_user(provider, "00u-alice", "alice@acme.test")
    assert okta_sign_in(app.test_client(), provider, "00u-alice").status_code == 302
    alice = user_row(app, org.id, "alice@acme.test")
    assert alice is not None and alice["role"] == "admin"

    runner = app.test_cli_runner()
    result = runner.invoke(args=["sso", "disable", "--org", "Acme"])
    assert result.exit_code == 0, result.output
    assert "Okta sign-in is off for 'Acme'" in result.output
    assert okta_is_off(app, org.id)
    assert user_row(app, org.id, "alice@acme.test") == alice
    assert events(app, "settings.okta_disconnected")[0]["actor"] == "cli"
    result = runner.invoke(args=["sso", "disable", "--org", "Acme"])
    assert result.exit_code == 0
    assert "already off" in result.output
    result = runner.invoke(args=["sso", "disable", "--org", "Nowhere"])
    assert result.exit_code == 1
    assert "No organization named 'Nowhere'" in result.output


def test_cli_set_oidc_without_a_public_address_changes_nothing(
    new_app: AppMaker, provider: str
) -> None:
    """No public address (neither PUBLIC_BASE_URL nor one stored): the members'
    invitations would carry no link, so the command says what to set and saves
    and sends nothing. Once `flask site set-url` stored one, it works. (With
    PUBLIC_BASE_URL: test_cli_sets_up_oidc_then_disables_it.)"""
    app = new_app(PUBLIC_BASE_URL="")
    org = make_org(app)
    was = snapshot(app)

    result = set_oidc(app, discovery(provider))

    assert result.exit_code == 1, result.output
    assert "Set Gatehouse's public address first" in result.output
    assert "flask site set-url" in result.output
    assert snapshot(app) == was
    assert outbox(app) == []

    runner = app.test_cli_runner()
    assert runner.invoke(args=["site", "set-url", PUBLIC_BASE_URL]).exit_code == 0
    result = set_oidc(app, discovery(provider))
    assert result.exit_code == 0, result.output
    assert not okta_is_off(app, org.id)
    [message] = outbox(app)
    assert f"{PUBLIC_BASE_URL}/okta/link/".encode() in message.read_bytes()


@pytest.mark.parametrize(
    ("metadata_url", "message"),
    [
        ("http://acme.okta.com" + WELL_KNOWN, "must use https://"),
        ("UNREACHABLE", "Could not reach the metadata URL"),
    ],
)
def test_cli_refuses_a_bad_metadata_url_and_saves_nothing(
    app: Flask, org: OrgInfo, metadata_url: str, message: str
) -> None:
    if metadata_url == "UNREACHABLE":
        metadata_url = f"http://127.0.0.1:{free_port()}{WELL_KNOWN}"
    app.config["PUBLIC_BASE_URL"] = PUBLIC_BASE_URL

    result = set_oidc(app, metadata_url)

    assert result.exit_code == 1
    assert message in result.output
    assert okta_is_off(app, org.id)
    assert events(app, "settings.okta_configured") == []
    assert outbox(app) == []


# -- the Authlib client cache -----------------------------------------------------


def test_a_second_app_in_the_process_uses_its_own_okta_settings(
    new_app: AppMaker, provider: str, hostile: HostileProvider, tmp_path: Path
) -> None:
    """Two apps (one process, as in tests or a multi-app WSGI setup) whose
    organization has the same id and settings version but another provider."""
    first = new_app()
    first_org = make_org(first)
    connect_okta(first, first_org, provider)
    assert start(first.test_client()).startswith(provider + "/")

    # A database of its own (also when the tests run on PostgreSQL, where the
    # apps of one test share one): the same organization id comes again.
    second = new_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'second.sqlite'}")
    second_org = make_org(second)
    assert second_org.id == first_org.id
    connect_okta(second, second_org, hostile.base)
    versions = [
        (sso_config(app, org.id) or {}).get("version")
        for app, org in ((first, first_org), (second, second_org))
    ]
    assert versions[0] == versions[1]
    location = start(second.test_client())

    assert location.startswith(hostile.base + "/"), location


def test_metadata_url_with_oktas_client_id_query_is_accepted(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    owner = app.test_client()
    sign_in(owner, org.owner_email)
    response = owner.post(
        "/settings/okta",
        data={
            "default_role": "member",
            "protocol": "oidc",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "metadata_url": discovery(provider) + "?client_id=" + CLIENT_ID,
        },
    )
    assert response.status_code == 302, response.text
    assert not okta_is_off(app, org.id)
    okta_user(provider, "00u-alice", "alice@acme.test")
    assert okta_sign_in(app.test_client(), provider, "00u-alice").status_code == 302


def test_nav_shows_who_is_signed_in(app: Flask, org: OrgInfo) -> None:
    client = app.test_client()
    sign_in(client, org.owner_email)
    assert 'class="whoami"' in client.get("/members").text


def test_an_error_without_state_cannot_end_the_sign_in_in_progress(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    connect_okta(app, org, provider)
    okta_user(provider, "00u-alice", "alice@acme.test")
    browser = app.test_client()
    callback = at_provider(start(browser), "00u-alice")
    forged = browser.get("/okta/callback?error=access_denied")
    assert forged.status_code == 403
    assert "ask your Okta administrator to assign you" in forged.text
    assert_nobody_signed_in(app, browser)
    assert browser.get(callback).status_code == 302  # the real answer still works
