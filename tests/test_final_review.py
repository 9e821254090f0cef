"""Final security review of the fixes that landed after the earlier reviews
(per-account sign-in throttle, Require Okta's row lock and way back in,
Universal Logout routing). Each test here fails while its finding stands.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from core import throttle
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.oidc import CLIENT_ID
from tests.support.oidc import connect_okta
from tests.support.rows import signed_in_user_id
from tests.support.saml import connect
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

VICTIM = "victim@shared.test"
VICTIM_PASSWORD = "the-victims-real-password-1"


def _guess(i: int) -> str:
    return f"attacker-guess-number-{i:04d}"


def test_twin_account_in_attacker_org_is_an_unthrottled_password_oracle(
    app: Flask,
) -> None:
    """An admin of another organization adds a member with the victim's email
    and, before each guess, gives that twin the guessed password. Every guess
    then "succeeds" (the twin always matches), so nothing is ever counted, and
    the victim's account is checked with it each time: the guess that is the
    victim's password opens the choice page with the victim's organization.
    Unlimited online guessing, then a cross-organization takeover."""
    victim_org = make_org(app, "Victimco")
    make_user(app, victim_org.id, VICTIM, password=VICTIM_PASSWORD)
    attacker_org = make_org(app, "Evilcorp")
    twin_id = make_user(app, attacker_org.id, VICTIM, password=_guess(0))

    limit = app.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"]
    per_address = app.config["SIGNIN_MAX_FAILURES_PER_ADDRESS"]
    twin = app.test_client()
    assert sign_in(twin, VICTIM, _guess(0)).status_code == 302

    current = _guess(0)
    for i in range(1, limit + per_address + 5):
        # The twin (signed in, knows its own password) changes it to the guess.
        reply = twin.post(
            "/account/password",
            data={
                "current_password": current,
                "password": _guess(i),
                "confirm": _guess(i),
            },
        )
        assert reply.status_code == 302, reply.text
        current = _guess(i)
        attempt = sign_in(app.test_client(), VICTIM, current)
        # A wrong guess against the victim: answered as a plain success.
        assert attempt.status_code == 302
        assert "/login/choose" not in attempt.location

    # The victim's account has been guessed against far past the limit...
    with app.app_context():
        victim_id = throttle.accounts_of(VICTIM)[0]
        assert victim_id != twin_id
        counted = throttle.recent_failures(throttle.user_key(victim_id))
    # ...so the right password must not open it now.
    final = app.test_client()
    reply = twin.post(
        "/account/password",
        data={
            "current_password": current,
            "password": VICTIM_PASSWORD,
            "confirm": VICTIM_PASSWORD,
        },
    )
    assert reply.status_code == 302
    attempt = sign_in(final, VICTIM, VICTIM_PASSWORD)
    opened = "/login/choose" in (attempt.location or "")
    taken_over = False
    if opened:
        chose = final.post("/login/choose", data={"account": str(victim_id)})
        taken_over = chose.status_code == 302 and (
            signed_in_user_id(app, final) == victim_id
        )
    assert counted >= limit and not opened, (
        f"{limit + per_address + 4} guesses against the victim, "
        f"{counted} counted; the right one opened the choice page: {opened}; "
        f"signed in as the victim: {taken_over}"
    )


# -- Universal Logout: one organization silencing another ---------------------

ANA = "ana@acme.test"


def _owner(app: Flask, org: OrgInfo) -> Any:
    client = app.test_client()
    assert sign_in(client, org.owner_email).status_code == 302
    return client


def _acme_on_oidc_with_ana(app: Flask, acme: OrgInfo, okta: OktaOrg) -> Any:
    connect_okta(app, acme, okta.base, send_links=False)
    make_user(app, acme.id, ANA)
    ana = app.test_client()
    assert sign_in(ana, ANA).status_code == 302
    return ana


def test_a_stored_saml_claim_survives_a_protocol_switch_and_silences_a_live_victim(
    saml_app: Flask, idp: SamlIdp, okta: OktaOrg, other_okta: OktaOrg
) -> None:
    """Acme accepts Universal Logout (OIDC). Globex's admin stores Acme's Okta
    address and client ID as its SAML Universal Logout fields while its switch
    is off (no claim check then), turns Universal Logout on while signing in
    with OIDC (the check asks only the OIDC pair), then switches sign-in to
    SAML: nothing asks again. Both now accept Acme's Okta app (SAML needs no
    proof), Okta's genuine token verifies for both and ends nobody's session."""
    app = saml_app
    acme = make_org(app)
    ana = _acme_on_oidc_with_ana(app, acme, okta)
    acme_owner = _owner(app, acme)
    on = acme_owner.post("/settings/okta/universal-logout", data={"enabled": "y"})
    assert on.status_code in (200, 302), on.text

    globex = make_org(app, "Globex")
    attacker = _owner(app, globex)
    # 1. SAML saved (Okta sign-in off, so the protocol reads saml); the
    #    Universal Logout fields stored with the switch off.
    assert connect(app, globex, idp, client=attacker).status_code == 302
    stored = attacker.post(
        "/settings/okta/universal-logout",
        data={"okta_url": okta.base, "app_id": CLIENT_ID},
    )
    assert stored.status_code in (200, 302), stored.text
    # 2. Its own Okta over OIDC, live; Universal Logout on (its OIDC pair is free).
    connect_okta(app, globex, other_okta.base, send_links=False)
    turned = attacker.post("/settings/okta/universal-logout", data={"enabled": "y"})
    assert turned.status_code in (200, 302), turned.text
    # 3. Switch its members to SAML.
    connected(app, globex, idp, send_links=False, client=attacker)

    answer = post_logout(
        app.test_client(), okta.logout_token(endpoint(app)), email_subject(ANA)
    )
    row = last_attempt(app, acme.id)
    assert signed_in_user_id(app, ana) is None, (
        f"Okta's genuine logout of Ana answered {answer.status_code}; "
        f"Acme's row: {row and row['reason']}"
    )


def test_an_unproven_saml_squatter_keeps_the_real_owner_from_universal_logout(
    saml_app: Flask, idp: SamlIdp, okta: OktaOrg
) -> None:
    """Globex (SAML, its own IdP) turns Universal Logout on with Acme's Okta
    address and client ID before Acme does: SAML proves nothing (`_eligible`
    asks no test), so it is accepted. Acme, whose Okta app it is, can then
    never turn Universal Logout on (the claim check refuses the real owner),
    and Okta's logout of Ana is answered for Globex, not Acme."""
    app = saml_app
    acme = make_org(app)
    ana = _acme_on_oidc_with_ana(app, acme, okta)
    globex = make_org(app, "Globex")
    connected(app, globex, idp, send_links=False)
    squat = _owner(app, globex).post(
        "/settings/okta/universal-logout",
        data={"enabled": "y", "okta_url": okta.base, "app_id": CLIENT_ID},
    )
    assert squat.status_code in (200, 302), squat.text

    on = _owner(app, acme).post(
        "/settings/okta/universal-logout", data={"enabled": "y"}
    )
    answer = post_logout(
        app.test_client(), okta.logout_token(endpoint(app)), email_subject(ANA)
    )
    assert on.status_code in (200, 302) and signed_in_user_id(app, ana) is None, (
        f"Acme turning Universal Logout on: {on.status_code}; Okta's logout of "
        f"Ana: {answer.status_code}, recorded for Globex: "
        f"{(last_attempt(app, globex.id) or {}).get('reason')}"
    )
