"""First-run setup shows every problem at once, each at its field, keeps what
was typed (never a password), explains the plan and defaults to the one that
includes Okta and SCIM (issue #13)."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from core import first_run
from tests.support.builders import AppMaker
from tests.support.builders import setup_form
from tests.support.rows import snapshot


def field_errors(page: str) -> dict[str, list[str]]:
    """The errors shown at each field: {field id: [message, ...]}."""
    found: dict[str, list[str]] = {}
    for field, text in re.findall(
        r'<p class="error" id="([a-z_]+)-error-\d+">([^<]*)</p>', page
    ):
        found.setdefault(field, []).append(text)
    return found


def input_tag(page: str, name: str) -> str:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    assert tag, name
    return tag.group(0)


def post(client: FlaskClient, **changes: str):  # type: ignore[no-untyped-def]
    form = setup_form("", **{"public_url": "http://localhost", **changes})
    return client.post("/setup", data=form)


def test_every_problem_is_shown_at_its_field_at_once(new_app: AppMaker) -> None:
    app = new_app(PUBLIC_BASE_URL="")  # the page asks for the public address
    client = app.test_client()
    code = first_run.setup_code(app)
    before = snapshot(app)
    response = post(
        client,
        setup_code=code,
        public_url="not an address",
        organization="Acme\u2028Evil",
        given_name="",
        email="not-an-email",
        password="short",
        confirm="other",
    )
    assert response.status_code == 400
    errors = field_errors(response.text)
    assert set(errors) == {
        "public_url",
        "organization",
        "given_name",
        "email",
        "password",
        "confirm",
    }, errors
    assert errors["given_name"] == ["Enter your first name."]
    # The first field with an error has the focus, and only it.
    assert response.text.count("autofocus") == 1
    assert "autofocus" in input_tag(response.text, "public_url")
    assert errors["confirm"] == ["The passwords differ."]
    assert "characters" in errors["password"][0]
    assert snapshot(app) == before
    with app.app_context():
        assert first_run.setup_needed()


def test_errors_are_tied_to_their_fields(app: Flask, client: FlaskClient) -> None:
    code = first_run.setup_code(app)
    response = post(client, setup_code=code, email="not-an-email")
    tag = input_tag(response.text, "email")
    assert 'aria-invalid="true"' in tag
    assert 'aria-describedby="email-error-1"' in tag
    organization = input_tag(response.text, "organization")
    assert "aria-invalid" not in organization
    assert 'aria-describedby="organization-help"' in organization
    assert 'autocomplete="None"' not in response.text


def test_what_was_typed_is_kept_but_never_a_password(
    app: Flask, client: FlaskClient
) -> None:
    code = first_run.setup_code(app)
    secret = "a long enough password"
    response = post(
        client,
        setup_code=code,
        organization="Initrode",
        given_name="Milton",
        family_name="Waddams",
        email="not-an-email",
        password=secret,
        confirm=secret,
        plan="enterprise",
    )
    assert response.status_code == 400
    page = response.text
    assert 'value="Initrode"' in input_tag(page, "organization")
    assert 'value="Milton"' in input_tag(page, "given_name")
    assert 'value="Waddams"' in input_tag(page, "family_name")
    assert 'value="not-an-email"' in input_tag(page, "email")
    assert re.search(r'<option selected value="enterprise"', page), page
    assert secret not in page
    assert 'value=""' in input_tag(page, "password")
    assert 'value=""' in input_tag(page, "confirm")


def test_a_wrong_code_is_said_with_the_other_problems(
    app: Flask, client: FlaskClient
) -> None:
    first_run.setup_code(app)
    before = snapshot(app)
    response = post(client, setup_code="WRONG-CODE", email="nope")
    assert response.status_code == 403
    errors = field_errors(response.text)
    assert "not the setup code" in errors["setup_code"][0]
    assert "email" in errors
    blank = post(client, setup_code="", email="", password="", confirm="")
    assert blank.status_code == 400
    assert field_errors(blank.text)["setup_code"] == ["Enter the setup code."]
    assert field_errors(blank.text)["email"] == ["Enter your email."]
    assert snapshot(app) == before


def test_the_plan_defaults_to_pro_and_is_explained(client: FlaskClient) -> None:
    page = client.get("/setup").text
    assert re.search(r'<option selected value="pro">Pro: Okta single sign-on', page)
    help_text = re.search(r'<small id="plan-help" class="help">([^<]*)</small>', page)
    assert help_text and "Okta single sign-on and SCIM" in help_text.group(1)
    assert ".venv/bin/flask org set-plan" in help_text.group(1)


def test_setup_lands_on_members_with_the_next_steps(
    app: Flask, client: FlaskClient
) -> None:
    code = first_run.setup_code(app)
    response = post(client, setup_code=code)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).text
    assert 'id="next-steps"' in page
    assert 'id="next-step-okta"' in page and 'id="next-step-scim"' in page
