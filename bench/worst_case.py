"""Worst-case SCIM requests against a real gunicorn server on 127.0.0.1.

    .venv/bin/python bench/worst_case.py [--repeat 5] [--big-group 10000]
        [--groups 100] [--group-size 5000]

Each case is the costliest request of its kind that Gatehouse accepts (and, for
PATCH, the largest one it refuses), sent `--repeat` times alone, then again while
two background writers keep creating SCIM users and signing in with a password:

1. user PATCH: 19 emails set, then 999 path-less value-path keys whose filters
   make 10 comparisons each against all of them (the most filter work the caps
   allow: 20 emails, 1,000 operations, 10 comparisons per path);
   and a 1 MiB PATCH of 20,000 keys (refused: too many operations);
2. group PATCH: 1,000 operations (500 adds, 500 filtered removes) on a group of
   `--big-group` members;
3. GET /Groups?count=1000 with `--groups` groups of `--group-size` members
   (the page stops at SCIM_MAX_LISTED_MEMBERS), and the same page without members;
4. GET /Groups/{id} of the big group.

Prints, per case: the server's own time (the activity log's duration_ms), the
client's time, the response size, and the largest growth of any worker's resident
memory; then what the background writers saw (any 5xx or "database is locked").
Prints figures only; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.scim import bulk_insert  # noqa: E402
from bench.scim import free_port  # noqa: E402
from bench.scim import new_install  # noqa: E402
from bench.scim import password_sign_in  # noqa: E402
from bench.scim import start_server  # noqa: E402
from blueprints.scim.patch_syntax import MAX_PATH_COMPARISONS  # noqa: E402
from blueprints.scim.schema import MAX_VALUES  # noqa: E402

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def worker_rss_kb(server_pid: int) -> dict[int, int]:
    """Resident memory (VmRSS, KiB) of each gunicorn worker."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children")
    result = {}
    for pid in children.read_text().split():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        if match:
            result[int(pid)] = int(match.group(1))
    return result


def seed(database: Path, org_id: int, users: int, groups: int, size: int) -> dict:
    """Users, one big group and `groups` large groups, straight into SQLite."""
    bulk_insert(database, org_id, 0, users)
    now = datetime.now(UTC).replace(tzinfo=None)
    with sqlite3.connect(database) as connection:
        ids = [
            row[0]
            for row in connection.execute(
                'SELECT id FROM "user" WHERE email LIKE ? ORDER BY id', ("filler%",)
            )
        ]
        group_ids = []
        for n in range(groups + 1):
            name = "Big" if n == 0 else f"Team {n}"
            cursor = connection.execute(
                'INSERT INTO "group" (organization_id, display_name, display_name_key,'
                " scim_managed, created_at, updated_at) VALUES (?,?,?,1,?,?)",
                (org_id, name, name.lower(), now, now),
            )
            group_ids.append(cursor.lastrowid)
        members = [(group_ids[0], uid, now) for uid in ids[: len(ids) // 2]]
        for group_id in group_ids[1:]:
            members += [(group_id, uid, now) for uid in ids[:size]]
        connection.executemany(
            "INSERT INTO group_member (group_id, user_id, created_at) VALUES (?,?,?)",
            members,
        )
    return {"users": ids, "big": group_ids[0], "groups": group_ids[1:]}


class Writers:
    """Two threads that keep writing while a case runs: SCIM creates, sign-ins."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port, self.headers = port, headers
        self.statuses: Counter = Counter()
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._creates, daemon=True),
            threading.Thread(target=self._sign_ins, daemon=True),
        ]
        self.count = 0

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _note(self, what: str, status: int | str) -> None:
        self.statuses[f"{what} {status}"] += 1

    def _creates(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        n = 0
        while not self.stop.is_set():
            n += 1
            body = {
                "schemas": [USER],
                "userName": f"writer{time.time_ns()}@bench.test",
                "name": {"givenName": "W", "familyName": str(n)},
                "active": True,
            }
            try:
                connection.request(
                    "POST", "/api/v1/scim/Users", json.dumps(body), self.headers
                )
                response = connection.getresponse()
                response.read()
                self._note("SCIM create", response.status)
            except (OSError, http.client.HTTPException):
                self._note("SCIM create", "connection error")
                connection = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=60
                )

    def _sign_ins(self) -> None:
        while not self.stop.is_set():
            self._note("password sign-in", password_sign_in(self.port))


def timed(
    port: int, method: str, path: str, body: str | None, headers: dict[str, str]
) -> tuple[int, float, int]:
    """(status, client ms, response bytes) of one request."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    connection.close()
    return response.status, elapsed, len(data)


def server_ms(database: Path, method: str, path_prefix: str, last: int) -> list[float]:
    """duration_ms of the last `last` matching requests in the activity log."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT duration_ms FROM scim_request WHERE method = ? AND path LIKE ?"
            " ORDER BY id DESC LIMIT ?",
            (method, path_prefix + "%", last),
        ).fetchall()
    return [row[0] for row in rows]


def run_case(
    name: str,
    port: int,
    server_pid: int,
    database: Path,
    repeat: int,
    request: tuple[str, str, str | None],
    headers: dict[str, str],
) -> str:
    method, path, body = request
    before = worker_rss_kb(server_pid)
    results = [timed(port, method, path, body, headers) for _ in range(repeat)]
    after = worker_rss_kb(server_pid)
    growth = (
        max((after.get(pid, 0) - kb for pid, kb in before.items()), default=0) / 1024
    )
    statuses = Counter(status for status, _, _ in results)
    client = statistics.median(ms for _, ms, _ in results)
    size = max(length for _, _, length in results) / 1024
    server = server_ms(database, method, path.split("?")[0], repeat)
    server_text = (
        f"{statistics.median(server):7.1f} / {max(server):7.1f}" if server else "   n/a"
    )
    return (
        f"{name:<44} {dict(statuses)!s:<10} server ms p50/max {server_text}"
        f"  client ms p50 {client:7.1f}  body {size:8.1f} KiB"
        f"  worker growth {growth:6.1f} MiB"
    )


def user_patch_body() -> str:
    """The most filter work the caps allow: MAX_VALUES - 1 emails, then 999 keys
    whose filters each make MAX_PATH_COMPARISONS comparisons against all of them."""
    size = MAX_VALUES - 1
    emails = [{"value": f"e{n}@bench.test", "type": "other"} for n in range(size)]
    keys = {}
    for n in range(999):
        padding = " or ".join(
            f'value eq "no{n}-{k}@bench.test"' for k in range(MAX_PATH_COMPARISONS - 1)
        )
        keys[f'emails[{padding} or value eq "e{n % size}@bench.test"].display'] = "E"
    return json.dumps(
        {
            "schemas": [PATCH],
            "Operations": [
                {"op": "replace", "path": "emails", "value": emails},
                {"op": "replace", "value": keys},
            ],
        }
    )


def refused_patch_body() -> str:
    keys = {}
    n = 0
    while True:
        keys[f'emails[value eq "k{n}@bench.test"].type'] = "work"
        n += 1
        if n % 1000 == 0 and len(json.dumps(keys)) > 1000 * 1024:
            break
    return json.dumps(
        {"schemas": [PATCH], "Operations": [{"op": "add", "value": keys}]}
    )


def group_patch_body(users: list[int]) -> str:
    outside = users[len(users) // 2 :]
    inside = users[: len(users) // 2]
    operations = [
        {"op": "add", "path": "members", "value": [{"value": str(uid)}]}
        for uid in outside[:500]
    ] + [{"op": "remove", "path": f'members[value eq "{uid}"]'} for uid in inside[:500]]
    return json.dumps({"schemas": [PATCH], "Operations": operations})


def main() -> None:
    """Run the cases and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--big-group", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--group-size", type=int, default=5_000)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="gatehouse-worst-"))
    instance = workdir / "instance"
    database = instance / "gatehouse.sqlite"
    port = free_port()
    headers = new_install(instance, f"http://127.0.0.1:{port}")
    users = max(args.big_group * 2, args.group_size)
    print(
        f"seeding {users:,} users, a group of {args.big_group:,} and {args.groups}"
        f" groups of {args.group_size:,} ...",
        flush=True,
    )
    seeded = seed(database, 1, users, args.groups, args.group_size)
    patch_target = seeded["users"][-1]
    server = start_server(instance, port, workdir)
    lines = [
        "server: gunicorn 2 gthread workers x 4 threads, SQLite WAL;"
        f" each case x {args.repeat}, two writers running"
    ]
    try:
        # Warm both workers up (imports, first queries) so growth is the case's own.
        for _ in range(20):
            timed(port, "GET", "/api/v1/scim/Groups?count=1", None, headers)
            timed(port, "GET", f"/api/v1/scim/Users/{patch_target}", None, headers)
        cases = [
            (
                "user PATCH, 1,000 ops x 10 comparisons",
                ("PATCH", f"/api/v1/scim/Users/{patch_target}", user_patch_body()),
            ),
            (
                "user PATCH, 1 MiB of keys (refused)",
                ("PATCH", f"/api/v1/scim/Users/{patch_target}", refused_patch_body()),
            ),
            (
                f"group PATCH, 1,000 ops, {args.big_group:,} members",
                (
                    "PATCH",
                    f"/api/v1/scim/Groups/{seeded['big']}",
                    group_patch_body(seeded["users"][: args.big_group * 2]),
                ),
            ),
            (
                f"GET /Groups?count=1000 ({args.groups} x {args.group_size:,})",
                ("GET", "/api/v1/scim/Groups?count=1000", None),
            ),
            (
                "GET /Groups, excludedAttributes=members",
                (
                    "GET",
                    "/api/v1/scim/Groups?count=1000&excludedAttributes=members",
                    None,
                ),
            ),
            (
                f"GET /Groups/{{id}} ({args.big_group:,} members)",
                ("GET", f"/api/v1/scim/Groups/{seeded['big']}", None),
            ),
        ]
        # Quiet first, so worker growth is the case's own (a password sign-in's
        # argon2 hash alone maps 64 MiB); then again beside the writers.
        for phase in ("alone", "beside two writers"):
            lines.append(f"-- {phase}")
            print(lines[-1], flush=True)
            writers = Writers(port, headers)
            if phase != "alone":
                writers.__enter__()
            for name, request in cases:
                lines.append(
                    run_case(
                        name, port, server.pid, database, args.repeat, request, headers
                    )
                )
                print(lines[-1], flush=True)
            if phase != "alone":
                writers.__exit__()
                lines.append(f"background writers: {dict(writers.statuses)}")
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    locked = stderr.decode(errors="replace").count("database is locked")
    lines.append(f'"database is locked" in the server log: {locked}')
    print("\n".join(lines[-2:]))


if __name__ == "__main__":
    main()
