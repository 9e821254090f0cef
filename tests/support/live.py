"""Real servers and a real browser for tests: WSGI apps on 127.0.0.1, chromium.

The browser tests import the `live_app` and `browser` fixtures from here, and
save their screenshots with `screenshot`.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser
from playwright.sync_api import Page
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from core.extensions import db
from tests.support.builders import make_app
from tests.support.constants import REPO

CHROMIUM = "/usr/bin/chromium"
# Keep chromium off the network: no updates, sync, or background fetches.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Screenshots of the browser tests; with GATEHOUSE_DOC_SCREENSHOTS=1 the ones in
# docs/ are taken again (a normal test run must not rewrite committed files).
IMAGES = (
    REPO / "docs" / "images"
    if os.environ.get("GATEHOUSE_DOC_SCREENSHOTS") == "1"
    else REPO / "tests" / "artifacts"
)
VIEWPORT = {"width": 1100, "height": 800}


def free_port() -> int:
    """A TCP port nobody listens on (aiosmtpd 1.4 cannot start on port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve(app: Flask, *, set_public_base_url: bool = False) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 from a thread (several requests at once); yield its URL.

    With `set_public_base_url`, PUBLIC_BASE_URL becomes that URL (redirect URLs shown
    to Okta are built from it).
    """
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    if set_public_base_url:
        app.config["PUBLIC_BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, name="live-server")
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's headless chromium through Playwright, closed afterwards."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[Flask]:
    """An app with CSRF on, as in production (its tests serve it with `serve`)."""
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Headless chromium, closed (with Playwright's driver) after the test."""
    with chromium() as browser:
        yield browser


def screenshot(page: Page, name: str) -> None:
    """Save a full-page PNG (see IMAGES)."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / name), full_page=True)
