"""The review fixes of Okta Universal Logout (#14) the reviewer's tests do not
pin: an Okta issuer and app claimed twice is refused when saved (settings
pages and command), a token both claimants' keys verify ends nobody's sessions
and is recorded for both, a key outage counts against the address, the last
unverified request is shown apart, and turning Okta off counts the members Okta
signed out. Real parts: the Okta-shaped key server, the real SAML IdP."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from core.extensions import db
from core.models import SsoConfig
from core.models import UniversalLogoutConfig
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.oidc import CLIENT_ID
from tests.support.oidc import connect_okta
from tests.support.oidc import discovery
from tests.support.oidc import okta_form
from tests.support.rows import signed_in_user_id
from tests.support.rows import snapshot
from tests.support.saml import connected
from tests.support.saml_idp import SamlIdp
from tests.support.universal_logout import OktaOrg
from tests.support.universal_logout import email_subject
from tests.support.universal_logout import endpoint
from tests.support.universal_logout import last_attempt
from tests.support.universal_logout import last_unverified
from tests.support.universal_logout import okta_fixture  # noqa: F401
from tests.support.universal_logout import okta_servers_fixture  # noqa: F401
from tests.support.universal_logout import other_okta_fixture  # noqa: F401
from tests.support.universal_logout import post_logout
from tests.support.universal_logout import unsigned

pytestmark = pytest.mark.usefixtures("quick_passwords")

ANA = "ana@acme.test"
CLAIMED = "Another organization here already accepts Universal Logout"


def ulo(app: Flask, name: str, *args: str) -> Any:
    return app.test_cli_runner().invoke(
        args=["sso", "universal-logout", "--org", name, *args]
    )


def ready(app: Flask, org: OrgInfo, okta: OktaOrg) -> Any:
    """Acme: Okta OIDC on, Universal Logout on, Ana signed in; her client."""
    connect_okta(app, org, okta.base, send_links=False)
    assert ulo(app, org.name, "--on").exit_code == 0
    make_user(app, org.id, ANA)
    ana = app.test_client()
    assert sign_in(ana, ANA).status_code == 302
    return ana


def alive(app: Flask, client: Any) -> bool:
    return signed_in_user_id(app, client) is not None


def test_a_saml_organization_cannot_turn_on_an_okta_app_another_accepts(
    saml_app: Flask, idp: SamlIdp, okta: OktaOrg
) -> None:
    app = saml_app
    acme = make_org(app)
    ready(app, acme, okta)
    globex = make_org(app, "Globex")
    connected(app, globex, idp, send_links=False)
    owner = app.test_client()
    assert sign_in(owner, globex.owner_email).status_code == 302
    before = snapshot(app)

    page = owner.post(
        "/settings/okta/universal-logout",
        data={"enabled": "y", "okta_url": okta.base, "app_id": CLIENT_ID},
    )
    command = ulo(app, "Globex", "--on", "--okta-url", okta.base, "--app-id", CLIENT_ID)

    assert page.status_code == 400
    assert CLAIMED in page.text and "Acme" not in page.text
    assert command.exit_code != 0 and CLAIMED in command.output
    assert snapshot(app) == before


def test_an_oidc_organization_with_universal_logout_on_cannot_save_another_s_app(
    app: Flask, org: OrgInfo, okta: OktaOrg, other_okta: OktaOrg
) -> None:
    ready(app, org, okta)
    globex = make_org(app, "Globex")
    connect_okta(app, globex, other_okta.base, send_links=False)
    assert ulo(app, "Globex", "--on").exit_code == 0
    owner = app.test_client()
    assert sign_in(owner, globex.owner_email).status_code == 302
    before = snapshot(app)

    saved = owner.post(
        "/settings/okta", data=okta_form(discovery(okta.base), client_id=CLIENT_ID)
    )

    assert saved.status_code == 400, saved.status_code
    assert CLAIMED in saved.text and "Acme" not in saved.text
    assert snapshot(app) == before


def test_a_token_two_organizations_keys_verify_ends_nobody_s_sessions(
    saml_app: Flask, idp: SamlIdp, okta: OktaOrg
) -> None:
    """Two live claimants of one Okta app (written past the save-time check,
    as a race would; Globex's SAML app on the same Okta, so its claim is
    proven): the genuine token is refused, on both rows."""
    app = saml_app
    acme = make_org(app)
    ana = ready(app, acme, okta)
    globex = make_org(app, "Globex")
    connected(app, globex, idp, send_links=False)
    with app.app_context():
        sso = db.session.execute(
            db.select(SsoConfig).filter_by(organization_id=globex.id)
        ).scalar_one()
        sso.saml_sso_url = okta.base + "/app/globex/exk1/sso/saml"
        db.session.add(
            UniversalLogoutConfig(
                organization_id=globex.id,
                enabled=True,
                revoke_personal_keys=False,
                saml_okta_url=okta.base,
                saml_app_id=CLIENT_ID,
            )
        )
        db.session.commit()

    answer = post_logout(
        app.test_client(), okta.logout_token(endpoint(app)), email_subject(ANA)
    )

    assert answer.status_code == 401
    assert alive(app, ana)
    for org_id in (acme.id, globex.id):
        row = last_attempt(app, org_id)
        assert row is not None and (row["status"], row["verified"]) == (401, True)
        assert "several organizations" in row["reason"]


def test_while_okta_s_keys_are_down_unsigned_requests_reach_the_throttle(
    new_app: Any, okta: OktaOrg
) -> None:
    app = new_app(ULO_MAX_FAILURES_PER_ADDRESS=3)
    org = make_org(app)
    ready(app, org, okta)
    okta.reset()
    okta.keys_down = True
    forged = unsigned({"alg": "RS256", "kid": "k"}, okta.claims(endpoint(app)))

    answers = [
        post_logout(app.test_client(), forged, email_subject(ANA)).status_code
        for _ in range(4)
    ]

    assert answers == [503, 503, 503, 429]
    assert okta.key_fetches == 1
    row = last_unverified(app, org.id)
    assert row is not None and row["status"] == 503
    assert last_attempt(app, org.id) is None


def test_the_page_shows_the_last_unverified_request_apart(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    ready(app, org, okta)
    forged = unsigned(
        {"alg": "RS256", "kid": "<b>call 555</b>"}, okta.claims(endpoint(app))
    )
    assert post_logout(app.test_client(), forged, email_subject(ANA)).status_code == 401
    owner = app.test_client()
    assert sign_in(owner, org.owner_email).status_code == 302

    page = owner.get("/settings/okta/universal-logout").text

    assert 'id="ulo-last-none"' in page  # Okta's own result: none yet
    assert 'id="ulo-unverified-reason"' in page
    assert "call 555" not in page


def test_turning_okta_off_counts_the_members_okta_signed_out(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    ready(app, org, okta)
    answer = post_logout(
        app.test_client(), okta.logout_token(endpoint(app)), email_subject(ANA)
    )
    assert answer.status_code == 204
    owner = app.test_client()
    assert sign_in(owner, org.owner_email).status_code == 302

    impact = owner.post("/settings/sso", data={"provider": "none"})

    assert impact.status_code == 200
    assert 'id="after-logout-warning"' in impact.text
    assert "1 member\n" in impact.text


def test_the_command_refuses_an_okta_url_with_a_nul(
    app: Flask, org: OrgInfo, okta: OktaOrg
) -> None:
    ready(app, org, okta)
    before = snapshot(app)

    result = ulo(app, org.name, "--on", "--okta-url", "https://acme\x00.okta.com")

    assert result.exit_code != 0
    assert "Okta address" in result.output
    assert snapshot(app) == before
