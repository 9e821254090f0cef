"""Benchmark: how the members pages scale from 1,000 to 100,000 users.

Run from the repository root:

    .venv/bin/python bench/members.py [--users 100000] [--requests 50]
    tools/with-postgres sh -c '.venv/bin/python bench/members.py \
        --database-url "$GATEHOUSE_TEST_DATABASE_URL"'

It builds a throw-away SQLite database (or fills the empty database that
--database-url names, and drops its tables at the end), fills one big
organization (plus a small second one, groups, memberships and a few Okta
links), signs in as the big organization's owner through the Flask test client,
and times the pages at 1,000 users and again at the full size. It prints
figures and the database's plans, and asserts nothing about time.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlalchemy import inspect  # noqa: E402
from sqlalchemy import select  # noqa: E402

from app import create_app  # noqa: E402
from blueprints.members.queries import member_query  # noqa: E402
from core.extensions import db  # noqa: E402
from core.models import Group  # noqa: E402
from core.models import GroupMember  # noqa: E402
from core.models import OktaIdentity  # noqa: E402
from core.models import User  # noqa: E402
from core.models import fold  # noqa: E402
from core.provisioning import organizations  # noqa: E402

SMALL = 1_000
BATCH = 10_000
GROUPS = 50
# One user in MEMBERSHIP_EVERY joins a group: 20,000 memberships at 100,000 users.
MEMBERSHIP_EVERY = 5
PASSWORD = "correct horse battery staple"
BIG_ORG = "Bigcorp"
BIG_OWNER = "owner@bigcorp.test"
SMALL_ORG = "Smallco"
SMALL_ORG_USERS = 200
# A rare family name given to a handful of users, for the "few matches" search.
RARE_NAME = "Quetzalcoatl"
RARE_INDEXES = (17, 230, 501, 777, 998)
RARE_SEARCH = RARE_NAME[:7].lower()
# What someone types to find ada.hopper.000512@bigcorp.test: the start of an email.
EMAIL_PREFIX = "ada.hopper.0005"
# An accented family name for a few users (in their emails too), found by its
# plain spelling.
ACCENTED_NAME = "Núñez"
ACCENTED_INDEXES = (42, 420, 4_200, 42_000)
# The searches timed, by kind: (kind, text).
SEARCHES = (
    ("substring, few", RARE_SEARCH),
    ("substring, mid-word", RARE_NAME[3:10].lower()),
    ("substring, many", "hopper"),
    ("substring, every member", "bigcorp"),
    ("email prefix", EMAIL_PREFIX),
    ("case", RARE_SEARCH.upper()),
    ("accent", "nunez"),
    ("2 chars, few", RARE_NAME[:2].lower()),
    ("2 chars, many", "kn"),
)
GIVEN = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken"]
FAMILY = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen"]


@dataclass(frozen=True)
class Probe:
    """One kind of request to time."""

    label: str
    url: str
    search: str | None = None


@dataclass(frozen=True)
class Figures:
    """Timings of one probe at one size, in milliseconds."""

    p50: float
    p95: float
    matches: str


def parse_args() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--users", type=int, default=100_000, help="users in the big organization"
    )
    parser.add_argument(
        "--requests", type=int, default=50, help="timed requests per kind and size"
    )
    parser.add_argument(
        "--database-url", default="", help="an EMPTY database to use instead of SQLite"
    )
    args = parser.parse_args()
    if args.users < 2:
        parser.error("--users must be at least 2")
    return args


def build_app(tmp: Path, database_url: str) -> Flask:
    """An app on a fresh SQLite file in `tmp` (or on `database_url`, which must
    have no table), schema created."""
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp / "instance"),
            "SECRET_KEY": "bench-secret-key",
            "SQLALCHEMY_DATABASE_URI": database_url
            or f"sqlite:///{tmp / 'bench.sqlite'}",
            "WTF_CSRF_ENABLED": False,
        }
    )
    with app.app_context():
        if inspect(db.engine).get_table_names():
            raise SystemExit("--database-url must name an empty database")
        db.create_all()
    return app


def user_row(org_id: int, index: int, domain: str, now: datetime) -> dict[str, Any]:
    """The columns of one generated user, as `insert(User)` wants them."""
    given = GIVEN[index % len(GIVEN)]
    family = FAMILY[index % len(FAMILY)]
    if index in RARE_INDEXES:
        family = RARE_NAME
    elif index in ACCENTED_INDEXES:
        family = ACCENTED_NAME
    display = f"{given} {family}"
    email = f"{given}.{family}.{index:06d}@{domain}".lower()
    return {
        "organization_id": org_id,
        "email": email,
        "email_key": fold(email),
        "user_name": email,
        "user_name_key": fold(email),
        "given_name": given,
        "family_name": family,
        "display_name": display,
        "name_key": fold(f"{display} {given} {family}"),
        "role": "member",
        "status": "inactive" if index % 10 == 9 else "active",
        "source": "scim" if index % 2 else "local",
        "created_at": now,
        "updated_at": now,
    }


def insert_users(org_id: int, start: int, stop: int, domain: str) -> list[int]:
    """Bulk-insert users `start`..`stop-1` of an organization; return their ids."""
    now = datetime.now(UTC)
    before = db.session.execute(select(db.func.max(User.id))).scalar_one() or 0
    for low in range(start, stop, BATCH):
        rows = [
            user_row(org_id, index, domain, now)
            for index in range(low, min(low + BATCH, stop))
        ]
        db.session.execute(insert(User), rows)
    ids = list(
        db.session.execute(
            select(User.id)
            .where(User.organization_id == org_id, User.id > before)
            .order_by(User.id)
        ).scalars()
    )
    db.session.commit()
    return ids


def create_groups(org_id: int, count: int, prefix: str) -> list[int]:
    """Create `count` groups in an organization; return their ids."""
    now = datetime.now(UTC)
    rows = [
        {
            "organization_id": org_id,
            "display_name": f"{prefix} {number:02d}",
            "display_name_key": fold(f"{prefix} {number:02d}"),
            "scim_managed": number % 2 == 0,
            "created_at": now,
            "updated_at": now,
        }
        for number in range(count)
    ]
    db.session.execute(insert(Group), rows)
    ids = list(
        db.session.execute(
            select(Group.id).where(Group.organization_id == org_id).order_by(Group.id)
        ).scalars()
    )
    db.session.commit()
    return ids


def add_memberships(user_ids: list[int], group_ids: list[int], offset: int) -> int:
    """Put one user in MEMBERSHIP_EVERY into a group; return how many were added.

    `offset` is the position of `user_ids[0]` among all the organization's users,
    so that the pattern continues across calls.
    """
    now = datetime.now(UTC)
    rows = [
        {
            "group_id": group_ids[(position // MEMBERSHIP_EVERY) % len(group_ids)],
            "user_id": user_id,
            "created_at": now,
        }
        for position, user_id in enumerate(user_ids, start=offset)
        if position % MEMBERSHIP_EVERY == 0
    ]
    for low in range(0, len(rows), BATCH):
        db.session.execute(insert(GroupMember), rows[low : low + BATCH])
    db.session.commit()
    return len(rows)


def add_okta_identities(org_id: int, user_ids: list[int]) -> None:
    """Link a few users to Okta subjects."""
    now = datetime.now(UTC)
    rows = [
        {
            "organization_id": org_id,
            "user_id": user_id,
            "protocol": "oidc",
            "issuer": "https://bigcorp.okta.com",
            "subject": f"00u{user_id:012d}",
            "created_at": now,
        }
        for user_id in user_ids
    ]
    db.session.execute(insert(OktaIdentity), rows)
    db.session.commit()


def seed_small(app: Flask, size: int) -> tuple[int, list[int]]:
    """Create both organizations and fill the big one to `size` users.

    Returns the big organization's id and its group ids.
    """
    with app.app_context():
        big, _owner = organizations.create_organization(
            BIG_ORG, owner_email=BIG_OWNER, owner_password=PASSWORD, plan="enterprise"
        )
        small, _ = organizations.create_organization(
            SMALL_ORG, owner_email="owner@smallco.test", owner_password=PASSWORD
        )
        big_id, small_id = big.id, small.id

        small_users = insert_users(small_id, 1, SMALL_ORG_USERS, "smallco.test")
        small_groups = create_groups(small_id, 3, "Team")
        add_memberships(small_users, small_groups, 0)

        big_groups = create_groups(big_id, GROUPS, "Department")
        # The owner is user 0; generated users are 1..size-1.
        big_users = insert_users(big_id, 1, size, "bigcorp.test")
        add_memberships(big_users, big_groups, 1)
        add_okta_identities(big_id, big_users[:5] + big_users[100:105])
        db.session.remove()
    return big_id, big_groups


def grow(app: Flask, org_id: int, group_ids: list[int], start: int, users: int) -> None:
    """Fill the big organization from `start` up to `users` users."""
    with app.app_context():
        for low in range(start, users, BATCH * 5):
            high = min(low + BATCH * 5, users)
            ids = insert_users(org_id, low, high, "bigcorp.test")
            add_memberships(ids, group_ids, low)
        db.session.remove()
        if db.engine.dialect.name == "postgresql":
            # What autovacuum would have done by now on a live server: planner
            # statistics and the visibility map of the grown tables.
            with db.engine.connect() as connection:
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                connection.exec_driver_sql("VACUUM ANALYZE")


def sign_in(app: Flask) -> FlaskClient:
    """A test client signed in as the big organization's owner."""
    client = app.test_client()
    response = client.post("/login", data={"email": BIG_OWNER, "password": PASSWORD})
    if response.status_code != 302:
        raise RuntimeError(f"sign-in failed: {response.status_code}")
    return client


def search_probe(kind: str, search: str) -> Probe:
    """A members search for `search` (plain text, no URL quoting needed)."""
    return Probe(f"search {kind}: {search}", f"/members?q={search}", search)


def probes() -> list[Probe]:
    """The requests to time."""
    return [
        Probe("GET /members", "/members"),
        Probe("GET /members?page=1000", "/members?page=1000"),
        *(search_probe(kind, search) for kind, search in SEARCHES),
        # The list's filters (issue #13): rare, common, and with a search.
        Probe("filter role=admin (none)", "/members?role=admin"),
        Probe("filter not linked", "/members?link=not_linked"),
        Probe("filter scim=no + search", "/members?scim=no&q=hopper"),
        Probe("GET /organization", "/organization"),
        Probe("GET /groups", "/groups"),
    ]


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile of `samples`."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def match_note(app: Flask, org_id: int, search: str | None) -> str:
    """How many members a search matches (empty when there is no search)."""
    if search is None:
        return ""
    with app.app_context():
        query = member_query(org_id, search, "")
        count = db.session.execute(
            query.with_only_columns(db.func.count()).order_by(None)
        ).scalar_one()
        db.session.remove()
    return f"{count} matches"


def measure(
    app: Flask, client: FlaskClient, org_id: int, requests: int
) -> dict[str, Figures]:
    """Time `requests` GETs of every probe (after one warm-up each)."""
    results: dict[str, Figures] = {}
    for probe in probes():
        warm = client.get(probe.url)
        if warm.status_code != 200:
            raise RuntimeError(f"{probe.url}: HTTP {warm.status_code}")
        samples = []
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get(probe.url)
            samples.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{probe.url}: HTTP {response.status_code}")
        results[probe.label] = Figures(
            percentile(samples, 0.50),
            percentile(samples, 0.95),
            match_note(app, org_id, probe.search),
        )
    return results


def print_table(
    small: dict[str, Figures],
    big: dict[str, Figures],
    small_users: int,
    big_users: int,
    requests: int,
) -> None:
    """Print p50/p95 per request kind at both sizes, and the p50 ratio."""
    big_label = f"{big_users:,}"
    small_label = f"{small_users:,}"
    print(f"\nMilliseconds per request, {requests} requests each (p50 / p95):\n")
    header = (
        f"{'request':<40} {small_label + ' p50':>11} {small_label + ' p95':>11}"
        f" {big_label + ' p50':>13} {big_label + ' p95':>13} {'p50 ratio':>10}"
        f"  matches ({small_label} / {big_label})"
    )
    print(header)
    print("-" * len(header))
    for label, at_small in small.items():
        at_big = big[label]
        ratio = at_big.p50 / at_small.p50 if at_small.p50 else float("nan")
        matches = f"{at_small.matches} / {at_big.matches}" if at_big.matches else ""
        print(
            f"{label:<40} {at_small.p50:>11.1f} {at_small.p95:>11.1f}"
            f" {at_big.p50:>13.1f} {at_big.p95:>13.1f} {ratio:>9.1f}x  {matches}"
        )


def explain(app: Flask, org_id: int, per_page: int) -> None:
    """Print the database's plan for the members list queries."""
    with app.app_context():
        plain = member_query(org_id, "", "")
        statements = {
            "members count": plain.with_only_columns(db.func.count()).order_by(None),
            "members page 1": plain.order_by(User.email_key).limit(per_page),
            "members page 1000": plain.order_by(User.email_key)
            .limit(per_page)
            .offset(999 * per_page),
        }
        for search in (RARE_SEARCH, "kn"):
            statements[f"members search {search!r} page 1"] = (
                member_query(org_id, search, "")
                .order_by(User.email_key)
                .limit(per_page)
            )
        connection = db.session.connection()
        for title, statement in statements.items():
            print(f"\nEXPLAIN -- {title}")
            if connection.dialect.name == "postgresql":
                compiled = statement.compile(dialect=db.engine.dialect)
                print("  " + " ".join(str(compiled).split()), compiled.params)
                for (line,) in connection.exec_driver_sql(
                    f"EXPLAIN ANALYZE {compiled}", compiled.params
                ):
                    print("    " + line)
                continue
            sql = str(
                statement.compile(
                    dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}
                )
            )
            print("  " + " ".join(sql.split()))
            depth: dict[int, int] = {0: 0}
            for node, parent, _unused, detail in connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + sql
            ):
                depth[node] = depth.get(parent, 0) + 1
                print("  " + "  " * depth[node] + detail)
        db.session.remove()


def timed(label: str, action: Callable[[], Any]) -> Any:
    """Run `action`, print how long it took, and return its result."""
    started = time.perf_counter()
    result = action()
    print(f"{label}: {time.perf_counter() - started:.1f} s", flush=True)
    return result


def main() -> None:
    """Seed, measure at SMALL users, grow, measure again, explain."""
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="gatehouse-bench-") as tmp_name:
        app = build_app(Path(tmp_name), args.database_url)
        small_size = min(SMALL, args.users)
        org_id, group_ids = timed(
            f"seed {small_size:,} users, {GROUPS} groups",
            lambda: seed_small(app, small_size),
        )
        client = sign_in(app)
        small = timed(
            f"measure at {small_size:,}",
            lambda: measure(app, client, org_id, args.requests),
        )
        timed(
            f"grow to {args.users:,} users",
            lambda: grow(app, org_id, group_ids, small_size, args.users),
        )
        big = timed(
            f"measure at {args.users:,}",
            lambda: measure(app, client, org_id, args.requests),
        )
        print_table(small, big, small_size, args.users, args.requests)
        explain(app, org_id, app.config["MEMBERS_PER_PAGE"])
        with app.app_context():
            if args.database_url:
                db.drop_all()
            db.engine.dispose()


if __name__ == "__main__":
    main()
