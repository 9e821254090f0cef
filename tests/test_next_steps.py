"""The members page says what to do next after setup (issue #13): set the
public address, connect Okta, turn on SCIM, each with a link, until each is
done; members, who cannot do them, never see it."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from core.extensions import db
from core.models import Organization
from core.models import SsoConfig
from tests.support.builders import AppMaker
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.constants import PASSWORD


def open_steps(client: FlaskClient) -> list[str]:
    page = client.get("/members").text
    return re.findall(r'<li id="next-step-([a-z-]+)">', page)


def step_link(client: FlaskClient, key: str) -> str:
    page = client.get("/members").text
    found = re.search(rf'<li id="next-step-{key}">\s*<a href="([^"]+)"', page)
    assert found, page
    return found.group(1)


def turn_okta_on(app: Flask, org_id: int) -> None:
    """As *Turn on for everyone* leaves it (the rollout itself is tested in
    tests/test_sso_rollout.py)."""
    with app.app_context():
        org = db.session.get(Organization, org_id)
        assert org is not None
        config = org.sso_config or SsoConfig(organization=org)
        config.provider = "okta"
        db.session.add(config)
        db.session.commit()


def test_the_checklist_disappears_item_by_item(new_app: AppMaker) -> None:
    app = new_app(PUBLIC_BASE_URL="")
    org = make_org(app)
    owner = app.test_client()
    assert sign_in(owner, org.owner_email).status_code == 302
    assert open_steps(owner) == ["public-url", "okta", "scim"]
    assert step_link(owner, "okta") == "/settings/okta"
    assert step_link(owner, "scim") == "/settings#scim"
    assert ".venv/bin/flask site set-url" in owner.get("/members").text

    result = app.test_cli_runner().invoke(
        args=["site", "set-url", "https://gatehouse.example.com"]
    )
    assert result.exit_code == 0, result.output
    assert open_steps(owner) == ["okta", "scim"]

    turned = owner.post("/settings/scim", data={"enabled": "y"})
    assert turned.status_code == 302
    assert open_steps(owner) == ["okta"]

    turn_okta_on(app, org.id)
    assert open_steps(owner) == []
    assert 'id="next-steps"' not in owner.get("/members").text


def test_members_never_see_it_and_admins_do(app: Flask) -> None:
    org = make_org(app)
    for email, role in (("mia@acme.test", "member"), ("abe@acme.test", "admin")):
        make_user(app, org.id, email, role=role, password=PASSWORD)
    member, admin = app.test_client(), app.test_client()
    sign_in(member, "mia@acme.test")
    sign_in(admin, "abe@acme.test")
    assert open_steps(member) == []
    assert open_steps(admin) == ["okta", "scim"]


def test_on_the_free_plan_connect_okta_leads_to_the_upgrade_notice(
    app: Flask,
) -> None:
    org = make_org(app, plan="free")
    owner = app.test_client()
    sign_in(owner, org.owner_email)
    assert step_link(owner, "okta") == "/settings"
    settings = owner.get("/settings").text
    assert 'id="upgrade-notice"' in settings
    assert ".venv/bin/flask org set-plan &#39;Acme&#39; pro" in settings


def test_provisioning_and_api_keys_carry_the_plan_notice(app: Flask) -> None:
    free = make_org(app, "Freebie", plan="free")
    paid = make_org(app, "Paidco", plan="pro")
    for info, shown in ((free, True), (paid, False)):
        client = app.test_client()
        sign_in(client, info.owner_email)
        for path in ("/settings/provisioning", "/api-keys"):
            page = client.get(path).text
            assert ('id="upgrade-notice"' in page) is shown, path
            if shown:
                assert '<code id="upgrade-command">.venv/bin/flask org set-plan' in page
