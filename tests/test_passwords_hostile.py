"""Hostile paths around passwords found by a review of #13: a pending
"choose your organization" step must die with the password that earned it,
emailed-link secrets must not reach the access log, and racing reset requests
must email an inbox once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from core import passwords
from core import tokens
from core.access_log import mask_secrets
from core.extensions import db
from core.models import PasswordToken
from core.models import User
from tests.support.builders import make_app
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import sign_in
from tests.support.constants import PASSWORD
from tests.support.constants import REPO
from tests.support.mail import Mailbox
from tests.support.rows import signed_in_user_id

NEW_PASSWORD = "a brand new long passphrase"
BIN = Path(sys.executable).parent


def issue_link(app: Flask, user_id: int, purpose: str = "reset") -> str:
    """A live password link for the user (as the email would carry it)."""
    with app.app_context():
        user = db.session.get(User, user_id)
        lifetime = passwords.EMAILS[purpose].lifetime
        _row, secret = tokens.issue(PasswordToken, user, lifetime, purpose=purpose)
        db.session.commit()
    return secret


def signed_in(app: Flask, email: str, password: str = PASSWORD) -> FlaskClient:
    client = app.test_client()
    assert sign_in(client, email, password).status_code == 302
    return client


# -- 1. the "choose your organization" step outlives a reset or a change ---------


@pytest.mark.parametrize("how", ["reset link", "change my password"])
def test_choose_step_started_with_the_old_password_dies_with_it(
    app: Flask, how: str
) -> None:
    """An attacker who knows Ann's password (the same in Acme and Globex)
    signs in and stops at "choose your organization". Ann notices and resets
    (or changes) her Acme password, which must end every way in the old
    password gave. The attacker's pending choice, kept in the signed cookie,
    still opens Acme for up to CHOICE_SECONDS."""
    acme, globex = make_org(app), make_org(app, "Globex")
    ann_acme = make_user(app, acme.id, "ann@shared.test")
    ann_globex = make_user(app, globex.id, "ann@shared.test")
    attacker = app.test_client()
    answer = sign_in(attacker, "ann@shared.test")
    assert answer.headers["Location"] == "/login/choose"

    if how == "reset link":
        # Ann resets both accounts: the old password opens nothing any more.
        for account in (ann_acme, ann_globex):
            path = f"/password/reset/{issue_link(app, account)}"
            form = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
            assert app.test_client().post(path, data=form).status_code == 302
        assert sign_in(app.test_client(), "ann@shared.test").status_code == 401
    else:
        ann = app.test_client()
        assert sign_in(ann, "ann@shared.test").status_code == 302
        assert ann.post("/login/choose", data={"account": ann_acme}).status_code == 302
        changed = ann.post(
            "/account/password",
            data={
                "current_password": PASSWORD,
                "password": NEW_PASSWORD,
                "confirm": NEW_PASSWORD,
            },
        )
        assert changed.status_code == 302

    attacker.post("/login/choose", data={"account": ann_acme})

    assert signed_in_user_id(app, attacker) != ann_acme


# -- 2. password links are written to the access log -------------------------------


@pytest.fixture
def gunicorn_server(tmp_path: Path) -> Iterator[tuple[Flask, str, Path]]:
    """Gatehouse under gunicorn with gunicorn.conf.py (as `make run` and
    docs/deploy.md serve it), its log in a file; and an app on its database."""
    app = make_app(tmp_path)
    database = app.config["SQLALCHEMY_DATABASE_URI"]
    if not database.startswith("sqlite"):
        pytest.skip("SQLite only: the server shares the test's database file")
    make_org(app)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.set_inheritable(True)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GATEHOUSE_", "DATABASE_URL", "PUBLIC_BASE_URL"))
    }
    environment.update(
        {
            "DATABASE_URL": database,
            "SECRET_KEY": "review secret",
            "PUBLIC_BASE_URL": url,
            "GATEHOUSE_INSTANCE": str(tmp_path / "node"),
            "GATEHOUSE_BIND": f"fd://{sock.fileno()}",
            "GATEHOUSE_WORKERS": "1",
            # One thread: each request's access line is written before the next.
            "GATEHOUSE_THREADS": "1",
        }
    )
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "app:create_app()"],
            cwd=REPO,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            pass_fds=(sock.fileno(),),
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, log.read_text()
            try:
                requests.get(url + "/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield app, url, log
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        sock.close()
        with app.app_context():
            db.engine.dispose()


def test_a_password_link_opened_is_not_written_to_the_server_log(
    gunicorn_server: tuple[Flask, str, Path],
) -> None:
    """Opening the emailed link (the member, or a mail scanner that fetches
    every link on delivery) writes `GET /password/reset/<secret>` to the access
    log, while the link still works (an hour; an invitation 7 days). Whoever
    reads the logs chooses the account's password."""
    app, url, log = gunicorn_server
    with app.app_context():
        owner = db.session.execute(db.select(User)).scalars().one()
        owner_id = owner.id
    secret = issue_link(app, owner_id, purpose="invitation")

    assert requests.get(f"{url}/password/reset/{secret}", timeout=10).status_code == 200
    marker = "/healthz?after-the-link"
    requests.get(url + marker, timeout=10)
    deadline = time.monotonic() + 10
    while marker not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker in log.read_text()  # the access log is on, and written

    assert secret not in log.read_text()


# -- 3. the per-account interval of reset emails is check-then-act ----------------


def test_two_reset_requests_at_once_email_an_account_once(
    smtp_app: Flask, mailbox: tuple[Mailbox, int]
) -> None:
    """PASSWORD_RESET_EMAIL_INTERVAL_SECONDS is the only bound on how often an
    inbox gets reset emails once an attacker has many client addresses (an
    IPv6 /64 is 2**64 of them). It is read (`tokens.last_issued`) then acted
    on after other work, in the after-response code of each request: two
    requests whose after-response work overlaps both pass it. Here the first
    request's work is held right after its check while the second runs."""
    app, inbox = smtp_app, mailbox[0]
    org = make_org(app)
    with app.app_context():
        engine = db.engine
    first_checked, second_done = threading.Event(), threading.Event()

    def hold_the_first(_c: object, _cur: object, statement: str, *_r: object) -> None:
        # The first request is held just before it claims the email, while the
        # second claims, commits and sends.
        if threading.current_thread().name == "first" and (
            "INSERT INTO password_reset_mail" in statement
        ):
            first_checked.set()
            second_done.wait(10)

    event.listen(engine, "before_cursor_execute", hold_the_first)
    try:
        first = threading.Thread(
            target=passwords.send_reset_links,
            args=(app, org.owner_email, "2001:db8::1"),
            name="first",
        )
        first.start()
        assert first_checked.wait(10)
        passwords.send_reset_links(app, org.owner_email, "2001:db8::2")
        second_done.set()
        first.join(30)
    finally:
        second_done.set()
        event.remove(engine, "before_cursor_execute", hold_the_first)

    assert len(inbox.to(org.owner_email)) == 1


@pytest.mark.parametrize(
    ("logged", "written"),
    [
        ("GET /okta/link/s3cr3t HTTP/1.1", "GET /okta/link/[secret] HTTP/1.1"),
        (
            "POST /password/reset/s3cr3t?x=1 HTTP/1.1",
            "POST /password/reset/[secret]?x=1 HTTP/1.1",
        ),
        (
            "https://gh.test/password/reset/s3cr3t",
            "https://gh.test/password/reset/[secret]",
        ),
        ("GET /members/12 HTTP/1.1", "GET /members/12 HTTP/1.1"),
    ],
)
def test_the_access_log_masks_every_emailed_link_secret(
    logged: str, written: str
) -> None:
    assert mask_secrets(logged) == written
