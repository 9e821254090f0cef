"""SCIM over real HTTP, many requests at once: a live server and its key.

The `live` fixture (made visible to every module by conftest) serves the app
with Werkzeug's threaded server on 127.0.0.1 and gives a SCIM key of a pro
organization with sync on; `send` makes one request of it and `all_at_once`
releases several together.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from flask import Flask

from core.extensions import db
from core.models import Organization
from core.provisioning import api_keys
from core.provisioning import organizations
from tests.support.live import serve
from tests.support.scim import ERROR_SCHEMA
from tests.support.scim import SCIM
from tests.support.scim import SCIM_JSON


@dataclass(frozen=True)
class Live:
    """A running server and the SCIM key of its organization."""

    app: Flask
    base_url: str
    secret: str
    org_id: int


@dataclass(frozen=True)
class Reply:
    """What one request got back."""

    status: int
    content_type: str
    body: Any


@pytest.fixture
def live(app: Flask) -> Iterator[Live]:
    """The app on a threaded server on 127.0.0.1, and a SCIM key."""
    with app.app_context():
        org = Organization(name="Acme", name_key="acme", plan="pro")
        db.session.add(org)
        db.session.commit()
        organizations.set_scim_sync(org, True, actor="cli")
        _key, secret = api_keys.create_api_key(
            org, name="okta", scopes=["scim"], actor="cli"
        )
        org_id = org.id
    with serve(app) as url:
        yield Live(app, url + SCIM, secret, org_id)


def send(live: Live, method: str, path: str, body: Any = None) -> Reply:
    """One SCIM request over HTTP, connection closed afterwards."""
    with requests.Session() as session:
        response = session.request(
            method,
            live.base_url + path,
            data=None if body is None else json.dumps(body),
            headers={
                "Authorization": f"Bearer {live.secret}",
                "Content-Type": SCIM_JSON,
                "Accept": SCIM_JSON,
            },
            timeout=60,
        )
        with response:
            text = response.text
            return Reply(
                response.status_code,
                response.headers.get("Content-Type", ""),
                json.loads(text) if text else None,
            )


def all_at_once(requests_to_send: list[Callable[[], Reply]]) -> list[Reply]:
    """Run the calls on N threads released together by a barrier."""
    barrier = threading.Barrier(len(requests_to_send), timeout=30)

    def run(call: Callable[[], Reply]) -> Reply:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(requests_to_send)) as pool:
        return list(pool.map(run, requests_to_send))


def assert_no_server_errors(replies: list[Reply]) -> None:
    """No 5xx; every reply is SCIM JSON; errors carry the SCIM error schema."""
    for reply in replies:
        assert reply.status < 500, reply
        if reply.status != 204:
            assert reply.content_type.startswith(SCIM_JSON), reply
        if reply.status >= 400:
            assert reply.body["schemas"] == [ERROR_SCHEMA], reply
            assert reply.body["status"] == str(reply.status), reply
