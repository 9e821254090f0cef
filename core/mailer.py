"""Outgoing email: SMTP when configured, else a file in instance/outbox/.

The outbox lets a newcomer follow every emailed flow without a mail server: each
message is written as an .eml file and its path logged.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import uuid
from datetime import UTC
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from email.utils import make_msgid
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app

from core.urls import public_base_url

# Plain-text lines stay within 78 characters (RFC 5322's advice) so no mail client
# wraps them in odd places; a URL stands on a line of its own, whole, however
# long, so that every client can make it a link.
TEXT_WIDTH = 78
URL_WORD = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$", re.IGNORECASE)


def build_message(
    to: str, subject: str, text: str, html: str | None = None
) -> EmailMessage:
    """Compose a message from the configured sender."""
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=message_id_domain())
    message.set_content(wrap_plain_text(text))
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def wrap_plain_text(text: str, width: int = TEXT_WIDTH) -> str:
    """Wrap each line longer than `width` characters at spaces.

    The template's own line breaks stay; names or addresses put into a line
    can make it any length, so such a line is wrapped, never inside a word,
    and a URL in it gets a line of its own.
    """
    lines = text.split("\n")
    return "\n".join(
        line if len(line) <= width else _wrap_line(line, width) for line in lines
    )


def _wrap_line(line: str, width: int) -> str:
    lines: list[str] = []
    current = ""
    for word in line.split():
        if URL_WORD.match(word):
            lines.extend([current] if current else [])
            lines.append(word)
            current = ""
        elif current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    lines.extend([current] if current else [])
    return "\n".join(lines)


def message_id_domain() -> str:
    """The install's own domain, for Message-IDs: the public address's host,
    else the sender's domain. Mail systems and spam filters expect the ID to
    name the sending site, not a made-up "@gatehouse"."""
    base = public_base_url()
    if base and urlsplit(base).hostname:
        return str(urlsplit(base).hostname)
    _name, sender = parseaddr(current_app.config["MAIL_FROM"])
    return sender.rpartition("@")[2] or "localhost"


def checked_message(
    to: str, subject: str, text: str, html: str | None = None
) -> EmailMessage:
    """`build_message`, serialised once so that a header it cannot write fails now.

    :raise ValueError: (UnicodeError included) when a header or body cannot be
        written, e.g. a line separator in the subject.
    """
    message = build_message(to, subject, text, html)
    message.as_bytes()
    return message


def send_email(to: str, subject: str, text: str, html: str | None = None) -> None:
    """Send one message, by SMTP or into the outbox.

    :raise OSError: (including smtplib errors) when the SMTP server refuses it.
    :raise ValueError: when the message cannot be written (see checked_message).
    """
    send_message(checked_message(to, subject, text, html))


def send_message(message: EmailMessage) -> None:
    """Send a built message, by SMTP or into the outbox.

    :raise OSError: (including smtplib errors) when the SMTP server refuses it.
    """
    to, subject = message["To"], message["Subject"]
    config = current_app.config
    if not config["SMTP_HOST"]:
        _write_to_outbox(message)
        return
    host, port, timeout = (
        config["SMTP_HOST"],
        int(config["SMTP_PORT"]),
        config["SMTP_TIMEOUT"],
    )
    if config["SMTP_SSL"]:
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    with client:
        if config["SMTP_STARTTLS"] and not config["SMTP_SSL"]:
            client.ehlo()
            if not client.has_extn("starttls"):
                # Never fall back to plain text (a stripped STARTTLS would expose
                # the password and the mail): SMTP_STARTTLS=0 allows it knowingly.
                raise smtplib.SMTPNotSupportedError(
                    f"{host} does not offer STARTTLS; set SMTP_STARTTLS=0 to send "
                    "without encryption."
                )
            client.starttls(context=ssl.create_default_context())
        if config["SMTP_USERNAME"]:
            client.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
        client.send_message(message)
    current_app.logger.info("Sent email %r to %s", subject, to)


def _write_to_outbox(message: EmailMessage) -> None:
    outbox = Path(current_app.instance_path) / "outbox"
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / f"{uuid.uuid4().hex}.eml"
    path.write_bytes(message.as_bytes())
    current_app.logger.warning(
        "SMTP_HOST is not set: email %r to %s written to %s",
        message["Subject"],
        message["To"],
        path,
    )
