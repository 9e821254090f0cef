"""Review of the admin console (#13: health panel, logs, members, small things).

Each test proves one finding of the review and fails until it is fixed; the
paths that held are listed in the review's report, not here.
"""

from __future__ import annotations

import csv
import io

from flask import Flask
from flask.testing import FlaskClient

from core import audit
from core.extensions import db
from core.models import ApiKey
from core.models import utcnow
from tests.support.builders import OrgInfo
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import scim_key
from tests.support.builders import sign_in
from tests.support.console_review import audit_statuses
from tests.support.console_review import client_for
from tests.support.console_review import fail_password
from tests.support.console_review import failures
from tests.support.console_review import flashes
from tests.support.console_review import identity_ids
from tests.support.console_review import link
from tests.support.console_review import require_okta
from tests.support.console_review import set_user
from tests.support.console_review import turn_okta_on


def unlink(client: FlaskClient, user_id: int, identity_id: int) -> int:
    return client.post(
        f"/members/{user_id}/identities/{identity_id}/remove"
    ).status_code


# -- tenant wall: Unlock is an oracle of other organizations' accounts -------------


def test_unlock_does_not_tell_an_admin_which_emails_have_accounts_elsewhere(
    app: Flask, org: OrgInfo
) -> None:
    """Acme's admin adds a member with any email and clicks Unlock: the answer
    says whether that email has an account in another organization of the
    server (Globex's victim), which Acme must never learn."""
    globex = make_org(app, "Globex")
    make_user(app, globex.id, "victim@globex.test")
    make_user(app, org.id, "ada@acme.test", role="admin")
    probe = make_user(app, org.id, "victim@globex.test")
    control = make_user(app, org.id, "nobody@globex.test")
    admin = client_for(app, "ada@acme.test")

    assert admin.post(f"/members/{probe}/unlock").status_code == 302
    said_probe = flashes(admin)[-1]
    assert admin.post(f"/members/{control}/unlock").status_code == 302
    said_control = flashes(admin)[-1]
    assert "another organization" not in said_probe, said_probe
    # Whatever Acme's admin is told must not depend on Globex's accounts.
    assert said_probe.replace("victim@globex.test", "X") == said_control.replace(
        "nobody@globex.test", "X"
    )
    # The member page says it too, once the email has a failed attempt.
    fail_password(app, "victim@globex.test", 1)
    page = admin.get(f"/members/{probe}").text
    assert "another organization" not in page


# -- authority: an admin lifts a peer admin's brute-force guard ---------------------


def test_an_admin_cannot_lift_another_admins_password_lockout(
    app: Flask, org: OrgInfo
) -> None:
    """Every other way into an admin's account (their email, userName, their
    Okta link) is an owner's to change; Unlock of another admin is not, so an
    admin can guess a peer admin's password 5 at a time, unlocking between."""
    make_user(app, org.id, "ada@acme.test", role="admin")
    bob = make_user(app, org.id, "bob@acme.test", role="admin")
    admin = client_for(app, "ada@acme.test")
    limit = app.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"]
    fail_password(app, "bob@acme.test", limit)
    assert admin.post(f"/members/{bob}/unlock").status_code == 302
    assert failures(app, "bob@acme.test") == limit, flashes(admin)


# -- authority: nobody unlinks their own last way in --------------------------------


def test_no_one_unlinks_their_last_okta_link_while_okta_sign_in_is_required(
    app: Flask, org: OrgInfo
) -> None:
    """The rule counts any password as a way in; while the organization
    requires Okta sign-in (and the admin is not exempt) it is not one."""
    turn_okta_on(app, org.id)
    ada = make_user(app, org.id, "ada@acme.test", role="admin")
    only = link(app, org.id, ada)
    admin = client_for(app, "ada@acme.test")
    require_okta(app, org.id)
    # Her password no longer signs her in: Okta is her only way in.
    assert sign_in(app.test_client(), "ada@acme.test").status_code == 403
    assert unlink(admin, ada, only) == 302
    assert identity_ids(app) == {only}, flashes(admin)


def test_no_one_unlinks_their_last_okta_link_after_universal_logout(
    app: Flask, org: OrgInfo
) -> None:
    """Okta Universal Logout leaves `okta_required_after_logout`: a password
    is refused until an Okta sign-in, so the Okta link is the only way in."""
    turn_okta_on(app, org.id)
    ada = make_user(app, org.id, "ada@acme.test", role="admin")
    only = link(app, org.id, ada)
    admin = client_for(app, "ada@acme.test")
    set_user(app, ada, okta_required_after_logout=True)
    assert sign_in(app.test_client(), "ada@acme.test").status_code != 302
    assert unlink(admin, ada, only) == 302
    assert identity_ids(app) == {only}, flashes(admin)


# -- logs: refusals read as "Success" ------------------------------------------------


def test_refused_requests_never_read_as_success_in_the_audit_log(
    app: Flask, org: OrgInfo, owner_client: FlaskClient
) -> None:
    """A SCIM request refused for its key (401) and a refused Universal Logout
    show a green "Success" badge on /audit and "success" in the CSV."""
    secret = scim_key(app, org.id)
    with app.app_context():
        key = db.session.execute(db.select(ApiKey)).scalar_one()
        key.revoked_at = utcnow()
        db.session.commit()
    scim = app.test_client()
    response = scim.get(
        "/api/v1/scim/Users", headers={"Authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 401
    with app.app_context():
        audit.record(
            "universal_logout.refused", org.id, actor="okta", reason="bad_signature"
        )
        db.session.commit()

    page = owner_client.get("/audit").text
    assert audit_statuses(page, "scim.unauthorized")
    assert audit_statuses(page, "universal_logout.refused")
    assert "Success" not in audit_statuses(page, "scim.unauthorized")
    assert "Success" not in audit_statuses(page, "universal_logout.refused")
    export = owner_client.get("/audit", query_string={"format": "csv"}).text
    table = list(csv.DictReader(io.StringIO(export)))
    refused = [
        row
        for row in table
        if row["Kind"] in ("scim.unauthorized", "universal_logout.refused")
    ]
    assert len(refused) == 2
    assert {row["Status"] for row in refused} <= {"refused", "failed"}, refused
