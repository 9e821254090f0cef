"""Okta identities: which account an Okta sign-in lands in, and the emailed links.

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

"Linked" anywhere in the UI means an identity at the organization's *current*
Okta (protocol and issuer): after a switch of protocol the old identities no
longer count, and those members are emailed a new link.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask import render_template
from sqlalchemy.exc import IntegrityError

from core import audit
from core.authority import AccountError
from core.extensions import db
from core.mailer import checked_message
from core.mailer import send_message
from core.models import LinkToken
from core.models import OktaIdentity
from core.models import Organization
from core.models import SsoConfig
from core.models import User
from core.models import email_fold
from core.models import fold
from core.models import utcnow
from core.provisioning import organizations
from core.provisioning import users
from core.security import hash_token
from core.urls import public_base_url

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
        # A first sign-in of this person may have committed the account and its
        # identity (together) between the two lookups above: look again, now
        # that the account is visible.
        identity = find_identity(org, protocol, profile)
        if identity is not None:
            return _signed_in(identity)
        if not user.is_active:
            return Outcome("inactive", user)
        here = _has_identity_at(user, protocol, profile.issuer)
        if okta_is_authority(user, protocol, profile, has_identity_here=here):
            return _link_or_retry(org, protocol, profile, user, "linked", retry)
        return Outcome("needs_confirmation", user)
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


# -- emailed link invitations ---------------------------------------------------


def issue_link_token(user: User) -> str:
    """A new single-use link token for `user` (not committed); returns the secret."""
    return _new_link_token(user)[1]


def _new_link_token(user: User) -> tuple[LinkToken, str]:
    """A new link token row for `user` (not committed) and its secret."""
    token = secrets.token_urlsafe(32)
    row = LinkToken(
        token_hash=hash_token(token),
        user_id=user.id,
        expires_at=utcnow() + timedelta(days=LINK_TOKEN_DAYS),
    )
    db.session.add(row)
    return row, token


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
    """Whether a link email was tried for `user` within the resend interval."""
    last = db.session.execute(
        db.select(db.func.max(LinkToken.created_at)).filter_by(user_id=user.id)
    ).scalar_one_or_none()
    return last is not None and utcnow() - last < RESEND_INTERVAL


def last_delivered_link(user: User) -> LinkToken | None:
    """The newest live link that the mail server accepted for `user`, or None.

    What a page may claim: "we emailed you a link" only when this exists.
    """
    return db.session.execute(
        db.select(LinkToken)
        .where(
            LinkToken.user_id == user.id,
            LinkToken.used_at.is_(None),
            LinkToken.sent_at.is_not(None),
            LinkToken.expires_at > utcnow(),
        )
        .order_by(LinkToken.id.desc())
        .limit(1)
    ).scalar_one_or_none()


SENT = "sent"
OUTBOX = "outbox"
FAILED = "failed"
NO_PUBLIC_URL = "no_public_url"


def send_link_email(user: User, *, actor: User | str) -> str:
    """Email `user` a fresh link to confirm and link their Okta account; commit.

    Returns SENT (the mail server took it), OUTBOX (no mail server is set up:
    the message was written to instance/outbox/, not emailed), FAILED (the
    mail server refused or was unreachable) or NO_PUBLIC_URL (nothing was made
    or sent: a link needs the configured public address, never the request's).
    Only SENT marks the link as emailed.
    """
    base = public_base_url()
    if not base:
        return NO_PUBLIC_URL
    row, token = _new_link_token(user)
    org = user.organization
    context = {
        "user": user,
        "org": org,
        "url": f"{base}/okta/link/{token}",
        "days": LINK_TOKEN_DAYS,
    }
    try:
        message = checked_message(
            user.email,
            f"Confirm and link your Okta account to {org.name}",
            render_template("email/link_okta_account.txt", **context),
            render_template("email/link_okta_account.html", **context),
        )
    except ValueError as exc:
        db.session.rollback()  # no link is left behind for a mail never sent
        return _failed(user, actor, exc)
    db.session.commit()
    try:
        send_message(message)
    except OSError as exc:
        db.session.delete(row)
        return _failed(user, actor, exc)
    if not current_app.config["SMTP_HOST"]:
        audit.record(
            "okta.link_email_sent", org, actor=actor, target=user.email, to="outbox"
        )
        db.session.commit()
        return OUTBOX
    row.sent_at = utcnow()
    audit.record("okta.link_email_sent", org, actor=actor, target=user.email)
    db.session.commit()
    return SENT


def _failed(user: User, actor: User | str, error: Exception) -> str:
    """Log and audit a link email that could not be sent; commit; FAILED."""
    current_app.logger.error(
        "Could not send the Okta link email to %s: %s", user.email, error
    )
    audit.record(
        "okta.link_email_failed",
        user.organization_id,
        actor=actor,
        target=user.email,
        error=str(error)[:200],
    )
    db.session.commit()
    return FAILED


def current_issuer(config: SsoConfig) -> str | None:
    """The issuer of identities made under the organization's current settings."""
    return config.oidc_issuer if config.protocol == "oidc" else config.saml_entity_id


def current_identity(config: SsoConfig):  # type: ignore[no-untyped-def]
    """A where-clause: identities at the organization's current Okta."""
    return (
        (OktaIdentity.organization_id == config.organization_id)
        & (OktaIdentity.protocol == config.protocol)
        & (OktaIdentity.issuer == (current_issuer(config) or ""))
    )


def linked_user_ids(org: Organization, user_ids: list[int]) -> set[int]:
    """Which of these users have an identity at the organization's current Okta."""
    config = org.sso_config
    if config is None or not user_ids:
        return set()
    return set(
        db.session.execute(
            db.select(OktaIdentity.user_id).where(
                current_identity(config), OktaIdentity.user_id.in_(user_ids)
            )
        ).scalars()
    )


def count_linked(org: Organization) -> int:
    """Members with an identity at the organization's current Okta."""
    config = org.sso_config
    if config is None:
        return 0
    return db.session.execute(
        db.select(db.func.count(db.distinct(OktaIdentity.user_id))).where(
            current_identity(config)
        )
    ).scalar_one()


def unlinked_active_members(org: Organization) -> list[User]:
    """Active members of `org` without an identity at its current Okta."""
    config = org.sso_config
    query = db.select(User).where(
        User.organization_id == org.id, User.status == "active"
    )
    if config is not None:
        linked = db.select(OktaIdentity.user_id).where(current_identity(config))
        query = query.where(User.id.not_in(linked))
    return list(db.session.execute(query.order_by(User.id)).scalars())


def members_to_relink(org: Organization, protocol: str) -> int:
    """Active members who would have no identity if the organization used `protocol`.

    Shown before a switch of protocol: each of them will need the emailed link
    (or, if Okta made their account, simply signs in again).
    """
    has_one = db.select(OktaIdentity.user_id).where(
        OktaIdentity.organization_id == org.id, OktaIdentity.protocol == protocol
    )
    linked_now = db.select(OktaIdentity.user_id).where(
        OktaIdentity.organization_id == org.id, OktaIdentity.protocol != protocol
    )
    return db.session.execute(
        db.select(db.func.count())
        .select_from(User)
        .where(
            User.organization_id == org.id,
            User.status == "active",
            User.id.in_(linked_now),
            User.id.not_in(has_one),
        )
    ).scalar_one()


@dataclass(frozen=True)
class Invitations:
    """What happened when everyone unlinked was emailed the link."""

    sent: int = 0
    failed: int = 0
    not_sent: int = 0  # no public address configured: nothing was emailed
    outbox: int = 0  # no mail server: written to instance/outbox/

    @property
    def total(self) -> int:
        """Members who should have had the email."""
        return self.sent + self.failed + self.not_sent + self.outbox

    def summary(self) -> str:
        """One honest sentence for the page or the command line."""
        parts = []
        if self.sent:
            parts.append(
                f"{self.sent} member(s) were emailed a link to confirm and link "
                "their Okta account."
            )
        if self.outbox:
            parts.append(
                f"No mail server is configured: the link emails for {self.outbox} "
                "member(s) were written to the server's outbox (instance/outbox/), "
                "not sent."
            )
        if self.failed:
            parts.append(
                f"The email to {self.failed} member(s) could not be sent (see the "
                "server log); send it again from their member page."
            )
        if self.not_sent:
            parts.append(
                f"{self.not_sent} member(s) need a link, but nothing was emailed: "
                "Gatehouse's public address is not configured."
            )
        return " ".join(parts)


def invite_everyone(org: Organization, *, actor: User | str) -> Invitations:
    """Email the link to every active member not linked at the current Okta."""
    counts = {SENT: 0, FAILED: 0, NO_PUBLIC_URL: 0, OUTBOX: 0}
    for user in unlinked_active_members(org):
        counts[send_link_email(user, actor=actor)] += 1
    return Invitations(
        counts[SENT], counts[FAILED], counts[NO_PUBLIC_URL], counts[OUTBOX]
    )
