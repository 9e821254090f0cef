"""Okta identities: who an Okta sign-in belongs to, and the emailed link invitations.

The rules (SPEC §3), the same for OIDC and SAML:

- an Okta identity already linked to a user signs that user in;
- a user created by SCIM with that email is linked and signed in;
- an existing local (or just-in-time) user with that email is linked only after
  they confirm through the emailed link; until then the sign-in is refused;
- an unknown person is created just in time with the organization's default role;
- an inactive user is refused.

Identities are keyed on (organization, protocol, issuer, subject), so one
organization's Okta can never vouch for an account of another.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask import render_template
from sqlalchemy.exc import IntegrityError

from core import audit
from core import provisioning
from core.extensions import db
from core.mailer import send_email
from core.models import LinkToken
from core.models import OktaIdentity
from core.models import Organization
from core.models import User
from core.models import utcnow
from core.security import hash_token
from core.urls import public_url

LINK_TOKEN_DAYS = 7
RESEND_INTERVAL = timedelta(minutes=2)


@dataclass(frozen=True)
class OktaProfile:
    """What Okta asserted about the person signing in."""

    issuer: str
    subject: str
    email: str | None
    email_verified: bool | None = None
    given_name: str = ""
    family_name: str = ""
    display_name: str = ""


@dataclass(frozen=True)
class Outcome:
    """The result of an Okta sign-in attempt.

    kind: "signed_in" | "linked" | "created" | "needs_confirmation" | "inactive"
          | "no_email" | "email_unverified" | "identity_taken" | "link_invalid"
    """

    kind: str
    user: User | None = None

    @property
    def ok(self) -> bool:
        """Whether the person may be signed in."""
        return self.kind in ("signed_in", "linked", "created")


def find_identity(
    org: Organization, protocol: str, profile: OktaProfile
) -> OktaIdentity | None:
    """The link for this Okta subject in this organization, if any."""
    return db.session.execute(
        db.select(OktaIdentity).filter_by(
            organization_id=org.id,
            protocol=protocol,
            issuer=profile.issuer,
            subject=profile.subject,
        )
    ).scalar_one_or_none()


def link(user: User, protocol: str, profile: OktaProfile) -> OktaIdentity:
    """Bind an Okta subject to `user` (not committed)."""
    identity = OktaIdentity(
        organization_id=user.organization_id,
        user_id=user.id,
        protocol=protocol,
        issuer=profile.issuer,
        subject=profile.subject,
        last_used_at=utcnow(),
    )
    db.session.add(identity)
    return identity


def resolve_sign_in(
    org: Organization,
    protocol: str,
    profile: OktaProfile,
    link_token: LinkToken | None = None,
    *,
    retry: bool = True,
) -> Outcome:
    """Apply the sign-in rules to a verified Okta assertion (the caller commits).

    With `link_token` (the person came from the emailed link), the identity is
    bound to that token's user, whatever the email says.
    """
    identity = find_identity(org, protocol, profile)
    if link_token is not None:
        user = link_token.user
        if user.organization_id != org.id:
            return Outcome("link_invalid")
        if identity is not None and identity.user_id != user.id:
            return Outcome("identity_taken", user)
        if not user.is_active:
            return Outcome("inactive", user)
        if identity is None:
            link(user, protocol, profile)
        # Every other link emailed to this user dies with this one.
        db.session.execute(
            db.update(LinkToken)
            .where(LinkToken.user_id == user.id, LinkToken.used_at.is_(None))
            .values(used_at=utcnow())
        )
        return Outcome("linked", user)
    if identity is not None:
        user = db.session.get(User, identity.user_id)
        assert user is not None
        if not user.is_active:
            return Outcome("inactive", user)
        identity.last_used_at = utcnow()
        return Outcome("signed_in", user)
    if not profile.email:
        return Outcome("no_email")
    if profile.email_verified is False:
        return Outcome("email_unverified")
    user = provisioning.find_user_by_email(org, profile.email)
    if user is not None:
        if not user.is_active:
            return Outcome("inactive", user)
        if user.scim_managed or user.source == "scim":
            link(user, protocol, profile)
            return Outcome("linked", user)
        return Outcome("needs_confirmation", user)
    try:
        email = provisioning.normalize_email(profile.email)
    except provisioning.AccountError:
        return Outcome("no_email")
    user = provisioning.new_user(
        org,
        email=email,
        given_name=profile.given_name,
        family_name=profile.family_name,
        display_name=profile.display_name,
        role=provisioning.default_role(org),
        source="sso",
    )
    try:
        db.session.flush()
        link(user, protocol, profile)
        db.session.flush()
    except IntegrityError:
        # Two first sign-ins of one person at once (two tabs, a double click
        # on the dashboard tile): the other one created them; sign in as that.
        db.session.rollback()
        if not retry:
            raise
        return resolve_sign_in(org, protocol, profile, retry=False)
    return Outcome("created", user)


# -- emailed link invitations ---------------------------------------------------


def issue_link_token(user: User) -> str:
    """A new single-use link token for `user` (not committed); returns the secret."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        LinkToken(
            token_hash=hash_token(token),
            user_id=user.id,
            expires_at=utcnow() + timedelta(days=LINK_TOKEN_DAYS),
        )
    )
    return token


def find_link_token(token: str) -> LinkToken | None:
    """The unused, unexpired link token for this secret, or None."""
    if not token or len(token) > 200:
        return None
    return find_link_token_by_hash(hash_token(token))


def find_link_token_by_hash(token_hash: str) -> LinkToken | None:
    """The unused, unexpired link token with this hash, or None."""
    row = db.session.execute(
        db.select(LinkToken).filter_by(token_hash=token_hash)
    ).scalar_one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    return row


def recently_sent(user: User) -> bool:
    """Whether a link email went to `user` within the resend interval."""
    last = db.session.execute(
        db.select(db.func.max(LinkToken.created_at)).filter_by(user_id=user.id)
    ).scalar_one_or_none()
    return (
        last is not None
        and utcnow() - last.replace(tzinfo=last.tzinfo) < RESEND_INTERVAL
    )


def send_link_email(user: User, *, actor: User | str) -> None:
    """Email `user` a fresh link to confirm and link their Okta account, and commit."""
    token = issue_link_token(user)
    url = public_url(f"/okta/link/{token}")
    org = user.organization
    context = {"user": user, "org": org, "url": url, "days": LINK_TOKEN_DAYS}
    audit.record("okta.link_email_sent", org, actor=actor, target=user.email)
    db.session.commit()
    try:
        send_email(
            user.email,
            f"Confirm and link your Okta account to {org.name}",
            render_template("email/link_okta_account.txt", **context),
            render_template("email/link_okta_account.html", **context),
        )
    except OSError:
        current_app.logger.exception(
            "Could not send the Okta link email to %s", user.email
        )


def unlinked_active_members(org: Organization) -> list[User]:
    """Active members of `org` without any Okta identity."""
    linked = db.select(OktaIdentity.user_id).where(
        OktaIdentity.organization_id == org.id
    )
    return list(
        db.session.execute(
            db.select(User)
            .where(
                User.organization_id == org.id,
                User.status == "active",
                User.id.not_in(linked),
            )
            .order_by(User.id)
        ).scalars()
    )


def invite_everyone(org: Organization, *, actor: User | str) -> int:
    """Send the link email to every active, unlinked member; return how many."""
    members = unlinked_active_members(org)
    for user in members:
        send_link_email(user, actor=actor)
    return len(members)
