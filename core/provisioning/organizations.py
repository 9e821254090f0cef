"""Organizations: find, create (with the first owner), rename, plan, SCIM switch."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from core import audit
from core import first_run
from core import key_check
from core import okta_sweep
from core.authority import AccountError
from core.extensions import db
from core.models import PLANS
from core.models import Organization
from core.models import SsoConfig
from core.models import User
from core.models import fold
from core.models import unsafe_characters
from core.provisioning import users
from core.security import password_problem


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


def _name_taken(name: str) -> AccountError:
    return AccountError(f"An organization named {name.strip()!r} already exists.")


def _checked_owner_email(
    name: str, plan: str, owner_email: str, owner_password: str, names: dict[str, str]
) -> str:
    """Check a new organization's request in the order the errors are told; return
    the owner's email, normalized.

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
    email = users.normalize_email(owner_email)
    for label, value in names.items():
        problem = users.person_name_problem(value)
        if problem:
            raise AccountError(f"{label}: {problem}")
    if find_organization(name) is not None:
        raise _name_taken(name)
    return email


def create_organization(
    name: str,
    *,
    owner_email: str,
    owner_password: str,
    plan: str = "free",
    owner_given_name: str = "",
    owner_family_name: str = "",
    actor: str | None = None,
) -> tuple[Organization, User]:
    """Create an organization with its first owner, and commit.

    With an `actor` ("cli"), the creation is audited in the same transaction;
    without one the caller records it (first-run setup names the new owner).
    :raise AccountError: on a bad name, email, password or plan, or a taken name.
    """
    names = {"Given name": owner_given_name, "Family name": owner_family_name}
    email = _checked_owner_email(name, plan, owner_email, owner_password, names)
    org = Organization(name=name.strip(), name_key=fold(name), plan=plan)
    db.session.add(org)
    owner = users.new_user(
        org,
        email=email,
        given_name=owner_given_name,
        family_name=owner_family_name,
        role="owner",
        password=owner_password,
    )
    try:
        db.session.flush()
        if actor is not None:
            audit.record(
                "organization.created", org, actor=actor, target=org.name, plan=plan
            )
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise _name_taken(name) from exc
    # The first organization makes an install: from now on, setup is over and
    # this node's SECRET_KEY is the one the install's other nodes must share.
    first_run.forget_setup_code()
    key_check.record()
    return org, owner


def organization_summaries() -> list[tuple[str, str, int]]:
    """(name, plan, number of users) for every organization, by name."""
    rows = db.session.execute(
        db.select(Organization.name, Organization.plan, db.func.count(User.id))
        .outerjoin(User, User.organization_id == Organization.id)
        .group_by(Organization.id)
        .order_by(Organization.name_key)
    )
    return [(name, plan, count) for name, plan, count in rows]


def rename_organization(org: Organization, name: str, *, actor: User | str) -> None:
    """Rename `org`, audit, commit.

    :raise AccountError: on a bad name or one another organization has.
    """
    problem = organization_name_problem(name)
    if problem:
        raise AccountError(problem)
    other = find_organization(name)
    if other is not None and other.id != org.id:
        raise _name_taken(name)
    before = org.name
    org.name, org.name_key = name.strip(), fold(name)
    audit.record(
        "organization.renamed", org, actor=actor, before=before, after=org.name
    )
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise _name_taken(name) from exc


def set_plan(org: Organization, plan: str, *, actor: User | str) -> str:
    """Put `org` on `plan`, audit, commit; return the plan it was on.

    :raise AccountError: on an unknown plan.
    """
    if plan not in PLANS:
        raise AccountError(f"Plan must be one of {', '.join(PLANS)}.")
    previous, org.plan = org.plan, plan
    okta_on = org.has_paid_plan and org.sso_config and org.sso_config.okta_enabled
    # Okta sign-in comes back with a paid plan: a requirement applies again.
    ended = okta_sweep.apply_again(org) if okta_on else None
    audit.record(
        "organization.plan_changed",
        org,
        actor=actor,
        target=org.name,
        before=previous,
        after=plan,
        **({} if ended is None else {"required_sessions_ended": ended}),
    )
    db.session.commit()
    return previous


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
