"""Okta sign-in over OpenID Connect: the providers the tests sign in through.

Three kinds of server stand in for the outside world, each on its own port:

- `oidc-provider-mock`, a real OpenID provider (authorization code, PKCE, nonce,
  JWKS, userinfo), the `provider` fixture: for the sign-in rules, the emailed
  link and the CLI;
- `HostileProvider` (tests/support/hostile_oidc.py), a small OpenID provider
  whose ID tokens each test forges itself (wrong key, audience, issuer, nonce,
  `alg: none`, ...);
- an `aiosmtpd` SMTP server (tests/support/mail.py), from which the emailed
  link is read.

The browser is Flask's test client; the provider's sign-in form is posted with
`requests`, and its redirect back to `/okta/callback` is followed by the test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from core.urls import public_base_url
from tests.support.builders import OrgInfo
from tests.support.builders import sign_in
from tests.support.constants import APP_ROOT
from tests.support.constants import ORG_NAME
from tests.support.rows import events
from tests.support.rows import sso_config

CLIENT_ID = "0oa-gatehouse-client"
CLIENT_SECRET = "s3cr3t-from-the-okta-general-tab"
WELL_KNOWN = "/.well-known/openid-configuration"
PUBLIC_BASE_URL = "https://gatehouse.example.com"


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
    # Imported here, not when conftest loads this module: the mock imports
    # Authlib modules that warn they are deprecated, and warnings raised while
    # conftest loads escape the suite's filters (pyproject.toml).
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread(port=0, require_nonce=True) as server:
        yield f"http://127.0.0.1:{server.server_port}"


def discovery(base: str) -> str:
    """The metadata URL of a provider."""
    return base + WELL_KNOWN


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


def connect_okta(
    app: Flask,
    org: OrgInfo,
    base: str,
    *,
    client_id: str = CLIENT_ID,
    default_role: str = "member",
    send_links: bool = True,
) -> None:
    """Set Okta up as the organization's owner, the way the page asks: Save,
    Test sign-in with Okta (a round trip through the provider at `base`), then
    Turn on for everyone (emailing the link when `send_links`), unless members
    sign in with OIDC already (then the save reached them)."""
    owner = app.test_client()
    assert sign_in(owner, org.owner_email).status_code == 302
    form = okta_form(discovery(base), client_id=client_id, default_role=default_role)
    response = owner.post("/settings/okta", data=form)
    assert response.status_code == 302, response.text
    assert oidc_test_sign_in(owner).status_code == 302
    config = sso_config(app, org.id)
    if config is not None and (config["provider"], config["protocol"]) == (
        "okta",
        "oidc",
    ):
        return  # on already: the save reached members
    response = turn_on_for_everyone(owner, "oidc", send_links=send_links)
    assert response.status_code == 302, response.text


# The person the owner signs in as at the provider for a test sign-in.
TEST_SUB = "00u-settings-test"


def oidc_test_sign_in(client: FlaskClient, sub: str = TEST_SUB, **form: str) -> Any:
    """Test sign-in with Okta (OIDC) as `client`: start it, answer at the
    provider (the mock's sign-in form, or the hostile provider's redirect),
    and follow the provider back to the callback; returns the callback answer."""
    response = client.post("/okta/test", data={"protocol": "oidc"})
    assert response.status_code == 302, response.text
    with client.application.app_context():
        base = public_base_url() or APP_ROOT
    return client.get(through_provider(response.headers["Location"], sub, base, **form))


def through_provider(authorize_url: str, sub: str, base: str, **form: str) -> str:
    """The callback path a provider sends the browser to (the mock asks who
    signs in; the hostile provider redirects at once), on the app at `base`."""
    answer = requests.get(authorize_url, allow_redirects=False, timeout=10)
    if answer.status_code != 302:
        answer = requests.post(
            authorize_url, data={"sub": sub, **form}, allow_redirects=False, timeout=10
        )
        assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(base + "/okta/callback?"), location
    parts = urlsplit(location)
    callback = f"{parts.path}?{parts.query}"
    if "state=" not in callback:  # the mock leaves it out of errors; Okta does not
        callback += "&state=" + parse_qs(urlsplit(authorize_url).query)["state"][0]
    return callback


def turn_on_for_everyone(
    client: FlaskClient, protocol: str = "oidc", *, send_links: bool = True
) -> Any:
    """Turn on for everyone, confirmed (the preview is skipped); the answer."""
    return client.post(
        "/settings/okta/on",
        data={
            "protocol": protocol,
            "confirm": "yes",
            "send_links": "yes" if send_links else "no",
        },
    )


def okta_user(base: str, sub: str, address: str, **claims: Any) -> None:
    """Tell the mock provider who `sub` is."""
    body = {"email": address, "email_verified": True, **claims}
    requests.put(f"{base}/users/{sub}", json=body, timeout=10).raise_for_status()


def local(url: str) -> str:
    """Path and query of a URL on the app (at APP_ROOT, where the test client's
    requests come from, or at PUBLIC_BASE_URL)."""
    assert url.startswith((APP_ROOT + "/", PUBLIC_BASE_URL + "/")), url
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def start(client: FlaskClient, org: str = ORG_NAME, **params: str) -> str:
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


def okta_sign_in(
    client: FlaskClient, base: str, sub: str, org: str = ORG_NAME, **params: str
) -> Any:
    """The whole round trip through the mock provider; returns the callback answer."""
    authorize_url = start(client, org, **params)
    assert authorize_url.startswith(f"{base}/oauth2/authorize?"), authorize_url
    return client.get(at_provider(authorize_url, sub))


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
