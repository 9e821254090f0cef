"""Okta Universal Logout under attack: every forged, misaddressed, replayed or
malformed request is refused with the right status and changes nothing (the
rows are compared before and after; only the last-request row, the throttle's
failure count and, for a token Okta really signed, the spent jti and the audit
of the refusal may change). Keys come from a real key server on 127.0.0.1.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc.jwk import RSAKey

from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.oidc import CLIENT_ID
from tests.support.oidc import CLIENT_SECRET
from tests.support.oidc import connect_okta
from tests.support.rows import events
from tests.support.rows import signed_in_user_id
from tests.support.rows import snapshot
from tests.support.sql import statements
from tests.support.universal_logout import OktaOrg
from tests.support.universal_logout import email_subject
from tests.support.universal_logout import endpoint
from tests.support.universal_logout import hmac_token
from tests.support.universal_logout import last_attempt
from tests.support.universal_logout import last_unverified
from tests.support.universal_logout import okta_fixture  # noqa: F401
from tests.support.universal_logout import okta_servers_fixture  # noqa: F401
from tests.support.universal_logout import other_okta_fixture  # noqa: F401
from tests.support.universal_logout import post_logout
from tests.support.universal_logout import unsigned

pytestmark = pytest.mark.usefixtures("quick_passwords")

ANA = "ana@acme.test"
# What a refused request may write: its last-request row and throttle count.
REFUSAL_ROWS = {
    "universal_logout_attempt",
    "universal_logout_unverified",
    "sign_in_failure",
}
# ... and, once Okta's signature checked out, the spent jti and an audit row.
SIGNED_REFUSAL_ROWS = REFUSAL_ROWS | {"universal_logout_jti", "audit_event"}


def rows(app: Flask, leave_out: set[str]) -> dict[str, list[tuple]]:
    """Every row of every table but `leave_out`."""
    return {
        name: found for name, found in snapshot(app).items() if name not in leave_out
    }


def ready(app: Flask, org: OrgInfo, okta: OktaOrg) -> FlaskClient:
    """Okta OIDC on, Universal Logout on, and Ana signed in; her client."""
    connect_okta(app, org, okta.base, send_links=False)
    result = app.test_cli_runner().invoke(
        args=["sso", "universal-logout", "--org", org.name, "--on"]
    )
    assert result.exit_code == 0, result.output
    make_user(app, org.id, ANA)
    ana = app.test_client()
    assert sign_in(ana, ANA).status_code == 302
    return ana


def still_signed_in(app: Flask, client: FlaskClient) -> bool:
    """The client's session is alive (its next request is Ana's)."""
    return signed_in_user_id(app, client) is not None and (
        client.get("/members").status_code == 200
    )


Forge = Callable[[OktaOrg, str], str]
OTHER_KEY = RSAKey.generate_key(2048)


def with_claims(**changes: Any) -> Forge:
    """Okta's own signature over claims changed by `changes`; a change given as
    `At(offset)` is that many seconds from when the token is made (not from
    when the tests were collected, minutes earlier in a whole run)."""

    def forge(okta: Any, aud: str) -> str:
        values = {
            name: now(value.offset) if isinstance(value, At) else value
            for name, value in changes.items()
        }
        return okta.sign(okta.claims(aud, **values))

    return forge


@dataclass(frozen=True)
class At:
    """A time `offset` seconds from the token's making."""

    offset: int


def now(offset: int = 0) -> int:
    return int(time.time()) + offset


HOSTILE_TOKENS: dict[str, Forge] = {
    "alg-none": lambda okta, aud: unsigned(
        {"alg": "none", "kid": okta.rsa_key.kid}, okta.claims(aud)
    ),
    "alg-none-uppercase": lambda okta, aud: unsigned(
        {"alg": "NONE", "kid": okta.rsa_key.kid}, okta.claims(aud)
    ),
    "hs256-with-the-public-key-pem": lambda okta, aud: hmac_token(
        okta.claims(aud), okta.rsa_key.as_pem(private=False), okta.rsa_key.kid
    ),
    "hs256-with-the-client-secret": lambda okta, aud: hmac_token(
        okta.claims(aud), CLIENT_SECRET.encode(), okta.rsa_key.kid
    ),
    "rs256-header-over-the-ec-key": lambda okta, aud: unsigned(
        {"alg": "RS256", "kid": okta.ec_key.kid}, okta.claims(aud), b"x" * 64
    ),
    "rs512-not-in-the-list": lambda okta, aud: unsigned(
        {"alg": "RS512", "kid": okta.rsa_key.kid}, okta.claims(aud), b"x" * 256
    ),
    "unknown-kid": lambda okta, aud: okta.sign(
        okta.claims(aud), key=OTHER_KEY, kid="not-published"
    ),
    "other-key-with-okta-s-kid": lambda okta, aud: okta.sign(
        okta.claims(aud), key=OTHER_KEY, kid=okta.rsa_key.kid
    ),
    "tampered-claims": lambda okta, aud: _tampered(okta, aud),
    "no-kid": lambda okta, aud: unsigned({"alg": "RS256"}, okta.claims(aud), b"sig"),
    "wrong-aud": with_claims(aud="https://evil.example/api/v1/okta/universal-logout"),
    "aud-among-others": lambda okta, aud: okta.sign(
        okta.claims(aud, aud=[aud, "https://evil.example"])
    ),
    "aud-is-the-base-url": lambda okta, aud: okta.sign(
        okta.claims(aud, aud=aud.split("/api/")[0])
    ),
    "wrong-iss": with_claims(iss="https://acme.okta.com"),
    "iss-with-trailing-slash": lambda okta, aud: okta.sign(
        okta.claims(aud, iss=okta.base + "/")
    ),
    "another-client-id": with_claims(sub="0oa-another-app"),
    "expired": with_claims(iat=At(-900), exp=At(-300)),
    "nbf-in-the-future": with_claims(nbf=At(600)),
    "issued-in-the-future": with_claims(iat=At(600), exp=At(900)),
    "lives-a-day": with_claims(exp=At(86400)),
    "exp-nan": with_claims(exp=float("nan")),
    "iat-nan": with_claims(iat=float("nan")),
    "exp-infinite": with_claims(exp=float("inf")),
    "exp-a-string": with_claims(exp=str(now(300))),
    "no-exp": with_claims(exp=None),
    "no-iat": with_claims(iat=None),
    "no-jti": with_claims(jti=None),
    "jti-not-a-string": with_claims(jti=12345),
    "not-a-jwt": lambda okta, aud: "not-a-jwt",
    "garbage-segments": lambda okta, aud: "e30.!!!.e30",
}


def _tampered(okta: OktaOrg, aud: str) -> str:
    """Okta's token for Ana's organization with its payload swapped after signing."""
    header, _payload, signature = okta.logout_token(aud).split(".")
    forged = unsigned({}, okta.claims(aud, exp=now(3000))).split(".")[1]
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize("forge", HOSTILE_TOKENS.values(), ids=HOSTILE_TOKENS.keys())
def test_a_hostile_token_is_401_and_changes_nothing(
    app: Flask, org: OrgInfo, okta: OktaOrg, forge: Forge
) -> None:
    ana = ready(app, org, okta)
    token = forge(okta, endpoint(app))
    before = rows(app, SIGNED_REFUSAL_ROWS)

    answer = post_logout(app.test_client(), token, email_subject(ANA))

    assert answer.status_code == 401, answer.text
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert answer.json["error"] == "invalid_token"
    assert rows(app, SIGNED_REFUSAL_ROWS) == before
    assert events(app, "universal_logout.accepted") == []
    assert still_signed_in(app, ana)


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer ", "Basic b2t0YTpva3Rh", "Bearer " + "a" * 9000],
    ids=["none", "bearer-alone", "bearer-empty", "basic", "huge-token"],
)
def test_no_usable_bearer_token_is_401(
    app: Flask, org: OrgInfo, okta: OktaOrg, authorization: str
) -> None:
    ana = ready(app, org, okta)
    before = rows(app, REFUSAL_ROWS)
    headers = {"Authorization": authorization} if authorization else {}

    answer = app.test_client().post(
        "/api/v1/okta/universal-logout", json=email_subject(ANA), headers=headers
    )

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert rows(app, REFUSAL_ROWS) == before
    assert still_signed_in(app, ana)


def test_a_replayed_token_is_401_and_ends_nothing_more(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    ready(app, org, okta)
    token = okta.logout_token(endpoint(app))
    assert post_logout(app.test_client(), token, email_subject(ANA)).status_code == 204
    again = app.test_client()
    assert sign_in(again, org.owner_email).status_code == 302
    before = rows(app, REFUSAL_ROWS)

    # The same token again, naming someone else this time.
    replay = post_logout(app.test_client(), token, email_subject(org.owner_email))

    assert replay.status_code == 401
    assert "replay" in replay.json["error_description"]
    assert rows(app, REFUSAL_ROWS) == before
    assert still_signed_in(app, again)


def test_a_token_spent_by_a_refusal_cannot_be_replayed_either(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    ana = ready(app, org, okta)
    token = okta.logout_token(endpoint(app))
    assert (
        post_logout(app.test_client(), token, email_subject("x@acme.test")).status_code
        == 404
    )

    assert post_logout(app.test_client(), token, email_subject(ANA)).status_code == 401
    assert still_signed_in(app, ana)


HOSTILE_BODIES: dict[str, Any] = {
    "both-keys": {
        "sub_id": {"format": "email", "email": ANA},
        "subject": {"format": "email", "email": ANA},
    },
    "neither-key": {"user": {"format": "email", "email": ANA}},
    "unknown-format": {"sub_id": {"format": "phone_number", "phone_number": "+1555"}},
    "opaque-format": {"sub_id": {"format": "opaque", "id": "00u1"}},
    "no-format": {"sub_id": {"email": ANA}},
    "format-not-a-string": {"sub_id": {"format": ["email"], "email": ANA}},
    "email-not-a-string": {"sub_id": {"format": "email", "email": [ANA]}},
    "email-missing": {"sub_id": {"format": "email"}},
    "iss-sub-without-sub": {"sub_id": {"format": "iss_sub", "iss": "https://x"}},
    "subject-not-an-object": {"sub_id": ANA},
    "a-list": [{"sub_id": {"format": "email", "email": ANA}}],
    "not-json": b"sub_id=ana@acme.test",
    "empty": b"",
    "deeply-nested": b"[" * 100000 + b"]" * 100000,
    "invalid-utf8": b'{"sub_id": {"format": "email", "email": "\xff\xfe"}}',
}


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES.keys())
def test_a_malformed_body_is_400_and_changes_nothing(
    app: Flask, org: OrgInfo, okta: OktaOrg, body: Any
) -> None:
    ana = ready(app, org, okta)
    before = rows(app, SIGNED_REFUSAL_ROWS)

    answer = post_logout(app.test_client(), okta.logout_token(endpoint(app)), body)

    assert answer.status_code in (400, 413), answer.text
    assert rows(app, SIGNED_REFUSAL_ROWS) == before
    assert still_signed_in(app, ana)
    row = last_attempt(app, org.id)
    assert row is not None and row["status"] == answer.status_code


def test_a_huge_body_is_413_before_it_is_read(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    ana = ready(app, org, okta)
    before = rows(app, SIGNED_REFUSAL_ROWS)
    body = b'{"sub_id": {"format": "email", "email": "' + b"a" * 200_000 + b'"}}'

    answer = post_logout(app.test_client(), okta.logout_token(endpoint(app)), body)

    assert answer.status_code == 413
    assert rows(app, SIGNED_REFUSAL_ROWS) == before
    assert still_signed_in(app, ana)


def test_a_person_of_another_organization_is_404_there(
    app: Flask, org: OrgInfo, okta: OktaOrg, other_okta: OktaOrg
) -> None:
    """Globex's Okta names Ana of Acme: Globex has no Ana, and Acme's keys are
    not Globex's, so neither organization changes."""
    ana = ready(app, org, okta)
    globex = make_org(app, "Globex")
    connect_okta(app, globex, other_okta.base, send_links=False)
    runner = app.test_cli_runner()
    assert (
        runner.invoke(
            args=["sso", "universal-logout", "--org", "Globex", "--on"]
        ).exit_code
        == 0
    )
    before = rows(app, SIGNED_REFUSAL_ROWS)

    from_globex = post_logout(
        app.test_client(), other_okta.logout_token(endpoint(app)), email_subject(ANA)
    )
    # Acme's Okta naming Globex's owner: not Acme's person either.
    from_acme = post_logout(
        app.test_client(),
        okta.logout_token(endpoint(app)),
        email_subject(globex.owner_email),
    )
    # Globex's issuer with Acme's key (and Acme's client ID): Globex's keys refuse it.
    crossed = okta.sign(okta.claims(endpoint(app), iss=other_okta.base))

    assert from_globex.status_code == 404
    assert from_acme.status_code == 404
    assert (
        post_logout(app.test_client(), crossed, email_subject(ANA)).status_code == 401
    )
    assert rows(app, SIGNED_REFUSAL_ROWS) == before
    assert still_signed_in(app, ana)
    # The crossed token did not verify: Globex's unverified row has it, and
    # Okta's own (verified) result, the 404, stays on its last-request row.
    assert last_unverified(app, globex.id)["status"] == 401  # type: ignore[index]
    assert last_attempt(app, globex.id)["status"] == 404  # type: ignore[index]


SUBJECTS: dict[str, Callable[[OktaOrg], dict[str, Any]]] = {
    "unknown-email": lambda okta: email_subject("nobody@acme.test"),
    "unknown-okta-user": lambda okta: {
        "sub_id": {"format": "iss_sub", "iss": okta.base, "sub": "00u-nobody"}
    },
    "another-issuer": lambda okta: {
        "sub_id": {"format": "iss_sub", "iss": "https://evil.okta.com", "sub": "00u1"}
    },
}


@pytest.mark.parametrize("subject", SUBJECTS.values(), ids=SUBJECTS.keys())
def test_nobody_by_that_subject_is_404(
    app: Flask, org: OrgInfo, okta: OktaOrg, subject: Callable[[OktaOrg], Any]
) -> None:
    ana = ready(app, org, okta)
    before = rows(app, SIGNED_REFUSAL_ROWS)

    answer = post_logout(
        app.test_client(), okta.logout_token(endpoint(app)), subject(okta)
    )

    assert answer.status_code == 404
    assert rows(app, SIGNED_REFUSAL_ROWS) == before
    assert still_signed_in(app, ana)
    assert (
        events(app, "universal_logout.refused")[-1]["reason"] == "No such person here."
    )


def test_universal_logout_off_or_free_plan_is_403(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    ana = ready(app, org, okta)
    runner = app.test_cli_runner()
    off = runner.invoke(args=["sso", "universal-logout", "--org", org.name, "--off"])
    assert off.exit_code == 0
    before = rows(app, SIGNED_REFUSAL_ROWS)

    answer = post_logout(
        app.test_client(), okta.logout_token(endpoint(app)), email_subject(ANA)
    )

    assert answer.status_code == 403
    assert "off" in answer.json["error_description"]
    assert (
        runner.invoke(
            args=["sso", "universal-logout", "--org", org.name, "--on"]
        ).exit_code
        == 0
    )
    assert runner.invoke(args=["org", "set-plan", org.name, "free"]).exit_code == 0
    free = post_logout(
        app.test_client(), okta.logout_token(endpoint(app)), email_subject(ANA)
    )
    assert free.status_code == 403
    assert "plan" in free.json["error_description"]
    # Only the plan and the switch (turned back on) changed, by the operator.
    changed = SIGNED_REFUSAL_ROWS | {"organization", "universal_logout_config"}
    assert rows(app, changed) == {
        name: found for name, found in before.items() if name not in changed
    }
    assert still_signed_in(app, ana)


def test_past_the_throttle_even_a_good_token_is_429(
    new_app: Any, okta: OktaOrg
) -> None:
    app = new_app(ULO_MAX_FAILURES_PER_ADDRESS=5)
    org = make_org(app)
    ana = ready(app, org, okta)
    for _ in range(5):
        assert (
            post_logout(app.test_client(), "junk", email_subject(ANA)).status_code
            == 401
        )
    key_fetches = okta.key_fetches

    answer = post_logout(
        app.test_client(), okta.logout_token(endpoint(app)), email_subject(ANA)
    )

    assert answer.status_code == 429
    assert still_signed_in(app, ana)
    assert okta.key_fetches == key_fetches
    # Another address is not held back.
    other = post_logout(
        app.test_client(),
        okta.logout_token(endpoint(app)),
        email_subject(ANA),
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert other.status_code == 204


def test_unknown_kids_cannot_make_gatehouse_hammer_okta(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    ready(app, org, okta)
    okta.reset()

    for number in range(10):
        token = okta.sign(
            okta.claims(endpoint(app)), key=OTHER_KEY, kid=f"made-up-{number}"
        )
        assert (
            post_logout(app.test_client(), token, email_subject(ANA)).status_code == 401
        )

    # One fetch filled the cache; within ULO_KEYS_REFETCH_SECONDS no kid refetches.
    assert (okta.discovery_fetches, okta.key_fetches) == (1, 1)


def test_a_refused_request_costs_a_bounded_number_of_statements(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    ready(app, org, okta)
    token = okta.sign(okta.claims(endpoint(app)), key=OTHER_KEY, kid="made-up")
    with statements(app) as bad:
        assert (
            post_logout(app.test_client(), "junk", email_subject(ANA)).status_code
            == 401
        )
    with statements(app) as forged:
        assert (
            post_logout(app.test_client(), token, email_subject(ANA)).status_code == 401
        )
    with statements(app) as good:
        answer = post_logout(
            app.test_client(), okta.logout_token(endpoint(app)), email_subject(ANA)
        )
        assert answer.status_code == 204

    # Measured: 2, 7 and 14 (SQLite).
    assert len(bad) <= 3, bad
    assert len(forged) <= 9, forged
    assert len(good) <= 18, good


def test_a_get_or_a_form_post_is_refused_as_json_not_500(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    ready(app, org, okta)
    client = app.test_client()
    got = client.get("/api/v1/okta/universal-logout")
    assert got.status_code == 405
    assert got.json["error"] == "invalid_request"
    form = client.post(
        "/api/v1/okta/universal-logout",
        data={"sub_id": ANA},
        headers={"Authorization": "Bearer " + okta.logout_token(endpoint(app))},
    )
    assert form.status_code == 400


def test_a_saml_organization_s_token_needs_its_app_id(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    """An OIDC organization's Okta signing for another client ID (a SAML app
    nobody entered) names no organization."""
    ana = ready(app, org, okta)
    token = okta.logout_token(endpoint(app), sub="0oa-saml-gatehouse")
    assert post_logout(app.test_client(), token, email_subject(ANA)).status_code == 401
    assert still_signed_in(app, ana)
    assert CLIENT_ID != "0oa-saml-gatehouse"


def test_okta_s_keys_down_is_503_with_the_reason_on_the_last_request_row(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    ana = ready(app, org, okta)
    okta.keys_down = True

    answer = post_logout(
        app.test_client(), okta.logout_token(endpoint(app)), email_subject(ANA)
    )

    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "60"
    # Unverified (the keys were not there to check it): the unverified row.
    row = last_unverified(app, org.id)
    assert row is not None
    assert row["reason"].startswith("Okta's keys could not be fetched")
    assert still_signed_in(app, ana)
