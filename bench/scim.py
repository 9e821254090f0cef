"""SCIM provisioning benchmark against a real gunicorn server on 127.0.0.1.

    .venv/bin/python bench/scim.py [--users 10000] [--big 100000] [--clients 8]

1. Serves Gatehouse with gunicorn (2 gthread workers, 4 threads each) on a fresh
   SQLite file, with one extra bench-only route, `/bench/floor`, that does the
   stack's floor for a create: one API-key lookup and one INSERT + COMMIT.
2. Floor: `--clients` concurrent clients POST to `/bench/floor` `--users` times.
3. SCIM: the same clients POST `--users` Okta-style creates to `/api/v1/scim/Users`.
4. Lookups: `GET /Users?filter=userName eq "..."` p50/p99 with 1,000 users, with
   `--users`, and with `--big` users (the rest bulk-inserted straight into SQLite).
5. Peak memory: the highest resident set (VmHWM) of any gunicorn process.

Prints figures only; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"
sys.path.insert(0, str(REPO))

FLOOR_APP = '''
"""Gatehouse plus the floor endpoint (written by bench/scim.py, bench use only)."""
from flask import request

import app as gatehouse
from core.extensions import csrf, db
from core.models import ApiKey, SignInFailure
from core.security import hash_token


def create_app():
    app = gatehouse.create_app()

    @app.post("/bench/floor")
    @csrf.exempt
    def floor():
        secret = request.headers.get("Authorization", "").partition(" ")[2]
        key = db.session.execute(
            db.select(ApiKey).filter_by(secret_hash=hash_token(secret))
        ).scalar_one_or_none()
        if key is None:
            return "", 401
        db.session.add(SignInFailure(key="bench:" + request.get_data(as_text=True)))
        db.session.commit()
        return "", 201

    return app
'''


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def flask(instance: Path, *args: str) -> str:
    """Run a `flask` command against the bench instance; return its output."""
    env = {**os.environ, "GATEHOUSE_INSTANCE": str(instance)}
    result = subprocess.run(
        [str(BIN / "flask"), *args], cwd=REPO, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


OWNER_EMAIL = "owner@bench.test"
OWNER_PASSWORD = "bench password 1"


def new_install(instance: Path, public_url: str) -> dict[str, str]:
    """Migrate a fresh install with organization Bench (pro, SCIM on) and its
    public address; return the headers of a new organization SCIM key."""
    flask(instance, "db", "upgrade")
    flask(
        instance, "org", "create", "Bench", "--owner-email", OWNER_EMAIL,
        "--owner-password", OWNER_PASSWORD, "--plan", "pro",
    )  # fmt: skip
    flask(instance, "scim", "sync", "--org", "Bench", "--on")
    # SCIM meta.location comes from the configured public address, never the request.
    flask(instance, "site", "set-url", public_url)
    secret = flask(instance, "apikey", "create", "--org", "Bench", "--scope", "scim")
    return {
        "Authorization": f"Bearer {secret.strip().splitlines()[-1]}",
        "Content-Type": "application/scim+json",
    }


def password_sign_in(port: int) -> int | str:
    """One sign-in as the owner, as a browser does (CSRF token, then the form);
    the answer's status, or "connection error"."""
    import requests

    base = f"http://127.0.0.1:{port}"
    with requests.Session() as browser:
        try:
            page = browser.get(base + "/login", timeout=60)
            token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
            answer = browser.post(
                base + "/login",
                data={
                    "csrf_token": token.group(1) if token else "",
                    "email": OWNER_EMAIL,
                    "password": OWNER_PASSWORD,
                },
                allow_redirects=False,
                timeout=60,
            )
            return answer.status_code
        except requests.RequestException:
            return "connection error"


def start_server(instance: Path, port: int, workdir: Path) -> subprocess.Popen:
    """Start gunicorn with the floor app; wait until it answers."""
    (workdir / "bench_floor_app.py").write_text(FLOOR_APP)
    env = {
        **os.environ,
        "GATEHOUSE_INSTANCE": str(instance),
        "PYTHONPATH": f"{workdir}:{REPO}",
    }
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--log-level",
            "warning",
            "bench_floor_app:create_app()",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start")


def run_clients(
    port: int, total: int, clients: int, make_request
) -> tuple[float, Counter]:  # type: ignore[no-untyped-def]
    """`clients` threads with keep-alive connections send `total` requests.

    `make_request(n)` returns (method, path, body, headers). Returns the elapsed
    seconds and a Counter of status codes.
    """
    counter = iter(range(total))
    lock = threading.Lock()
    statuses: Counter = Counter()

    def worker() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        local: Counter = Counter()
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            method, path, body, headers = make_request(n)
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                local[response.status] += 1
            except (OSError, http.client.HTTPException):
                local["connection error"] += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.close()
        with lock:
            statuses.update(local)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, statuses


def lookups(
    port: int, headers: dict[str, str], names: list[str], count: int
) -> tuple[float, float]:
    """p50 and p99 (ms) of `userName eq` lookups by one client."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    timings = []
    for _ in range(count):
        name = random.choice(names).upper()  # case-insensitive on purpose
        query = f"filter=userName%20eq%20%22{name}%22"
        started = time.perf_counter()
        connection.request("GET", f"/api/v1/scim/Users?{query}", headers=headers)
        response = connection.getresponse()
        body = response.read()
        timings.append((time.perf_counter() - started) * 1000)
        if response.status != 200 or b'"totalResults": 1' not in body:
            raise SystemExit(f"lookup failed: {response.status} {body[:200]!r}")
    connection.close()
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99) - 1]


def bulk_insert(database: Path, org_id: int, start: int, stop: int) -> None:
    """Insert users start..stop-1 straight into SQLite (fast filler for lookups)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = []
    for n in range(start, stop):
        email = f"filler{n}@bench.test"
        rows.append(
            (
                org_id,
                email,
                email,
                email,
                email,
                "Fill",
                str(n),
                "",
                f" fill {n}",
                "member",
                "active",
                "scim",
                1,
                now,
                now,
            )
        )
    with sqlite3.connect(database) as connection:
        connection.executemany(
            'INSERT INTO "user" (organization_id, email, email_key, user_name,'
            " user_name_key, given_name, family_name, display_name, name_key, role,"
            " status, source, scim_managed, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )


def peak_memory_mb(server: subprocess.Popen) -> float:
    """Highest VmHWM among the gunicorn master and its workers, in MiB."""
    pids = [server.pid]
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
    if children.exists():
        pids += [int(pid) for pid in children.read_text().split()]
    peak = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        if match:
            peak = max(peak, int(match.group(1)))
    return peak / 1024


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--lookups", type=int, default=1000)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="gatehouse-bench-"))
    instance = workdir / "instance"
    port = free_port()
    headers = new_install(instance, f"http://127.0.0.1:{port}")
    server = start_server(instance, port, workdir)
    try:
        floor_seconds, floor_status = run_clients(
            port,
            args.users,
            args.clients,
            lambda n: ("POST", "/bench/floor", f"floor{n}", headers),
        )
        floor_rate = args.users / floor_seconds

        def create(n: int):  # type: ignore[no-untyped-def]
            body = {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"user{n}@bench.test",
                "name": {"givenName": "User", "familyName": str(n)},
                "emails": [
                    {"primary": True, "value": f"user{n}@bench.test", "type": "work"}
                ],
                "displayName": f"User {n}",
                "locale": "en-US",
                "externalId": f"00u{n}",
                "groups": [],
                "password": "1mz050nq",
                "active": True,
            }
            return "POST", "/api/v1/scim/Users", json.dumps(body), headers

        first = min(1000, args.users)
        seconds_1k, status_1k = run_clients(port, first, args.clients, create)
        names_1k = [f"user{n}@bench.test" for n in range(first)]
        lookup_1k = lookups(port, headers, names_1k, args.lookups)
        seconds_rest, status_rest = run_clients(
            port, args.users - first, args.clients, lambda n: create(n + first)
        )
        scim_seconds = seconds_1k + seconds_rest
        scim_status = status_1k + status_rest
        scim_rate = args.users / scim_seconds
        names = [f"user{n}@bench.test" for n in range(args.users)]
        lookup_n = lookups(port, headers, names, args.lookups)
        bulk_insert(instance / "gatehouse.sqlite", 1, args.users, args.big)
        lookup_big = lookups(port, headers, names, args.lookups)
        memory = peak_memory_mb(server)
    finally:
        server.terminate()
        server.wait(timeout=30)

    errors = sum(v for k, v in scim_status.items() if k != 201)
    floor_errors = sum(v for k, v in floor_status.items() if k != 201)
    ratio = scim_rate / floor_rate
    lines = [
        f"server: gunicorn 2 gthread workers x 4 threads, SQLite WAL;"
        f" clients: {args.clients}",
        f"floor (key lookup + INSERT + COMMIT): {floor_rate:7.0f} req/s"
        f"  errors {floor_errors}",
        f"SCIM POST /Users x {args.users}: {scim_rate:7.0f} users/s"
        f"  errors {errors}  {dict(scim_status)}",
        f"ratio SCIM / floor: {ratio:.2f} (target >= 0.70)",
        "userName eq lookups, one client (ms): p50 / p99",
    ]
    for size, (p50, p99) in (
        (first, lookup_1k),
        (args.users, lookup_n),
        (args.big, lookup_big),
    ):
        lines.append(f"  at {size:>7,} users: {p50:6.2f} / {p99:6.2f}")
    lines.append(
        f"  p50 at {args.big:,} / p50 at {first:,}:"
        f" {lookup_big[0] / lookup_1k[0]:.2f} (target <= 1.5)"
    )
    lines.append(f"peak memory (largest gunicorn process): {memory:.0f} MiB")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
