"""Plain-text email parts wrap cleanly (issue #13): no line over 78 characters,
and each URL whole on a line of its own, however long; read from real messages
delivered to the `mailbox` SMTP server."""

from __future__ import annotations

import re
from email.message import EmailMessage

from flask import Flask

from core.mailer import wrap_plain_text
from tests.support.builders import AppMaker
from tests.support.builders import make_org
from tests.support.builders import sign_in
from tests.support.mail import Mailbox
from tests.support.mail import smtp_settings

# A long public address: every link in the messages is longer than a line.
BASE = "http://gatehouse-for-the-accounting-department.internal.example.test:8443"
LONG_ORG = "The Very Long Named Accounting and Procurement Department of Acme"
URL = re.compile(r"https?://\S+")


def text_part(message: EmailMessage) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


def assert_wraps_cleanly(text: str) -> list[str]:
    """Check every line; return the URL lines."""
    urls = []
    for line in text.splitlines():
        if URL.search(line):
            assert URL.fullmatch(line), f"URL shares its line: {line!r}"
            urls.append(line)
        else:
            assert len(line) <= 78, f"{len(line)} characters: {line!r}"
    return urls


def long_app(new_app: AppMaker, mailbox: tuple[Mailbox, int]) -> Flask:
    return new_app(PUBLIC_BASE_URL=BASE, **smtp_settings(mailbox[1]))


def test_a_password_reset_email_wraps_and_keeps_its_link_whole(
    new_app: AppMaker, mailbox: tuple[Mailbox, int]
) -> None:
    app, inbox = long_app(new_app, mailbox), mailbox[0]
    org = make_org(app, LONG_ORG)
    response = app.test_client().post(
        "/password/forgot", data={"email": org.owner_email}
    )
    response.get_data()
    response.close()
    [message] = inbox.wait_for(org.owner_email)
    text = text_part(message)
    [link] = assert_wraps_cleanly(text)
    assert link.startswith(BASE + "/password/reset/") and len(link) > 78
    # The HTML part carries the same link, so the text one was not cut.
    html = str(message.get_body(preferencelist=("html",)).get_content())
    assert f'href="{link}"' in html
    assert LONG_ORG in " ".join(text.split())


def test_an_invitation_puts_both_links_on_lines_of_their_own(
    new_app: AppMaker, mailbox: tuple[Mailbox, int]
) -> None:
    app, inbox = long_app(new_app, mailbox), mailbox[0]
    org = make_org(app, LONG_ORG)
    owner = app.test_client()
    assert sign_in(owner, org.owner_email).status_code == 302
    email = "maximiliana.alexandrina.von.hohenzollern@accounting.example.test"
    response = owner.post(
        "/members/new",
        data={
            "email": email,
            "given_name": "Maximiliana Alexandrina",
            "family_name": "von Hohenzollern-Sigmaringen",
            "role": "member",
            "access": "invite",
        },
    )
    assert response.status_code == 302, response.text
    [message] = inbox.wait_for(email)
    links = assert_wraps_cleanly(text_part(message))
    assert [link.split("/")[3] for link in links] == ["password", "login"]
    assert links[1] == BASE + "/login"


def test_a_long_line_is_wrapped_at_spaces_and_never_inside_a_word() -> None:
    long_word = "x" * 90
    text = "Hello Ada,\n" + ("word " * 40) + long_word + " https://e.test/a end\n"
    lines = wrap_plain_text(text).splitlines()
    assert lines[0] == "Hello Ada,"
    assert all(len(line) <= 78 for line in lines if line != long_word)
    assert long_word in lines and "https://e.test/a" in lines
    assert lines[-1] == "end"
    assert " ".join(wrap_plain_text(text).split()) == " ".join(text.split())


def test_lines_already_short_are_unchanged() -> None:
    text = "Hello Ada,\nSign in here: https://a.test/x\n\n-- Gatehouse\n"
    assert wrap_plain_text(text) == text
