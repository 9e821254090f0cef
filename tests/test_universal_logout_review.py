"""Security review of Okta Universal Logout (#14 part 1): each test here
proves a finding and fails until it is fixed. Real parts only: the Okta-shaped
key server of tests/support/universal_logout.py on 127.0.0.1, the real
endpoint, the real settings pages and database."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flask import Flask

from core.extensions import db
from core.models import UniversalLogoutConfig
from core.models import User
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.oidc import CLIENT_ID
from tests.support.oidc import connect_okta
from tests.support.oidc import discovery
from tests.support.oidc import okta_form
from tests.support.rows import signed_in_user_id
from tests.support.saml import connected
from tests.support.saml_idp import SamlIdp
from tests.support.universal_logout import OktaOrg
from tests.support.universal_logout import email_subject
from tests.support.universal_logout import endpoint
from tests.support.universal_logout import last_attempt
from tests.support.universal_logout import okta_fixture  # noqa: F401
from tests.support.universal_logout import okta_servers_fixture  # noqa: F401
from tests.support.universal_logout import other_okta_fixture  # noqa: F401
from tests.support.universal_logout import post_logout
from tests.support.universal_logout import unsigned

pytestmark = pytest.mark.usefixtures("quick_passwords")

ANA = "ana@acme.test"


def ulo_on(app: Flask, name: str) -> None:
    result = app.test_cli_runner().invoke(
        args=["sso", "universal-logout", "--org", name, "--on"]
    )
    assert result.exit_code == 0, result.output


def ready(app: Flask, org: OrgInfo, okta: OktaOrg) -> Any:
    """Acme: Okta OIDC on, Universal Logout on, Ana signed in; her client."""
    connect_okta(app, org, okta.base, send_links=False)
    ulo_on(app, org.name)
    make_user(app, org.id, ANA)
    ana = app.test_client()
    assert sign_in(ana, ANA).status_code == 302
    return ana


def alive(app: Flask, client: Any) -> bool:
    return signed_in_user_id(app, client) is not None and (
        client.get("/members").status_code == 200
    )


# -- 1. another organization can silence our Universal Logout ----------------------


def test_another_organization_entering_our_client_id_cannot_silence_our_logout(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    """Globex's owner saves (only saves: no test sign-in, no Universal Logout)
    Okta OIDC settings naming Acme's public metadata URL and Acme's client ID
    (it is in every authorize redirect). From then on every genuine Okta
    logout for Acme names two organizations and is refused, unrecorded: the
    attacker's session in Acme survives Okta's 'Clear user sessions'."""
    ana = ready(app, org, okta)
    globex = make_org(app, "Globex")
    owner = app.test_client()
    assert sign_in(owner, globex.owner_email).status_code == 302
    saved = owner.post(
        "/settings/okta",
        data=okta_form(discovery(okta.base), client_id=CLIENT_ID),
    )
    assert saved.status_code == 302, saved.text

    answer = post_logout(
        app.test_client(), okta.logout_token(endpoint(app)), email_subject(ANA)
    )

    assert answer.status_code == 204, answer.text
    assert not alive(app, ana)


# -- 2. one organization's Okta can throttle every other organization's ----------


def test_another_organization_s_okta_cannot_use_up_the_throttle_for_ours(
    new_app: Any, okta: OktaOrg, other_okta: OktaOrg
) -> None:
    """Okta calls from a few shared addresses for all its customers. Globex's
    own Okta (a genuine, verified token each time) names people Globex does
    not have: each 404 counts against Okta's address, and after
    ULO_MAX_FAILURES_PER_ADDRESS of them Acme's genuine logout is 429 and
    Acme's session survives."""
    app = new_app(ULO_MAX_FAILURES_PER_ADDRESS=5)
    org = make_org(app)
    ana = ready(app, org, okta)
    globex = make_org(app, "Globex")
    connect_okta(app, globex, other_okta.base, send_links=False)
    ulo_on(app, "Globex")
    for number in range(5):
        nobody = email_subject(f"nobody{number}@globex.test")
        token = other_okta.logout_token(endpoint(app))
        assert post_logout(app.test_client(), token, nobody).status_code == 404

    answer = post_logout(
        app.test_client(), okta.logout_token(endpoint(app)), email_subject(ANA)
    )

    assert answer.status_code == 204, answer.text
    assert not alive(app, ana)


# -- 3. Okta's keys down: every stranger's request is an outbound fetch ------------


def test_a_stranger_cannot_make_gatehouse_fetch_okta_s_keys_on_every_request(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    """While Okta's key URL fails (or hangs for the fetcher's timeouts), a
    failed fetch is not remembered and a 503 is not counted by the throttle:
    an unsigned token naming Acme's issuer and client ID (both public) makes
    one discovery fetch and one key fetch per request, without limit, each
    holding a worker for up to the outbound timeouts."""
    ready(app, org, okta)
    okta.reset()
    okta.keys_down = True
    forged = unsigned(
        {"alg": "RS256", "kid": "whatever"}, okta.claims(endpoint(app)), b"sig"
    )

    answers = {
        post_logout(app.test_client(), forged, email_subject(ANA)).status_code
        for _ in range(30)
    }

    assert answers <= {401, 429, 503}
    assert okta.key_fetches <= 2, (okta.key_fetches, okta.discovery_fetches)


# -- 4. a stranger's 500 -----------------------------------------------------------


def test_an_unpaired_surrogate_in_an_unsigned_token_s_issuer_is_not_a_500(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    """Nobody's signature is needed: the header and claims are read for routing
    and the issuer goes into a query; a JSON "\\ud800" cannot be encoded."""
    ready(app, org, okta)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as production does

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = b64(b'{"alg":"RS256","kid":"k"}')
    claims = b64(b'{"iss":"https://x.okta.com\\ud800","sub":"0oa1"}')
    token = f"{header}.{claims}.{b64(b'sig')}"

    answer = post_logout(app.test_client(), token, email_subject(ANA))

    assert answer.status_code == 401, answer.status_code


def test_an_unpaired_surrogate_in_the_body_of_a_signed_request_is_not_a_500(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    ana = ready(app, org, okta)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as production does
    body = b'{"sub_id": {"format": "email", "email": "ana\\ud800@acme.test"}}'

    answer = post_logout(app.test_client(), okta.logout_token(endpoint(app)), body)

    assert answer.status_code in (400, 404), answer.status_code
    assert alive(app, ana)


# -- 5. the demand to use Okta outlives Okta: a member locked out for good -------


def test_after_okta_is_turned_off_a_logged_out_member_can_use_their_password(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    """Okta logs Ana out (her next sign-in 'must go through Okta'); then the
    owner turns Okta sign-in off (the impact page does not list Ana among
    those losing their way in: she has a password). Her password is refused
    with a page whose 'Sign in with Okta' is a 404, and nothing (page or
    command) lifts the demand: she is locked out until Okta comes back."""
    ready(app, org, okta)
    answer = post_logout(
        app.test_client(), okta.logout_token(endpoint(app)), email_subject(ANA)
    )
    assert answer.status_code == 204, answer.text
    owner = app.test_client()
    assert sign_in(owner, org.owner_email).status_code == 302
    off = owner.post("/settings/sso", data={"provider": "none", "confirm": "yes"})
    assert off.status_code == 302, off.text
    assert app.test_client().get("/sso/okta?org=Acme").status_code == 404

    again = sign_in(app.test_client(), ANA)

    assert again.status_code == 302, (
        "okta-after-logout" in again.text,
        again.status_code,
    )


# -- 1b. the same through a SAML organization's Universal Logout settings ---------


def test_a_saml_organization_s_owner_cannot_claim_another_s_okta_and_client_id(
    saml_app: Flask, idp: SamlIdp, okta: OktaOrg
) -> None:
    """Globex signs in with SAML (its own IdP). Its owner types Acme's Okta
    address and Acme's OIDC client ID as 'Okta URL' and 'App instance id' and
    saves with Universal Logout left off: nothing checks that they are
    Globex's, and Acme's genuine logouts now name two organizations (401)."""

    app = saml_app
    acme = make_org(app)
    ana = ready(app, acme, okta)
    globex = make_org(app, "Globex")
    connected(app, globex, idp, send_links=False)
    owner = app.test_client()
    assert sign_in(owner, globex.owner_email).status_code == 302
    saved = owner.post(
        "/settings/okta/universal-logout",
        data={"okta_url": okta.base, "app_id": CLIENT_ID},
    )
    assert saved.status_code == 302, saved.text

    answer = post_logout(
        app.test_client(), okta.logout_token(endpoint(app)), email_subject(ANA)
    )

    assert answer.status_code == 204, answer.text
    assert not alive(app, ana)


# -- 6. the last-request row: a stranger erases Okta's failure, in their words -----


def test_a_stranger_s_unsigned_request_does_not_replace_okta_s_verified_result(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    """Okta ignores our answers, so the row is the admin's only way to see that
    Okta's logout failed (here: Okta names someone Acme does not have, 404).
    Anyone who knows Acme's issuer and client ID (public) overwrites it with an
    unsigned token whose kid carries words of their choosing; the admin's
    page then shows the stranger's text instead of Okta's failure."""
    ready(app, org, okta)
    genuine = post_logout(
        app.test_client(),
        okta.logout_token(endpoint(app)),
        email_subject("ana.renamed@acme.test"),
    )
    assert genuine.status_code == 404
    words = "ok: test ping from your Okta, nothing to do"
    forged = unsigned({"alg": "RS256", "kid": words}, okta.claims(endpoint(app)))
    assert post_logout(app.test_client(), forged, email_subject(ANA)).status_code == 401

    row = last_attempt(app, org.id)
    owner = app.test_client()
    assert sign_in(owner, org.owner_email).status_code == 302
    page = owner.get("/settings/okta/universal-logout").text

    assert row is not None and (row["status"], row["verified"]) == (404, True), row
    assert words not in page


# -- 7. iss_sub: two members with one externalId, the wrong one signed out -------


def test_iss_sub_naming_an_ambiguous_external_id_does_not_report_the_wrong_person_done(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    """externalId is not unique in an organization (any SCIM PUT or PATCH may
    give Bob the Okta user id of Ana). Ana signs in with her password and is
    not linked to Okta, so iss_sub falls back to the externalId and takes
    `.first()`: Bob is signed out, Okta is told 204, Ana stays signed in."""

    bob_id = make_user(app, org.id, "bob@acme.test")  # joined first
    ana = ready(app, org, okta)
    okta_user_id = "00u-ana-okta-id"
    with app.app_context():
        for user in db.session.execute(
            db.select(User).where(User.email.in_([ANA, "bob@acme.test"]))
        ).scalars():
            user.external_id = okta_user_id
        db.session.commit()
    body = {"sub_id": {"format": "iss_sub", "iss": okta.base, "sub": okta_user_id}}

    answer = post_logout(app.test_client(), okta.logout_token(endpoint(app)), body)

    assert bob_id
    assert answer.status_code != 204 or not alive(app, ana), answer.status_code


# -- 8. a NUL in the Okta URL is saved -------------------------------------------


def test_an_okta_url_with_a_nul_character_is_refused_not_saved(
    saml_app: Flask, idp: SamlIdp
) -> None:
    """The owner's form (and `--okta-url`) accept "https://acme\\x00.okta.com":
    check_url lets it through and it is stored (PostgreSQL refuses the write:
    a 500). It is not an Okta address."""

    app = saml_app
    acme = make_org(app)
    connected(app, acme, idp, send_links=False)
    owner = app.test_client()
    assert sign_in(owner, acme.owner_email).status_code == 302

    saved = owner.post(
        "/settings/okta/universal-logout",
        data={"okta_url": "https://acme\x00.okta.com", "app_id": "0oa1"},
    )

    with app.app_context():
        stored = db.session.execute(
            db.select(UniversalLogoutConfig.saml_okta_url)
        ).scalar()
    assert saved.status_code == 400, (saved.status_code, stored)
    assert stored is None or "\x00" not in stored


# -- 4b. a stranger's NUL: a 500 on PostgreSQL -------------------------------------


def test_a_nul_in_an_unsigned_token_s_issuer_is_not_a_500(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    """The routing query binds the unverified issuer; PostgreSQL refuses a
    string with NUL (SQLite stores it, so this passes there and fails under
    tools/with-postgres)."""
    ready(app, org, okta)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as production does
    header = _b64(b'{"alg":"RS256","kid":"k"}')
    claims = _b64(b'{"iss":"https://x.okta.com\\u0000","sub":"0oa1"}')

    answer = post_logout(
        app.test_client(), f"{header}.{claims}.{_b64(b'sig')}", email_subject(ANA)
    )

    assert answer.status_code == 401, answer.status_code


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
