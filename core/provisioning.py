"""The one place that creates and changes organizations, users and API keys.

Pages, the CLI, SCIM and SSO sign-in all call these functions, so the rules
(uniqueness, who may change whom, what deactivation revokes) live once.
Functions that change data add to the session; the caller commits, except where
a docstring says otherwise.
"""

from __future__ import annotations

import email_validator
from email_validator import EmailNotValidError
from email_validator import validate_email
from sqlalchemy.exc import IntegrityError

from core import audit
from core import authority
from core import first_run
from core import key_check
from core import throttle
from core.authority import AccountError
from core.authority import Actor
from core.authority import Conflict
from core.extensions import db
from core.models import PLANS
from core.models import ROLES
from core.models import ApiKey
from core.models import Group
from core.models import GroupMember
from core.models import LinkToken
from core.models import OktaIdentity
from core.models import Organization
from core.models import SsoConfig
from core.models import User
from core.models import email_fold
from core.models import fold
from core.models import parse_row_id
from core.models import unsafe_characters
from core.models import utcnow
from core.security import SCOPES
from core.security import hash_password
from core.security import hash_token
from core.security import new_api_key_secret
from core.security import password_problem
from core.sessions import revoke_all_sessions

# Company directories (and so Okta userNames) use internal domains such as
# corp.local; email-validator refuses those by default, and its docs invite
# changing this list. Still refused: "arpa", "invalid", "onion".
email_validator.SPECIAL_USE_DOMAIN_NAMES = [
    name
    for name in email_validator.SPECIAL_USE_DOMAIN_NAMES
    if name not in ("local", "localhost", "test")
]

__all__ = ["AccountError", "Actor", "Conflict"]


# -- organizations -----------------------------------------------------------


def find_organization(name: str) -> Organization | None:
    """The organization called `name`, compared case-insensitively."""
    return db.session.execute(
        db.select(Organization).filter_by(name_key=fold(name))
    ).scalar_one_or_none()


def organization_name_problem(name: str) -> str | None:
    """Say what is wrong with an organization name, or None."""
    name = name.strip()
    if not name:
        return "Enter the organization's name."
    if len(name) > 100:
        return "Use at most 100 characters."
    if unsafe_characters(name):
        return "The name cannot contain control or line-separator characters."
    return None


def create_organization(
    name: str,
    *,
    owner_email: str,
    owner_password: str,
    plan: str = "free",
    owner_given_name: str = "",
    owner_family_name: str = "",
) -> tuple[Organization, User]:
    """Create an organization with its first owner, and commit.

    :raise AccountError: on a bad name, email, password or plan, or a taken name.
    """
    problem = organization_name_problem(name)
    if problem:
        raise AccountError(problem)
    if plan not in PLANS:
        raise AccountError(f"Plan must be one of {', '.join(PLANS)}.")
    problem = password_problem(owner_password)
    if problem:
        raise AccountError(f"Password: {problem}")
    email = normalize_email(owner_email)
    for label, value in (
        ("Given name", owner_given_name),
        ("Family name", owner_family_name),
    ):
        problem = person_name_problem(value)
        if problem:
            raise AccountError(f"{label}: {problem}")
    if find_organization(name) is not None:
        raise AccountError(f"An organization named {name.strip()!r} already exists.")
    org = Organization(name=name.strip(), name_key=fold(name), plan=plan)
    db.session.add(org)
    owner = new_user(
        org,
        email=email,
        given_name=owner_given_name,
        family_name=owner_family_name,
        role="owner",
        password=owner_password,
    )
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise AccountError(
            f"An organization named {name.strip()!r} already exists."
        ) from exc
    # The first organization makes an install: from now on, setup is over and
    # this node's SECRET_KEY is the one the install's other nodes must share.
    first_run.forget_setup_code()
    key_check.record()
    return org, owner


def person_name_problem(name: str) -> str | None:
    """Say what is wrong with a given or family name (may be empty), or None."""
    if len(name.strip()) > 200:
        return "Use at most 200 characters."
    if unsafe_characters(name):
        return "A name cannot contain control or line-separator characters."
    return None


def organization_summaries() -> list[tuple[str, str, int]]:
    """(name, plan, number of users) for every organization, by name."""
    rows = db.session.execute(
        db.select(Organization.name, Organization.plan, db.func.count(User.id))
        .outerjoin(User, User.organization_id == Organization.id)
        .group_by(Organization.id)
        .order_by(Organization.name_key)
    )
    return [(name, plan, count) for name, plan, count in rows]


# -- users -------------------------------------------------------------------


def normalize_email(email: str) -> str:
    """Check an email's syntax and return it trimmed, otherwise as it was sent.

    Case is kept ("Ada@Example.com" stays so): what Okta or a person typed is
    what Gatehouse shows and returns. Comparisons and uniqueness use the
    `email_key` (`core.models.email_fold`), never the stored text.
    :raise AccountError: if it is not a valid address.
    """
    email = email.strip()
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise AccountError(f"{email or 'That'} is not a valid email address.") from exc
    return email


def find_user_by_email(org: Organization | int, email: str) -> User | None:
    """The user of `org` with this email, compared case-insensitively."""
    org_id = org.id if isinstance(org, Organization) else org
    return db.session.execute(
        db.select(User).filter_by(organization_id=org_id, email_key=email_fold(email))
    ).scalar_one_or_none()


def new_user(
    org: Organization | int,
    *,
    email: str,
    given_name: str = "",
    family_name: str = "",
    display_name: str = "",
    role: str = "member",
    password: str | None = None,
    source: str = "local",
    user_name: str | None = None,
) -> User:
    """Add a user to `org` (not committed). `email` must already be normalized.

    `user_name` (SCIM userName) defaults to the email. For `source` "scim" and
    "sso" the email is Okta's (`email_from_okta`).
    """
    if role not in ROLES:
        raise AccountError(f"Role must be one of {', '.join(ROLES)}.")
    user = User(
        email=email,
        email_key=email_fold(email),
        user_name=user_name or email,
        user_name_key=fold(user_name or email),
        given_name=given_name.strip(),
        family_name=family_name.strip(),
        display_name=display_name.strip(),
        role=role,
        status="active",
        source=source,
        email_from_okta=source in ("scim", "sso"),
        password_hash=hash_password(password) if password else None,
    )
    if isinstance(org, Organization):
        user.organization = org
    else:
        user.organization_id = org
    user.refresh_name_key()
    db.session.add(user)
    return user


def add_member(
    org: Organization,
    *,
    actor: User,
    email: str,
    given_name: str,
    family_name: str,
    role: str,
    password: str | None,
) -> User:
    """Add a member from the members page, audit it, and commit.

    :raise AccountError: on a bad email or password, a role the actor may not
        grant, or an email already in the organization.
    """
    email = normalize_email(email)
    if role not in ROLES:
        raise AccountError(f"Role must be one of {', '.join(ROLES)}.")
    if unsafe_characters(given_name) or unsafe_characters(family_name):
        raise AccountError("Names cannot contain control or line-separator characters.")
    authority.check(Actor.of_user(actor), "add_member", role=role)
    if password:
        problem = password_problem(password)
        if problem:
            raise AccountError(f"Password: {problem}")
    if find_user_by_email(org, email) is not None:
        raise AccountError(f"{email} is already a member of this organization.")
    user = new_user(
        org,
        email=email,
        given_name=given_name,
        family_name=family_name,
        role=role,
        password=password or None,
    )
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise AccountError(
            f"{email} is already a member of this organization."
        ) from exc
    audit.record("member.added", org, actor=actor, target=email, role=role)
    db.session.commit()
    return user


def _as_actor(actor: Actor | User) -> Actor:
    return actor if isinstance(actor, Actor) else Actor.of_user(actor)


def change_role(actor: Actor | User, user: User, role: str) -> None:
    """Give `user` a new role on `actor`'s authority, audit it, and commit.

    :raise AccountError: if the actor may not make this change (see core.authority).
    """
    if role not in ROLES:
        raise AccountError(f"Role must be one of {', '.join(ROLES)}.")
    if user.role == role:
        return
    actor = _as_actor(actor)
    authority.check(actor, "change_role", user, role=role)
    before, user.role = user.role, role
    audit.record(
        "member.role_changed",
        user.organization_id,
        actor=actor,
        target=user.email,
        before=before,
        after=role,
    )
    db.session.commit()


def deactivate_user(user: User) -> None:
    """Mark `user` inactive and end every session of theirs at once.

    Their personal API keys stop working too (SCIM authentication checks the
    holder's status at each request). Not committed.
    """
    user.status = "inactive"
    revoke_all_sessions(user)


def reactivate_user(user: User) -> None:
    """Mark `user` active again. Old sessions stay revoked. Not committed."""
    user.status = "active"


def set_status(actor: Actor | User, user: User, status: str) -> None:
    """Deactivate or reactivate `user` on `actor`'s authority, audit, commit.

    :raise AccountError: if the actor may not make this change.
    """
    if status not in ("active", "inactive"):
        raise AccountError("Status must be active or inactive.")
    if status == user.status:
        return
    actor = _as_actor(actor)
    authority.check(actor, "set_status", user, status=status)
    if status == "inactive":
        deactivate_user(user)
    else:
        reactivate_user(user)
    audit.record(
        "member.deactivated" if status == "inactive" else "member.reactivated",
        user.organization_id,
        actor=actor,
        target=user.email,
    )
    db.session.commit()


def remove_identity(actor: Actor | User, identity: OktaIdentity) -> None:
    """Unlink one Okta identity from its member, audit, commit.

    Owners' identities only by owners. The member's sessions are left alone:
    the link decides future Okta sign-ins only.
    :raise AccountError: if the actor may not.
    """
    user = db.session.get(User, identity.user_id)
    assert user is not None
    _remove_identities(_as_actor(actor), user, [identity])


def remove_all_identities(actor: Actor | User, user: User) -> int:
    """Unlink every Okta identity of `user`, audit, commit; return how many."""
    rows = list(
        db.session.execute(db.select(OktaIdentity).filter_by(user_id=user.id)).scalars()
    )
    _remove_identities(_as_actor(actor), user, rows)
    return len(rows)


def _remove_identities(
    actor: Actor, user: User, identities: list[OktaIdentity]
) -> None:
    authority.check(actor, "remove_identity", user)
    for identity in identities:
        audit.record(
            "okta.identity_removed",
            user.organization_id,
            actor=actor,
            target=user.email,
            protocol=identity.protocol,
            issuer=identity.issuer,
            subject=identity.subject,
        )
        db.session.delete(identity)
    db.session.commit()


def unlock(actor: Actor | User, user: User) -> int:
    """Clear the password sign-in lockout of `user`'s email, audit, commit.

    Returns how many recorded failures were forgotten.
    :raise AccountError: if the actor may not (an owner's only by owners).
    """
    actor = _as_actor(actor)
    authority.check(actor, "unlock", user)
    if not actor.is_server and email_in_other_organizations(user):
        # The lockout guards the email across organizations: one
        # organization's admin must not lift it for another's account.
        raise authority.NotAllowed(
            f"{user.email} also has an account in another organization on this "
            "server, so only the server administrator can unlock it "
            "(flask member unlock)."
        )
    cleared = throttle.clear_account(user.email, commit=False)
    audit.record(
        "member.unlocked",
        user.organization_id,
        actor=actor,
        target=user.email,
        failures_cleared=cleared,
    )
    db.session.commit()
    return cleared


def email_in_other_organizations(user: User) -> bool:
    """Whether another organization has an account with `user`'s email."""
    return (
        db.session.execute(
            db.select(User.id).where(
                User.email_key == user.email_key,
                User.organization_id != user.organization_id,
            )
        ).first()
        is not None
    )


def end_link_tokens(user: User) -> None:
    """Void every pending emailed link of `user` (not committed).

    After an email change a link sent to the old address must not bind an
    Okta account to the account any more.
    """
    db.session.execute(
        db.update(LinkToken)
        .where(LinkToken.user_id == user.id, LinkToken.used_at.is_(None))
        .values(used_at=utcnow())
    )


# -- API keys ----------------------------------------------------------------


def create_api_key(
    org: Organization,
    *,
    name: str,
    scopes: list[str],
    user: User | None = None,
    actor: User | str,
    role: str | None = None,
) -> tuple[ApiKey, str]:
    """Create an organization key (no `user`) or a personal key, audit, commit.

    A personal key belongs to `actor` (the signed-in person); an organization
    key acts with `role` ("admin" by default, or "owner"), never above its
    creator's role.
    `actor` "cli" is the server administrator. Returns the key and its secret;
    the secret exists nowhere else afterwards.
    :raise AccountError: on an empty name, an unknown scope, or a key the actor
        may not create (core.authority).
    """
    name = name.strip()
    if not name or len(name) > 100:
        raise AccountError("Give the key a name of 1 to 100 characters.")
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise AccountError(f"Scopes must be chosen from: {', '.join(SCOPES)}.")
    if user is None and role is None:
        role = "admin"  # the least an organization key for SCIM can act as
    who = Actor.of_user(actor) if isinstance(actor, User) else Actor.command_line()
    if user is not None and isinstance(actor, User) and user.id != actor.id:
        raise AccountError("A personal key can only be created by its holder.")
    if who.organization_id not in (None, org.id):
        raise AccountError("That organization is not yours.")
    problem = authority.key_creation_problem(
        Actor.of_user(user) if user is not None else who,
        scopes=list(scopes),
        personal=user is not None,
        role=role,
    )
    if problem:
        raise authority.NotAllowed(problem)
    secret = new_api_key_secret()
    key = ApiKey(
        organization=org,
        user=user,
        created_by_id=actor.id if isinstance(actor, User) else None,
        created_by_label=actor.email if isinstance(actor, User) else "command line",
        role=None if user is not None else role,
        name=name,
        prefix=secret[:10],
        secret_hash=hash_token(secret),
        scopes=" ".join(sorted(set(scopes))),
    )
    db.session.add(key)
    audit.record(
        "api_key.created",
        org,
        actor=actor,
        target=f"{name} ({key.prefix}…)",
        key_kind="personal" if user else "organization",
        scopes=key.scopes,
        **({"acts_as": role} if user is None else {}),
    )
    db.session.commit()
    return key, secret


def revoke_api_key(key: ApiKey, *, actor: User) -> None:
    """Revoke a key for good, audit, commit."""
    if key.revoked_at is not None:
        return
    key.revoked_at = utcnow()
    audit.record(
        "api_key.revoked",
        key.organization_id,
        actor=actor,
        target=f"{key.name} ({key.prefix}…)",
    )
    db.session.commit()


def audit_cli(kind: str, org: Organization, **details: object) -> None:
    """Record an event done from the command line, and commit."""
    target = str(details.pop("target", ""))
    audit.record(kind, org, actor="cli", target=target, **details)
    db.session.commit()


def rename_organization(org: Organization, name: str, *, actor: User | str) -> None:
    """Rename `org`, audit, commit.

    :raise AccountError: on a bad name or one another organization has.
    """
    problem = organization_name_problem(name)
    if problem:
        raise AccountError(problem)
    other = find_organization(name)
    if other is not None and other.id != org.id:
        raise AccountError(f"An organization named {name.strip()!r} already exists.")
    before = org.name
    org.name, org.name_key = name.strip(), fold(name)
    audit.record(
        "organization.renamed", org, actor=actor, before=before, after=org.name
    )
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise AccountError(
            f"An organization named {name.strip()!r} already exists."
        ) from exc


# -- SCIM and SSO provisioning --------------------------------------------------


PROFILE_FIELDS = (
    "user_name",
    "email",
    "email_primary",
    "given_name",
    "family_name",
    "display_name",
    "external_id",
    "active",
)


def sso_config_for(org: Organization) -> SsoConfig:
    """The organization's SSO configuration row, created (not committed) if absent."""
    if org.sso_config is None:
        org.sso_config = SsoConfig(provider="none")
        db.session.add(org.sso_config)
    return org.sso_config


def set_scim_sync(org: Organization, enabled: bool, *, actor: User | str) -> None:
    """Switch SCIM provisioning on or off for `org`, audit, commit."""
    config = sso_config_for(org)
    if config.scim_enabled == enabled:
        return
    config.scim_enabled = enabled
    audit.record(
        "settings.scim_sync", org, actor=actor, before=not enabled, after=enabled
    )
    db.session.commit()


def default_role(org: Organization) -> str:
    """Role given to people Okta creates: the SSO setting, else member."""
    config = org.sso_config
    return config.default_role if config is not None else "member"


def find_user_by_user_name(org_id: int, user_name: str) -> User | None:
    """The user of the organization with this SCIM userName (case-insensitive)."""
    return db.session.execute(
        db.select(User).filter_by(organization_id=org_id, user_name_key=fold(user_name))
    ).scalar_one_or_none()


def plan_profile(user: User, values: dict[str, object]) -> dict[str, list[object]]:
    """What applying `values` to `user` would change: {field: [before, after]}.

    Keys missing from `values` are left alone; so are userName and email sent
    as None (they are required). Changes nothing.
    :raise Conflict: if the userName or email belongs to another account.
    """
    changes: dict[str, list[object]] = {}
    for field in PROFILE_FIELDS:
        if field not in values:
            continue
        after = values[field]
        if field == "active":
            if after is not None and bool(after) != user.is_active:
                changes["active"] = [user.is_active, bool(after)]
            continue
        if field in ("user_name", "email") and after is None:
            continue
        if field in ("given_name", "family_name", "display_name"):
            after = after or ""
        before = getattr(user, field)
        if before == after:
            continue
        if field == "user_name":
            other = find_user_by_user_name(user.organization_id, str(after))
            if other is not None and other.id != user.id:
                raise Conflict(
                    f"userName {after} is already taken in this organization."
                )
        if field == "email":
            other = find_user_by_email(user.organization_id, str(after))
            if other is not None and other.id != user.id:
                raise Conflict(f"email {after} is already used by another member.")
        changes[field] = [before, after]
    return changes


def check_profile_change(
    actor: Actor, user: User, changes: dict[str, list[object]]
) -> None:
    """Ask core.authority whether `actor` may make these profile changes.

    :raise AccountError: if not (an admin-level key changing an owner, the
        last active owner deactivated, ...).
    """
    if not changes:
        return
    fields = set(changes) - {"active"}
    if "external_id" in changes and not changes["external_id"][0]:
        # Okta setting the externalId for the first time (creating or adopting)
        # is not a change of identity; changing or clearing one is.
        fields.discard("external_id")
        fields.add(authority.FIRST_EXTERNAL_ID)
    if fields:
        authority.check(actor, "edit_profile", user, fields=fields)
    if "active" in changes:
        status = "active" if changes["active"][1] else "inactive"
        authority.check(actor, "set_status", user, status=status)


def apply_profile(user: User, changes: dict[str, list[object]]) -> None:
    """Apply changes planned by `plan_profile` (not committed).

    `active` False deactivates (all sessions end), True reactivates. An email
    set here comes from Okta; it ends the account's pending emailed links.
    """
    for field, (_before, after) in changes.items():
        if field == "active":
            (reactivate_user if after else deactivate_user)(user)
            continue
        setattr(user, field, after)
        if field == "user_name":
            user.user_name_key = fold(str(after))
        if field == "email":
            user.email_key = email_fold(str(after))
            user.email_from_okta = True
            end_link_tokens(user)
    if changes.keys() & {"given_name", "family_name", "display_name"}:
        user.refresh_name_key()


def scim_update_user(
    actor: Actor, user: User, values: dict[str, object]
) -> dict[str, list[object]]:
    """Apply SCIM profile values to `user` on `actor`'s authority; return changes.

    Not committed.
    :raise Conflict: if the userName or email belongs to another account.
    :raise AccountError: if the actor may not make the change.
    """
    changes = plan_profile(user, values)
    if not user.scim_managed:
        changes["scim_managed"] = [False, True]
    check_profile_change(actor, user, changes)
    if "scim_managed" in changes:
        user.scim_managed = True
    apply_profile(user, {k: v for k, v in changes.items() if k != "scim_managed"})
    return changes


def scim_create_user(
    actor: Actor, org_id: int, role: str, values: dict[str, object]
) -> tuple[User, bool, dict[str, list[object]]]:
    """Create a user for SCIM, or adopt the existing account Okta means.

    An account with the same userName (or, failing that, the same email) that is
    not yet SCIM-managed is adopted: linked to SCIM and given Okta's values. That
    is what lets a team turn provisioning on after people already use the app.
    Adopting changes the account, so it asks core.authority like an update.
    Returns (user, adopted, changes). Not committed.
    :raise Conflict: when the account is already SCIM-managed (a true duplicate).
    :raise AccountError: when the actor may not change the adopted account.
    """
    user_name = str(values["user_name"])
    email = values.get("email")
    # One query for both, of ids only (usually nothing matches): the account with
    # this userName wins over the one with this email.
    matches = db.session.execute(
        db.select(User.id, User.user_name_key).where(
            User.organization_id == org_id,
            (User.user_name_key == fold(user_name))
            | (User.email_key == email_fold(str(email or user_name))),
        )
    ).all()
    chosen = next(
        (row for row in matches if row.user_name_key == fold(user_name)), None
    )
    chosen = chosen or (matches[0] if matches else None)
    existing = db.session.get(User, chosen.id) if chosen is not None else None
    if existing is not None:
        if existing.scim_managed:
            raise Conflict(f"userName {user_name} already exists.")
        changes = scim_update_user(actor, existing, values)
        return existing, True, changes
    if not email:
        raise AccountError("emails: a primary email address is required.")
    user = new_user(
        org_id,
        email=str(email),
        user_name=user_name,
        given_name=str(values.get("given_name") or ""),
        family_name=str(values.get("family_name") or ""),
        display_name=str(values.get("display_name") or ""),
        role=role,
        source="scim",
    )
    user.scim_managed = True
    user.external_id = values.get("external_id")  # type: ignore[assignment]
    user.email_primary = values.get("email_primary")  # type: ignore[assignment]
    if values.get("active") is False:
        user.status = "inactive"
    changes = {
        field: [None, values[field]]
        for field in PROFILE_FIELDS
        if values.get(field) not in (None, "")
    }
    return user, False, changes


def delete_user(actor: Actor, user: User) -> None:
    """Delete a user and everything of theirs (sessions, keys, memberships).

    Not committed.
    :raise AccountError: if the actor may not (an owner by an admin-level key,
        the last active owner by anyone).
    """
    authority.check(actor, "delete", user)
    revoke_all_sessions(user)
    db.session.delete(user)


def find_group_by_name(org_id: int, display_name: str) -> Group | None:
    """The group of the organization with this name (case-insensitive)."""
    return db.session.execute(
        db.select(Group).filter_by(
            organization_id=org_id, display_name_key=fold(display_name)
        )
    ).scalar_one_or_none()


def resolve_member_ids(org_id: int, ids: list[str]) -> list[int]:
    """Turn SCIM member values into user ids of this organization.

    :raise AccountError: naming the first value that is not a user of this
        organization (unknown ids and other organizations' ids alike).
    """
    wanted: list[int] = []
    for value in ids:
        row_id = parse_row_id(value)
        if row_id is None:
            raise AccountError(f"Member {value} is not a user of this organization.")
        wanted.append(row_id)
    unique = sorted(set(wanted))
    found: set[int] = set()
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        found.update(
            db.session.execute(
                db.select(User.id).where(
                    User.organization_id == org_id, User.id.in_(chunk)
                )
            ).scalars()
        )
    missing = [value for value in unique if value not in found]
    if missing:
        raise AccountError(f"Member {missing[0]} is not a user of this organization.")
    return unique


def group_member_ids(group: Group) -> set[int]:
    """Ids of the group's members."""
    return set(
        db.session.execute(
            db.select(GroupMember.user_id).filter_by(group_id=group.id)
        ).scalars()
    )


def change_group_members(
    group: Group, steps: list[tuple[str, list[int] | None]]
) -> tuple[list[int], list[int]]:
    """Apply membership steps in order; return (added, removed), each sorted.

    A step is ("add", ids), ("remove", ids), ("replace", ids) or ("remove", None)
    for everyone; ids are already checked to be users of the group's
    organization. The member set is read once and the steps are applied to it in
    memory, so a PATCH of a thousand operations costs one read and one write of
    the difference, whatever the group's size. Not committed.
    """
    current = group_member_ids(group)
    members = set(current)
    for op, ids in steps:
        if op == "replace":
            members = set(ids or ())
        elif op == "add":
            members.update(ids or ())
        elif ids is None:
            members.clear()
        else:
            members.difference_update(ids)
    added = sorted(members - current)
    removed = sorted(current - members)
    if added:
        now = utcnow()
        db.session.execute(
            db.insert(GroupMember),
            [
                {"group_id": group.id, "user_id": user_id, "created_at": now}
                for user_id in added
            ],
        )
    for start in range(0, len(removed), 500):
        db.session.execute(
            db.delete(GroupMember).where(
                GroupMember.group_id == group.id,
                GroupMember.user_id.in_(removed[start : start + 500]),
            )
        )
    if added or removed:
        group.updated_at = utcnow()
    return added, removed


def add_group_members(group: Group, user_ids: list[int]) -> list[int]:
    """Add users (already checked to be of the group's organization); return the new."""
    return change_group_members(group, [("add", user_ids)])[0]


def set_group_members(group: Group, user_ids: list[int]) -> tuple[list[int], list[int]]:
    """Make the group's members exactly `user_ids`; return (added, removed)."""
    return change_group_members(group, [("replace", user_ids)])


def rename_group(group: Group, display_name: str) -> dict[str, list[object]]:
    """Rename a group; return the change. Not committed.

    :raise Conflict: if another group of the organization has that name.
    """
    if display_name == group.display_name:
        return {}
    other = find_group_by_name(group.organization_id, display_name)
    if other is not None and other.id != group.id:
        raise Conflict(f"A group named {display_name} already exists.")
    before = group.display_name
    group.display_name, group.display_name_key = display_name, fold(display_name)
    return {"displayName": [before, display_name]}


def scim_create_group(
    org_id: int, display_name: str, external_id: str | None
) -> tuple[Group, bool]:
    """Create a group for SCIM, or adopt a same-named group not yet SCIM-managed.

    Returns (group, adopted). Not committed.
    :raise Conflict: if a SCIM-managed group already has that name.
    """
    existing = find_group_by_name(org_id, display_name)
    if existing is not None:
        if existing.scim_managed:
            raise Conflict(f"A group named {display_name} already exists.")
        existing.scim_managed = True
        existing.external_id = external_id
        existing.updated_at = utcnow()
        return existing, True
    group = Group(
        organization_id=org_id,
        display_name=display_name,
        display_name_key=fold(display_name),
        external_id=external_id,
        scim_managed=True,
    )
    db.session.add(group)
    return group, False
