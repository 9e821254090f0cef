"""Regression tests for the security review of the trust model.

One test (or two) per finding, each through the real HTTP paths: the Flask test
client for the pages and the SCIM API, `oidc-provider-mock` as Okta's OpenID
provider, pysaml2 (`tests.support.saml_idp.SamlIdp`) as Okta's SAML IdP, a real SMTP
server for the emailed links and Werkzeug's threaded server for the race.

1. An admin could point the organization's Okta connection at an identity
   provider of their own (even one with the real entity ID and the admin's
   signing key) and then sign in as an owner; or switch Okta off.
3. Two simultaneous removals of the two owners left the organization with none.
4. An admin of another organization could see and lift the password lockout of
   an account that has the same email, and a successful sign-in there lifted it.
5. SAML: an Okta user whose NameID is someone else but whose `email` attribute
   says bob@ landed in Bob's SCIM-made account.
6. SAML "Link my Okta account" survived sign-out: the browser's next user was
   signed in as the member.
7. Without a mail server the pages said an email was sent (it went to the
   outbox).
8. Migration 0003 kept link tokens emailed before it (they may carry a host
   taken from a request). Also: on SQLite, migration 0003 must not delete what
   hangs off the user table (it does: see
   `test_migration_0003_keeps_what_belongs_to_the_users`).
9. A forwarded emailed link bound the recipient's own Okta account to the
   sender's account.
10. A just-in-time sign-in whose email is another account's userName answered 500.
11. Members saw other members' source and password status.

(Finding 2, an organization key reactivating its own creator, is covered in
tests/test_authority.py.)
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from core import linking
from core import throttle
from core.extensions import db
from core.models import ApiKey
from core.models import LinkToken
from core.models import User
from core.models import UTCDateTime
from core.security import hash_token
from tests.support.builders import OrgInfo
from tests.support.builders import make_app
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import scim_key
from tests.support.builders import sign_in
from tests.support.constants import PASSWORD
from tests.support.constants import REPO
from tests.support.constants import SECRET_KEY
from tests.support.live import serve
from tests.support.mail import Mailbox
from tests.support.mail import smtp_settings
from tests.support.migrations import keep_logging  # noqa: F401 (autouse fixture)
from tests.support.oidc import CLIENT_SECRET
from tests.support.oidc import at_provider
from tests.support.oidc import connect_okta
from tests.support.oidc import discovery
from tests.support.oidc import link_path
from tests.support.oidc import oidc_test_sign_in
from tests.support.oidc import okta_sign_in
from tests.support.oidc import okta_user
from tests.support.oidc import turn_on_for_everyone
from tests.support.rows import assert_nobody_signed_in
from tests.support.rows import events
from tests.support.rows import identities
from tests.support.rows import signed_in_user_id
from tests.support.rows import snapshot
from tests.support.rows import sso_config
from tests.support.rows import user_count
from tests.support.rows import user_row
from tests.support.saml import ACS_URL
from tests.support.saml import PUBLIC_BASE_URL as SAML_BASE
from tests.support.saml import connected
from tests.support.saml import post_from_okta
from tests.support.saml import refusals
from tests.support.saml import saml_sign_in
from tests.support.saml import start as saml_start
from tests.support.saml_idp import SamlIdp
from tests.support.scim import PATCH_SCHEMA
from tests.support.scim import SCIM
from tests.support.scim import SCIM_JSON
from tests.support.scim import USER_SCHEMA
from tests.support.scim import ScimClient

# The mock provider signs its ID tokens through an Authlib hook Authlib has
# deprecated; the warning is raised in the provider's thread, not by our code.
pytestmark = [
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
    pytest.mark.usefixtures("quick_passwords"),
]

OWNERS_ONLY = "Only an owner can change the Okta connection"
RACE_ROUNDS = 20


# -- apps and servers -------------------------------------------------------------


@pytest.fixture
def mail_app(tmp_path: Path, mailbox: tuple[Mailbox, int]) -> Iterator[Flask]:
    """An app (at http://localhost) whose mail goes to the real `mailbox`."""
    app = make_app(tmp_path, **smtp_settings(mailbox[1]))
    yield app
    with app.app_context():
        db.engine.dispose()


# -- helpers ----------------------------------------------------------------------


def client_of(app: Flask, email: str, password: str = PASSWORD) -> FlaskClient:
    """A client signed in with `email`'s password."""
    client = app.test_client()
    response = sign_in(client, email, password)
    assert response.status_code == 302, response.text
    return client


def flashed(client: FlaskClient, response: TestResponse) -> str:
    """The page a redirect leads to (with the flashed message)."""
    assert response.status_code == 302, response.text
    return html.unescape(client.get(response.headers["Location"]).text)


def okta_user_of(name_id: str, email: str) -> dict[str, str]:
    """Who the SAML IdP says is signing in."""
    return {"name_id": name_id, "email": email, "firstName": "T", "lastName": "U"}


def scim_create(
    app: Flask, secret: str, user_name: str, email: str, **extra: Any
) -> int:
    """POST /Users as Okta sends it; returns the new account's id."""
    body = {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"value": email, "primary": True, "type": "work"}],
        "active": True,
        **extra,
    }
    response = ScimClient(app.test_client(), secret).post("/Users", body)
    assert response.status_code == 201, response.text
    return int(response.get_json()["id"])


def text_of(page: str, element_id: str) -> str:
    """The text of the element with this id (whitespace collapsed)."""
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</p>', page, re.S)
    assert match, page
    return html.unescape(" ".join(re.sub(r"<[^>]+>", "", match.group(1)).split()))


def okta_form(**fields: str) -> dict[str, str]:
    """The OKTA AUTHENTICATION form."""
    return {"default_role": "member", **fields}


# -- 1. only an owner changes the Okta connection --------------------------------


def test_an_admin_cannot_repoint_okta_at_their_own_idp_and_become_the_owner(
    saml_app: Flask, idp: SamlIdp, tmp_path: Path, provider: str
) -> None:
    app = saml_app
    org = make_org(app)
    make_user(app, org.id, "adam@acme.test", role="admin")
    owner = client_of(app, org.owner_email)
    connected(app, org, idp, client=owner)
    # The owner links their Okta account from their own signed-in session.
    idp.user = okta_user_of(org.owner_email, org.owner_email)
    going = owner.post("/okta/link-mine")
    assert going.status_code == 302, going.text
    linked = post_from_okta(owner, idp.respond_to(going.headers["Location"]))
    assert linked.status_code == 302, linked.text
    [(_, owner_linked, _, entity_id, _)] = identities(app)
    assert (owner_linked, entity_id) == (org.owner_id, idp.entity_id)
    config_before = sso_config(app, org.id)
    configured_before = len(events(app, "settings.okta_configured"))
    admin = client_of(app, "adam@acme.test")
    before = snapshot(app)

    # The admin's own IdP: the same entity ID as the real Okta app, their own key.
    fake = SamlIdp(SAML_BASE, ACS_URL, entity_id=idp.entity_id, tmp_dir=tmp_path / "f")
    with fake:
        attempts = [
            okta_form(protocol="saml", saml_metadata_url=fake.metadata_url),
            okta_form(
                protocol="oidc",
                client_id="0oa-adams-own-app",
                client_secret=CLIENT_SECRET,
                metadata_url=discovery(provider),
            ),
        ]
        for data in attempts:
            response = admin.post("/settings/okta", data=data)
            assert response.status_code == 403, response.text
            assert OWNERS_ONLY in response.text
        assert fake.metadata_fetches == 0

        assert snapshot(app) == before
        assert sso_config(app, org.id) == config_before
        assert len(events(app, "settings.okta_configured")) == configured_before

        # What the admin's IdP signs for the owner (still `idp.user`) is not
        # believed: it is the saved entity ID, but not the saved key.
        attacker = app.test_client()
        fields = idp.respond_to(saml_start(attacker), signing_key=fake.signing_key)
        refused = post_from_okta(attacker, fields)
    assert refused.status_code != 302, refused.text
    assert [event["failure"] for event in refusals(app)] == ["signature"]
    assert_nobody_signed_in(app, attacker)
    assert [row[1] for row in identities(app)] == [org.owner_id]
    # The real Okta still signs the owner in.
    later = app.test_client()
    assert saml_sign_in(later, idp).status_code == 302
    assert signed_in_user_id(app, later) == org.owner_id


def test_an_admin_cannot_switch_okta_off_but_refreshes_metadata_and_dashboard(
    saml_app: Flask, idp: SamlIdp
) -> None:
    app = saml_app
    org = make_org(app)
    make_user(app, org.id, "adam@acme.test", role="admin")
    owner = client_of(app, org.owner_email)
    connected(app, org, idp, client=owner)
    admin = client_of(app, "adam@acme.test")

    page = admin.get("/settings/okta")
    assert page.status_code == 200
    assert 'id="owners-only"' in page.text
    assert 'action="/settings/okta"' not in page.text
    assert idp.entity_id in page.text  # the saved IdP is shown

    # None + Connect: refused, and Okta sign-in stays on.
    before = snapshot(app)
    page = flashed(admin, admin.post("/settings/sso", data={"provider": "none"}))
    assert OWNERS_ONLY in page
    assert snapshot(app) == before
    config = sso_config(app, org.id)
    assert config is not None and config["provider"] == "okta"
    assert saml_sign_in(app.test_client(), idp).status_code == 302  # Ann, just in time

    # What an admin may still do: refresh the metadata, allow dashboard sign-in.
    page = flashed(admin, admin.post("/settings/okta/refresh"))
    assert "The metadata is refreshed" in page
    page = flashed(admin, admin.post("/settings/okta/dashboard", data={"enabled": "y"}))
    assert "Sign-in from the Okta dashboard is allowed" in page
    config = sso_config(app, org.id)
    assert config is not None and config["idp_initiated_enabled"] is True

    # The owner sees the form and may switch Okta off.
    page = owner.get("/settings/okta").text
    assert 'id="owners-only"' not in page and 'action="/settings/okta"' in page
    response = owner.post("/settings/sso", data={"provider": "none", "confirm": "yes"})
    assert "Okta single sign-on is off" in flashed(owner, response)
    config = sso_config(app, org.id)
    assert config is not None and config["provider"] == "none"


# -- 3. two owners removed at once --------------------------------------------------


def active_owners(app: Flask, org_id: int) -> int:
    """Active owners of the organization."""
    with app.app_context():
        return db.session.execute(
            db.select(db.func.count())
            .select_from(User)
            .filter_by(organization_id=org_id, role="owner", status="active")
        ).scalar_one()


def deactivate_at_once(url: str, secret: str, user_ids: tuple[int, ...]) -> list[int]:
    """PATCH active=false for every user at the same moment; the sorted statuses."""
    body = {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": "replace", "value": {"active": False}}],
    }
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": SCIM_JSON}
    barrier = threading.Barrier(len(user_ids))
    statuses: dict[int, int] = {}

    def remove(uid: int) -> None:
        session = requests.Session()
        barrier.wait(timeout=10)
        response = session.patch(
            f"{url}{SCIM}/Users/{uid}", json=body, headers=headers, timeout=30
        )
        statuses[uid] = response.status_code

    threads = [threading.Thread(target=remove, args=(uid,)) for uid in user_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(statuses.values())


def test_two_owners_deactivated_at_once_leave_one_active_owner(app: Flask) -> None:
    """Both removals count the other owner as still active unless they take turns.

    The window is narrow, so the race runs several rounds.
    """
    org = make_org(app)
    second = make_user(app, org.id, "second@acme.test", role="owner")
    secret = scim_key(app, org.id, role="owner")
    owners = (org.owner_id, second)
    outcomes: list[tuple[list[int], int]] = []
    with serve(app) as url:
        for _ in range(RACE_ROUNDS):
            statuses = deactivate_at_once(url, secret, owners)
            outcomes.append((statuses, active_owners(app, org.id)))
            with app.app_context():
                for uid in owners:
                    user = db.session.get(User, uid)
                    assert user is not None
                    user.status = "active"
                db.session.commit()

    assert outcomes == [([200, 409], 1)] * RACE_ROUNDS


# -- 4. a lockout is not another organization's to lift -----------------------------


def lock_out(app: Flask, email: str) -> None:
    """Fail the password sign-in of `email` until it is locked out."""
    client = app.test_client()
    for _ in range(app.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"]):
        assert sign_in(client, email, "a wrong guess").status_code == 401
    with app.app_context():
        assert throttle.account_locked(email)


def test_another_organizations_admin_cannot_see_or_lift_a_lockout(app: Flask) -> None:
    acme = make_org(app)
    evil = make_org(app, "Evil")
    lock_out(app, acme.owner_email)
    evil_owner = client_of(app, evil.owner_email)
    response = evil_owner.post(
        "/members/new",
        data={
            "email": acme.owner_email,
            "given_name": "Twin",
            "family_name": "",
            "role": "member",
            "password": "",
        },
    )
    assert response.status_code == 302, response.text
    twin = user_row(app, evil.id, acme.owner_email)
    assert twin is not None

    # Evil sees its own account's failures (none), nothing of Acme's...
    page = evil_owner.get(f"/members/{twin['id']}").text
    assert 'id="unlock"' not in page
    assert "another organization" not in page
    before = snapshot(app)["sign_in_failure"]
    page = flashed(evil_owner, evil_owner.post(f"/members/{twin['id']}/unlock"))
    assert "another organization" not in page
    # ...and its Unlock forgets only its own account's failures.
    assert snapshot(app)["sign_in_failure"] == before
    [event] = events(app, "member.unlocked")
    assert event["failures_cleared"] == 0
    # Acme's owner stays locked: the right password is not checked. It reads
    # as a wrong one (401): a 429 after Evil's Unlock would tell Evil that
    # another organization has a locked account with this email.
    assert sign_in(app.test_client(), acme.owner_email).status_code == 401
    assert events(app, "sign_in.refused")[-1]["reason"] == "throttled"
    assert events(app, "sign_in.refused")[-1]["organization_id"] == acme.id

    # The server administrator still can.
    result = app.test_cli_runner().invoke(
        args=["member", "unlock", "--org", "Acme", acme.owner_email]
    )
    assert result.exit_code == 0, result.output
    response = sign_in(app.test_client(), acme.owner_email)
    assert response.status_code == 302, response.text


def test_a_sign_in_in_another_organization_does_not_lift_a_lockout(app: Flask) -> None:
    acme = make_org(app)
    evil = make_org(app, "Evil")
    twin_password = "evil twin's own passphrase"
    twin = make_user(app, evil.id, acme.owner_email, password=twin_password)
    client = app.test_client()
    limit = app.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"]
    for _ in range(limit - 1):
        assert sign_in(client, acme.owner_email, "a wrong guess").status_code == 401

    # Evil's account with the same email signs in with its own password...
    evil_browser = client_of(app, acme.owner_email, twin_password)
    assert signed_in_user_id(app, evil_browser) == twin
    # ...and the guesses against Acme's owner keep counting.
    assert sign_in(client, acme.owner_email, "a wrong guess").status_code == 401
    with app.app_context():
        assert throttle.account_locked(acme.owner_email)
    # Acme's owner's right password is not checked: refused as a wrong one (a
    # 429 would tell Evil's account that another account of its email is
    # locked), and Acme's audit log says it was throttled.
    assert sign_in(app.test_client(), acme.owner_email).status_code == 401
    assert events(app, "sign_in.refused")[-2]["reason"] == "throttled"
    assert events(app, "sign_in.refused")[-2]["organization_id"] == acme.id


# -- 5. SAML: the NameID must be the person Okta provisioned ----------------------


def test_a_saml_nameid_of_another_person_does_not_land_in_a_scim_account(
    saml_app: Flask, idp: SamlIdp
) -> None:
    app = saml_app
    org = make_org(app)
    secret = scim_key(app, org.id)
    bob = scim_create(
        app, secret, "bob@acme.test", "bob@acme.test", externalId="00uBOB4567890123456a"
    )
    connected(app, org, idp)
    users_before = user_count(app)

    # Mallory's own Okta account, whose email attribute says Bob's address.
    idp.user = okta_user_of("mallory@acme.test", "bob@acme.test")
    attacker = app.test_client()
    response = saml_sign_in(attacker, idp)
    assert response.status_code == 403, response.text
    assert "Confirm your account first" in response.text
    assert_nobody_signed_in(app, attacker)
    assert identities(app) == []
    assert user_count(app) == users_before

    # Bob himself (NameID = his Okta username, the SCIM userName) is linked.
    idp.user = okta_user_of("bob@acme.test", "bob@acme.test")
    browser = app.test_client()
    assert saml_sign_in(browser, idp).status_code == 302
    assert signed_in_user_id(app, browser) == bob
    assert [(row[1], row[4]) for row in identities(app)] == [(bob, "bob@acme.test")]


# -- 6. SAML "Link my Okta account" ends with the session -------------------------


def test_a_saml_own_account_link_is_dead_after_sign_out(
    saml_app: Flask, idp: SamlIdp
) -> None:
    app = saml_app
    org = make_org(app)
    mia = make_user(app, org.id, "mia@acme.test")
    connected(app, org, idp)
    kiosk = client_of(app, "mia@acme.test")
    going = kiosk.post("/okta/link-mine")
    assert going.status_code == 302, going.text
    okta_url = going.headers["Location"]
    assert kiosk.post("/logout").status_code == 302
    assert signed_in_user_id(app, kiosk) is None

    # The next person at this browser answers Okta's page Mia left open.
    idp.user = okta_user_of("stranger@acme.test", "stranger@acme.test")
    response = post_from_okta(kiosk, idp.respond_to(okta_url))
    assert response.status_code != 302, response.text
    assert signed_in_user_id(app, kiosk) != mia
    assert_nobody_signed_in(app, kiosk)
    assert identities(app) == []
    assert user_row(app, org.id, "stranger@acme.test") is None


# -- 7. no mail server: the pages say the outbox --------------------------------


def test_without_a_mail_server_no_page_claims_an_email_was_sent(
    app: Flask, provider: str
) -> None:
    org = make_org(app)
    bob = make_user(app, org.id, "bob@acme.test")
    make_user(app, org.id, "adam@acme.test", role="admin")
    outbox = Path(app.instance_path) / "outbox"

    # Turning Okta on "invites" the owner, Bob and Adam: to the outbox.
    owner = client_of(app, org.owner_email)
    response = owner.post(
        "/settings/okta",
        data=okta_form(
            protocol="oidc",
            client_id="0oa-gatehouse-client",
            client_secret=CLIENT_SECRET,
            metadata_url=discovery(provider),
        ),
    )
    assert "outbox" not in flashed(owner, response)  # saving invites nobody
    assert list(outbox.glob("*.eml")) == []
    assert oidc_test_sign_in(owner).status_code == 302
    page = flashed(owner, turn_on_for_everyone(owner))
    assert "written to the server's outbox" in page
    assert "were emailed" not in page
    assert len(list(outbox.glob("*.eml"))) == 3

    # The admin's "Email the link".
    admin = client_of(app, "adam@acme.test")
    page = flashed(admin, admin.post(f"/members/{bob}/okta-link"))
    assert "the link for bob@acme.test was written to the server's outbox" in page
    assert "Emailed bob@acme.test" not in page

    # The confirm page after an Okta sign-in.
    okta_user(provider, "00u-bob", "bob@acme.test")
    response = okta_sign_in(app.test_client(), provider, "00u-bob")
    assert response.status_code == 403
    status = text_of(response.text, "link-status")
    assert "No link has been emailed to bob@acme.test" in status
    assert "was emailed" not in status

    # "Email me the link" for someone who joined later.
    make_user(app, org.id, "carl@acme.test")
    okta_user(provider, "00u-carl", "carl@acme.test")
    browser = app.test_client()
    assert okta_sign_in(browser, provider, "00u-carl").status_code == 403
    response = browser.post("/okta/resend")
    assert response.status_code == 200
    result = text_of(response.text, "link-result")
    assert "written to the server's outbox" in result
    assert "We sent" not in result and "Check your email" not in response.text
    assert len(list(outbox.glob("*.eml"))) == 5
    with app.app_context():
        assert (
            db.session.execute(
                db.select(LinkToken).where(LinkToken.sent_at.is_not(None))
            ).all()
            == []
        )


# -- 8. migration 0003 voids the links emailed before it ----------------------------

NOW = datetime.now(UTC).replace(microsecond=0)
SPENT_AT = NOW - timedelta(days=1)


def insert(connection: sa.Connection, table: str, **values: Any) -> None:
    """One row in `table` (timestamps as the app stores them)."""
    columns = [
        sa.column(name, UTCDateTime())
        if isinstance(value, datetime)
        else sa.column(name)
        for name, value in values.items()
    ]
    connection.execute(sa.table(table, *columns).insert(), values)


def person(org_id: int, email: str, role: str) -> dict[str, Any]:
    """The columns of a local account at revision 0002."""
    return {
        "organization_id": org_id,
        "email": email,
        "email_key": email,
        "user_name": email,
        "user_name_key": email,
        "given_name": "",
        "family_name": "",
        "display_name": email,
        "name_key": email,
        "role": role,
        "status": "active",
        "source": "local",
        "scim_managed": False,
        "password_hash": "argon2-hash-of-an-old-password",
        "created_at": NOW,
        "updated_at": NOW,
    }


@pytest.fixture
def database_at_0002(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Flask]:
    """An app whose SQLite file was migrated to 0002 and used: an owner (id 1)
    who made an organization key, a member (id 2) with a personal key, a group,
    an Okta identity, a session, and two emailed links (one pending, one used)."""
    # Flask-Migrate finds `migrations/` relative to the working directory.
    monkeypatch.chdir(REPO)
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": SECRET_KEY,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.sqlite'}",
            "WTF_CSRF_ENABLED": False,
        }
    )
    result = app.test_cli_runner().invoke(args=["db", "upgrade", "0002"])
    assert result.exit_code == 0, result.output
    with app.app_context(), db.engine.begin() as connection:
        insert(
            connection,
            "organization",
            name="Acme",
            name_key="acme",
            plan="pro",
            created_at=NOW,
        )
        insert(connection, "user", **person(1, "olive@acme.test", "owner"))
        insert(connection, "user", **person(1, "mia@acme.test", "member"))
        for key_id, holder in ((1, None), (2, 2)):
            insert(
                connection,
                "api_key",
                organization_id=1,
                user_id=holder,
                created_by_id=holder or 1,
                name=f"key {key_id}",
                prefix=f"gh_{key_id}",
                secret_hash=f"{key_id:064d}",
                scopes="scim",
                created_at=NOW,
            )
        insert(
            connection,
            "group",
            organization_id=1,
            display_name="Eng",
            display_name_key="eng",
            scim_managed=False,
            created_at=NOW,
            updated_at=NOW,
        )
        insert(connection, "group_member", group_id=1, user_id=2, created_at=NOW)
        insert(
            connection,
            "okta_identity",
            organization_id=1,
            user_id=2,
            protocol="oidc",
            issuer="https://acme.okta.com",
            subject="00u-mia",
            created_at=NOW,
        )
        insert(
            connection,
            "user_session",
            token_hash=hash_token("session"),
            user_id=2,
            created_at=NOW,
            expires_at=NOW + timedelta(days=1),
            ip="127.0.0.1",
            user_agent="test",
        )
        insert(
            connection,
            "link_token",
            token_hash=hash_token("pending-link"),
            user_id=2,
            created_at=NOW,
            expires_at=NOW + timedelta(days=5),
        )
        insert(
            connection,
            "link_token",
            token_hash=hash_token("spent-link"),
            user_id=2,
            created_at=NOW - timedelta(days=2),
            expires_at=NOW + timedelta(days=5),
            used_at=SPENT_AT,
        )
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def upgrade_to_head(app: Flask) -> None:
    """`flask db upgrade`, which must succeed."""
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output


def count(table: str) -> int:
    """Rows of `table` (inside an app context)."""
    return db.session.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one()


def test_migration_0003_voids_every_unused_link_token(database_at_0002: Flask) -> None:
    """Pending links are kept but spent (used_at set); used ones keep their time."""
    app = database_at_0002
    upgrade_to_head(app)
    with app.app_context():
        tokens = {
            row.token_hash: row
            for row in db.session.execute(db.select(LinkToken)).scalars()
        }
        assert set(tokens) == {hash_token("pending-link"), hash_token("spent-link")}
        assert tokens[hash_token("pending-link")].used_at is not None
        assert tokens[hash_token("spent-link")].used_at == SPENT_AT
        assert linking.find_link_token("pending-link") is None
        mia = db.session.get(User, 2)
        assert mia is not None and linking.last_delivered_link(mia) is None


def test_migration_0003_keeps_what_belongs_to_the_users(
    database_at_0002: Flask,
) -> None:
    """Rebuilding the user table on SQLite must not cascade to its dependents.

    0003's batch add_column of `user.email_from_okta` (server default
    `sa.false()`) makes Alembic copy the table and DROP the old one; with
    `PRAGMA foreign_keys=ON` (core.extensions) that DROP deletes every row with
    an ON DELETE CASCADE to it (identities, group memberships, sessions, link
    tokens, personal keys) and nulls `api_key.created_by_id` before the key
    roles are derived from it.
    """
    app = database_at_0002
    upgrade_to_head(app)
    with app.app_context():
        assert {
            table: count(table)
            for table in ("user", "okta_identity", "group_member", "user_session")
        } == {"user": 2, "okta_identity": 1, "group_member": 1, "user_session": 1}
        keys = {
            key.name: (key.user_id, key.created_by_id, key.role, key.created_by_label)
            for key in db.session.execute(db.select(ApiKey)).scalars()
        }
        # The organization key was made by an owner: it keeps acting as owner.
        assert keys == {
            "key 1": (None, 1, "owner", "olive@acme.test"),
            "key 2": (2, 2, None, "mia@acme.test"),
        }


# -- 9. a forwarded link does not bind the recipient's Okta account ------------------


def test_a_forwarded_link_does_not_bind_another_members_okta_account(
    mail_app: Flask, mailbox: tuple[Mailbox, int], provider: str
) -> None:
    app, inbox = mail_app, mailbox[0]
    org = make_org(app)
    mallory = make_user(app, org.id, "mallory@acme.test")
    make_user(app, org.id, "vic@acme.test")
    connect_okta(app, org, provider)
    [message] = inbox.to("mallory@acme.test")
    path = link_path(message)

    # Vic follows Mallory's forwarded link and signs in to Okta as himself.
    okta_user(provider, "00u-vic", "vic@acme.test")
    vic = app.test_client()
    going = vic.post(path)
    assert going.status_code == 302, going.text
    response = vic.get(at_provider(going.headers["Location"], "00u-vic"))
    assert response.status_code == 403, response.text
    assert "has the email of another member" in response.text
    assert_nobody_signed_in(app, vic)
    assert identities(app) == []
    refused = events(app, "sign_in.refused")[-1]
    assert (refused["reason"], refused["actor_user_id"]) == ("email_taken", None)

    # The link still works for Mallory's own Okta account.
    okta_user(provider, "00u-mallory", "mallory@acme.test")
    browser = app.test_client()
    going = browser.post(path)
    assert going.status_code == 302, going.text
    response = browser.get(at_provider(going.headers["Location"], "00u-mallory"))
    assert response.status_code == 302, response.text
    assert signed_in_user_id(app, browser) == mallory
    assert [(row[1], row[4]) for row in identities(app)] == [(mallory, "00u-mallory")]


# -- 10. a JIT email that is another account's userName ----------------------------


def test_a_sign_in_with_another_accounts_user_name_as_email_creates_nobody(
    app: Flask, org: OrgInfo, provider: str
) -> None:
    secret = scim_key(app, org.id)
    scim_create(app, secret, "kim@acme.test", "kim.lee@acme.test")
    connect_okta(app, org, provider)
    users_before = user_count(app)
    before = snapshot(app)

    okta_user(provider, "00u-kim", "kim@acme.test")
    browser = app.test_client()
    response = okta_sign_in(browser, provider, "00u-kim")

    assert response.status_code == 403, response.text
    assert "Confirm your account first" in response.text
    assert_nobody_signed_in(app, browser)
    assert user_count(app) == users_before
    assert identities(app) == []
    after = snapshot(app)
    assert after["user"] == before["user"]
    assert events(app, "sign_in.refused")[-1]["reason"] == "needs_confirmation"


# -- 11. a member does not see how others sign in ------------------------------------


def test_a_member_does_not_see_where_another_account_came_from(
    app: Flask, org: OrgInfo
) -> None:
    secret = scim_key(app, org.id)
    sam = scim_create(app, secret, "sam@acme.test", "sam@acme.test")
    make_user(app, org.id, "max@acme.test")
    seen_by_max = client_of(app, "max@acme.test").get(f"/members/{sam}").text
    assert "sam@acme.test" in seen_by_max
    for private in (
        "Came from",
        "Okta provisioning (SCIM)",
        "Password",
        "Okta sign-in only",
    ):
        assert private not in seen_by_max
    listing = client_of(app, "max@acme.test").get("/members").text
    assert "sam@acme.test" in listing  # the list itself stays visible
    seen_by_owner = client_of(app, org.owner_email).get(f"/members/{sam}").text
    assert "Okta provisioning (SCIM)" in seen_by_owner
    assert "none (Okta sign-in only)" in seen_by_owner
