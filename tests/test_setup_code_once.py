"""The setup code of an empty install is printed once per server start.

A real `gunicorn -w 2` (gunicorn.conf.py, as production serves) on an empty,
migrated database: each worker builds its own app, and before issue #13 each
printed the code, so the operator read it twice (or more, one per worker).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.support import databases
from tests.support.constants import REPO
from tests.test_multi_node import listening_socket

BIN = Path(sys.executable).parent
CODE = re.compile(r"setup code:\s+([0-9A-F]{6}-[0-9A-F]{6}-[0-9A-F]{6})")
WORKERS = 2


def environment(root: Path) -> dict[str, str]:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GATEHOUSE_", "DATABASE_URL", "PUBLIC_BASE_URL"))
    }
    database = databases.empty_url(root).replace(
        "postgresql+psycopg://", "postgresql://"
    )
    return {
        **base,
        "DATABASE_URL": database,
        "SECRET_KEY": "a secret for this test install",
        "GATEHOUSE_INSTANCE": str(root / "instance"),
    }


def serve_and_stop(env: dict[str, str], log: Path) -> str:
    """Start gunicorn with two workers, wait until both booted and one
    answers, then stop it; return everything it printed."""
    sock = listening_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    env = {**env, "GATEHOUSE_BIND": f"fd://{sock.fileno()}"}
    env["GATEHOUSE_WORKERS"] = str(WORKERS)
    with log.open("wb") as output:
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "app:create_app()"],
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            pass_fds=(sock.fileno(),),
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            booted = log.read_text().count("Booting worker")
            try:
                answered = requests.get(url + "/setup", timeout=30).status_code == 200
            except requests.ConnectionError:
                answered = False
            if answered and booted == WORKERS:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"gunicorn did not start: {log.read_text()}")
    finally:
        # A worker that booted builds its app even when told to stop meanwhile
        # (gunicorn lets it finish loading), so each one that would print the
        # code has printed it once the server has stopped.
        server.terminate()
        server.wait(timeout=30)
        sock.close()
    return log.read_text()


def test_gunicorn_with_two_workers_prints_the_setup_code_once(
    tmp_path: Path,
) -> None:
    env = environment(tmp_path)
    subprocess.run(
        [str(BIN / "flask"), "db", "upgrade"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    output = serve_and_stop(env, tmp_path / "first.log")
    assert output.count("Booting worker") == WORKERS
    codes = CODE.findall(output)
    assert len(codes) == 1, output
    # The next start of the same (still empty) install prints it once again,
    # the same code: it is kept in the database.
    again = CODE.findall(serve_and_stop(env, tmp_path / "second.log"))
    assert again == codes
