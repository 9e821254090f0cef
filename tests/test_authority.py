"""The authority rules as tables: who may do what to whom, through every channel.

Each table row is (channel, actor, target, action, expected). The channels are
the real ones: the members pages (a signed-in owner, admin or member), the SCIM
API (a personal key, acting as its holder, or an organization key acting as
admin or owner) and the `flask member` commands (the server administrator).

- allow: the change is in the database (and in the audit log).
- deny: nothing changed, and the answer says why: the members page flashes the
  reason and redirects back (a member gets 403: the pages are not theirs);
  SCIM answers 403 with the SCIM error schema and a detail that names the
  owner-level key needed, or 409 when the organization would lose its last
  active owner; the command line exits 1 with the reason.

The same rules are tabulated once more at the decision itself,
`core.authority.refusal`, without HTTP (`DECISIONS`, at the end).

Targets: "owner", "admin" and "member" are another person of that role in the
actor's organization (there are two of each), "self" is the actor, "owner2"
names the second owner. A signed-in owner is always an active owner, so the
"last active owner" rule can only be reached by organization keys and the CLI.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from typing import NamedTuple
from typing import cast

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from core import authority
from core.authority import Actor
from core.authority import NoOwnerLeft
from core.authority import NotAllowed
from core.extensions import db
from core.models import AuditEvent
from core.models import OktaIdentity
from core.models import ScimRequest
from core.models import SignInFailure
from core.models import User
from core.provisioning import api_keys
from core.provisioning import organizations
from core.throttle import account_key
from core.throttle import account_locked
from tests.support.builders import OrgInfo
from tests.support.builders import make_app
from tests.support.builders import make_org
from tests.support.builders import make_user
from tests.support.builders import scim_key
from tests.support.builders import sign_in
from tests.support.rows import get_user
from tests.support.rows import snapshot
from tests.support.scim import ERROR_SCHEMA
from tests.support.scim import SCIM_JSON
from tests.support.scim import USER_SCHEMA
from tests.support.scim import ScimClient
from tests.support.scim import patch_body as patch

pytestmark = pytest.mark.usefixtures("quick_passwords")


@pytest.fixture(scope="module")
def module_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One app for the module: its engine's compiled-SQL cache stays warm."""
    app = make_app(tmp_path_factory.mktemp("authority"))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(module_app: Flask) -> Flask:
    """The module's app with every table emptied: each test starts from nothing."""
    with module_app.app_context():
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
    return module_app


NEW_EMAIL = "changed@acme.test"

# Expected outcomes.
ALLOW = "allow"
OWNER_ONLY = "owner only"  # needs an owner (or an owner-level key)
SELF = "not yourself"  # nobody changes their own role or status
MEMBERS_NOT = "members manage nobody"
LAST_OWNER = "last active owner"
NOT_FOUND = "not found"  # the tenant wall (pages and SCIM: 404)
WALL = "other organization"  # the tenant wall, as core.authority words it


class Row(NamedTuple):
    """One cell of the matrix."""

    channel: str
    actor: str
    target: str
    action: str
    expected: str
    world: str = "two"


# -- the matrix (two active owners, two admins, two members) ---------------------
#
# UI actions: make_<role> (POST /members/<id>/role), deactivate / reactivate
# (POST /members/<id>/status), remove_identity (POST .../identities/<iid>/remove),
# unlock (POST /members/<id>/unlock).
# CLI actions: make_<role> (flask member set-role), unlock (flask member unlock),
# remove_identity (flask member unlink).
# SCIM actions: deactivate / reactivate (PATCH active), put_name / patch_name
# (givenName), put_email (PUT userName and email), patch_email (PATCH
# emails[type eq "work"].value), patch_username (PATCH userName), delete
# (DELETE), adopt (POST /Users with the userName of an existing, not yet
# SCIM-managed account: an edit of that account), adopt_rename (POST /Users with
# the account's email and a new userName: adoption that changes the userName).

MATRIX: list[tuple[str, str, str, str, str]] = [
    # -- members pages: a signed-in owner ------------------------------------------
    ("ui", "owner", "owner", "make_admin", ALLOW),
    ("ui", "owner", "owner", "deactivate", ALLOW),
    ("ui", "owner", "owner", "reactivate", ALLOW),
    ("ui", "owner", "owner", "remove_identity", ALLOW),
    ("ui", "owner", "owner", "unlock", ALLOW),
    ("ui", "owner", "admin", "make_member", ALLOW),
    ("ui", "owner", "admin", "make_owner", ALLOW),
    ("ui", "owner", "admin", "deactivate", ALLOW),
    ("ui", "owner", "admin", "reactivate", ALLOW),
    ("ui", "owner", "admin", "remove_identity", ALLOW),
    ("ui", "owner", "admin", "unlock", ALLOW),
    ("ui", "owner", "member", "make_admin", ALLOW),
    ("ui", "owner", "member", "make_owner", ALLOW),
    ("ui", "owner", "member", "deactivate", ALLOW),
    ("ui", "owner", "member", "reactivate", ALLOW),
    ("ui", "owner", "member", "remove_identity", ALLOW),
    ("ui", "owner", "member", "unlock", ALLOW),
    ("ui", "owner", "self", "make_admin", SELF),
    ("ui", "owner", "self", "deactivate", SELF),
    ("ui", "owner", "self", "remove_identity", ALLOW),
    ("ui", "owner", "self", "unlock", ALLOW),
    # -- members pages: a signed-in admin ------------------------------------------
    ("ui", "admin", "owner", "make_admin", OWNER_ONLY),
    ("ui", "admin", "owner", "make_member", OWNER_ONLY),
    ("ui", "admin", "owner", "deactivate", OWNER_ONLY),
    ("ui", "admin", "owner", "reactivate", OWNER_ONLY),
    ("ui", "admin", "owner", "remove_identity", OWNER_ONLY),
    ("ui", "admin", "owner", "unlock", OWNER_ONLY),
    ("ui", "admin", "admin", "make_member", ALLOW),
    ("ui", "admin", "admin", "make_owner", OWNER_ONLY),
    ("ui", "admin", "admin", "deactivate", ALLOW),
    ("ui", "admin", "admin", "reactivate", ALLOW),
    # An Okta-made admin without an identity links by email again: owners only.
    ("ui", "admin", "admin", "remove_identity", OWNER_ONLY),
    ("ui", "admin", "admin", "unlock", OWNER_ONLY),
    ("ui", "admin", "member", "make_admin", ALLOW),
    ("ui", "admin", "member", "make_owner", OWNER_ONLY),
    ("ui", "admin", "member", "deactivate", ALLOW),
    ("ui", "admin", "member", "reactivate", ALLOW),
    ("ui", "admin", "member", "remove_identity", ALLOW),
    ("ui", "admin", "member", "unlock", ALLOW),
    ("ui", "admin", "self", "make_member", SELF),
    ("ui", "admin", "self", "make_owner", SELF),
    ("ui", "admin", "self", "deactivate", SELF),
    ("ui", "admin", "self", "remove_identity", ALLOW),
    ("ui", "admin", "self", "unlock", ALLOW),
    # -- members pages: a signed-in member (403: the admin pages are not theirs) --
    ("ui", "member", "owner", "make_admin", MEMBERS_NOT),
    ("ui", "member", "owner", "deactivate", MEMBERS_NOT),
    ("ui", "member", "owner", "remove_identity", MEMBERS_NOT),
    ("ui", "member", "owner", "unlock", MEMBERS_NOT),
    ("ui", "member", "admin", "make_member", MEMBERS_NOT),
    ("ui", "member", "admin", "deactivate", MEMBERS_NOT),
    ("ui", "member", "admin", "remove_identity", MEMBERS_NOT),
    ("ui", "member", "admin", "unlock", MEMBERS_NOT),
    ("ui", "member", "member", "make_admin", MEMBERS_NOT),
    ("ui", "member", "member", "deactivate", MEMBERS_NOT),
    ("ui", "member", "member", "remove_identity", MEMBERS_NOT),
    ("ui", "member", "member", "unlock", MEMBERS_NOT),
    ("ui", "member", "self", "make_admin", MEMBERS_NOT),
    ("ui", "member", "self", "remove_identity", MEMBERS_NOT),
    # -- command line: the server administrator --------------------------------------
    ("cli", "server", "owner", "make_admin", ALLOW),
    ("cli", "server", "owner", "make_member", ALLOW),
    ("cli", "server", "owner", "remove_identity", ALLOW),
    ("cli", "server", "owner", "unlock", ALLOW),
    ("cli", "server", "admin", "make_owner", ALLOW),
    ("cli", "server", "admin", "make_member", ALLOW),
    ("cli", "server", "admin", "remove_identity", ALLOW),
    ("cli", "server", "admin", "unlock", ALLOW),
    ("cli", "server", "member", "make_admin", ALLOW),
    ("cli", "server", "member", "make_owner", ALLOW),
    ("cli", "server", "member", "remove_identity", ALLOW),
    ("cli", "server", "member", "unlock", ALLOW),
    # -- SCIM: an owner's personal key (acts as that owner) --------------------------
    ("scim", "personal:owner", "owner", "deactivate", ALLOW),
    ("scim", "personal:owner", "owner", "reactivate", ALLOW),
    ("scim", "personal:owner", "owner", "put_name", ALLOW),
    ("scim", "personal:owner", "owner", "patch_name", ALLOW),
    ("scim", "personal:owner", "owner", "put_email", ALLOW),
    ("scim", "personal:owner", "owner", "patch_email", ALLOW),
    ("scim", "personal:owner", "owner", "patch_username", ALLOW),
    ("scim", "personal:owner", "owner", "delete", ALLOW),
    ("scim", "personal:owner", "owner", "adopt", ALLOW),
    ("scim", "personal:owner", "owner", "adopt_rename", ALLOW),
    ("scim", "personal:owner", "admin", "deactivate", ALLOW),
    ("scim", "personal:owner", "admin", "reactivate", ALLOW),
    ("scim", "personal:owner", "admin", "put_name", ALLOW),
    ("scim", "personal:owner", "admin", "patch_name", ALLOW),
    ("scim", "personal:owner", "admin", "put_email", ALLOW),
    ("scim", "personal:owner", "admin", "patch_email", ALLOW),
    ("scim", "personal:owner", "admin", "patch_username", ALLOW),
    ("scim", "personal:owner", "admin", "delete", ALLOW),
    ("scim", "personal:owner", "admin", "adopt", ALLOW),
    ("scim", "personal:owner", "admin", "adopt_rename", ALLOW),
    ("scim", "personal:owner", "member", "deactivate", ALLOW),
    ("scim", "personal:owner", "member", "reactivate", ALLOW),
    ("scim", "personal:owner", "member", "put_name", ALLOW),
    ("scim", "personal:owner", "member", "patch_name", ALLOW),
    ("scim", "personal:owner", "member", "put_email", ALLOW),
    ("scim", "personal:owner", "member", "patch_email", ALLOW),
    ("scim", "personal:owner", "member", "patch_username", ALLOW),
    ("scim", "personal:owner", "member", "delete", ALLOW),
    ("scim", "personal:owner", "member", "adopt", ALLOW),
    ("scim", "personal:owner", "member", "adopt_rename", ALLOW),
    ("scim", "personal:owner", "self", "deactivate", SELF),
    ("scim", "personal:owner", "self", "delete", SELF),
    ("scim", "personal:owner", "self", "put_name", ALLOW),
    ("scim", "personal:owner", "self", "put_email", ALLOW),
    # -- SCIM: an organization key that acts as owner --------------------------------
    ("scim", "org:owner", "owner", "deactivate", ALLOW),
    ("scim", "org:owner", "owner", "reactivate", ALLOW),
    ("scim", "org:owner", "owner", "put_name", ALLOW),
    ("scim", "org:owner", "owner", "patch_name", ALLOW),
    ("scim", "org:owner", "owner", "put_email", ALLOW),
    ("scim", "org:owner", "owner", "patch_email", ALLOW),
    ("scim", "org:owner", "owner", "patch_username", ALLOW),
    ("scim", "org:owner", "owner", "delete", ALLOW),
    ("scim", "org:owner", "owner", "adopt", ALLOW),
    ("scim", "org:owner", "owner", "adopt_rename", ALLOW),
    ("scim", "org:owner", "admin", "deactivate", ALLOW),
    ("scim", "org:owner", "admin", "reactivate", ALLOW),
    ("scim", "org:owner", "admin", "put_name", ALLOW),
    ("scim", "org:owner", "admin", "patch_name", ALLOW),
    ("scim", "org:owner", "admin", "put_email", ALLOW),
    ("scim", "org:owner", "admin", "patch_email", ALLOW),
    ("scim", "org:owner", "admin", "patch_username", ALLOW),
    ("scim", "org:owner", "admin", "delete", ALLOW),
    ("scim", "org:owner", "admin", "adopt", ALLOW),
    ("scim", "org:owner", "admin", "adopt_rename", ALLOW),
    ("scim", "org:owner", "member", "deactivate", ALLOW),
    ("scim", "org:owner", "member", "reactivate", ALLOW),
    ("scim", "org:owner", "member", "put_name", ALLOW),
    ("scim", "org:owner", "member", "patch_name", ALLOW),
    ("scim", "org:owner", "member", "put_email", ALLOW),
    ("scim", "org:owner", "member", "patch_email", ALLOW),
    ("scim", "org:owner", "member", "patch_username", ALLOW),
    ("scim", "org:owner", "member", "delete", ALLOW),
    ("scim", "org:owner", "member", "adopt", ALLOW),
    ("scim", "org:owner", "member", "adopt_rename", ALLOW),
    # -- SCIM: an admin's personal key (acts as that admin) --------------------------
    ("scim", "personal:admin", "owner", "deactivate", OWNER_ONLY),
    ("scim", "personal:admin", "owner", "reactivate", OWNER_ONLY),
    ("scim", "personal:admin", "owner", "put_name", OWNER_ONLY),
    ("scim", "personal:admin", "owner", "patch_name", OWNER_ONLY),
    ("scim", "personal:admin", "owner", "put_email", OWNER_ONLY),
    ("scim", "personal:admin", "owner", "patch_email", OWNER_ONLY),
    ("scim", "personal:admin", "owner", "patch_username", OWNER_ONLY),
    ("scim", "personal:admin", "owner", "delete", OWNER_ONLY),
    ("scim", "personal:admin", "owner", "adopt", OWNER_ONLY),
    ("scim", "personal:admin", "owner", "adopt_rename", OWNER_ONLY),
    ("scim", "personal:admin", "admin", "deactivate", ALLOW),
    ("scim", "personal:admin", "admin", "reactivate", ALLOW),
    ("scim", "personal:admin", "admin", "put_name", ALLOW),
    ("scim", "personal:admin", "admin", "patch_name", ALLOW),
    ("scim", "personal:admin", "admin", "put_email", OWNER_ONLY),
    ("scim", "personal:admin", "admin", "patch_email", OWNER_ONLY),
    ("scim", "personal:admin", "admin", "patch_username", OWNER_ONLY),
    ("scim", "personal:admin", "admin", "delete", ALLOW),
    ("scim", "personal:admin", "admin", "adopt", ALLOW),
    ("scim", "personal:admin", "admin", "adopt_rename", OWNER_ONLY),
    ("scim", "personal:admin", "member", "deactivate", ALLOW),
    ("scim", "personal:admin", "member", "reactivate", ALLOW),
    ("scim", "personal:admin", "member", "put_name", ALLOW),
    ("scim", "personal:admin", "member", "patch_name", ALLOW),
    ("scim", "personal:admin", "member", "put_email", ALLOW),
    ("scim", "personal:admin", "member", "patch_email", ALLOW),
    ("scim", "personal:admin", "member", "patch_username", ALLOW),
    ("scim", "personal:admin", "member", "delete", ALLOW),
    ("scim", "personal:admin", "member", "adopt", ALLOW),
    ("scim", "personal:admin", "member", "adopt_rename", ALLOW),
    ("scim", "personal:admin", "self", "deactivate", SELF),
    ("scim", "personal:admin", "self", "delete", SELF),
    ("scim", "personal:admin", "self", "put_name", ALLOW),
    ("scim", "personal:admin", "self", "put_email", OWNER_ONLY),
    ("scim", "personal:admin", "self", "patch_username", OWNER_ONLY),
    # -- SCIM: an organization key that acts as admin --------------------------------
    ("scim", "org:admin", "owner", "deactivate", OWNER_ONLY),
    ("scim", "org:admin", "owner", "reactivate", OWNER_ONLY),
    ("scim", "org:admin", "owner", "put_name", OWNER_ONLY),
    ("scim", "org:admin", "owner", "patch_name", OWNER_ONLY),
    ("scim", "org:admin", "owner", "put_email", OWNER_ONLY),
    ("scim", "org:admin", "owner", "patch_email", OWNER_ONLY),
    ("scim", "org:admin", "owner", "patch_username", OWNER_ONLY),
    ("scim", "org:admin", "owner", "delete", OWNER_ONLY),
    ("scim", "org:admin", "owner", "adopt", OWNER_ONLY),
    ("scim", "org:admin", "owner", "adopt_rename", OWNER_ONLY),
    ("scim", "org:admin", "admin", "deactivate", ALLOW),
    ("scim", "org:admin", "admin", "reactivate", ALLOW),
    ("scim", "org:admin", "admin", "put_name", ALLOW),
    ("scim", "org:admin", "admin", "patch_name", ALLOW),
    ("scim", "org:admin", "admin", "put_email", OWNER_ONLY),
    ("scim", "org:admin", "admin", "patch_email", OWNER_ONLY),
    ("scim", "org:admin", "admin", "patch_username", OWNER_ONLY),
    ("scim", "org:admin", "admin", "delete", ALLOW),
    ("scim", "org:admin", "admin", "adopt", ALLOW),
    ("scim", "org:admin", "admin", "adopt_rename", OWNER_ONLY),
    ("scim", "org:admin", "member", "deactivate", ALLOW),
    ("scim", "org:admin", "member", "reactivate", ALLOW),
    ("scim", "org:admin", "member", "put_name", ALLOW),
    ("scim", "org:admin", "member", "patch_name", ALLOW),
    ("scim", "org:admin", "member", "put_email", ALLOW),
    ("scim", "org:admin", "member", "patch_email", ALLOW),
    ("scim", "org:admin", "member", "patch_username", ALLOW),
    ("scim", "org:admin", "member", "delete", ALLOW),
    ("scim", "org:admin", "member", "adopt", ALLOW),
    ("scim", "org:admin", "member", "adopt_rename", ALLOW),
    # -- SCIM: a member's personal key (made while they were admin) -----------------
    ("scim", "personal:member", "owner", "deactivate", MEMBERS_NOT),
    ("scim", "personal:member", "owner", "put_name", MEMBERS_NOT),
    ("scim", "personal:member", "owner", "delete", MEMBERS_NOT),
    ("scim", "personal:member", "owner", "adopt", MEMBERS_NOT),
    ("scim", "personal:member", "admin", "deactivate", MEMBERS_NOT),
    ("scim", "personal:member", "admin", "put_email", MEMBERS_NOT),
    ("scim", "personal:member", "admin", "delete", MEMBERS_NOT),
    ("scim", "personal:member", "admin", "adopt", MEMBERS_NOT),
    ("scim", "personal:member", "admin", "adopt_rename", MEMBERS_NOT),
    ("scim", "personal:member", "member", "deactivate", MEMBERS_NOT),
    ("scim", "personal:member", "member", "patch_name", MEMBERS_NOT),
    ("scim", "personal:member", "member", "patch_email", MEMBERS_NOT),
    ("scim", "personal:member", "member", "delete", MEMBERS_NOT),
    ("scim", "personal:member", "member", "adopt", MEMBERS_NOT),
    ("scim", "personal:member", "self", "deactivate", MEMBERS_NOT),
    ("scim", "personal:member", "self", "put_email", MEMBERS_NOT),
]

# -- the last active owner ---------------------------------------------------------
#
# Worlds: "two" active owners; "one" owner; "one active" owner and an inactive
# second owner (owner2); "none": the only owner was made inactive in the database.
# Rows: (world, channel, actor, target, action, expected).

LAST_OWNER_MATRIX: list[tuple[str, str, str, str, str, str]] = [
    # Exactly one active owner: nobody may remove them, whoever asks.
    ("one", "ui", "owner", "self", "make_admin", SELF),
    ("one", "ui", "owner", "self", "deactivate", SELF),
    ("one", "ui", "admin", "owner", "make_member", OWNER_ONLY),
    ("one", "ui", "admin", "owner", "deactivate", OWNER_ONLY),
    ("one", "scim", "personal:owner", "self", "deactivate", SELF),
    ("one", "scim", "personal:owner", "self", "delete", SELF),
    ("one", "scim", "org:admin", "owner", "deactivate", OWNER_ONLY),
    ("one", "scim", "org:admin", "owner", "delete", OWNER_ONLY),
    ("one", "scim", "org:owner", "owner", "deactivate", LAST_OWNER),
    ("one", "scim", "org:owner", "owner", "delete", LAST_OWNER),
    ("one", "scim", "org:owner", "owner", "put_email", ALLOW),  # edits keep them
    ("one", "cli", "server", "owner", "make_admin", LAST_OWNER),
    ("one", "cli", "server", "owner", "make_member", LAST_OWNER),
    ("one", "cli", "server", "owner", "unlock", ALLOW),
    ("one", "cli", "server", "owner", "remove_identity", ALLOW),
    ("one", "cli", "server", "admin", "make_owner", ALLOW),
    # An inactive owner does not count as an owner left.
    ("one active", "scim", "org:owner", "owner", "deactivate", LAST_OWNER),
    ("one active", "scim", "org:owner", "owner", "delete", LAST_OWNER),
    ("one active", "cli", "server", "owner", "make_member", LAST_OWNER),
    ("one active", "scim", "org:owner", "owner2", "delete", ALLOW),
    ("one active", "cli", "server", "owner2", "make_member", ALLOW),
    # Two active owners: owner-level actors may remove one of them.
    ("two", "ui", "owner", "owner", "deactivate", ALLOW),
    ("two", "ui", "owner", "owner", "make_member", ALLOW),
    ("two", "scim", "personal:owner", "owner", "deactivate", ALLOW),
    ("two", "scim", "personal:owner", "owner", "delete", ALLOW),
    ("two", "scim", "org:owner", "owner", "deactivate", ALLOW),
    ("two", "scim", "org:owner", "owner", "delete", ALLOW),
    ("two", "cli", "server", "owner", "make_admin", ALLOW),
    ("two", "cli", "server", "owner", "make_member", ALLOW),
    # No active owner left: the command line (or an owner-level key) recovers.
    ("none", "cli", "server", "admin", "make_owner", ALLOW),
    ("none", "cli", "server", "member", "make_owner", ALLOW),
    ("none", "cli", "server", "owner", "make_member", ALLOW),
    ("none", "scim", "org:owner", "owner", "reactivate", ALLOW),
    ("none", "ui", "admin", "owner", "reactivate", OWNER_ONLY),
    ("none", "ui", "admin", "admin", "make_owner", OWNER_ONLY),
]

# -- the tenant wall: an actor of Globex against Acme's people: 404, no change ----

TENANT_WALL: list[tuple[str, str, str, str, str]] = [
    ("ui", "globex:owner", "owner", "make_admin", NOT_FOUND),
    ("ui", "globex:owner", "owner", "deactivate", NOT_FOUND),
    ("ui", "globex:owner", "owner", "remove_identity", NOT_FOUND),
    ("ui", "globex:owner", "owner", "unlock", NOT_FOUND),
    ("ui", "globex:owner", "admin", "make_member", NOT_FOUND),
    ("ui", "globex:owner", "admin", "deactivate", NOT_FOUND),
    ("ui", "globex:owner", "admin", "remove_identity", NOT_FOUND),
    ("ui", "globex:owner", "admin", "unlock", NOT_FOUND),
    ("ui", "globex:owner", "member", "make_admin", NOT_FOUND),
    ("ui", "globex:owner", "member", "deactivate", NOT_FOUND),
    ("ui", "globex:owner", "member", "remove_identity", NOT_FOUND),
    ("ui", "globex:owner", "member", "unlock", NOT_FOUND),
    ("scim", "globex:org:owner", "owner", "deactivate", NOT_FOUND),
    ("scim", "globex:org:owner", "owner", "put_name", NOT_FOUND),
    ("scim", "globex:org:owner", "owner", "patch_email", NOT_FOUND),
    ("scim", "globex:org:owner", "owner", "delete", NOT_FOUND),
    ("scim", "globex:org:owner", "admin", "deactivate", NOT_FOUND),
    ("scim", "globex:org:owner", "admin", "put_email", NOT_FOUND),
    ("scim", "globex:org:owner", "admin", "delete", NOT_FOUND),
    ("scim", "globex:org:owner", "member", "reactivate", NOT_FOUND),
    ("scim", "globex:org:owner", "member", "patch_name", NOT_FOUND),
    ("scim", "globex:org:owner", "member", "patch_username", NOT_FOUND),
    ("scim", "globex:org:owner", "member", "delete", NOT_FOUND),
    ("scim", "globex:personal:owner", "member", "deactivate", NOT_FOUND),
    ("scim", "globex:personal:owner", "member", "put_name", NOT_FOUND),
    ("scim", "globex:personal:owner", "member", "delete", NOT_FOUND),
    # The command line names the organization: Globex has no such member.
    ("cli", "server:globex", "owner", "make_member", NOT_FOUND),
    ("cli", "server:globex", "member", "make_owner", NOT_FOUND),
    ("cli", "server:globex", "member", "unlock", NOT_FOUND),
    ("cli", "server:globex", "member", "remove_identity", NOT_FOUND),
]


def rows(table: list[tuple[str, ...]], *, with_world: bool = False) -> list[Row]:
    """Table tuples as Rows (a world first when `with_world`)."""
    if with_world:
        return [Row(*row[1:], world=row[0]) for row in table]
    return [Row(*row) for row in table]


def row_id(row: Row) -> str:
    """A readable test id: world/channel/actor/target/action/expected."""
    parts = ([] if row.world == "two" else [row.world]) + list(row[:5])
    return "|".join(parts).replace(" ", "_")


# -- the world: Acme with two of each role, and Globex next door ------------------

ROLE_OF = {
    "owner": "owner",
    "owner2": "owner",
    "admin": "admin",
    "admin2": "admin",
    "member": "member",
    "member2": "member",
}


@dataclass
class World:
    """Ids of Acme's people (by name), their Okta identities, and Globex."""

    app: Flask
    org: OrgInfo
    globex: OrgInfo
    ids: dict[str, int]
    emails: dict[str, str]
    identity_of: dict[int, int]  # user id -> id of their Okta identity

    def target(self, token: str, actor: str) -> int:
        """The user id a table's target means for this actor."""
        me = actor_person(actor)
        if token == "self":
            assert me is not None, f"{actor} has no self"
            return self.ids[me]
        if token not in ("owner", "admin", "member"):
            return self.ids[token]
        for name in (token, f"{token}2"):
            if name in self.ids and name != me:
                return self.ids[name]
        raise AssertionError(f"no {token} for {actor}")

    def email_of(self, user_id: int) -> str:
        """The email of one of Acme's people."""
        return next(e for n, e in self.emails.items() if self.ids[n] == user_id)


def build_world(app: Flask, shape: str = "two") -> World:
    """Acme (pro) with owner, owner2, admin, admin2, member, member2, and Globex.

    `shape` decides the owners: "two" active, "one" (no owner2), "one active"
    (owner2 inactive), "none" (no owner2 and the owner inactive). Every person
    has an Okta identity, so that unlinking has something to remove.
    """
    org = make_org(app, "Acme")
    ids = {"owner": org.owner_id}
    for name in ("owner2", "admin", "admin2", "member", "member2"):
        if name == "owner2" and shape in ("one", "none"):
            continue
        status = (
            "inactive" if (name == "owner2" and shape == "one active") else "active"
        )
        ids[name] = make_user(
            app, org.id, f"{name}@acme.test", role=ROLE_OF[name], status=status
        )
    if shape == "none":
        set_columns(app, org.owner_id, status="inactive")
    globex = make_org(app, "Globex")
    identity_of: dict[int, int] = {}
    with app.app_context():
        for user_id, org_id, issuer in [
            *((uid, org.id, "https://acme.okta.test") for uid in ids.values()),
            (globex.owner_id, globex.id, "https://globex.okta.test"),
        ]:
            identity = OktaIdentity(
                organization_id=org_id,
                user_id=user_id,
                protocol="oidc",
                issuer=issuer,
                subject=f"00u{user_id:017d}",
            )
            db.session.add(identity)
            db.session.flush()
            identity_of[user_id] = identity.id
        db.session.commit()
    emails = {name: f"{name}@acme.test" for name in ids}
    return World(app, org, globex, ids, emails, identity_of)


def actor_person(actor: str) -> str | None:
    """Which of Acme's people an actor token is (None: a key, the CLI, Globex)."""
    if actor in ROLE_OF:
        return actor
    if actor.startswith("personal:"):
        return actor.removeprefix("personal:")
    return None


def set_columns(app: Flask, user_id: int, **values: Any) -> None:
    """Change a user's columns directly in the database (setting up a case)."""
    with app.app_context():
        db.session.execute(db.update(User).where(User.id == user_id).values(**values))
        db.session.commit()


def key_for(world: World, actor: str) -> str:
    """The secret of the SCIM key an actor token stands for.

    A member's personal key is made while they are admin (members cannot create
    scim keys), then they are demoted: the key must act as a member from then on.
    """
    app = world.app
    if actor.startswith("personal:"):
        holder = world.ids[actor.removeprefix("personal:")]
        role = ROLE_OF[actor.removeprefix("personal:")]
        if role == "member":
            set_columns(app, holder, role="admin")
        secret = scim_key(app, world.org.id, user_id=holder)
        if role == "member":
            set_columns(app, holder, role="member")
        return secret
    if actor.startswith("org:"):
        return scim_key(app, world.org.id, role=actor.removeprefix("org:"))
    if actor == "globex:org:owner":
        return scim_key(app, world.globex.id, role="owner")
    if actor == "globex:personal:owner":
        return scim_key(app, world.globex.id, user_id=world.globex.owner_id)
    raise AssertionError(f"no key for {actor}")


def signed_in(world: World, actor: str) -> FlaskClient:
    """A client signed in as the actor (one of Acme's people, or Globex's owner)."""
    email = world.globex.owner_email if actor == "globex:owner" else world.emails[actor]
    client = world.app.test_client()
    response = sign_in(client, email)
    assert response.status_code == 302, response.text
    return client


def prepare(world: World, action: str, target: int) -> None:
    """Put the target in the state the action needs (inactive, locked out)."""
    app = world.app
    if action == "reactivate":
        set_columns(app, target, status="inactive")
    if action == "unlock":
        with app.app_context():
            limit = app.config["SIGNIN_MAX_FAILURES_PER_ACCOUNT"]
            key = account_key(world.email_of(target))
            db.session.add_all(SignInFailure(key=key) for _ in range(limit))
            db.session.commit()
            assert account_locked(world.email_of(target))


def audit_count(app: Flask, kind: str) -> int:
    """How many audit events of `kind` there are."""
    with app.app_context():
        return db.session.execute(
            db.select(db.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.kind == kind)
        ).scalar_one()


AUDIT_KIND = {
    "make_owner": "member.role_changed",
    "make_admin": "member.role_changed",
    "make_member": "member.role_changed",
    "deactivate": "member.deactivated",
    "reactivate": "member.reactivated",
    "remove_identity": "okta.identity_removed",
    "unlock": "member.unlocked",
}
SCIM_AUDIT_KIND = {
    "deactivate": "scim.user.deactivated",
    "reactivate": "scim.user.reactivated",
    "put_name": "scim.user.updated",
    "patch_name": "scim.user.updated",
    "put_email": "scim.user.updated",
    "patch_email": "scim.user.updated",
    "patch_username": "scim.user.updated",
    "delete": "scim.user.deleted",
    "adopt": "scim.user.adopted",
    "adopt_rename": "scim.user.adopted",
}


def assert_done(world: World, action: str, target: int, before: dict) -> None:
    """The action's change is in the database."""
    with world.app.app_context():
        user = db.session.get(User, target)
        if action == "delete":
            assert user is None
            return
        assert user is not None
        identities = db.session.execute(
            db.select(OktaIdentity.id).filter_by(user_id=target)
        ).all()
        locked = account_locked(user.email)
        state = {c.key: getattr(user, c.key) for c in User.__table__.columns}
    if action.startswith("make_"):
        assert state["role"] == action.removeprefix("make_")
    elif action == "deactivate":
        assert state["status"] == "inactive"
    elif action == "reactivate":
        assert state["status"] == "active"
    elif action == "remove_identity":
        assert identities == []
    elif action == "unlock":
        assert not locked
    elif action in ("put_name", "patch_name"):
        assert state["given_name"] == "Renamed"
        assert state["scim_managed"]
    elif action == "put_email":
        assert (state["email"], state["user_name"]) == (NEW_EMAIL, NEW_EMAIL)
        assert state["email_from_okta"]
    elif action == "patch_email":
        assert state["email"] == NEW_EMAIL
        assert state["user_name"] == before["user_name"]
    elif action == "patch_username":
        assert state["user_name"] == NEW_EMAIL
        assert state["email"] == before["email"]
    elif action == "adopt":
        assert state["given_name"] == "Adopted"
        assert state["scim_managed"] and not before["scim_managed"]
    elif action == "adopt_rename":
        assert (state["user_name"], state["email"]) == (NEW_EMAIL, before["email"])
        assert state["given_name"] == "Adopted"
        assert state["scim_managed"] and not before["scim_managed"]
    else:
        raise AssertionError(f"unknown action {action}")


# -- the channels -----------------------------------------------------------------


def ui_request(
    client: FlaskClient, world: World, action: str, target: int
) -> TestResponse:
    """POST the members-page form for `action` on `target`."""
    if action.startswith("make_"):
        role = action.removeprefix("make_")
        return client.post(f"/members/{target}/role", data={"role": role})
    if action in ("deactivate", "reactivate"):
        status = "inactive" if action == "deactivate" else "active"
        return client.post(f"/members/{target}/status", data={"status": status})
    if action == "remove_identity":
        identity = world.identity_of[target]
        return client.post(f"/members/{target}/identities/{identity}/remove")
    if action == "unlock":
        return client.post(f"/members/{target}/unlock")
    raise AssertionError(f"no page for {action}")


def flashes(client: FlaskClient) -> list[tuple[str, str]]:
    """The messages flashed to the client's session, not yet shown."""
    with client.session_transaction() as session:
        return [(str(kind), str(text)) for kind, text in session.get("_flashes", [])]


UI_REASON = {
    OWNER_ONLY: "Only an owner can",
    SELF: "You cannot change your own role or status.",
    LAST_OWNER: "is the organization's only active owner",
}


def check_ui(world: World, row: Row) -> None:
    """Run a members-page row and check its outcome."""
    client = signed_in(world, row.actor)
    target = world.target(row.target, row.actor)
    prepare(world, row.action, target)
    before_user = get_user(world.app, target)
    before = snapshot(world.app)
    kind = AUDIT_KIND[row.action]
    events = audit_count(world.app, kind)
    response = ui_request(client, world, row.action, target)
    if row.expected == ALLOW:
        assert response.status_code == 302, response.text
        assert response.location.endswith(f"/members/{target}")
        messages = flashes(client)
        assert [category for category, _ in messages] == ["success"], messages
        assert_done(world, row.action, target, before_user)
        assert audit_count(world.app, kind) == events + 1
        return
    if row.expected == MEMBERS_NOT:
        assert response.status_code == 403
    elif row.expected == NOT_FOUND:
        assert response.status_code == 404
    else:
        assert response.status_code == 302, response.text
        assert response.location.endswith(f"/members/{target}")
        messages = flashes(client)
        assert len(messages) == 1 and messages[0][0] == "error", messages
        assert UI_REASON[row.expected] in messages[0][1]
    assert snapshot(world.app) == before


def scim_call(
    client: FlaskClient, method: str, path: str, secret: str, body: Any = None
) -> TestResponse:
    """One SCIM request with a bearer key."""
    return ScimClient(client, secret).call(method, path, body)


def email_list(address: str) -> list[dict[str, Any]]:
    """SCIM emails with one primary work address."""
    return [{"value": address, "type": "work", "primary": True}]


def scim_request(
    client: FlaskClient, secret: str, action: str, user: dict[str, Any]
) -> TestResponse:
    """Send the SCIM request for `action` on `user` (its columns)."""
    path = f"/Users/{user['id']}"
    if action in ("deactivate", "reactivate"):
        active = action == "reactivate"
        body = patch({"op": "replace", "value": {"active": active}})
        return scim_call(client, "PATCH", path, secret, body)
    if action == "put_name":
        body = {
            "schemas": [USER_SCHEMA],
            "userName": user["user_name"],
            "name": {"givenName": "Renamed", "familyName": user["family_name"]},
            "emails": email_list(user["email"]),
        }
        return scim_call(client, "PUT", path, secret, body)
    if action == "patch_name":
        body = patch({"op": "replace", "path": "name.givenName", "value": "Renamed"})
        return scim_call(client, "PATCH", path, secret, body)
    if action == "put_email":
        body = {
            "schemas": [USER_SCHEMA],
            "userName": NEW_EMAIL,
            "name": {"givenName": user["given_name"], "familyName": ""},
            "emails": email_list(NEW_EMAIL),
        }
        return scim_call(client, "PUT", path, secret, body)
    if action == "patch_email":
        body = patch(
            {
                "op": "replace",
                "path": 'emails[type eq "work"].value',
                "value": NEW_EMAIL,
            }
        )
        return scim_call(client, "PATCH", path, secret, body)
    if action == "patch_username":
        body = patch({"op": "replace", "path": "userName", "value": NEW_EMAIL})
        return scim_call(client, "PATCH", path, secret, body)
    if action == "delete":
        return scim_call(client, "DELETE", path, secret)
    if action == "adopt":
        body = {
            "schemas": [USER_SCHEMA],
            "userName": user["user_name"],
            "name": {"givenName": "Adopted"},
            "emails": email_list(user["email"]),
            "active": True,
        }
        return scim_call(client, "POST", "/Users", secret, body)
    if action == "adopt_rename":
        body = {
            "schemas": [USER_SCHEMA],
            "userName": NEW_EMAIL,
            "name": {"givenName": "Adopted"},
            "emails": email_list(user["email"]),
            "active": True,
        }
        return scim_call(client, "POST", "/Users", secret, body)
    raise AssertionError(f"no SCIM request for {action}")


SCIM_ALLOWED_STATUS = {"delete": 204, "adopt": 201, "adopt_rename": 201}
SCIM_REFUSAL = {  # expected -> (status, words in the detail)
    OWNER_ONLY: (403, "only an owner-level key can"),
    SELF: (403, "You cannot change your own role or status."),
    MEMBERS_NOT: (403, "who is not an owner or admin"),
    LAST_OWNER: (409, "is the organization's only active owner"),
    NOT_FOUND: (404, "not found"),
}


def last_activity(app: Flask) -> ScimRequest:
    """The newest row of the provisioning activity log."""
    with app.app_context():
        row = db.session.execute(
            db.select(ScimRequest).order_by(ScimRequest.id.desc()).limit(1)
        ).scalar_one()
        db.session.expunge(row)
        return row


def check_scim(world: World, row: Row) -> None:
    """Run a SCIM row and check its outcome."""
    secret = key_for(world, row.actor)
    target = world.target(row.target, row.actor)
    prepare(world, row.action, target)
    user = get_user(world.app, target)
    before = snapshot(world.app, scim_writes=True)
    kind = SCIM_AUDIT_KIND[row.action]
    events = audit_count(world.app, kind)
    response = scim_request(world.app.test_client(), secret, row.action, user)
    if row.expected == ALLOW:
        status = SCIM_ALLOWED_STATUS.get(row.action, 200)
        assert response.status_code == status, response.text
        assert_done(world, row.action, target, user)
        assert audit_count(world.app, kind) == events + 1
        return
    status, words = SCIM_REFUSAL[row.expected]
    assert response.status_code == status, response.text
    assert response.mimetype == SCIM_JSON
    body = response.get_json(force=True)
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)
    assert words in body["detail"], body
    if row.expected == LAST_OWNER:
        assert "scimType" not in body
    assert snapshot(world.app, scim_writes=True) == before
    # The refusal, with its reason, is on the provisioning activity log.
    activity = last_activity(world.app)
    assert (activity.status, activity.detail) == (status, body["detail"])


def cli_args(action: str, org_name: str, email: str) -> list[str]:
    """The `flask member` command line for `action`."""
    if action.startswith("make_"):
        return ["member", "set-role", "--org", org_name, email, action[5:]]
    if action == "unlock":
        return ["member", "unlock", "--org", org_name, email]
    if action == "remove_identity":
        return ["member", "unlink", "--org", org_name, email]
    raise AssertionError(f"no command for {action}")


def check_cli(world: World, row: Row) -> None:
    """Run a command-line row and check its outcome."""
    target = world.target(row.target, row.actor)
    prepare(world, row.action, target)
    before_user = get_user(world.app, target)
    before = snapshot(world.app)
    kind = AUDIT_KIND[row.action]
    events = audit_count(world.app, kind)
    org_name = "Globex" if row.actor == "server:globex" else "Acme"
    args = cli_args(row.action, org_name, world.email_of(target))
    result = world.app.test_cli_runner().invoke(args=args)
    if row.expected == ALLOW:
        assert result.exit_code == 0, result.output
        assert_done(world, row.action, target, before_user)
        assert audit_count(world.app, kind) == events + 1
        return
    assert result.exit_code == 1, result.output
    reason = {
        LAST_OWNER: "is the organization's only active owner",
        NOT_FOUND: f"'Globex' has no member '{world.email_of(target)}'",
    }[row.expected]
    assert reason in result.output
    assert snapshot(world.app) == before


def run(app: Flask, row: Row) -> None:
    """Build the row's world and check the row through its channel."""
    world = build_world(app, row.world)
    {"ui": check_ui, "scim": check_scim, "cli": check_cli}[row.channel](world, row)


# -- the tests --------------------------------------------------------------------


@pytest.mark.parametrize("row", rows(MATRIX), ids=row_id)
def test_matrix(app: Flask, row: Row) -> None:
    """Every actor x target x action through the real page, command or endpoint."""
    run(app, row)


@pytest.mark.parametrize("row", rows(LAST_OWNER_MATRIX, with_world=True), ids=row_id)
def test_last_active_owner(app: Flask, row: Row) -> None:
    """No change leaves an organization without an active owner, whoever asks."""
    run(app, row)


@pytest.mark.parametrize("row", rows(TENANT_WALL), ids=row_id)
def test_tenant_wall(app: Flask, row: Row) -> None:
    """An actor of another organization finds nothing (404) and changes nothing."""
    run(app, row)


def test_two_owners_an_owner_key_removes_one_then_not_the_other(app: Flask) -> None:
    """The count is of the owners left: the second removal is the refused one."""
    world = build_world(app, "two")
    secret = key_for(world, "org:owner")
    client = app.test_client()
    first = get_user(app, world.ids["owner"])
    second = get_user(app, world.ids["owner2"])
    response = scim_request(client, secret, "deactivate", first)
    assert response.status_code == 200, response.text
    before = snapshot(app, scim_writes=True)
    for action in ("deactivate", "delete"):
        response = scim_request(client, secret, action, second)
        assert response.status_code == 409, response.text
        assert "only active owner" in response.get_json(force=True)["detail"]
    assert snapshot(app, scim_writes=True) == before
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["member", "set-role", "--org", "Acme", "owner2@acme.test", "admin"]
    )
    assert result.exit_code == 1 and "only active owner" in result.output
    assert get_user(app, world.ids["owner2"])["role"] == "owner"
    # Once someone else is an owner, the second may go.
    result = runner.invoke(
        args=["member", "set-role", "--org", "Acme", "admin@acme.test", "owner"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        args=["member", "set-role", "--org", "Acme", "owner2@acme.test", "admin"]
    )
    assert result.exit_code == 0, result.output
    assert get_user(app, world.ids["owner2"])["role"] == "admin"


def test_a_personal_key_acts_with_its_holders_role_and_status_now(app: Flask) -> None:
    """An owner's personal key loses owner authority when its holder is demoted,
    and stops when they are deactivated; nothing it was refused changed."""
    world = build_world(app)
    secret = key_for(world, "personal:owner")
    client = app.test_client()
    owner2 = get_user(app, world.ids["owner2"])
    result = app.test_cli_runner().invoke(
        args=["member", "set-role", "--org", "Acme", "owner@acme.test", "admin"]
    )
    assert result.exit_code == 0, result.output
    before = snapshot(app, scim_writes=True)
    response = scim_request(client, secret, "deactivate", owner2)
    assert response.status_code == 403, response.text
    detail = response.get_json(force=True)["detail"]
    assert "acts as admin" in detail and "owner-level key" in detail
    assert snapshot(app, scim_writes=True) == before
    member = get_user(app, world.ids["member"])
    assert scim_request(client, secret, "put_name", member).status_code == 200
    other = signed_in(world, "owner2")
    other.post(f"/members/{world.ids['owner']}/status", data={"status": "inactive"})
    assert get_user(app, world.ids["owner"])["status"] == "inactive"
    before = snapshot(app, scim_writes=True)
    member2 = get_user(app, world.ids["member2"])
    response = scim_request(client, secret, "put_name", member2)
    assert response.status_code == 401, response.text
    assert "deactivated member" in response.get_json(force=True)["detail"]
    assert snapshot(app, scim_writes=True) == before


def test_no_active_owner_left_the_cli_makes_one_who_can_sign_in_and_act(
    app: Flask,
) -> None:
    """With the only owner inactive, `flask member set-role` makes a new owner,
    and that owner's authority is real (they change another owner's role)."""
    world = build_world(app, "none")
    result = app.test_cli_runner().invoke(
        args=["member", "set-role", "--org", "Acme", "admin@acme.test", "owner"]
    )
    assert result.exit_code == 0, result.output
    assert "admin -> owner" in result.output
    client = signed_in(world, "admin")
    response = client.post(
        f"/members/{world.ids['owner']}/status", data={"status": "active"}
    )
    assert response.status_code == 302
    assert flashes(client)[0][0] == "success"
    assert get_user(app, world.ids["owner"])["status"] == "active"


def test_an_identity_is_removed_only_through_its_own_member(app: Flask) -> None:
    """An admin may unlink members, but not an owner's identity (or another
    organization's) by putting its id under a member's address: 404, kept."""
    world = build_world(app)
    client = signed_in(world, "admin")
    member = world.ids["member"]
    before = snapshot(app)
    for victim in (world.ids["owner"], world.ids["member2"], world.globex.owner_id):
        identity = world.identity_of[victim]
        response = client.post(f"/members/{member}/identities/{identity}/remove")
        assert response.status_code == 404
    assert snapshot(app) == before


def test_scim_post_never_adopts_another_organizations_account(app: Flask) -> None:
    """A Globex key POSTing the userName of an Acme account creates Globex's own
    account; Acme's account is not adopted, renamed or linked."""
    world = build_world(app)
    secret = key_for(world, "globex:org:owner")
    acme_member = get_user(app, world.ids["member"])
    before = snapshot(app, scim_writes=True)
    response = scim_request(app.test_client(), secret, "adopt", acme_member)
    assert response.status_code == 201, response.text
    created = int(response.get_json(force=True)["id"])
    assert created != acme_member["id"]
    new = get_user(app, created)
    assert new["organization_id"] == world.globex.id
    assert new["email"] == acme_member["email"]
    after = snapshot(app, scim_writes=True)
    assert [r for r in after["user"] if r[0] != created] == before["user"]


# -- the same rules at the decision: core.authority.refusal ------------------------
#
# Rows: (world, actor, target, ask, expected). Actors: "owner" / "admin" /
# "member" (signed in, Actor.of_user), "personal:<role>" (a personal key: its
# holder's role and id), "org:<role>" (an organization key), "server" (the
# command line), "globex:owner" / "globex:org:owner" (another organization).
# Asks: an action, with ":role" (change_role, add_member), ":status"
# (set_status) or ":field+field" (edit_profile). Target "-": none (add_member).

DECISIONS: list[tuple[str, str, str, str, str]] = [
    # Members manage nobody (not even themselves).
    ("two", "member", "-", "add_member:member", MEMBERS_NOT),
    ("two", "member", "member", "change_role:admin", MEMBERS_NOT),
    ("two", "member", "owner", "set_status:inactive", MEMBERS_NOT),
    ("two", "member", "admin", "send_link", MEMBERS_NOT),
    ("two", "member", "self", "remove_identity", MEMBERS_NOT),
    ("two", "member", "self", "edit_profile:given_name", MEMBERS_NOT),
    ("two", "personal:member", "member", "set_status:inactive", MEMBERS_NOT),
    # Adding people: only an owner adds an owner.
    ("two", "admin", "-", "add_member:admin", ALLOW),
    ("two", "admin", "-", "add_member:owner", OWNER_ONLY),
    ("two", "org:admin", "-", "add_member:owner", OWNER_ONLY),
    ("two", "owner", "-", "add_member:owner", ALLOW),
    ("two", "org:owner", "-", "add_member:owner", ALLOW),
    ("two", "server", "-", "add_member:owner", ALLOW),
    # An owner is changed only by an owner (an email link is no change).
    ("two", "admin", "owner", "change_role:admin", OWNER_ONLY),
    ("two", "admin", "owner", "change_role:member", OWNER_ONLY),
    ("two", "admin", "owner", "set_status:inactive", OWNER_ONLY),
    ("two", "admin", "owner", "set_status:active", OWNER_ONLY),
    ("two", "admin", "owner", "delete", OWNER_ONLY),
    ("two", "admin", "owner", "edit_profile:given_name", OWNER_ONLY),
    ("two", "admin", "owner", "adopt", OWNER_ONLY),
    ("two", "admin", "owner", "remove_identity", OWNER_ONLY),
    ("two", "admin", "owner", "unlock", OWNER_ONLY),
    ("two", "admin", "owner", "send_link", ALLOW),
    ("two", "org:admin", "owner", "change_role:admin", OWNER_ONLY),
    ("two", "org:admin", "owner", "set_status:inactive", OWNER_ONLY),
    ("two", "org:admin", "owner", "set_status:active", OWNER_ONLY),
    ("two", "org:admin", "owner", "delete", OWNER_ONLY),
    ("two", "org:admin", "owner", "edit_profile:display_name", OWNER_ONLY),
    ("two", "org:admin", "owner", "adopt", OWNER_ONLY),
    ("two", "org:admin", "owner", "remove_identity", OWNER_ONLY),
    ("two", "org:admin", "owner", "unlock", OWNER_ONLY),
    ("two", "personal:admin", "owner", "set_status:inactive", OWNER_ONLY),
    ("two", "personal:admin", "owner", "edit_profile:given_name", OWNER_ONLY),
    ("two", "owner", "owner", "change_role:admin", ALLOW),
    ("two", "owner", "owner", "set_status:inactive", ALLOW),
    ("two", "owner", "owner", "delete", ALLOW),
    ("two", "owner", "owner", "edit_profile:email+user_name", ALLOW),
    ("two", "owner", "owner", "remove_identity", ALLOW),
    ("two", "owner", "owner", "unlock", ALLOW),
    ("two", "personal:owner", "owner", "set_status:inactive", ALLOW),
    ("two", "personal:owner", "owner", "edit_profile:email", ALLOW),
    ("two", "org:owner", "owner", "change_role:member", ALLOW),
    ("two", "org:owner", "owner", "set_status:inactive", ALLOW),
    ("two", "org:owner", "owner", "delete", ALLOW),
    ("two", "org:owner", "owner", "edit_profile:user_name", ALLOW),
    ("two", "org:owner", "owner", "adopt", ALLOW),
    ("two", "org:owner", "owner", "remove_identity", ALLOW),
    ("two", "server", "owner", "change_role:admin", ALLOW),
    ("two", "server", "owner", "remove_identity", ALLOW),
    ("two", "server", "owner", "unlock", ALLOW),
    # Only an owner makes an owner.
    ("two", "admin", "member", "change_role:owner", OWNER_ONLY),
    ("two", "admin", "admin", "change_role:owner", OWNER_ONLY),
    ("two", "org:admin", "admin", "change_role:owner", OWNER_ONLY),
    ("two", "personal:admin", "member", "change_role:owner", OWNER_ONLY),
    ("two", "owner", "member", "change_role:owner", ALLOW),
    ("two", "org:owner", "admin", "change_role:owner", ALLOW),
    ("two", "server", "member", "change_role:owner", ALLOW),
    # An admin's email and userName (what Okta sign-in matches) need an owner.
    ("two", "admin", "admin", "edit_profile:email", OWNER_ONLY),
    ("two", "admin", "admin", "edit_profile:user_name", OWNER_ONLY),
    ("two", "admin", "admin", "edit_profile:given_name+family_name", ALLOW),
    ("two", "admin", "member", "edit_profile:email+user_name", ALLOW),
    ("two", "org:admin", "admin", "edit_profile:user_name", OWNER_ONLY),
    ("two", "org:admin", "admin", "edit_profile:display_name", ALLOW),
    ("two", "org:admin", "member", "edit_profile:email", ALLOW),
    ("two", "org:owner", "admin", "edit_profile:email", ALLOW),
    ("two", "personal:admin", "self", "edit_profile:email", OWNER_ONLY),
    ("two", "personal:owner", "self", "edit_profile:email", ALLOW),
    # Admins manage admins and members.
    ("two", "admin", "admin", "change_role:member", ALLOW),
    ("two", "admin", "admin", "set_status:inactive", ALLOW),
    ("two", "admin", "admin", "delete", ALLOW),
    ("two", "admin", "admin", "remove_identity", OWNER_ONLY),
    ("two", "org:admin", "admin", "remove_identity", OWNER_ONLY),
    ("two", "admin", "member", "change_role:admin", ALLOW),
    ("two", "admin", "member", "unlock", ALLOW),
    ("two", "org:admin", "admin", "set_status:inactive", ALLOW),
    ("two", "org:admin", "member", "delete", ALLOW),
    ("two", "org:admin", "member", "adopt", ALLOW),
    # Nobody changes their own role or status (their profile, yes).
    ("two", "owner", "self", "change_role:admin", SELF),
    ("two", "owner", "self", "set_status:inactive", SELF),
    ("two", "owner", "self", "delete", SELF),
    ("two", "owner", "self", "edit_profile:email", ALLOW),
    ("two", "owner", "self", "remove_identity", ALLOW),
    ("two", "owner", "self", "unlock", ALLOW),
    ("two", "owner", "self", "send_link", ALLOW),
    ("two", "admin", "self", "change_role:owner", SELF),
    ("two", "admin", "self", "set_status:inactive", SELF),
    ("two", "personal:admin", "self", "delete", SELF),
    ("two", "personal:owner", "self", "set_status:inactive", SELF),
    # The last active owner stays, whoever asks (authority is checked first).
    ("one", "org:owner", "owner", "set_status:inactive", LAST_OWNER),
    ("one", "org:owner", "owner", "delete", LAST_OWNER),
    ("one", "org:owner", "owner", "change_role:admin", LAST_OWNER),
    ("one", "org:owner", "owner", "edit_profile:email+user_name", ALLOW),
    ("one", "server", "owner", "change_role:member", LAST_OWNER),
    ("one", "server", "owner", "set_status:inactive", LAST_OWNER),
    ("one", "server", "owner", "delete", LAST_OWNER),
    ("one", "server", "owner", "change_role:owner", ALLOW),
    ("one", "server", "admin", "change_role:owner", ALLOW),
    ("one", "admin", "owner", "set_status:inactive", OWNER_ONLY),
    ("one", "org:admin", "owner", "delete", OWNER_ONLY),
    ("one", "personal:owner", "self", "set_status:inactive", SELF),
    ("one active", "org:owner", "owner", "set_status:inactive", LAST_OWNER),
    ("one active", "server", "owner", "change_role:admin", LAST_OWNER),
    ("one active", "org:owner", "owner2", "delete", ALLOW),
    ("one active", "org:owner", "owner2", "set_status:active", ALLOW),
    ("two", "server", "owner", "change_role:member", ALLOW),
    ("none", "server", "admin", "change_role:owner", ALLOW),
    ("none", "server", "owner", "change_role:member", ALLOW),
    ("none", "org:owner", "owner", "set_status:active", ALLOW),
    ("none", "admin", "owner", "set_status:active", OWNER_ONLY),
    # The tenant wall: even an owner (or owner key) of Globex touches nothing.
    ("two", "globex:owner", "owner", "change_role:admin", WALL),
    ("two", "globex:owner", "member", "set_status:inactive", WALL),
    ("two", "globex:owner", "member", "delete", WALL),
    ("two", "globex:owner", "member", "remove_identity", WALL),
    ("two", "globex:owner", "member", "unlock", WALL),
    ("two", "globex:owner", "member", "send_link", WALL),
    ("two", "globex:org:owner", "admin", "edit_profile:given_name", WALL),
    ("two", "globex:org:owner", "member", "delete", WALL),
    ("two", "server", "member", "delete", ALLOW),
]


def decision_actor(world: World, token: str) -> Actor:
    """The Actor a DECISIONS actor token stands for (inside an app context)."""
    if token in ROLE_OF:
        user = db.session.get(User, world.ids[token])
        assert user is not None
        return Actor.of_user(user)
    if token.startswith("personal:"):
        holder = db.session.get(User, world.ids[token.removeprefix("personal:")])
        assert holder is not None
        return Actor("key", holder.role, holder.organization_id, holder.id, "key")
    if token.startswith("org:"):
        return Actor("key", token.removeprefix("org:"), world.org.id, None, "key")
    if token == "server":
        return Actor.command_line()
    if token == "globex:owner":
        owner = db.session.get(User, world.globex.owner_id)
        assert owner is not None
        return Actor.of_user(owner)
    if token == "globex:org:owner":
        return Actor("key", "owner", world.globex.id, None, "key")
    raise AssertionError(f"no actor {token}")


def parse_ask(ask: str) -> tuple[authority.Action, dict[str, Any]]:
    """An ask of the DECISIONS table as (action, keyword arguments of refusal)."""
    name, _, argument = ask.partition(":")
    action = cast(authority.Action, name)
    if action in ("change_role", "add_member"):
        return action, {"role": argument}
    if action == "set_status":
        return action, {"status": argument}
    if action == "edit_profile":
        return action, {"fields": frozenset(argument.split("+"))}
    return action, {}


def expected_refusal(expected: str, actor: str, action: str) -> tuple[type, str]:
    """The exception class and words `refusal` should answer with."""
    if expected == OWNER_ONLY:
        if action == "add_member":
            return NotAllowed, "Only an owner can add another owner."
        if "org:" in actor or actor.startswith("personal:"):
            return NotAllowed, "only an owner-level key can"
        return NotAllowed, "Only an owner can"
    return {
        MEMBERS_NOT: (NotAllowed, "Only owners and admins can manage members."),
        SELF: (NotAllowed, "You cannot change your own role or status."),
        LAST_OWNER: (NoOwnerLeft, "is the organization's only active owner"),
        WALL: (NotAllowed, "That person is not in your organization."),
    }[expected]


@pytest.mark.parametrize(
    "decision", DECISIONS, ids=lambda d: "|".join(d).replace(" ", "_")
)
def test_refusal(app: Flask, decision: tuple[str, str, str, str, str]) -> None:
    """core.authority.refusal answers the table (and check raises the same)."""
    shape, actor_token, target_token, ask, expected = decision
    world = build_world(app, shape)
    action, options = parse_ask(ask)
    with app.app_context():
        actor = decision_actor(world, actor_token)
        target = None
        if target_token != "-":
            target_id = world.target(target_token, actor_token)
            target = db.session.get(User, target_id)
        problem = authority.refusal(actor, action, target, **options)
        if expected == ALLOW:
            assert problem is None, problem
            authority.check(actor, action, target, **options)
            return
        cls, words = expected_refusal(expected, actor_token, action)
        assert type(problem) is cls, problem
        assert words in str(problem)
        with pytest.raises(cls, match=".") as raised:
            authority.check(actor, action, target, **options)
        assert str(raised.value) == str(problem)


def test_an_organization_key_never_reactivates_the_admin_who_made_it(
    app: Flask,
) -> None:
    """A deactivated admin cannot lift themselves back in with their own org key."""
    world = build_world(app, "two")
    maker = world.ids["admin"]
    with app.app_context():
        org = db.session.get(User, maker).organization
        _key, secret = authority_key(org, db.session.get(User, maker))
    owner = signed_in(world, "owner")
    owner.post(f"/members/{maker}/status", data={"status": "inactive"})
    assert get_user(app, maker)["status"] == "inactive"
    client = app.test_client()
    before = snapshot(app, scim_writes=True)
    response = scim_call(
        client,
        "PATCH",
        f"/Users/{maker}",
        secret,
        patch({"op": "replace", "path": "active", "value": True}),
    )
    assert response.status_code == 403, response.text
    assert "made by the person" in response.get_json(force=True)["detail"]
    assert snapshot(app, scim_writes=True) == before
    # The key still works for everyone else (a service credential), e.g. the
    # other admin's name.
    other = get_user(app, world.ids["admin2"])
    response = scim_call(
        client,
        "PATCH",
        f"/Users/{other['id']}",
        secret,
        patch({"op": "replace", "path": "name.givenName", "value": "Ada"}),
    )
    assert response.status_code == 200, response.text


def test_an_admin_level_key_cannot_change_an_admins_external_id(app: Flask) -> None:
    """The externalId holds the Okta user id an OIDC sign-in is matched on.

    Okta setting it the first time (creating or adopting) is allowed; changing
    or clearing an admin's needs an owner-level key.
    """
    world = build_world(app, "two")
    secret = key_for(world, "org:admin")
    target = world.ids["admin2"]
    client = app.test_client()
    first = patch(
        {"op": "replace", "path": "externalId", "value": "00uAAAAAAAAAAAAAAAAA"}
    )
    response = scim_call(client, "PATCH", f"/Users/{target}", secret, first)
    assert response.status_code == 200, response.text
    before = snapshot(app, scim_writes=True)
    for operation in (
        {"op": "replace", "path": "externalId", "value": "00uBBBBBBBBBBBBBBBBB"},
        {"op": "remove", "path": "externalId"},
    ):
        response = scim_call(
            client, "PATCH", f"/Users/{target}", secret, patch(operation)
        )
        assert response.status_code == 403, response.text
        assert "owner-level key" in response.get_json(force=True)["detail"]
    assert snapshot(app, scim_writes=True) == before
    assert get_user(app, target)["external_id"] == "00uAAAAAAAAAAAAAAAAA"


def authority_key(org: Any, maker: User) -> tuple[Any, str]:
    """An admin-level organization key made by `maker` (scim sync on)."""
    organizations.set_scim_sync(org, True, actor="cli")
    return api_keys.create_api_key(
        org, name="made by admin", scopes=["scim"], actor=maker, role="admin"
    )
