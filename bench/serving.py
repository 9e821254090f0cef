"""Which gunicorn worker setup serves Gatehouse best on this machine.

    .venv/bin/python bench/serving.py [--users 1000] [--sign-ins 60] [--clients 8]

For each setup (sync workers, and gthread workers with threads), starts gunicorn
with gunicorn.conf.py on a fresh SQLite file and measures, with `--clients`
concurrent keep-alive clients:

1. SCIM creates: `--users` Okta-style POST /Users, users/s and p99 latency;
2. password sign-ins (argon2 at its real cost): `--sign-ins` GET+POST /login;
3. mixed: the same SCIM creates while sign-ins run beside them: SCIM p99, which is
   what Okta sees when people sign in during a push.

Prints figures only; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.scim import new_install  # noqa: E402
from bench.scim import password_sign_in  # noqa: E402

BIN = REPO / ".venv" / "bin"
SETUPS = [
    ("sync, 2 workers", {"worker_class": "sync", "workers": 2, "threads": 1}),
    ("sync, 4 workers", {"worker_class": "sync", "workers": 4, "threads": 1}),
    (
        "gthread, 2 workers x 4 threads",
        {"worker_class": "gthread", "workers": 2, "threads": 4},
    ),
    (
        "gthread, 4 workers x 2 threads",
        {"worker_class": "gthread", "workers": 4, "threads": 2},
    ),
]


def start(instance: Path, setup: dict) -> tuple[subprocess.Popen, int, socket.socket]:
    """gunicorn with gunicorn.conf.py and this setup, on a socket we bound."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    sock.set_inheritable(True)
    env = {
        **os.environ,
        "GATEHOUSE_INSTANCE": str(instance),
        "GATEHOUSE_BIND": f"fd://{sock.fileno()}",
        "GATEHOUSE_WORKERS": str(setup["workers"]),
        "GATEHOUSE_THREADS": str(setup["threads"]),
    }
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"), "-c", "gunicorn.conf.py",
            "--worker-class", setup["worker_class"],
            "--access-logfile", "/dev/null", "app:create_app()",
        ],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        pass_fds=(sock.fileno(),),
    )  # fmt: skip
    port = sock.getsockname()[1]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            return server, port, sock
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start")


def clients(total: int, count: int, work) -> tuple[float, list[float], Counter]:  # type: ignore[no-untyped-def]
    """`count` threads share `total` calls of work(n); (seconds, ms each, statuses)."""
    numbers = iter(range(total))
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: Counter = Counter()

    def run() -> None:
        state: dict = {}
        while True:
            with lock:
                n = next(numbers, None)
            if n is None:
                return
            started = time.perf_counter()
            status = work(n, state)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                statuses[status] += 1

    threads = [threading.Thread(target=run) for _ in range(count)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, latencies, statuses


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.99) - 1)] if ordered else 0.0


def scim_create(port: int, headers: dict, prefix: str):  # type: ignore[no-untyped-def]
    def work(n: int, state: dict) -> int | str:
        connection = state.get("c") or http.client.HTTPConnection(
            "127.0.0.1", port, timeout=60
        )
        state["c"] = connection
        body = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": f"{prefix}{n}@bench.test",
            "name": {"givenName": "U", "familyName": str(n)},
            "emails": [{"primary": True, "value": f"{prefix}{n}@bench.test"}],
            "active": True,
        }
        try:
            connection.request("POST", "/api/v1/scim/Users", json.dumps(body), headers)
            response = connection.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            state.pop("c", None)
            return "connection error"

    return work


def sign_in(port: int):  # type: ignore[no-untyped-def]
    def work(_n: int, _state: dict) -> int | str:
        return password_sign_in(port)

    return work


def measure(name: str, setup: dict, args: argparse.Namespace) -> list[str]:
    workdir = Path(tempfile.mkdtemp(prefix="gatehouse-serving-"))
    instance = workdir / "instance"
    headers = new_install(instance, "http://127.0.0.1")
    server, port, sock = start(instance, setup)
    try:
        seconds, scim_ms, scim_status = clients(
            args.users, args.clients, scim_create(port, headers, "a")
        )
        sign_seconds, sign_ms, sign_status = clients(
            args.sign_ins, args.clients, sign_in(port)
        )
        mixed: dict = {}

        def background() -> None:
            mixed["sign"] = clients(args.sign_ins, 2, sign_in(port))

        beside = threading.Thread(target=background)
        beside.start()
        mixed_seconds, mixed_ms, mixed_status = clients(
            args.users, args.clients - 2, scim_create(port, headers, "b")
        )
        beside.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
        sock.close()
    errors = sum(v for k, v in (scim_status + mixed_status).items() if k != 201)
    errors += sum(v for k, v in sign_status.items() if k != 302)
    return [
        f"{name}:",
        f"  SCIM creates  {args.users / seconds:6.0f} users/s   p50 "
        f"{statistics.median(scim_ms):6.1f} ms  p99 {p99(scim_ms):7.1f} ms",
        f"  sign-ins      {args.sign_ins / sign_seconds:6.1f} /s        p50 "
        f"{statistics.median(sign_ms):6.1f} ms  p99 {p99(sign_ms):7.1f} ms",
        f"  mixed: SCIM   {args.users / mixed_seconds:6.0f} users/s   p99 "
        f"{p99(mixed_ms):7.1f} ms beside {args.sign_ins} sign-ins"
        f"  (errors in all: {errors})",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--sign-ins", type=int, default=60)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; {args.clients} clients; SQLite WAL", flush=True)
    for name, setup in SETUPS:
        print("\n".join(measure(name, setup, args)), flush=True)


if __name__ == "__main__":
    main()
