"""A member's profile as Okta sends it over SCIM: plan, check, apply; create or
adopt an account.

Nothing here commits: SCIM commits each request's work once.
"""

from __future__ import annotations

from core import authority
from core.authority import AccountError
from core.authority import Actor
from core.authority import Conflict
from core.extensions import db
from core.models import User
from core.models import email_fold
from core.models import fold
from core.provisioning import users

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
            other = users.find_user_by_user_name(user.organization_id, str(after))
            if other is not None and other.id != user.id:
                raise Conflict(
                    f"userName {after} is already taken in this organization."
                )
        if field == "email":
            other = users.find_user_by_email(user.organization_id, str(after))
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


def apply_profile(user: User, changes: dict[str, list[object]], actor: Actor) -> None:
    """Apply changes planned by `plan_profile` (not committed).

    `active` False deactivates (all sessions end), True reactivates. An email
    set here comes from Okta; it ends the account's pending emailed links
    (Okta links, password resets and invitations).
    """
    for field, (_before, after) in changes.items():
        if field == "active":
            if after:
                users.reactivate_user(user)
            else:
                users.deactivate_user(user, actor)
            continue
        setattr(user, field, after)
        if field == "user_name":
            user.user_name_key = fold(str(after))
        if field == "email":
            user.email_key = email_fold(str(after))
            user.email_from_okta = True
            users.end_link_tokens(user)
            users.end_password_tokens(user)
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
    apply_profile(
        user, {k: v for k, v in changes.items() if k != "scim_managed"}, actor
    )
    return changes


def _account_okta_means(org_id: int, user_name: str, email: object) -> User | None:
    """The account with this userName, failing that the one with this email."""
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
    return db.session.get(User, chosen.id) if chosen is not None else None


def _new_scim_user(
    actor: Actor, org_id: int, role: str, values: dict[str, object]
) -> User:
    """A new SCIM-managed user with Okta's values (not committed).

    :raise AccountError: when Okta sent no email.
    """
    email = values.get("email")
    if not email:
        raise AccountError("emails: a primary email address is required.")
    user = users.new_user(
        org_id,
        email=str(email),
        user_name=str(values["user_name"]),
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
        # Created inactive: no session or link of theirs exists to end yet.
        users.mark_deactivated(user, actor)
    return user


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
    existing = _account_okta_means(org_id, user_name, values.get("email"))
    if existing is not None:
        if existing.scim_managed:
            raise Conflict(f"userName {user_name} already exists.")
        return existing, True, scim_update_user(actor, existing, values)
    user = _new_scim_user(actor, org_id, role, values)
    changes: dict[str, list[object]] = {
        field: [None, values[field]]
        for field in PROFILE_FIELDS
        if values.get(field) not in (None, "")
    }
    return user, False, changes
