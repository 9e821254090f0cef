"""Two app servers, one database: how an install outgrows one machine (issue #11).

Two gunicorn processes (gunicorn.conf.py, as `make run` serves) with their own
instance folders share DATABASE_URL and SECRET_KEY: the test run's SQLite file
or PostgreSQL database (`make test-postgres`). A person, Okta and the
attackers may reach either node; what one node knows, the other must too.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from core.saml_metadata import ACS_PATH
from tests.support import databases
from tests.support.constants import PASSWORD
from tests.support.constants import REPO
from tests.support.saml_idp import SamlIdp
from tests.support.scim import GROUP_SCHEMA as GROUP
from tests.support.scim import PATCH_SCHEMA as PATCH
from tests.support.scim import USER_SCHEMA as USER

BIN = Path(sys.executable).parent


def listening_socket() -> socket.socket:
    """A socket on a free loopback port, handed to gunicorn as `fd://N`: no race
    with another process for the port between choosing it and binding it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@dataclass
class Install:
    """Two running nodes of one install, and what the tests need to reach them."""

    nodes: list[str]
    scim_secret: str
    idp: SamlIdp
    environment: dict[str, str]

    def scim(self, node: int) -> requests.Session:
        session = requests.Session()
        session.headers.update(
            {
                "Authorization": f"Bearer {self.scim_secret}",
                "Content-Type": "application/scim+json",
            }
        )
        session.base_url = self.nodes[node] + "/api/v1/scim"  # type: ignore[attr-defined]
        return session


def flask(environment: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "flask"), *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def wait_for(url: str, server: subprocess.Popen, log: Path) -> None:
    """Wait until gunicorn answers /healthz.

    The listening socket is bound before gunicorn starts, so a connection is
    accepted at once and its answer waits for a worker to boot: on a loaded
    machine that read can outlast a short timeout, which means "not ready yet"
    like a refused connection does, not a failure.
    """
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text()}")
        try:
            requests.get(url + "/healthz", timeout=2)
            return
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Install]:
    root = tmp_path_factory.mktemp("two-nodes")
    sockets = [listening_socket(), listening_socket()]
    nodes = [f"http://127.0.0.1:{sock.getsockname()[1]}" for sock in sockets]
    database = databases.empty_url(root).replace(
        "postgresql+psycopg://", "postgresql://"
    )
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GATEHOUSE_", "DATABASE_URL", "PUBLIC_BASE_URL"))
    }
    shared = {
        **base,
        "DATABASE_URL": database,
        "SECRET_KEY": "one secret for every node of this install",
        # The address people and Okta use (the load balancer's): node 0's here.
        "PUBLIC_BASE_URL": nodes[0],
        "OKTA_ALLOW_INSECURE_LOOPBACK": "1",
        "SIGNIN_MAX_FAILURES_PER_ACCOUNT": "5",
    }
    first = {**shared, "GATEHOUSE_INSTANCE": str(root / "node0")}
    flask(first, "db", "upgrade")
    flask(
        first, "org", "create", "Acme", "--owner-email", "owner@acme.test",
        "--owner-password", PASSWORD, "--plan", "pro",
    )  # fmt: skip
    flask(first, "scim", "sync", "--org", "Acme", "--on")
    secret = flask(first, "apikey", "create", "--org", "Acme", "--scope", "scim")
    idp = SamlIdp(nodes[0], nodes[0] + ACS_PATH, tmp_dir=root / "idp")
    idp.start()
    flask(first, "sso", "set-saml", "--org", "Acme", "--metadata-url", idp.metadata_url)
    servers = []
    try:
        for index, sock in enumerate(sockets):
            environment = {
                **shared,
                "GATEHOUSE_INSTANCE": str(root / f"node{index}"),
                "GATEHOUSE_BIND": f"fd://{sock.fileno()}",
                "GATEHOUSE_WORKERS": "1",
                "GATEHOUSE_THREADS": "4",
            }
            log = root / f"node{index}.log"
            with log.open("wb") as output:
                server = subprocess.Popen(
                    [
                        str(BIN / "gunicorn"),
                        "-c",
                        "gunicorn.conf.py",
                        "app:create_app()",
                    ],
                    cwd=REPO,
                    env=environment,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    pass_fds=(sock.fileno(),),
                )
            servers.append(server)
            wait_for(nodes[index], server, log)
        yield Install(nodes, secret.strip().splitlines()[-1], idp, first)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        idp.stop()
        for sock in sockets:
            sock.close()


def csrf_token(page: str) -> str:
    """The CSRF token of the first form on a page."""
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert token is not None
    return token.group(1)


def sign_in(browser: requests.Session, node: str, email: str, password: str) -> int:
    page = browser.get(node + "/login", timeout=30)
    answer = browser.post(
        node + "/login",
        data={
            "email": email,
            "password": password,
            "csrf_token": csrf_token(page.text),
        },
        allow_redirects=False,
        timeout=30,
    )
    return answer.status_code


def test_both_nodes_are_healthy(install: Install) -> None:
    for node in install.nodes:
        response = requests.get(node + "/healthz", timeout=10)
        assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_a_session_started_on_one_node_continues_on_the_other(install: Install) -> None:
    browser = requests.Session()
    assert sign_in(browser, install.nodes[0], "owner@acme.test", PASSWORD) == 302

    members = browser.get(install.nodes[1] + "/members", allow_redirects=False)
    assert members.status_code == 200
    assert "owner@acme.test" in members.text

    # Signing out on the second node ends the session on the first.
    page = browser.get(install.nodes[1] + "/members")
    out = browser.post(
        install.nodes[1] + "/logout",
        data={"csrf_token": csrf_token(page.text)},
        allow_redirects=False,
    )
    assert out.status_code == 302
    again = browser.get(install.nodes[0] + "/members", allow_redirects=False)
    assert again.status_code == 302 and "/login" in again.headers["Location"]


def test_a_saml_answer_used_on_one_node_is_refused_on_the_other(
    install: Install,
) -> None:
    fields = install.idp.unsolicited()
    first = requests.post(
        install.nodes[0] + ACS_PATH, data=fields, allow_redirects=False, timeout=30
    )
    assert first.status_code == 302, first.text

    replayed = requests.post(
        install.nodes[1] + ACS_PATH, data=fields, allow_redirects=False, timeout=30
    )
    assert replayed.status_code == 400
    assert "This sign-in answer was already used." in replayed.text
    assert (
        "Set-Cookie" not in replayed.headers
        or "session" not in replayed.headers.get("Set-Cookie", "")
    )


def test_the_password_throttle_counts_failures_on_both_nodes(install: Install) -> None:
    statuses = [
        sign_in(requests.Session(), install.nodes[n % 2], "owner@acme.test", "wrong!")
        for n in range(5)
    ]
    assert statuses == [401] * 5
    # The right password is now refused on either node: the count is shared.
    for node in install.nodes:
        assert sign_in(requests.Session(), node, "owner@acme.test", PASSWORD) == 429
    flask(install.environment, "member", "unlock", "--org", "Acme", "owner@acme.test")
    assert (
        sign_in(requests.Session(), install.nodes[1], "owner@acme.test", PASSWORD)
        == 302
    )


def test_scim_uniqueness_holds_across_nodes(install: Install) -> None:
    body = json.dumps({"schemas": [USER], "userName": "race@acme.test", "active": True})
    statuses: Counter = Counter()
    lock = threading.Lock()

    def create(node: int) -> None:
        session = install.scim(node)
        answer = session.post(session.base_url + "/Users", data=body, timeout=60)  # type: ignore[attr-defined]
        with lock:
            statuses[answer.status_code] += 1

    threads = [threading.Thread(target=create, args=(n % 2,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == {201: 1, 409: 7}


def test_an_okta_push_spread_over_both_nodes_ends_with_zero_errors(
    install: Install,
) -> None:
    """Okta's shapes: create, look up, group push, membership PATCH, deactivate."""
    sessions = [install.scim(0), install.scim(1)]
    failures: list[str] = []
    ids: list[str] = []

    def call(n: int, method: str, path: str, body: object = None) -> requests.Response:
        session = sessions[n % 2]
        answer = session.request(
            method,
            session.base_url + path,  # type: ignore[attr-defined]
            data=None if body is None else json.dumps(body),
            timeout=60,
        )
        if answer.status_code >= 400:
            failures.append(f"{method} {path} on node {n % 2}: {answer.status_code}")
        return answer

    for n in range(40):
        name = f"push{n}@acme.test"
        found = call(n, "GET", f'/Users?filter=userName eq "{name}"').json()
        assert found["totalResults"] == 0
        created = call(
            n + 1,
            "POST",
            "/Users",
            {
                "schemas": [USER],
                "userName": name,
                "name": {"givenName": "Push", "familyName": str(n)},
                "emails": [{"primary": True, "value": name, "type": "work"}],
                "active": True,
            },
        )
        ids.append(created.json()["id"])
    group = call(0, "POST", "/Groups", {"schemas": [GROUP], "displayName": "Pushed"})
    group_id = group.json()["id"]
    for n in range(0, 40, 4):
        call(
            n,
            "PATCH",
            f"/Groups/{group_id}",
            {
                "schemas": [PATCH],
                "Operations": [
                    {
                        "op": "add",
                        "path": "members",
                        "value": [{"value": uid} for uid in ids[n : n + 4]],
                    }
                ],
            },
        )
    for n in range(0, 40, 5):
        call(
            n + 1,
            "PATCH",
            f"/Users/{ids[n]}",
            {
                "schemas": [PATCH],
                "Operations": [{"op": "replace", "value": {"active": False}}],
            },
        )

    assert failures == []
    listed = call(1, "GET", f"/Groups/{group_id}").json()
    assert {member["value"] for member in listed["members"]} == set(ids)
    inactive = call(0, "GET", "/Users?filter=active eq false&count=100").json()
    assert {user["id"] for user in inactive["Resources"]} == set(ids[::5])
