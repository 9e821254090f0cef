"""A real SMTP server (aiosmtpd on 127.0.0.1) that keeps what the app sends.

The `mailbox` fixture reaches every test module through conftest; an app sends
there with `smtp_settings(port)` in its configuration. Without a mail server
the app writes its messages to instance/outbox/ (`outbox`).
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

from tests.support.live import free_port


@dataclass
class Mailbox:
    """An SMTP handler that keeps every message."""

    messages: list[EmailMessage] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(  # aiosmtpd hook name
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        message = email.message_from_bytes(
            envelope.content, policy=email.policy.default
        )
        assert isinstance(message, EmailMessage)
        with self.arrived:
            self.messages.append(message)
            self.arrived.notify_all()
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        """Messages sent to `address`, oldest first."""
        return [m for m in self.messages if m["To"] == address]

    def wait_for(self, address: str, count: int = 1) -> list[EmailMessage]:
        """Messages to `address` once there are `count` of them, for mail an app
        sends after its response (a browser sees the page before it is sent).

        Woken by each arrival, not polling; gives up after 10 seconds.
        """
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.to(address)) >= count, timeout=10)
        return self.to(address)


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on 127.0.0.1 and its port."""
    handler = Mailbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def smtp_settings(port: int) -> dict[str, Any]:
    """App configuration that sends mail to the SMTP server on `port`, in clear."""
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_STARTTLS": False}


def outbox(app: Flask) -> list[Path]:
    """Messages written to instance/outbox/."""
    folder = Path(app.instance_path) / "outbox"
    return sorted(folder.glob("*.eml")) if folder.exists() else []
