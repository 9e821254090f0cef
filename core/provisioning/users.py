"""Users: find and create them, and the changes made to members.

The changes made on someone's authority from the members pages and the CLI
(`add_member`, `change_role`, `set_status`, `unlock`) ask core.authority, audit
and commit. The building blocks that SCIM and Okta sign-in put into a unit of
work of their own (`new_user`, `deactivate_user`, `delete_user`, ...) do not
commit.
"""

from __future__ import annotations

from email_validator import EmailNotValidError
from email_validator import validate_email
from sqlalchemy.exc import IntegrityError

from core import audit
from core import authority
from core import throttle
from core import tokens
from core import way_back_in
from core.authority import AccountError
from core.authority import Actor
from core.extensions import db
from core.models import ROLES
from core.models import LinkToken
from core.models import Organization
from core.models import PasswordToken
from core.models import User
from core.models import email_fold
from core.models import fold
from core.models import unsafe_characters
from core.models import utcnow
from core.security import hash_password
from core.security import password_problem
from core.sessions import revoke_all_sessions


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


def person_name_problem(name: str) -> str | None:
    """Say what is wrong with a given or family name (may be empty), or None."""
    if len(name.strip()) > 200:
        return "Use at most 200 characters."
    if unsafe_characters(name):
        return "A name cannot contain control or line-separator characters."
    return None


def find_user_by_email(org: Organization | int, email: str) -> User | None:
    """The user of `org` with this email, compared case-insensitively."""
    org_id = org.id if isinstance(org, Organization) else org
    return db.session.execute(
        db.select(User).filter_by(organization_id=org_id, email_key=email_fold(email))
    ).scalar_one_or_none()


def find_user_by_user_name(org_id: int, user_name: str) -> User | None:
    """The user of the organization with this SCIM userName (case-insensitive)."""
    return db.session.execute(
        db.select(User).filter_by(organization_id=org_id, user_name_key=fold(user_name))
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


def change_role(actor: Actor | User, user: User, role: str) -> None:
    """Give `user` a new role on `actor`'s authority, audit it, and commit.

    :raise AccountError: if the actor may not make this change (see core.authority).
    """
    if role not in ROLES:
        raise AccountError(f"Role must be one of {', '.join(ROLES)}.")
    if user.role == role:
        return
    actor = Actor.of(actor)
    authority.check(actor, "change_role", user, role=role)
    way_back_in.check_removal(actor, user, role=role)
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


# How each kind of actor deactivates: `User.deactivated_via`.
DEACTIVATED_VIA = {"user": "page", "key": "scim", "cli": "cli"}


def deactivate_user(user: User, actor: Actor) -> None:
    """Mark `user` inactive and end every session of theirs at once.

    Their personal API keys stop working too (SCIM authentication checks the
    holder's status at each request), and their pending password links die.
    Who did it (`actor`) and when stay on the row for the member page.
    Not committed.
    """
    mark_deactivated(user, actor)
    revoke_all_sessions(user)
    end_password_tokens(user)


def mark_deactivated(user: User, actor: Actor) -> None:
    """Set `user` inactive, keeping who (`actor`) and when (not committed)."""
    user.status = "inactive"
    user.deactivated_at = utcnow()
    user.deactivated_by = actor.label[:400]
    user.deactivated_via = DEACTIVATED_VIA[actor.kind]


def reactivate_user(user: User) -> None:
    """Mark `user` active again. Old sessions and password links stay dead.

    Not committed.
    """
    user.status = "active"
    user.deactivated_at = user.deactivated_by = user.deactivated_via = None


def set_status(actor: Actor | User, user: User, status: str) -> None:
    """Deactivate or reactivate `user` on `actor`'s authority, audit, commit.

    :raise AccountError: if the actor may not make this change.
    """
    if status not in ("active", "inactive"):
        raise AccountError("Status must be active or inactive.")
    if status == user.status:
        return
    actor = Actor.of(actor)
    authority.check(actor, "set_status", user, status=status)
    way_back_in.check_removal(actor, user, status=status)
    if status == "inactive":
        deactivate_user(user, actor)
    else:
        reactivate_user(user)
    audit.record(
        "member.deactivated" if status == "inactive" else "member.reactivated",
        user.organization_id,
        actor=actor,
        target=user.email,
    )
    db.session.commit()


def unlock(actor: Actor | User, user: User) -> int:
    """Clear the password sign-in lockout of `user`'s account, audit, commit.

    Only this account's failures (core.throttle): the same email's accounts
    in other organizations stay locked, and nothing said depends on them. The
    email's own count goes too when no other organization has the email, or
    for the server administrator. Returns how many of the account's recorded
    failures were forgotten.
    :raise AccountError: if the actor may not (an owner's or an admin's only
        by owners).
    """
    actor = Actor.of(actor)
    authority.check(actor, "unlock", user)
    cleared = throttle.clear_user(user.id)
    if actor.is_server or not email_in_other_organizations(user):
        throttle.clear_account(user.email, commit=False)
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
    tokens.end_pending(LinkToken, user)


def end_password_tokens(user: User) -> None:
    """Void every pending password reset and invitation of `user` (not committed).

    After an email change (a link sent to the old address must not choose the
    account's password) and at deactivation (reactivation does not revive them).
    """
    tokens.end_pending(PasswordToken, user)


def delete_user(actor: Actor, user: User) -> None:
    """Delete a user and everything of theirs (sessions, keys, memberships).

    Not committed.
    :raise AccountError: if the actor may not (an owner by an admin-level key,
        the last active owner by anyone).
    """
    authority.check(actor, "delete", user)
    way_back_in.check_removal(actor, user)
    revoke_all_sessions(user)
    db.session.delete(user)
