"""The Okta sign-in rules: which account an Okta identity lands in.

The rules (SPEC §3, issue "trust model"), the same for OIDC and SAML. An Okta
identity is keyed on (organization, protocol, issuer, subject), so one
organization's Okta can never vouch for an account of another.

- An identity already linked to a user signs that user in (unless inactive).
- With an explicit link request (the emailed single-use link, or "Link my Okta
  account" from the member's own signed-in session) the identity is bound to
  that account, whatever the email says.
- Otherwise an existing account with the asserted email (or that email as its
  SCIM userName) is linked on its own only when Okta is the authority for it
  (`okta_is_authority`): Okta made it (SCIM or an earlier just-in-time
  sign-in), it has no password, its email is the one Okta set, it has no other
  identity at this Okta, and the subject agrees with what Okta provisioned (OIDC:
  a SCIM externalId holding an Okta user id equals the `sub`; SAML: the NameID
  is the account's userName or email). Every other account (local, adopted by
  SCIM, anyone with a password) needs the emailed link.
- An unknown person is created just in time with the default role.
- An inactive user is refused.

Both protocols call `resolve_sign_in` with what Okta asserted (`OktaProfile`)
and end with `outcome.finish`. The emailed link tokens, and who counts as linked,
are in `core.linking` (the members and settings pages use them too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from core.authority import AccountError
from core.extensions import db
from core.models import OktaIdentity
from core.models import Organization
from core.models import User
from core.models import email_fold
from core.models import fold
from core.models import utcnow
from core.provisioning import organizations
from core.provisioning import users


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
          | "no_email" | "email_unverified" | "identity_taken" | "email_taken"
          | "link_invalid"
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


# Okta user ids: "00u" and 17 more letters or digits (what Okta puts in a
# SCIM externalId and in the OIDC `sub`).
OKTA_USER_ID = re.compile(r"00u[0-9A-Za-z]{17}")


def okta_is_authority(
    user: User, protocol: str, profile: OktaProfile, *, has_identity_here: bool
) -> bool:
    """Whether an Okta sign-in with `user`'s email may land in `user` without proof.

    Only for accounts Okta itself made and still speaks for: created by SCIM or
    an earlier Okta sign-in, no password, the email Okta set (and asserts now),
    no other identity at this Okta, and (OIDC) no contradicting Okta user id.
    """
    if user.source not in ("scim", "sso") or user.password_hash:
        return False
    if not user.email_from_okta or has_identity_here:
        return False
    if email_fold(profile.email or "") != user.email_key:
        return False
    external_id = user.external_id or ""
    if (
        protocol == "oidc"
        and OKTA_USER_ID.fullmatch(external_id)
        and external_id != profile.subject
    ):
        return False
    # SAML: the NameID is the Okta username (or email), which Okta also sends as
    # the SCIM userName: another Okta user asserting this email in an attribute
    # has another NameID.
    subject = profile.subject
    return protocol != "saml" or bool(
        {fold(subject), email_fold(subject)} & {user.user_name_key, user.email_key}
    )


def _has_identity_at(user: User, protocol: str, issuer: str) -> bool:
    return (
        db.session.execute(
            db.select(OktaIdentity.id).filter_by(
                user_id=user.id, protocol=protocol, issuer=issuer
            )
        ).first()
        is not None
    )


def resolve_sign_in(
    org: Organization,
    protocol: str,
    profile: OktaProfile,
    link_user: User | None = None,
    *,
    retry: bool = True,
) -> Outcome:
    """Apply the sign-in rules to a verified Okta assertion (the caller commits).

    `link_user` is the account an explicit link request names (the emailed
    link's, or the signed-in member's own): the identity is bound to it,
    whatever the email says.
    """
    identity = find_identity(org, protocol, profile)
    if link_user is not None:
        return _link_on_request(org, protocol, profile, identity, link_user)
    if identity is not None:
        return _signed_in(identity)
    if not profile.email:
        return Outcome("no_email")
    if profile.email_verified is False:
        return Outcome("email_unverified")
    user = users.find_user_by_email(org, profile.email) or users.find_user_by_user_name(
        org.id, profile.email
    )
    if user is not None:
        return _existing_account(org, protocol, profile, user, retry)
    return _new_account(org, protocol, profile, retry)


def _existing_account(
    org: Organization, protocol: str, profile: OktaProfile, user: User, retry: bool
) -> Outcome:
    """An account has the asserted email: link it only if Okta speaks for it."""
    # A first sign-in of this person may have committed the account and its
    # identity (together) between the caller's lookups: look again, now that
    # the account is visible.
    identity = find_identity(org, protocol, profile)
    if identity is not None:
        return _signed_in(identity)
    if not user.is_active:
        return Outcome("inactive", user)
    here = _has_identity_at(user, protocol, profile.issuer)
    if okta_is_authority(user, protocol, profile, has_identity_here=here):
        return _link_or_retry(org, protocol, profile, user, "linked", retry)
    return Outcome("needs_confirmation", user)


def _new_account(
    org: Organization, protocol: str, profile: OktaProfile, retry: bool
) -> Outcome:
    """Nobody has the asserted email: create the account just in time."""
    assert profile.email
    try:
        email = users.normalize_email(profile.email)
    except AccountError:
        return Outcome("no_email")
    user = users.new_user(
        org,
        email=email,
        given_name=profile.given_name,
        family_name=profile.family_name,
        display_name=profile.display_name,
        role=organizations.default_role(org),
        source="sso",
    )
    return _link_or_retry(org, protocol, profile, user, "created", retry)


def _signed_in(identity: OktaIdentity) -> Outcome:
    user = db.session.get(User, identity.user_id)
    assert user is not None
    if not user.is_active:
        return Outcome("inactive", user)
    identity.last_used_at = utcnow()
    return Outcome("signed_in", user)


def _link_on_request(
    org: Organization,
    protocol: str,
    profile: OktaProfile,
    identity: OktaIdentity | None,
    user: User,
) -> Outcome:
    if user.organization_id != org.id:
        return Outcome("link_invalid")
    if identity is not None and identity.user_id != user.id:
        return Outcome("identity_taken", user)
    if not user.is_active:
        return Outcome("inactive", user)
    owner_of_email = (
        users.find_user_by_email(org, profile.email) if profile.email else None
    )
    if owner_of_email is not None and owner_of_email.id != user.id:
        # Someone else's Okta account on this link (a forwarded link, or login
        # CSRF): it would land its owner in this account from then on.
        return Outcome("email_taken", user)
    if identity is None:
        link(user, protocol, profile)
    else:
        identity.last_used_at = utcnow()
    # Every link emailed to this user dies with this one.
    users.end_link_tokens(user)
    return Outcome("linked", user)


def _link_or_retry(
    org: Organization,
    protocol: str,
    profile: OktaProfile,
    user: User,
    kind: str,
    retry: bool,
) -> Outcome:
    """Link (and, for a new user, create) in one flush; a racing twin wins.

    Two first sign-ins of one person at once (two tabs, a double click on the
    dashboard tile): the unique indexes let one through; the other starts over
    and finds what the first one made.
    """
    try:
        db.session.flush()
        link(user, protocol, profile)
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        if not retry:
            raise
        return resolve_sign_in(org, protocol, profile, retry=False)
    return Outcome(kind, user)
