"""Outgoing email: a real SMTP server (aiosmtpd) on loopback, or the outbox folder."""

from __future__ import annotations

import email
import email.policy
import re
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from aiosmtpd.smtp import LoginPassword
from flask import Flask

from core.extensions import db
from core.mailer import send_email
from tests.support.builders import make_app
from tests.support.live import free_port
from tests.support.mail import smtp_settings

MAIL_FROM = "Gatehouse <noreply@gatehouse.test>"


@dataclass
class Received:
    """One message as the SMTP server got it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Mailbox:
    """An SMTP handler that keeps every message, or refuses some recipients."""

    received: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_RCPT(  # aiosmtpd hook name
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # aiosmtpd hook name
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        message = parse(envelope.content)
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), message)
        )
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        """Accept mailer / "s3cret pass" only.

        `handled=False` makes aiosmtpd answer a refusal with 535 itself: with
        its default (True) the authenticator is expected to have replied, so a
        refused client would hear nothing until its socket timed out.
        """
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = data.login.decode(), data.password.decode()
        self.logins.append((login, password))
        accepted = (login, password) == ("mailer", "s3cret pass")
        return AuthResult(success=accepted, handled=False)


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(message: EmailMessage) -> str:
    """The text body, with SMTP's CRLF line ends read as newlines."""
    return str(message.get_content()).replace("\r\n", "\n")


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on 127.0.0.1 with AUTH offered over plain text (tests)."""
    handler = Mailbox()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=handler.authenticate,
        auth_require_tls=False,
    )
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
def smtp_app(tmp_path: Path, mailbox: tuple[Mailbox, int]) -> Iterator[Flask]:
    app = make_app(
        tmp_path,
        **smtp_settings(mailbox[1]),
        SMTP_TIMEOUT=5,
        MAIL_FROM=MAIL_FROM,
    )
    yield app
    with app.app_context():
        db.engine.dispose()


def outbox(app: Flask) -> list[Path]:
    folder = Path(app.instance_path) / "outbox"
    return sorted(folder.glob("*")) if folder.exists() else []


# -- SMTP ---------------------------------------------------------------------------


def test_message_arrives_with_subject_sender_recipient_and_body(
    smtp_app: Flask, mailbox: tuple[Mailbox, int]
) -> None:
    handler, _ = mailbox
    with smtp_app.app_context():
        send_email(
            "ann@example.test",
            "Welcome to Gatehouse",
            "Hello Ann,\nyour account is ready: https://gatehouse.test/login\n",
        )
    [received] = handler.received
    assert received.mail_from == "noreply@gatehouse.test"
    assert received.rcpt_tos == ["ann@example.test"]
    message = received.message
    assert message["Subject"] == "Welcome to Gatehouse"
    assert message["To"] == "ann@example.test"
    assert message["From"] == MAIL_FROM
    assert message.get_content_type() == "text/plain"
    assert text_of(message) == (
        "Hello Ann,\nyour account is ready: https://gatehouse.test/login\n"
    )
    assert outbox(smtp_app) == []


def test_html_alternative_arrives_beside_the_text(
    smtp_app: Flask, mailbox: tuple[Mailbox, int]
) -> None:
    handler, _ = mailbox
    with smtp_app.app_context():
        send_email("ann@example.test", "Hi", "Plain hello", html="<p>Rich hello</p>")
    [received] = handler.received
    assert received.message.get_content_type() == "multipart/alternative"
    text = received.message.get_body(preferencelist=("plain",))
    html = received.message.get_body(preferencelist=("html",))
    assert text is not None and text.get_content().strip() == "Plain hello"
    assert html is not None and html.get_content().strip() == "<p>Rich hello</p>"


def test_non_ascii_subject_and_body_survive(
    smtp_app: Flask, mailbox: tuple[Mailbox, int]
) -> None:
    handler, _ = mailbox
    with smtp_app.app_context():
        send_email("zoë@example.test", "Bienvenue, Zoë ✓", "Ça marche — 日本語\n")
    [received] = handler.received
    assert received.message["Subject"] == "Bienvenue, Zoë ✓"
    assert text_of(received.message) == "Ça marche — 日本語\n"


def test_smtp_login_uses_the_configured_credentials(
    smtp_app: Flask, mailbox: tuple[Mailbox, int]
) -> None:
    handler, _ = mailbox
    smtp_app.config.update(SMTP_USERNAME="mailer", SMTP_PASSWORD="s3cret pass")
    with smtp_app.app_context():
        send_email("ann@example.test", "Authenticated", "body")
    assert handler.logins == [("mailer", "s3cret pass")]
    assert len(handler.received) == 1


def test_wrong_smtp_password_raises_and_sends_nothing(
    smtp_app: Flask, mailbox: tuple[Mailbox, int]
) -> None:
    handler, _ = mailbox
    smtp_app.config.update(SMTP_USERNAME="mailer", SMTP_PASSWORD="wrong")
    # The server's 535, not a timeout waiting for an answer that never came.
    with smtp_app.app_context(), pytest.raises(smtplib.SMTPAuthenticationError):
        send_email("ann@example.test", "Authenticated", "body")
    assert handler.logins and set(handler.logins) == {("mailer", "wrong")}
    assert handler.received == []
    assert outbox(smtp_app) == []


def test_without_starttls_on_offer_nothing_is_sent_in_plain_text(
    tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    """SMTP_STARTTLS (the default) and a server that does not offer STARTTLS (as
    when an attacker strips it from the EHLO answer): neither the password nor
    the message goes over the unencrypted connection, and the error says what
    to set."""
    handler, port = mailbox
    app = make_app(
        tmp_path,
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=port,
        SMTP_USERNAME="mailer",
        SMTP_PASSWORD="s3cret pass",
        SMTP_TIMEOUT=5,
    )
    assert app.config["SMTP_STARTTLS"] is True
    with (
        app.app_context(),
        pytest.raises(smtplib.SMTPNotSupportedError, match="SMTP_STARTTLS=0"),
    ):
        send_email("ann@example.test", "Secret link", "body")
    assert handler.logins == []
    assert handler.received == []
    assert outbox(app) == []
    with app.app_context():
        db.engine.dispose()


def test_refused_recipient_raises_and_falls_back_to_nothing(
    smtp_app: Flask, mailbox: tuple[Mailbox, int]
) -> None:
    handler, _ = mailbox
    handler.refuse.add("ghost@example.test")
    with smtp_app.app_context(), pytest.raises(smtplib.SMTPRecipientsRefused):
        send_email("ghost@example.test", "Hello", "body")
    assert handler.received == []
    assert outbox(smtp_app) == []


def test_unreachable_server_raises(tmp_path: Path) -> None:
    app = make_app(
        tmp_path, SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_TIMEOUT=2
    )
    with app.app_context(), pytest.raises(ConnectionRefusedError):
        send_email("ann@example.test", "Hello", "body")
    assert outbox(app) == []
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    ("to", "subject"),
    [
        ("ann@example.test", "Hello\r\nBcc: victim@example.test"),
        ("ann@example.test\nBcc: victim@example.test", "Hello"),
    ],
)
def test_header_injection_is_refused_before_sending(
    smtp_app: Flask, mailbox: tuple[Mailbox, int], to: str, subject: str
) -> None:
    handler, _ = mailbox
    with (
        smtp_app.app_context(),
        pytest.raises(ValueError, match="may not contain linefeed or carriage return"),
    ):
        send_email(to, subject, "body")
    assert handler.received == []
    assert outbox(smtp_app) == []


# -- outbox (no SMTP_HOST) ----------------------------------------------------------


@pytest.fixture
def outbox_app(tmp_path: Path) -> Iterator[Flask]:
    app = make_app(tmp_path, MAIL_FROM=MAIL_FROM)
    assert app.config["SMTP_HOST"] == ""
    yield app
    with app.app_context():
        db.engine.dispose()


def test_without_smtp_host_the_message_is_written_to_the_outbox(
    outbox_app: Flask,
) -> None:
    with outbox_app.app_context():
        send_email("ann@example.test", "Your sign-in link", "Open https://x.test/a\n")
    [path] = outbox(outbox_app)
    assert path.parent == Path(outbox_app.instance_path) / "outbox"
    assert path.suffix == ".eml"
    message = parse(path.read_bytes())
    assert message["Subject"] == "Your sign-in link"
    assert message["To"] == "ann@example.test"
    assert message["From"] == MAIL_FROM
    assert text_of(message) == "Open https://x.test/a\n"


def test_each_outbox_message_gets_its_own_file(outbox_app: Flask) -> None:
    with outbox_app.app_context():
        for n in range(3):
            send_email(f"user{n}@example.test", f"Message {n}", f"Body {n}\n")
    messages = [parse(path.read_bytes()) for path in outbox(outbox_app)]
    assert sorted(str(message["Subject"]) for message in messages) == [
        "Message 0",
        "Message 1",
        "Message 2",
    ]


def test_outbox_write_is_logged_with_its_path(
    outbox_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING"), outbox_app.app_context():
        send_email("ann@example.test", "Logged", "body\n")
    [path] = outbox(outbox_app)
    assert str(path) in caplog.text
    assert "SMTP_HOST" in caplog.text


def test_a_message_carries_its_date_and_an_id_on_the_install_s_domain(
    smtp_app: Flask, mailbox: tuple[Mailbox, int]
) -> None:
    """RFC 5322 wants a Date; a Message-ID names the sending site (the public
    address's host), not a made-up domain."""
    handler, _ = mailbox
    smtp_app.config["PUBLIC_BASE_URL"] = "https://sso.acme.test"
    before = datetime.now(UTC).replace(microsecond=0)
    with smtp_app.app_context():
        send_email("ann@example.test", "Hello", "Hi Ann\n")
    [received] = handler.received
    sent = parsedate_to_datetime(received.message["Date"])
    assert before <= sent <= datetime.now(UTC)
    assert re.fullmatch(r"<[^@<>]+@sso\.acme\.test>", received.message["Message-ID"])
